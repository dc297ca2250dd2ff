//! One person's row as stored (roster facts + survey record): the type every reader of `persons`
//! shares, its columns and its reading. Its own module so that `records` (which saves rows and
//! their analysis facts) and `analysis` (which reads rows to refresh the facts) both take it
//! without using each other.

use serde_json::value::RawValue;
use sqlx::FromRow;
use sqlx::any::AnyRow;

use doorstep_shared::domain::final_outcome;
use doorstep_shared::merge::Doc;
use doorstep_shared::review::Notes;
use doorstep_shared::sync::RecordState;
use doorstep_shared::{Answers, Numbers, Outcome, Person, Review};

use super::{DbError, DbResult};

/// One person's row.
#[derive(Debug, Clone)]
pub struct RecordRow {
    pub id: String,
    pub campaign_id: String,
    pub community: String,
    pub person: Person,
    pub doc: Doc,
    pub version: i64,
    pub seq: i64,
    pub review: Review,
    pub review_comment: Option<String>,
    /// The reviewer's notes on single items of a returned record.
    pub review_notes: Notes,
    pub final_outcome: Option<Outcome>,
    pub via_app: bool,
    pub updated_at: i64,
    pub updated_by: Option<String>,
    /// Last year's answers of the carried items (a record carried from the previous campaign).
    pub prior: Option<Answers>,
    /// Last year's record this one was carried from.
    pub prior_person_id: Option<String>,
    /// Awaiting an admin decision: `moved_last_year` or `missing_from_roster`.
    pub flag: Option<String>,
    /// Who collected the record: the last device user whose edit changed it (a supervisor's
    /// review or resolution does not make them the collector).
    pub collected_by: Option<String>,
    /// Its analysis facts as stored ([`doorstep_shared::analysis::Facts`], encoded; `None`
    /// while it does not count), written with the row (`records::save_rows`).
    pub facts: Option<String>,
}

/// What a row counts for, taken before a change so that saving it moves the progress counters
/// and the analysis packs by the difference ([`RecordRow::before`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Its final outcome, and whether it was captured on the app (progress).
    pub outcome: Option<(Outcome, bool)>,
    /// The community it counts in.
    pub community: String,
    /// Its analysis facts as stored.
    pub facts: Option<String>,
}

impl RecordRow {
    /// The state a device pulls, with the numbers as the puller's role holds them.
    #[must_use]
    pub fn state(&self, numbers: Numbers) -> RecordState {
        self.clone().into_state(numbers)
    }

    /// [`RecordRow::state`], taking the row apart instead of copying its answers (a pull page
    /// of a thousand records).
    #[must_use]
    pub fn into_state(self, numbers: Numbers) -> RecordState {
        RecordState {
            person: self.person.shown(numbers),
            version: u64::try_from(self.version).unwrap_or(0),
            answers: self.doc.answers,
            review: self.review,
            review_comment: self.review_comment,
            review_notes: self.review_notes,
            conflicts: self.doc.conflicts,
            seq: u64::try_from(self.seq).unwrap_or(0),
            prior: self.prior,
        }
    }

    /// The (outcome, captured on the app) pair progress counts for this row.
    #[must_use]
    pub fn counted(&self) -> Option<(Outcome, bool)> {
        self.final_outcome.map(|o| (o, self.via_app))
    }

    /// What the row counts for now, kept as the state before a change.
    #[must_use]
    pub fn before(&self) -> Counted {
        Counted {
            outcome: self.counted(),
            community: self.community.clone(),
            facts: self.facts.clone(),
        }
    }

    /// Recomputes the final outcome after a change; `via_app` says where this change came from.
    pub fn refresh_final(&mut self, via_app: bool) {
        let new = final_outcome(&self.doc.answers, self.review);
        if new.is_some() && new != self.final_outcome {
            self.via_app = via_app;
        }
        self.final_outcome = new;
    }
}

pub(crate) const ROW_COLS: &str = "id, campaign_id, community, person, doc, version, seq, review, review_comment, \
                                    final_outcome, via_app, updated_at, updated_by, prior, prior_person_id, flag, \
                                    collected_by, review_notes, facts";

/// A `persons` row as stored ([`ROW_COLS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct RecordDbRow {
    id: String,
    campaign_id: String,
    community: String,
    person: String,
    doc: String,
    version: i64,
    seq: i64,
    review: String,
    review_comment: Option<String>,
    final_outcome: Option<String>,
    via_app: i64,
    updated_at: i64,
    updated_by: Option<String>,
    prior: Option<String>,
    prior_person_id: Option<String>,
    flag: Option<String>,
    collected_by: Option<String>,
    review_notes: Option<String>,
    facts: Option<String>,
}

impl RecordDbRow {
    pub(crate) fn into_domain(self) -> DbResult<RecordRow> {
        let review = self.review;
        Ok(RecordRow {
            id: self.id,
            campaign_id: self.campaign_id,
            community: self.community,
            person: serde_json::from_str(&self.person)?,
            doc: serde_json::from_str(&self.doc)?,
            version: self.version,
            seq: self.seq,
            review: Review::parse(&review)
                .ok_or_else(|| DbError::Corrupt(format!("review {review}")))?,
            review_comment: self.review_comment,
            review_notes: self
                .review_notes
                .map(|n| serde_json::from_str(&n))
                .transpose()?
                .unwrap_or_default(),
            final_outcome: self.final_outcome.as_deref().and_then(Outcome::parse),
            via_app: self.via_app != 0,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            prior: self.prior.map(|p| serde_json::from_str(&p)).transpose()?,
            prior_person_id: self.prior_person_id,
            flag: self.flag,
            collected_by: self.collected_by,
            facts: self.facts,
        })
    }
}

/// One person's row from a query of [`ROW_COLS`] (for readers that fetch untyped rows).
pub(crate) fn row_from(r: &AnyRow) -> DbResult<RecordRow> {
    RecordDbRow::from_row(r)?.into_domain()
}

/// One record of a pull page as the server writes it: the JSON of [`RecordState`], with the
/// stored answers, conflicts, notes and prior copied as the stored text instead of decoded into
/// types and encoded again (most of a pull's server time). Only the person is decoded: the
/// puller's role decides whether its numbers are masked. `tests::a_pulled_record_reads_as_its_state`
/// checks both write the same JSON.
#[derive(Debug, serde::Serialize)]
pub struct PulledRecord {
    pub person: doorstep_shared::ShownPerson,
    pub version: u64,
    pub answers: Box<RawValue>,
    pub review: Review,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_notes: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Box<RawValue>>,
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<Box<RawValue>>,
}

pub(crate) const PULL_COLS: &str =
    "person, doc, version, seq, review, review_comment, review_notes, prior";

/// The `persons` columns a pull reads ([`PULL_COLS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct PullDbRow {
    person: String,
    doc: String,
    version: i64,
    seq: i64,
    review: String,
    review_comment: Option<String>,
    review_notes: Option<String>,
    prior: Option<String>,
}

/// The parts of a stored [`Doc`] a device pulls, borrowed from its text (the writers are
/// skipped, not decoded).
#[derive(serde::Deserialize)]
struct PulledDoc<'a> {
    #[serde(borrow)]
    answers: &'a RawValue,
    #[serde(borrow, default)]
    conflicts: Option<&'a RawValue>,
}

/// A stored JSON object as raw text, `None` when absent or empty (`{}`), as [`RecordState`]
/// leaves an empty map out.
fn raw_object(text: Option<&str>) -> DbResult<Option<Box<RawValue>>> {
    match text.map(str::trim) {
        None | Some("{}") => Ok(None),
        Some(t) => Ok(Some(RawValue::from_string(t.to_string())?)),
    }
}

impl PullDbRow {
    pub(crate) fn pulled(self, numbers: Numbers) -> DbResult<PulledRecord> {
        let person: Person = serde_json::from_str(&self.person)?;
        let doc: PulledDoc<'_> = serde_json::from_str(&self.doc)?;
        let review = self.review;
        Ok(PulledRecord {
            person: person.shown(numbers),
            version: u64::try_from(self.version).unwrap_or(0),
            answers: doc.answers.to_owned(),
            review: Review::parse(&review)
                .ok_or_else(|| DbError::Corrupt(format!("review {review}")))?,
            review_comment: self.review_comment,
            review_notes: raw_object(self.review_notes.as_deref())?,
            conflicts: raw_object(doc.conflicts.map(RawValue::get))?,
            seq: u64::try_from(self.seq).unwrap_or(0),
            prior: self.prior.map(RawValue::from_string).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use doorstep_shared::demo::{SplitMix64, fill_questionnaire, generate};
    use doorstep_shared::form::FormDefinition;
    use doorstep_shared::hlc::Hlc;
    use doorstep_shared::merge::{self, Change, Doc, Writer};
    use doorstep_shared::{Campaign, Outcome, Value};

    use super::*;

    fn writer(user: &str, at_ms: i64) -> Writer {
        Writer {
            user: user.into(),
            rank: 1,
            device: Some(uuid::Uuid::now_v7()),
            mutation: uuid::Uuid::now_v7(),
            hlc: Hlc {
                wall: at_ms,
                counter: 0,
            },
            at_ms,
        }
    }

    /// The stored row as a pull reads it.
    fn stored(row: &RecordRow) -> PullDbRow {
        PullDbRow {
            person: serde_json::to_string(&row.person).unwrap(),
            doc: serde_json::to_string(&row.doc).unwrap(),
            version: row.version,
            seq: row.seq,
            review: row.review.key().into(),
            review_comment: row.review_comment.clone(),
            review_notes: (!row.review_notes.is_empty())
                .then(|| serde_json::to_string(&row.review_notes).unwrap()),
            prior: row
                .prior
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap()),
        }
    }

    #[test]
    fn a_pulled_record_reads_as_its_state() {
        let campaign = Campaign {
            id: uuid::Uuid::now_v7(),
            district: doorstep_shared::DivisionCode::parse("430503").unwrap(),
            district_name: "大祥区".into(),
            year: 2021,
            name: "test".into(),
            starts: chrono::NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
            ends: chrono::NaiveDate::from_ymd_opt(2021, 6, 30).unwrap(),
            form_version: FormDefinition::dynamic_update_2021().version,
        };
        let d = generate(2021, campaign.id);
        let form = FormDefinition::dynamic_update_2021();
        let mut rng = SplitMix64::new(1);
        let person = d.persons[3].clone();
        let answers = fill_questionnaire(&form, &person, &campaign, Outcome::HomeVisit, &mut rng);
        let mut doc = Doc {
            answers: answers.clone(),
            ..Doc::default()
        };
        // Two workers change the phone from the same base: an open conflict.
        let base = answers.get("phone").cloned();
        for (user, phone) in [("w001", "13900000001"), ("w002", "13900000002")] {
            let changes = BTreeMap::from([(
                "phone".to_string(),
                Change {
                    base: base.clone(),
                    value: Some(Value::text(phone)),
                },
            )]);
            merge::apply(&mut doc, &changes, &writer(user, 1_700_000_000_000));
        }
        assert!(!doc.conflicts.is_empty(), "an open conflict");
        let bare = RecordRow {
            id: person.id.to_string(),
            campaign_id: campaign.id.to_string(),
            community: person.community.to_string(),
            person: person.clone(),
            doc: Doc {
                answers,
                ..Doc::default()
            },
            version: 3,
            seq: 42,
            review: Review::Pending,
            review_comment: None,
            review_notes: BTreeMap::new(),
            final_outcome: None,
            via_app: true,
            updated_at: 0,
            updated_by: None,
            prior: None,
            prior_person_id: None,
            flag: None,
            collected_by: None,
            facts: None,
        };
        let full = RecordRow {
            doc,
            review: Review::Returned,
            review_comment: Some("请核实电话".into()),
            review_notes: BTreeMap::from([("phone".into(), "号码有误".into())]),
            prior: Some(bare.doc.answers.clone()),
            ..bare.clone()
        };
        for row in [&bare, &full] {
            for numbers in [Numbers::Whole, Numbers::Masked] {
                let pulled = stored(row).pulled(numbers).unwrap();
                assert_eq!(
                    serde_json::to_value(&pulled).unwrap(),
                    serde_json::to_value(row.state(numbers)).unwrap()
                );
                // And a device reads it back as the state.
                let back: RecordState =
                    serde_json::from_str(&serde_json::to_string(&pulled).unwrap()).unwrap();
                assert_eq!(back, row.state(numbers));
            }
        }
    }
}
