use std::process::ExitCode;

/// mimalloc: loading large snapshots is allocation-bound, and glibc's allocator makes it
/// 2-3x slower (see the load benchmarks in README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns memory mimalloc keeps after frees to the OS. Its delayed purge only runs while the
/// process allocates, so an idle webhook would otherwise hold the scratch of its last rebuild.
fn release_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() -> ExitCode {
    // One process-wide rustls provider (ring), before anything builds a TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ignite_netpol::cli::main_with(release_memory)
}
