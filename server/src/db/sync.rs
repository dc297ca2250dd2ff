//! Push (idempotent, merged item by item, one transaction a batch) and pull (by cursor, in scope).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use sqlx::Row;

use doorstep_shared::carry;
use doorstep_shared::domain::{STATUS, status_of};
use doorstep_shared::form::{FormContext, FormDefinition, ItemError, Strictness};
use doorstep_shared::merge::{self, ItemOutcome, Writer};
use doorstep_shared::sync::{Mutation, MutationResult, MutationStatus, RecordState, Role};
use doorstep_shared::{CampaignState, Numbers, Review, Status};

use super::Scope;
use super::campaigns::CampaignRow;
use super::records::{ROW_COLS, RecordRow, load_rows, row_from, save_rows};
use super::{Db, DbError, DbResult, now_ms, placeholders};

/// One page of a pull (see [`Db::pull`]).
#[derive(Debug, Default)]
pub struct PullPage {
    pub records: Vec<RecordState>,
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

fn rejected(m: &Mutation, r: Refusal) -> MutationResult {
    MutationResult {
        id: m.id,
        status: MutationStatus::Rejected,
        version: 0,
        items: BTreeMap::default(),
        reassigned: false,
        late: false,
        code: Some(r.code.into()),
        message: Some(r.message),
        errors: r.errors,
    }
}

/// One accepted mutation, for the log.
struct LogEntry {
    id: String,
    campaign: String,
    person: String,
    payload: String,
    reassigned: bool,
    late: bool,
    result: String,
}

/// Communities a worker was ever assigned in a campaign (inside the push transaction).
async fn history_in(
    tx: &mut super::WriteTx<'_>,
    campaign: &str,
    user_id: &str,
) -> DbResult<HashMap<String, Option<i64>>> {
    sqlx::query(
        "SELECT community, until_at FROM assignment_history WHERE campaign_id = $1 AND user_id = $2",
    )
    .bind(campaign.to_string())
    .bind(user_id.to_string())
    .fetch_all(&mut *tx.tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("community")?, r.try_get("until_at")?)))
    .collect()
}

/// A late edit of last year's record corrects the prior values of this year's record carried
/// from it, with a new sequence number so phones see the corrected prior.
async fn refresh_successors(
    tx: &mut super::WriteTx<'_>,
    campaigns: &HashMap<String, PushCampaign>,
    rows: &[&mut RecordRow],
) -> DbResult<()> {
    let Some(open) = campaigns
        .values()
        .find(|c| c.row.state == CampaignState::Open)
    else {
        return Ok(());
    };
    let open_id = open.row.campaign.id.to_string();
    for row in rows {
        let next =
            sqlx::query("SELECT id FROM persons WHERE campaign_id = $1 AND prior_person_id = $2")
                .bind(open_id.clone())
                .bind(row.id.clone())
                .fetch_optional(&mut *tx.tx)
                .await?;
        let Some(next) = next else { continue };
        let next_id: String = next.try_get("id")?;
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

/// The communities a person has left in this campaign (roster moves).
async fn departed_from(tx: &mut super::WriteTx<'_>, person: &str) -> DbResult<Vec<String>> {
    sqlx::query("SELECT community FROM departures WHERE person_id = $1")
        .bind(person.to_string())
        .fetch_all(&mut *tx.tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("community")?))
        .collect()
}

/// A mutation already in the log: who sent it, what it said, what it was answered.
struct Logged {
    user_id: String,
    payload: String,
    result: MutationResult,
}

/// A campaign a push may touch: the open one, or an ended one whose records phones still hold.
#[derive(Debug, Clone)]
pub struct PushCampaign {
    pub row: CampaignRow,
    pub form: Arc<FormDefinition>,
}

/// Why one mutation is refused: a code and a message in both languages, and per-item reasons.
struct Refusal {
    code: &'static str,
    message: String,
    errors: Vec<ItemError>,
}

impl Refusal {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            errors: Vec::new(),
        }
    }
}

/// What applying one mutation to its record did.
struct Applied {
    report: merge::MergeReport,
    changed: bool,
}

/// The record rules, once, for one mutation on one row (pure: the caller loads and stores):
/// an approved record is locked for workers; every value passes the form's check; the merge;
/// a record left final must be complete by the form (required items, an outcome's own facts);
/// a returned record finalized again is resubmitted; the collector is the worker whose edit
/// changed the record. On a refusal the row is unchanged.
fn apply_mutation(
    row: &mut RecordRow,
    m: &Mutation,
    pusher: &Pusher,
    ctx: &PushCampaign,
    now: i64,
) -> Result<Applied, Refusal> {
    if doorstep_shared::review::locks_worker(row.review) && pusher.rank < Role::Supervisor.rank() {
        return Err(Refusal::new(
            "record_approved",
            "该记录已审核通过（或在区级审核中），修改前请审核人先退回 / this record is approved \
             (or under district review) and locked; ask the reviewer to return it before changing it"
                .into(),
        ));
    }
    for (key, change) in &m.changes {
        ctx.form
            .check_change(key, change.value.as_ref())
            .map_err(|e| Refusal {
                code: "invalid_item",
                message: format!("{} / {}", e.message_zh, e.message_en),
                errors: vec![e],
            })?;
    }
    let writer = Writer {
        user: pusher.username.clone(),
        rank: pusher.rank,
        device: pusher.device_id,
        mutation: m.id,
        hlc: m.hlc,
        at_ms: Writer::clamp(m.hlc, now),
    };
    let doc_before = row.doc.clone();
    let report = merge::apply(&mut row.doc, &m.changes, &writer);
    // Any change of the stored record (a joined conflict candidate, a new provisional value, a
    // writer) moves its version and sequence, so every device pulls it.
    let changed = row.doc != doc_before;
    if changed && status_of(&row.doc.answers) == Status::Final {
        let fctx = FormContext::for_person(&row.person, &ctx.row.campaign);
        let errors = ctx
            .form
            .validate(&row.doc.answers, &fctx, Strictness::Final);
        if !errors.is_empty() {
            row.doc = doc_before;
            let zh: Vec<&str> = errors.iter().map(|e| e.message_zh.as_str()).collect();
            let en: Vec<&str> = errors.iter().map(|e| e.message_en.as_str()).collect();
            return Err(Refusal {
                code: "incomplete",
                message: format!(
                    "记录未填完整，不能提交：{} / the record is not complete and cannot be final: {}",
                    zh.join("；"),
                    en.join("; ")
                ),
                errors,
            });
        }
    }
    // A worker finalizing a returned record again resubmits it.
    let resubmits = row.review == Review::Returned
        && m.changes.get(STATUS).and_then(|c| c.value.as_ref()) == Some(&Status::Final.value())
        && status_of(&row.doc.answers) == Status::Final;
    if resubmits {
        row.review = Review::Pending;
        row.review_comment = None;
        row.review_notes.clear();
    }
    let changed = changed || resubmits;
    if changed {
        row.version += 1;
        row.refresh_final(pusher.via_app);
        if pusher.rank == Role::Worker.rank() || row.collected_by.is_none() {
            row.collected_by = Some(pusher.username.clone());
        }
    }
    Ok(Applied { report, changed })
}

impl Db {
    /// Applies a batch of mutations in one transaction. A mutation already in the log gets its
    /// stored result again; each is applied entirely or not at all. `campaigns` holds every
    /// campaign a record may belong to, by ID: the open one, and ended ones whose records phones
    /// still deliver (accepted and marked late while the campaign takes late edits).
    ///
    /// # Errors
    /// A database error: then nothing of the batch is applied and the device re-sends it.
    pub async fn push(
        &self,
        campaigns: &HashMap<String, PushCampaign>,
        pusher: &Pusher,
        mutations: &[Mutation],
    ) -> DbResult<Vec<MutationResult>> {
        let mut tx = self.write().await?;
        let now = now_ms();

        // 1. Results already in the log.
        let ids: Vec<String> = mutations.iter().map(|m| m.id.to_string()).collect();
        let mut done: HashMap<String, Logged> = HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, user_id, payload, result FROM mutations WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&mut *tx.tx).await? {
                let id: String = r.try_get("id")?;
                let result: String = r.try_get("result")?;
                done.insert(
                    id,
                    Logged {
                        user_id: r.try_get("user_id")?,
                        payload: r.try_get("payload")?,
                        result: serde_json::from_str(&result)?,
                    },
                );
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
        // Assignment history of ended campaigns, loaded when first needed.
        let mut histories: HashMap<String, HashMap<String, Option<i64>>> = HashMap::new();

        // 3. Apply, in order.
        let mut results = Vec::with_capacity(mutations.len());
        let mut log: Vec<LogEntry> = Vec::new();
        for m in mutations {
            let mid = m.id.to_string();
            let payload = serde_json::to_string(m)?;
            if let Some(logged) = done.get(&mid) {
                // A mutation ID names one edit by one user: a re-send gets the stored answer, a
                // reuse for other content (or by another user) is refused, never merged away.
                if logged.user_id == pusher.user_id && logged.payload == payload {
                    results.push(logged.result.clone());
                } else {
                    results.push(rejected(
                        m,
                        Refusal::new(
                            "mutation_id_reused",
                            format!(
                                "修改编号 {} 已用于另一项修改，未应用 / mutation ID {} was already used for a different edit; nothing applied",
                                m.id, m.id
                            ),
                        ),
                    ));
                }
                continue;
            }
            // An unknown person and one outside the caller's communities get the same answer:
            // a worker cannot probe whether someone is registered, or where.
            let not_yours = || {
                Refusal::new(
                    "out_of_scope",
                    "此人不在您负责的社区 / this person is not in your communities".into(),
                )
            };
            let Some(row) = rows.get_mut(&m.person.to_string()) else {
                results.push(rejected(m, not_yours()));
                continue;
            };
            let Some(ctx) = campaigns.get(&row.campaign_id) else {
                results.push(rejected(
                    m,
                    Refusal::new(
                        "other_campaign",
                        "此人属于其他调查 / the person belongs to another campaign".into(),
                    ),
                ));
                continue;
            };
            let late = match ctx.row.state {
                CampaignState::Open => false,
                CampaignState::Late => true,
                CampaignState::Closed => {
                    let year = ctx.row.campaign.year;
                    results.push(rejected(
                        m,
                        Refusal::new(
                            "campaign_closed",
                            format!(
                                "{year} 年度的调查已关闭，不再接收修改 / the {year} campaign is closed and takes no more edits"
                            ),
                        ),
                    ));
                    continue;
                }
            };
            // Scope: the communities assigned now, or once assigned in the record's campaign
            // (late edits of a community, or of a person, that was this worker's).
            let mut reassigned = false;
            if !pusher.scope.allows(&row.community) {
                let history = if late {
                    if !histories.contains_key(&row.campaign_id) {
                        let h = history_in(&mut tx, &row.campaign_id, &pusher.user_id).await?;
                        histories.insert(row.campaign_id.clone(), h);
                    }
                    &histories[&row.campaign_id]
                } else {
                    &pusher.history
                };
                // Once this worker's: an edit made before the community was taken away is
                // delivered (marked reassigned); new work after that is not accepted.
                let edited_at = Writer::clamp(m.hlc, now);
                let was_mine = |c: &str| {
                    pusher.scope.allows(c)
                        || history
                            .get(c)
                            .is_some_and(|until| until.is_none_or(|t| edited_at <= t))
                };
                if was_mine(&row.community)
                    || departed_from(&mut tx, &row.id)
                        .await?
                        .iter()
                        .any(|c| was_mine(c))
                {
                    reassigned = true;
                } else {
                    results.push(rejected(m, not_yours()));
                    continue;
                }
            }
            let applied = match apply_mutation(row, m, pusher, ctx, now) {
                Ok(a) => a,
                Err(refusal) => {
                    results.push(rejected(m, refusal));
                    continue;
                }
            };
            if applied.changed {
                changed.insert(row.id.clone());
            }
            let result = MutationResult {
                id: m.id,
                status: MutationStatus::Applied,
                version: u64::try_from(row.version).unwrap_or(0),
                items: applied
                    .report
                    .into_iter()
                    .filter(|(_, o)| *o != ItemOutcome::Applied)
                    .collect(),
                reassigned,
                late,
                code: None,
                message: None,
                errors: Vec::new(),
            };
            log.push(LogEntry {
                id: mid.clone(),
                campaign: row.campaign_id.clone(),
                person: row.id.clone(),
                payload: payload.clone(),
                reassigned,
                late,
                result: serde_json::to_string(&result)?,
            });
            done.insert(
                mid,
                Logged {
                    user_id: pusher.user_id.clone(),
                    payload,
                    result: result.clone(),
                },
            );
            results.push(result);
        }

        // 4. Store rows (each campaign's with its own sequence), log, progress; commit once.
        let mut by_campaign: BTreeMap<String, Vec<&mut RecordRow>> = BTreeMap::new();
        for r in rows.values_mut().filter(|r| changed.contains(&r.id)) {
            by_campaign
                .entry(r.campaign_id.clone())
                .or_default()
                .push(r);
        }
        for (campaign_id, mut to_save) in by_campaign {
            to_save.sort_by(|a, b| a.id.cmp(&b.id));
            save_rows(
                &mut tx,
                &campaign_id,
                &mut to_save,
                &before,
                &pusher.username,
            )
            .await?;
            let ended = campaigns
                .get(&campaign_id)
                .is_some_and(|c| c.row.state != CampaignState::Open);
            if ended {
                refresh_successors(&mut tx, campaigns, &to_save).await?;
            }
        }
        for chunk in log.chunks(100) {
            let mut sql = String::from(
                "INSERT INTO mutations (id, campaign_id, person_id, device_id, user_id, received_at, reassigned, late, payload, result) VALUES ",
            );
            let per = 10;
            let groups: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + i * per, per)))
                .collect();
            sql.push_str(&groups.join(", "));
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
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND seq > $2 {cond} ORDER BY seq LIMIT $3"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(cursor)
            .bind(fetch);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let (cond, arg) = scope.sql("departures", 4);
        let sql = format!(
            "SELECT seq, person_id FROM departures WHERE campaign_id = $1 AND seq > $2 {cond} ORDER BY seq LIMIT $3"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(cursor)
            .bind(fetch);
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let departed: Vec<(i64, String)> = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("person_id")?)))
            .collect::<DbResult<_>>()?;
        // Merge the two seq-ordered lists and keep the `limit` smallest.
        let mut page = PullPage {
            cursor,
            ..PullPage::default()
        };
        let (mut i, mut j) = (0, 0);
        let mut taken = 0usize;
        while taken < limit as usize && (i < rows.len() || j < departed.len()) {
            let row_seq = rows
                .get(i)
                .map(|r| r.try_get::<i64, _>("seq"))
                .transpose()?;
            let dep_seq = departed.get(j).map(|d| d.0);
            let take_row = match (row_seq, dep_seq) {
                (Some(a), Some(b)) => a < b,
                (Some(_), None) => true,
                _ => false,
            };
            if take_row {
                let state = row_from(&rows[i])?.state(numbers);
                page.cursor = i64::try_from(state.seq).unwrap_or(i64::MAX);
                page.records.push(state);
                i += 1;
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
        page.more = i < rows.len() || j < departed.len();
        Ok(page)
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

    /// The append-only log with who sent each mutation: (mutation, user ID, device ID).
    ///
    /// # Errors
    /// A database error.
    pub async fn mutation_log_with_writers(
        &self,
    ) -> DbResult<Vec<(Mutation, String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT payload, user_id, device_id FROM mutations ORDER BY received_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
                    r.try_get("user_id")?,
                    r.try_get("device_id")?,
                ))
            })
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
        let rows = sqlx::query(
            "SELECT community, until_at FROM assignment_history WHERE campaign_id = $1 AND user_id = $2",
        )
        .bind(campaign.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("community")?, r.try_get("until_at")?)))
            .collect()
    }
}
