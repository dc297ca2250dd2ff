//! Applying a pull: each page's records replace their stored server state, with the scope,
//! campaign, community names and cursor; persons and communities that left the device's scope
//! are dropped once they hold no outbox edits.

use std::collections::BTreeMap;

use doorstep_shared::domain::Review;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::sync::{PullResponse, RecordState};
use doorstep_shared::{Campaign, ShownPerson};
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::meta::{get_meta, key, observe_hlc, set_meta};
use super::records::{encode_notes, upsert_record};
use super::{Store, failpoint, to_i64, to_u64};
use crate::error::Result;

/// A [`PullResponse`] as the device reads it: the same JSON, field for field, but each record
/// keeps its answers, conflicts and prior as the JSON text received and stores that text as is
/// (the server wrote it from typed values), instead of decoding every value and encoding it
/// again. What the device compares and lists by (the person, version, sequence, review) is
/// decoded.
#[derive(Debug, Deserialize)]
pub struct PulledPage {
    pub protocol: u32,
    pub records: Vec<PulledRecord>,
    #[serde(default)]
    pub removed: Vec<Uuid>,
    pub cursor: u64,
    pub more: bool,
    pub scope: Vec<DivisionCode>,
    #[serde(default)]
    pub community_names: BTreeMap<DivisionCode, String>,
    pub campaign: Campaign,
    pub server_time: Hlc,
}

/// A [`RecordState`] as the device reads it off a pull page ([`PulledPage`]).
#[derive(Debug, Deserialize)]
pub struct PulledRecord {
    pub person: ShownPerson,
    pub version: u64,
    pub answers: Box<RawValue>,
    #[serde(default)]
    pub review: Review,
    #[serde(default)]
    pub review_comment: Option<String>,
    #[serde(default)]
    pub review_notes: BTreeMap<String, String>,
    #[serde(default)]
    pub conflicts: Option<Box<RawValue>>,
    pub seq: u64,
    #[serde(default)]
    pub prior: Option<Box<RawValue>>,
}

impl TryFrom<&RecordState> for PulledRecord {
    type Error = serde_json::Error;

    fn try_from(r: &RecordState) -> serde_json::Result<Self> {
        Ok(Self {
            person: r.person.clone(),
            version: r.version,
            answers: serde_json::value::to_raw_value(&r.answers)?,
            review: r.review,
            review_comment: r.review_comment.clone(),
            review_notes: r.review_notes.clone(),
            conflicts: Some(serde_json::value::to_raw_value(&r.conflicts)?),
            seq: r.seq,
            prior: r
                .prior
                .as_ref()
                .map(serde_json::value::to_raw_value)
                .transpose()?,
        })
    }
}

impl TryFrom<PullResponse> for PulledPage {
    type Error = serde_json::Error;

    fn try_from(p: PullResponse) -> serde_json::Result<Self> {
        Ok(Self {
            protocol: p.protocol,
            records: p
                .records
                .iter()
                .map(PulledRecord::try_from)
                .collect::<serde_json::Result<_>>()?,
            removed: p.removed,
            cursor: p.cursor,
            more: p.more,
            scope: p.scope,
            community_names: p.community_names,
            campaign: p.campaign,
            server_time: p.server_time,
        })
    }
}

/// What one applied pull page changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageApplied {
    pub pulled: usize,
    /// Records newly returned by a supervisor: `(name, comment)`.
    pub returned: Vec<(String, String)>,
    pub dropped: Vec<DivisionCode>,
}

/// What a pulled record is compared against: the stored record's sequence number and review,
/// with no decoding of the rest.
struct StoredReview {
    seq: i64,
    review: String,
    review_comment: Option<String>,
    review_notes: Option<String>,
}

impl StoredReview {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredReview> {
        Ok(StoredReview {
            seq: r.get("seq")?,
            review: r.get("review")?,
            review_comment: r.get("review_comment")?,
            review_notes: r.get("review_notes")?,
        })
    }
}

impl Store {
    /// Applies one pull page in one transaction, with its cursor: the server state of each
    /// record is replaced (never the outbox, so a pending edit stays on top), the scope,
    /// campaign and community names are stored, communities that left the scope are dropped unless they hold
    /// outbox edits, and the server's clock is observed. A crash mid-page loses the page and
    /// the next pull asks again from the previous cursor.
    ///
    /// # Errors
    /// A storage error.
    pub fn apply_pull_page(&self, page: &PulledPage) -> Result<PageApplied> {
        self.write(|tx| {
            let mut out = PageApplied::default();
            // Persons who left this device's communities go first: a record later in the page
            // (a move within the scope) brings them back. One with unsent edits is kept until
            // they are acknowledged (see `purge_departed`).
            if !page.removed.is_empty() {
                let mut departed: Vec<Uuid> = get_meta(tx, key::DEPARTED)?.unwrap_or_default();
                departed.extend(page.removed.iter().copied());
                departed.sort();
                departed.dedup();
                set_meta(tx, key::DEPARTED, &departed)?;
            }
            purge_departed(tx)?;
            // Read once a page: a person pulled again (moved back into the scope) is no longer
            // departed.
            let mut departed: Vec<Uuid> = get_meta(tx, key::DEPARTED)?.unwrap_or_default();
            let departed_before = departed.len();
            let acked = any_acked(tx)?;
            for rec in &page.records {
                // Only what the comparison needs: no decoding of the stored record.
                let old: Option<StoredReview> = tx
                    .prepare_cached(
                        "SELECT seq, review, review_comment, review_notes FROM records
                         WHERE person_id = ?1",
                    )?
                    .query_row([rec.person.id.to_string()], StoredReview::read)
                    .optional()?;
                if old.as_ref().is_some_and(|o| to_u64(o.seq) > rec.seq) {
                    continue;
                }
                // Returned anew: it was not returned, or now with another comment or notes.
                let notes = encode_notes(&rec.review_notes)?;
                if rec.review == Review::Returned
                    && old.as_ref().is_none_or(|o| {
                        o.review != Review::Returned.key()
                            || o.review_comment != rec.review_comment
                            || o.review_notes != notes
                    })
                {
                    out.returned.push((
                        rec.person.name.clone(),
                        rec.review_comment.clone().unwrap_or_default(),
                    ));
                }
                upsert_record(tx, rec)?;
                if acked {
                    drop_acked(tx, rec.person.id, rec.version)?;
                }
                if !departed.is_empty() {
                    departed.retain(|d| *d != rec.person.id);
                }
                out.pulled += 1;
            }
            if departed.len() != departed_before {
                set_meta(tx, key::DEPARTED, &departed)?;
            }
            out.dropped = drop_out_of_scope(tx, &page.scope)?;
            if !page.community_names.is_empty() {
                let mut names: BTreeMap<DivisionCode, String> =
                    get_meta(tx, key::COMMUNITY_NAMES)?.unwrap_or_default();
                names.extend(page.community_names.clone());
                set_meta(tx, key::COMMUNITY_NAMES, &names)?;
            }
            set_meta(tx, key::SCOPE, &page.scope)?;
            set_meta(tx, key::CAMPAIGN, &page.campaign)?;
            set_meta(tx, key::CURSOR, &page.cursor)?;
            observe_hlc(tx, page.server_time)?;
            failpoint::hit("apply_pull_page.before_commit");
            Ok(out)
        })
    }

    /// Prepares for a new campaign: records without outbox edits are dropped and the cursor
    /// goes back to 0 (a campaign's change sequence starts anew).
    ///
    /// # Errors
    /// A storage error.
    pub fn reset_for_new_campaign(&self) -> Result<()> {
        self.write(|tx| {
            // The server has the acknowledged edits; the records they lay over go.
            tx.execute("DELETE FROM outbox WHERE state = 'acked'", [])?;
            tx.execute(
                "DELETE FROM records WHERE person_id NOT IN (SELECT person_id FROM outbox)",
                [],
            )?;
            tx.execute(
                "DELETE FROM scratch WHERE person_id NOT IN (SELECT person_id FROM records)",
                [],
            )?;
            tx.execute(
                "DELETE FROM meta WHERE key IN ('cursor', 'campaign', 'scope')",
                [],
            )?;
            Ok(())
        })
    }
}

/// Whether the outbox holds edits the server acknowledged that no pull has brought back yet.
fn any_acked(c: &Connection) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'acked')",
        [],
        |r| r.get(0),
    )?)
}

/// Drops a person's acknowledged edits that the pulled record (at `version`) holds: the
/// device's copy is now the server's own. An edit acknowledged at a later version than the
/// record pulled (a page read before it was applied) stays laid over it.
fn drop_acked(c: &Connection, person: Uuid, version: u64) -> Result<()> {
    c.prepare_cached(
        "DELETE FROM outbox WHERE person_id = ?1 AND +state = 'acked' AND acked_version <= ?2",
    )?
    .execute(rusqlite::params![person.to_string(), to_i64(version)?])?;
    Ok(())
}

/// Drops the departed persons (see [`PullResponse::removed`]) that hold no outbox edits; the
/// others stay listed until their edits are acknowledged.
pub(crate) fn purge_departed(c: &Connection) -> Result<()> {
    let departed: Vec<Uuid> = get_meta(c, key::DEPARTED)?.unwrap_or_default();
    if departed.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::new();
    for id in departed {
        let busy: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE person_id = ?1 AND +state != 'acked')",
            [id.to_string()],
            |r| r.get(0),
        )?;
        if busy {
            kept.push(id);
        } else {
            c.execute("DELETE FROM outbox WHERE person_id = ?1", [id.to_string()])?;
            c.execute("DELETE FROM records WHERE person_id = ?1", [id.to_string()])?;
        }
    }
    set_meta(c, key::DEPARTED, &kept)
}

/// Drops the records of communities outside `scope` that hold no outbox edits. A scope entry
/// covers the communities under it: a worker's scope lists communities, a supervisor's their
/// street, an admin's the district.
fn drop_out_of_scope(c: &Connection, scope: &[DivisionCode]) -> Result<Vec<DivisionCode>> {
    let held: Vec<String> = {
        let mut st = c.prepare_cached("SELECT DISTINCT community FROM records")?;
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let in_scope = |community: &str| {
        DivisionCode::parse(community).is_ok_and(|code| scope.iter().any(|s| s.contains(&code)))
    };
    let mut dropped = Vec::new();
    for community in held.iter().filter(|h| !in_scope(h)) {
        let busy: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN records r ON r.person_id = o.person_id
                            WHERE r.community = ?1 AND +o.state != 'acked')",
            [community],
            |r| r.get(0),
        )?;
        if busy {
            continue;
        }
        c.execute(
            "DELETE FROM outbox WHERE person_id IN
               (SELECT person_id FROM records WHERE community = ?1)",
            [community],
        )?;
        c.execute("DELETE FROM records WHERE community = ?1", [community])?;
        if let Ok(code) = DivisionCode::parse(community) {
            dropped.push(code);
        }
    }
    Ok(dropped)
}
