//! Progress counters per community, moved in the same transaction as every record change, so a
//! progress read costs O(communities), never O(persons).

use std::collections::BTreeMap;

use doorstep_shared::progress::{Counts, DayCount};
use doorstep_shared::{DivisionCode, Outcome};

use super::Scope;
use super::{Backend, Db, DbError, DbResult, WriteTx, placeholders};

const OUTCOME_COLS: &str =
    "home_visit, phone, not_found, moved, registered_only, away, deregistered";

/// One community's counters with its names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommunityProgress {
    pub code: DivisionCode,
    pub name: String,
    /// The community's parent place (its street); the first nine digits of its code when the
    /// parent is not a division code.
    pub street_code: DivisionCode,
    pub street_name: String,
    pub counts: Counts,
    pub last_activity: Option<i64>,
}

/// Changes to the counters collected while a transaction changes rows.
#[derive(Debug, Default)]
pub(crate) struct ProgressDelta {
    by_community: BTreeMap<String, (Vec<(Option<(Outcome, bool)>, Option<(Outcome, bool)>)>, i64)>,
}

impl ProgressDelta {
    pub(crate) fn record(
        &mut self,
        community: &str,
        old: Option<(Outcome, bool)>,
        new: Option<(Outcome, bool)>,
        at: i64,
    ) {
        let e = self.by_community.entry(community.to_string()).or_default();
        if old != new {
            e.0.push((old, new));
        }
        e.1 = e.1.max(at);
    }

    pub(crate) async fn apply(self, tx: &mut WriteTx<'_>, campaign: &str) -> DbResult<()> {
        if self.by_community.is_empty() {
            return Ok(());
        }
        // Only communities whose counts move are read (an edit of a final record moves none).
        let codes: Vec<&String> = self
            .by_community
            .iter()
            .filter(|(_, (shifts, _))| !shifts.is_empty())
            .map(|(c, _)| c)
            .collect();
        let mut current: BTreeMap<String, Counts> = BTreeMap::new();
        for chunk in codes.chunks(400) {
            let sql = format!(
                "SELECT community, roster, {OUTCOME_COLS}, via_app FROM community_progress \
                 WHERE campaign_id = $1 AND community IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q =
                sqlx::query_as::<_, CountsRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
            for c in chunk {
                q = q.bind((*c).clone());
            }
            for r in q.fetch_all(&mut *tx.tx).await? {
                let counts = r.counts();
                current.insert(r.community, counts);
            }
        }
        let day = doorstep_shared::domain::campaign_time(chrono::Utc::now())
            .format("%Y-%m-%d")
            .to_string();
        // Communities whose counts stay (edits of records that were and stay counted alike)
        // only move their last activity: one statement for all of them.
        let mut idle: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (community, (shifts, at)) in self.by_community {
            if shifts.is_empty() {
                idle.entry(at).or_default().push(community);
                continue;
            }
            let mut c = current
                .remove(&community)
                .ok_or_else(|| DbError::Corrupt(format!("no progress row for {community}")))?;
            let done_before = c.done();
            for (old, new) in shifts {
                c.shift(old, new);
            }
            let net =
                i64::try_from(c.done()).unwrap_or(0) - i64::try_from(done_before).unwrap_or(0);
            let o = c.outcomes.map(|n| i64::try_from(n).unwrap_or(0));
            sqlx::query(
                "UPDATE community_progress SET home_visit = $1, phone = $2, not_found = $3, moved = $4, \
                 registered_only = $5, away = $6, deregistered = $7, via_app = $8, last_activity = $9 \
                 WHERE campaign_id = $10 AND community = $11",
            )
            .bind(o[0])
            .bind(o[1])
            .bind(o[2])
            .bind(o[3])
            .bind(o[4])
            .bind(o[5])
            .bind(o[6])
            .bind(i64::try_from(c.via_app).unwrap_or(0))
            .bind(at)
            .bind(campaign.to_string())
            .bind(community.clone())
            .execute(&mut *tx.tx)
            .await?;
            if net != 0 {
                sqlx::query(
                    "INSERT INTO daily_completions (campaign_id, community, day, n) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (campaign_id, community, day) DO UPDATE SET n = daily_completions.n + excluded.n",
                )
                .bind(campaign.to_string())
                .bind(community)
                .bind(day.clone())
                .bind(net)
                .execute(&mut *tx.tx)
                .await?;
            }
        }
        for (at, communities) in idle {
            for chunk in communities.chunks(400) {
                let sql = format!(
                    "UPDATE{} community_progress SET last_activity = $1 \
                     WHERE campaign_id = $2 AND community IN ({})",
                    tx.or_fail(),
                    placeholders(3, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(at)
                    .bind(campaign.to_string());
                for c in chunk {
                    q = q.bind(c.clone());
                }
                q.execute(&mut *tx.tx).await?;
            }
        }
        Ok(())
    }
}

/// A `community_progress` row's counters (`community, roster, {OUTCOME_COLS}, via_app`).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct CountsRow {
    community: String,
    roster: i64,
    home_visit: i64,
    phone: i64,
    not_found: i64,
    moved: i64,
    registered_only: i64,
    away: i64,
    deregistered: i64,
    via_app: i64,
}

impl CountsRow {
    fn counts(&self) -> Counts {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        // In the order of `Outcome::ALL` (the columns named by `Outcome::key`).
        let by_outcome = [
            self.home_visit,
            self.phone,
            self.not_found,
            self.moved,
            self.registered_only,
            self.away,
            self.deregistered,
        ];
        let mut outcomes = [0u64; 7];
        for (o, v) in Outcome::ALL.into_iter().zip(by_outcome) {
            outcomes[o.index()] = n(v);
        }
        Counts::community(n(self.roster), outcomes, n(self.via_app))
    }
}

/// One community's row of [`Db::progress`]: its counters and names. SQLite sends it as a JSON
/// array (the counters an array inside it), PostgreSQL as a row; both in this order.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct ProgressRow {
    #[sqlx(flatten)]
    counters: CountsRow,
    last_activity: Option<i64>,
    name: String,
    parent: Option<String>,
    street_name: Option<String>,
}

/// Net completions of one day ([`Db::daily`]).
#[derive(sqlx::FromRow)]
struct DayCountRow {
    day: String,
    n: i64,
}

impl Db {
    /// Every community's counters within a scope, with community and street names, in the order
    /// of the communities' codes.
    ///
    /// # Errors
    /// A database error.
    pub async fn progress(
        &self,
        campaign: &str,
        scope: &Scope,
    ) -> DbResult<Vec<CommunityProgress>> {
        let (cond, arg) = scope.sql("cp", 2);
        // The columns of `ProgressRow`, in its order: its counters, then the rest but for the
        // last (`s.name`).
        const COUNTERS: &str = "cp.community, cp.roster, cp.home_visit, cp.phone, cp.not_found, \
                                cp.moved, cp.registered_only, cp.away, cp.deregistered, cp.via_app";
        const REST: &str = "cp.last_activity, c.name, c.parent";
        let from = format!(
            "FROM community_progress cp JOIN places c ON c.code = cp.community \
             LEFT JOIN places s ON s.code = c.parent WHERE cp.campaign_id = $1 {cond}"
        );
        // A province has 15,000 communities. SQLite hands each row from its worker thread, which
        // costs more than the query, so its rows come back as one JSON array in one row.
        // PostgreSQL streams the rows while the server reads them; a sort there would hold them
        // back until the last one, and building JSON costs it more than sending, so they come as
        // rows in any order and are sorted here.
        let mut rows: Vec<ProgressRow> = match self.backend {
            Backend::Sqlite => {
                let sql = format!(
                    "SELECT json_group_array(json(r)) AS rows FROM \
                     (SELECT json_array(json_array({COUNTERS}), {REST}, s.name) AS r {from} \
                     ORDER BY cp.community)"
                );
                let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .bind(campaign.to_string());
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                serde_json::from_str(&q.fetch_one(&self.pool).await?)?
            }
            Backend::Postgres => {
                let sql = format!("SELECT {COUNTERS}, {REST}, s.name AS street_name {from}");
                let mut q = sqlx::query_as::<_, ProgressRow>(sqlx::AssertSqlSafe(sql))
                    .bind(campaign.to_string());
                if let Some(a) = arg {
                    q = q.bind(a);
                }
                q.fetch_all(&self.pool).await?
            }
        };
        rows.sort_unstable_by(|a, b| a.counters.community.cmp(&b.counters.community));
        let keyed = self.keyed_counts(campaign, scope).await?;
        rows.into_iter()
            .map(|r| {
                // Persons' communities are written from division codes, so they parse.
                let community = &r.counters.community;
                let code = DivisionCode::parse(community).map_err(|_| {
                    DbError::Corrupt(format!("progress row of a community {community:?}"))
                })?;
                let street_code = r
                    .parent
                    .as_deref()
                    .and_then(|p| DivisionCode::parse(p).ok())
                    .or_else(|| code.township().and_then(|t| DivisionCode::parse(t).ok()))
                    .unwrap_or_else(|| code.clone());
                let mut counts = r.counters.counts();
                counts.keyed = keyed.get(community).copied().unwrap_or(0);
                Ok(CommunityProgress {
                    code,
                    name: r.name,
                    street_code,
                    street_name: r.street_name.unwrap_or_default(),
                    counts,
                    last_activity: r.last_activity,
                })
            })
            .collect()
    }

    /// Net completions per day over the whole campaign (or one area).
    ///
    /// # Errors
    /// A database error.
    pub async fn daily(
        &self,
        campaign: &str,
        area: Option<&DivisionCode>,
    ) -> DbResult<Vec<DayCount>> {
        let rows = sqlx::query_as::<_, DayCountRow>(
            "SELECT day, CAST(SUM(n) AS BIGINT) AS n FROM daily_completions WHERE campaign_id = $1 AND community LIKE $2 \
             GROUP BY day ORDER BY day",
        )
        .bind(campaign.to_string())
        .bind(format!("{}%", area.map_or("", DivisionCode::as_str)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DayCount { day: r.day, n: r.n })
            .collect())
    }
}
