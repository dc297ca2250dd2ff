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
//! write after it can start the log over rather than grow it. It tries after every [`WRITES`]
//! commits, or once the writes pause for [`PAUSE`]: pages that several commits wrote (the
//! indexes' last pages, the packs, progress) are copied once, not once per commit. A try
//! checkpoints only when no write waits for the lock and none is coming
//! ([`super::Db::write_coming`]: a push batch received, which may still wait for the batch
//! before it), so a phone's push is not held up between its batches; the copy waits for the
//! pause after the push. Once [`BEHIND`] commits are not checkpointed, the task waits its turn
//! for the lock instead. Tries are at least [`GAP`] apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// Commits not checkpointed after which the task waits its turn for the write lock rather
/// than for a moment without writes (pushes of 500 records: a log of about 50 MB).
const BEHIND: u32 = 16;
/// Writes made outside [`super::Db::write`] (sign-ins, sessions) are checkpointed this long
/// after, at the latest.
const IDLE: Duration = Duration::from_secs(10);

/// The checkpointing task of one SQLite pool; it stops when this is dropped.
pub(super) struct Checkpoints {
    wrote: Arc<Notify>,
    coming: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// A write announced before it takes the lock ([`super::Db::write_coming`]), until dropped.
pub struct WriteComing(Option<Arc<AtomicUsize>>);

impl Drop for WriteComing {
    fn drop(&mut self) {
        if let Some(coming) = &self.0 {
            coming.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Checkpoints {
    /// Starts the task. Connections of `pool` must not checkpoint by themselves
    /// ([`AUTOCHECKPOINT_OFF`]).
    pub(super) fn start(pool: AnyPool, write_lock: Arc<Mutex<()>>) -> Self {
        let wrote = Arc::new(Notify::new());
        let coming = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(pool, write_lock, wrote.clone(), coming.clone()));
        Self {
            wrote,
            coming,
            task,
        }
    }

    /// Announces a write: no checkpoint starts until it is dropped, unless [`BEHIND`] commits
    /// wait for one.
    pub(super) fn coming(&self) -> WriteComing {
        self.coming.fetch_add(1, Ordering::AcqRel);
        WriteComing(Some(self.coming.clone()))
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

impl WriteComing {
    /// Announces nothing (PostgreSQL: no checkpoints here).
    pub(super) fn none() -> Self {
        Self(None)
    }
}

async fn run(
    pool: AnyPool,
    write_lock: Arc<Mutex<()>>,
    wrote: Arc<Notify>,
    coming: Arc<AtomicUsize>,
) {
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
        let writers = if commits >= BEHIND {
            write_lock.lock().await
        } else if coming.load(Ordering::Acquire) > 0 {
            continue;
        } else if let Ok(free) = write_lock.try_lock() {
            free
        } else {
            continue;
        };
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

    /// The log's length in frames, and how many of them are in the database file, as the
    /// shared wal-index (`-shm`) records them: its header's `mxFrame` (bytes 16–19) and the
    /// checkpoint's `nBackfill` (bytes 96–99), in the machine's byte order. Read from the file,
    /// not asked with `PRAGMA wal_checkpoint`: this SQLite has no `NOOP` mode, and any other
    /// mode (an unknown one is taken as `PASSIVE`) would checkpoint the log itself.
    fn log(dir: &std::path::Path) -> (u32, u32) {
        let shm = std::fs::read(dir.join("d.db-shm")).expect("wal-index");
        let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().expect("four bytes"));
        (word(16), word(96))
    }

    /// Waits up to 2 s for the task to copy the log's first `frames` frames.
    async fn assert_copied_soon(dir: &std::path::Path, frames: u32) {
        let mut copied = 0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            (_, copied) = log(dir);
            if copied >= frames {
                break;
            }
        }
        assert!(copied >= frames, "{copied} of {frames} frames checkpointed");
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
        let (frames, _) = log(dir.path());
        assert!(frames > 1500, "log of {frames} frames");
        // The task copies them soon after.
        assert_copied_soon(dir.path(), frames).await;
        // The next write starts the log over rather than growing it.
        write_pages(&db, "small", 1).await;
        let (frames, _) = log(dir.path());
        assert!(frames < 20, "log of {frames} frames after a small write");
    }

    /// A write announced (a push batch received, not yet writing) holds the checkpoint back,
    /// so that the copy does not take the lock before it; once it is gone the log is copied.
    #[tokio::test]
    async fn a_write_coming_holds_the_checkpoint_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let db = Db::connect(&url).await.expect("connect");
        let coming = db.write_coming();
        write_pages(&db, "bulk", 300).await;
        let (frames, before) = log(dir.path());
        assert!(
            frames >= before + 300,
            "{before} of {frames} frames copied at once"
        );
        // Many pauses' worth of waiting: nothing more is copied while the write is coming.
        tokio::time::sleep(super::PAUSE * 10).await;
        let (_, copied) = log(dir.path());
        assert_eq!(
            copied, before,
            "{copied} of {frames} frames copied before the write came"
        );
        drop(coming);
        assert_copied_soon(dir.path(), frames).await;
    }
}
