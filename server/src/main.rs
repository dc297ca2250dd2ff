//! `doorstep-server`: see `doorstep_server::cli`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    doorstep_server::cli::main().await
}
