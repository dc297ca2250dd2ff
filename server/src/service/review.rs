//! The review chain (docs/review.md): a reviewer's step on a record at their level, the records
//! per stage, the district's sample with its verifications and agreement rates, and the
//! follow-up cases of persons not surveyed. Called by the API (`server/src/http/review.rs`) and
//! the console (`server/src/console/review.rs`); the rules are `doorstep_shared::review`'s.

use doorstep_shared::errors::ErrorCode;
use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use doorstep_shared::checks;
use doorstep_shared::domain::{Outcome, status_of};
use doorstep_shared::review::{
    self, CaseDecision, Decision, Level, Levels, Notes, Refused, Verification,
};
use doorstep_shared::sync::Role;
use doorstep_shared::{Campaign, Status};

use super::{Error, Kind, Result, Who};
use crate::db::{CampaignRow, CaseRow, DbError, NewSample, RecordRow, SampleRow, StageCounts};
use crate::state::AppState;
use crate::tables::Table;

fn bilingual(zh: &str, en: &str) -> String {
    format!("{zh} / {en}")
}

fn forbidden(zh: &str, en: &str) -> Error {
    Error {
        kind: Kind::Forbidden,
        code: ErrorCode::Forbidden,
        message: bilingual(zh, en),
    }
}

fn from_refused(r: Refused) -> Error {
    let kind = match r.code {
        ErrorCode::NotSubmitted | ErrorCode::AboveLevel | ErrorCode::LevelOff => Kind::Conflict,
        _ => Kind::Invalid,
    };
    Error {
        kind,
        code: r.code,
        message: r.message,
    }
}

/// The open campaign with its settings.
async fn open_row(state: &AppState) -> Result<CampaignRow> {
    state.db.open_campaign_row().await?.ok_or_else(|| {
        Error::conflict(
            ErrorCode::NoCampaign,
            bilingual("当前没有进行中的调查", "no campaign is open"),
        )
    })
}

/// The campaign of `year` (or the open one) with its settings.
async fn campaign_row(state: &AppState, year: Option<i32>) -> Result<CampaignRow> {
    let c = state.campaign_for(year).await?;
    state
        .db
        .campaigns()
        .await?
        .into_iter()
        .find(|r| r.campaign.id == c.id)
        .ok_or_else(|| Error::not_found(ErrorCode::NotFound, "campaign"))
}

/// A record of the open campaign the caller may see (unknown and out of scope look alike).
async fn visible_record(
    state: &AppState,
    who: Who<'_>,
    campaign: &Campaign,
    person: &str,
) -> Result<RecordRow> {
    let not_yours = || {
        Error::not_found(
            ErrorCode::NotFound,
            bilingual(
                "没有该人员，或不在您的范围内",
                "no such person in your scope",
            ),
        )
    };
    let row = state.db.record(person).await?.ok_or_else(not_yours)?;
    if !who.scope(state, campaign).await?.allows(&row.community) {
        return Err(not_yours());
    }
    if row.campaign_id != campaign.id.to_string() {
        return Err(Error::conflict(
            ErrorCode::CampaignClosed,
            bilingual(
                "该记录属于已结束的调查",
                "this record belongs to a closed campaign",
            ),
        ));
    }
    Ok(row)
}

/// The level a caller reviews at: a supervisor the street; the district admin the district, or
/// the street where the campaign has no district level.
fn level_of(who: Who<'_>, levels: Levels) -> Result<Level> {
    match who.role() {
        Role::Supervisor => Ok(Level::Street),
        Role::Admin if levels.district => Ok(Level::District),
        Role::Admin => Ok(Level::Street),
        Role::Worker => Err(forbidden(
            "采集员不能审核记录",
            "a worker does not review records",
        )),
    }
}

/// A reviewer's decision on one record: approve (one level on) or return (with a comment and
/// per-item notes the worker sees on the phone). Audited with the change.
///
/// # Errors
/// The rule's refusal (`not_submitted`, `level_off`, `above_level`,
/// `comment_required`, `unknown_item`, …), an unknown or out-of-scope person, a record of a
/// closed campaign, or a database error.
pub async fn decide(
    state: &AppState,
    who: Who<'_>,
    person: &str,
    decision: Decision,
    comment: Option<String>,
    notes: Notes,
) -> Result<RecordRow> {
    let row = open_row(state).await?;
    let level = level_of(who, row.review_levels)?;
    visible_record(state, who, &row.campaign, person).await?;
    let form = state.form(&row.campaign.form_version).await?;
    let comment = comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let notes: Notes = notes
        .into_iter()
        .map(|(k, v)| (k, v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    review::check_comment(decision, comment.as_deref(), &notes, |k| {
        form.item(k).is_some()
    })
    .map_err(from_refused)?;
    let refusal: Mutex<Option<Refused>> = Mutex::new(None);
    let levels = row.review_levels;
    let result = state
        .db
        .review_step(
            person,
            &who.name(),
            level.key(),
            |r| {
                let submitted = status_of(&r.doc.answers) == Status::Final;
                review::step(levels, level, r.review, submitted, decision).map_err(|e| {
                    let code = e.code.as_str().to_string();
                    *refusal
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                    DbError::Invalid(code)
                })
            },
            comment,
            notes,
        )
        .await;
    match result {
        Ok(r) => {
            state.notify();
            Ok(r)
        }
        Err(e) => Err(refusal
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map_or_else(|| e.into(), from_refused)),
    }
}

/// Records per stage, per community of the caller's scope, and their sum.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stages {
    pub year: i32,
    /// `street`, `street,district` or `district`.
    #[schema(value_type = String)]
    pub levels: Levels,
    pub communities: Vec<StageCounts>,
    pub total: StageCounts,
}

/// The records at each review stage.
///
/// # Errors
/// An unknown year, no campaign, or a database error.
pub async fn stages(state: &AppState, who: Who<'_>, year: Option<i32>) -> Result<Stages> {
    let row = campaign_row(state, year).await?;
    let scope = who.scope(state, &row.campaign).await?;
    let communities = state
        .db
        .stage_counts(&row.campaign.id.to_string(), &scope)
        .await?;
    let mut total = StageCounts {
        community: String::new(),
        ..StageCounts::default()
    };
    for c in &communities {
        total.submitted += c.submitted;
        total.street_approved += c.street_approved;
        total.approved += c.approved;
        total.returned += c.returned;
    }
    Ok(Stages {
        year: row.campaign.year,
        levels: row.review_levels,
        communities,
        total,
    })
}

/// What drawing a sample takes.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct DrawRequest {
    /// Per mille of each community's submitted records (50 = 5 %; 2 = 2‰), 1–1000.
    pub rate_permille: u32,
    /// The seed: the same seed over the same records draws the same sample.
    pub seed: u64,
    /// The agreement rate (percent) below which a community is flagged; default 95.
    #[serde(default)]
    pub threshold_percent: Option<f64>,
}

/// A sample just drawn: how many per community.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Drawn {
    pub drawn: usize,
    pub communities: BTreeMap<String, usize>,
}

fn require_admin(who: Who<'_>) -> Result<()> {
    if who.role() == Role::Admin {
        Ok(())
    } else {
        Err(forbidden(
            "只有区残联管理员可以执行此操作",
            "only the district admin may do this",
        ))
    }
}

/// Draws the district's sample of the open campaign: per community, the rate of its submitted
/// records not sampled yet ([`review::draw_sample`]). Audited.
///
/// # Errors
/// Not the admin, a rate outside 1–1000 or a threshold outside 1–100, no campaign, or a
/// database error.
pub async fn draw(state: &AppState, who: Who<'_>, req: &DrawRequest) -> Result<Drawn> {
    require_admin(who)?;
    if !(1..=1000).contains(&req.rate_permille) {
        return Err(Error::invalid(
            ErrorCode::InvalidRate,
            bilingual(
                "抽查比例应在 1‰ 到 1000‰ 之间",
                "the rate is between 1 and 1000 per mille",
            ),
        ));
    }
    let threshold = req.threshold_percent.unwrap_or(95.0);
    if !(threshold > 0.0 && threshold <= 100.0) {
        return Err(Error::invalid(
            ErrorCode::InvalidThreshold,
            bilingual(
                "一致率阈值应在 1–100 之间（百分比）",
                "the threshold is a percentage between 1 and 100",
            ),
        ));
    }
    let row = open_row(state).await?;
    let campaign = row.campaign.id.to_string();
    let eligible = state.db.sample_eligible(&campaign).await?;
    let mut by_community: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for (id, community, collector) in eligible {
        by_community
            .entry(community)
            .or_default()
            .push((id, collector));
    }
    let mut rows = Vec::new();
    let mut counts = BTreeMap::new();
    for (community, people) in &by_community {
        let ids: Vec<String> = people.iter().map(|(id, _)| id.clone()).collect();
        let chosen = review::draw_sample(community, &ids, req.rate_permille, req.seed);
        counts.insert(community.clone(), chosen.len());
        for id in chosen {
            let collected_by = people
                .iter()
                .find(|(p, _)| *p == id)
                .and_then(|(_, c)| c.clone());
            rows.push(NewSample {
                person_id: id,
                community: community.clone(),
                collected_by,
            });
        }
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let threshold_bp = (threshold * 100.0).round() as u64;
    state
        .db
        .store_sample(
            &campaign,
            &rows,
            req.seed,
            req.rate_permille,
            threshold_bp,
            &who.name(),
        )
        .await?;
    state.notify();
    Ok(Drawn {
        drawn: rows.len(),
        communities: counts,
    })
}

/// Agreement of the checks of one community or one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Agreement {
    /// The community code, or the worker's user name.
    pub key: String,
    pub sampled: u64,
    pub checked: u64,
    pub reached: u64,
    pub confirmed: u64,
    /// Confirmed over reached, in basis points; none before any check reached someone.
    pub agreement_bp: Option<u64>,
    pub threshold_bp: u64,
    /// Below the threshold.
    pub flagged: bool,
}

impl Agreement {
    fn add(&mut self, s: &SampleRow) {
        self.sampled += 1;
        self.threshold_bp = u64::try_from(s.threshold_bp).unwrap_or(review::DEFAULT_THRESHOLD_BP);
        if let Some(c) = &s.check {
            self.checked += 1;
            self.reached += u64::from(c.reached);
            self.confirmed += u64::from(c.confirmed);
        }
        self.agreement_bp = review::agreement_bp(self.reached, self.confirmed);
        self.flagged = self.agreement_bp.is_some_and(|a| a < self.threshold_bp);
    }
}

/// The sample with its checks and the agreement per community and per worker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SampleReport {
    pub year: i32,
    pub samples: Vec<SampleRow>,
    pub communities: Vec<Agreement>,
    pub workers: Vec<Agreement>,
}

/// The sample of a campaign in the caller's scope.
///
/// # Errors
/// A worker, an unknown year, no campaign, or a database error.
pub async fn samples(state: &AppState, who: Who<'_>, year: Option<i32>) -> Result<SampleReport> {
    if who.role() == Role::Worker {
        return Err(forbidden(
            "采集员不能查看抽查",
            "a worker does not see the sample",
        ));
    }
    let row = campaign_row(state, year).await?;
    let scope = who.scope(state, &row.campaign).await?;
    let samples = state
        .db
        .samples(&row.campaign.id.to_string(), &scope)
        .await?;
    let mut communities: BTreeMap<String, Agreement> = BTreeMap::new();
    let mut workers: BTreeMap<String, Agreement> = BTreeMap::new();
    for s in &samples {
        communities
            .entry(s.community.clone())
            .or_insert_with(|| Agreement {
                key: s.community.clone(),
                ..Agreement::default()
            })
            .add(s);
        let w = s.collected_by.clone().unwrap_or_default();
        workers
            .entry(w.clone())
            .or_insert_with(|| Agreement {
                key: w,
                ..Agreement::default()
            })
            .add(s);
    }
    Ok(SampleReport {
        year: row.campaign.year,
        samples,
        communities: communities.into_values().collect(),
        workers: workers.into_values().collect(),
    })
}

/// Records the verification of a sampled record of the open campaign. Audited.
///
/// # Errors
/// Not the admin, a check that breaks its rules, a person not in the sample, or a database
/// error.
pub async fn check(state: &AppState, who: Who<'_>, person: &str, v: &Verification) -> Result<()> {
    require_admin(who)?;
    let row = open_row(state).await?;
    let form = state.form(&row.campaign.form_version).await?;
    let mut v = v.clone();
    v.checker = v.checker.trim().to_string();
    v.note = v.note.trim().to_string();
    v.differing.sort();
    v.differing.dedup();
    v.check(|k| form.item(k).is_some()).map_err(from_refused)?;
    state
        .db
        .record_check(person, &v, &who.name())
        .await
        .map_err(|e| match e {
            DbError::NotFound(_) => Error::not_found(
                ErrorCode::NotSampled,
                bilingual("该人员不在抽查样本中", "this person is not in the sample"),
            ),
            other => other.into(),
        })?;
    state.notify();
    Ok(())
}

/// The outcomes that are follow-up cases, in list order.
#[must_use]
pub fn case_outcomes() -> Vec<Outcome> {
    Outcome::ALL
        .into_iter()
        .filter(|o| review::needs_follow_up(*o))
        .collect()
}

/// The follow-up cases of a campaign in the caller's scope, optionally of one outcome; open
/// cases only with `open_only`. Full ID numbers stay in the row for the admin's export only.
///
/// # Errors
/// A worker, an unknown outcome or year, no campaign, or a database error.
pub async fn cases(
    state: &AppState,
    who: Who<'_>,
    year: Option<i32>,
    outcome: Option<&str>,
    open_only: bool,
) -> Result<Vec<CaseRow>> {
    if who.role() == Role::Worker {
        return Err(forbidden(
            "采集员不能查看后续处理",
            "a worker does not see the follow-up cases",
        ));
    }
    let outcomes: Vec<&str> = match outcome {
        None | Some("") => case_outcomes().into_iter().map(Outcome::key).collect(),
        Some(o) => match Outcome::parse(o).filter(|o| review::needs_follow_up(*o)) {
            Some(o) => vec![o.key()],
            None => {
                return Err(Error::invalid(
                    ErrorCode::InvalidOutcome,
                    bilingual(
                        &format!(
                            "“{o}”不是需要后续处理的调查结果（moved、deregistered、not_found、registered_only）"
                        ),
                        &format!(
                            "{o:?} is not a follow-up outcome (moved, deregistered, not_found, registered_only)"
                        ),
                    ),
                ));
            }
        },
    };
    let row = campaign_row(state, year).await?;
    let scope = who.scope(state, &row.campaign).await?;
    let mut rows = state
        .db
        .follow_up_cases(&row.campaign.id.to_string(), &scope, &outcomes)
        .await?;
    if open_only {
        rows.retain(|r| r.decision.is_none());
    }
    Ok(rows)
}

/// The county office's decision on a case.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CaseRequest {
    pub decision: CaseDecision,
    /// The county the person went to (required for a transfer).
    #[serde(default)]
    pub county: Option<String>,
    /// The day of the decision (YYYY-MM-DD).
    pub decided_on: chrono::NaiveDate,
    #[serde(default)]
    pub note: String,
}

/// Records the decision on a follow-up case of the open campaign. Audited.
///
/// # Errors
/// Not the admin, a person who is not a case, a transfer without a county, a long note, or a
/// database error.
pub async fn decide_case(
    state: &AppState,
    who: Who<'_>,
    person: &str,
    req: &CaseRequest,
) -> Result<()> {
    require_admin(who)?;
    let row = open_row(state).await?;
    let record = visible_record(state, who, &row.campaign, person).await?;
    if !record.final_outcome.is_some_and(review::needs_follow_up) {
        return Err(Error::conflict(
            ErrorCode::NotACase,
            bilingual(
                "只有已提交的 已搬迁、注销、查无此人、空挂户 记录需要后续处理",
                "only submitted records of moved, deregistered, not found or registered-only persons are follow-up cases",
            ),
        ));
    }
    let county = req
        .county
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if req.decision == CaseDecision::Transferred && county.is_none_or(|c| c.chars().count() > 40) {
        return Err(Error::invalid(
            ErrorCode::CountyRequired,
            bilingual(
                "迁出时请填写迁入的区县（最多 40 个字）",
                "name the county the person moved to (at most 40 characters)",
            ),
        ));
    }
    let note = req.note.trim();
    if note.chars().count() > review::COMMENT_MAX {
        return Err(Error::invalid(
            ErrorCode::NoteTooLong,
            bilingual("备注最多 500 个字", "a note takes at most 500 characters"),
        ));
    }
    state
        .db
        .decide_case(
            &row.campaign.id.to_string(),
            person,
            req.decision,
            county.filter(|_| req.decision == CaseDecision::Transferred),
            &req.decided_on.to_string(),
            note,
            &who.name(),
        )
        .await?;
    state.notify();
    Ok(())
}

/// The follow-up cases as a table for the county office (full ID numbers for the admin only).
#[must_use]
pub fn cases_table(rows: &[CaseRow], full_ids: bool) -> Table {
    let header = [
        "调查结果",
        "社区代码",
        "姓名",
        "身份证号",
        "情况说明",
        "处理结果",
        "迁入区县",
        "处理日期",
        "处理说明",
        "处理人",
    ]
    .map(String::from)
    .to_vec();
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                Outcome::parse(&r.outcome)
                    .map_or_else(|| r.outcome.clone(), |o| o.label_zh().to_string()),
                r.community.clone(),
                r.name.clone(),
                if full_ids {
                    r.resident_id.clone()
                } else {
                    r.id_masked.clone()
                },
                r.note.clone(),
                r.decision
                    .map_or("待处理", CaseDecision::label_zh)
                    .to_string(),
                r.county.clone().unwrap_or_default(),
                r.decided_on.clone().unwrap_or_default(),
                r.decision_note.clone().unwrap_or_default(),
                r.decided_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    Table { header, rows }
}

/// A record finalized over a soft check's warning, with the worker's reason if given.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Warned {
    pub person_id: String,
    pub community: String,
    pub name: String,
    pub id_masked: String,
    pub review: doorstep_shared::Review,
    pub collected_by: Option<String>,
    pub warnings: Vec<WarningLine>,
    /// What the worker wrote in 核实说明; none when the warnings stand unexplained.
    pub reason: Option<String>,
}

/// One warning of a record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WarningLine {
    pub check: String,
    pub message_zh: String,
    pub message_en: String,
}

/// The records of a campaign in the caller's scope finalized (and not returned) over a soft
/// check's warning, in community order; only those without a reason with `unexplained`.
///
/// # Errors
/// A worker, an unknown year, no campaign, or a database error.
pub async fn warned(
    state: &AppState,
    who: Who<'_>,
    year: Option<i32>,
    unexplained: bool,
) -> Result<Vec<Warned>> {
    if who.role() == Role::Worker {
        return Err(forbidden(
            "采集员不能查看审核列表",
            "a worker does not see review lists",
        ));
    }
    let row = campaign_row(state, year).await?;
    let scope = who.scope(state, &row.campaign).await?;
    let form = state.form(&row.campaign.form_version).await?;
    let records = state
        .db
        .records(&row.campaign.id.to_string(), &scope, None)
        .await?;
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.final_outcome.is_some()) {
        let ctx = doorstep_shared::form::FormContext::for_person(&r.person, &row.campaign);
        let warnings = checks::warnings(&form, &r.doc.answers, &ctx);
        if warnings.is_empty() {
            continue;
        }
        let reason = checks::reason(&r.doc.answers).map(str::to_string);
        if unexplained && reason.is_some() {
            continue;
        }
        out.push(Warned {
            person_id: r.id.clone(),
            community: r.community.clone(),
            name: r.person.name.clone(),
            id_masked: r.person.resident_id.masked(),
            review: r.review,
            collected_by: r.collected_by.clone(),
            warnings: warnings
                .into_iter()
                .map(|w| WarningLine {
                    check: w.check,
                    message_zh: w.message_zh,
                    message_en: w.message_en,
                })
                .collect(),
            reason,
        });
    }
    Ok(out)
}
