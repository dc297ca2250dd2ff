//! `GET /api/v1/progress`: figures per community, street and district, the daily burn-up, and
//! the annual-report paragraph.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use crate::error::{ApiQuery, ApiResult};
use crate::service;
use crate::state::AppState;

pub use crate::service::progress::for_caller as compute;
use doorstep_shared::progress::Progress;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/progress", get(progress))
        .route("/api/v1/report", get(report))
}

/// `?year=` reads a closed campaign next to the open one.
#[derive(Debug, Default, Deserialize)]
pub struct YearQuery {
    #[serde(default)]
    pub year: Option<i32>,
}

async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<Progress>> {
    Ok(Json(compute(&state, &caller, q.year).await?.0))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Report {
    paragraph: String,
    /// The second paragraph: the needs counts (docs/analysis.md).
    needs: String,
}

async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<Report>> {
    let campaign = state.campaign_for(q.year).await?;
    let scope = caller.scope(&state, &campaign).await?;
    Ok(Json(Report {
        paragraph: service::progress::report(&state.db, &campaign, &scope).await?,
        needs: service::analysis::paragraph(&state.db, &campaign, &scope).await?,
    }))
}
