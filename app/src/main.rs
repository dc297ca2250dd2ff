//! `doorstep`: the worker app.
//!
//! By default it serves its UI to a browser on this machine through dioxus-liveview
//! (`doorstep --data-dir DIR --bind 127.0.0.1:8081 --server http://…`) and prints
//! `listening on http://ADDR` once bound (`--bind 127.0.0.1:0` picks a free port).
//! Built with `--features desktop` (needs webkit2gtk) it opens a native window instead,
//! unless `--serve` is given.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use doorstep_app::ui::services::{Config, Services};

#[derive(Parser, Debug)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep worker app (offline-first survey)"
)]
struct Cli {
    /// Where the encrypted local store lives.
    #[arg(long, env = "DOORSTEP_APP_DATA_DIR", default_value = "data/app")]
    data_dir: PathBuf,
    /// Address to serve the UI on (browser mode).
    #[arg(long, env = "DOORSTEP_APP_BIND", default_value = "127.0.0.1:8081")]
    bind: String,
    /// Server address offered on the first sign-in.
    #[arg(long, env = "DOORSTEP_SERVER")]
    server: Option<String>,
    /// Seconds between background sync attempts while records wait (0: no background sync).
    #[arg(long, default_value_t = 30)]
    sync_interval: u64,
    /// With the desktop build: serve to a browser instead of opening a window.
    #[arg(long)]
    serve: bool,
}

fn config(cli: &Cli) -> Config {
    let mut config = Config::new(cli.data_dir.clone());
    config.server_url.clone_from(&cli.server);
    config.auto_sync_every =
        (cli.sync_interval > 0).then(|| Duration::from_secs(cli.sync_interval));
    config.device_name = format!(
        "Doorstep {}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| std::env::consts::OS.to_string())
    );
    config
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "doorstep_app=info,doorstep=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

    #[cfg(feature = "desktop")]
    if !cli.serve {
        return desktop(&cli);
    }

    let services = Services::new(config(&cli));
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cli.bind)
            .await
            .with_context(|| format!("binding {}", cli.bind))?;
        let addr = listener.local_addr()?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        doorstep_app::ui::liveview::serve(listener, services)
            .await
            .context("serving the UI")
    })
}

/// The native window (webkit): the same app, the stylesheet inside it, the background sync on a
/// runtime of its own.
#[cfg(feature = "desktop")]
fn desktop(cli: &Cli) -> anyhow::Result<()> {
    let mut config = config(cli);
    config.embed_css = true;
    let services = Services::new(config);
    let background = services.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Runtime::new() {
            rt.block_on(background.run_auto_sync());
        }
    });
    dioxus::LaunchBuilder::desktop()
        .with_context(services)
        .launch(doorstep_app::ui::App);
    Ok(())
}
