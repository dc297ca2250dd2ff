//! `GET /metrics`: the Prometheus text exposition ([`crate::metrics`]), for an admin's bearer
//! token on the API's address, or without a token on the separate `--metrics-bind` address.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::gauge;

use doorstep_shared::sync::Role;

use super::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The route on the API's address: admins only.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(admin_metrics))
}

/// The router of the separate metrics address (`--metrics-bind`): no token, so bind it where
/// only the monitoring reaches (localhost or a private network).
pub fn open_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(open_metrics))
        .with_state(state)
}

async fn admin_metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(&[Role::Admin])?;
    exposition(&state).await
}

async fn open_metrics(State(state): State<AppState>) -> ApiResult<Response> {
    exposition(&state).await
}

async fn exposition(state: &AppState) -> ApiResult<Response> {
    let text = render(state).await.map_err(ApiError::from)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The text exposition: the gauges read from the database and the pool now, then everything.
///
/// # Errors
/// A database error reading the open conflicts.
async fn render(state: &AppState) -> crate::db::DbResult<String> {
    // One scrape at a time: the gauges set here are the ones this scrape renders (two servers
    // in one process, as in the tests, do not mix their figures).
    static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let Some(h) = crate::metrics::handle() else {
        return Ok(String::new());
    };
    let _one = SCRAPE.lock().await;
    #[allow(clippy::cast_precision_loss)]
    {
        gauge!("doorstep_open_conflicts").set(state.db.open_conflicts().await? as f64);
        let pool = state.db.pool();
        let idle = pool.num_idle() as f64;
        gauge!("doorstep_db_pool_connections", "state" => "idle").set(idle);
        gauge!("doorstep_db_pool_connections", "state" => "in_use")
            .set(f64::from(pool.size()) - idle);
        gauge!("doorstep_db_pool_connections", "state" => "max")
            .set(f64::from(pool.options().get_max_connections()));
    }
    h.run_upkeep();
    Ok(h.render())
}
