//! Figures per community, street and district of a campaign, the daily burn-up, and the
//! annual-report paragraph — for the API, the console and the exports alike. The answer's
//! types ([`Progress`], [`ProgressRow`]) are the app's too, in `doorstep_shared::progress`.

use chrono::NaiveDate;

use doorstep_shared::Campaign;
use doorstep_shared::progress::{Counts, Figures, Progress, ProgressRow, report_paragraph};

use super::Result;
use crate::auth::Caller;
use crate::db::{CommunityProgress, Db, Scope};
use crate::state::AppState;

/// Share of the campaign elapsed on `today`, in ten-thousandths.
fn elapsed_share(c: &Campaign, today: NaiveDate) -> u64 {
    let total = (c.ends - c.starts).num_days().max(1);
    let done = (today - c.starts).num_days().clamp(0, total);
    u64::try_from(done * 10_000 / total).unwrap_or(0)
}

/// Persons expected done by a share of the campaign, rounded half up.
fn expected(roster: u64, share: u64) -> u64 {
    (roster * share + 5_000) / 10_000
}

fn row(p: &CommunityProgress, expected_by_today: u64) -> ProgressRow {
    ProgressRow {
        code: p.code.clone(),
        name: p.name.clone(),
        street_code: p.street_code.clone(),
        street_name: p.street_name.clone(),
        figures: Figures::from(&p.counts),
        last_activity: p.last_activity,
        expected_by_today,
    }
}

/// The progress view of a campaign within a scope: O(communities).
///
/// # Errors
/// A database error.
pub async fn compute(db: &Db, campaign: &Campaign, scope: &Scope) -> Result<(Progress, Counts)> {
    let communities = db.progress(&campaign.id.to_string(), scope).await?;
    let share = elapsed_share(
        campaign,
        doorstep_shared::domain::campaign_time(chrono::Utc::now()).date_naive(),
    );
    let total: Counts = communities.iter().map(|c| &c.counts).sum();
    let community_rows: Vec<ProgressRow> = communities
        .iter()
        .map(|c| row(c, expected(c.counts.roster, share)))
        .collect();
    let mut streets: Vec<(CommunityProgress, u64)> = Vec::new();
    for (c, r) in communities.iter().zip(&community_rows) {
        match streets.last_mut() {
            Some((s, e)) if s.code == c.street_code => {
                s.counts += &c.counts;
                s.last_activity = s.last_activity.max(c.last_activity);
                *e += r.expected_by_today;
            }
            _ => streets.push((
                CommunityProgress {
                    code: c.street_code.clone(),
                    name: c.street_name.clone(),
                    street_code: c.street_code.clone(),
                    street_name: c.street_name.clone(),
                    counts: c.counts,
                    last_activity: c.last_activity,
                },
                r.expected_by_today,
            )),
        }
    }
    let area = match scope {
        Scope::Area(p) => doorstep_shared::DivisionCode::parse(p).ok(),
        _ => None,
    };
    let daily = db.daily(&campaign.id.to_string(), area.as_ref()).await?;
    Ok((
        Progress {
            total: Figures::from(&total),
            expected_by_today: community_rows.iter().map(|r| r.expected_by_today).sum(),
            streets: streets.iter().map(|(s, e)| row(s, *e)).collect(),
            communities: community_rows,
            daily,
            campaign: campaign.clone(),
        },
        total,
    ))
}

/// The annual-report paragraph of a campaign within a scope, naming the district by its name.
///
/// # Errors
/// A database error.
pub async fn report(db: &Db, campaign: &Campaign, scope: &Scope) -> Result<String> {
    let (_, total) = compute(db, campaign, scope).await?;
    let district = if campaign.district_name.is_empty() {
        db.place_name(campaign.district.as_str())
            .await?
            .unwrap_or_else(|| campaign.district.to_string())
    } else {
        campaign.district_name.clone()
    };
    Ok(report_paragraph(&district, campaign.year, &total))
}

/// The progress view for a caller's scope, of the open campaign or a given year.
///
/// # Errors
/// No such campaign, or a database error.
pub async fn for_caller(
    state: &AppState,
    caller: &Caller,
    year: Option<i32>,
) -> Result<(Progress, Counts)> {
    let campaign = state.campaign_for(year).await?;
    let scope = caller.scope(state, &campaign).await?;
    compute(&state.db, &campaign, &scope).await
}
