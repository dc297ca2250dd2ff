//! Building and serving the application: `main.rs` and the tests both call these.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::db::Db;
use crate::state::AppState;

/// Where the server keeps its data and how it is reached.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` (the embedded default) or `postgres://…`.
    pub database_url: String,
    /// How long a sign-in lasts.
    pub token_ttl: chrono::Duration,
    /// Mark the console's cookie `Secure` (serve behind https).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the caller.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Config {
    /// The embedded default: SQLite in `data_dir/doorstep.db`.
    #[must_use]
    pub fn sqlite_in(data_dir: &std::path::Path) -> Self {
        Self {
            database_url: format!("sqlite://{}", data_dir.join("doorstep.db").display()),
            token_ttl: chrono::Duration::days(30),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
        }
    }

    /// The database URL given, or SQLite in the data directory.
    #[must_use]
    pub fn new(database_url: Option<String>, data_dir: PathBuf) -> Self {
        match database_url {
            Some(url) => Self {
                database_url: url,
                token_ttl: chrono::Duration::days(30),
                secure_cookies: false,
                trusted_proxies: Vec::new(),
            },
            None => Self::sqlite_in(&data_dir),
        }
    }
}

/// Connects (creating and migrating the database) and builds the shared state.
///
/// # Errors
/// An unreachable database or a failed migration.
pub async fn build(config: &Config) -> anyhow::Result<AppState> {
    if let Some(path) = config.database_url.strip_prefix("sqlite://")
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let db = Db::connect(&config.database_url).await?;
    let mut state = AppState::new(db, config.token_ttl);
    state.secure_cookies = config.secure_cookies;
    state.trusted_proxies = config.trusted_proxies.clone().into();
    Ok(state)
}

/// Serves until SIGTERM or Ctrl-C, then shuts down gracefully: stops accepting, lets the
/// requests in flight finish (a push either commits and is answered, or never started), and
/// closes the database cleanly. What `doorstep-server serve` runs.
///
/// # Errors
/// An IO error of the listener.
pub async fn serve_until_signal(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until_signal_with(listener, state, Extras::default()).await
}

/// What `serve` runs beside the API.
#[derive(Default)]
pub struct Extras {
    /// The separate metrics address (`--metrics-bind`): `/metrics` without a token.
    pub metrics: Option<TcpListener>,
    /// Scheduled backups (`--backup-dir`), stopped with the API.
    pub backups: Option<crate::backups::Schedule>,
}

/// [`serve_until_signal`] with the extras: the metrics listener stops with the API.
///
/// Deletes expired sessions (and browsers' devices left with none) at start and every hour
/// until `stop` turns true; a failure is logged and tried again in an hour.
async fn purge_sessions(db: Arc<Db>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match db.purge_expired(crate::db::now_ms()).await {
            Ok((tokens, devices)) if tokens + devices > 0 => {
                tracing::info!(tokens, devices, "expired sessions purged");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
    }
}

/// # Errors
/// An IO error of the listener.
pub async fn serve_until_signal_with(
    listener: TcpListener,
    state: AppState,
    extras: Extras,
) -> std::io::Result<()> {
    let db = state.db.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(l) = extras.metrics {
        let router = crate::http::metrics::open_router(state.clone());
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let r = axum::serve(no_delay(l), router)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    if let Some(s) = extras.backups {
        tokio::spawn(crate::backups::run(db.clone(), s, stop_rx.clone()));
    }
    tokio::spawn(purge_sessions(db.clone(), stop_rx.clone()));
    drop(stop_rx);
    let result = axum::serve(
        no_delay(listener),
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    let _ = stop_tx.send(true);
    result?;
    tracing::info!("requests finished; closing the database");
    db.pool().close().await;
    println!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    println!("shutting down: finishing the requests in flight…");
}

/// The listener with `TCP_NODELAY` on each connection. Without it, the last piece of an
/// answer written in several (a compressed body's final chunk) may wait until the phone
/// acknowledges the first, and a phone delays that acknowledgement (about 40 ms on Linux).
fn no_delay(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, impl FnMut(&mut tokio::net::TcpStream) + Send + 'static> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    })
}

/// Serves on a bound listener until the process ends.
///
/// # Errors
/// An IO error of the listener.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(
        no_delay(listener),
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The whole application: the API and the console side by side, under the API's layers.
pub fn app(state: AppState) -> axum::Router {
    crate::metrics::handle();
    crate::http::layers(crate::http::router().merge(crate::console::router())).with_state(state)
}

/// Binds `addr` (use port 0 in tests), starts serving in the background, returns the address.
///
/// # Errors
/// The address cannot be bound.
pub async fn spawn(state: AppState, addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, state).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(local)
}
