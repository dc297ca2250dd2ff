//! The real `doorstep-server` command line, built inside the end-to-end crate so its tests can
//! start, SIGKILL and restart server processes.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    doorstep_server::cli::main().await
}
