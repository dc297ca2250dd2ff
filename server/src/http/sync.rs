//! `POST /api/v1/sync/push`, `GET /api/v1/sync/pull`, `GET /api/v1/forms/{version}`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use doorstep_shared::errors::ErrorCode;
use serde::{Deserialize, Serialize};

use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::sync::{MAX_PULL_PAGE, MAX_PUSH_BATCH, PROTOCOL_VERSION, PushResponse};

use super::auth::Caller;
use crate::db::PulledRecord;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sync/push", post(push))
        .route("/api/v1/sync/pull", get(pull))
        .route("/api/v1/forms/{version}", get(form))
}

fn server_time() -> Hlc {
    Hlc {
        wall: chrono::Utc::now().timestamp_millis(),
        counter: 0,
    }
}

fn check_protocol(p: u32) -> ApiResult<()> {
    if p == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            ErrorCode::ProtocolVersion,
            format!(
                "this server speaks sync protocol {PROTOCOL_VERSION}, the app sent {p}; update the app / 请更新应用"
            ),
        ))
    }
}

/// A [`doorstep_shared::sync::PushRequest`] as the server reads it: each mutation is kept as
/// the JSON text it came as (the log stores that) and decoded from it.
#[derive(Deserialize)]
struct PushBody {
    protocol: u32,
    mutations: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    batch: Option<uuid::Uuid>,
    #[serde(default)]
    after: Option<uuid::Uuid>,
}

async fn push(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PushBody>,
) -> ApiResult<Json<PushResponse>> {
    check_protocol(req.protocol)?;
    let applying = state.pushes.enter(&state.db, req.batch);
    if req.mutations.len() > MAX_PUSH_BATCH {
        return Err(ApiError::too_large(format!(
            "每次上传最多 {MAX_PUSH_BATCH} 条修改，收到 {n} 条 / at most {MAX_PUSH_BATCH} mutations per push, got {n}",
            n = req.mutations.len()
        )));
    }
    let campaigns = state.push_campaigns().await?;
    // The caller's scope is that of the open campaign, or (all closed) of the newest: their
    // edits of an ended or closed year still get a per-mutation answer.
    let newest = campaigns
        .values()
        .max_by_key(|c| {
            (
                c.row.state == doorstep_shared::CampaignState::Open,
                c.row.campaign.year,
            )
        })
        .map(|c| c.row.campaign.clone())
        .ok_or_else(|| ApiError::from(crate::service::campaigns::no_campaign()))?;
    let pusher = caller.pusher(&state, &newest).await?;
    let received = req
        .mutations
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let mutation = serde_json::from_str(raw.get()).map_err(|e| {
                ApiError::unprocessable(
                    ErrorCode::InvalidBody,
                    format!("第 {i} 条修改不符合格式 / mutation {i} does not fit: {e}"),
                )
            })?;
            Ok(crate::service::push::Received {
                mutation,
                payload: String::from(Box::<str>::from(raw)),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let seq = crate::service::push::Sequence {
        batch: req.batch,
        after: req.after,
    };
    let results = crate::service::push::push_in_sequence(
        &state.db, &applying, &campaigns, &pusher, received, seq,
    )
    .await?;
    crate::metrics::push(&results);
    state.notify();
    Ok(Json(PushResponse {
        protocol: PROTOCOL_VERSION,
        results,
        server_time: server_time(),
        in_order: true,
    }))
}

/// A [`doorstep_shared::sync::PullResponse`] as the server writes it: its records are [`PulledRecord`]s, each stored
/// record's JSON copied rather than decoded and encoded again. The same JSON (field for field),
/// which devices, the tests and the OpenAPI document read as a `PullResponse`.
#[derive(Serialize)]
struct PullBody {
    protocol: u32,
    records: Vec<PulledRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<uuid::Uuid>,
    cursor: u64,
    more: bool,
    scope: Vec<doorstep_shared::DivisionCode>,
    community_names: std::collections::BTreeMap<doorstep_shared::DivisionCode, String>,
    campaign: doorstep_shared::Campaign,
    server_time: Hlc,
}

#[derive(Deserialize)]
struct PullQuery {
    #[serde(default)]
    cursor: u64,
    limit: Option<u32>,
}

async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> ApiResult<Json<PullBody>> {
    let campaign = state.campaign().await?;
    let scope = caller.scope(&state, &campaign).await?;
    let limit = q.limit.unwrap_or(500).clamp(1, MAX_PULL_PAGE);
    let cursor = i64::try_from(q.cursor).map_err(|_| {
        ApiError::bad_request(ErrorCode::BadCursor, "游标超出范围 / cursor out of range")
    })?;
    let crate::db::PullPage {
        records,
        removed,
        cursor: next,
        more,
    } = state
        .db
        .pull(
            &campaign.id.to_string(),
            &scope,
            cursor,
            limit,
            caller.role().device_numbers(),
        )
        .await?;
    let next = u64::try_from(next).unwrap_or(q.cursor);
    crate::metrics::pull(records.len());
    if q.cursor == 0 && !records.is_empty() {
        // A download from the start is a bulk read of personal data.
        state
            .db
            .audit_entry(
                &caller.entry("pull", &format!("from cursor 0: {} records", records.len())),
            )
            .await?;
    }
    let scope_list = match &scope {
        crate::db::Scope::Worker { communities, .. } => {
            let mut v: Vec<_> = communities
                .iter()
                .filter_map(|c| doorstep_shared::DivisionCode::parse(c).ok())
                .collect();
            v.sort();
            v
        }
        crate::db::Scope::Area(p) => {
            vec![doorstep_shared::DivisionCode::parse(p).map_err(|e| ApiError::internal(&e))?]
        }
        crate::db::Scope::All => vec![campaign.district.clone()],
    };
    let mut codes: Vec<String> = records
        .iter()
        .map(|r| r.person.community.to_string())
        .collect();
    codes.extend(scope_list.iter().map(ToString::to_string));
    codes.sort();
    codes.dedup();
    let community_names = state
        .db
        .place_names(&codes)
        .await?
        .into_iter()
        .filter_map(|(code, name)| {
            doorstep_shared::DivisionCode::parse(&code)
                .ok()
                .map(|c| (c, name))
        })
        .collect();
    Ok(Json(PullBody {
        protocol: PROTOCOL_VERSION,
        records,
        removed,
        cursor: next,
        more,
        scope: scope_list,
        community_names,
        campaign,
        server_time: server_time(),
    }))
}

async fn form(
    State(state): State<AppState>,
    _caller: Caller,
    Path(version): Path<String>,
) -> ApiResult<Json<FormDefinition>> {
    Ok(Json((*state.form(&version).await?).clone()))
}
