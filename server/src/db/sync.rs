//! Push (idempotent, merged item by item, one transaction a batch) and pull (by cursor, in scope).

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use doorstep_shared::domain::{STATUS, status_of};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::merge::{self, ItemOutcome, Writer};
use doorstep_shared::sync::{Mutation, MutationResult, MutationStatus, RecordState};
use doorstep_shared::{Campaign, Review, Status, Value};

use super::records::{ROW_COLS, RecordRow, load_rows, row_from, save_rows};
use super::{Db, DbResult, now_ms, placeholders};

/// Which communities a caller may read and write.
#[derive(Debug, Clone)]
pub enum Scope {
    /// The district admin: everything.
    All,
    /// A supervisor: every community under a division code (a street, or the district).
    Area(String),
    /// A worker: the communities assigned now.
    Worker {
        user_id: String,
        communities: HashSet<String>,
    },
}

impl Scope {
    #[must_use]
    pub fn allows(&self, community: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Area(p) => community.starts_with(p.as_str()),
            Scope::Worker { communities, .. } => communities.contains(community),
        }
    }

    /// An SQL condition (starting with `AND`) on `{table}.community`, using placeholder `$n`,
    /// and its argument. `table` is a table of `campaign_id, community` rows (`persons`,
    /// `community_progress`) or its alias.
    #[must_use]
    pub fn sql(&self, table: &str, n: usize) -> (String, Option<String>) {
        match self {
            Scope::All => (String::new(), None),
            Scope::Area(p) => (
                format!("AND {table}.community LIKE ${n}"),
                Some(format!("{p}%")),
            ),
            Scope::Worker { user_id, .. } => (
                format!(
                    "AND {table}.community IN (SELECT a.community FROM assignments a \
                     WHERE a.campaign_id = {table}.campaign_id AND a.user_id = ${n})"
                ),
                Some(user_id.clone()),
            ),
        }
    }
}

/// Who is pushing.
#[derive(Debug, Clone)]
pub struct Pusher {
    pub user_id: String,
    pub username: String,
    pub rank: u8,
    pub device_id: Option<uuid::Uuid>,
    pub via_app: bool,
    pub scope: Scope,
    /// Communities once assigned to this worker in the campaign (late edits still accepted).
    pub history: HashSet<String>,
}

fn rejected(m: &Mutation, code: &str, message: String) -> MutationResult {
    MutationResult {
        id: m.id,
        status: MutationStatus::Rejected,
        version: 0,
        items: Default::default(),
        reassigned: false,
        code: Some(code.into()),
        message: Some(message),
    }
}

/// Checks a mutation's items against the form: known items, values of the right shape.
fn check_items(m: &Mutation, form: &FormDefinition) -> Result<(), String> {
    for (key, change) in &m.changes {
        if key == STATUS {
            match &change.value {
                Some(Value::Text(s)) if s == "draft" || s == "final" => {}
                None => {}
                _ => return Err("status must be \"draft\" or \"final\"".into()),
            }
            continue;
        }
        if form.item(key).is_none() {
            return Err(format!("the form has no item {key:?}"));
        }
        if let Some(v) = &change.value {
            form.check_value(key, v).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

impl Db {
    /// Applies a batch of mutations in one transaction. A mutation already in the log gets its
    /// stored result again; each is applied entirely or not at all.
    ///
    /// # Errors
    /// A database error: then nothing of the batch is applied and the device re-sends it.
    pub async fn push(
        &self,
        campaign: &Campaign,
        form: &FormDefinition,
        pusher: &Pusher,
        mutations: &[Mutation],
    ) -> DbResult<Vec<MutationResult>> {
        let campaign_id = campaign.id.to_string();
        let mut tx = self.write().await?;
        let now = now_ms();

        // 1. Results already in the log.
        let ids: Vec<String> = mutations.iter().map(|m| m.id.to_string()).collect();
        let mut done: HashMap<String, MutationResult> = HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, result FROM mutations WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&mut *tx.tx).await? {
                let id: String = r.try_get("id")?;
                let result: String = r.try_get("result")?;
                done.insert(id, serde_json::from_str(&result)?);
            }
        }

        // 2. The rows touched.
        let mut person_ids: Vec<String> = mutations.iter().map(|m| m.person.to_string()).collect();
        person_ids.sort();
        person_ids.dedup();
        let mut rows = load_rows(&mut tx, &person_ids).await?;
        let before: HashMap<String, _> =
            rows.iter().map(|(k, r)| (k.clone(), r.counted())).collect();
        let mut changed: HashSet<String> = HashSet::new();

        // 3. Merge, in order.
        let mut results = Vec::with_capacity(mutations.len());
        let mut log: Vec<(String, String, String, bool, String)> = Vec::new();
        for m in mutations {
            let mid = m.id.to_string();
            if let Some(r) = done.get(&mid) {
                results.push(r.clone());
                continue;
            }
            let Some(row) = rows.get_mut(&m.person.to_string()) else {
                results.push(rejected(
                    m,
                    "unknown_person",
                    format!("no person {} in this campaign", m.person),
                ));
                continue;
            };
            if row.campaign_id != campaign_id {
                results.push(rejected(
                    m,
                    "other_campaign",
                    "the person belongs to another campaign".into(),
                ));
                continue;
            }
            let mut reassigned = false;
            if !pusher.scope.allows(&row.community) {
                if pusher.history.contains(&row.community) {
                    reassigned = true;
                } else {
                    results.push(rejected(
                        m,
                        "out_of_scope",
                        format!("community {} is not assigned to you", row.community),
                    ));
                    continue;
                }
            }
            if let Err(msg) = check_items(m, form) {
                results.push(rejected(m, "invalid_item", msg));
                continue;
            }
            let writer = Writer {
                user: pusher.username.clone(),
                rank: pusher.rank,
                device: pusher.device_id,
                mutation: m.id,
                hlc: m.hlc,
                at_ms: Writer::clamp(m.hlc, now),
            };
            let report = merge::apply(&mut row.doc, &m.changes, &writer);
            let any_change = report.values().any(|o| *o != ItemOutcome::Same);
            // A worker finalizing a returned record again resubmits it.
            let resubmits = row.review == Review::Returned
                && m.changes.get(STATUS).and_then(|c| c.value.as_ref())
                    == Some(&Value::text("final"))
                && status_of(&row.doc.answers) == Status::Final;
            if resubmits {
                row.review = Review::Pending;
                row.review_comment = None;
            }
            if any_change || resubmits {
                row.version += 1;
                row.refresh_final(pusher.via_app);
                changed.insert(row.id.clone());
            }
            let result = MutationResult {
                id: m.id,
                status: MutationStatus::Applied,
                version: u64::try_from(row.version).unwrap_or(0),
                items: report
                    .into_iter()
                    .filter(|(_, o)| *o != ItemOutcome::Applied)
                    .collect(),
                reassigned,
                code: None,
                message: None,
            };
            log.push((
                mid.clone(),
                row.id.clone(),
                serde_json::to_string(m)?,
                reassigned,
                serde_json::to_string(&result)?,
            ));
            done.insert(mid, result.clone());
            results.push(result);
        }

        // 4. Store rows, log, progress; commit once.
        let mut to_save: Vec<&mut RecordRow> = rows
            .values_mut()
            .filter(|r| changed.contains(&r.id))
            .collect();
        to_save.sort_by(|a, b| a.id.cmp(&b.id));
        save_rows(
            &mut tx,
            &campaign_id,
            &mut to_save,
            &before,
            &pusher.username,
        )
        .await?;
        for chunk in log.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO mutations (id, campaign_id, person_id, device_id, user_id, received_at, reassigned, payload, result) VALUES ",
            );
            let per = 9;
            let groups: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * per, per)))
                .collect();
            sql.push_str(&groups.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, person, payload, reassigned, result) in chunk {
                q = q
                    .bind(id.clone())
                    .bind(campaign_id.clone())
                    .bind(person.clone())
                    .bind(pusher.device_id.map(|d| d.to_string()))
                    .bind(pusher.user_id.clone())
                    .bind(now)
                    .bind(i64::from(*reassigned))
                    .bind(payload.clone())
                    .bind(result.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        if let Some(device) = pusher.device_id {
            sqlx::query("UPDATE devices SET last_seen = $1 WHERE id = $2")
                .bind(now)
                .bind(device.to_string())
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// One page of records with `seq > cursor` within a scope, in `seq` order, and whether more wait.
    ///
    /// # Errors
    /// A database error.
    pub async fn pull(
        &self,
        campaign: &str,
        scope: &Scope,
        cursor: i64,
        limit: u32,
    ) -> DbResult<(Vec<RecordState>, bool)> {
        let (cond, arg) = scope.sql("persons", 4);
        let sql = format!(
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND seq > $2 {cond} ORDER BY seq LIMIT $3"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(cursor)
            .bind(i64::from(limit) + 1);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let more = rows.len() > limit as usize;
        let states = rows
            .iter()
            .take(limit as usize)
            .map(|r| row_from(r).map(|row| row.state()))
            .collect::<DbResult<Vec<_>>>()?;
        Ok((states, more))
    }

    /// Number of mutations in the log (for tests and figures).
    ///
    /// # Errors
    /// A database error.
    pub async fn mutation_count(&self) -> DbResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM mutations")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    /// The append-only log: every accepted mutation, in the order received.
    ///
    /// # Errors
    /// A database error.
    pub async fn mutation_log(&self) -> DbResult<Vec<Mutation>> {
        let rows = sqlx::query("SELECT payload FROM mutations ORDER BY received_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>("payload")?)?))
            .collect()
    }

    /// Communities a worker was ever assigned in a campaign.
    ///
    /// # Errors
    /// A database error.
    pub async fn assignment_history(
        &self,
        campaign: &str,
        user_id: &str,
    ) -> DbResult<HashSet<String>> {
        let rows = sqlx::query(
            "SELECT community FROM assignment_history WHERE campaign_id = $1 AND user_id = $2",
        )
        .bind(campaign.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("community")?)).collect()
    }
}
