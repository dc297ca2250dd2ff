//! The connection a write transaction runs on ([`super::WriteTx`]).
//!
//! On SQLite the writes have a connection of their own, and a write takes it from a slot and
//! puts it back at its commit, under the writers' lock: it is never given back to its pool
//! between writes. Given back, sqlx tests a connection (a round trip to its thread) before the
//! next write may take it, and a push's next batch, already waiting for the lock, waited for
//! that too: up to 4 ms of a 200-edit push whenever the phone's own work held the other core.
//! So the transaction is begun and ended here (`BEGIN IMMEDIATE`, `COMMIT`); a write dropped
//! unfinished (an error, a phone gone mid-push) is rolled back on a task that keeps the
//! writers' lock until the connection is back in its slot, so the next write finds it clean.
//!
//! PostgreSQL's writes, and the small writes beside the queue ([`super::Db::side_write`]), run
//! in a sqlx transaction on a pooled connection.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::DbResult;

/// Where the writes' connection waits between two writes.
/// The writes' connection between writes, and how many writes it has committed.
#[derive(Default, Clone)]
pub(super) struct Slot(Arc<Kept>);

#[derive(Default)]
struct Kept {
    conn: SyncMutex<Option<PoolConnection<Any>>>,
    commits: AtomicU64,
}

impl Slot {
    fn take(&self) -> Option<PoolConnection<Any>> {
        self.0
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn put(&self, conn: PoolConnection<Any>) {
        *self.0.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
    }

    fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::SeqCst)
    }

    /// Counts a commit; answers the count.
    fn committed(&self) -> u64 {
        self.0.commits.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Where the database stood when a write committed (SQLite): how many writes the writes'
/// connection had committed, and the database's `data_version` as that connection saw it,
/// which changes when any other connection (another process too) commits. A later write that
/// finds both the same knows that nothing else was committed in between
/// ([`WriteConn::unchanged_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStamp {
    commits: u64,
    data_version: i64,
}

/// The connection of one write transaction, used as an [`AnyConnection`].
pub(crate) enum WriteConn {
    /// A sqlx transaction on a pooled connection, with the writers' lock when it was taken.
    Pooled(Transaction<'static, Any>, Option<OwnedMutexGuard<()>>),
    /// SQLite's writes, on the connection from the slot.
    Held(Held),
}

/// A transaction on the writes' own connection: back in its slot at the commit, rolled back
/// first when dropped unfinished.
pub(crate) struct Held {
    /// `None` once committed (or handed to the rollback).
    conn: Option<PoolConnection<Any>>,
    slot: Slot,
    lock: Option<OwnedMutexGuard<()>>,
}

impl WriteConn {
    /// Begins a write on SQLite: the connection from the slot (or, the first time and after a
    /// failure, from `pool`), `BEGIN IMMEDIATE`, under `lock`.
    pub(super) async fn begin_held(
        pool: &AnyPool,
        slot: &Slot,
        lock: OwnedMutexGuard<()>,
    ) -> DbResult<Self> {
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => pool.acquire().await?,
        };
        // On an error the connection goes back to its pool, which tests it (or replaces it).
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(Self::Held(Held {
            conn: Some(conn),
            slot: slot.clone(),
            lock: Some(lock),
        }))
    }

    /// Commits. On an error nothing of the transaction is kept.
    /// Commits; with `stamp`, on SQLite, answers where the database stood then.
    pub(super) async fn commit_stamped(self, stamp: bool) -> DbResult<Option<WriteStamp>> {
        match self {
            Self::Pooled(tx, _lock) => {
                tx.commit().await?;
                Ok(None)
            }
            Self::Held(mut held) => {
                // A failed COMMIT leaves the transaction to the rollback of `held`'s drop.
                sqlx::query("COMMIT").execute(&mut *held).await?;
                let commits = held.slot.committed();
                let data_version = if stamp {
                    Some(data_version(&mut held).await)
                } else {
                    None
                };
                if let Some(conn) = held.conn.take() {
                    held.slot.put(conn);
                }
                Ok(data_version.transpose()?.map(|data_version| WriteStamp {
                    commits,
                    data_version,
                }))
            }
        }
    }

    /// Whether nothing was committed since the write that left `stamp`, by this connection
    /// or any other: on SQLite, inside this write (so nothing can be committed now either).
    /// Always `false` on PostgreSQL.
    pub(super) async fn unchanged_since(&mut self, stamp: WriteStamp) -> DbResult<bool> {
        match self {
            Self::Pooled(..) => Ok(false),
            Self::Held(held) => Ok(held.slot.commits() == stamp.commits
                && data_version(held).await? == stamp.data_version),
        }
    }
}

async fn data_version(conn: &mut AnyConnection) -> DbResult<i64> {
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await?)
}

impl Deref for WriteConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Pooled(tx, _) => tx,
            Self::Held(held) => held,
        }
    }
}

impl DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Pooled(tx, _) => tx,
            Self::Held(held) => held,
        }
    }
}

const HELD: &str = "the writes' connection is held until the commit";

impl Deref for Held {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_deref().expect(HELD)
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_deref_mut().expect(HELD)
    }
}

impl Drop for Held {
    /// Unfinished: rolls back on a task that holds the writers' lock until the connection is
    /// back in its slot (a statement still running on the connection's thread finishes first:
    /// its commands run in order). Without a runtime to run it on, or when the rollback fails,
    /// the connection is closed instead, which rolls back too; the next write opens another.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let (slot, lock) = (self.slot.clone(), self.lock.take());
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            conn.close_on_drop();
            return;
        };
        rt.spawn(async move {
            let _lock = lock;
            match sqlx::query("ROLLBACK").execute(&mut *conn).await {
                Ok(_) => slot.put(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "rolling back an unfinished write failed: reconnecting");
                    conn.close_on_drop();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Db;

    async fn set(tx: &mut super::super::WriteTx<'_>, key: &str) {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, 'x')")
            .bind(key.to_string())
            .execute(&mut *tx.tx)
            .await
            .expect("insert");
    }

    async fn has(db: &Db, key: &str) -> bool {
        db.setting(key).await.expect("read").is_some()
    }

    /// A write dropped unfinished keeps nothing, and neither the next write nor a write beside
    /// the queue (a sign-in) waits on it: the rollback runs at once, and the connection is
    /// back for the next write, which commits as usual.
    #[tokio::test]
    async fn a_write_dropped_unfinished_is_rolled_back_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let db = Db::connect(&url).await.expect("connect");
        for round in 0..3 {
            let mut tx = db.write().await.expect("write");
            set(&mut tx, &format!("dropped-{round}")).await;
            drop(tx);
            // SQLite's lock is free again soon: a side write does not wait out the busy timeout.
            let mut side = tokio::time::timeout(Duration::from_secs(5), db.side_write())
                .await
                .expect("the dropped write's lock is released")
                .expect("side write");
            set(&mut side, &format!("side-{round}")).await;
            side.commit().await.expect("side commit");
            let mut tx = db.write().await.expect("next write");
            set(&mut tx, &format!("kept-{round}")).await;
            tx.commit().await.expect("commit");
            assert!(!has(&db, &format!("dropped-{round}")).await);
            assert!(has(&db, &format!("side-{round}")).await);
            assert!(has(&db, &format!("kept-{round}")).await);
        }
    }

    /// Writes one after another reuse the writes' connection (its page cache setting shows it
    /// is not one of the pool's), and one whose commit is refused keeps nothing.
    #[tokio::test]
    async fn a_stamp_tells_whether_anything_was_committed_since() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let db = Db::connect(&url).await.expect("connect");
        let unchanged = |stamp| {
            let db = &db;
            async move {
                let mut tx = db.write().await.expect("write");
                tx.tx.unchanged_since(stamp).await.expect("check")
            }
        };
        let mut tx = db.write().await.expect("write");
        set(&mut tx, "a").await;
        let stamp = tx
            .commit_stamped(true)
            .await
            .expect("commit")
            .expect("stamped");
        assert!(unchanged(stamp).await, "nothing since");
        // A write dropped unfinished commits nothing.
        let mut tx = db.write().await.expect("write");
        set(&mut tx, "dropped").await;
        drop(tx);
        assert!(unchanged(stamp).await, "a rolled-back write is nothing");
        // Another write on the writes' own connection.
        let mut tx = db.write().await.expect("write");
        set(&mut tx, "b").await;
        tx.commit().await.expect("commit");
        assert!(!unchanged(stamp).await, "a write on the same connection");
        let tx = db.write().await.expect("write");
        let stamp = tx
            .commit_stamped(true)
            .await
            .expect("commit")
            .expect("stamped");
        assert!(unchanged(stamp).await);
        // A write on another connection of this process.
        let mut side = db.side_write().await.expect("side write");
        set(&mut side, "c").await;
        side.commit().await.expect("side commit");
        assert!(!unchanged(stamp).await, "a side write");
        let stamp = db.write().await.expect("write").commit_stamped(true).await;
        let stamp = stamp.expect("commit").expect("stamped");
        // A write by another process on the same database.
        let other = Db::connect(&url).await.expect("second process");
        let mut tx = other.write().await.expect("write");
        set(&mut tx, "d").await;
        tx.commit().await.expect("commit");
        assert!(!unchanged(stamp).await, "another process's write");
        let stamp = db.write().await.expect("write").commit_stamped(true).await;
        assert!(unchanged(stamp.expect("commit").expect("stamped")).await);
    }

    #[tokio::test]
    async fn writes_keep_their_own_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let db = Db::connect(&url).await.expect("connect");
        for i in 0..3 {
            let mut tx = db.write().await.expect("write");
            let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut *tx.tx)
                .await
                .expect("pragma");
            assert_eq!(cache, -16384, "write {i} on the writes' connection");
            set(&mut tx, &format!("k{i}")).await;
            tx.commit().await.expect("commit");
        }
        // A statement that fails inside the write: the caller drops it, nothing is kept.
        let mut tx = db.write().await.expect("write");
        set(&mut tx, "before-failure").await;
        let dup = sqlx::query("INSERT INTO settings (key, value) VALUES ('k0', 'again')")
            .execute(&mut *tx.tx)
            .await;
        assert!(dup.is_err(), "a duplicate key fails");
        drop(tx);
        let tx = db.write().await.expect("write after a failure");
        tx.commit().await.expect("commit");
        assert!(!has(&db, "before-failure").await);
        assert!(has(&db, "k2").await);
    }
}
