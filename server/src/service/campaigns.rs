//! Campaigns: open (with the carry-over from last year), list, close — the rules of
//! `docs/campaigns.md`, for the CLI (`open-campaign`, `campaigns`, `close-campaign`), the API
//! (`/api/v1/admin/campaigns`) and the console (开启调查).

use doorstep_shared::errors::ErrorCode;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use doorstep_shared::form::FormDefinition;
use doorstep_shared::progress::{Counts, Figures};
use doorstep_shared::review::Levels;
use doorstep_shared::sync::Role;
use doorstep_shared::{Campaign, CampaignState, DivisionCode, domain};

use super::{Error, Result, Who};
use crate::db::{CampaignRow, CarryReport, Db, NewCampaign, Scope};
use crate::state::AppState;

/// What opening a campaign takes; `None` fields take their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpenRequest {
    /// The district's 6-digit division code.
    pub district: String,
    pub district_name: String,
    pub year: i32,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub starts: Option<NaiveDate>,
    #[serde(default)]
    pub ends: Option<NaiveDate>,
    /// Home-visit target in percent (default 95).
    #[serde(default)]
    pub home_visit_target: Option<f64>,
    /// The year whose roster and answers carry over.
    #[serde(default)]
    pub from: Option<i32>,
    /// The review levels: `street` (default), `street,district` or `district` (docs/review.md).
    #[serde(default)]
    pub review_levels: Option<String>,
}

/// A campaign just opened, and what carried over.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Opened {
    pub campaign: CampaignRow,
    pub carry: CarryReport,
    /// The year closed (late edits still accepted) because this one opened.
    pub superseded: Option<i32>,
}

/// A campaign with its figures, for the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    #[serde(flatten)]
    pub campaign: CampaignRow,
    pub figures: Figures,
}

fn bilingual(zh: &str, en: &str) -> String {
    format!("{zh} / {en}")
}

/// Opens a campaign. `by` is the admin opening it (audited).
///
/// # Errors
/// No admin account yet, a bad input, a year that exists already, a `from` year that does not
/// exist, is not older or is another district's; or a database error.
pub async fn open(db: &Db, req: &OpenRequest, by: Who<'_>) -> Result<Opened> {
    require_admin(db).await?;
    let mut new = checked(req)?;
    let open_now = year_free(db, req.year, &new.district).await?;
    let from = carried_from(db, req, &new.district).await?;
    new.review_levels = review_levels(req)?;
    store(
        db,
        req,
        by,
        &new,
        from.as_ref(),
        open_now.map(|o| o.campaign.year),
    )
    .await
}

/// Refuses to open a campaign before the district admin's account exists.
async fn require_admin(db: &Db) -> Result<()> {
    if !db
        .users()
        .await?
        .iter()
        .any(|u| u.role == Role::Admin && u.active)
    {
        return Err(Error::conflict(
            ErrorCode::NoAdmin,
            bilingual(
                "请先创建区残联管理员账号：doorstep-server add-user 用户名 --role admin --name 姓名 --password 密码",
                "create the district admin account first: doorstep-server add-user NAME --role admin --name \"…\" --password …",
            ),
        ));
    }
    Ok(())
}

/// The request's own fields checked (district, name, year, dates, target, title), as the
/// campaign to store with the default review levels and a fresh person-key secret.
fn checked(req: &OpenRequest) -> Result<NewCampaign> {
    let district = DivisionCode::parse(req.district.trim())
        .ok()
        .filter(|d| d.as_str().len() == 6)
        .ok_or_else(|| {
            Error::invalid(
                ErrorCode::InvalidDistrict,
                bilingual(
                    &format!(
                        "区县代码“{}”应为 6 位统计用区划代码，如 430503",
                        req.district
                    ),
                    &format!(
                        "district {:?} must be a 6-digit division code such as 430503",
                        req.district
                    ),
                ),
            )
        })?;
    let district_name = req.district_name.trim().to_string();
    if district_name.is_empty() || district_name.chars().count() > 40 {
        return Err(Error::invalid(
            ErrorCode::InvalidDistrictName,
            bilingual(
                "请填写区县名称（1–40 个字），如 大祥区",
                "give the district's name (1–40 characters), e.g. 大祥区",
            ),
        ));
    }
    if !(2000..=2100).contains(&req.year) {
        return Err(Error::invalid(
            ErrorCode::InvalidYear,
            bilingual(
                &format!("年度 {} 不在 2000–2100 之间", req.year),
                &format!("year {} is not between 2000 and 2100", req.year),
            ),
        ));
    }
    let (dstart, dend) = domain::default_survey_window(req.year).ok_or_else(|| {
        Error::invalid(
            ErrorCode::InvalidYear,
            bilingual("年度无效", "invalid year"),
        )
    })?;
    let starts = req.starts.unwrap_or(dstart);
    let ends = req.ends.unwrap_or(dend);
    if ends < starts {
        return Err(Error::invalid(
            ErrorCode::InvalidDates,
            bilingual(
                &format!("结束日期 {ends} 早于开始日期 {starts}"),
                &format!("the end {ends} is before the start {starts}"),
            ),
        ));
    }
    let target = req.home_visit_target.unwrap_or(95.0);
    if !(target > 0.0 && target <= 100.0) {
        return Err(Error::invalid(
            ErrorCode::InvalidTarget,
            bilingual(
                &format!("入户率目标 {target} 应在 1–100 之间（百分比）"),
                &format!("the home-visit target {target} must be a percentage between 1 and 100"),
            ),
        ));
    }
    let title = req
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map_or_else(
            || domain::default_campaign_title(req.year, &district_name),
            str::to_string,
        );
    if title.chars().count() > 120 {
        return Err(Error::invalid(
            ErrorCode::InvalidTitle,
            bilingual(
                "标题最多 120 个字",
                "the title takes at most 120 characters",
            ),
        ));
    }
    Ok(NewCampaign {
        district,
        district_name,
        year: req.year,
        title,
        starts,
        ends,
        home_visit_target_bp: percent_to_bp(target),
        review_levels: Levels::default(),
        person_keys: doorstep_shared::PersonKeys::random(),
    })
}

/// Refuses a year that exists already, and another district's campaign while one is open;
/// answers the campaign open now (which the new one supersedes).
async fn year_free(db: &Db, year: i32, district: &DivisionCode) -> Result<Option<CampaignRow>> {
    if let Some(c) = db.campaign_by_year(year).await? {
        return Err(Error::conflict(
            ErrorCode::CampaignExists,
            bilingual(
                &format!("{} 年度的调查已存在（{}）", year, c.state.label_zh()),
                &format!(
                    "the {} campaign exists already ({})",
                    year,
                    c.state.label_en()
                ),
            ),
        ));
    }
    let open_now = db.open_campaign_row().await?;
    if let Some(o) = &open_now
        && o.campaign.district != *district
    {
        return Err(Error::conflict(
            ErrorCode::OtherDistrict,
            bilingual(
                &format!("本服务器正在进行 {} 的调查", o.campaign.district),
                &format!(
                    "this server runs the campaign of district {}",
                    o.campaign.district
                ),
            ),
        ));
    }
    Ok(open_now)
}

/// The campaign to carry over from (`from`): one that exists, is older, of the same district.
async fn carried_from(
    db: &Db,
    req: &OpenRequest,
    district: &DivisionCode,
) -> Result<Option<Campaign>> {
    Ok(match req.from {
        None => None,
        Some(y) => {
            let f = db.campaign_by_year(y).await?.ok_or_else(|| {
                Error::not_found(
                    ErrorCode::NoSuchCampaign,
                    bilingual(
                        &format!("没有 {y} 年度的调查可以结转"),
                        &format!("there is no {y} campaign to carry over from"),
                    ),
                )
            })?;
            if y >= req.year || f.campaign.district != *district {
                return Err(Error::invalid(
                    ErrorCode::InvalidFrom,
                    bilingual(
                        &format!("只能从本区更早的年度结转（{y} → {}）", req.year),
                        &format!(
                            "carry over only from an earlier year of the same district ({y} → {})",
                            req.year
                        ),
                    ),
                ));
            }
            Some(f.campaign)
        }
    })
}

/// The review levels asked for; street only by default.
fn review_levels(req: &OpenRequest) -> Result<Levels> {
    Ok(match req.review_levels.as_deref().map(str::trim) {
        None | Some("") => Levels::default(),
        Some(s) => {
            Levels::parse(s).map_err(|m| Error::invalid(ErrorCode::InvalidReviewLevels, m))?
        }
    })
}

/// Stores the campaign (and the carry-over) with its audit entry, and reads it back.
async fn store(
    db: &Db,
    req: &OpenRequest,
    by: Who<'_>,
    new: &NewCampaign,
    from: Option<&Campaign>,
    superseded: Option<i32>,
) -> Result<Opened> {
    let form = FormDefinition::newest();
    let (campaign, carry) = db
        .open_campaign(new, &form, from, &|campaign, carry| {
            by.entry(
                "open_campaign",
                &format!(
                    "{} {} carried {} from {:?}",
                    campaign.year, campaign.id, carry.carried, req.from
                ),
            )
        })
        .await?;
    let row = db
        .campaign_by_year(campaign.year)
        .await?
        .ok_or_else(|| Error::not_found(ErrorCode::NotFound, "campaign vanished"))?;
    Ok(Opened {
        campaign: row,
        carry,
        superseded,
    })
}

/// A percentage with up to two decimals as basis points (95 → 9500, 92.56 → 9256).
fn percent_to_bp(p: f64) -> u64 {
    let bp = (p * 100.0).round();
    if bp.is_finite() && bp >= 0.0 {
        // In 1..=10_000 by the check above.
        bp as u64
    } else {
        0
    }
}

/// Every campaign, newest first, with its figures.
///
/// # Errors
/// A database error.
pub async fn list(db: &Db) -> Result<Vec<Summary>> {
    let mut out = Vec::new();
    for c in db.campaigns().await? {
        let counts: Counts = db
            .progress(&c.campaign.id.to_string(), &Scope::All)
            .await?
            .iter()
            .map(|p| &p.counts)
            .sum();
        out.push(Summary {
            figures: Figures::from(&counts),
            campaign: c,
        });
    }
    Ok(out)
}

/// Closes a year for good: its figures, exports and report stay readable; pushes of its records
/// are refused with `campaign_closed`.
///
/// # Errors
/// No such year, a year closed already, or a database error.
pub async fn close(db: &Db, year: i32, by: Who<'_>) -> Result<CampaignRow> {
    let c = db.campaign_by_year(year).await?.ok_or_else(|| {
        Error::not_found(
            ErrorCode::NoSuchCampaign,
            bilingual(
                &format!("没有 {year} 年度的调查"),
                &format!("there is no {year} campaign"),
            ),
        )
    })?;
    if c.state == CampaignState::Closed {
        return Err(Error::conflict(
            ErrorCode::CampaignClosed,
            bilingual(
                &format!("{year} 年度的调查已关闭"),
                &format!("the {year} campaign is closed already"),
            ),
        ));
    }
    db.close_campaign(
        &c.campaign.id,
        &by.entry("close_campaign", &format!("{year} {}", c.campaign.id)),
    )
    .await?;
    db.campaign_by_year(year)
        .await?
        .ok_or_else(|| Error::not_found(ErrorCode::NotFound, "campaign vanished"))
}

/// The campaign a reading route shows: a given year, or the open one.
///
/// # Errors
/// No such year, or none open (`no_campaign`), or a database error.
pub async fn for_reading(db: &Db, year: Option<i32>) -> Result<Campaign> {
    match year {
        Some(y) => Ok(db
            .campaign_by_year(y)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    ErrorCode::NoSuchCampaign,
                    bilingual(
                        &format!("没有 {y} 年度的调查"),
                        &format!("there is no {y} campaign"),
                    ),
                )
            })?
            .campaign),
        None => db.current_campaign().await?.ok_or_else(no_campaign),
    }
}

/// The refusal when nothing is open.
#[must_use]
pub fn no_campaign() -> Error {
    Error::conflict(
        ErrorCode::NoCampaign,
        bilingual(
            "尚未开启调查：区残联管理员先用 open-campaign 开启本年度调查",
            "no campaign is open; the district admin opens one first (open-campaign)",
        ),
    )
}

/// The state's reading helpers, here (not in `crate::state`) so that the state sits below the
/// service layer.
impl AppState {
    /// The open campaign.
    ///
    /// # Errors
    /// 409 when no campaign is open.
    pub async fn campaign(&self) -> Result<Campaign> {
        for_reading(&self.db, None).await
    }

    /// The campaign a reading route shows: `?year=` or the open one.
    ///
    /// # Errors
    /// 404 for an unknown year, 409 when none is open.
    pub async fn campaign_for(&self, year: Option<i32>) -> Result<Campaign> {
        for_reading(&self.db, year).await
    }

    /// A form definition, cached after the first read.
    ///
    /// # Errors
    /// 404 for an unknown version.
    pub async fn form(&self, version: &str) -> Result<Arc<FormDefinition>> {
        if let Some(f) = self.forms.read().expect("forms lock").get(version) {
            return Ok(f.clone());
        }
        let form = self.db.form(version).await?.ok_or_else(|| {
            Error::not_found(
                ErrorCode::NoSuchForm,
                format!("没有版本为 {version} 的调查表 / no form version {version}"),
            )
        })?;
        let form = Arc::new(form);
        self.forms
            .write()
            .expect("forms lock")
            .insert(version.to_string(), form.clone());
        Ok(form)
    }

    /// Every campaign a push may touch, with its form: the open one and the ended ones.
    ///
    /// # Errors
    /// A database error.
    pub async fn push_campaigns(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::db::PushCampaign>> {
        let mut out = std::collections::HashMap::new();
        for row in self.db.campaigns().await? {
            let form = self.form(&row.campaign.form_version).await?;
            out.insert(
                row.campaign.id.to_string(),
                crate::db::PushCampaign { row, form },
            );
        }
        Ok(out)
    }
}
