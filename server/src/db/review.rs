//! The review chain's storage (docs/review.md): review steps on records, counts per stage, the
//! district's sample and its verifications, and the follow-up cases. The rules are in
//! `doorstep_shared::review`; the operations in `crate::service::review`.

use doorstep_shared::Review;
use doorstep_shared::review::{CaseDecision, CheckMethod, Notes, Verification};

use super::audit::Entry;
use super::records::RecordRow;
use super::{Db, DbError, DbResult, Scope, now_ms, placeholders};

/// How many records of a community stand at each review stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StageCounts {
    pub community: String,
    /// Submitted, waiting for the first level.
    pub submitted: u64,
    pub street_approved: u64,
    pub approved: u64,
    pub returned: u64,
}

/// One sampled record and its verification, once recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SampleRow {
    pub person_id: String,
    pub community: String,
    pub seed: i64,
    pub rate_permille: i64,
    pub threshold_bp: i64,
    pub drawn_by: String,
    pub drawn_at: i64,
    /// The worker who collected the record (agreement per worker).
    pub collected_by: Option<String>,
    pub check: Option<Verification>,
    pub checked_by: Option<String>,
    pub checked_at: Option<i64>,
}

/// A drawn sample row to store.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub person_id: String,
    pub community: String,
    pub collected_by: Option<String>,
}

/// A follow-up case: a person with a non-surveyed outcome, and the county's decision if any.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CaseRow {
    pub person_id: String,
    pub community: String,
    pub name: String,
    pub id_masked: String,
    /// The full resident ID (only the district admin's list and export carry it).
    #[serde(skip)]
    pub resident_id: String,
    pub outcome: String,
    pub note: String,
    pub decision: Option<CaseDecision>,
    /// The county the person was transferred to (a transfer).
    pub county: Option<String>,
    pub decided_on: Option<String>,
    pub decision_note: Option<String>,
    pub decided_by: Option<String>,
}

/// Records of a community at one review stage ([`Db::stage_counts`]).
#[derive(sqlx::FromRow)]
struct StageCountRow {
    community: String,
    review: String,
    n: i64,
}

/// A record a sample may draw ([`Db::sample_eligible`]).
#[derive(sqlx::FromRow)]
struct EligibleRow {
    id: String,
    community: String,
    collected_by: Option<String>,
}

/// A `samples` row as stored ([`Db::samples`]).
#[derive(sqlx::FromRow)]
struct SampleDbRow {
    person_id: String,
    community: String,
    seed: i64,
    rate_permille: i64,
    threshold_bp: i64,
    drawn_by: String,
    drawn_at: i64,
    collected_by: Option<String>,
    checker: Option<String>,
    method: Option<String>,
    reached: Option<i64>,
    confirmed: Option<i64>,
    differing: Option<String>,
    note: Option<String>,
    checked_by: Option<String>,
    checked_at: Option<i64>,
}

impl SampleDbRow {
    fn into_domain(self) -> DbResult<SampleRow> {
        let check = match self.method.as_deref().and_then(CheckMethod::parse) {
            Some(method) => Some(Verification {
                checker: self.checker.unwrap_or_default(),
                method,
                reached: self.reached.unwrap_or(0) != 0,
                confirmed: self.confirmed.unwrap_or(0) != 0,
                differing: self
                    .differing
                    .map(|d| serde_json::from_str(&d))
                    .transpose()?
                    .unwrap_or_default(),
                note: self.note.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(SampleRow {
            person_id: self.person_id,
            community: self.community,
            seed: self.seed,
            rate_permille: self.rate_permille,
            threshold_bp: self.threshold_bp,
            drawn_by: self.drawn_by,
            drawn_at: self.drawn_at,
            collected_by: self.collected_by,
            check,
            checked_by: self.checked_by,
            checked_at: self.checked_at,
        })
    }
}

/// A follow-up case: the record and the decision if any ([`Db::follow_up_cases`]).
#[derive(sqlx::FromRow)]
struct CaseDbRow {
    id: String,
    community: String,
    person: String,
    doc: String,
    final_outcome: String,
    decision: Option<String>,
    county: Option<String>,
    decided_on: Option<String>,
    decision_note: Option<String>,
    decided_by: Option<String>,
}

impl CaseDbRow {
    fn into_domain(self) -> DbResult<CaseRow> {
        let person: doorstep_shared::Person = serde_json::from_str(&self.person)?;
        let doc: doorstep_shared::merge::Doc = serde_json::from_str(&self.doc)?;
        let note = doc
            .answers
            .get("outcome_note")
            .and_then(|v| v.as_text())
            .unwrap_or_default()
            .to_string();
        Ok(CaseRow {
            person_id: self.id,
            community: self.community,
            name: person.name.clone(),
            id_masked: person.resident_id.masked(),
            resident_id: person.resident_id.to_string(),
            outcome: self.final_outcome,
            note,
            decision: self.decision.as_deref().and_then(CaseDecision::parse),
            county: self.county,
            decided_on: self.decided_on,
            decision_note: self.decision_note,
            decided_by: self.decided_by,
        })
    }
}

fn notes_text(notes: &Notes) -> DbResult<Option<String>> {
    Ok(if notes.is_empty() {
        None
    } else {
        Some(serde_json::to_string(notes)?)
    })
}

impl Db {
    /// One review step on a record: `decide` sees the row and answers the new stage (or a
    /// refusal, as [`DbError::Invalid`] carrying the rule's code); the comment and notes are
    /// stored with it and the step is audited in the same transaction.
    ///
    /// # Errors
    /// No such person, a refusal by `decide`, or a database error.
    pub async fn review_step(
        &self,
        person_id: &str,
        user: &str,
        level: &str,
        decide: impl FnOnce(&RecordRow) -> DbResult<Review>,
        comment: Option<String>,
        notes: Notes,
    ) -> DbResult<RecordRow> {
        notes_text(&notes)?;
        self.change_record(
            person_id,
            user,
            |row| {
                let next = decide(row)?;
                row.review = next;
                if next == Review::Returned {
                    row.review_comment = comment;
                    row.review_notes = notes;
                } else {
                    row.review_comment = comment.filter(|c| !c.trim().is_empty());
                    row.review_notes = Notes::new();
                }
                Ok(())
            },
            |row| Entry {
                user: Some(user.to_string()),
                action: "review".into(),
                detail: format!(
                    "{person_id} {level} {} notes={}",
                    row.review.key(),
                    row.review_notes.len()
                ),
                ..Default::default()
            },
        )
        .await
    }

    /// Records per review stage, per community of the scope (finalized records, and returned
    /// ones), in community order.
    ///
    /// # Errors
    /// A database error.
    pub async fn stage_counts(&self, campaign: &str, scope: &Scope) -> DbResult<Vec<StageCounts>> {
        let (cond, arg) = scope.sql("persons", 2);
        let sql = format!(
            "SELECT community, review, COUNT(*) AS n FROM persons WHERE campaign_id = $1 {cond} \
             AND (final_outcome IS NOT NULL OR review = 'returned') GROUP BY community, review \
             ORDER BY community"
        );
        let mut q =
            sqlx::query_as::<_, StageCountRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let mut out: Vec<StageCounts> = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let StageCountRow {
                community,
                review,
                n,
            } = r;
            let n = u64::try_from(n).unwrap_or(0);
            if out.last().is_none_or(|c| c.community != community) {
                out.push(StageCounts {
                    community: community.clone(),
                    ..StageCounts::default()
                });
            }
            let c = out
                .last_mut()
                .ok_or_else(|| DbError::Corrupt("stage".into()))?;
            match Review::parse(&review) {
                Some(Review::Pending) => c.submitted += n,
                Some(Review::StreetApproved) => c.street_approved += n,
                Some(Review::Approved) => c.approved += n,
                Some(Review::Returned) => c.returned += n,
                None => return Err(DbError::Corrupt(format!("review {review}"))),
            }
        }
        Ok(out)
    }

    /// The records a sample may draw from, by community: submitted (final, not returned) and
    /// not yet sampled, with who collected them.
    ///
    /// # Errors
    /// A database error.
    pub async fn sample_eligible(
        &self,
        campaign: &str,
    ) -> DbResult<Vec<(String, String, Option<String>)>> {
        let rows = sqlx::query_as::<_, EligibleRow>(
            "SELECT p.id, p.community, p.collected_by FROM persons p \
             WHERE p.campaign_id = $1 AND p.final_outcome IS NOT NULL AND p.review <> 'returned' \
             AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.person_id = p.id) \
             ORDER BY p.community, p.id",
        )
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, r.community, r.collected_by))
            .collect())
    }

    /// Stores a drawn sample and audits the draw, in one transaction.
    ///
    /// # Errors
    /// A database error: then nothing is stored.
    pub async fn store_sample(
        &self,
        campaign: &str,
        rows: &[NewSample],
        seed: u64,
        rate_permille: u32,
        threshold_bp: u64,
        by: &str,
    ) -> DbResult<()> {
        let mut tx = self.write().await?;
        let now = now_ms();
        const PER: usize = 9;
        for chunk in rows.chunks(200) {
            let groups: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * PER, PER)))
                .collect();
            let sql = format!(
                "INSERT INTO samples (person_id, campaign_id, community, seed, rate_permille, threshold_bp, \
                 drawn_by, drawn_at, collected_by) VALUES {}",
                groups.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q
                    .bind(s.person_id.clone())
                    .bind(campaign.to_string())
                    .bind(s.community.clone())
                    // Stored as the same 64 bits; read back with `as u64`.
                    .bind(seed.cast_signed())
                    .bind(i64::from(rate_permille))
                    .bind(i64::try_from(threshold_bp).unwrap_or(9500))
                    .bind(by.to_string())
                    .bind(now)
                    .bind(s.collected_by.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        self.audit_in(
            &mut tx,
            &Entry {
                user: Some(by.to_string()),
                action: "draw_sample".into(),
                detail: format!(
                    "{campaign} seed={seed} rate={rate_permille}‰ drawn={}",
                    rows.len()
                ),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await
    }

    /// The sample of a campaign within a scope, in community and person order.
    ///
    /// # Errors
    /// A database error.
    pub async fn samples(&self, campaign: &str, scope: &Scope) -> DbResult<Vec<SampleRow>> {
        let (cond, arg) = scope.sql("samples", 2);
        let sql = format!(
            "SELECT person_id, community, seed, rate_permille, threshold_bp, drawn_by, drawn_at, collected_by, \
             checker, method, reached, confirmed, differing, note, checked_by, checked_at \
             FROM samples WHERE campaign_id = $1 {cond} ORDER BY community, person_id"
        );
        let mut q =
            sqlx::query_as::<_, SampleDbRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(SampleDbRow::into_domain)
            .collect()
    }

    /// Records the verification of a sampled record (a later one replaces it), audited in the
    /// same transaction.
    ///
    /// # Errors
    /// [`DbError::NotFound`] when the person is not in the sample; a database error.
    pub async fn record_check(&self, person_id: &str, v: &Verification, by: &str) -> DbResult<()> {
        let mut tx = self.write().await?;
        let r = sqlx::query(
            "UPDATE samples SET checker = $1, method = $2, reached = $3, confirmed = $4, differing = $5, \
             note = $6, checked_by = $7, checked_at = $8 WHERE person_id = $9",
        )
        .bind(v.checker.clone())
        .bind(v.method.key())
        .bind(i64::from(v.reached))
        .bind(i64::from(v.confirmed))
        .bind(serde_json::to_string(&v.differing)?)
        .bind(v.note.clone())
        .bind(by.to_string())
        .bind(now_ms())
        .bind(person_id.to_string())
        .execute(&mut *tx.tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "{person_id} is not in the sample"
            )));
        }
        self.audit_in(
            &mut tx,
            &Entry {
                user: Some(by.to_string()),
                action: "sample_check".into(),
                detail: format!(
                    "{person_id} {} reached={} confirmed={} differing={}",
                    v.method.key(),
                    v.reached,
                    v.confirmed,
                    v.differing.len()
                ),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await
    }

    /// The follow-up cases of a campaign within a scope: finalized, not returned records with
    /// one of `outcomes`, with the decision where there is one.
    ///
    /// # Errors
    /// A database error.
    pub async fn follow_up_cases(
        &self,
        campaign: &str,
        scope: &Scope,
        outcomes: &[&str],
    ) -> DbResult<Vec<CaseRow>> {
        let (cond, arg) = scope.sql("p", 2);
        let n = if arg.is_some() { 3 } else { 2 };
        let sql = format!(
            "SELECT p.id, p.community, p.person, p.doc, p.final_outcome, f.decision, f.county, f.decided_on, \
             f.note AS decision_note, f.decided_by FROM persons p \
             LEFT JOIN follow_ups f ON f.person_id = p.id \
             WHERE p.campaign_id = $1 {cond} AND p.final_outcome IN ({}) ORDER BY p.final_outcome, p.community, p.id",
            placeholders(n, outcomes.len())
        );
        let mut q =
            sqlx::query_as::<_, CaseDbRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        for o in outcomes {
            q = q.bind((*o).to_string());
        }
        q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(CaseDbRow::into_domain)
            .collect()
    }

    /// Stores the county's decision on a case (a later one replaces it), audited in the same
    /// transaction.
    ///
    /// # Errors
    /// A database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_case(
        &self,
        campaign: &str,
        person_id: &str,
        decision: CaseDecision,
        county: Option<&str>,
        decided_on: &str,
        note: &str,
        by: &str,
    ) -> DbResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO follow_ups (person_id, campaign_id, decision, county, decided_on, note, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (person_id) DO UPDATE SET \
             decision = excluded.decision, county = excluded.county, decided_on = excluded.decided_on, \
             note = excluded.note, decided_by = excluded.decided_by, decided_at = excluded.decided_at",
        )
        .bind(person_id.to_string())
        .bind(campaign.to_string())
        .bind(decision.key())
        .bind(county.map(str::to_string))
        .bind(decided_on.to_string())
        .bind(note.to_string())
        .bind(by.to_string())
        .bind(now_ms())
        .execute(&mut *tx.tx)
        .await?;
        self.audit_in(
            &mut tx,
            &Entry {
                user: Some(by.to_string()),
                action: "follow_up".into(),
                detail: format!("{person_id} {} {decided_on}", decision.key()),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await
    }
}
