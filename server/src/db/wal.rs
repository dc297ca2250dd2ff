//! SQLite's write-ahead log is copied back into the database file (a checkpoint) by a task of
//! its own, not by whichever commit happens to grow the log past SQLite's threshold. Left to
//! SQLite, that commit copies (and, with `synchronous = FULL`, syncs) every page the commits
//! before it wrote, and the push that made it waits for all of that before its answer: a
//! fifth of a 200-edit push, more on a real disk. Here the pool's connections never checkpoint
//! (`wal_autocheckpoint = 0`); after a write commits, this task checkpoints on a pooled
//! connection of its own while the phone reads its answer. Durability does not change: a
//! commit is in the synced log before it is acknowledged, checkpointed or not.
//!
//! The task checkpoints between two writes, holding this process's write lock, so that the
//! write after it can start the log over rather than grow it. It checkpoints after every
//! [`WRITES`] commits, or once the writes pause for [`PAUSE`]: pages that several commits wrote
//! (the indexes' last pages, the packs, progress) are copied once, not once per commit. It
//! takes the lock only when no write waits for it (a push's next batch usually does: it is
//! already decoded), and waits in line only after [`SKIPS`] tries in a row found a write
//! waiting (a try follows a commit, at least [`GAP`] after the try before).

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{Mutex, Notify};

/// At most one checkpoint this often: a herd's small commits share one (on a disk, each
/// checkpoint syncs the database file).
const GAP: Duration = Duration::from_millis(50);
/// Commits between two checkpoints (a push of 500 records writes about 850 pages; four of
/// them keep the log under 15 MB).
const WRITES: u32 = 4;
/// Writes that pause this long are checkpointed without waiting for [`WRITES`] commits (soon,
/// so that the copy is over before the next write after the pause comes).
const PAUSE: Duration = Duration::from_millis(20);
/// Tries in a row that found a write waiting, after which the task waits its turn for the
/// write lock rather than skip a checkpoint again.
const SKIPS: u32 = 8;
/// Writes made outside [`super::Db::write`] (sign-ins, sessions) are checkpointed this long
/// after, at the latest.
const IDLE: Duration = Duration::from_secs(10);

/// The checkpointing task of one SQLite pool; it stops when this is dropped.
pub(super) struct Checkpoints {
    wrote: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Checkpoints {
    /// Starts the task. Connections of `pool` must not checkpoint by themselves
    /// ([`AUTOCHECKPOINT_OFF`]).
    pub(super) fn start(pool: AnyPool, write_lock: Arc<Mutex<()>>) -> Self {
        let wrote = Arc::new(Notify::new());
        let task = tokio::spawn(run(pool, write_lock, wrote.clone()));
        Self { wrote, task }
    }

    /// Tells the task that a write committed.
    pub(super) fn wrote(&self) -> &Notify {
        &self.wrote
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Run on each pooled SQLite connection: it leaves checkpoints to [`Checkpoints`].
pub(super) const AUTOCHECKPOINT_OFF: &str = "PRAGMA wal_autocheckpoint = 0";

async fn run(pool: AnyPool, write_lock: Arc<Mutex<()>>, wrote: Arc<Notify>) {
    let mut skipped = 0;
    // Commits not yet checkpointed (as far as the task was told).
    let mut commits = 0;
    loop {
        let wait = if commits > 0 { PAUSE } else { IDLE };
        let committed = tokio::select! {
            () = wrote.notified() => true,
            () = tokio::time::sleep(wait) => false,
        };
        if pool.is_closed() {
            return;
        }
        if committed {
            commits += 1;
            if commits < WRITES {
                continue;
            }
        }
        let writers = match write_lock.try_lock() {
            Ok(free) => free,
            Err(_) if skipped < SKIPS => {
                skipped += 1;
                continue;
            }
            Err(_) => write_lock.lock().await,
        };
        skipped = 0;
        commits = 0;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "checkpoint failed");
        }
        drop(writers);
        tokio::time::sleep(GAP).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;

    /// The log's length in frames, and how many of them are in the database file. While the
    /// task is checkpointing, the question is busy (and answers -1): asked again.
    async fn log(db: &Db) -> (i64, i64) {
        for _ in 0..500 {
            let rows: Vec<(i64, i64, i64)> = sqlx::query_as("PRAGMA wal_checkpoint(NOOP)")
                .fetch_all(db.pool())
                .await
                .expect("wal_checkpoint");
            match rows.first() {
                Some(&(0, frames, copied)) => return (frames, copied),
                Some(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                None => panic!("wal_checkpoint answered nothing"),
            }
        }
        panic!("the log stayed busy for 5 s");
    }

    async fn write_pages(db: &Db, key: &str, n: usize) {
        let mut tx = db.write().await.expect("write");
        for i in 0..n {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(format!("{key}-{i}"))
                .bind("x".repeat(4000))
                .execute(&mut *tx.tx)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
    }

    /// Commits do not checkpoint (no push waits for it), yet the log stays short: the task
    /// copies it into the database file after a commit, and the next write starts it over.
    #[tokio::test]
    async fn the_log_is_checkpointed_after_commits_and_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let db = Db::connect(&url).await.expect("connect");
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(db.pool())
            .await
            .expect("pragma");
        assert_eq!(auto, 0, "a pooled connection checkpoints in its commits");
        write_pages(&db, "bulk", 1500).await;
        let (frames, _) = log(&db).await;
        assert!(frames > 1500, "log of {frames} frames");
        // The task copies them soon after.
        let mut copied = 0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            (_, copied) = log(&db).await;
            if copied >= frames {
                break;
            }
        }
        assert!(copied >= frames, "{copied} of {frames} frames checkpointed");
        // The next write starts the log over rather than growing it.
        write_pages(&db, "small", 1).await;
        let (frames, _) = log(&db).await;
        assert!(frames < 20, "log of {frames} frames after a small write");
    }
}
