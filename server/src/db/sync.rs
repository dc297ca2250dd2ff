//! Push (idempotent, merged item by item, one transaction a batch) and pull (by cursor, in scope).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use doorstep_shared::carry;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::sync::{Mutation, MutationResult};
use doorstep_shared::{CampaignState, Numbers};

use super::Scope;
use super::campaigns::CampaignRow;
use super::record_row::{PULL_COLS, PullDbRow, PulledRecord};
use super::records::{Counted, RecordRow, load_rows, save_rows, store_rows};
use super::{Db, DbError, DbResult, WriteStamp, WriteTx, now_ms};

/// One page of a pull (see [`Db::pull`]).
#[derive(Debug, Default)]
pub struct PullPage {
    pub records: Vec<PulledRecord>,
    pub removed: Vec<uuid::Uuid>,
    /// The last `seq` of the page (the cursor given when the page is empty).
    pub cursor: i64,
    pub more: bool,
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
    /// Communities once assigned to this worker in the campaign, with when each left them
    /// (`None`: still theirs, or given back): edits made before that are still accepted.
    pub history: HashMap<String, Option<i64>>,
}

/// One accepted mutation, for the log.
pub struct LogEntry {
    pub id: String,
    pub campaign: String,
    pub person: String,
    pub payload: String,
    pub reassigned: bool,
    pub late: bool,
    pub result: String,
}

/// A mutation already in the log: who sent it, what it said, what it was answered.
pub struct Logged {
    pub user_id: String,
    pub payload: String,
    pub result: MutationResult,
}

/// A campaign a push may touch: the open one, or an ended one whose records phones still hold.
#[derive(Debug, Clone)]
pub struct PushCampaign {
    pub row: CampaignRow,
    pub form: Arc<FormDefinition>,
}

/// What a push batch reads under the write lock before the rules run on it
/// (`service::push`).
#[derive(Default)]
pub struct PushLoad {
    /// The batch's mutations already in the log, by mutation ID.
    pub logged: HashMap<String, Logged>,
    /// The rows the batch touches, by person ID.
    pub rows: HashMap<String, RecordRow>,
    /// Communities each touched person has left in their campaign (roster moves).
    pub departed: HashMap<String, Vec<String>>,
    /// The pusher's assignment history per campaign: community → when it was taken away
    /// (`None`: still theirs, or given back).
    pub histories: HashMap<String, HashMap<String, Option<i64>>>,
    /// What each row counted for before the batch: progress and the packs move by the
    /// difference.
    before: HashMap<String, Counted>,
}

/// How many mutations' rules are worth a thread of their own ([`PushBatch::load_rows_while`]).
const RULES_APART: usize = 50;

/// A push batch inside its write transaction: [`Db::begin_push`] loads, the rules change
/// [`PushBatch::load`], [`PushBatch::load_rows_while`] stores the rows and log entries the
/// rules are done with while it reads the next rows, [`PushBatch::finish`] stores the rest,
/// counts and commits. Dropped unfinished, nothing is kept.
pub struct PushBatch<'a> {
    tx: WriteTx<'a>,
    pub load: PushLoad,
    /// The rows written already ([`PushBatch::load_rows_while`]), by person ID.
    stored: HashSet<String>,
}

/// The rows that `ids` name.
async fn logged_in(tx: &mut WriteTx<'_>, ids: &[String]) -> DbResult<HashMap<String, Logged>> {
    #[derive(sqlx::FromRow)]
    struct LoggedRow {
        id: String,
        user_id: String,
        payload: String,
        result: String,
    }
    let mut done = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, user_id, payload, result FROM mutations WHERE id IN ({})",
            tx.value_list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, LoggedRow>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        for r in q.fetch_all(&mut *tx.tx).await? {
            done.insert(
                r.id,
                Logged {
                    user_id: r.user_id,
                    payload: r.payload,
                    result: serde_json::from_str(&r.result)?,
                },
            );
        }
    }
    Ok(done)
}

/// The communities each of `persons` has left in their campaign (roster moves).
async fn departed_in(
    tx: &mut WriteTx<'_>,
    persons: &[String],
) -> DbResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in persons.chunks(500) {
        let sql = format!(
            "SELECT person_id, community FROM departures WHERE person_id IN ({})",
            tx.value_list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        for (person, community) in q.fetch_all(&mut *tx.tx).await? {
            out.entry(person).or_default().push(community);
        }
    }
    Ok(out)
}

/// Every community a user was ever assigned, per campaign, with when it was taken away.
async fn histories_in(
    tx: &mut WriteTx<'_>,
    user_id: &str,
) -> DbResult<HashMap<String, HashMap<String, Option<i64>>>> {
    let rows = sqlx::query_as::<_, (String, String, Option<i64>)>(
        "SELECT campaign_id, community, until_at FROM assignment_history WHERE user_id = $1",
    )
    .bind(user_id.to_string())
    .fetch_all(&mut *tx.tx)
    .await?;
    let mut out: HashMap<String, HashMap<String, Option<i64>>> = HashMap::new();
    for (campaign, community, until) in rows {
        out.entry(campaign).or_default().insert(community, until);
    }
    Ok(out)
}

/// A late edit of last year's record corrects the prior values of this year's record carried
/// from it, with a new sequence number so phones see the corrected prior.
async fn refresh_successors(
    tx: &mut WriteTx<'_>,
    campaigns: &HashMap<String, PushCampaign>,
    rows: &[&RecordRow],
) -> DbResult<()> {
    let Some(open) = campaigns
        .values()
        .find(|c| c.row.state == CampaignState::Open)
    else {
        return Ok(());
    };
    let open_id = open.row.campaign.id.to_string();
    for row in rows {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT id FROM persons WHERE campaign_id = $1 AND prior_person_id = $2",
        )
        .bind(open_id.clone())
        .bind(row.id.clone())
        .fetch_optional(&mut *tx.tx)
        .await?;
        let Some(next_id) = next else { continue };
        let prior = carry::carried(&open.form, &row.doc.answers);
        let seq = super::take_seqs(tx, &open_id, 1).await?;
        sqlx::query("UPDATE persons SET prior = $1, seq = $2 WHERE id = $3")
            .bind(
                (!prior.is_empty())
                    .then(|| serde_json::to_string(&prior))
                    .transpose()?,
            )
            .bind(seq)
            .bind(next_id)
            .execute(&mut *tx.tx)
            .await?;
    }
    Ok(())
}

/// Appends the accepted mutations to the log, 100 a statement.
async fn append_log(
    tx: &mut WriteTx<'_>,
    pusher: &Pusher,
    log: &[LogEntry],
    now: i64,
) -> DbResult<()> {
    const PER: usize = 10;
    for chunk in log.chunks(100) {
        let sql = format!(
            "INSERT{} INTO mutations (id, campaign_id, person_id, device_id, user_id, received_at, reassigned, late, payload, result) VALUES {}",
            tx.or_fail(),
            tx.value_rows(chunk.len(), PER)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.id.clone())
                .bind(e.campaign.clone())
                .bind(e.person.clone())
                .bind(pusher.device_id.map(|d| d.to_string()))
                .bind(pusher.user_id.clone())
                .bind(now)
                .bind(i64::from(e.reassigned))
                .bind(i64::from(e.late))
                .bind(e.payload.clone())
                .bind(e.result.clone());
        }
        q.execute(&mut *tx.tx).await?;
    }
    Ok(())
}

/// What a push batch's rules read besides the rows themselves, in `tx`: the mutations already
/// logged, the touched persons' departures, the pusher's assignment history. `first_read`
/// runs after the first statement.
async fn load_context(
    tx: &mut WriteTx<'_>,
    pusher: &Pusher,
    mutations: &[&Mutation],
    first_read: impl FnOnce() -> bool,
) -> DbResult<Option<(PushLoad, Vec<String>)>> {
    let ids: Vec<String> = mutations.iter().map(|m| m.id.to_string()).collect();
    let logged = logged_in(tx, &ids).await?;
    if !first_read() {
        return Ok(None);
    }
    let mut persons: Vec<String> = mutations.iter().map(|m| m.person.to_string()).collect();
    persons.sort();
    persons.dedup();
    let departed = departed_in(tx, &persons).await?;
    let histories = histories_in(tx, &pusher.user_id).await?;
    let load = PushLoad {
        logged,
        rows: HashMap::with_capacity(persons.len()),
        departed,
        histories,
        before: HashMap::with_capacity(persons.len()),
    };
    Ok(Some((load, persons)))
}

/// The device's last applied push batch (`PushRequest::batch`), as `conn` sees it.
async fn last_batch(
    conn: &mut sqlx::AnyConnection,
    device: uuid::Uuid,
) -> DbResult<Option<uuid::Uuid>> {
    let last: Option<Option<String>> =
        sqlx::query_scalar("SELECT last_batch FROM devices WHERE id = $1")
            .bind(device.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(last.flatten().and_then(|b| uuid::Uuid::parse_str(&b).ok()))
}

impl Db {
    /// The device's last applied push batch, as last committed (no write lock taken: a batch
    /// being applied may change it).
    ///
    /// # Errors
    /// A database error.
    pub async fn last_batch(&self, device: uuid::Uuid) -> DbResult<Option<uuid::Uuid>> {
        let mut conn = self.pool.acquire().await?;
        last_batch(&mut conn, device).await
    }

    /// Opens a push batch: takes the write lock and loads what the batch's rules read besides
    /// the rows themselves ([`PushBatch::load_rows_while`]): the mutations already logged, the
    /// touched persons' departures, the pusher's assignment history.
    ///
    /// # Errors
    /// A database error.
    pub async fn begin_push(
        &self,
        pusher: &Pusher,
        mutations: &[&Mutation],
    ) -> DbResult<PushBatch<'_>> {
        let mut tx = self.write().await?;
        let (load, _) = load_context(&mut tx, pusher, mutations, || true)
            .await?
            .ok_or_else(|| DbError::Corrupt("push context not loaded".into()))?;
        Ok(PushBatch {
            tx,
            load,
            stored: HashSet::new(),
        })
    }

    /// Everything a push batch's rules read, rows too, from one snapshot of the database and
    /// without the write lock (`service::push`: a batch prepared while the batch before it is
    /// written). `taken` runs once the snapshot is taken (after its first read): answering
    /// `false` gives the snapshot up (`None`). `None` too when no read connection is idle.
    ///
    /// # Errors
    /// A database error.
    pub async fn push_snapshot(
        &self,
        pusher: &Pusher,
        mutations: &[&Mutation],
        taken: impl FnOnce() -> bool,
    ) -> DbResult<Option<PushLoad>> {
        let Some(mut tx) = self.snapshot().await? else {
            return Ok(None);
        };
        let Some((mut load, persons)) = load_context(&mut tx, pusher, mutations, taken).await?
        else {
            return Ok(None);
        };
        for (id, row) in load_rows(&mut tx, &persons).await? {
            load.before.insert(id.clone(), row.before());
            load.rows.insert(id, row);
        }
        Ok(Some(load))
    }

    /// Takes the write lock for a batch whose rules ran on [`Db::push_snapshot`], and keeps it
    /// if the database is still as the write that left `since` (awaited under the lock: the
    /// write it comes from may hold the lock when this one queues for it) committed it (SQLite;
    /// see [`WriteStamp`]). The load back (the lock let go again) when that write did not commit
    /// or anything else was committed since.
    ///
    /// # Errors
    /// A database error.
    pub async fn resume_push(
        &self,
        load: PushLoad,
        since: impl Future<Output = Option<WriteStamp>>,
    ) -> DbResult<Result<PushBatch<'_>, PushLoad>> {
        let mut tx = self.write().await?;
        let Some(since) = since.await else {
            return Ok(Err(load));
        };
        if !tx.tx.unchanged_since(since).await? {
            return Ok(Err(load));
        }
        Ok(Ok(PushBatch {
            tx,
            load,
            stored: HashSet::new(),
        }))
    }
}

impl PushBatch<'_> {
    /// The device's last applied push batch (`PushRequest::batch`), as of this transaction.
    ///
    /// # Errors
    /// A database error.
    pub async fn last_batch(&mut self, device: uuid::Uuid) -> DbResult<Option<uuid::Uuid>> {
        last_batch(&mut self.tx.tx, device).await
    }

    /// Loads the rows of some persons (those that exist) into the batch; `meanwhile` runs on
    /// what is loaded already while the database first writes `done` (changed rows no later
    /// mutation of the batch names) and appends `log` (accepted mutations), then reads the
    /// rows. When `meanwhile` has much to do (`rules` mutations, at least [`RULES_APART`]) and
    /// the database has work too, it runs on a thread of its own: run on this task, it would
    /// hold back the database's next statement until it finishes. Less work is not worth the
    /// hand-over to another thread (which, under the write lock, costs every writer).
    ///
    /// # Errors
    /// A database error.
    pub async fn load_rows_while<T: Send + 'static>(
        &mut self,
        persons: &[String],
        done: &[String],
        log: &[LogEntry],
        pusher: &Pusher,
        now: i64,
        rules: usize,
        meanwhile: impl FnOnce(&mut PushLoad) -> T + Send + 'static,
    ) -> DbResult<T> {
        let Self { tx, load, stored } = self;
        // The rows written are out of the map while the rules run: no mutation left names them
        // (and none named them after `done`, so none is written twice).
        let mut writing: Vec<RecordRow> =
            done.iter().filter_map(|id| load.rows.remove(id)).collect();
        let apart =
            rules >= RULES_APART && !(writing.is_empty() && log.is_empty() && persons.is_empty());
        let db = async {
            let mut by_campaign: BTreeMap<String, Vec<&mut RecordRow>> = BTreeMap::new();
            for r in &mut writing {
                by_campaign
                    .entry(r.campaign_id.clone())
                    .or_default()
                    .push(r);
            }
            for (campaign_id, mut rows) in by_campaign {
                store_rows(tx, &campaign_id, &mut rows, &pusher.username, now_ms()).await?;
            }
            append_log(tx, pusher, log, now).await?;
            load_rows(tx, persons).await
        };
        let (rows, out) = if !apart {
            tokio::join!(db, async { meanwhile(load) })
        } else {
            let mut rules_load = std::mem::take(load);
            let rules = tokio::task::spawn_blocking(move || {
                let out = meanwhile(&mut rules_load);
                (rules_load, out)
            });
            let rows = db.await;
            let (rules_load, out) = match rules.await {
                Ok(done) => done,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            *load = rules_load;
            (rows, out)
        };
        for row in writing {
            stored.insert(row.id.clone());
            load.rows.insert(row.id.clone(), row);
        }
        for (id, row) in rows? {
            load.before.insert(id.clone(), row.before());
            load.rows.insert(id, row);
        }
        Ok(out)
    }

    /// Stores the rows in `changed` (each campaign's with its own sequence numbers, moving the
    /// progress counters and the analysis facts), the log and the device's last contact (and,
    /// when the batch has an ID, that it is the device's last applied batch), and commits: all
    /// of the batch or, on an error, nothing. `committing` runs just before the commit. Answers
    /// what the batch loaded, for the caller to free off the answer's path, and (SQLite) where
    /// the database stood after the commit.
    ///
    /// # Errors
    /// A database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        mut self,
        campaigns: &HashMap<String, PushCampaign>,
        pusher: &Pusher,
        changed: &HashSet<String>,
        log: &[LogEntry],
        batch: Option<uuid::Uuid>,
        now: i64,
        committing: impl FnOnce(),
    ) -> DbResult<(PushLoad, Option<WriteStamp>)> {
        let tx = &mut self.tx;
        // Per campaign: the rows still to write, and those written already.
        type Rows<'r> = (Vec<&'r mut RecordRow>, Vec<&'r RecordRow>);
        let mut by_campaign: BTreeMap<String, Rows<'_>> = BTreeMap::new();
        for r in self
            .load
            .rows
            .values_mut()
            .filter(|r| changed.contains(&r.id))
        {
            let (to_write, written) = by_campaign.entry(r.campaign_id.clone()).or_default();
            if self.stored.contains(&r.id) {
                written.push(r);
            } else {
                to_write.push(r);
            }
        }
        for (campaign_id, (mut to_save, written)) in by_campaign {
            to_save.sort_by(|a, b| a.id.cmp(&b.id));
            save_rows(
                tx,
                &campaign_id,
                &mut to_save,
                &written,
                &self.load.before,
                &pusher.username,
            )
            .await?;
            let ended = campaigns
                .get(&campaign_id)
                .is_some_and(|c| c.row.state != CampaignState::Open);
            if ended {
                let all: Vec<&RecordRow> = to_save.iter().map(|r| &**r).chain(written).collect();
                refresh_successors(tx, campaigns, &all).await?;
            }
        }
        append_log(tx, pusher, log, now).await?;
        if let Some(device) = pusher.device_id {
            sqlx::query(
                "UPDATE devices SET last_seen = $1, last_batch = COALESCE($3, last_batch)
                 WHERE id = $2",
            )
            .bind(now)
            .bind(device.to_string())
            .bind(batch.map(|b| b.to_string()))
            .execute(&mut *tx.tx)
            .await?;
        }
        committing();
        let stamp = self.tx.commit_stamped(true).await?;
        Ok((self.load, stamp))
    }
}

impl Db {
    /// One page of changes with `seq > cursor` within a scope, in `seq` order: record states
    /// (with the numbers whole or masked),
    /// and persons who left a community of the scope (departures). Returns the page's records,
    /// its departed person IDs, the page's last `seq` (the next cursor) and whether more wait.
    ///
    /// A person's current row always has a greater `seq` than any of their departures, so a
    /// device that drops the departed first and then stores the records is right within a page.
    ///
    /// # Errors
    /// A database error.
    pub async fn pull(
        &self,
        campaign: &str,
        scope: &Scope,
        cursor: i64,
        limit: u32,
        numbers: Numbers,
    ) -> DbResult<PullPage> {
        let fetch = i64::from(limit) + 1;
        let (cond, arg) = scope.sql("persons", 4);
        let sql = format!(
            "SELECT {PULL_COLS} FROM persons WHERE campaign_id = $1 AND seq > $2 {cond} ORDER BY seq LIMIT $3"
        );
        let mut q = sqlx::query_as::<_, PullDbRow>(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(cursor)
            .bind(fetch);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows: Vec<PulledRecord> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.pulled(numbers))
            .collect::<DbResult<_>>()?;
        let (cond, arg) = scope.sql("departures", 4);
        let sql = format!(
            "SELECT seq, person_id FROM departures WHERE campaign_id = $1 AND seq > $2 {cond} ORDER BY seq LIMIT $3"
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(cursor)
            .bind(fetch);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let departed = q.fetch_all(&self.pool).await?;
        // Merge the two seq-ordered lists and keep the `limit` smallest.
        let mut page = PullPage {
            cursor,
            ..PullPage::default()
        };
        let (mut j, mut taken) = (0, 0usize);
        let mut rows = rows.into_iter().peekable();
        while taken < limit as usize && (rows.peek().is_some() || j < departed.len()) {
            let row_seq = rows
                .peek()
                .map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX));
            let dep_seq = departed.get(j).map(|d| d.0);
            let take_row = match (row_seq, dep_seq) {
                (Some(a), Some(b)) => a < b,
                (Some(_), None) => true,
                _ => false,
            };
            if let Some(row) = rows.next_if(|_| take_row) {
                page.cursor = i64::try_from(row.seq).unwrap_or(i64::MAX);
                page.records.push(row);
            } else {
                let (seq, person) = &departed[j];
                page.cursor = *seq;
                page.removed.push(
                    uuid::Uuid::parse_str(person).map_err(|e| DbError::Corrupt(e.to_string()))?,
                );
                j += 1;
            }
            taken += 1;
        }
        page.more = rows.peek().is_some() || j < departed.len();
        Ok(page)
    }

    /// Number of mutations in the log (for tests and figures).
    ///
    /// # Errors
    /// A database error.
    #[cfg(feature = "testing")]
    pub async fn mutation_count(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM mutations")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The append-only log: every accepted mutation, in the order received (for tests).
    ///
    /// # Errors
    /// A database error.
    #[cfg(feature = "testing")]
    pub async fn mutation_log(&self) -> DbResult<Vec<Mutation>> {
        sqlx::query_scalar::<_, String>("SELECT payload FROM mutations ORDER BY received_at, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|p| Ok(serde_json::from_str(p)?))
            .collect()
    }

    /// The append-only log with who sent each mutation: (mutation, user ID, device ID), in the
    /// order received (for tests).
    ///
    /// # Errors
    /// A database error.
    #[cfg(feature = "testing")]
    pub async fn mutation_log_with_writers(
        &self,
    ) -> DbResult<Vec<(Mutation, String, Option<String>)>> {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "SELECT payload, user_id, device_id FROM mutations ORDER BY received_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(payload, user, device)| Ok((serde_json::from_str(&payload)?, user, device)))
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
    ) -> DbResult<HashMap<String, Option<i64>>> {
        Ok(sqlx::query_as::<_, (String, Option<i64>)>(
            "SELECT community, until_at FROM assignment_history WHERE campaign_id = $1 AND user_id = $2",
        )
        .bind(campaign.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect())
    }
}
