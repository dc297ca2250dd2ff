//! One person's row as stored (roster facts + survey record): the type every reader of `persons`
//! shares, its columns and its reading. Its own module so that `records` (which saves rows and
//! their analysis facts) and `analysis` (which reads rows to refresh the facts) both take it
//! without using each other.

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
                                    collected_by, review_notes";

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
        })
    }
}

/// One person's row from a query of [`ROW_COLS`] (for readers that fetch untyped rows).
pub(crate) fn row_from(r: &AnyRow) -> DbResult<RecordRow> {
    RecordDbRow::from_row(r)?.into_domain()
}
