# ignite-netpol: a multi-stage build to a minimal non-root image with only the binary and CA
# roots. Build: make image (docker build -t ignite-netpol:0.1.0 .).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY bench bench
COPY examples examples
RUN cargo build --release --locked --bin ignite-netpol

# distroless/cc: glibc, libgcc, CA certificates, a nonroot user (65532); no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ignite-netpol /usr/local/bin/ignite-netpol
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/ignite-netpol"]
CMD ["serve", "--cluster=live"]
