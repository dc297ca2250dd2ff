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

/// Frees `value` on a blocking thread, off the path of the answer being made: a push batch's
/// hundreds of decoded records take milliseconds to free, which a device would wait for.
pub(crate) fn drop_later<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}

use doorstep_shared::Campaign;
use doorstep_shared::sync::Role;

use crate::auth::Caller;
use crate::db::Scope;
use crate::state::AppState;

pub use crate::error::{Kind, ServiceError as Error, ServiceResult as Result};

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
