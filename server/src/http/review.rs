//! Records, conflicts and review: `GET /api/v1/records`, `GET /api/v1/records/{person}`,
//! `GET /api/v1/conflicts`, `POST /api/v1/conflicts/{person}/{item}/resolve`,
//! `POST /api/v1/records/{person}/review`; the review chain's figures, sample and follow-up
//! cases (docs/review.md).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use doorstep_shared::errors::ErrorCode;
use serde::Deserialize;

use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Writer;
use doorstep_shared::review::{Decision, Notes, Verification};
use doorstep_shared::sync::{RecordState, Role};
use doorstep_shared::{Numbers, Value};

use super::auth::Caller;
use crate::db::{CaseRow, ConflictRow};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::service::records::Line;
use crate::service::review::{CaseRequest, DrawRequest, Drawn, SampleReport, Stages, Warned};
use crate::service::{self, Who};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/records", get(list))
        .route("/api/v1/records/{person}", get(show))
        .route("/api/v1/records/{person}/review", post(review))
        .route("/api/v1/review/stages", get(stages))
        .route("/api/v1/review/warnings", get(warned))
        .route("/api/v1/samples", get(samples))
        .route("/api/v1/samples/draw", post(draw))
        .route("/api/v1/samples/{person}/check", post(check))
        .route("/api/v1/follow-ups", get(cases))
        .route("/api/v1/follow-ups.xlsx", get(cases_xlsx))
        .route("/api/v1/follow-ups/{person}", post(decide_case))
        .route("/api/v1/conflicts", get(conflicts))
        .route("/api/v1/conflicts/{person}/{item}/resolve", post(resolve))
}

#[derive(Deserialize)]
struct ListQuery {
    community: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Line>>> {
    let campaign = state.campaign().await?;
    let scope = caller.scope(&state, &campaign).await?;
    let rows = state
        .db
        .records(&campaign.id.to_string(), &scope, q.community.as_deref())
        .await?;
    Ok(Json(rows.iter().map(Line::from).collect()))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
) -> ApiResult<Json<RecordState>> {
    let row = caller.visible(&state, &person).await?;
    state
        .db
        .audit_entry(&caller.entry("view_record", &person))
        .await?;
    Ok(Json(shown_in_record_view(&row, caller.role())))
}

/// A record as `GET /api/v1/records/{id}` shows it. The view is audited; only the admin (who
/// keys the records into the national system and exports them) sees the numbers whole. For the
/// others the ID and certificate numbers keep their region and their last four characters (the
/// certificate's category and level), and the phone is masked too.
fn shown_in_record_view(row: &crate::db::RecordRow, role: Role) -> RecordState {
    if role == Role::Admin {
        return row.state(Numbers::Whole);
    }
    let mut s = row.state(Numbers::Masked);
    s.person.phone = doorstep_shared::ids::mask_id(&s.person.phone);
    s
}

async fn conflicts(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ConflictRow>>> {
    caller.require(&[Role::Supervisor, Role::Admin])?;
    let campaign = state.campaign().await?;
    let scope = caller.scope(&state, &campaign).await?;
    Ok(Json(
        state.db.conflicts(&campaign.id.to_string(), &scope).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResolveBody {
    #[schema(value_type = Option<doorstep_shared::openapi::Answer>)]
    pub value: Option<Value>,
}

/// The writer of a console action.
#[must_use]
pub fn console_writer(caller: &Caller) -> Writer {
    let now = chrono::Utc::now().timestamp_millis();
    Writer {
        user: caller.0.user.username.clone(),
        rank: caller.role().rank(),
        device: uuid::Uuid::parse_str(&caller.0.device_id).ok(),
        mutation: uuid::Uuid::now_v7(),
        hlc: Hlc {
            wall: now,
            counter: 0,
        },
        at_ms: now,
    }
}

async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path((person, item)): Path<(String, String)>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> ApiResult<Json<RecordState>> {
    caller.require(&[Role::Supervisor, Role::Admin])?;
    let record = caller.visible(&state, &person).await?;
    let campaign = state.campaign().await?;
    if record.campaign_id != campaign.id.to_string() {
        return Err(ApiError::conflict(
            ErrorCode::CampaignClosed,
            "该记录属于已结束的调查 / this record belongs to a closed campaign",
        ));
    }
    let form = state.form(&campaign.form_version).await?;
    let row = state
        .db
        .resolve_conflict(&form, &person, &item, body.value, &console_writer(&caller))
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(m) => ApiError::unprocessable(ErrorCode::InvalidValue, m),
            other => other.into(),
        })?;
    state.notify();
    Ok(Json(row.state(caller.role().device_numbers())))
}

/// A review step: `approve` or `return` (the earlier `approved` and `returned` are accepted).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReviewBody {
    #[schema(value_type = String, example = "return")]
    pub decision: DecisionIn,
    #[serde(default)]
    pub comment: Option<String>,
    /// Notes on single items (item key → note), sent with a return.
    #[serde(default)]
    pub notes: Notes,
}

/// The decision as the API takes it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionIn {
    #[serde(alias = "approved")]
    Approve,
    #[serde(alias = "returned")]
    Return,
}

impl From<DecisionIn> for Decision {
    fn from(d: DecisionIn) -> Self {
        match d {
            DecisionIn::Approve => Decision::Approve,
            DecisionIn::Return => Decision::Return,
        }
    }
}

async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> ApiResult<Json<RecordState>> {
    let row = service::review::decide(
        &state,
        Who::Caller(&caller),
        &person,
        body.decision.into(),
        body.comment,
        body.notes,
    )
    .await?;
    Ok(Json(row.state(caller.role().device_numbers())))
}

#[derive(Deserialize)]
struct YearQuery {
    year: Option<i32>,
}

async fn stages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<Stages>> {
    Ok(Json(
        service::review::stages(&state, Who::Caller(&caller), q.year).await?,
    ))
}

#[derive(Deserialize)]
struct WarnedQuery {
    year: Option<i32>,
    #[serde(default)]
    unexplained: bool,
}

async fn warned(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WarnedQuery>,
) -> ApiResult<Json<Vec<Warned>>> {
    Ok(Json(
        service::review::warned(&state, Who::Caller(&caller), q.year, q.unexplained).await?,
    ))
}

async fn draw(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DrawRequest>,
) -> ApiResult<Json<Drawn>> {
    Ok(Json(
        service::review::draw(&state, Who::Caller(&caller), &body).await?,
    ))
}

async fn samples(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> ApiResult<Json<SampleReport>> {
    Ok(Json(
        service::review::samples(&state, Who::Caller(&caller), q.year).await?,
    ))
}

async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<Verification>,
) -> ApiResult<StatusCode> {
    service::review::check(&state, Who::Caller(&caller), &person, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct CasesQuery {
    year: Option<i32>,
    outcome: Option<String>,
    #[serde(default)]
    open: bool,
}

async fn cases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CasesQuery>,
) -> ApiResult<Json<Vec<CaseRow>>> {
    Ok(Json(
        service::review::cases(
            &state,
            Who::Caller(&caller),
            q.year,
            q.outcome.as_deref(),
            q.open,
        )
        .await?,
    ))
}

async fn cases_xlsx(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CasesQuery>,
) -> ApiResult<Response> {
    let who = Who::Caller(&caller);
    let rows = service::review::cases(&state, who, q.year, q.outcome.as_deref(), q.open).await?;
    let full = caller.role() == Role::Admin;
    state
        .db
        .audit_entry(&caller.entry(
            "export",
            &format!("follow-ups.xlsx rows={} full_ids={full}", rows.len()),
        ))
        .await?;
    let bytes = crate::tables::to_xlsx(&service::review::cases_table(&rows, full), "后续处理")
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"follow-ups.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn decide_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<CaseRequest>,
) -> ApiResult<StatusCode> {
    service::review::decide_case(&state, Who::Caller(&caller), &person, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
