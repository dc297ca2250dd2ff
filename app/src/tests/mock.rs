//! A small in-process server speaking the sync protocol, for testing the engine's side of it:
//! zstd (or gzip) pushes, idempotent results, the shared merge, cursors and scope, 401s and 5xx on demand.
//! (The real server's own tests live in `server/`; `app/tests/sync.rs` runs against it.)

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use doorstep_shared::domain::{Campaign, Numbers, Person, Review};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::{Doc, ItemOutcome, Writer, apply};
use doorstep_shared::place::DivisionCode;
use doorstep_shared::progress::{Counts, Figures, Progress, ProgressRow};
use doorstep_shared::sync::{
    Account, ErrorBody, ErrorDetail, LoginRequest, LoginResponse, MutationResult, MutationStatus,
    PROTOCOL_VERSION, PullResponse, PushRequest, PushResponse, RecordState, Role,
};
use flate2::read::GzDecoder;
use serde::Deserialize;
use uuid::Uuid;

pub(crate) const PASSWORD: &str = "secret";

pub(crate) struct MockRecord {
    pub person: Person,
    pub doc: Doc,
    pub version: u64,
    pub seq: u64,
    pub review: Review,
    pub comment: Option<String>,
}

pub(crate) struct MockState {
    pub records: BTreeMap<Uuid, MockRecord>,
    pub next_seq: u64,
    /// Results by mutation ID: a re-sent mutation gets the stored result.
    pub log: HashMap<Uuid, MutationResult>,
    pub applied: usize,
    pub campaign: Campaign,
    pub form: FormDefinition,
    pub scope: Vec<DivisionCode>,
    pub token_valid: bool,
    pub revoked: bool,
    /// The next this many push/pull requests answer 503.
    pub fail_next: usize,
    /// The next push is applied but answered with a 500, as if the answer were lost.
    pub lose_next_push_answer: bool,
    pub requests: usize,
    pub pushes: usize,
    /// Answer `in_order` and keep batches in order by `after`, as the real server does.
    pub in_order: bool,
    /// The next push that names a batch before it while another push is at the server is
    /// refused with `previous_batch_missing` (as when the batch before was still on its way).
    pub refuse_next_after: bool,
    /// Pushes refused as out of order.
    pub refused: usize,
    pub last_batch: Option<Uuid>,
    /// Each push waits this long before it is applied.
    pub push_delay: std::time::Duration,
    /// Pushes at the server now, and the most at once.
    pub at_once: usize,
    pub most_at_once: usize,
    /// The client ends of the connections requests came on.
    pub connections: std::collections::BTreeSet<std::net::SocketAddr>,
}

pub(crate) type Shared = Arc<Mutex<MockState>>;

pub(crate) struct Mock {
    pub url: String,
    pub state: Shared,
}

/// Notes the connection each request came on.
async fn note_connection(
    State(state): State<Shared>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    state.lock().unwrap().connections.insert(peer);
    next.run(req).await
}

impl Mock {
    pub async fn start() -> Mock {
        let d = super::district();
        let campaign = super::campaign();
        let mut records = BTreeMap::new();
        for (i, p) in d.persons.iter().enumerate() {
            records.insert(
                p.id,
                MockRecord {
                    person: p.clone(),
                    doc: Doc::default(),
                    version: 1,
                    seq: i as u64 + 1,
                    review: Review::Pending,
                    comment: None,
                },
            );
        }
        let state = Arc::new(Mutex::new(MockState {
            next_seq: records.len() as u64 + 1,
            records,
            log: HashMap::new(),
            applied: 0,
            campaign,
            form: FormDefinition::dynamic_update_2021(),
            scope: d.communities.iter().map(|c| c.code.clone()).collect(),
            token_valid: true,
            revoked: false,
            fail_next: 0,
            lose_next_push_answer: false,
            requests: 0,
            pushes: 0,
            in_order: false,
            refuse_next_after: false,
            refused: 0,
            last_batch: None,
            push_delay: std::time::Duration::ZERO,
            at_once: 0,
            most_at_once: 0,
            connections: std::collections::BTreeSet::new(),
        }));
        let app = Router::new()
            .route("/api/v1/auth/login", post(login))
            .route("/api/v1/sync/push", post(push))
            .route("/api/v1/sync/pull", get(pull))
            .route("/api/v1/forms/{version}", get(form))
            .route("/api/v1/progress", get(progress))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                note_connection,
            ))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Mock { url, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut MockState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: format!("mock: {code}"),
        },
    };
    (status, Json(body)).into_response()
}

fn now_hlc() -> Hlc {
    Hlc {
        wall: Utc::now().timestamp_millis(),
        counter: 0,
    }
}

fn check_auth(s: &MockState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if s.revoked {
        return Err(Box::new(error(StatusCode::UNAUTHORIZED, "device_revoked")));
    }
    if !bearer.starts_with("Bearer mock-token") || !s.token_valid {
        return Err(Box::new(error(StatusCode::UNAUTHORIZED, "token_expired")));
    }
    Ok(())
}

async fn login(State(state): State<Shared>, Json(req): Json<LoginRequest>) -> Response {
    let s = state.lock().unwrap();
    if s.revoked {
        return error(StatusCode::UNAUTHORIZED, "device_revoked");
    }
    if req.password != PASSWORD {
        return error(StatusCode::UNAUTHORIZED, "bad_credentials");
    }
    let device_id = req.device_id.unwrap_or_else(Uuid::new_v4);
    Json(LoginResponse {
        token: format!("mock-token-{device_id}"),
        expires_at: Utc::now() + chrono::Duration::days(7),
        device_id,
        account: Account {
            username: req.username.clone(),
            display_name: "测试专干".into(),
            role: Role::Worker,
            area: None,
            communities: s.scope.clone(),
        },
    })
    .into_response()
}

async fn push(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (delay, crowded) = {
        let mut s = state.lock().unwrap();
        s.at_once += 1;
        s.most_at_once = s.most_at_once.max(s.at_once);
        (s.push_delay, s.at_once > 1)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = push_now(&state, &headers, &body, crowded);
    state.lock().unwrap().at_once -= 1;
    answer
}

/// A push, applied; `crowded`: another push was at the server when it came.
fn push_now(state: &Shared, headers: &HeaderMap, body: &Bytes, crowded: bool) -> Response {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if let Err(r) = check_auth(&s, headers) {
        return *r;
    }
    if s.fail_next > 0 {
        s.fail_next -= 1;
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let mut json = Vec::new();
    let read = match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        Some("zstd") => zstd::stream::decode_all(&body[..]).map(|d| json = d),
        Some("gzip") => GzDecoder::new(&body[..]).read_to_end(&mut json).map(drop),
        _ => return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "compression_required"),
    };
    if read.is_err() {
        return error(StatusCode::BAD_REQUEST, "bad_compression");
    }
    let Ok(req) = serde_json::from_slice::<PushRequest>(&json) else {
        return error(StatusCode::BAD_REQUEST, "bad_json");
    };
    s.pushes += 1;
    if s.in_order && req.after.is_some() {
        let refuse = s.refuse_next_after && crowded;
        s.refuse_next_after &= !refuse;
        if refuse || req.after != s.last_batch {
            s.refused += 1;
            return error(StatusCode::CONFLICT, "previous_batch_missing");
        }
    }
    if req.batch.is_some() {
        s.last_batch = req.batch;
    }
    let mut results = Vec::new();
    for m in req.mutations {
        if let Some(r) = s.log.get(&m.id) {
            results.push(r.clone());
            continue;
        }
        let seq = s.next_seq;
        let in_scope = |p: &Person, scope: &[DivisionCode]| scope.contains(&p.community);
        let scope = s.scope.clone();
        let result = match s.records.get_mut(&m.person) {
            None => rejected(m.id, "unknown_person"),
            Some(rec) if !in_scope(&rec.person, &scope) => rejected(m.id, "out_of_scope"),
            Some(rec) => {
                // Each signed-in phone is its own writer (the real server takes the device
                // from the token).
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let by = Writer {
                    user: "worker".into(),
                    rank: 1,
                    device: Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, token.as_bytes())),
                    mutation: m.id,
                    hlc: m.hlc,
                    at_ms: Writer::clamp(m.hlc, Utc::now().timestamp_millis()),
                };
                let report = apply(&mut rec.doc, &m.changes, &by);
                rec.version += 1;
                rec.seq = seq;
                MutationResult {
                    id: m.id,
                    status: MutationStatus::Applied,
                    version: rec.version,
                    items: report
                        .into_iter()
                        .filter(|(_, o)| *o != ItemOutcome::Applied)
                        .collect(),
                    reassigned: false,
                    late: false,
                    errors: Vec::new(),
                    code: None,
                    message: None,
                }
            }
        };
        if result.status == MutationStatus::Applied {
            s.next_seq += 1;
            s.applied += 1;
        }
        s.log.insert(m.id, result.clone());
        results.push(result);
    }
    if s.lose_next_push_answer {
        s.lose_next_push_answer = false;
        return error(StatusCode::INTERNAL_SERVER_ERROR, "lost");
    }
    Json(PushResponse {
        protocol: PROTOCOL_VERSION,
        results,
        server_time: now_hlc(),
        in_order: s.in_order,
    })
    .into_response()
}

fn rejected(id: Uuid, code: &str) -> MutationResult {
    MutationResult {
        id,
        status: MutationStatus::Rejected,
        version: 0,
        items: BTreeMap::new(),
        reassigned: false,
        late: false,
        errors: Vec::new(),
        code: Some(code.into()),
        message: Some(format!("mock refused: {code}")),
    }
}

#[derive(Deserialize)]
struct PullQuery {
    cursor: u64,
    limit: u32,
}

async fn pull(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if let Err(r) = check_auth(&s, &headers) {
        return *r;
    }
    if s.fail_next > 0 {
        s.fail_next -= 1;
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let mut changed: Vec<&MockRecord> = s
        .records
        .values()
        .filter(|r| r.seq > q.cursor && s.scope.contains(&r.person.community))
        .collect();
    changed.sort_by_key(|r| r.seq);
    let limit = q.limit as usize;
    let more = changed.len() > limit;
    let records: Vec<RecordState> = changed
        .into_iter()
        .take(limit)
        .map(|r| RecordState {
            person: r.person.shown(Numbers::Whole),
            version: r.version,
            answers: r.doc.answers.clone(),
            review: r.review,
            review_comment: r.comment.clone(),
            review_notes: Default::default(),
            conflicts: r.doc.conflicts.clone(),
            seq: r.seq,
            prior: None,
        })
        .collect();
    let cursor = if more {
        records.last().map_or(q.cursor, |r| r.seq)
    } else {
        (s.next_seq - 1).max(q.cursor)
    };
    Json(PullResponse {
        protocol: PROTOCOL_VERSION,
        records,
        removed: Vec::new(),
        cursor,
        more,
        scope: s.scope.clone(),
        community_names: s
            .scope
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), format!("第{}社区", i + 1)))
            .collect(),
        campaign: s.campaign.clone(),
        server_time: now_hlc(),
    })
    .into_response()
}

async fn form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = check_auth(&s, &headers) {
        return *r;
    }
    if version != s.form.version {
        return error(StatusCode::NOT_FOUND, "no_such_form");
    }
    Json(s.form.clone()).into_response()
}

async fn progress(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = check_auth(&s, &headers) {
        return *r;
    }
    let mut by: BTreeMap<DivisionCode, Counts> = BTreeMap::new();
    for r in s.records.values() {
        let c = by.entry(r.person.community.clone()).or_default();
        c.roster += 1;
        c.communities = 1;
    }
    let total: Counts = by.values().sum();
    let street = |code: &DivisionCode| {
        DivisionCode::parse(code.township().unwrap_or(code.as_str())).unwrap()
    };
    let mut streets: BTreeMap<DivisionCode, Counts> = BTreeMap::new();
    for (code, c) in &by {
        *streets.entry(street(code)).or_default() += c;
    }
    let row =
        |code: &DivisionCode, name: String, street_code: DivisionCode, c: &Counts| ProgressRow {
            code: code.clone(),
            name,
            street_code,
            street_name: "城南街道".into(),
            figures: Figures::from(c),
            last_activity: None,
            expected_by_today: 0,
        };
    Json(Progress {
        campaign: s.campaign.clone(),
        total: Figures::from(&total),
        expected_by_today: 0,
        streets: streets
            .iter()
            .map(|(code, c)| row(code, "城南街道".into(), code.clone(), c))
            .collect(),
        communities: by
            .iter()
            .enumerate()
            .map(|(i, (code, c))| row(code, format!("第{}社区", i + 1), street(code), c))
            .collect(),
        daily: vec![],
    })
    .into_response()
}
