//! `doorstep-server`: see `doorstep_server::cli`.

/// mimalloc: the sync's many small allocations (answers, writers, JSON) cost less than with
/// the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match doorstep_server::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doorstep-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
