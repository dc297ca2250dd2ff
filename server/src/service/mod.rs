//! The service layer: every operation a district runs, once, called alike by the HTTP API, the
//! console and the command line. A service checks the rules and the caller's input, does the
//! work through [`crate::db::Db`], audits it, and answers with a [`Error`] that each front end
//! shows its own way (a JSON error body, a console banner, a line on the terminal).

pub mod accounts;
pub mod analysis;
pub mod campaigns;
pub mod handover;
pub mod progress;
pub mod push;
pub mod records;
pub mod review;
pub mod roster;

use doorstep_shared::Campaign;
use doorstep_shared::sync::Role;

use crate::auth::Caller;
use crate::db::{DbError, Scope};
use crate::state::AppState;

/// What kind of refusal an [`Error`] is (front ends map it: HTTP status, exit code…).
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

/// A refused or failed operation: a stable code and a message in Chinese and English.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: Kind,
    pub code: &'static str,
    pub message: String,
}

impl Error {
    #[must_use]
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Invalid,
            code,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Conflict,
            code,
            message: message.into(),
        }
    }

    #[must_use]
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::NotFound,
            code,
            message: message.into(),
        }
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => Self::not_found("not_found", m),
            DbError::Invalid(m) => Self::invalid("invalid", m),
            other => {
                tracing::error!(error = %other, "internal error");
                Self {
                    kind: Kind::Internal,
                    code: "internal",
                    message: "服务器出错，请重试 / the server failed; try again".into(),
                }
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Who asks: a signed-in caller, or the command line (a shell on the server: the district
/// admin's rights, audited as `cli`).
#[derive(Clone, Copy)]
pub enum Who<'a> {
    Caller(&'a Caller),
    Cli,
}

impl Who<'_> {
    pub fn role(self) -> Role {
        match self {
            Who::Caller(c) => c.role(),
            Who::Cli => Role::Admin,
        }
    }

    pub fn name(self) -> String {
        match self {
            Who::Caller(c) => c.0.user.username.clone(),
            Who::Cli => "cli".into(),
        }
    }

    /// An audit entry of this caller's action: who, from which device and address.
    #[must_use]
    pub fn entry(self, action: &str, detail: &str) -> crate::db::audit::Entry {
        match self {
            Who::Caller(c) => c.entry(action, detail),
            Who::Cli => crate::db::audit::Entry::by("cli", action, detail),
        }
    }

    pub async fn scope(self, state: &AppState, campaign: &Campaign) -> Result<Scope> {
        match self {
            Who::Caller(c) => c.scope(state, campaign).await,
            Who::Cli => Ok(Scope::All),
        }
    }
}
