//! Doorstep's worker app as a library, with no UI: the encrypted offline store, the outbox of
//! local edits, the record views the screens show, and the sync engine. The UI layer
//! (`views/`, `components/`) only calls this; tests drive it headless.
//!
//! - [`store`]: the SQLCipher database (PIN → Argon2id key), schema migrations, pulled state;
//! - [`outbox`]: saving edits as mutations, push batches and their answers;
//! - [`view`]: records as the worker sees them (server state + pending edits), lists, figures;
//! - [`client`]: the HTTP calls of the sync protocol;
//! - [`sync`]: the sync engine (push, pull, form, retries);
//! - [`model`]: the types handed to the UI;
//! - [`error`]: one error type, every message in Chinese and English.
//!
//! Every [`Store`] method blocks (rusqlite): keep it off the UI thread.

pub mod client;
pub mod error;
pub mod keyfile;
pub mod model;
pub mod outbox;
pub mod platform;
pub mod scratch;
pub mod store;
pub mod sync;
pub mod ui;
pub mod view;

pub use client::{Client, Timeouts};
pub use error::{AppError, Result};
pub use keyfile::KdfParams;
pub use model::{
    CommunitySummary, Filter, LogKind, OutboxEntry, OutboxState, PersonRow, RecordView, SaveResult,
    Session, SyncLogEntry, SyncReport,
};
pub use outbox::PushApplied;
pub use store::{MIN_PIN_LEN, PageApplied, PulledPage, PulledRecord, Store};
pub use sync::{SyncEngine, SyncOptions};

#[cfg(test)]
mod tests;
