//! The UI served to a browser through dioxus-liveview: the app runs here, in this process, and
//! the page only draws it and sends back events over a websocket.
//!
//! Routes are mounted by hand: `GET /` (the page with the stylesheet and the interpreter glue)
//! and `GET /ws` (one `VirtualDom` per connection). Every connection shares the same
//! [`Services`], so a reload keeps the unlocked store, like a phone app brought back to the front.
//!
//! Because the unlocked store is shared, the page is only for the browser that was given the
//! address printed at start: it carries a secret made for this start (`/?k=…`), which the page
//! turns into a cookie; `/` and `/ws` refuse a request without it, and `/ws` also refuses a
//! connection whose `Origin` is not this server (another site's page in the same browser).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dioxus::dioxus_core::VirtualDom;
use dioxus_liveview::{LiveViewPool, axum_socket, interpreter_glue};
use uuid::Uuid;

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

/// The cookie that carries this start's secret.
const COOKIE: &str = "doorstep_app";

/// A secret for one start of the app.
#[must_use]
pub fn new_secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Whether a request carries the secret in its cookie.
fn has_cookie(headers: &HeaderMap, secret: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && constant_time_eq(v.as_bytes(), secret.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a websocket comes from this server's own page: no `Origin` (not a browser page) or
/// one whose host is the `Host` asked for.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    host.is_some() && origin_host == host
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(
            "<!DOCTYPE html><meta charset=utf-8><p>请用应用启动时显示的地址打开（含 ?k=…）。</p>\
             <p>Open the address the app printed when it started (with ?k=…).</p>",
        ),
    )
        .into_response()
}

/// The query of `/`.
#[derive(serde::Deserialize)]
struct Key {
    k: Option<String>,
}

/// The router: `/` and `/ws`, for the holder of `secret` only.
pub fn router(services: Arc<Services>, secret: String) -> Router {
    let pool = LiveViewPool::new();
    let page = Arc::new(page());
    let secret = Arc::new(secret);
    let ws_secret = secret.clone();
    Router::new()
        .route(
            "/",
            get(move |Query(key): Query<Key>, headers: HeaderMap| {
                let page = page.clone();
                let secret = secret.clone();
                async move {
                    if let Some(k) = key.k {
                        if !constant_time_eq(k.as_bytes(), secret.as_bytes()) {
                            return refused();
                        }
                        let cookie =
                            format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict");
                        return (
                            StatusCode::SEE_OTHER,
                            [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
                        )
                            .into_response();
                    }
                    if !has_cookie(&headers, &secret) {
                        return refused();
                    }
                    (
                        [(header::CACHE_CONTROL, "no-store")],
                        Html(page.as_str().to_owned()),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/ws",
            get(move |ws: WebSocketUpgrade, headers: HeaderMap| {
                let pool = pool.clone();
                let services = services.clone();
                let secret = ws_secret.clone();
                async move {
                    if !has_cookie(&headers, &secret) || !same_origin(&headers) {
                        return refused();
                    }
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

/// Serves the UI on a bound listener until the process ends, with the background sync; only
/// to the browser that opens `/?k=SECRET`.
///
/// # Errors
/// The server failing.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Arc<Services>,
    secret: String,
) -> std::io::Result<()> {
    tokio::spawn(services.clone().run_auto_sync());
    axum::serve(listener, router(services, secret)).await
}
