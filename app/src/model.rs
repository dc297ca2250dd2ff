//! What the store hands to the UI: records as the worker sees them, list rows, community
//! summaries, the outbox and the sync log, the session. (The supervisor's progress table is
//! the server's answer as it is, `doorstep_shared::progress::Progress`.)

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use doorstep_shared::carry::ItemChange;
use doorstep_shared::domain::{Outcome, Review, ShownPerson, Status};
use doorstep_shared::merge::{ItemOutcome, OpenConflict};
use doorstep_shared::place::DivisionCode;
use doorstep_shared::progress::Rate;
use doorstep_shared::sync::Account;
use doorstep_shared::value::Answers;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One record as the worker sees it: the last pulled server state with every outbox edit of this
/// person laid over it, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    pub person: ShownPerson,
    /// Server answers + outbox edits.
    pub answers: Answers,
    /// The server's answers alone (the last pulled state).
    pub server_answers: Answers,
    /// The server version the view is based on.
    pub version: u64,
    /// The review as the worker should see it: a returned record that the worker finalized
    /// again locally shows `Pending` (the server resets it when the edit arrives).
    pub review: Review,
    pub review_comment: Option<String>,
    /// The reviewer's notes on single items (item key → note), while the record is returned
    /// (`review` is `Returned`): empty otherwise, so a record submitted again on the device no
    /// longer shows them.
    pub review_notes: BTreeMap<String, String>,
    /// Open same-item conflicts (as of the last pull), awaiting a supervisor.
    pub conflicts: BTreeMap<String, OpenConflict>,
    /// Outbox edits not yet acknowledged by the server.
    pub pending: usize,
    /// The server refused an edit of this record: `(code, message)`. The edit stays on the
    /// device until the worker retries or discards it.
    pub rejected: Option<(String, String)>,
    pub status: Status,
    pub outcome: Option<Outcome>,
    /// The outcome that counts as done (finalized, not returned), per `final_outcome`.
    pub final_outcome: Option<Outcome>,
    /// Last year's answers of the carried items, for a record carried from the previous
    /// campaign; `None` otherwise.
    pub prior: Option<Answers>,
    /// How each carried item's answer stands against last year's (`shared::carry::diff` over
    /// [`RecordView::answers`]); empty without a prior. Computed for one record
    /// ([`crate::Store::record`]); the views behind the person list leave it empty.
    pub changes: BTreeMap<String, ItemChange>,
}

/// The list filters of the worker's person list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Not done yet: no final outcome (drafts and returned records included).
    NotYet,
    /// With a final outcome.
    Done,
    /// Returned by a supervisor.
    Returned,
    /// With an open conflict.
    Conflicts,
    /// With outbox edits (pending or rejected).
    Unsent,
    #[default]
    All,
}

impl Filter {
    pub const ALL: [Filter; 6] = [
        Filter::NotYet,
        Filter::Done,
        Filter::Returned,
        Filter::Conflicts,
        Filter::Unsent,
        Filter::All,
    ];

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Filter::NotYet => "未完成",
            Filter::Done => "已完成",
            Filter::Returned => "被退回",
            Filter::Conflicts => "有冲突",
            Filter::Unsent => "未上传",
            Filter::All => "全部",
        }
    }

    /// Whether a record view passes this filter.
    #[must_use]
    pub fn matches(self, v: &RecordView) -> bool {
        match self {
            Filter::NotYet => v.final_outcome.is_none(),
            Filter::Done => v.final_outcome.is_some(),
            Filter::Returned => v.review == Review::Returned,
            Filter::Conflicts => !v.conflicts.is_empty(),
            Filter::Unsent => v.pending > 0 || v.rejected.is_some(),
            Filter::All => true,
        }
    }
}

/// One line of the person list. IDs are masked (`430503********1234`).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonRow {
    pub person_id: Uuid,
    pub name: String,
    pub masked_id: String,
    pub masked_certificate: String,
    pub community: DivisionCode,
    pub address: String,
    pub outcome: Option<Outcome>,
    pub status: Status,
    pub review: Review,
    pub done: bool,
    pub conflicts: usize,
    pub pending: usize,
    pub rejected: bool,
    /// Answers given on the person's screen and not yet saved (kept on the device, see
    /// `scratch.rs`).
    pub unsaved: bool,
}

/// A community as the device sees it (server state + pending edits).
#[derive(Debug, Clone, PartialEq)]
pub struct CommunitySummary {
    pub code: DivisionCode,
    /// The community's name when known (from pull pages or the progress table), else its code.
    pub name: String,
    pub total: u64,
    /// Persons with a final outcome.
    pub done: u64,
    pub home_visit: u64,
    pub phone: u64,
    pub home_visit_rate: Rate,
    pub completion_rate: Rate,
    pub returned: u64,
    pub conflicts: u64,
    /// Persons with outbox edits.
    pub unsent: u64,
}

/// What `Store::save_edit` did.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveResult {
    /// Saved and committed (in the outbox): `mutation` is the outbox entry holding the edit.
    Saved { mutation: Uuid },
    /// Nothing differs from what the device already shows: nothing saved.
    Unchanged,
    /// The answers do not validate: nothing saved. One error per item, in form order.
    Invalid(Vec<doorstep_shared::form::ItemError>),
}

/// The state of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Rejected,
}

/// One outbox entry, for the "unsent" screen.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub mutation: Uuid,
    pub person_id: Uuid,
    pub name: String,
    pub items: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Taken for a push already: its answer has not arrived yet, or it was refused and is
    /// being retried. Either way it goes again as is, never folded into by a later edit.
    pub sent: bool,
    pub state: OutboxState,
    pub reject_code: Option<String>,
    pub reject_message: Option<String>,
}

/// What the log records about one pushed mutation the server did not simply apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// Applied, with items merged, the same, or in conflict.
    Merged,
    /// Applied although the community is no longer assigned to this worker.
    Reassigned,
    /// Refused by the server.
    Rejected,
}

/// One line of the sync log.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncLogEntry {
    pub at: DateTime<Utc>,
    pub person_id: Uuid,
    /// The person's name when the record is still on the device.
    pub name: Option<String>,
    pub mutation: Uuid,
    pub kind: LogKind,
    pub items: BTreeMap<String, ItemOutcome>,
    pub message: Option<String>,
}

/// The signed-in session kept in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub server_url: String,
    pub username: String,
    pub account: Account,
    pub device_id: Uuid,
    /// `None` after the server said the session expired or the device was revoked.
    pub token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether a token is held (the server may still refuse it).
    #[must_use]
    pub fn signed_in(&self) -> bool {
        self.token.is_some()
    }
}

/// What one sync did, for the "synced" message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Mutations sent.
    pub pushed: usize,
    /// Mutations the server accepted (acknowledged in the device's outbox).
    pub applied: usize,
    /// Mutations the server refused (kept on the device with the reason).
    pub rejected: usize,
    /// Items the server merged (set-merged or the same value) rather than simply applied.
    pub merged_items: usize,
    /// Items that ended in a same-item conflict awaiting a supervisor.
    pub conflict_items: usize,
    /// Accepted pushes to communities no longer assigned to this worker.
    pub reassigned: usize,
    /// Records pulled.
    pub pulled: usize,
    /// Records a supervisor returned since the last sync: `(name, comment)`.
    pub returned_records: Vec<(String, String)>,
    /// Communities dropped from the device because they left the worker's scope.
    pub dropped_communities: Vec<DivisionCode>,
    /// A new questionnaire version was downloaded.
    pub form_updated: bool,
}
