//! The figures supervisors live by, from integer counts, exactly as the brief defines them.
//!
//! - completion rate 调查完成率 = persons with a final outcome / persons on the roster;
//! - home-visit rate 入户调查率 = `home_visit` / (`home_visit` + `phone`);
//! - APP collection ratio APP采集比例 = final outcomes captured on the app / final outcomes;
//! - a community is completed when every person on its roster has a final outcome.
//!
//! A percentage is rounded half-up to two decimals; it is held as hundredths of a percent.
//!
//! The answer of `GET /api/v1/progress` ([`Progress`], its rows [`ProgressRow`], the burn-up's
//! [`DayCount`]) is defined here once: the server computes it, the console and the exports show
//! it, the app fetches it and caches it for offline viewing.

use std::fmt;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::domain::{Campaign, Outcome};
use crate::place::DivisionCode;

/// A ratio of two counts. Its percentage is rounded half-up to two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub num: u64,
    pub den: u64,
}

impl Rate {
    #[must_use]
    pub fn new(num: u64, den: u64) -> Self {
        Self { num, den }
    }

    /// Hundredths of a percent, rounded half-up (`9256` means 92.56 %); `None` when nothing to
    /// divide by.
    #[must_use]
    pub fn basis_points(self) -> Option<u64> {
        if self.den == 0 {
            return None;
        }
        let n = u128::from(self.num) * 10_000 * 2 + u128::from(self.den);
        let d = 2 * u128::from(self.den);
        u64::try_from(n / d).ok()
    }

    /// The percentage as a float, for charts only (the figures themselves use [`Rate::basis_points`]).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn percent(self) -> Option<f64> {
        self.basis_points().map(|b| b as f64 / 100.0)
    }

    /// Whether the rate reaches a target given in hundredths of a percent (9500 = 95 %).
    #[must_use]
    pub fn meets(self, target_bp: u64) -> bool {
        self.basis_points().is_some_and(|b| b >= target_bp)
    }
}

impl fmt::Display for Rate {
    /// `92.56%`, or `—` when the denominator is zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.basis_points() {
            Some(b) => write!(f, "{}.{:02}%", b / 100, b % 100),
            None => f.write_str("—"),
        }
    }
}

/// Counts for one community, or summed over a street, district or province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Persons on the roster.
    pub roster: u64,
    /// Persons with each final outcome, indexed by [`Outcome::index`].
    pub outcomes: [u64; 7],
    /// Final outcomes captured on the mobile app.
    pub via_app: u64,
    /// Communities summed into these counts.
    pub communities: u64,
    /// Communities whose every person has a final outcome.
    pub communities_completed: u64,
    /// Persons whose record is marked keyed into the national system (the hand-over).
    #[serde(default)]
    pub keyed: u64,
}

impl Counts {
    /// Counts for a single community.
    #[must_use]
    pub fn community(roster: u64, outcomes: [u64; 7], via_app: u64) -> Self {
        let mut c = Self {
            roster,
            outcomes,
            via_app,
            communities: 1,
            communities_completed: 0,
            keyed: 0,
        };
        c.communities_completed = u64::from(c.done() == roster);
        c
    }

    #[must_use]
    pub fn count(&self, o: Outcome) -> u64 {
        self.outcomes[o.index()]
    }

    /// Persons with a final outcome.
    #[must_use]
    pub fn done(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Persons still without a final outcome.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.roster.saturating_sub(self.done())
    }

    #[must_use]
    pub fn completion_rate(&self) -> Rate {
        Rate::new(self.done(), self.roster)
    }

    #[must_use]
    pub fn home_visit_rate(&self) -> Rate {
        let h = self.count(Outcome::HomeVisit);
        Rate::new(h, h + self.count(Outcome::Phone))
    }

    #[must_use]
    pub fn app_ratio(&self) -> Rate {
        Rate::new(self.via_app, self.done())
    }

    #[must_use]
    pub fn community_completion(&self) -> Rate {
        Rate::new(self.communities_completed, self.communities)
    }

    /// Moves one person from one final state to another (either may be none); `via_app` says
    /// whether that final outcome was captured on the app.
    pub fn shift(&mut self, old: Option<(Outcome, bool)>, new: Option<(Outcome, bool)>) {
        if let Some((o, app)) = old {
            self.outcomes[o.index()] -= 1;
            self.via_app -= u64::from(app);
        }
        if let Some((o, app)) = new {
            self.outcomes[o.index()] += 1;
            self.via_app += u64::from(app);
        }
        if self.communities == 1 {
            self.communities_completed = u64::from(self.done() == self.roster);
        }
    }
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        self.roster += o.roster;
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a += b;
        }
        self.via_app += o.via_app;
        self.communities += o.communities;
        self.communities_completed += o.communities_completed;
        self.keyed += o.keyed;
    }
}

impl<'a> std::iter::Sum<&'a Counts> for Counts {
    fn sum<I: Iterator<Item = &'a Counts>>(iter: I) -> Self {
        let mut t = Counts::default();
        for c in iter {
            t += c;
        }
        t
    }
}

/// The figures of one row of a progress table, ready to serialise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    pub roster: u64,
    pub done: u64,
    pub outcomes: [u64; 7],
    pub via_app: u64,
    pub communities: u64,
    pub communities_completed: u64,
    /// Records marked keyed into the national system.
    #[serde(default)]
    pub keyed: u64,
    /// Hundredths of a percent; `None` when undefined.
    pub completion_bp: Option<u64>,
    pub home_visit_bp: Option<u64>,
    pub app_bp: Option<u64>,
}

impl From<&Counts> for Figures {
    fn from(c: &Counts) -> Self {
        Self {
            roster: c.roster,
            done: c.done(),
            outcomes: c.outcomes,
            via_app: c.via_app,
            communities: c.communities,
            communities_completed: c.communities_completed,
            keyed: c.keyed,
            completion_bp: c.completion_rate().basis_points(),
            home_visit_bp: c.home_visit_rate().basis_points(),
            app_bp: c.app_ratio().basis_points(),
        }
    }
}

/// One row of the progress table: a community, or a street summed over its communities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressRow {
    /// The community's code (a street row: the street's).
    pub code: DivisionCode,
    pub name: String,
    /// The street (township) the community lies in; a street row's is its own code.
    pub street_code: DivisionCode,
    pub street_name: String,
    pub figures: Figures,
    /// The last change in the community (a street: in any of its communities), milliseconds
    /// since the epoch.
    pub last_activity: Option<i64>,
    /// Persons a straight line from campaign start to end expects done by today: per community
    /// from its roster; for a street or the district, the sum over its communities (so the
    /// figures add up wherever they are shown).
    pub expected_by_today: u64,
}

/// Net completions on one day (campaign time, `YYYY-MM-DD`), for the burn-up chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayCount {
    pub day: String,
    pub n: i64,
}

/// The progress of a campaign within the caller's scope (`GET /api/v1/progress`): the total,
/// a row per street and per community, the daily burn-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    pub campaign: Campaign,
    pub total: Figures,
    /// The sum of the communities' `expected_by_today`.
    pub expected_by_today: u64,
    pub streets: Vec<ProgressRow>,
    pub communities: Vec<ProgressRow>,
    pub daily: Vec<DayCount>,
}

/// Formats hundredths of a percent as `92.56%` (or `—`).
#[must_use]
pub fn format_bp(bp: Option<u64>) -> String {
    bp.map_or_else(|| "—".into(), |b| format!("{}.{:02}%", b / 100, b % 100))
}

/// The annual-report paragraph (年度绩效报告) for a district's campaign.
#[must_use]
pub fn report_paragraph(district: &str, year: i32, c: &Counts) -> String {
    let counts: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!("{}{}人", o.label_zh(), c.count(*o)))
        .collect();
    format!(
        "{year}年，{district}共完成{done}名持证残疾人基本服务状况和需求信息数据动态更新（底册{roster}人），\
         调查完成率{completion}；其中{counts}；入户调查率{home}，APP采集比例{app}；\
         {communities}个社区（村）中已完成{completed}个（{community_rate}）。",
        done = c.done(),
        roster = c.roster,
        completion = c.completion_rate(),
        counts = counts.join("，"),
        home = c.home_visit_rate(),
        app = c.app_ratio(),
        communities = c.communities,
        completed = c.communities_completed,
        community_rate = c.community_completion(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn briefs_worked_example() {
        let mut c = Counts::community(7000, [0; 7], 0);
        c.outcomes[Outcome::HomeVisit.index()] = 5981;
        c.outcomes[Outcome::Phone.index()] = 481;
        assert_eq!(c.home_visit_rate().basis_points(), Some(9256));
        assert_eq!(c.home_visit_rate().to_string(), "92.56%");
    }

    #[test]
    fn rounds_half_up_at_the_boundary() {
        // 1/8 = 12.5 % exactly; 1/16 = 6.25 %; 1/32 = 3.125 % → 3.13 %; 1/64 = 1.5625 % → 1.56 %.
        assert_eq!(Rate::new(1, 32).basis_points(), Some(313));
        assert_eq!(Rate::new(1, 64).basis_points(), Some(156));
        assert_eq!(Rate::new(1, 16).to_string(), "6.25%");
        // 1/80000 = 0.00125 % → 0.00 %; 1/20000 = 0.005 % → 0.01 % (half-up, not banker's).
        assert_eq!(Rate::new(1, 80_000).basis_points(), Some(0));
        assert_eq!(Rate::new(1, 20_000).basis_points(), Some(1));
        assert_eq!(Rate::new(3, 40_000).basis_points(), Some(1));
        assert_eq!(Rate::new(5, 40_000).basis_points(), Some(1));
        assert_eq!(Rate::new(0, 0).to_string(), "—");
        assert!(Rate::new(95, 100).meets(9500) && !Rate::new(949, 1000).meets(9500));
    }

    #[test]
    fn shift_moves_counts_and_completion() {
        let mut c = Counts::community(2, [0; 7], 0);
        assert_eq!(c.communities_completed, 0);
        c.shift(None, Some((Outcome::HomeVisit, true)));
        c.shift(None, Some((Outcome::Moved, false)));
        assert_eq!(c.communities_completed, 1);
        assert_eq!(c.app_ratio().to_string(), "50.00%");
        c.shift(Some((Outcome::Moved, false)), None);
        assert_eq!((c.done(), c.communities_completed), (1, 0));
        let total: Counts = [c, Counts::community(3, [3, 0, 0, 0, 0, 0, 0], 3)]
            .iter()
            .sum();
        assert_eq!(
            (total.roster, total.communities, total.communities_completed),
            (5, 2, 1)
        );
        assert_eq!(total.community_completion().to_string(), "50.00%");
    }

    #[test]
    fn a_progress_row_keeps_its_wire_shape() {
        let row = ProgressRow {
            code: DivisionCode::parse("430503001001").unwrap(),
            name: "北旗社区".into(),
            street_code: DivisionCode::parse("430503001").unwrap(),
            street_name: "城南街道".into(),
            figures: Figures::from(&Counts::community(20, [5, 1, 0, 0, 0, 0, 0], 6)),
            last_activity: None,
            expected_by_today: 12,
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["code"], "430503001001", "codes are plain strings");
        assert_eq!(json["street_code"], "430503001");
        assert_eq!(json["figures"]["done"], 6);
        assert_eq!(serde_json::from_value::<ProgressRow>(json).unwrap(), row);
        let bad = serde_json::json!({"code": "", "name": "", "street_code": "430503001",
            "street_name": "", "figures": serde_json::to_value(&row.figures).unwrap(),
            "last_activity": null, "expected_by_today": 0});
        assert!(serde_json::from_value::<ProgressRow>(bad).is_err());
    }

    #[test]
    fn report_paragraph_has_the_figures() {
        let c = Counts::community(10, [8, 1, 1, 0, 0, 0, 0], 9);
        let p = report_paragraph("大祥区", 2021, &c);
        assert!(p.contains("完成10名"), "{p}");
        assert!(p.contains("调查完成率100.00%"));
        assert!(p.contains("入户调查率88.89%"));
        assert!(p.contains("APP采集比例90.00%"));
        assert!(p.contains("查无此人1人"));
    }
}
