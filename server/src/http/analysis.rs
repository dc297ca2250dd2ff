//! `GET /api/v1/analysis`: the needs and services analysis of the finalized records (every
//! tallied item by option, place, category and level, last year beside it, the action lists'
//! counts and the needs paragraph); `GET /api/v1/analysis/actions/{list}` one action list, and
//! `…/{list}.xlsx` the same list as a spreadsheet. IDs are masked unless the caller is the
//! admin; every list read or exported is audited.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use doorstep_shared::analysis::Action;

use super::auth::Caller;
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::service::analysis::{self, Analysis, ListRow, Params, list_table};
use crate::state::AppState;
use crate::tables::to_xlsx;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/analysis", get(figures))
        .route("/api/v1/analysis/actions/{list}", get(list))
}

async fn figures(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<Params>,
) -> ApiResult<Json<Analysis>> {
    Ok(Json(analysis::for_caller(&state, &caller, &p).await?))
}

/// An action list: which list, its eligibility rule, and the persons on it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ActionList)]
pub(crate) struct List {
    year: i32,
    list: Action,
    label_zh: &'static str,
    rule_zh: &'static str,
    rule_en: &'static str,
    rows: Vec<ListRow>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    ApiQuery(p): ApiQuery<Params>,
) -> ApiResult<Response> {
    let (name, xlsx) = match file.strip_suffix(".xlsx") {
        Some(n) => (n, true),
        None => (file.as_str(), false),
    };
    let (campaign, action, rows) = analysis::action_list(&state, &caller, &p, name).await?;
    let what = format!(
        "analysis-{name}{} ({} rows; year {}, place {}, filters {})",
        if xlsx { ".xlsx" } else { "" },
        rows.len(),
        campaign.year,
        p.place.as_deref().unwrap_or("-"),
        serde_json::to_string(&p).unwrap_or_default()
    );
    if xlsx {
        let bytes = to_xlsx(&list_table(&rows), "行动清单").map_err(|e| ApiError::internal(&e))?;
        state.db.audit_entry(&caller.entry("export", &what)).await?;
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"analysis-{name}.xlsx\""),
                ),
            ],
            bytes,
        )
            .into_response());
    }
    state
        .db
        .audit_entry(&caller.entry("view_list", &what))
        .await?;
    Ok(Json(List {
        year: campaign.year,
        list: action,
        label_zh: action.label_zh(),
        rule_zh: action.rule_zh(),
        rule_en: action.rule_en(),
        rows,
    })
    .into_response())
}
