//! Forms and campaigns: opening (with the carry-over from last year), listing, closing.
//! The rules (who may open what, defaults) are in `service::campaigns`; the design is
//! `docs/campaigns.md`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use uuid::Uuid;

use doorstep_shared::carry;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::merge::Doc;
use doorstep_shared::review::Levels;
use doorstep_shared::{Campaign, CampaignState, DivisionCode, Outcome, Person, PersonKeys};

use super::records::{ROW_COLS, row_from};
use super::roster::recompute_progress;
use super::{Db, DbError, DbResult, WriteTx, now_ms, placeholders, take_seqs};

/// A campaign with where it stands.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CampaignRow {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub state: CampaignState,
    pub home_visit_target_bp: u64,
    pub closed_at: Option<i64>,
    /// The campaign this one carried its roster and prior values from.
    pub carried_from: Option<Uuid>,
    /// The review levels the campaign runs (docs/review.md): `street`, `street,district` or
    /// `district`.
    #[schema(value_type = String)]
    pub review_levels: Levels,
}

/// What a carry-over did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CarryReport {
    /// Persons carried into the new campaign.
    pub carried: usize,
    /// Left behind: their final outcome last year was 注销 (deregistered).
    pub deregistered: usize,
    /// Carried with the flag `moved_last_year`, for an admin decision.
    pub moved_flagged: usize,
    /// Carried records with last year's answers as prior values.
    pub with_prior: usize,
    /// Community assignments carried.
    pub assignments: usize,
    /// Left behind: last year's follow-up case was decided "transferred" or "deregistered".
    pub left_by_follow_up: usize,
}

/// The flag on a carried person whose final outcome last year was 已搬迁.
pub const FLAG_MOVED_LAST_YEAR: &str = "moved_last_year";
/// The flag on a carried person absent from this year's roster file.
pub const FLAG_MISSING_FROM_ROSTER: &str = "missing_from_roster";

const CAMPAIGN_COLS: &str = "id, district, district_name, year, name, starts, ends, form_version, \
                             state, home_visit_target_bp, closed_at, carried_from, review_levels";

/// A `campaigns` row as stored ([`CAMPAIGN_COLS`]).
#[derive(sqlx::FromRow)]
struct CampaignDbRow {
    id: String,
    district: String,
    district_name: String,
    year: i64,
    name: String,
    starts: String,
    ends: String,
    form_version: String,
    state: String,
    home_visit_target_bp: i64,
    closed_at: Option<i64>,
    carried_from: Option<String>,
    review_levels: String,
}

impl CampaignDbRow {
    fn into_domain(self) -> DbResult<CampaignRow> {
        let bad = |e: String| DbError::Corrupt(e);
        let state = self.state;
        Ok(CampaignRow {
            campaign: Campaign {
                id: Uuid::parse_str(&self.id).map_err(|e| bad(e.to_string()))?,
                district: DivisionCode::parse(&self.district).map_err(|e| bad(e.to_string()))?,
                district_name: self.district_name,
                year: i32::try_from(self.year).map_err(|e| bad(e.to_string()))?,
                name: self.name,
                starts: self
                    .starts
                    .parse()
                    .map_err(|e: chrono::ParseError| bad(e.to_string()))?,
                ends: self
                    .ends
                    .parse()
                    .map_err(|e: chrono::ParseError| bad(e.to_string()))?,
                form_version: self.form_version,
            },
            state: CampaignState::parse(&state)
                .ok_or_else(|| bad(format!("campaign state {state}")))?,
            home_visit_target_bp: u64::try_from(self.home_visit_target_bp).unwrap_or(9500),
            closed_at: self.closed_at,
            carried_from: self
                .carried_from
                .map(|s| Uuid::parse_str(&s).map_err(|e| bad(e.to_string())))
                .transpose()?,
            review_levels: Levels::parse(&self.review_levels).map_err(bad)?,
        })
    }
}

/// What opening a campaign needs; the service fills in the defaults.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub district: DivisionCode,
    pub district_name: String,
    pub year: i32,
    pub title: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
    pub home_visit_target_bp: u64,
    pub review_levels: Levels,
    /// How its person keys are made: a fresh secret ([`PersonKeys::random`]) for a district's
    /// campaign; [`PersonKeys::Derived`] for the demo, whose roster is public.
    pub person_keys: PersonKeys,
}

impl Db {
    /// Stores a form definition (idempotent by version).
    ///
    /// # Errors
    /// A database error.
    pub async fn put_form(&self, form: &FormDefinition) -> DbResult<()> {
        sqlx::query("INSERT INTO forms (version, definition) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING")
            .bind(form.version.clone())
            .bind(serde_json::to_string(form)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// # Errors
    /// A database error.
    pub async fn form(&self, version: &str) -> DbResult<Option<FormDefinition>> {
        let definition: Option<String> =
            sqlx::query_scalar("SELECT definition FROM forms WHERE version = $1")
                .bind(version.to_string())
                .fetch_optional(&self.pool)
                .await?;
        definition
            .map(|d| Ok(serde_json::from_str(&d)?))
            .transpose()
    }

    /// Opens a campaign with a form, in one transaction: the open campaign (if any) is closed
    /// with late edits accepted, and with `from` the roster, last year's answers (as prior
    /// values) and the assignments carry over (see `docs/campaigns.md`).
    ///
    /// # Errors
    /// A database error: then nothing changed.
    pub async fn open_campaign(
        &self,
        new: &NewCampaign,
        form: &FormDefinition,
        from: Option<&Campaign>,
        audit: &(dyn Fn(&Campaign, &CarryReport) -> super::audit::Entry + Send + Sync),
    ) -> DbResult<(Campaign, CarryReport)> {
        self.put_form(form).await?;
        let campaign = Campaign {
            id: Uuid::now_v7(),
            district: new.district.clone(),
            district_name: new.district_name.clone(),
            year: new.year,
            name: new.title.clone(),
            starts: new.starts,
            ends: new.ends,
            form_version: form.version.clone(),
        };
        let mut tx = self.write().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE campaigns SET state = 'late', is_open = 0, closed_at = $1 WHERE state = 'open'",
        )
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query(
            "INSERT INTO campaigns (id, district, district_name, year, name, starts, ends, form_version, is_open, \
             next_seq, created_at, state, home_visit_target_bp, carried_from, review_levels, person_key_secret) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 0, $9, 'open', $10, $11, $12, $13)",
        )
        .bind(campaign.id.to_string())
        .bind(campaign.district.to_string())
        .bind(campaign.district_name.clone())
        .bind(i64::from(campaign.year))
        .bind(campaign.name.clone())
        .bind(campaign.starts.to_string())
        .bind(campaign.ends.to_string())
        .bind(form.version.clone())
        .bind(now)
        .bind(i64::try_from(new.home_visit_target_bp).unwrap_or(9500))
        .bind(from.map(|f| f.id.to_string()))
        .bind(new.review_levels.key().to_string())
        .bind(new.person_keys.stored())
        .execute(&mut *tx.tx)
        .await?;
        let report = match from {
            Some(from) => carry_over(&mut tx, from, &campaign, new.person_keys, form).await?,
            None => CarryReport::default(),
        };
        self.audit_in(&mut tx, &audit(&campaign, &report)).await?;
        tx.commit().await?;
        Ok((campaign, report))
    }

    /// How a campaign's person keys are made (its secret stays here: never in an answer).
    ///
    /// # Errors
    /// An unknown campaign, a damaged secret, or a database error.
    pub async fn person_keys(&self, campaign: &Uuid) -> DbResult<PersonKeys> {
        let secret: Option<String> =
            sqlx::query_scalar("SELECT person_key_secret FROM campaigns WHERE id = $1")
                .bind(campaign.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| DbError::NotFound(format!("no campaign {campaign}")))?;
        PersonKeys::from_stored(secret.as_deref())
            .map_err(|e| DbError::Corrupt(format!("person key secret: {e}")))
    }

    /// The open campaign, if any.
    ///
    /// # Errors
    /// A database error.
    pub async fn current_campaign(&self) -> DbResult<Option<Campaign>> {
        Ok(self.open_campaign_row().await?.map(|c| c.campaign))
    }

    /// The open campaign with its state and settings.
    ///
    /// # Errors
    /// A database error.
    pub async fn open_campaign_row(&self) -> DbResult<Option<CampaignRow>> {
        let row = sqlx::query_as::<_, CampaignDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns WHERE state = 'open' ORDER BY created_at DESC LIMIT 1"
        )))
        .fetch_optional(&self.pool)
        .await?;
        row.map(CampaignDbRow::into_domain).transpose()
    }

    /// Every campaign, newest year first.
    ///
    /// # Errors
    /// A database error.
    pub async fn campaigns(&self) -> DbResult<Vec<CampaignRow>> {
        sqlx::query_as::<_, CampaignDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns ORDER BY year DESC, created_at DESC"
        )))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(CampaignDbRow::into_domain)
        .collect()
    }

    /// The campaign of a year.
    ///
    /// # Errors
    /// A database error.
    pub async fn campaign_by_year(&self, year: i32) -> DbResult<Option<CampaignRow>> {
        let row = sqlx::query_as::<_, CampaignDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLS} FROM campaigns WHERE year = $1 ORDER BY created_at DESC LIMIT 1"
        )))
        .bind(i64::from(year))
        .fetch_optional(&self.pool)
        .await?;
        row.map(CampaignDbRow::into_domain).transpose()
    }

    /// Closes a campaign for good: late edits are refused from now on.
    ///
    /// # Errors
    /// A database error.
    pub async fn close_campaign(&self, id: &Uuid, entry: &super::audit::Entry) -> DbResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE campaigns SET state = 'closed', is_open = 0, closed_at = COALESCE(closed_at, $1) WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut *tx.tx)
        .await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }
}

/// Carries `from`'s roster into `to` (see `docs/campaigns.md`): everyone but the deregistered,
/// last year's carried answers as prior values, the moved flagged, assignments kept.
async fn carry_over(
    tx: &mut WriteTx<'_>,
    from: &Campaign,
    to: &Campaign,
    keys: PersonKeys,
    form: &FormDefinition,
) -> DbResult<CarryReport> {
    let mut report = CarryReport::default();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 ORDER BY community, id"
    )))
    .bind(from.id.to_string())
    .fetch_all(&mut *tx.tx)
    .await?;
    let left: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT person_id FROM follow_ups WHERE campaign_id = $1 AND decision IN ('transferred', 'deregistered')",
    )
    .bind(from.id.to_string())
    .fetch_all(&mut *tx.tx)
    .await?
    .into_iter()
    .collect();
    let to_id = to.id.to_string();
    let mut carried: Vec<(Person, String, Option<String>, Option<&'static str>)> = Vec::new();
    for r in &rows {
        let row = row_from(r)?;
        if left.contains(&row.id) {
            report.left_by_follow_up += 1;
            continue;
        }
        match row.final_outcome {
            Some(Outcome::Deregistered) => {
                report.deregistered += 1;
                continue;
            }
            Some(Outcome::Moved) => report.moved_flagged += 1,
            _ => {}
        }
        let prior = carry::carried(form, &row.doc.answers);
        let prior = if prior.is_empty() {
            None
        } else {
            report.with_prior += 1;
            Some(serde_json::to_string(&prior)?)
        };
        let mut person = row.person.clone();
        person.id = keys.key(to.id, &person.resident_id);
        let flag = (row.final_outcome == Some(Outcome::Moved)).then_some(FLAG_MOVED_LAST_YEAR);
        carried.push((person, row.id.clone(), prior, flag));
    }
    report.carried = carried.len();
    let first = take_seqs(tx, &to_id, i64::try_from(carried.len()).unwrap_or(0)).await?;
    let now = now_ms();
    let empty_doc = serde_json::to_string(&Doc::default())?;
    const PER: usize = 10;
    for (ci, chunk) in carried.chunks(200).enumerate() {
        let groups: Vec<String> = (0..chunk.len())
            .map(|i| format!("({}, 0, 'pending', 0, 0)", placeholders(1 + i * PER, PER)))
            .collect();
        let sql = format!(
            "INSERT INTO persons (id, campaign_id, community, person, doc, seq, updated_at, prior, prior_person_id, \
             flag, version, review, via_app, conflicts) VALUES {}",
            groups.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, (p, prior_id, prior, flag)) in chunk.iter().enumerate() {
            q = q
                .bind(p.id.to_string())
                .bind(to_id.clone())
                .bind(p.community.to_string())
                .bind(serde_json::to_string(p)?)
                .bind(empty_doc.clone())
                .bind(first + i64::try_from(ci * 200 + i).unwrap_or(0))
                .bind(now)
                .bind(prior.clone())
                .bind(prior_id.clone())
                .bind(flag.map(str::to_string));
        }
        q.execute(&mut *tx.tx).await?;
    }
    // Each community keeps its worker.
    let from_id = from.id.to_string();
    for table in ["assignments", "assignment_history"] {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (campaign_id, community, user_id, assigned_at) \
             SELECT $1, community, user_id, $2 FROM assignments WHERE campaign_id = $3"
        )))
        .bind(to_id.clone())
        .bind(now)
        .bind(from_id.clone())
        .execute(&mut *tx.tx)
        .await?;
        if table == "assignments" {
            report.assignments = usize::try_from(r.rows_affected()).unwrap_or(0);
        }
    }
    let communities: BTreeSet<String> = carried
        .iter()
        .map(|(p, ..)| p.community.to_string())
        .collect();
    recompute_progress(tx, &to_id, communities.iter().map(String::as_str)).await?;
    Ok(report)
}
