//! The encrypted local store: one SQLCipher database per device user.
//!
//! - **Key**: Argon2id(PIN, salt) → 32 bytes, applied as a raw key with `PRAGMA key = "x'…'"`;
//!   the salt and cost parameters sit in the plaintext sidecar `<path>.salt` (see
//!   [`crate::keyfile`]). A wrong PIN is noticed on the first read, so the store reads
//!   `sqlite_master` right after keying and reports [`AppError::WrongPin`].
//! - **Durability**: WAL with `synchronous=FULL`: once a write method returns, the edit is on
//!   disk; a crash before that loses only the unconfirmed edit.
//! - **Schema**: migrations in [`MIGRATIONS`] (`schema.rs`), applied in order on open, tracked
//!   by `PRAGMA user_version`. Never edit a migration that has shipped: add one.
//! - **Tables**: `session` (one row, `session.rs`), `records` (last pulled server state per
//!   person, `records.rs`; a pull applies to it in `pull.rs`), `outbox` (pending and rejected
//!   edits, in `seq` order: [`crate::outbox`]), `meta` (cursor, clock, campaign, form, scope,
//!   cached progress…, `meta.rs`), `sync_log` (what the server merged, flagged or refused).
//!
//! The store is `Clone + Send + Sync`: a handle around one connection behind a mutex held only
//! for the duration of one method. Every method blocks; call them off the UI thread (the sync
//! engine uses `spawn_blocking`).

mod meta;
mod pull;
mod records;
mod schema;
mod session;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use uuid::Uuid;

pub(crate) use self::meta::{get_meta, key, observe_hlc, set_meta, tick_hlc};
pub(crate) use self::pull::purge_departed;
pub use self::pull::{PageApplied, PulledPage, PulledRecord};
pub(crate) use self::records::{load_record, load_records};
pub use self::schema::MIGRATIONS;
use crate::error::{AppError, Result};
use crate::keyfile::{KdfParams, KeyFile, Passcode, sidecar_path};

/// The shortest PIN accepted.
pub const MIN_PIN_LEN: usize = 6;

/// Test-only crash injection: an armed failpoint aborts the process where it is hit.
#[cfg(test)]
pub(crate) mod failpoint {
    use std::sync::Mutex;

    static ARMED: Mutex<Option<&'static str>> = Mutex::new(None);

    pub fn arm(name: &'static str) {
        *ARMED.lock().unwrap() = Some(name);
    }

    pub fn hit(name: &str) {
        if ARMED.lock().unwrap().is_some_and(|a| a == name) {
            std::process::abort();
        }
    }
}

#[cfg(not(test))]
pub(crate) mod failpoint {
    #[inline]
    pub fn hit(_name: &str) {}
}

/// A handle on the encrypted local database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| AppError::Storage(format!("number out of range: {n}")))
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| AppError::Storage(format!("stored id {s:?}: {e}")))
}

pub(crate) fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// How many edits the outbox holds, pending or rejected.
pub(crate) fn count_outbox(c: &Connection) -> Result<usize> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'rejected')",
        [],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}

impl Store {
    /// Creates a new encrypted store at `path` protected by `pin`.
    ///
    /// # Errors
    /// [`AppError::PinTooShort`], [`AppError::StoreExists`] when `path` already holds a
    /// database, or a storage error.
    pub fn create(path: impl AsRef<Path>, pin: &str, kdf: KdfParams) -> Result<Store> {
        let path = path.as_ref();
        check_pin(pin)?;
        if path.exists() {
            return Err(AppError::StoreExists(path.to_path_buf()));
        }
        let kf = KeyFile::generate(kdf, Passcode::of(pin));
        kf.write(path)?;
        let created = (|| {
            let key = kf.derive_hex(pin)?;
            let conn = Connection::open(path)?;
            apply_key(&conn, &key, &kf)?;
            // Without SQLCipher linked, `PRAGMA key` is silently ignored: refuse to go on.
            let cipher: Option<String> = conn
                .query_row("PRAGMA cipher_version", [], |r| r.get(0))
                .optional()?;
            if cipher.is_none() {
                return Err(AppError::Storage(
                    "SQLCipher is not available: refusing to store data unencrypted".into(),
                ));
            }
            Self::finish_open(conn, path)
        })();
        if created.is_err() {
            let _ = Self::destroy(path);
        }
        created
    }

    /// The kind of passcode that protects the store at `path` (digits when unknown), for the
    /// unlock screen's keyboard.
    #[must_use]
    pub fn passcode(path: impl AsRef<Path>) -> Passcode {
        KeyFile::read(path.as_ref()).map_or(Passcode::Digits, |k| k.passcode)
    }

    /// The key derivation's cost parameters of the store at `path`.
    ///
    /// # Errors
    /// A missing or unreadable key file.
    pub fn kdf_params(path: impl AsRef<Path>) -> Result<KdfParams> {
        Ok(KeyFile::read(path.as_ref())?.params())
    }

    /// Opens the store at `path` with `pin`.
    ///
    /// # Errors
    /// [`AppError::NoStore`] when there is no store, [`AppError::KeyFileMissing`],
    /// [`AppError::WrongPin`],
    /// [`AppError::NewerSchema`], or a storage error.
    pub fn open(path: impl AsRef<Path>, pin: &str) -> Result<Store> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(AppError::NoStore(path.to_path_buf()));
        }
        let kf = KeyFile::read(path)?;
        let key = kf.derive_hex(pin)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        apply_key(&conn, &key, &kf)?;
        Self::finish_open(conn, path)
    }

    /// Whether a store exists at `path`.
    #[must_use]
    pub fn exists(path: impl AsRef<Path>) -> bool {
        path.as_ref().exists()
    }

    /// Deletes the store at `path` with its WAL and key file: for "forgot PIN". Everything on
    /// the device is lost, unsent edits included.
    ///
    /// # Errors
    /// A file that exists but cannot be removed.
    pub fn destroy(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut files = vec![path.to_path_buf(), sidecar_path(path)];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut s = path.as_os_str().to_owned();
            s.push(suffix);
            files.push(PathBuf::from(s));
        }
        for f in files {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn finish_open(conn: Connection, path: &Path) -> Result<Store> {
        // The first read after keying: a wrong key shows here, as "not a database".
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
                return Err(AppError::WrongPin);
            }
            Err(e) => return Err(e.into()),
        }
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AppError::Storage(format!(
                "cannot use WAL (journal mode {mode})"
            )));
        }
        // A page cache of up to 32 MiB (SQLite's default is 2 MiB): a page read again from the
        // cache is not decrypted and authenticated again, and a push or pull touches every record
        // of the device's communities. Taken only as pages are read.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -32768;",
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut conn = conn;
        schema::migrate(&mut conn)?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path: path.to_path_buf(),
            }),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.inner
            .conn
            .lock()
            .map_err(|_| AppError::Storage("the database handle was poisoned by a panic".into()))
    }

    /// Runs `f` on the connection (for reads).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock()?;
        f(&conn)
    }

    /// Runs `f` in one immediate transaction and commits it: all of `f`'s writes or none.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Like [`Store::write`], but `f` decides whether to commit (`Ok((value, true))`).
    pub(crate) fn write_if<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, bool)>,
    ) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (out, commit) = f(&tx)?;
        if commit {
            tx.commit()?;
        }
        Ok(out)
    }
}

fn check_pin(pin: &str) -> Result<()> {
    if pin.chars().count() < MIN_PIN_LEN {
        Err(AppError::PinTooShort(MIN_PIN_LEN))
    } else {
        Ok(())
    }
}

fn apply_key(conn: &Connection, key_hex: &str, kf: &KeyFile) -> Result<()> {
    debug_assert!(key_hex.len() == 64 && key_hex.bytes().all(|b| b.is_ascii_hexdigit()));
    // SQLCipher logs a failed key check to stderr (logcat on Android): the wrong-PIN error says
    // enough.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    conn.execute_batch(&format!("PRAGMA key = \"x'{key_hex}'\";"))?;
    conn.execute_batch(kf.cipher_pragmas())?;
    Ok(())
}
