//! Person rows (roster facts + survey record): loading, saving with progress, conflicts, review.

use std::collections::HashMap;

use futures::TryStreamExt;

use doorstep_shared::Value;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::merge::{self, OpenConflict, Writer};

use super::Scope;
use super::analysis::{Analyzer, Repacking};
use super::progress::ProgressDelta;
use super::record_row::RecordDbRow;
pub use super::record_row::{Counted, RecordRow};
pub(crate) use super::record_row::{ROW_COLS, row_from};
use super::{Backend, Db, DbError, DbResult, WriteTx, now_ms, placeholders, take_seqs};

/// Loads rows by ID inside a write transaction.
pub(crate) async fn load_rows(
    tx: &mut WriteTx<'_>,
    ids: &[String],
) -> DbResult<HashMap<String, RecordRow>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {ROW_COLS} FROM persons WHERE id IN ({})",
            tx.value_list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, RecordDbRow>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        // Each row is decoded as it comes, while the database (on its own thread) reads the
        // next ones.
        let mut rows = q.fetch(&mut *tx.tx);
        while let Some(r) = rows.try_next().await? {
            let row = r.into_domain()?;
            out.insert(row.id.clone(), row);
        }
    }
    Ok(out)
}

/// Writes changed rows with fresh sequence numbers and their analysis facts, and moves the
/// progress counters and the analysis packs, all in the caller's transaction. `stored` are
/// rows of the same change that [`store_rows`] wrote already (a push stores rows as its rules
/// finish with them): they are counted here, not written again. `before` holds what each row
/// counted for before the change.
pub(crate) async fn save_rows(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    rows: &mut [&mut RecordRow],
    stored: &[&RecordRow],
    before: &HashMap<String, Counted>,
    user: &str,
) -> DbResult<()> {
    if rows.is_empty() && stored.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    store_rows(tx, campaign, rows, user, now).await?;
    let mut delta = ProgressDelta::default();
    let mut packs = Repacking::default();
    for row in rows.iter().map(|r| &**r).chain(stored.iter().copied()) {
        let old = before.get(&row.id);
        delta.record(
            &row.community,
            old.and_then(|b| b.outcome),
            row.counted(),
            now,
        );
        packs.change(old, row);
    }
    packs.write(tx, campaign).await?;
    delta.apply(tx, campaign).await
}

/// Writes changed rows of one campaign with fresh sequence numbers, marked as changed at
/// `now`, and their analysis facts, without counting them: the change's [`save_rows`] counts
/// them with the rest.
pub(crate) async fn store_rows(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    rows: &mut [&mut RecordRow],
    user: &str,
    now: i64,
) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    number_rows(tx, campaign, rows, user, now).await?;
    let analyzer = super::analysis::analyzer(&mut *tx.tx, campaign).await?;
    overwrite_rows(tx, &analyzer, rows, user, now).await
}

/// Gives rows their next sequence numbers and marks who changed them when.
async fn number_rows(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    rows: &mut [&mut RecordRow],
    user: &str,
    now: i64,
) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let first = take_seqs(tx, campaign, i64::try_from(rows.len()).unwrap_or(0)).await?;
    for (i, row) in rows.iter_mut().enumerate() {
        row.seq = first + i64::try_from(i).unwrap_or(0);
        row.updated_at = now;
        row.updated_by = Some(user.to_string());
    }
    Ok(())
}

/// Writes rows over their stored versions, each with its analysis facts worked out afresh.
/// Every row exists (it was loaded under the same lock); one that does not fails the write.
async fn overwrite_rows(
    tx: &mut WriteTx<'_>,
    analyzer: &Analyzer,
    rows: &mut [&mut RecordRow],
    user: &str,
    now: i64,
) -> DbResult<()> {
    // One statement per 100 rows, several times faster than a statement per row. The next
    // chunk's rows (and their facts) are encoded while the database (on its own thread) stores
    // the one before.
    let mut chunks = rows
        .chunks_mut(100)
        .map(|chunk| (overwrite_sql(tx, chunk.len()), chunk))
        .collect::<Vec<_>>()
        .into_iter();
    let mut next = chunks
        .next()
        .map(|(sql, chunk)| overwrite(sql, chunk, analyzer, now, user))
        .transpose()?;
    while let Some((q, n)) = next {
        let following = chunks.next();
        let (stored, encoded) = tokio::join!(q.execute(&mut *tx.tx), async {
            following
                .map(|(sql, chunk)| overwrite(sql, chunk, analyzer, now, user))
                .transpose()
        });
        let stored = stored?.rows_affected();
        if stored != n as u64 {
            return Err(DbError::Corrupt(format!(
                "只写入了 {stored}/{n} 条人员记录，其余不存在 / {stored} of {n} person rows \
                 written: the others are not stored"
            )));
        }
        next = encoded?;
    }
    Ok(())
}

/// The columns a change writes over a stored row (`id` names it; the campaign, community and
/// roster facts stay).
const OVERWRITTEN: [&str; 13] = [
    "doc",
    "version",
    "seq",
    "review",
    "review_comment",
    "final_outcome",
    "via_app",
    "conflicts",
    "updated_at",
    "updated_by",
    "collected_by",
    "review_notes",
    "facts",
];

/// The statement writing `rows` rows over their stored versions ([`overwrite`] binds them):
/// `UPDATE … FROM (VALUES …)` of the id and [`OVERWRITTEN`]. On SQLite `UPDATE OR FAIL`, which
/// keeps no statement journal: an upsert's `DO UPDATE` always did, copying every page it
/// changed before changing it. For 100 rows this took 25–35 % less time than the upsert
/// (SQLite 3.40, the rows of a district; docs/benchmarks.md).
fn overwrite_sql(tx: &WriteTx<'_>, rows: usize) -> String {
    // The VALUES list's column `i` (0 is the id): SQLite names them column1, column2, …;
    // PostgreSQL takes the names given after the alias.
    let backend = tx.backend();
    let column = |i: usize| match (backend, i) {
        (Backend::Sqlite, _) => format!("column{}", i + 1),
        (Backend::Postgres, 0) => "id".to_string(),
        (Backend::Postgres, _) => OVERWRITTEN[i - 1].to_string(),
    };
    let names = match backend {
        Backend::Sqlite => String::new(),
        Backend::Postgres => format!("(id, {})", OVERWRITTEN.join(", ")),
    };
    let set = OVERWRITTEN
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = v.{}", column(i + 1)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE{} persons SET {set} FROM (VALUES {}) AS v {names} WHERE persons.id = v.{}",
        tx.or_fail(),
        tx.value_rows(rows, 1 + OVERWRITTEN.len()),
        column(0)
    )
}

/// The statement of `chunk` ([`overwrite_sql`]), its rows' facts worked out and the rows
/// encoded; and how many rows it writes.
fn overwrite<'q>(
    sql: String,
    chunk: &mut [&mut RecordRow],
    analyzer: &Analyzer,
    now: i64,
    user: &str,
) -> DbResult<(
    sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    usize,
)> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in chunk.iter_mut() {
        row.facts = analyzer.facts(row).map(|f| f.encode());
        // The id, then the columns in the order of OVERWRITTEN.
        q = q
            .bind(row.id.clone())
            .bind(serde_json::to_string(&row.doc)?)
            .bind(row.version)
            .bind(row.seq)
            .bind(row.review.key())
            .bind(row.review_comment.clone())
            .bind(row.final_outcome.map(|o| o.key().to_string()))
            .bind(i64::from(row.via_app))
            .bind(i64::try_from(row.doc.conflicts.len()).unwrap_or(0))
            .bind(now)
            .bind(user.to_string())
            .bind(row.collected_by.clone())
            .bind(if row.review_notes.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&row.review_notes)?)
            })
            .bind(row.facts.clone());
    }
    Ok((q, chunk.len()))
}

/// An open conflict on one item of one person, for the supervisor's list.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ConflictRow {
    pub person_id: String,
    pub name: String,
    pub community: String,
    pub item: String,
    pub version: i64,
    #[schema(value_type = Option<doorstep_shared::openapi::Answer>)]
    pub current: Option<Value>,
    pub conflict: OpenConflict,
}

impl Db {
    /// One person's row.
    ///
    /// # Errors
    /// A database error.
    pub async fn record(&self, person_id: &str) -> DbResult<Option<RecordRow>> {
        let r = sqlx::query_as::<_, RecordDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLS} FROM persons WHERE id = $1"
        )))
        .bind(person_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        r.map(RecordDbRow::into_domain).transpose()
    }

    /// The rows of a campaign within a scope, optionally one community, in community order.
    ///
    /// # Errors
    /// A database error.
    pub async fn records(
        &self,
        campaign: &str,
        scope: &Scope,
        community: Option<&str>,
    ) -> DbResult<Vec<RecordRow>> {
        let (cond, arg) = scope.sql("persons", 3);
        let sql = format!(
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND community LIKE $2 {cond} ORDER BY community, id"
        );
        let mut q = sqlx::query_as::<_, RecordDbRow>(sqlx::AssertSqlSafe(sql))
            .bind(campaign.to_string())
            .bind(format!("{}%", community.unwrap_or("")));
        if let Some(a) = arg {
            q = q.bind(a);
        }
        q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(RecordDbRow::into_domain)
            .collect()
    }

    /// How many same-item conflicts are open in the campaigns still taking edits (open, late),
    /// for the metrics.
    ///
    /// # Errors
    /// A database error.
    pub async fn open_conflicts(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(p.conflicts), 0) AS BIGINT) AS n FROM persons p \
             JOIN campaigns c ON c.id = p.campaign_id WHERE c.state <> 'closed' AND p.conflicts > 0",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Rows by ID (those that exist), in no particular order.
    ///
    /// # Errors
    /// A database error.
    pub async fn records_by_ids(&self, ids: &[String]) -> DbResult<Vec<RecordRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {ROW_COLS} FROM persons WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, RecordDbRow>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(r.into_domain()?);
            }
        }
        Ok(out)
    }

    /// Open conflicts within a scope.
    ///
    /// # Errors
    /// A database error.
    pub async fn conflicts(&self, campaign: &str, scope: &Scope) -> DbResult<Vec<ConflictRow>> {
        let (cond, arg) = scope.sql("persons", 2);
        let sql = format!(
            "SELECT {ROW_COLS} FROM persons WHERE campaign_id = $1 AND conflicts > 0 {cond} ORDER BY community, id"
        );
        let mut q =
            sqlx::query_as::<_, RecordDbRow>(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string());
        if let Some(a) = arg {
            q = q.bind(a);
        }
        let mut out = Vec::new();
        for r in q.fetch_all(&self.pool).await? {
            let row = r.into_domain()?;
            for (item, c) in &row.doc.conflicts {
                out.push(ConflictRow {
                    person_id: row.id.clone(),
                    name: row.person.name.clone(),
                    community: row.community.clone(),
                    item: item.clone(),
                    version: row.version,
                    current: row.doc.answers.get(item).cloned(),
                    conflict: c.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Changes one record under the write lock: `change` edits the row (or refuses), then the
    /// record gets a new version, its final outcome is recomputed, and it is saved with the
    /// progress counters in the same transaction.
    /// Changes one record under the write lock and appends `audit` (its detail completed by the
    /// change) to the audit chain in the same transaction: the step and its trace land together.
    pub(crate) async fn change_record(
        &self,
        person_id: &str,
        user: &str,
        change: impl FnOnce(&mut RecordRow) -> DbResult<()>,
        audit: impl FnOnce(&RecordRow) -> super::audit::Entry,
    ) -> DbResult<RecordRow> {
        let mut tx = self.write().await?;
        let mut rows = load_rows(&mut tx, &[person_id.to_string()]).await?;
        let mut row = rows
            .remove(person_id)
            .ok_or_else(|| DbError::NotFound(format!("no person {person_id}")))?;
        let before: HashMap<_, _> = [(row.id.clone(), row.before())].into();
        change(&mut row)?;
        row.version += 1;
        let via_app = row.via_app;
        row.refresh_final(via_app);
        let campaign = row.campaign_id.clone();
        save_rows(&mut tx, &campaign, &mut [&mut row], &[], &before, user).await?;
        self.audit_in(&mut tx, &audit(&row)).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A supervisor's resolution of a same-item conflict: a new record version every device pulls.
    ///
    /// The value passes the same form check as a device's push.
    ///
    /// # Errors
    /// No such person or no open conflict on that item ([`DbError::NotFound`]), a value the form
    /// refuses ([`DbError::Invalid`]), or a database error.
    pub async fn resolve_conflict(
        &self,
        form: &FormDefinition,
        person_id: &str,
        item: &str,
        value: Option<Value>,
        by: &Writer,
    ) -> DbResult<RecordRow> {
        form.check_change(item, value.as_ref())
            .map_err(|e| DbError::Invalid(format!("{} / {}", e.message_zh, e.message_en)))?;
        self.change_record(
            person_id,
            &by.user,
            |row| {
                if !row.doc.conflicts.contains_key(item) {
                    return Err(DbError::NotFound(format!(
                        "no open conflict on item {item}"
                    )));
                }
                merge::resolve(&mut row.doc, item, value, by);
                Ok(())
            },
            |_| super::audit::Entry {
                user: Some(by.user.clone()),
                action: "resolve_conflict".into(),
                detail: format!("{person_id} {item}"),
                ..Default::default()
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change is written over stored rows only: a row that is not stored fails the write
    /// (it is not inserted), and nothing written with it is kept.
    #[tokio::test]
    async fn a_row_not_stored_fails_the_write_and_nothing_of_it_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let state = crate::build(&crate::Config::new(Some(url), dir.path().to_path_buf()))
            .await
            .expect("build");
        crate::seed::seed_demo_sized(&state, 3, 20, 2)
            .await
            .expect("seed");
        let db = &state.db;
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM persons ORDER BY id LIMIT 2")
            .fetch_all(db.pool())
            .await
            .expect("ids");
        let before = db.records_by_ids(&ids).await.expect("rows");
        let (mut stored, mut ghost) = (before[0].clone(), before[1].clone());
        ghost.id = uuid::Uuid::now_v7().to_string();
        let campaign = stored.campaign_id.clone();
        let mut tx = db.write().await.expect("write");
        let r = store_rows(
            &mut tx,
            &campaign,
            &mut [&mut stored, &mut ghost],
            "test",
            now_ms(),
        )
        .await;
        assert!(
            matches!(&r, Err(DbError::Corrupt(m)) if m.contains("1 of 2")),
            "{r:?}"
        );
        drop(tx);
        let after = db.records_by_ids(&ids).await.expect("rows");
        assert_eq!(
            after.iter().map(|r| r.seq).collect::<Vec<_>>(),
            before.iter().map(|r| r.seq).collect::<Vec<_>>()
        );
        assert!(db.record(&ghost.id).await.expect("read").is_none());
    }
}
