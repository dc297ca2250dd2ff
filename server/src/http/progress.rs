//! `GET /api/v1/progress`: figures per community, street and district, the daily burn-up, and
//! the annual-report paragraph.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Serialize;

use doorstep_shared::Campaign;
use doorstep_shared::progress::{Counts, Figures, report_paragraph};

use super::auth::Caller;
use super::error::ApiResult;
use crate::db::{CommunityProgress, DayCount};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub code: String,
    pub name: String,
    pub street_code: String,
    pub street_name: String,
    pub figures: Figures,
    pub last_activity: Option<i64>,
    /// Persons a straight line from campaign start to end expects done by today.
    pub expected_by_today: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub campaign: Campaign,
    pub total: Figures,
    pub streets: Vec<Row>,
    pub communities: Vec<Row>,
    pub daily: Vec<DayCount>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/progress", get(progress))
        .route("/api/v1/report", get(report))
}

/// Share of the campaign elapsed on `today`, in ten-thousandths.
fn elapsed_share(c: &Campaign, today: NaiveDate) -> u64 {
    let total = (c.ends - c.starts).num_days().max(1);
    let done = (today - c.starts).num_days().clamp(0, total);
    u64::try_from(done * 10_000 / total).unwrap_or(0)
}

fn row(p: &CommunityProgress, share: u64) -> Row {
    Row {
        code: p.code.clone(),
        name: p.name.clone(),
        street_code: p.street_code.clone(),
        street_name: p.street_name.clone(),
        figures: Figures::from(&p.counts),
        last_activity: p.last_activity,
        expected_by_today: p.counts.roster * share / 10_000,
    }
}

/// The whole progress view for a caller's scope: O(communities).
///
/// # Errors
/// No open campaign, or a database error.
pub async fn compute(state: &AppState, caller: &Caller) -> ApiResult<(Progress, Counts)> {
    let campaign = state.campaign().await?;
    let scope = caller.scope(state, &campaign).await?;
    let communities = state.db.progress(&campaign.id.to_string(), &scope).await?;
    let share = elapsed_share(&campaign, chrono::Utc::now().date_naive());
    let total: Counts = communities.iter().map(|c| &c.counts).sum();
    let mut streets: Vec<CommunityProgress> = Vec::new();
    for c in &communities {
        match streets.last_mut() {
            Some(s) if s.code == c.street_code => {
                s.counts += &c.counts;
                s.last_activity = s.last_activity.max(c.last_activity);
            }
            _ => streets.push(CommunityProgress {
                code: c.street_code.clone(),
                name: c.street_name.clone(),
                street_code: c.street_code.clone(),
                street_name: c.street_name.clone(),
                counts: c.counts,
                last_activity: c.last_activity,
            }),
        }
    }
    let area = match &scope {
        crate::db::Scope::Area(p) => doorstep_shared::DivisionCode::parse(p).ok(),
        _ => None,
    };
    let daily = state
        .db
        .daily(&campaign.id.to_string(), area.as_ref())
        .await?;
    Ok((
        Progress {
            total: Figures::from(&total),
            streets: streets.iter().map(|s| row(s, share)).collect(),
            communities: communities.iter().map(|c| row(c, share)).collect(),
            daily,
            campaign,
        },
        total,
    ))
}

async fn progress(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Progress>> {
    Ok(Json(compute(&state, &caller).await?.0))
}

#[derive(Serialize)]
struct Report {
    paragraph: String,
}

async fn report(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Report>> {
    let (p, total) = compute(&state, &caller).await?;
    let district = state
        .db
        .place_name(p.campaign.district.as_str())
        .await?
        .unwrap_or_else(|| p.campaign.district.to_string());
    Ok(Json(Report {
        paragraph: report_paragraph(&district, p.campaign.year, &total),
    }))
}
