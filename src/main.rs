use std::process::ExitCode;

/// mimalloc: loading large snapshots is allocation-bound, and glibc's allocator makes it
/// 2-3x slower (see the load benchmarks in README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One process-wide rustls provider (ring), before anything builds a TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ignite_netpol::cli::main()
}
