//! The outbox: local edits as mutations waiting for the server, and what the server answered.
//!
//! ## Bases
//! Each changed item carries `base`, the value the server will hold when it reaches this
//! mutation *as far as the device knows*: the last pulled server value, unless an earlier
//! pending mutation of the same person (one already in flight, which the server applies first)
//! changes the item, in which case its value. Bases are fixed when an edit is saved and never
//! follow later pulls: the server's three-way merge compares them with what it really has.
//!
//! ## Coalescing
//! A new edit of a person whose last outbox entry is pending and not yet sent is folded into
//! that entry (an item edited twice keeps its first base and takes the new value), so repeated
//! edits of one item never conflict with themselves on the server. Once an entry has been
//! included in a push it is frozen: it may be re-sent as is (the server answers a re-sent
//! mutation identically), so it is never changed, and later edits start a new entry.
//!
//! ## Acknowledged
//! An entry the server applied stays, as `acked` with the record version the server answered,
//! until a pull brings that version of the record (`store::pull`): until then it is laid over
//! the stored record as what the server holds (`store::records::load_record`), and is no longer
//! an edit of the outbox (not sent, counted or listed). Answering a push writes one small row
//! per edit instead of rewriting each record the pull that follows rewrites anyway.

use doorstep_shared::errors::ErrorCode;
use std::collections::{BTreeMap, HashMap};

use doorstep_shared::carry;
use doorstep_shared::domain::{Campaign, STATUS, Status, status_of};
use doorstep_shared::form::{FormContext, FormDefinition, Strictness};
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::{Change, ItemOutcome};
use doorstep_shared::review::locks_worker;
use doorstep_shared::sync::{Mutation, MutationStatus, PushResponse};
use doorstep_shared::value::{Answers, Value};
use rusqlite::{Connection, params};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::model::{LogKind, OutboxState, SaveResult};
use crate::store::{
    Store, count_outbox, failpoint, get_meta, key, load_record, now_ms, observe_hlc, parse_uuid,
    set_meta, tick_hlc, to_i64, to_u64,
};

/// One stored outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub id: Uuid,
    pub person: Uuid,
    pub base_version: u64,
    pub hlc: Hlc,
    pub changes: BTreeMap<String, Change>,
    pub created_at: i64,
    pub sent: bool,
    pub state: OutboxState,
    pub reject_code: Option<String>,
    pub reject_message: Option<String>,
}

impl OutboxRow {
    pub(crate) fn is_pending(&self) -> bool {
        self.state == OutboxState::Pending
    }
}

/// What one push answer did to the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushApplied {
    pub applied: usize,
    pub rejected: usize,
    /// Items set-merged by the server.
    pub merged_items: usize,
    /// Items in a same-item conflict.
    pub conflict_items: usize,
    pub reassigned: usize,
    /// Mutations of the batch the answer said nothing about (they stay pending).
    pub unanswered: usize,
}

/// A mutation taken for a push as the outbox stores it: what the request and the answer need,
/// its changes kept as their stored JSON. The device only passes them on, and keeps them, as
/// stored, once the server acknowledged them ("Acknowledged" above): decoding every value of
/// every survey into types, only to encode them again, was most of taking a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    pub id: Uuid,
    pub person: Uuid,
    pub base_version: u64,
    pub hlc: Hlc,
    /// The changes' JSON (`Mutation::changes` as encoded).
    pub changes: String,
}

impl Taken {
    /// A mutation as it would be stored.
    ///
    /// # Errors
    /// Its changes cannot be encoded.
    pub fn of(m: &Mutation) -> Result<Self> {
        Ok(Self {
            id: m.id,
            person: m.person,
            base_version: m.base_version,
            hlc: m.hlc,
            changes: serde_json::to_string(&m.changes)?,
        })
    }

    /// The mutation, its changes decoded.
    ///
    /// # Errors
    /// The stored changes are not a mutation's.
    pub fn decode(&self) -> Result<Mutation> {
        Ok(Mutation {
            id: self.id,
            person: self.person,
            base_version: self.base_version,
            hlc: self.hlc,
            changes: serde_json::from_str(&self.changes)?,
        })
    }
}

/// The next mutations to push and the outbox position of the last one.
#[derive(Debug, Default)]
pub struct PushBatch {
    pub taken: Vec<Taken>,
    /// The `seq` of the batch's last outbox row (the `after` of the batch that follows).
    pub last: i64,
}

/// An `outbox` row as stored (the columns of [`OUTBOX_COLUMNS`]), before decoding.
struct RawOutbox {
    seq: i64,
    id: String,
    person_id: String,
    base_version: i64,
    hlc: String,
    changes: String,
    created_at: i64,
    sent: bool,
    state: String,
    reject_code: Option<String>,
    reject_message: Option<String>,
}

const OUTBOX_COLUMNS: &str = "seq, id, person_id, base_version, hlc, changes, created_at, sent, \
                              state, reject_code, reject_message";

fn raw_outbox(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawOutbox> {
    Ok(RawOutbox {
        seq: r.get("seq")?,
        id: r.get("id")?,
        person_id: r.get("person_id")?,
        base_version: r.get("base_version")?,
        hlc: r.get("hlc")?,
        changes: r.get("changes")?,
        created_at: r.get("created_at")?,
        sent: r.get("sent")?,
        state: r.get("state")?,
        reject_code: r.get("reject_code")?,
        reject_message: r.get("reject_message")?,
    })
}

/// Decodes a stored row; `sent_upto` is the outbox's sent mark ([`sent_upto`]).
fn decode_outbox(raw: RawOutbox, sent_upto: i64) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: parse_uuid(&raw.id)?,
        person: parse_uuid(&raw.person_id)?,
        base_version: to_u64(raw.base_version),
        hlc: serde_json::from_str(&raw.hlc)?,
        changes: serde_json::from_str(&raw.changes)?,
        created_at: raw.created_at,
        sent: raw.sent || raw.seq <= sent_upto,
        state: if raw.state == "rejected" {
            OutboxState::Rejected
        } else {
            OutboxState::Pending
        },
        reject_code: raw.reject_code,
        reject_message: raw.reject_message,
    })
}

/// Outbox entries in order, of one person or of everyone.
pub(crate) fn load_outbox(c: &Connection, person: Option<Uuid>) -> Result<Vec<OutboxRow>> {
    let raws: Vec<RawOutbox> = match person {
        Some(p) => {
            let mut st = c.prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE person_id = ?1 AND +state != 'acked' \
                 ORDER BY seq"
            ))?;
            st.query_map([p.to_string()], raw_outbox)?
                .collect::<rusqlite::Result<_>>()?
        }
        None => {
            let mut st = c.prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state IN ('pending', 'rejected') \
                 ORDER BY seq"
            ))?;
            st.query_map([], raw_outbox)?
                .collect::<rusqlite::Result<_>>()?
        }
    };
    let upto = sent_upto(c)?;
    raws.into_iter().map(|r| decode_outbox(r, upto)).collect()
}

/// The outbox's sent mark: every row at or before this `seq` has been taken for a push (it may
/// have reached the server, so it is frozen: never coalesced again). One number written per
/// batch instead of a flag rewritten in every row taken; rows are given `seq`s above it
/// ([`next_seq`]), so a row added later is never taken for sent. Rows marked by the `sent`
/// column (stores from before the mark) stay sent.
fn sent_upto(c: &Connection) -> Result<i64> {
    Ok(get_meta::<i64>(c, key::OUTBOX_SENT_UPTO)?.unwrap_or(0))
}

/// The `seq` of a new outbox row: after every row and after the sent mark. (SQLite's own
/// choice, the largest rowid plus one, could fall at or below the mark once the rows taken are
/// acknowledged and deleted.)
fn next_seq(c: &Connection) -> Result<i64> {
    let last: i64 = c.query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?;
    Ok(last.max(sent_upto(c)?) + 1)
}

/// Lays outbox entries over server answers, in order.
pub(crate) fn overlay<'a>(
    server: &Answers,
    rows: impl IntoIterator<Item = &'a OutboxRow>,
) -> Answers {
    let mut a = server.clone();
    for row in rows {
        for (item, change) in &row.changes {
            match &change.value {
                Some(v) => a.insert(item.clone(), v.clone()),
                None => a.remove(item),
            };
        }
    }
    a
}

fn set_answer(a: &mut Answers, item: &str, v: Option<&Value>) {
    match v {
        Some(v) => a.insert(item.to_string(), v.clone()),
        None => a.remove(item),
    };
}

fn log(
    c: &Connection,
    person: Uuid,
    mutation: Uuid,
    kind: LogKind,
    items: &BTreeMap<String, ItemOutcome>,
    message: Option<&str>,
) -> Result<()> {
    let kind = match kind {
        LogKind::Merged => "merged",
        LogKind::Reassigned => "reassigned",
        LogKind::Rejected => "rejected",
    };
    c.execute(
        "INSERT INTO sync_log (at, person_id, mutation_id, kind, items, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now_ms(),
            person.to_string(),
            mutation.to_string(),
            kind,
            serde_json::to_string(items)?,
            message,
        ],
    )?;
    Ok(())
}

impl Store {
    /// Saves an edit of one record: `changes` maps item keys to their new value (`None`
    /// clears the item); `finalize` submits the record (`status` = `final`).
    ///
    /// The resulting answers are validated with the form: a record that is (or becomes) final
    /// with [`Strictness::Final`] after pruning the answers of items that no longer apply; a
    /// draft with [`Strictness::Draft`], reporting only the items changed. When invalid nothing
    /// is saved and the item errors come back. A draft save of a final record keeps it final
    /// (and so validates it as final); [`Store::reopen`] turns it back into a draft.
    ///
    /// The edit is committed in one transaction, with the ticked device clock, before this
    /// returns: a crash afterwards loses nothing.
    ///
    /// # Errors
    /// [`AppError::UnknownPerson`], [`AppError::NotSynced`] (no form or campaign yet), or a
    /// storage error.
    pub fn save_edit(
        &self,
        person_id: Uuid,
        changes: BTreeMap<String, Option<Value>>,
        finalize: bool,
    ) -> Result<SaveResult> {
        self.write_if(|tx| save_edit_tx(tx, person_id, &changes, finalize))
    }

    /// Confirms a section as unchanged since last year: last year's value of each of its items
    /// that is relevant now ([`carry::confirm_section`] over the record as the worker sees it
    /// and its prior), saved as one ordinary draft edit through [`Store::save_edit`] (so it
    /// goes to the outbox and syncs like any edit). A section that does not carry, or a record
    /// without a prior, writes nothing ([`SaveResult::Unchanged`]).
    ///
    /// # Errors
    /// As [`Store::save_edit`].
    pub fn confirm_section(&self, person_id: Uuid, section_key: &str) -> Result<SaveResult> {
        self.confirm_section_with(person_id, section_key, BTreeMap::new())
    }

    /// [`Store::confirm_section`] together with the screen's unsaved `edits` of this visit:
    /// relevance follows them (an outcome picked but not saved yet opens the questionnaire),
    /// and they are saved in the same edit, under the section's confirmed values.
    ///
    /// # Errors
    /// As [`Store::save_edit`].
    pub fn confirm_section_with(
        &self,
        person_id: Uuid,
        section_key: &str,
        edits: BTreeMap<String, Option<Value>>,
    ) -> Result<SaveResult> {
        self.write_if(|tx| {
            let rec = load_record(tx, person_id)?.ok_or(AppError::UnknownPerson(person_id))?;
            let form: FormDefinition = get_meta(tx, key::FORM)?.ok_or(AppError::NotSynced)?;
            let campaign: Campaign = get_meta(tx, key::CAMPAIGN)?.ok_or(AppError::NotSynced)?;
            let rows = load_outbox(tx, Some(person_id))?;
            let mut shown = overlay(&rec.answers, &rows);
            for (item, v) in &edits {
                set_answer(&mut shown, item, v.as_ref());
            }
            let ctx = FormContext::for_person(&rec.person, &campaign);
            let confirmed = rec.prior.as_ref().map_or_else(Answers::new, |prior| {
                carry::confirm_section(&form, section_key, prior, &shown, &ctx)
            });
            let mut changes = edits;
            changes.extend(confirmed.into_iter().map(|(k, v)| (k, Some(v))));
            if changes.is_empty() {
                return Ok((SaveResult::Unchanged, false));
            }
            save_edit_tx(tx, person_id, &changes, false)
        })
    }

    /// What a push starts from: about how many mutations wait to be sent (the outbox's size:
    /// its rejected edits, few, are counted too; counting them apart would read every row),
    /// and whether the server's last answer to a push said it keeps batches in order
    /// (`PushResponse::in_order`; a store signed in to another server forgets it).
    ///
    /// # Errors
    /// A storage error.
    pub fn push_start(&self) -> Result<(usize, bool)> {
        self.read(|c| {
            let in_order = get_meta::<bool>(c, key::SERVER_IN_ORDER)?.unwrap_or(false);
            Ok((count_outbox(c)?, in_order))
        })
    }

    /// Turns a final record back into a draft (withdraws the submission).
    ///
    /// # Errors
    /// As [`Store::save_edit`].
    pub fn reopen(&self, person_id: Uuid) -> Result<SaveResult> {
        let changes = [(STATUS.to_string(), Some(Status::Draft.value()))].into();
        self.save_edit(person_id, changes, false)
    }

    /// The next pending mutations to push, oldest first, at most `limit`; they are marked as
    /// sent (frozen: never coalesced again) in the same transaction.
    ///
    /// # Errors
    /// A storage error.
    pub fn take_push_batch(&self, limit: usize) -> Result<Vec<Mutation>> {
        self.take_push_batch_after(limit, 0)?
            .taken
            .iter()
            .map(Taken::decode)
            .collect()
    }

    /// [`Store::take_push_batch`] after the outbox position `after` (0: from the start): the
    /// next batch while the one before it, up to `after`, is still on its way (a sync keeps
    /// the device busy while the server works).
    ///
    /// # Errors
    /// A storage error.
    pub fn take_push_batch_after(&self, limit: usize, after: i64) -> Result<PushBatch> {
        self.write(|tx| take_batch(tx, limit, after))
    }

    /// [`Store::apply_push_results`] for the batch before (if any), then
    /// [`Store::take_push_batch_after`], in one transaction: one commit instead of two (on an
    /// encrypted store each commit encrypts and signs the pages it writes).
    ///
    /// # Errors
    /// A storage error: then neither is done.
    pub fn apply_and_take(
        &self,
        answered: Option<(&[Taken], &PushResponse)>,
        limit: usize,
        after: i64,
    ) -> Result<(Option<PushApplied>, PushBatch)> {
        self.write(|tx| {
            let applied = answered
                .map(|(sent, resp)| apply_results(tx, sent, resp))
                .transpose()?;
            Ok((applied, take_batch(tx, limit, after)?))
        })
    }

    /// Applies the server's answer to a pushed batch, in one transaction: an applied mutation
    /// is acknowledged (its values become the device's idea of the server state until a pull
    /// brings the real one; see "Acknowledged" above), a rejected one stays, marked with the
    /// server's reason.
    /// Merged, conflicting, reassigned and rejected outcomes go to the sync log.
    ///
    /// # Errors
    /// A storage error.
    pub fn apply_push_results(
        &self,
        sent: &[Mutation],
        resp: &PushResponse,
    ) -> Result<PushApplied> {
        let taken = sent.iter().map(Taken::of).collect::<Result<Vec<_>>>()?;
        self.apply_taken_results(&taken, resp)
    }

    /// [`Store::apply_push_results`] for a batch as taken ([`Store::take_push_batch_after`]).
    ///
    /// # Errors
    /// A storage error.
    pub fn apply_taken_results(&self, sent: &[Taken], resp: &PushResponse) -> Result<PushApplied> {
        self.write(|tx| apply_results(tx, sent, resp))
    }

    /// Sends the rejected edits of a person again (as new mutations, e.g. after the office
    /// fixed an assignment). Returns how many.
    ///
    /// # Errors
    /// A storage error.
    pub fn retry_rejected(&self, person_id: Uuid) -> Result<usize> {
        self.write(|tx| {
            let rows = load_outbox(tx, Some(person_id))?;
            let mut n = 0;
            for row in rows.iter().filter(|r| !r.is_pending()) {
                tx.execute(
                    "UPDATE outbox SET id = ?2, state = 'pending', sent = 0, reject_code = NULL,
                       reject_message = NULL WHERE id = ?1",
                    params![row.id.to_string(), Uuid::now_v7().to_string()],
                )?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Deletes the rejected edits of a person: the worker gives them up. Returns how many.
    ///
    /// # Errors
    /// A storage error.
    pub fn discard_rejected(&self, person_id: Uuid) -> Result<usize> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM outbox WHERE person_id = ?1 AND state = 'rejected'",
                [person_id.to_string()],
            )?;
            Ok(n)
        })
    }
}

fn save_edit_tx(
    tx: &Connection,
    person_id: Uuid,
    changes: &BTreeMap<String, Option<Value>>,
    finalize: bool,
) -> Result<(SaveResult, bool)> {
    let rec = load_record(tx, person_id)?.ok_or(AppError::UnknownPerson(person_id))?;
    // With a reviewer (street-approved) or final (approved): the worker may not change it.
    if locks_worker(rec.review) {
        return Err(AppError::RecordApproved(person_id));
    }
    let form: FormDefinition = get_meta(tx, key::FORM)?.ok_or(AppError::NotSynced)?;
    let campaign: Campaign = get_meta(tx, key::CAMPAIGN)?.ok_or(AppError::NotSynced)?;
    let rows = load_outbox(tx, Some(person_id))?;

    // What the worker sees now, and what they want.
    let shown = overlay(&rec.answers, &rows);
    let mut next = shown.clone();
    for (item, v) in changes {
        set_answer(&mut next, item, v.as_ref());
    }
    if finalize {
        next.insert(STATUS.into(), Status::Final.value());
    }
    let ctx = FormContext::for_person(&rec.person, &campaign);
    let errors = if status_of(&next) == Status::Final {
        next = form.prune(&next, &ctx);
        form.validate(&next, &ctx, Strictness::Final)
    } else {
        form.validate(&next, &ctx, Strictness::Draft)
            .into_iter()
            .filter(|e| changes.contains_key(&e.item))
            .collect()
    };
    if !errors.is_empty() {
        return Ok((SaveResult::Invalid(errors), false));
    }

    let mut wanted: BTreeMap<String, Option<Value>> = shown
        .keys()
        .chain(next.keys())
        .filter(|k| shown.get(*k) != next.get(*k))
        .map(|k| (k.clone(), next.get(k).cloned()))
        .collect();
    if finalize {
        // Always sent on submit, even when already final: a returned record submitted again
        // goes back to review.
        wanted
            .entry(STATUS.into())
            .or_insert_with(|| Some(Status::Final.value()));
    }
    if wanted.is_empty() {
        return Ok((SaveResult::Unchanged, false));
    }

    let hlc = tick_hlc(tx)?;
    let target = rows.last().filter(|r| r.is_pending() && !r.sent);
    let earlier: Vec<&OutboxRow> = rows
        .iter()
        .filter(|r| target.is_none_or(|t| t.id != r.id))
        .collect();
    // The base of an item: the value the server will hold when it reaches this edit.
    let base_of = |item: &str| -> Option<Value> {
        earlier
            .iter()
            .rev()
            .filter(|r| r.is_pending())
            .find_map(|r| r.changes.get(item))
            .map_or_else(|| rec.answers.get(item).cloned(), |c| c.value.clone())
    };

    let id = if let Some(t) = target {
        let without = overlay(&rec.answers, earlier.iter().copied());
        let mut merged = t.changes.clone();
        for (item, value) in wanted {
            let base = merged
                .get(&item)
                .map_or_else(|| base_of(&item), |c| c.base.clone());
            // An edit taken back: drop it when nothing else would then show another value.
            let undone = base == value
                && without.get(&item) == value.as_ref()
                && !(finalize && item == STATUS);
            if undone {
                merged.remove(&item);
            } else {
                merged.insert(item, Change { base, value });
            }
        }
        if merged.is_empty() {
            tx.execute("DELETE FROM outbox WHERE id = ?1", [t.id.to_string()])?;
        } else {
            tx.execute(
                "UPDATE outbox SET changes = ?2, hlc = ?3 WHERE id = ?1",
                params![
                    t.id.to_string(),
                    serde_json::to_string(&merged)?,
                    serde_json::to_string(&hlc)?
                ],
            )?;
        }
        t.id
    } else {
        let changes: BTreeMap<String, Change> = wanted
            .into_iter()
            .map(|(item, value)| {
                let base = base_of(&item);
                (item, Change { base, value })
            })
            .collect();
        let id = Uuid::now_v7();
        tx.execute(
            "INSERT INTO outbox (seq, id, person_id, base_version, hlc, changes, created_at)
             VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.to_string(),
                person_id.to_string(),
                to_i64(rec.version)?,
                serde_json::to_string(&hlc)?,
                serde_json::to_string(&changes)?,
                now_ms(),
                next_seq(tx)?,
            ],
        )?;
        id
    };
    failpoint::hit("save_edit.before_commit");
    Ok((SaveResult::Saved { mutation: id }, true))
}

/// [`Store::take_push_batch_after`] in the caller's transaction.
fn take_batch(tx: &Connection, limit: usize, after: i64) -> Result<PushBatch> {
    let raws: Vec<RawOutbox> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND seq > ?2 \
             ORDER BY seq LIMIT ?1"
        ))?;
        st.query_map(
            params![i64::try_from(limit).unwrap_or(i64::MAX), after],
            raw_outbox,
        )?
        .collect::<rusqlite::Result<_>>()?
    };
    let last = raws.last().map_or(after, |raw| raw.seq);
    let taken = raws
        .into_iter()
        .map(|raw| {
            Ok(Taken {
                id: parse_uuid(&raw.id)?,
                person: parse_uuid(&raw.person_id)?,
                base_version: to_u64(raw.base_version),
                hlc: serde_json::from_str(&raw.hlc)?,
                changes: raw.changes,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Every pending row up to `last` is now taken: the sent mark moves there (one small write,
    // not the rows rewritten).
    if last > sent_upto(tx)? {
        set_meta(tx, key::OUTBOX_SENT_UPTO, &last)?;
    }
    Ok(PushBatch { taken, last })
}

/// Stored changes (`item → change` JSON) without some items, the others kept as their
/// stored JSON text.
fn changes_without(changes: &str, items: &[&str]) -> Result<String> {
    let mut all: BTreeMap<String, Box<RawValue>> = serde_json::from_str(changes)?;
    for item in items {
        all.remove(*item);
    }
    Ok(serde_json::to_string(&all)?)
}

/// Marks pending outbox rows acknowledged at the versions the server answered, by ID, in
/// statements of up to 500 rows; answers the IDs it marked (a row no longer pending is left).
fn ack_all(tx: &Connection, acks: &[(Uuid, i64)]) -> Result<std::collections::HashSet<Uuid>> {
    let mut acked = std::collections::HashSet::with_capacity(acks.len());
    for chunk in acks.chunks(500) {
        let values = vec!["(?, ?)"; chunk.len()].join(", ");
        let mut st = tx.prepare_cached(&format!(
            "UPDATE outbox SET state = 'acked', acked_version = v.column2 FROM (VALUES {values}) AS v
             WHERE outbox.id = v.column1 AND outbox.state = 'pending' RETURNING outbox.id"
        ))?;
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.to_string()).collect();
        let params: Vec<&dyn rusqlite::ToSql> = ids
            .iter()
            .zip(chunk)
            .flat_map(|(id, (_, version))| [id as &dyn rusqlite::ToSql, version])
            .collect();
        let rows = st.query_map(params.as_slice(), |r| r.get::<_, String>(0))?;
        for id in rows {
            acked.insert(parse_uuid(&id?)?);
        }
    }
    Ok(acked)
}

/// [`Store::apply_push_results`] in the caller's transaction.
fn apply_results(tx: &Connection, sent: &[Taken], resp: &PushResponse) -> Result<PushApplied> {
    if get_meta::<bool>(tx, key::SERVER_IN_ORDER)? != Some(resp.in_order) {
        set_meta(tx, key::SERVER_IN_ORDER, &resp.in_order)?;
    }
    let by_id: HashMap<Uuid, &Taken> = sent.iter().map(|m| (m.id, m)).collect();
    let mut out = PushApplied::default();
    // An applied edit whose items were all taken as sent is marked acknowledged together with
    // the others like it, in statements of many rows (a push of 200 edits: one statement, not
    // 200); the rest one by one below.
    // Only each mutation's first result counts (below too), so a repeated, contradicting
    // result cannot acknowledge what its first result rejected.
    let mut first = std::collections::HashSet::with_capacity(sent.len());
    let plain: Vec<(Uuid, i64)> = resp
        .results
        .iter()
        .filter(|r| by_id.contains_key(&r.id) && first.insert(r.id))
        .filter(|r| r.status == MutationStatus::Applied)
        .filter(|r| !r.items.values().any(|o| o.kept_on_device()))
        .map(|r| Ok((r.id, to_i64(r.version)?)))
        .collect::<Result<_>>()?;
    let plain_acked = ack_all(tx, &plain)?;
    // The mutations answered; a result the answer repeats is taken once, the first time.
    let mut answered = std::collections::HashSet::with_capacity(sent.len());
    for result in &resp.results {
        let Some(m) = by_id.get(&result.id) else {
            continue;
        };
        if !answered.insert(result.id) {
            continue;
        }
        match result.status {
            MutationStatus::Applied => {
                // Until a pull brings the server's record, the device's copy takes the values
                // the server took as sent (`records::with_acked`); a merged or conflicting
                // item keeps the copy's value (the server's may be another one), so it is
                // left out of the row kept.
                let left_out: Vec<&str> = result
                    .items
                    .iter()
                    .filter(|(_, o)| o.kept_on_device())
                    .map(|(item, _)| item.as_str())
                    .collect();
                let acked = if left_out.is_empty() {
                    plain_acked.contains(&result.id)
                } else {
                    tx.prepare_cached(
                        "UPDATE outbox SET state = 'acked', acked_version = ?2, changes = ?3
                         WHERE id = ?1 AND state = 'pending'",
                    )?
                    .execute(params![
                        m.id.to_string(),
                        to_i64(result.version)?,
                        changes_without(&m.changes, &left_out)?
                    ])? > 0
                };
                if !acked {
                    continue;
                }
                out.applied += 1;
                for outcome in result.items.values() {
                    match outcome {
                        ItemOutcome::SetMerged => out.merged_items += 1,
                        ItemOutcome::Conflict => out.conflict_items += 1,
                        ItemOutcome::Applied | ItemOutcome::Same => {}
                    }
                }
                if result.reassigned {
                    out.reassigned += 1;
                }
                if !left_out.is_empty() {
                    log(tx, m.person, m.id, LogKind::Merged, &result.items, None)?;
                }
                if result.reassigned {
                    log(tx, m.person, m.id, LogKind::Reassigned, &result.items, None)?;
                }
            }
            MutationStatus::Rejected => {
                let code = result.code.as_ref().map_or("rejected", ErrorCode::as_str);
                let message = result
                    .message
                    .clone()
                    .unwrap_or_else(|| "服务器拒绝了此修改 / The server refused this edit".into());
                let n = tx.execute(
                    "UPDATE outbox SET state = 'rejected', reject_code = ?2, reject_message = ?3
                     WHERE id = ?1 AND state != 'acked'",
                    params![m.id.to_string(), code, message],
                )?;
                if n == 0 {
                    continue;
                }
                out.rejected += 1;
                log(
                    tx,
                    m.person,
                    m.id,
                    LogKind::Rejected,
                    &result.items,
                    Some(&message),
                )?;
            }
        }
    }
    out.unanswered = sent.len().saturating_sub(answered.len());
    crate::store::purge_departed(tx)?;
    observe_hlc(tx, resp.server_time)?;
    failpoint::hit("apply_push_results.before_commit");
    Ok(out)
}
