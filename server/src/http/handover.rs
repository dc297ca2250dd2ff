//! The hand-over to the national system: `GET /api/v1/handover/{file}` (the coded export
//! `coded.xlsx`/`coded.csv`, the keying checklist `checklist.json`/`checklist.pdf`, for
//! `?area=` a community, street or the district) and `POST /api/v1/handover/keyed/{person}`
//! (mark a record keyed into the national system, or clear the mark). See `docs/handover.md`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use doorstep_shared::errors::ErrorCode;
use serde::Deserialize;

use doorstep_shared::sync::Role;

use super::auth::Caller;
use crate::db::KeyedMark;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::pdf::{FontFile, checklist_pdf};
use crate::service::handover::{self, HandoverQuery, KEYERS, Who};
use crate::state::AppState;
use crate::tables::{to_csv, to_xlsx};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/handover/keyed/{person}", post(keyed))
        .route("/api/v1/handover/{file}", get(file))
}

fn attachment(bytes: Vec<u8>, mime: &str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    ApiQuery(q): ApiQuery<HandoverQuery>,
) -> ApiResult<Response> {
    caller.require(KEYERS)?;
    let who = Who::Caller(&caller);
    let area = q.area.as_deref();
    let name = |ext: &str| format!("handover-{}.{ext}", area.unwrap_or("all"));
    match file.as_str() {
        "coded.xlsx" | "coded.csv" => {
            let table = handover::coded_table(&state, who, q.year, area).await?;
            Ok(if file.ends_with(".xlsx") {
                attachment(
                    to_xlsx(&table, "动态1表").map_err(|e| ApiError::internal(&e))?,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    &name("xlsx"),
                )
            } else {
                attachment(
                    to_csv(&table).map_err(|e| ApiError::internal(&e))?,
                    "text/csv; charset=utf-8",
                    &name("csv"),
                )
            })
        }
        "checklist.json" => Ok(Json(
            handover::checklist(&state, who, q.year, area, q.person.as_deref()).await?,
        )
        .into_response()),
        "checklist.pdf" => {
            // The font first: without one, say so before reading (and auditing) any record.
            let font = FontFile::load().map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::NoFont,
                    e.to_string(),
                )
            })?;
            let list = handover::checklist(&state, who, q.year, area, q.person.as_deref()).await?;
            let bytes = tokio::task::spawn_blocking(move || checklist_pdf(&list, &font))
                .await
                .map_err(|e| ApiError::internal(&e))?
                .map_err(|e| ApiError::internal(&e))?;
            Ok(attachment(bytes, "application/pdf", &name("pdf")))
        }
        _ => Err(ApiError::not_found(format!(
            "没有交接文件 {file}，可用 coded.xlsx、coded.csv、checklist.json、checklist.pdf / no hand-over file {file}: use coded.xlsx, coded.csv, checklist.json or checklist.pdf"
        ))),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct KeyedBody {
    /// `true` marks the record keyed into the national system, `false` clears the mark.
    pub keyed: bool,
}

async fn keyed(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<KeyedBody>,
) -> ApiResult<Json<Option<KeyedMark>>> {
    caller.require(&[Role::Supervisor, Role::Admin])?;
    Ok(Json(
        handover::mark_keyed(&state, Who::Caller(&caller), &person, body.keyed).await?,
    ))
}
