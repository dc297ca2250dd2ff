//! The real `doorstep-server` command line, built inside the end-to-end crate so its tests can
//! start, SIGKILL and restart server processes.

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
