//! The `records` table: the last pulled server state of each person's record, one row per
//! person, read back into [`RecordState`]s.

use std::collections::{BTreeMap, HashMap};

use doorstep_shared::domain::Review;
use doorstep_shared::merge::{Change, OpenConflict};
use doorstep_shared::sync::RecordState;
use doorstep_shared::value::Answers;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::pull::PulledRecord;
use super::{to_i64, to_u64};
use crate::error::Result;

const RECORD_COLUMNS: &str =
    "person, version, answers, review, review_comment, conflicts, seq, prior, review_notes";

/// A `records` row as stored ([`RECORD_COLUMNS`]): the person, answers, conflicts, prior and
/// notes as JSON, the review as its key.
struct RecordRow {
    person: String,
    version: i64,
    answers: String,
    review: String,
    review_comment: Option<String>,
    conflicts: String,
    seq: i64,
    prior: Option<String>,
    review_notes: Option<String>,
}

impl RecordRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
        Ok(RecordRow {
            person: r.get("person")?,
            version: r.get("version")?,
            answers: r.get("answers")?,
            review: r.get("review")?,
            review_comment: r.get("review_comment")?,
            conflicts: r.get("conflicts")?,
            seq: r.get("seq")?,
            prior: r.get("prior")?,
            review_notes: r.get("review_notes")?,
        })
    }

    fn decode(self) -> Result<RecordState> {
        let conflicts: BTreeMap<String, OpenConflict> = serde_json::from_str(&self.conflicts)?;
        Ok(RecordState {
            person: serde_json::from_str(&self.person)?,
            version: to_u64(self.version),
            answers: serde_json::from_str(&self.answers)?,
            review: Review::parse(&self.review).unwrap_or_default(),
            review_comment: self.review_comment,
            review_notes: self
                .review_notes
                .map(|n| serde_json::from_str::<BTreeMap<String, String>>(&n))
                .transpose()?
                .unwrap_or_default(),
            conflicts,
            seq: to_u64(self.seq),
            prior: self
                .prior
                .map(|p| serde_json::from_str::<Answers>(&p))
                .transpose()?,
        })
    }
}

/// The reviewer's item notes as stored: JSON, or NULL when there are none.
pub(super) fn encode_notes(notes: &BTreeMap<String, String>) -> Result<Option<String>> {
    if notes.is_empty() {
        Ok(None)
    } else {
        Ok(Some(serde_json::to_string(notes)?))
    }
}

/// One person's record as the device knows the server holds it: the last pulled state with the
/// edits the server acknowledged since laid over it ([`with_acked`]).
pub(crate) fn load_record(c: &Connection, person: Uuid) -> Result<Option<RecordState>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE person_id = ?1"
        ))?
        .query_row([person.to_string()], RecordRow::read)
        .optional()?;
    let Some(mut rec) = row.map(RecordRow::decode).transpose()? else {
        return Ok(None);
    };
    let acked: Vec<Acked> = c
        .prepare_cached(
            "SELECT person_id, changes, acked_version FROM outbox
             WHERE person_id = ?1 AND +state = 'acked' ORDER BY seq",
        )?
        .query_map([person.to_string()], Acked::read)?
        .collect::<rusqlite::Result<_>>()?;
    for a in &acked {
        with_acked(&mut rec, a)?;
    }
    Ok(Some(rec))
}

/// Records of one community, or all of them ([`load_record`]).
pub(crate) fn load_records(c: &Connection, community: Option<&str>) -> Result<Vec<RecordState>> {
    let rows: Vec<RecordRow> = match community {
        Some(code) => {
            let mut st = c.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE community = ?1"
            ))?;
            st.query_map([code], RecordRow::read)?
                .collect::<rusqlite::Result<_>>()?
        }
        None => {
            let mut st = c.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records"))?;
            st.query_map([], RecordRow::read)?
                .collect::<rusqlite::Result<_>>()?
        }
    };
    let mut acked: HashMap<String, Vec<Acked>> = HashMap::new();
    {
        let mut st = c.prepare_cached(
            "SELECT person_id, changes, acked_version FROM outbox WHERE state = 'acked' ORDER BY seq",
        )?;
        for a in st.query_map([], Acked::read)? {
            let a = a?;
            acked.entry(a.person.clone()).or_default().push(a);
        }
    }
    rows.into_iter()
        .map(|row| {
            let mut rec = row.decode()?;
            if let Some(list) = acked.get(&rec.person.id.to_string()) {
                for a in list {
                    with_acked(&mut rec, a)?;
                }
            }
            Ok(rec)
        })
        .collect()
}

/// An edit the server acknowledged that no pull has brought back yet (an `acked` outbox row):
/// the items the server took as sent, and the record's version after it.
struct Acked {
    person: String,
    changes: String,
    version: Option<i64>,
}

impl Acked {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Acked> {
        Ok(Acked {
            person: r.get(0)?,
            changes: r.get(1)?,
            version: r.get(2)?,
        })
    }
}

/// Lays an acknowledged edit over a record: its items take the values sent, and the version
/// rises to the one the server answered. This is what the server holds once it applied the
/// edit (as far as the device knows) until a pull brings the record itself and drops the row
/// (`pull::drop_acked`). Items the server merged or put in conflict are not among `changes`
/// (`outbox::apply_results` leaves them out): they keep the copy's value.
fn with_acked(rec: &mut RecordState, acked: &Acked) -> Result<()> {
    let changes: BTreeMap<String, Change> = serde_json::from_str(&acked.changes)?;
    for (item, change) in changes {
        match change.value {
            Some(v) => rec.answers.insert(item, v),
            None => rec.answers.remove(&item),
        };
    }
    rec.version = rec.version.max(acked.version.map_or(0, to_u64));
    Ok(())
}

/// Stores a pulled record as the device's copy of the server state, its answers, conflicts
/// and prior as the JSON text received.
pub(crate) fn upsert_record(c: &Connection, rec: &PulledRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO records (person_id, community, person, version, answers, review,
                              review_comment, conflicts, seq, prior, review_notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (person_id) DO UPDATE SET community = ?2, person = ?3, version = ?4,
           answers = ?5, review = ?6, review_comment = ?7, conflicts = ?8, seq = ?9,
           prior = ?10, review_notes = ?11",
    )?
    .execute(params![
        rec.person.id.to_string(),
        rec.person.community.as_str(),
        serde_json::to_string(&rec.person)?,
        to_i64(rec.version)?,
        rec.answers.get(),
        rec.review.key(),
        rec.review_comment,
        rec.conflicts.as_deref().map_or("{}", RawValue::get),
        to_i64(rec.seq)?,
        rec.prior.as_deref().map(RawValue::get),
        encode_notes(&rec.review_notes)?,
    ])?;
    Ok(())
}
