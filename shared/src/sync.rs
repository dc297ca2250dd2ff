//! The sync wire types (JSON over HTTP, gzip both ways). The protocol is described in
//! `docs/sync.md`; the merge it applies lives in [`crate::merge`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Campaign, Numbers, Review, ShownPerson};
use crate::errors::ErrorCode;
use crate::form::ItemError;
use crate::hlc::Hlc;
use crate::merge::{Change, ItemOutcome, OpenConflict};
use crate::place::DivisionCode;
use crate::value::Answers;

/// Bumped on any incompatible change; the server refuses other versions with a clear message.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most mutations in one push; larger batches are refused with 413.
pub const MAX_PUSH_BATCH: usize = 2000;
/// Most records in one pull page.
pub const MAX_PULL_PAGE: u32 = 2000;

/// One device edit of one record: only the items changed, with the value each was based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mutation {
    /// UUIDv7 made on the device: the idempotency key.
    pub id: Uuid,
    pub person: Uuid,
    /// The record version the device had when it made the edit.
    pub base_version: u64,
    pub hlc: Hlc,
    pub changes: BTreeMap<String, Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub protocol: u32,
    pub mutations: Vec<Mutation>,
    /// The batch's ID, made on the device (the same when the batch is sent again). The
    /// server keeps the device's last applied one, for the next batch's `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Uuid>,
    /// The batch sent before this one in the same push. The server applies this batch only
    /// when that one is the device's last applied batch (waiting for it while it is being
    /// applied), else answers 409 `previous_batch_missing` and applies nothing: so a device
    /// may send its next batch before the answer to this one (docs/sync.md, "Two batches in
    /// flight").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Uuid>,
}

impl PushRequest {
    /// A push of these mutations in this protocol, not part of a sequence of batches.
    #[must_use]
    pub fn new(mutations: Vec<Mutation>) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            mutations,
            batch: None,
            after: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MutationStatus {
    /// Accepted and in the log (possibly merged or in conflict item by item).
    Applied,
    /// Refused: nothing of it was applied. `code` and `message` say why.
    Rejected,
}

/// The server's answer for one mutation. A re-sent mutation gets the identical result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MutationResult {
    pub id: Uuid,
    pub status: MutationStatus,
    /// The record's version after this mutation.
    #[serde(default)]
    pub version: u64,
    /// Items that did not simply apply: merged, same, or in conflict.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, ItemOutcome>,
    /// Accepted although the community is no longer assigned to the pushing worker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reassigned: bool,
    /// Accepted into a campaign that has ended (a late delivery of last year's edit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Per-item reasons of a rejection (`incomplete`: the items a final record still needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub protocol: u32,
    pub results: Vec<MutationResult>,
    pub server_time: Hlc,
    /// The server keeps batches in order by `PushRequest::after`: the device may send its next
    /// batch before it has this answer. Absent (false) from a server that does not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_order: bool,
}

/// The server's state of one person's record, as a device pulls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordState {
    /// The person, with the numbers whole or masked by the puller's role.
    pub person: ShownPerson,
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, crate::openapi::Answer>))]
    pub answers: Answers,
    #[serde(default)]
    pub review: Review,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_comment: Option<String>,
    /// The reviewer's notes on single items of a returned record (item key → note); the phone
    /// shows each beside its item.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub review_notes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conflicts: BTreeMap<String, OpenConflict>,
    /// The change sequence number of this state; pull cursors are these.
    pub seq: u64,
    /// Last year's answers of the carried items, for a record carried from the previous
    /// campaign (see `docs/campaigns.md`); the app shows them beside each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, crate::openapi::Answer>>))]
    pub prior: Option<Answers>,
}

/// One page of a pull. Records come in change order; `cursor` is where the next page starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub protocol: u32,
    pub records: Vec<RecordState>,
    /// Persons who left a community of this device's scope (moved to another community or
    /// removed from the campaign) since `cursor`: the device drops them (once their edits are
    /// acknowledged) before applying `records`, which may bring them back in their new place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Uuid>,
    pub cursor: u64,
    /// More pages wait beyond `cursor`.
    pub more: bool,
    /// The communities this device holds now; a device drops any other community once its
    /// edits there are acknowledged.
    pub scope: Vec<DivisionCode>,
    /// Names of the communities of this page's records and of the scope.
    #[serde(default)]
    pub community_names: BTreeMap<DivisionCode, String>,
    pub campaign: Campaign,
    pub server_time: Hlc,
}

/// Role of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Worker,
    Supervisor,
    Admin,
}

impl Role {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "worker" => Some(Role::Worker),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    /// How this role's device holds the persons' ID and certificate numbers (docs/security.md
    /// "Who sees whole numbers"): a worker checks the card at the door and needs the whole
    /// number; a supervisor re-checks and reviews a street and needs only the facts the numbers
    /// carry; the admin keys records into the national system.
    #[must_use]
    pub fn device_numbers(self) -> Numbers {
        match self {
            Role::Worker | Role::Admin => Numbers::Whole,
            Role::Supervisor => Numbers::Masked,
        }
    }
    /// The rank used by the merge's provisional rule.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Role::Worker => 1,
            Role::Supervisor => 2,
            Role::Admin => 3,
        }
    }
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Worker => "社区专干",
            Role::Supervisor => "街道专干",
            Role::Admin => "区残联管理员",
        }
    }
    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Role::Worker => "Community worker",
            Role::Supervisor => "Street supervisor",
            Role::Admin => "District admin",
        }
    }
}

/// Sign-in from a device (or the console); registers the device on first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// A device signing in again keeps its ID; a new one gets an ID from the server.
    #[serde(default)]
    pub device_id: Option<Uuid>,
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// For a supervisor: the street (or the district) overseen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<DivisionCode>,
    /// For a worker: assigned communities.
    #[serde(default)]
    pub communities: Vec<DivisionCode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub device_id: Uuid,
    pub account: Account,
}

/// The stable JSON body of every API error: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(examples(json!({"error": {
    "code": "missing_token",
    "message": "sign in first / 请先登录"
}}))))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `missing_token`, `invalid_user`, `out_of_scope`.
    pub code: ErrorCode,
    /// What happened and what to do, in Chinese and English.
    #[cfg_attr(feature = "openapi", schema(example = "sign in first / 请先登录"))]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn mutation_json_is_compact() {
        let m = Mutation {
            id: Uuid::nil(),
            person: Uuid::nil(),
            base_version: 3,
            hlc: Hlc {
                wall: 1,
                counter: 0,
            },
            changes: [(
                "outcome".to_string(),
                Change {
                    base: None,
                    value: Some(Value::text("phone")),
                },
            )]
            .into(),
        };
        let j = serde_json::to_string(&m).unwrap();
        assert!(j.contains(r#""outcome":{"value":"phone"}"#), "{j}");
        assert_eq!(serde_json::from_str::<Mutation>(&j).unwrap(), m);
    }
}
