use std::process::ExitCode;

/// mimalloc: loading large snapshots is allocation-bound, and glibc's allocator makes it
/// 2-3x slower (see the load benchmarks in README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ignite_netpol::cli::main()
}
