//! `doorstep`: the worker app.
//!
//! - **Phone** (`--features mobile`, built with `dx build --platform android|ios`, see
//!   `Dioxus.toml`): the native renderer (dioxus-desktop over the platform webview), the store in
//!   the platform's app-data directory, TLS on, the server address remembered in the store after
//!   the first sign-in, the visit position from the webview's geolocation.
//! - **Desktop window** (`--features desktop`, webkit2gtk on Linux): the same renderer and code
//!   path as the phone, for development and for the native test under Xvfb; `--serve` serves to
//!   a browser instead.
//! - **Browser** (the default build): serves its UI through dioxus-liveview
//!   (`doorstep --data-dir DIR --bind 127.0.0.1:8081 --server http://…`) and prints
//!   `listening on http://ADDR/?k=SECRET` once bound; only a browser given that address (its
//!   per-start secret) may open it.

/// mimalloc: the sync's many small allocations (answers, JSON) cost less than with the
/// platform's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(feature = "mobile"))]
use std::path::PathBuf;
#[cfg(not(feature = "mobile"))]
use std::time::Duration;

#[cfg(not(feature = "mobile"))]
use anyhow::Context;
#[cfg(not(feature = "mobile"))]
use clap::Parser;
use doorstep_app::ui::services::{Config, Services};

#[cfg(not(feature = "mobile"))]
#[derive(Parser, Debug)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep worker app (offline-first survey)"
)]
struct Cli {
    /// Where the encrypted local store lives (default: the platform's app-data directory).
    #[arg(long, env = "DOORSTEP_APP_DATA_DIR")]
    data_dir: Option<PathBuf>,
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
    /// With the desktop build: run this scripted walk in the window, then exit (the native
    /// renderer's test, `scripts/native-test.sh`).
    #[arg(long)]
    drive: Option<PathBuf>,
}

#[cfg(not(feature = "mobile"))]
fn config(cli: &Cli) -> Config {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(doorstep_app::platform::data_dir);
    let mut config = Config::new(dir);
    config.server_url.clone_from(&cli.server);
    config.auto_sync_every =
        (cli.sync_interval > 0).then(|| Duration::from_secs(cli.sync_interval));
    config.device_name = format!(
        "Doorstep {}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| std::env::consts::OS.to_string())
    );
    config
}

fn logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "doorstep_app=info,doorstep=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A phone: no command line; the platform's data directory; the server address built in with
/// `DOORSTEP_SERVER` at build time, if any (the worker can type another on the first sign-in).
#[cfg(feature = "mobile")]
fn main() -> anyhow::Result<()> {
    logging();
    let mut config = Config::new(doorstep_app::platform::data_dir());
    config.server_url = option_env!("DOORSTEP_SERVER").map(str::to_string);
    config.device_name = format!("Doorstep {}", std::env::consts::OS);
    native(config)
}

#[cfg(not(feature = "mobile"))]
fn main() -> anyhow::Result<()> {
    logging();
    let cli = Cli::parse();

    #[cfg(feature = "desktop")]
    if !cli.serve {
        let mut config = config(&cli);
        if let Some(path) = &cli.drive {
            config.drive = Some(
                doorstep_app::ui::drive::load(path)
                    .with_context(|| format!("reading the walk {}", path.display()))?,
            );
        }
        return native(config);
    }

    let services = Services::new(config(&cli));
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cli.bind)
            .await
            .with_context(|| format!("binding {}", cli.bind))?;
        let addr = listener.local_addr()?;
        let secret = doorstep_app::ui::liveview::new_secret();
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}/?k={secret}")?;
            out.flush()?;
        }
        doorstep_app::ui::liveview::serve(listener, services, secret)
            .await
            .context("serving the UI")
    })
}

/// The native renderer (a phone, or a desktop window): the stylesheet inside the app, the
/// position from the webview, the background sync on a runtime of its own.
#[cfg(any(feature = "desktop", feature = "mobile"))]
fn native(mut config: Config) -> anyhow::Result<()> {
    config.embed_css = true;
    config.webview_position = true;
    let services = Services::new(config);
    let background = services.clone();
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Runtime::new() {
            rt.block_on(background.run_auto_sync());
        }
    });
    #[cfg(feature = "mobile")]
    let builder = dioxus::LaunchBuilder::mobile();
    // A phone-sized window without a menu bar.
    #[cfg(not(feature = "mobile"))]
    let builder = {
        use dioxus::desktop::{Config as Window, LogicalSize, WindowBuilder};
        dioxus::LaunchBuilder::desktop().with_cfg(
            Window::new().with_menu(None).with_window(
                WindowBuilder::new()
                    .with_title("动态更新")
                    .with_inner_size(LogicalSize::new(412.0, 900.0)),
            ),
        )
    };
    builder.with_context(services).launch(doorstep_app::ui::App);
    Ok(())
}
