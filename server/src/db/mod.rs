//! All SQL lives under this folder, behind [`Db`]. One portable set of queries runs on SQLite (the
//! embedded default) and PostgreSQL through sqlx's `Any` driver; the migrations differ per dialect
//! (`migrations/sqlite`, `migrations/postgres`).
//!
//! Every write goes through [`Db::write`], which serialises writers in two steps: first a mutex
//! in this process (so waiting writers hold no pooled connection and readers never queue behind
//! them; on SQLite the writes have a connection of their own, whose page cache stays warm from
//! one write to the next), then the database's own lock, shared by every process on the
//! database: `BEGIN IMMEDIATE` on SQLite (a CLI command next to `serve` waits its turn instead
//! of failing with SQLITE_BUSY), `pg_advisory_xact_lock` on PostgreSQL. Change sequence numbers
//! are taken under that lock, so commit order equals `seq` order and pull cursors never skip a
//! change (see `docs/sync.md`). SQLite runs with `synchronous = FULL`: a commit is on disk before the server
//! acknowledges it, so a power cut cannot roll back a push the device has already cleared.

mod accounts;
mod analysis;
pub mod audit;
mod campaigns;
mod handover;
mod progress;
mod record_row;
mod records;
mod review;
mod roster;
mod scope;
mod sync;
mod wal;
mod writer;
pub use wal::WriteComing;
pub(crate) use writer::WriteConn;
pub use writer::WriteStamp;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, Notify};

pub use accounts::{AuthContext, DeviceRow, Failures, SignIn, UserRow};
pub use analysis::{Analyzer, CommunityFacts};
pub use campaigns::{
    CampaignRow, CarryReport, FLAG_MISSING_FROM_ROSTER, FLAG_MOVED_LAST_YEAR, NewCampaign,
};
pub use handover::KeyedMark;
pub use progress::CommunityProgress;
pub use record_row::PulledRecord;
pub use records::{ConflictRow, RecordRow};
pub use review::{CaseRow, NewSample, SampleRow, StageCounts};
pub use roster::{FactChange, ImportOutcome, RosterPerson};
pub use scope::Scope;
pub use sync::{LogEntry, Logged, PullPage, PushBatch, PushCampaign, PushLoad, Pusher};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Arbitrary constant naming Doorstep's write lock among PostgreSQL advisory locks.
const WRITE_LOCK_KEY: i64 = 0x00d0_0257;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<serde_json::Error> for DbError {
    fn from(e: serde_json::Error) -> Self {
        DbError::Corrupt(e.to_string())
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a pool, which backend it is, the writers' lock, and on SQLite the task that
/// checkpoints its log ([`wal`]).
pub struct Db {
    pool: AnyPool,
    /// The connection [`Db::write`] uses (SQLite; on PostgreSQL the pool).
    writer: AnyPool,
    /// SQLite: the writes' connection between two writes ([`writer`]).
    held: writer::Slot,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
    audit_lock: Mutex<()>,
    checkpoints: Option<wal::Checkpoints>,
}

/// A write transaction holding the writers' lock until commit or drop.
pub struct WriteTx<'a> {
    pub(crate) tx: WriteConn,
    backend: Backend,
    /// Told after the commit (SQLite: the log has pages to checkpoint).
    wrote: Option<&'a Notify>,
}

impl WriteTx<'_> {
    /// The placeholders of a statement whose parameters are exactly these `n` values, in order
    /// (an `IN (…)` list): see [`WriteTx::value_rows`].
    pub(crate) fn value_list(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => vec!["?"; n].join(", "),
            Backend::Postgres => placeholders(1, n),
        }
    }

    /// ` OR FAIL` on SQLite, after the `INSERT` or `UPDATE` of a statement of many rows whose
    /// error fails the whole transaction: unlike the default `ABORT`, `FAIL` keeps no
    /// statement journal to undo the statement's own rows (the caller drops the transaction).
    /// Nothing on PostgreSQL.
    pub(crate) fn or_fail(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => " OR FAIL",
            Backend::Postgres => "",
        }
    }

    /// Which database the transaction is on (for a statement spelled differently on each).
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The placeholders of a statement whose parameters are exactly `rows` groups of `per`
    /// values, in order (a multi-row `VALUES`): `(…), (…)`. On SQLite they are anonymous `?`:
    /// binding a numbered one (`$7`) makes the driver look its name up, a scan of the
    /// statement's parameter list, so a statement of 1,600 numbered values spends its time
    /// binding (about 0.9 s of CPU over a 6,800-record push). On PostgreSQL `$1…`.
    pub(crate) fn value_rows(&self, rows: usize, per: usize) -> String {
        (0..rows)
            .map(|i| match self.backend {
                Backend::Sqlite => format!("({})", vec!["?"; per].join(", ")),
                Backend::Postgres => format!("({})", placeholders(1 + i * per, per)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// # Errors
    /// When the commit fails; nothing of the transaction is kept then.
    pub async fn commit(self) -> DbResult<()> {
        self.commit_stamped(false).await.map(|_| ())
    }

    /// [`WriteTx::commit`]; with `stamp`, on SQLite, answers where the database stood then
    /// ([`WriteStamp`]).
    ///
    /// # Errors
    /// As [`WriteTx::commit`].
    pub async fn commit_stamped(self, stamp: bool) -> DbResult<Option<WriteStamp>> {
        let stamp = self.tx.commit_stamped(stamp).await?;
        if let Some(wrote) = self.wrote {
            wrote.notify_one();
        }
        Ok(stamp)
    }
}

impl Db {
    /// Connects, creating and migrating the database on first start.
    ///
    /// # Errors
    /// An unreachable or unmigratable database.
    pub async fn connect(url: &str) -> DbResult<Self> {
        Self::connect_with(url, "FULL").await
    }

    /// Connects with SQLite's `synchronous = NORMAL`: commits may be lost on a power cut. Only
    /// for the benchmark that measures what durability costs; the product always runs FULL.
    ///
    /// # Errors
    /// As [`Db::connect`].
    #[cfg(feature = "testing")]
    pub async fn connect_not_durable(url: &str) -> DbResult<Self> {
        Self::connect_with(url, "NORMAL").await
    }

    async fn connect_with(url: &str, synchronous: &'static str) -> DbResult<Self> {
        /// The page cache of the writes' connection, in KiB (negative: a size, not pages). The
        /// pool's connections keep SQLite's default (2 MiB): their caches are dropped whenever
        /// a write came in between, and a larger one only allocated more pages to free again.
        const WRITER_CACHE: &str = "PRAGMA cache_size = -16384";
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(DbError::Invalid(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://…"
            )));
        };
        if backend == Backend::Sqlite {
            // Create the file (and set WAL, which persists) with the typed driver first.
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            pool.close().await;
        }
        let options = |max: u32, writer: bool| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // A writer in another process (a CLI import next to `serve`) holds
                            // the lock for at most a few seconds; wait for it rather than fail.
                            conn.execute("PRAGMA busy_timeout = 60000").await?;
                            // Durable before acknowledged (WAL + FULL syncs the log on commit).
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA synchronous = {synchronous}"
                            )))
                            .await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute(wal::AUTOCHECKPOINT_OFF).await?;
                            if writer {
                                // Room for a push batch's pages (about 850 of 4 kB for 500
                                // records) until its commit: with the default 2 MiB, a batch
                                // spilled pages into the log mid-transaction and wrote them
                                // again; and its records' pages stay from one push to the next.
                                conn.execute(WRITER_CACHE).await?;
                            }
                        }
                        Ok(())
                    })
                })
        };
        let pool = options(if backend == Backend::Sqlite { 8 } else { 16 }, false)
            .connect(url)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => {
                let mut conn = pool.acquire().await?;
                // Two processes starting together must not migrate at once.
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(WRITE_LOCK_KEY + 1)
                    .execute(&mut *conn)
                    .await?;
                let r = POSTGRES_MIGRATIONS.run(&mut *conn).await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(WRITE_LOCK_KEY + 1)
                    .execute(&mut *conn)
                    .await?;
                r?;
            }
        }
        // SQLite: the writes under the lock on a connection of their own, whose page cache
        // stays valid from one write to the next (a connection's cache is dropped whenever
        // another connection changed the database since its last transaction; with the
        // writes spread over the pool, every push read its records' pages from the file again).
        // It is taken from this pool once and then kept between writes ([`writer`]): not
        // tested before each write, nor when a write ends (each a round trip to its thread
        // while a push's next batch waits).
        let writer = match backend {
            Backend::Sqlite => {
                options(1, true)
                    .test_before_acquire(false)
                    .connect(url)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        let write_lock = Arc::new(Mutex::new(()));
        let checkpoints = (backend == Backend::Sqlite)
            .then(|| wal::Checkpoints::start(pool.clone(), write_lock.clone()));
        let db = Self {
            pool,
            writer,
            held: writer::Slot::default(),
            backend,
            write_lock,
            audit_lock: Mutex::new(()),
            checkpoints,
        };
        db.ensure_analysis_facts().await?;
        Ok(db)
    }

    /// Announces a write that will soon ask for the lock (a push batch received): on SQLite,
    /// no checkpoint takes the lock before it ([`wal`]) until the answer is dropped.
    #[must_use]
    pub fn write_coming(&self) -> wal::WriteComing {
        self.checkpoints
            .as_ref()
            .map_or_else(wal::WriteComing::none, wal::Checkpoints::coming)
    }

    fn wrote(&self) -> Option<&Notify> {
        self.checkpoints.as_ref().map(wal::Checkpoints::wrote)
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a write transaction under the writers' lock: this process's mutex first (before a
    /// connection is taken: on SQLite the writes' own, see [`writer`]), then the database's lock
    /// shared by every process.
    ///
    /// # Errors
    /// A database error.
    pub async fn write(&self) -> DbResult<WriteTx<'_>> {
        let guard = self.write_lock.clone().lock_owned().await;
        let started = std::time::Instant::now();
        let tx = match self.backend {
            Backend::Sqlite => WriteConn::begin_held(&self.writer, &self.held, guard).await?,
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                WriteConn::Pooled(tx, Some(guard))
            }
        };
        let waited = started.elapsed();
        crate::metrics::write_lock_wait(waited);
        if waited > Duration::from_secs(1) {
            tracing::info!(
                waited_ms = waited.as_millis(),
                "waited for another process's write"
            );
        }
        Ok(WriteTx {
            tx,
            backend: self.backend,
            wrote: self.wrote(),
        })
    }

    /// A read-only transaction (one snapshot of the database, never committed: dropped, it is
    /// rolled back) on a pooled connection that is idle now, for reads that share the writes'
    /// helpers ([`Db::push_snapshot`]); `None` when every connection is busy (pulls), rather
    /// than waiting for one.
    ///
    /// # Errors
    /// A database error.
    pub(crate) async fn snapshot(&self) -> DbResult<Option<WriteTx<'_>>> {
        let Some(conn) = self.pool.try_acquire() else {
            return Ok(None);
        };
        Ok(Some(WriteTx {
            // What `Pool::begin` does with the connection it waited for.
            tx: WriteConn::Pooled(sqlx::Transaction::begin(conn, None).await?, None),
            backend: self.backend,
            wrote: None,
        }))
    }

    /// Begins a small write that does not queue behind this process's pushes (sign-ins,
    /// sessions, account changes): SQLite's own lock (at most one push's wait), or on PostgreSQL
    /// the audit chain's advisory lock, which such a write takes anyway for its entry.
    ///
    /// # Errors
    /// A database error.
    pub(crate) async fn side_write(&self) -> DbResult<WriteTx<'_>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx: WriteConn::Pooled(tx, None),
            backend: self.backend,
            wrote: self.wrote(),
        })
    }

    /// Writes a consistent copy of the SQLite database to `path` while the server keeps serving
    /// (`VACUUM INTO`: one read transaction, a compact file). PostgreSQL is backed up with
    /// `pg_dump` (see docs/deploy.md).
    ///
    /// # Errors
    /// A PostgreSQL database, an existing file at `path`, or a database error.
    pub async fn backup_to(&self, path: &std::path::Path) -> DbResult<()> {
        if self.backend == Backend::Postgres {
            return Err(DbError::Invalid(
                "PostgreSQL 请用 pg_dump 备份 / back PostgreSQL up with pg_dump -Fc (docs/deploy.md)".into(),
            ));
        }
        if path.exists() {
            return Err(DbError::Invalid(format!(
                "{} 已存在，未覆盖 / {} exists already; nothing overwritten",
                path.display(),
                path.display()
            )));
        }
        let target = path.to_string_lossy().replace('\'', "''");
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Checks a database file's integrity (`PRAGMA integrity_check`).
    ///
    /// # Errors
    /// A database error.
    pub async fn integrity_ok(&self) -> DbResult<bool> {
        if self.backend == Backend::Postgres {
            return Ok(true);
        }
        let r = sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?;
        Ok(r == "ok")
    }

    /// A setting of the database itself (see the `settings` table).
    ///
    /// # Errors
    /// A database error.
    pub async fn setting(&self, key: &str) -> DbResult<Option<String>> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// # Errors
    /// A database error.
    pub async fn set_setting(&self, key: &str, value: &str) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key.to_string())
        .bind(value.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the database holds nothing a district entered: no campaign, account or person.
    ///
    /// # Errors
    /// A database error.
    pub async fn is_empty(&self) -> DbResult<bool> {
        let n = sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM campaigns) + (SELECT COUNT(*) FROM users) \
                    + (SELECT COUNT(*) FROM persons) AS n",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 0)
    }

    /// Records who did what (sign-ins, record views, pulls, exports, imports, reviews, account
    /// changes) without sensitive values, in the tamper-evident chain (see [`audit`]).
    ///
    /// # Errors
    /// A database error.
    pub async fn audit(&self, user: Option<&str>, action: &str, detail: &str) -> DbResult<()> {
        self.audit_entry(&audit::Entry {
            user: user.map(str::to_string),
            device: None,
            address: None,
            action: action.to_string(),
            detail: detail.to_string(),
        })
        .await
    }

    /// Appends one entry to the audit chain, under a lock of its own: SQLite's (one writer at a
    /// time, but not behind this process's queue of pushes), or on PostgreSQL an advisory lock
    /// apart from the writers' — an audited read never queues behind the pushes.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_entry(&self, e: &audit::Entry) -> DbResult<()> {
        match self.backend {
            Backend::Sqlite => {
                // SQLite's own lock orders the chain; not the writers' queue in this process,
                // so a sign-in or a record view waits for one push at most, not for all queued.
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                audit::append(&mut tx, e).await?;
                tx.commit().await?;
                Ok(())
            }
            Backend::Postgres => {
                let _guard = self.audit_lock.lock().await;
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK_KEY + 2)
                    .execute(&mut *tx)
                    .await?;
                audit::append(&mut tx, e).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Appends one entry to the audit chain inside a write transaction (the record change and
    /// its entry commit together). On PostgreSQL the chain's own advisory lock is taken too
    /// (always after the writers' lock, so the order never inverts).
    ///
    /// # Errors
    /// A database error: then the whole transaction fails.
    pub(crate) async fn audit_in(&self, tx: &mut WriteTx<'_>, e: &audit::Entry) -> DbResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK_KEY + 2)
                .execute(&mut *tx.tx)
                .await?;
        }
        audit::append(&mut tx.tx, e).await
    }

    /// Number of audit entries for an action (used by tests and the console).
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_count(&self, action: &str) -> DbResult<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) AS n FROM audit_log WHERE action = $1")
                .bind(action.to_string())
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Takes the next `n` change sequence numbers of a campaign; call only under the write lock.
pub(crate) async fn take_seqs(tx: &mut WriteTx<'_>, campaign: &str, n: i64) -> DbResult<i64> {
    let next: i64 = sqlx::query_scalar("SELECT next_seq FROM campaigns WHERE id = $1")
        .bind(campaign.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
    let first = next + 1;
    sqlx::query("UPDATE campaigns SET next_seq = $1 WHERE id = $2")
        .bind(first + n - 1)
        .bind(campaign.to_string())
        .execute(&mut *tx.tx)
        .await?;
    Ok(first)
}

/// Placeholders `$from, $from+1, …` for an IN list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
