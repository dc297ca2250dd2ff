//! The UI served to a browser through dioxus-liveview: the app runs here, in this process, and
//! the page only draws it and sends back events over a websocket.
//!
//! Routes are mounted by hand: `GET /` (the page with the stylesheet and the interpreter glue)
//! and `GET /ws` (one `VirtualDom` per connection). Every connection shares the same
//! [`Services`], so a reload keeps the unlocked store, like a phone app brought back to the front.

use std::sync::Arc;

use axum::Router;
use axum::extract::WebSocketUpgrade;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use dioxus::dioxus_core::VirtualDom;
use dioxus_liveview::{LiveViewPool, axum_socket, interpreter_glue};

use crate::ui::services::Services;
use crate::ui::{App, STYLESHEET};

/// The page around the app.
#[must_use]
pub fn page() -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#0d5bb5">
<title>入户调查 · Doorstep</title>
<style>{STYLESHEET}</style>
</head>
<body><div id="main"></div>
{glue}
</body>
</html>"##,
        glue = interpreter_glue("/ws")
    )
}

/// A fresh `VirtualDom` of the app on these services.
#[must_use]
pub fn app_dom(services: Arc<Services>) -> VirtualDom {
    VirtualDom::new(App).with_root_context(services)
}

/// The router: `/` and `/ws`.
pub fn router(services: Arc<Services>) -> Router {
    let pool = LiveViewPool::new();
    let page = Arc::new(page());
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move { Html(page.as_str().to_owned()) }
            }),
        )
        .route(
            "/ws",
            get(move |ws: WebSocketUpgrade| {
                let pool = pool.clone();
                let services = services.clone();
                async move {
                    ws.on_upgrade(move |socket| async move {
                        if let Err(e) = pool
                            .launch_virtualdom(axum_socket(socket), move || app_dom(services))
                            .await
                        {
                            tracing::info!(error = %e, "liveview connection ended");
                        }
                    })
                    .into_response()
                }
            }),
        )
}

/// Serves the UI on a bound listener until the process ends, with the background sync.
///
/// # Errors
/// The server failing.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Arc<Services>,
) -> std::io::Result<()> {
    tokio::spawn(services.clone().run_auto_sync());
    axum::serve(listener, router(services)).await
}
