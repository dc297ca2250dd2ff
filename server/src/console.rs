//! The supervisor console (server-rendered pages). See issue "Supervisor console".

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(|| async { Redirect::to("/api/openapi.json") }))
}
