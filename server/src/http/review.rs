//! Records, conflicts and review: `GET /api/v1/records`, `GET /api/v1/records/{person}`,
//! `GET /api/v1/conflicts`, `POST /api/v1/conflicts/{person}/{item}/resolve`,
//! `POST /api/v1/records/{person}/review`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Writer;
use doorstep_shared::sync::{RecordState, Role};
use doorstep_shared::{Review, Value};

use super::auth::Caller;
use crate::db::ConflictRow;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::service::records::Line;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/records", get(list))
        .route("/api/v1/records/{person}", get(show))
        .route("/api/v1/records/{person}/review", post(review))
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

#[derive(Deserialize, utoipa::ToSchema)]
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
    let record = caller.visible(&state, &person).await?;
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
    state
        .db
        .audit(
            Some(&caller.0.user.username),
            "resolve_conflict",
            &format!("{person} {item}"),
        )
        .await?;
    state.notify();
    Ok(Json(row.state()))
}

#[derive(Deserialize, utoipa::ToSchema)]
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
    caller.visible(&state, &person).await?;
    if body
        .comment
        .as_deref()
        .is_some_and(|c| c.chars().count() > 500)
    {
        return Err(ApiError::unprocessable(
            "comment_too_long",
            "意见最多 500 个字 / a comment takes at most 500 characters",
        ));
    }
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
    state
        .db
        .audit(
            Some(&caller.0.user.username),
            "review",
            &format!("{person} {:?}", row.review),
        )
        .await?;
    state.notify();
    Ok(Json(row.state()))
}
