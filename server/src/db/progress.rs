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
#[derive(sqlx::FromRow)]
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

/// Net completions of one day ([`Db::daily`]).
#[derive(sqlx::FromRow)]
struct DayCountRow {
    day: String,
    n: i64,
}

impl Db {
    /// Every community's counters within a scope, with community and street names.
    ///
    /// # Errors
    /// A database error.
    pub async fn progress(
        &self,
        campaign: &str,
        scope: &Scope,
    ) -> DbResult<Vec<CommunityProgress>> {
        let (cond, arg) = scope.sql("cp", 2);
        // The rows come back as one JSON array in one row: a province has 15,000 communities,
        // and handing each row through the driver costs more than the query itself.
        const ROW: &str = "cp.community, cp.roster, cp.home_visit, cp.phone, cp.not_found, cp.moved, \
                           cp.registered_only, cp.away, cp.deregistered, cp.via_app, cp.last_activity, \
                           c.name, c.parent, s.name";
        let from = format!(
            "FROM community_progress cp JOIN places c ON c.code = cp.community \
             LEFT JOIN places s ON s.code = c.parent WHERE cp.campaign_id = $1 {cond}"
        );
        let sql = match self.backend {
            Backend::Sqlite => format!(
                "SELECT json_group_array(json(r)) AS rows FROM \
                 (SELECT json_array({ROW}) AS r {from} ORDER BY cp.community)"
            ),
            Backend::Postgres => format!(
                "SELECT COALESCE(json_agg(json_build_array({ROW}) ORDER BY cp.community), '[]')::text AS rows {from}"
            ),
        };
        let mut q =
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let text = q.fetch_one(&self.pool).await?;
        let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&text)?;
        let keyed = self.keyed_counts(campaign, scope).await?;
        rows.into_iter()
            .map(|a| {
                let n = |i: usize| a.get(i).and_then(serde_json::Value::as_u64).unwrap_or(0);
                let text = |i: usize| {
                    a.get(i)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let raw = text(0);
                // Persons' communities are written from division codes, so they parse.
                let code = DivisionCode::parse(&raw).map_err(|_| {
                    DbError::Corrupt(format!("progress row of a community {raw:?}"))
                })?;
                let street_code = DivisionCode::parse(&text(12))
                    .ok()
                    .or_else(|| code.township().and_then(|t| DivisionCode::parse(t).ok()))
                    .unwrap_or_else(|| code.clone());
                let mut counts =
                    Counts::community(n(1), [n(2), n(3), n(4), n(5), n(6), n(7), n(8)], n(9));
                counts.keyed = keyed.get(&raw).copied().unwrap_or(0);
                Ok(CommunityProgress {
                    code,
                    name: text(11),
                    street_code,
                    street_name: text(13),
                    counts,
                    last_activity: a.get(10).and_then(serde_json::Value::as_i64),
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
