//! The one API error: a status and a stable JSON body `{"error": {"code", "message"}}`, used by
//! the API and (as a rendered page) the console. Internal errors are logged and shown only as
//! "internal". Also the service layer's refusal ([`ServiceError`], re-exported as
//! `crate::service::Error`), here so that the state, the caller and the API take it from below
//! the service layer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorstep_shared::errors::ErrorCode;

use doorstep_shared::sync::{ErrorBody, ErrorDetail};

use crate::db::DbError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: ErrorCode, m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, m)
    }
    pub fn unauthorized(code: ErrorCode, m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, m)
    }
    pub fn conflict(code: ErrorCode, m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, m)
    }
    pub fn unprocessable(code: ErrorCode, m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, m)
    }
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, m)
    }
    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server failed; try again, and tell the district office if it persists",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => ApiError::not_found(m),
            DbError::Invalid(m) => ApiError::unprocessable(ErrorCode::Invalid, m),
            other => ApiError::internal(&other),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match e.kind {
            Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code, e.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What kind of refusal a [`ServiceError`] is (front ends map it: HTTP status, exit code…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The input breaks a rule (422).
    Invalid,
    /// The state of things does not allow it now (409).
    Conflict,
    /// Something named does not exist (404).
    NotFound,
    /// The caller's role may not do this (403).
    Forbidden,
    /// A database or other internal failure (500).
    Internal,
}

/// A refused or failed operation of the service layer (`crate::service::Error`): a stable code and
/// a message in Chinese and English. Each front end shows it its own way: the API as an
/// [`ApiError`], the console as a page, the CLI as a line on the terminal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub kind: Kind,
    pub code: ErrorCode,
    pub message: String,
}

impl ServiceError {
    #[must_use]
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Invalid,
            code,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Conflict,
            code,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::NotFound,
            code,
            message: message.into(),
        }
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => Self::not_found(ErrorCode::NotFound, m),
            DbError::Invalid(m) => Self::invalid(ErrorCode::Invalid, m),
            other => {
                tracing::error!(error = %other, "internal error");
                Self {
                    kind: Kind::Internal,
                    code: ErrorCode::Internal,
                    message: "服务器出错，请重试 / the server failed; try again".into(),
                }
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// `Json<T>` whose rejections are [`ApiError`]s with the stable body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let status = rej.status();
                let text = rej.body_text();
                Err(match status {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::too_large("请求内容过大 / the request body is too large")
                    }
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::bad_request(
                        ErrorCode::BadContentType,
                        "请以 JSON 发送（Content-Type: application/json）/ send JSON with Content-Type: application/json",
                    ),
                    StatusCode::UNPROCESSABLE_ENTITY => ApiError::unprocessable(
                        ErrorCode::InvalidBody,
                        format!("请求内容不符合格式 / the request body does not fit: {text}"),
                    ),
                    _ => ApiError::bad_request(
                        ErrorCode::BadJson,
                        format!("请求内容无法读取 / the request body cannot be read: {text}"),
                    ),
                })
            }
        }
    }
}

/// `Query<T>` whose rejections are [`ApiError`]s with the stable body (a bad query parameter is a
/// 400 `bad_query` in JSON, as the OpenAPI document says).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(ApiError::bad_request(
                ErrorCode::BadQuery,
                format!(
                    "查询参数有误 / a query parameter is wrong: {}",
                    rej.body_text()
                ),
            )),
        }
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s with the stable body (a path segment of the wrong
/// type is a 400 `bad_path` in JSON).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for ApiPath<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rej) => Err(ApiError::bad_request(ErrorCode::BadPath, rej.body_text())),
        }
    }
}
