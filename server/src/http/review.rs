//! Records, conflicts and review: `GET /api/v1/records`, `GET /api/v1/records/{person}`,
//! `GET /api/v1/conflicts`, `POST /api/v1/conflicts/{person}/{item}/resolve`,
//! `POST /api/v1/records/{person}/review`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Writer;
use doorstep_shared::sync::{RecordState, Role};
use doorstep_shared::{Review, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiJson, ApiResult};
use crate::db::{ConflictRow, RecordRow};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/records", get(list))
        .route("/api/v1/records/{person}", get(show))
        .route("/api/v1/records/{person}/review", post(review))
        .route("/api/v1/conflicts", get(conflicts))
        .route("/api/v1/conflicts/{person}/{item}/resolve", post(resolve))
}

/// One line of a community's person list (ID numbers masked).
#[derive(Debug, Serialize)]
pub struct Line {
    pub person: String,
    pub name: String,
    pub community: String,
    pub id_masked: String,
    pub outcome: Option<String>,
    pub status: String,
    pub review: Review,
    pub conflicts: usize,
    /// The worker who collected the record (a supervisor's review does not change it).
    pub collected_by: Option<String>,
    /// Who changed the record last (a worker, or a supervisor reviewing).
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

impl From<&RecordRow> for Line {
    fn from(r: &RecordRow) -> Self {
        Line {
            person: r.id.clone(),
            name: r.person.name.clone(),
            community: r.community.clone(),
            id_masked: r.person.resident_id.masked(),
            outcome: doorstep_shared::domain::outcome_of(&r.doc.answers)
                .map(|o| o.key().to_string()),
            status: match doorstep_shared::domain::status_of(&r.doc.answers) {
                doorstep_shared::Status::Final => "final".into(),
                doorstep_shared::Status::Draft => "draft".into(),
            },
            review: r.review,
            conflicts: r.doc.conflicts.len(),
            collected_by: r.collected_by.clone(),
            updated_by: r.updated_by.clone(),
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    community: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Line>>> {
    let campaign = state.campaign().await?;
    let scope = caller.scope(&state, &campaign).await?;
    let rows = state
        .db
        .records(&campaign.id.to_string(), &scope, q.community.as_deref())
        .await?;
    Ok(Json(rows.iter().map(Line::from).collect()))
}

/// Loads a record the caller may see, or 404/403.
///
/// # Errors
/// 404 unknown, 403 outside the caller's scope.
pub async fn visible(state: &AppState, caller: &Caller, person: &str) -> ApiResult<RecordRow> {
    let campaign = state.campaign().await?;
    let row = state
        .db
        .record(person)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no person {person}")))?;
    if !caller.scope(state, &campaign).await?.allows(&row.community) {
        return Err(ApiError::forbidden(
            "this person is outside your communities / 不在您的负责范围",
        ));
    }
    Ok(row)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
) -> ApiResult<Json<RecordState>> {
    let row = visible(&state, &caller, &person).await?;
    state
        .db
        .audit(Some(&caller.0.user.username), "view_record", &person)
        .await?;
    let mut s = row.state();
    if caller.role() != Role::Admin {
        // The record view is audited; only the admin sees unmasked numbers in the API.
        s.person.phone = doorstep_shared::ids::mask_id(&s.person.phone);
    }
    Ok(Json(s))
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

#[derive(Deserialize)]
pub struct ResolveBody {
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
    let record = visible(&state, &caller, &person).await?;
    let campaign = state.campaign().await?;
    if record.campaign_id != campaign.id.to_string() {
        return Err(ApiError::conflict(
            "campaign_closed",
            "该记录属于已结束的调查 / this record belongs to a closed campaign",
        ));
    }
    let form = state.form(&campaign.form_version).await?;
    let row = state
        .db
        .resolve_conflict(&form, &person, &item, body.value, &console_writer(&caller))
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(m) => ApiError::unprocessable("invalid_value", m),
            other => other.into(),
        })?;
    state.notify();
    Ok(Json(row.state()))
}

#[derive(Deserialize)]
pub struct ReviewBody {
    pub decision: Review,
    #[serde(default)]
    pub comment: Option<String>,
}

async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> ApiResult<Json<RecordState>> {
    caller.require(&[Role::Supervisor, Role::Admin])?;
    visible(&state, &caller, &person).await?;
    if body.decision == Review::Returned
        && body.comment.as_deref().is_none_or(|c| c.trim().is_empty())
    {
        return Err(ApiError::unprocessable(
            "comment_required",
            "say what to fix when returning a record / 退回时请填写原因",
        ));
    }
    let row = state
        .db
        .review(
            &person,
            body.decision,
            body.comment,
            &caller.0.user.username,
        )
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(_) => ApiError::conflict(
                "not_submitted",
                "only a finalized record can be reviewed / 记录尚未提交",
            ),
            other => other.into(),
        })?;
    state.notify();
    Ok(Json(row.state()))
}
