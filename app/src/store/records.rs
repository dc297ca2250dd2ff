//! The `records` table: the last pulled server state of each person's record, one row per
//! person, read back into [`RecordState`]s.

use std::collections::BTreeMap;

use doorstep_shared::domain::Review;
use doorstep_shared::merge::OpenConflict;
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

pub(crate) fn load_record(c: &Connection, person: Uuid) -> Result<Option<RecordState>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE person_id = ?1"
        ))?
        .query_row([person.to_string()], RecordRow::read)
        .optional()?;
    row.map(RecordRow::decode).transpose()
}

/// Records of one community, or all of them.
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
    rows.into_iter().map(RecordRow::decode).collect()
}

/// Sets some of one record's answers (`None`: unanswered) and raises its version to at least
/// `version`, nothing else of it (the device's copy after a push was answered); a person
/// without a record is left alone. The other answers are copied as their stored JSON text,
/// not decoded and encoded again (a push answered for thousands of records).
pub(crate) fn update_answers<'v>(
    c: &Connection,
    person: Uuid,
    set: impl IntoIterator<Item = (&'v str, Option<&'v RawValue>)>,
    version: u64,
) -> Result<()> {
    let id = person.to_string();
    let row: Option<(String, i64)> = c
        .prepare_cached("SELECT answers, version FROM records WHERE person_id = ?1")?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((stored, stored_version)) = row else {
        return Ok(());
    };
    let answers = set_answers(&stored, set)?;
    let version = to_u64(stored_version).max(version);
    c.prepare_cached("UPDATE records SET answers = ?2, version = ?3 WHERE person_id = ?1")?
        .execute(params![id, answers, to_i64(version)?])?;
    Ok(())
}

/// `answers` (a JSON object of item → value) with some items set or removed, in the same form
/// as [`Answers`] encodes: keys in order, compact.
fn set_answers<'v>(
    answers: &str,
    set: impl IntoIterator<Item = (&'v str, Option<&'v RawValue>)>,
) -> Result<String> {
    let fresh: Vec<(&str, Option<&RawValue>)> = set.into_iter().collect();
    // Keys with escapes cannot be borrowed: such a record is decoded whole.
    let Ok(mut items) = serde_json::from_str::<BTreeMap<&str, &RawValue>>(answers) else {
        let mut whole: BTreeMap<String, Box<RawValue>> = serde_json::from_str(answers)?;
        for (item, v) in fresh {
            match v {
                Some(v) => whole.insert(item.to_string(), v.to_owned()),
                None => whole.remove(item),
            };
        }
        return Ok(serde_json::to_string(&whole)?);
    };
    for (item, v) in &fresh {
        match v {
            Some(v) => items.insert(item, v),
            None => items.remove(item),
        };
    }
    Ok(serde_json::to_string(&items)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use doorstep_shared::value::Value;

    /// What decoding the answers whole, changing them and encoding them again gives.
    fn decoded(answers: &str, set: &[(&str, Option<Value>)]) -> String {
        let mut a: Answers = serde_json::from_str(answers).expect("answers");
        for (item, v) in set {
            match v {
                Some(v) => a.insert((*item).to_string(), v.clone()),
                None => a.remove(*item),
            };
        }
        serde_json::to_string(&a).expect("encode")
    }

    #[test]
    fn answers_are_set_as_if_decoded_whole() {
        let mut a = Answers::new();
        a.insert("phone".into(), Value::text("13900000000"));
        a.insert(
            "b_items".into(),
            Value::Set(["x".to_string(), "y\"z".to_string()].into()),
        );
        a.insert("age".into(), Value::Int(41));
        let stored = serde_json::to_string(&a).expect("encode");
        let set = [
            ("phone", Some(Value::text("13911112222"))),
            ("age", None),
            ("a_new", Some(Value::Bool(true))),
            ("never_there", None),
        ];
        // Values come as their JSON text, as the outbox stores them.
        let raw: Vec<(&str, Option<Box<RawValue>>)> = set
            .iter()
            .map(|(i, v)| {
                (
                    *i,
                    v.as_ref()
                        .map(|v| serde_json::value::to_raw_value(v).expect("raw")),
                )
            })
            .collect();
        let by_ref = || raw.iter().map(|(i, v)| (*i, v.as_deref()));
        assert_eq!(
            set_answers(&stored, by_ref()).expect("set"),
            decoded(&stored, &set)
        );
        // A key with an escape cannot be borrowed: the record is read whole, same result.
        let escaped = r#"{"a\"b":"1","c":2}"#;
        assert_eq!(
            set_answers(escaped, by_ref()).expect("set"),
            decoded(escaped, &set)
        );
        // Not an object: an error, nothing written.
        assert!(set_answers("[1]", by_ref()).is_err());
    }
}
