//! The HTTP client of the sync protocol: one method per route, errors mapped to [`AppError`].
//! Pushes are zstd-compressed (`Content-Encoding: zstd`, [`PushBody`]); answers are accepted
//! zstd- or gzip-compressed.

use doorstep_shared::errors::ErrorCode;
use std::time::Duration;

use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::progress::Progress;
use doorstep_shared::sync::{
    ErrorBody, LoginRequest, LoginResponse, PROTOCOL_VERSION, PushRequest, PushResponse,
};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::outbox::Taken;
use crate::store::PulledPage;

/// Connect and whole-request time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// A push request as it goes on the wire: JSON, zstd-compressed (level 3: a push of 500 surveys
/// is about a ninth of its JSON, and zstd takes a fraction of gzip's time on both sides).
#[derive(Debug)]
pub struct PushBody(Vec<u8>);

impl PushBody {
    /// Encodes a request.
    ///
    /// # Errors
    /// [`AppError::Protocol`] when it cannot be encoded.
    pub fn encode(req: &PushRequest) -> Result<Self> {
        Self::compress(req)
    }

    /// Encodes a request of mutations whose changes are JSON already (`changes[i]` those of
    /// `mutations[i]`, as the outbox stores them): written as they are, the same JSON as
    /// [`PushBody::encode`] writes. `batch` is the batch's ID, `after` the batch sent before it
    /// in the same push ([`PushRequest::after`]).
    ///
    /// # Errors
    /// [`AppError::Protocol`] when a mutation's changes are not JSON.
    pub fn encode_stored(taken: &[Taken], batch: Uuid, after: Option<Uuid>) -> Result<Self> {
        /// A mutation as [`PushRequest`] writes it, its changes as given.
        #[derive(Serialize)]
        struct Stored<'a> {
            id: Uuid,
            person: Uuid,
            base_version: u64,
            hlc: Hlc,
            changes: &'a RawValue,
        }
        #[derive(Serialize)]
        struct Request<'a> {
            protocol: u32,
            mutations: Vec<Stored<'a>>,
            batch: Uuid,
            #[serde(skip_serializing_if = "Option::is_none")]
            after: Option<Uuid>,
        }
        let bad = |e: serde_json::Error| AppError::Protocol(format!("cannot encode push: {e}"));
        let mutations = taken
            .iter()
            .map(|m| {
                Ok(Stored {
                    id: m.id,
                    person: m.person,
                    base_version: m.base_version,
                    hlc: m.hlc,
                    changes: serde_json::from_str(&m.changes).map_err(bad)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::compress(&Request {
            protocol: PROTOCOL_VERSION,
            mutations,
            batch,
            after,
        })
    }

    /// Writes `body` as JSON straight into the compressor, a buffer at a time: the whole JSON
    /// of a batch (megabytes) is never held, so no fresh memory is faulted in for it on every
    /// batch (that was a tenth of a push's CPU).
    fn compress(body: &impl Serialize) -> Result<Self> {
        let zstd_error = |e: std::io::Error| AppError::Protocol(format!("zstd: {e}"));
        let encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).map_err(zstd_error)?;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, encoder);
        serde_json::to_writer(&mut out, body)
            .map_err(|e| AppError::Protocol(format!("cannot encode push: {e}")))?;
        let encoder = out.into_inner().map_err(|e| zstd_error(e.into_error()))?;
        encoder.finish().map(Self).map_err(zstd_error)
    }
}

/// A client for one server, optionally holding a bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// Which call an answer belongs to (a 401 means different things).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Login,
    Authed,
}

/// Checks and normalises a server address: `http(s)://host[:port][/prefix]`, no trailing `/`.
///
/// # Errors
/// [`AppError::InvalidServerUrl`].
pub fn normalize_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed =
        Url::parse(trimmed).map_err(|_| AppError::InvalidServerUrl(trimmed.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::InvalidServerUrl(trimmed.to_string()));
    }
    Ok(trimmed.to_string())
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://10.0.0.2:8080`).
    ///
    /// # Errors
    /// [`AppError::InvalidServerUrl`].
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_timeouts(base_url, Timeouts::default())
    }

    /// # Errors
    /// [`AppError::InvalidServerUrl`], or a client that cannot be built.
    pub fn with_timeouts(base_url: &str, timeouts: Timeouts) -> Result<Self> {
        let base = normalize_url(base_url)?;
        // A trailing slash makes `Url::join` keep any path prefix.
        let base = Url::parse(&format!("{base}/"))
            .map_err(|_| AppError::InvalidServerUrl(base.clone()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("doorstep-app/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppError::Storage(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The same client, sending `token` as its bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| AppError::InvalidServerUrl(format!("{}{path}: {e}", self.base)))
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        let token = self.token.as_deref().ok_or(AppError::NotSignedIn)?;
        Ok(rb.bearer_auth(token))
    }

    /// `POST /api/v1/auth/login`.
    ///
    /// # Errors
    /// [`AppError::BadCredentials`], [`AppError::DeviceRevoked`], [`AppError::Unreachable`]…
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_id: Option<Uuid>,
        device_name: &str,
    ) -> Result<LoginResponse> {
        let body = LoginRequest {
            username: username.to_string(),
            password: password.to_string(),
            device_id,
            device_name: Some(device_name.to_string()),
        };
        let rb = self.http.post(self.url("api/v1/auth/login")?).json(&body);
        read_json(send(rb).await?, Call::Login).await
    }

    /// `POST /api/v1/sync/push`.
    ///
    /// # Errors
    /// As the other calls; a request that cannot be encoded is a [`AppError::Protocol`] error.
    pub async fn push(&self, req: &PushRequest) -> Result<PushResponse> {
        self.push_body(&PushBody::encode(req)?).await
    }

    /// `POST /api/v1/sync/push` with a request already encoded (a sync encodes the next batch
    /// while the server works on the one before).
    ///
    /// # Errors
    /// As the other calls.
    pub async fn push_body(&self, body: &PushBody) -> Result<PushResponse> {
        let rb = self
            .http
            .post(self.url("api/v1/sync/push")?)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "zstd")
            .body(body.0.clone());
        read_json(send(self.authed(rb)?).await?, Call::Authed).await
    }

    /// `GET /api/v1/sync/pull?cursor=N&limit=M`.
    ///
    /// # Errors
    /// As the other calls.
    pub async fn pull(&self, cursor: u64, limit: u32) -> Result<PulledPage> {
        let mut url = self.url("api/v1/sync/pull")?;
        url.query_pairs_mut()
            .append_pair("cursor", &cursor.to_string())
            .append_pair("limit", &limit.to_string());
        let rb = self.http.get(url);
        read_json(send(self.authed(rb)?).await?, Call::Authed).await
    }

    /// `GET /api/v1/forms/{version}`.
    ///
    /// # Errors
    /// As the other calls; a definition that does not pass `FormDefinition::check` is a
    /// [`AppError::Protocol`] error.
    pub async fn form(&self, version: &str) -> Result<FormDefinition> {
        let mut url = self.url("api/v1/forms")?;
        url.path_segments_mut()
            .map_err(|()| AppError::InvalidServerUrl(self.base.to_string()))?
            .push(version);
        let rb = self.http.get(url);
        let form: FormDefinition = read_json(send(self.authed(rb)?).await?, Call::Authed).await?;
        form.check()
            .map_err(|e| AppError::Protocol(format!("form {version}: {e}")))?;
        Ok(form)
    }

    /// `POST /api/v1/auth/logout`: ends this session on the server too.
    ///
    /// # Errors
    /// The server cannot be reached, or refuses.
    pub async fn logout(&self) -> Result<()> {
        let rb = self.http.post(self.url("api/v1/auth/logout")?);
        let resp = send(self.authed(rb)?).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(AppError::Protocol(format!("logout: {}", resp.status())))
        }
    }

    /// `GET /api/v1/progress` (supervisors).
    ///
    /// # Errors
    /// As the other calls.
    pub async fn progress(&self) -> Result<Progress> {
        let rb = self.http.get(self.url("api/v1/progress")?);
        read_json(send(self.authed(rb)?).await?, Call::Authed).await
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Result<Response> {
    rb.send().await.map_err(network_error)
}

fn network_error(e: reqwest::Error) -> AppError {
    // Connect failures, timeouts, a connection cut mid-answer: all worth another try.
    AppError::Unreachable(without_url(&e))
}

/// The error text without the URL (which may carry a query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<server>");
    }
    s
}

async fn read_json<T: DeserializeOwned>(resp: Response, call: Call) -> Result<T> {
    let status = resp.status();
    // Read the whole body first: a cut connection is a network error (retried), a body that
    // arrived but does not parse is a protocol error (not retried).
    let bytes = resp.bytes().await.map_err(network_error)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| AppError::Protocol(format!("HTTP {status}: {e}")));
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    Err(status_error(status, body, call))
}

fn status_error(status: StatusCode, body: Option<ErrorBody>, call: Call) -> AppError {
    let (code, message) = body.map_or_else(
        || (None, status.canonical_reason().unwrap_or("").to_string()),
        |b| (Some(b.error.code), b.error.message),
    );
    if code == Some(ErrorCode::DeviceRevoked) {
        return AppError::DeviceRevoked;
    }
    if status == StatusCode::UNAUTHORIZED {
        return if call == Call::Login {
            AppError::BadCredentials
        } else {
            AppError::SessionExpired
        };
    }
    if status.is_server_error() {
        return AppError::Server {
            status: status.as_u16(),
        };
    }
    AppError::ServerRejected {
        code: code.map_or_else(
            || format!("http_{}", status.as_u16()),
            |c| c.as_str().to_string(),
        ),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorstep_shared::sync::ErrorDetail;

    fn body(code: &str) -> Option<ErrorBody> {
        Some(ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: "m".into(),
            },
        })
    }

    #[test]
    fn statuses_map_to_plain_errors() {
        let s401 = StatusCode::UNAUTHORIZED;
        assert_eq!(
            status_error(s401, body("device_revoked"), Call::Authed),
            AppError::DeviceRevoked
        );
        assert_eq!(
            status_error(s401, body("token_expired"), Call::Authed),
            AppError::SessionExpired
        );
        assert_eq!(
            status_error(s401, body("bad_credentials"), Call::Login),
            AppError::BadCredentials
        );
        assert_eq!(
            status_error(s401, None, Call::Authed),
            AppError::SessionExpired
        );
        assert_eq!(
            status_error(StatusCode::SERVICE_UNAVAILABLE, None, Call::Authed),
            AppError::Server { status: 503 }
        );
        let e = status_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            body("protocol_version"),
            Call::Authed,
        );
        assert!(matches!(&e, AppError::ServerRejected { code, .. } if code == "protocol_version"));
        assert!(!e.is_retryable());
        let e = status_error(StatusCode::PAYLOAD_TOO_LARGE, None, Call::Authed);
        assert!(matches!(&e, AppError::ServerRejected { code, .. } if code == "http_413"));
    }

    /// A batch encoded from the outbox's stored changes is the JSON the mutations encode to,
    /// and the server reads it back as the same mutations.
    #[test]
    fn a_push_encoded_from_stored_changes_is_the_same_json() {
        use doorstep_shared::merge::Change;
        use doorstep_shared::value::Value;
        let m = doorstep_shared::sync::Mutation {
            id: Uuid::now_v7(),
            person: Uuid::new_v4(),
            base_version: 3,
            hlc: Hlc {
                wall: 1_732_847_000_000,
                counter: 2,
            },
            changes: [
                (
                    "phone".to_string(),
                    Change {
                        base: None,
                        value: Some(Value::text("电话 \"13800000000\"")),
                    },
                ),
                (
                    "services".to_string(),
                    Change {
                        base: Some(Value::set(["a"])),
                        value: Some(Value::set(["a", "b"])),
                    },
                ),
                (
                    "notes".to_string(),
                    Change {
                        base: Some(Value::text("x")),
                        value: None,
                    },
                ),
            ]
            .into(),
        };
        let stored = [crate::outbox::Taken::of(&m).unwrap()];
        let (batch, after) = (Uuid::now_v7(), Uuid::now_v7());
        let typed = PushBody::encode(&PushRequest {
            batch: Some(batch),
            after: Some(after),
            ..PushRequest::new(vec![m.clone()])
        })
        .unwrap();
        let from_stored = PushBody::encode_stored(&stored, batch, Some(after)).unwrap();
        let json = zstd::stream::decode_all(&from_stored.0[..]).unwrap();
        assert_eq!(zstd::stream::decode_all(&typed.0[..]).unwrap(), json);
        let read: PushRequest = serde_json::from_slice(&json).unwrap();
        assert_eq!(read.mutations, vec![m]);
        assert_eq!((read.batch, read.after), (Some(batch), Some(after)));
        let mut broken = stored[0].clone();
        broken.changes = "{".into();
        assert!(PushBody::encode_stored(&[broken], batch, None).is_err());
    }

    #[test]
    fn urls_are_checked_and_keep_a_prefix() {
        assert_eq!(
            normalize_url(" http://127.0.0.1:8080/ ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("not a url").is_err());
        let c = Client::new("http://h:1/doorstep").unwrap();
        assert_eq!(
            c.url("api/v1/sync/push").unwrap().as_str(),
            "http://h:1/doorstep/api/v1/sync/push"
        );
    }
}
