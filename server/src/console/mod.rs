//! The supervisor console: pages rendered on the server (maud, escaped HTML), Chinese by default
//! (`?lang=en` switches to English and is remembered in a cookie), for Chromium on a desk or a
//! phone. Signing in sets the `doorstep_token` cookie, which the API's [`Caller`] extractor
//! accepts, so the pages' script (`server/assets/console.js`, no build step) calls the JSON API
//! with the same session. Figures move live: `/console/events` sends a server-sent event
//! (debounced) whenever a change is accepted, and the page fetches `/api/v1/progress` again.
//!
//! Pages: `/console` (overview), `/console/community/{code}` (persons and review),
//! `/console/conflicts`, `/console/admin` (admin only), `/console/campaigns` (the years; the
//! first campaign on an empty server), `/console/record/{person}` (one record against last year),
//! `/console/review` (the review chain: stages, the district's sample, follow-up cases),
//! `/console/exports`, `/console/analysis` (needs and services), `/console/handover` (the
//! hand-over to the national system and its printable checklist), `/console/login`.
//! Every page honours role and scope: a worker gets a polite 403 page, a supervisor sees their
//! street, the district admin everything.
//!
//! [`Caller`]: crate::auth::Caller

mod admin;
mod analysis;
mod assets;
mod audit;
mod campaigns;
mod conflicts;
mod exports;
mod handover;
mod lang;
mod layout;
mod overview;
mod review;
mod session;
mod shell;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware::{Next, from_fn};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use doorstep_shared::lang::Lang;

use crate::auth::Caller;
use crate::state::AppState;

use lang::ConsoleLang;
pub use lang::LANG_COOKIE;

/// How long the event stream waits after a change for more changes before telling the page.
const DEBOUNCE: Duration = Duration::from_millis(300);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(overview::overview))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/community/{code}", get(overview::community))
        .route("/console/analysis", get(analysis::page))
        .route("/console/conflicts", get(conflicts::page))
        .route("/console/review", get(review::page))
        .route("/console/admin", get(admin::page))
        .route("/console/campaigns", get(campaigns::page))
        .route("/console/audit", get(audit::page))
        .route("/console/record/{person}", get(campaigns::record))
        .route("/console/exports", get(exports::page))
        .route("/console/handover", get(handover::page))
        .route("/console/handover/checklist", get(handover::checklist))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/events", get(events))
        .route("/console/assets/{file}", get(assets::asset))
        .route("/console/{*rest}", get(not_found))
        .layer(from_fn(console_headers))
}

async fn not_found(ConsoleLang(lang): ConsoleLang) -> Response {
    layout::error_page(
        lang,
        axum::http::StatusCode::NOT_FOUND,
        lang.pick("找不到此页面", "Page not found"),
        lang.pick(
            "地址有误或页面已不存在。",
            "The address is wrong or the page no longer exists.",
        ),
        false,
        true,
    )
}

/// Headers on every console response: no caching of pages with personal data (assets set their
/// own), no framing, a strict content security policy (no inline script or style), and the
/// language cookie when `?lang=` chose one.
async fn console_headers(req: Request, next: Next) -> Response {
    let chosen = lang::lang_in_query(req.uri().query());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
    );
    if let Some(lang) = chosen
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
            lang.key()
        ))
    {
        h.append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /console/events`: one `change` event per burst of accepted changes (debounced), after a
/// `ready` event on connect. The page then reads the figures it may see through the API, so the
/// stream itself carries nothing scoped.
async fn events(
    State(state): State<AppState>,
    _caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.changes.subscribe();
    let ready = futures::stream::once(async {
        Ok::<_, Infallible>(
            Event::default()
                .event("ready")
                .data("1")
                .retry(Duration::from_secs(3)),
        )
    });
    let changes = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(()) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return None,
        }
        tokio::time::sleep(DEBOUNCE).await;
        while let Ok(()) | Err(TryRecvError::Lagged(_)) = rx.try_recv() {}
        Some((Ok(Event::default().event("change").data("1")), rx))
    });
    Sse::new(futures::StreamExt::chain(ready, changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A page handler's failure: already a rendered page (error page or redirect).
pub struct PageError(Box<Response>);

impl PageError {
    #[must_use]
    pub fn new(page: Response) -> Self {
        Self(Box::new(page))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<crate::error::ApiError> for PageError {
    fn from(e: crate::error::ApiError) -> Self {
        let title = match e.status.as_u16() {
            403 => "无权访问 / Not allowed",
            404 => "找不到 / Not found",
            409 => "暂不可用 / Not available yet",
            _ => "出错了 / Something went wrong",
        };
        PageError::new(layout::error_page(
            Lang::Zh,
            e.status,
            title,
            &e.message,
            e.status == axum::http::StatusCode::FORBIDDEN,
            true,
        ))
    }
}

impl From<crate::db::DbError> for PageError {
    fn from(e: crate::db::DbError) -> Self {
        crate::error::ApiError::from(e).into()
    }
}

pub type PageResult = Result<Response, PageError>;

impl From<crate::service::Error> for PageError {
    fn from(e: crate::service::Error) -> Self {
        crate::error::ApiError::from(e).into()
    }
}
