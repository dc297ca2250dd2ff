//! `doorstep-server`: see `doorstep_server::cli`.

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
