//! District admin: roster import, users, community assignments, devices.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use doorstep_shared::errors::ErrorCode;
use serde::{Deserialize, Serialize};

use doorstep_shared::DivisionCode;
use doorstep_shared::sync::Role;

use super::auth::{Caller, hash_password};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::service::{Who, accounts, campaigns, roster};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/roster", post(import_roster))
        .route("/api/v1/admin/roster/decisions", get(flagged))
        .route("/api/v1/admin/roster/decisions/{person}", post(decide))
        .route(
            "/api/v1/admin/campaigns",
            get(list_campaigns).post(open_campaign),
        )
        .route("/api/v1/admin/campaigns/{year}/close", post(close_campaign))
        .route("/api/v1/admin/users", get(users).post(create_user))
        .route(
            "/api/v1/admin/users/{username}/deactivate",
            post(deactivate),
        )
        .route(
            "/api/v1/admin/users/{username}/reactivate",
            post(reactivate),
        )
        .route(
            "/api/v1/admin/users/{username}/password",
            post(reset_password),
        )
        .route("/api/v1/admin/assignments", get(assignments).put(assign))
        .route("/api/v1/admin/assignments/{community}", delete(unassign))
        .route("/api/v1/admin/devices", get(devices))
        .route("/api/v1/admin/audit", get(audit))
        .route("/api/v1/admin/audit/verify", get(audit_verify))
        .route("/api/v1/admin/devices/{id}/revoke", post(revoke))
}

#[derive(Deserialize)]
struct ImportQuery {
    filename: String,
}

async fn import_roster(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Bytes,
) -> ApiResult<Json<crate::db::ImportOutcome>> {
    caller.require(&[Role::Admin])?;
    let r = roster::import(
        &state.db,
        &q.filename,
        &body,
        Who::Caller(&caller),
        &|_, _| {},
    )
    .await?;
    state.notify();
    Ok(Json(r))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Flagged {
    person_id: String,
    name: String,
    community: String,
    flag: Option<String>,
}

async fn flagged(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Flagged>>> {
    caller.require(&[Role::Admin])?;
    Ok(Json(
        roster::flagged(&state.db)
            .await?
            .into_iter()
            .map(|r| Flagged {
                person_id: r.id,
                name: r.person.name,
                community: r.community,
                flag: r.flag,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct DecisionBody {
    decision: roster::Decision,
    #[serde(default)]
    reason: String,
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(&[Role::Admin])?;
    roster::decide(
        &state.db,
        &person,
        body.decision,
        &body.reason,
        Who::Caller(&caller),
    )
    .await?;
    state.notify();
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct YearPath {
    year: i32,
}

async fn list_campaigns(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<campaigns::Summary>>> {
    caller.require(&[Role::Admin, Role::Supervisor])?;
    Ok(Json(campaigns::list(&state.db).await?))
}

async fn open_campaign(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<campaigns::OpenRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<campaigns::Opened>)> {
    caller.require(&[Role::Admin])?;
    let opened = campaigns::open(&state.db, &req, Who::Caller(&caller)).await?;
    state.notify();
    Ok((axum::http::StatusCode::CREATED, Json(opened)))
}

async fn close_campaign(
    State(state): State<AppState>,
    caller: Caller,
    crate::error::ApiPath(p): crate::error::ApiPath<YearPath>,
) -> ApiResult<Json<crate::db::CampaignRow>> {
    caller.require(&[Role::Admin])?;
    let c = campaigns::close(&state.db, p.year, Who::Caller(&caller)).await?;
    state.notify();
    Ok(Json(c))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserLine {
    username: String,
    display_name: String,
    role: Role,
    area: Option<String>,
    active: bool,
}

async fn users(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserLine>>> {
    caller.require(&[Role::Admin])?;
    Ok(Json(
        state
            .db
            .users()
            .await?
            .into_iter()
            .map(|u| UserLine {
                username: u.username,
                display_name: u.display_name,
                role: u.role,
                area: u.area.map(|a| a.to_string()),
                active: u.active,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub area: Option<String>,
    pub password: String,
}

/// The account just created.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedUser {
    /// The new account's ID.
    #[schema(format = Uuid, example = "0190c5a2-7d3e-7b1a-9c4f-2e8d1a6b3c5f")]
    id: String,
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(u): ApiJson<NewUser>,
) -> ApiResult<Json<CreatedUser>> {
    caller.require(&[Role::Admin])?;
    if u.username.trim().is_empty()
        || u.username.chars().count() > 64
        || u.display_name.chars().count() > 50
        || u.password.len() < 8
        || u.password.len() > 256
    {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidUser,
            "需要用户名（最多 64 字）、姓名（最多 50 字）和至少 8 位的密码 / a user name (at most 64 characters), a display name (at most 50) and a password of at least 8 characters are needed",
        ));
    }
    let area = u
        .area
        .as_deref()
        .map(DivisionCode::parse)
        .transpose()
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidArea, e.to_string()))?;
    let id = state
        .db
        .create_user(
            u.username.trim(),
            &u.display_name,
            u.role,
            area.as_ref(),
            &hash_password(&u.password),
            &caller.entry(
                "user_created",
                &format!("{} {}", u.username.trim(), u.role.key()),
            ),
        )
        .await
        .map_err(|e| match e {
            crate::db::DbError::Invalid(m) => ApiError::conflict(ErrorCode::UserExists, m),
            other => other.into(),
        })?;
    Ok(Json(CreatedUser { id }))
}

async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(&[Role::Admin])?;
    accounts::set_active(&state, &username, false, Who::Caller(&caller)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn reactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(&[Role::Admin])?;
    accounts::set_active(&state, &username, true, Who::Caller(&caller)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewPassword {
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(&[Role::Admin])?;
    accounts::reset_password(&state, &username, &body.password, Who::Caller(&caller)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assignment {
    pub community: String,
    pub username: String,
}

async fn assignments(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Assignment>>> {
    caller.require(&[Role::Admin, Role::Supervisor])?;
    let c = state.campaign().await?;
    Ok(Json(
        state
            .db
            .assignments(&c.id.to_string())
            .await?
            .into_iter()
            .map(|(community, username)| Assignment {
                community,
                username,
            })
            .collect(),
    ))
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(a): ApiJson<Assignment>,
) -> ApiResult<Json<Assignment>> {
    caller.require(&[Role::Admin])?;
    let c = state.campaign().await?;
    let code = DivisionCode::parse(&a.community)
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidCommunity, e.to_string()))?;
    state
        .db
        .assign(&c.id.to_string(), &code, &a.username)
        .await?;
    state.notify();
    Ok(Json(a))
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(community): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require(&[Role::Admin])?;
    let c = state.campaign().await?;
    let code = DivisionCode::parse(&community)
        .map_err(|e| ApiError::unprocessable(ErrorCode::InvalidCommunity, e.to_string()))?;
    state.db.unassign(&c.id.to_string(), &code).await?;
    state.notify();
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceLine {
    id: String,
    username: String,
    name: String,
    kind: String,
    last_seen: i64,
    revoked: bool,
}

async fn devices(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<DeviceLine>>> {
    caller.require(&[Role::Admin])?;
    Ok(Json(
        state
            .db
            .devices()
            .await?
            .into_iter()
            .map(|d| DeviceLine {
                id: d.id,
                username: d.username,
                name: d.name,
                kind: d.kind,
                last_seen: d.last_seen,
                revoked: d.revoked,
            })
            .collect(),
    ))
}

/// The device just revoked: its sessions end and it may not sign in again.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    /// The revoked device's ID.
    #[schema(example = "0190c5a2-7d3e-7b1a-9c4f-2e8d1a6b3c5f")]
    revoked: String,
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Revoked>> {
    caller.require(&[Role::Admin])?;
    state
        .db
        .revoke_device(&id, &caller.entry("revoke_device", &id))
        .await?;
    Ok(Json(Revoked { revoked: id }))
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    /// `csv` for a download.
    #[serde(default)]
    format: Option<String>,
}

/// The audit trail, newest first, filtered by action and user; `?format=csv` downloads it.
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    caller.require(&[Role::Admin])?;
    let rows = state
        .db
        .audit_entries(
            q.action.as_deref().filter(|s| !s.is_empty()),
            q.user.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(500).clamp(1, 100_000),
        )
        .await?;
    state
        .db
        .audit_entry(&caller.entry("audit_read", &format!("{} entries", rows.len())))
        .await?;
    if q.format.as_deref() == Some("csv") {
        let table = crate::tables::Table {
            header: [
                "序号", "时间", "用户", "设备", "地址", "操作", "详情", "哈希",
            ]
            .map(String::from)
            .to_vec(),
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        r.seq.to_string(),
                        chrono::DateTime::from_timestamp_millis(r.at)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default(),
                        r.user.clone().unwrap_or_default(),
                        r.device.clone().unwrap_or_default(),
                        r.address.clone().unwrap_or_default(),
                        r.action.clone(),
                        r.detail.clone(),
                        r.hash.clone(),
                    ]
                })
                .collect(),
        };
        let bytes = crate::tables::to_csv(&table).map_err(|e| ApiError::internal(&e))?;
        return Ok((
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"",
                ),
            ],
            bytes,
        )
            .into_response());
    }
    Ok(Json(rows).into_response())
}

/// Checks the audit chain: how many entries, and the first broken one if any.
async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<crate::db::audit::Verified>> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.db.audit_verify().await?))
}
