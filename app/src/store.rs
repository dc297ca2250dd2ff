//! The encrypted local store: one SQLCipher database per device user.
//!
//! - **Key**: Argon2id(PIN, salt) → 32 bytes, applied as a raw key with `PRAGMA key = "x'…'"`;
//!   the salt and cost parameters sit in the plaintext sidecar `<path>.salt` (see
//!   [`crate::keyfile`]). A wrong PIN is noticed on the first read, so the store reads
//!   `sqlite_master` right after keying and reports [`AppError::WrongPin`].
//! - **Durability**: WAL with `synchronous=FULL`: once a write method returns, the edit is on
//!   disk; a crash before that loses only the unconfirmed edit.
//! - **Schema**: migrations in [`MIGRATIONS`], applied in order on open, tracked by
//!   `PRAGMA user_version`. Never edit a migration that has shipped: add one.
//! - **Tables**: `session` (one row), `records` (last pulled server state per person), `outbox`
//!   (pending and rejected edits, in `seq` order), `meta` (cursor, clock, campaign, form, scope,
//!   cached progress…), `sync_log` (what the server merged, flagged or refused).
//!
//! The store is `Clone + Send + Sync`: a handle around one connection behind a mutex held only
//! for the duration of one method. Every method blocks; call them off the UI thread (the sync
//! engine uses `spawn_blocking`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use doorstep_shared::domain::{Campaign, Review};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::OpenConflict;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::sync::{LoginResponse, PullResponse, RecordState};
use doorstep_shared::value::Answers;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::keyfile::{KdfParams, KeyFile, Passcode, sidecar_path};
use crate::model::{ProgressReport, Session};

/// The shortest PIN accepted.
pub const MIN_PIN_LEN: usize = 6;

/// The on-device schema, one migration per entry; `user_version` = migrations applied.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r"
    CREATE TABLE session (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        server_url TEXT NOT NULL,
        username TEXT NOT NULL,
        account TEXT NOT NULL,
        device_id TEXT NOT NULL,
        token TEXT,
        token_expires_at TEXT
    );
    -- The last pulled server state of each person's record.
    CREATE TABLE records (
        person_id TEXT PRIMARY KEY,
        community TEXT NOT NULL,
        person TEXT NOT NULL,
        version INTEGER NOT NULL,
        answers TEXT NOT NULL,
        review TEXT NOT NULL,
        review_comment TEXT,
        conflicts TEXT NOT NULL,
        seq INTEGER NOT NULL
    );
    CREATE INDEX records_community ON records (community);
    -- Edits not yet acknowledged: pushed in seq order (seq is the rowid, stable under VACUUM).
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        person_id TEXT NOT NULL,
        base_version INTEGER NOT NULL,
        hlc TEXT NOT NULL,
        changes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
        reject_code TEXT,
        reject_message TEXT
    );
    CREATE INDEX outbox_person ON outbox (person_id, seq);
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE sync_log (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        person_id TEXT NOT NULL,
        mutation_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        items TEXT NOT NULL,
        message TEXT
    );
    ",
    // 2: last year's answers of the carried items, for a record carried from the previous
    // campaign (`RecordState::prior`); NULL for a record without one.
    r"
    ALTER TABLE records ADD COLUMN prior TEXT;
    ",
    // 3: the answers being given on a person's screen, kept as each one is given (see
    // `scratch.rs`); `stamp` orders the writes, `{}` once they are saved.
    r"
    CREATE TABLE scratch (
        person_id TEXT PRIMARY KEY,
        edits TEXT NOT NULL,
        stamp INTEGER NOT NULL
    );
    ",
    // 4: the reviewer's notes on single items of a returned record (`RecordState::review_notes`,
    // item key → note), as JSON; NULL when there are none.
    r"
    ALTER TABLE records ADD COLUMN review_notes TEXT;
    ",
];

/// Keys of the `meta` table.
pub(crate) mod key {
    pub const CURSOR: &str = "cursor";
    pub const LAST_SYNC_AT: &str = "last_sync_at";
    pub const HLC: &str = "hlc";
    pub const FORM: &str = "form";
    pub const CAMPAIGN: &str = "campaign";
    pub const SCOPE: &str = "scope";
    pub const PROGRESS: &str = "progress";
    pub const PROGRESS_AT: &str = "progress_at";
    pub const COMMUNITY_NAMES: &str = "community_names";
    /// Persons who left this device's communities but still hold unsent edits.
    pub const DEPARTED: &str = "departed";
}

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

/// What one applied pull page changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageApplied {
    pub pulled: usize,
    /// Records newly returned by a supervisor: `(name, comment)`.
    pub returned: Vec<(String, String)>,
    pub dropped: Vec<DivisionCode>,
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
            apply_key(&conn, &key)?;
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
        apply_key(&conn, &key)?;
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
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut conn = conn;
        migrate(&mut conn)?;
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

    // ---- meta ----

    /// The pull cursor: the last change sequence number applied.
    ///
    /// # Errors
    /// A storage error.
    pub fn cursor(&self) -> Result<u64> {
        self.read(|c| Ok(get_meta::<u64>(c, key::CURSOR)?.unwrap_or(0)))
    }

    /// When the last complete sync finished.
    ///
    /// # Errors
    /// A storage error.
    pub fn last_sync_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| get_meta(c, key::LAST_SYNC_AT))
    }

    /// Makes this device's clock run `skew_ms` ahead (or behind, if negative) of the system
    /// clock: the field simulator's device with a wrong clock. A real device leaves it at zero.
    ///
    /// # Errors
    /// A storage error.
    pub fn set_clock_skew_ms(&self, skew_ms: i64) -> Result<()> {
        self.write(|tx| set_meta(tx, CLOCK_SKEW, &skew_ms))
    }

    /// Records that a sync completed now.
    ///
    /// # Errors
    /// A storage error.
    pub fn mark_synced(&self) -> Result<()> {
        self.write(|tx| set_meta(tx, key::LAST_SYNC_AT, &Utc::now()))
    }

    /// The campaign, as of the last pull.
    ///
    /// # Errors
    /// A storage error.
    pub fn campaign(&self) -> Result<Option<Campaign>> {
        self.read(|c| get_meta(c, key::CAMPAIGN))
    }

    /// The questionnaire the device validates with.
    ///
    /// # Errors
    /// A storage error.
    pub fn form(&self) -> Result<Option<FormDefinition>> {
        self.read(|c| get_meta(c, key::FORM))
    }

    /// Stores the questionnaire (the sync engine fetches it when the campaign's version changes).
    ///
    /// # Errors
    /// A storage error.
    pub fn set_form(&self, form: &FormDefinition) -> Result<()> {
        self.write(|tx| set_meta(tx, key::FORM, form))
    }

    /// The communities this device holds, as of the last pull.
    ///
    /// # Errors
    /// A storage error.
    pub fn scope(&self) -> Result<Vec<DivisionCode>> {
        self.read(|c| Ok(get_meta(c, key::SCOPE)?.unwrap_or_default()))
    }

    /// The device's hybrid logical clock.
    ///
    /// # Errors
    /// A storage error.
    pub fn hlc(&self) -> Result<Hlc> {
        self.read(|c| Ok(get_meta(c, key::HLC)?.unwrap_or_default()))
    }

    /// Names of communities, when known, by code.
    ///
    /// # Errors
    /// A storage error.
    pub fn community_names(&self) -> Result<BTreeMap<DivisionCode, String>> {
        self.read(|c| Ok(get_meta(c, key::COMMUNITY_NAMES)?.unwrap_or_default()))
    }

    /// Adds community names (merged with those known).
    ///
    /// # Errors
    /// A storage error.
    pub fn set_community_names(&self, names: &BTreeMap<DivisionCode, String>) -> Result<()> {
        self.write(|tx| {
            let mut all: BTreeMap<DivisionCode, String> =
                get_meta(tx, key::COMMUNITY_NAMES)?.unwrap_or_default();
            all.extend(names.iter().map(|(k, v)| (k.clone(), v.clone())));
            set_meta(tx, key::COMMUNITY_NAMES, &all)
        })
    }

    /// Caches the supervisor's progress table (and learns the community names in it).
    ///
    /// # Errors
    /// A storage error.
    pub fn set_progress(&self, report: &ProgressReport) -> Result<()> {
        self.write(|tx| {
            set_meta(tx, key::PROGRESS, report)?;
            set_meta(tx, key::PROGRESS_AT, &Utc::now())?;
            let mut names: BTreeMap<DivisionCode, String> =
                get_meta(tx, key::COMMUNITY_NAMES)?.unwrap_or_default();
            for c in &report.communities {
                names.insert(c.code.clone(), c.name.clone());
            }
            set_meta(tx, key::COMMUNITY_NAMES, &names)
        })
    }

    /// The cached progress table and when it was fetched.
    ///
    /// # Errors
    /// A storage error.
    pub fn cached_progress(&self) -> Result<Option<(ProgressReport, DateTime<Utc>)>> {
        self.read(|c| {
            let report: Option<ProgressReport> = get_meta(c, key::PROGRESS)?;
            let at: Option<DateTime<Utc>> = get_meta(c, key::PROGRESS_AT)?;
            Ok(report.map(|r| (r, at.unwrap_or_default())))
        })
    }

    // ---- session ----

    /// The stored session, if anyone ever signed in on this store.
    ///
    /// # Errors
    /// A storage error.
    pub fn session(&self) -> Result<Option<Session>> {
        self.read(load_session)
    }

    /// Checks that `username` may sign in to `server_url` on this device, and returns the
    /// device ID to present (kept across sign-ins to the same server).
    ///
    /// # Errors
    /// [`AppError::OtherUserHasUnsent`] when another account's edits are still unsent.
    pub fn prepare_sign_in(&self, server_url: &str, username: &str) -> Result<Option<Uuid>> {
        self.read(|c| {
            let Some(s) = load_session(c)? else {
                return Ok(None);
            };
            let same_server = s.server_url == server_url;
            if !(same_server && s.username == username) {
                let unsent = count_outbox(c)?;
                if unsent > 0 {
                    return Err(AppError::OtherUserHasUnsent {
                        username: s.username,
                        unsent,
                    });
                }
            }
            Ok(same_server.then_some(s.device_id))
        })
    }

    /// Stores a successful sign-in. Signing in as another account (or to another server)
    /// clears the previous account's records, cursor and logs; it is refused while that
    /// account has unsent edits.
    ///
    /// # Errors
    /// [`AppError::OtherUserHasUnsent`], or a storage error.
    pub fn save_login(
        &self,
        server_url: &str,
        username: &str,
        login: &LoginResponse,
    ) -> Result<()> {
        self.write(|tx| {
            if let Some(s) = load_session(tx)?
                && (s.server_url != server_url || s.username != username)
            {
                let unsent = count_outbox(tx)?;
                if unsent > 0 {
                    return Err(AppError::OtherUserHasUnsent {
                        username: s.username,
                        unsent,
                    });
                }
                tx.execute_batch(
                    "DELETE FROM records; DELETE FROM sync_log; DELETE FROM scratch;
                     DELETE FROM meta WHERE key NOT IN ('hlc', 'form', 'community_names');",
                )?;
            }
            tx.execute(
                "INSERT INTO session (id, server_url, username, account, device_id, token, token_expires_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET server_url = ?1, username = ?2, account = ?3,
                   device_id = ?4, token = ?5, token_expires_at = ?6",
                params![
                    server_url,
                    username,
                    serde_json::to_string(&login.account)?,
                    login.device_id.to_string(),
                    login.token,
                    login.expires_at.to_rfc3339(),
                ],
            )?;
            Ok(())
        })
    }

    /// Forgets the token (signing out, or after the server refused it); the account, the
    /// device ID and every record stay.
    ///
    /// # Errors
    /// A storage error.
    pub fn clear_token(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE session SET token = NULL, token_expires_at = NULL WHERE id = 1",
                [],
            )?;
            Ok(())
        })
    }

    // ---- pull ----

    /// Applies one pull page in one transaction, with its cursor: the server state of each
    /// record is replaced (never the outbox, so a pending edit stays on top), the scope,
    /// campaign and community names are stored, communities that left the scope are dropped unless they hold
    /// outbox edits, and the server's clock is observed. A crash mid-page loses the page and
    /// the next pull asks again from the previous cursor.
    ///
    /// # Errors
    /// A storage error.
    pub fn apply_pull_page(&self, page: &PullResponse) -> Result<PageApplied> {
        self.write(|tx| {
            let mut out = PageApplied::default();
            // Persons who left this device's communities go first: a record later in the page
            // (a move within the scope) brings them back. One with unsent edits is kept until
            // they are acknowledged (see `purge_departed`).
            if !page.removed.is_empty() {
                let mut departed: Vec<Uuid> = get_meta(tx, key::DEPARTED)?.unwrap_or_default();
                departed.extend(page.removed.iter().copied());
                departed.sort();
                departed.dedup();
                set_meta(tx, key::DEPARTED, &departed)?;
            }
            purge_departed(tx)?;
            for rec in &page.records {
                // Only what the comparison needs: no decoding of the stored record.
                let old: Option<(i64, String, Option<String>, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT seq, review, review_comment, review_notes FROM records
                         WHERE person_id = ?1",
                    )?
                    .query_row([rec.person.id.to_string()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()?;
                if old.as_ref().is_some_and(|o| to_u64(o.0) > rec.seq) {
                    continue;
                }
                // Returned anew: it was not returned, or now with another comment or notes.
                let notes = encode_notes(&rec.review_notes)?;
                if rec.review == Review::Returned
                    && old.as_ref().is_none_or(|o| {
                        o.1 != Review::Returned.key() || o.2 != rec.review_comment || o.3 != notes
                    })
                {
                    out.returned.push((
                        rec.person.name.clone(),
                        rec.review_comment.clone().unwrap_or_default(),
                    ));
                }
                upsert_record(tx, rec)?;
                unmark_departed(tx, rec.person.id)?;
                out.pulled += 1;
            }
            out.dropped = drop_out_of_scope(tx, &page.scope)?;
            if !page.community_names.is_empty() {
                let mut names: BTreeMap<DivisionCode, String> =
                    get_meta(tx, key::COMMUNITY_NAMES)?.unwrap_or_default();
                names.extend(page.community_names.clone());
                set_meta(tx, key::COMMUNITY_NAMES, &names)?;
            }
            set_meta(tx, key::SCOPE, &page.scope)?;
            set_meta(tx, key::CAMPAIGN, &page.campaign)?;
            set_meta(tx, key::CURSOR, &page.cursor)?;
            observe_hlc(tx, page.server_time)?;
            failpoint::hit("apply_pull_page.before_commit");
            Ok(out)
        })
    }

    /// Prepares for a new campaign: records without outbox edits are dropped and the cursor
    /// goes back to 0 (a campaign's change sequence starts anew).
    ///
    /// # Errors
    /// A storage error.
    pub fn reset_for_new_campaign(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM records WHERE person_id NOT IN (SELECT person_id FROM outbox)",
                [],
            )?;
            tx.execute(
                "DELETE FROM scratch WHERE person_id NOT IN (SELECT person_id FROM records)",
                [],
            )?;
            tx.execute(
                "DELETE FROM meta WHERE key IN ('cursor', 'campaign', 'scope')",
                [],
            )?;
            Ok(())
        })
    }
}

fn check_pin(pin: &str) -> Result<()> {
    if pin.chars().count() < MIN_PIN_LEN {
        Err(AppError::PinTooShort(MIN_PIN_LEN))
    } else {
        Ok(())
    }
}

fn apply_key(conn: &Connection, key_hex: &str) -> Result<()> {
    debug_assert!(key_hex.len() == 64 && key_hex.bytes().all(|b| b.is_ascii_hexdigit()));
    // SQLCipher logs a failed key check to stderr (logcat on Android): the wrong-PIN error says
    // enough.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    conn.execute_batch(&format!("PRAGMA key = \"x'{key_hex}'\";"))?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if current > supported {
        return Err(AppError::NewerSchema {
            found: current,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn get_meta<T: DeserializeOwned>(c: &Connection, k: &str) -> Result<Option<T>> {
    let v: Option<String> = c
        .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
        .optional()?;
    v.map(|s| serde_json::from_str(&s).map_err(AppError::from))
        .transpose()
}

pub(crate) fn set_meta<T: Serialize + ?Sized>(c: &Connection, k: &str, v: &T) -> Result<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![k, serde_json::to_string(v)?],
    )?;
    Ok(())
}

/// The device's wall clock: the system clock plus a simulated skew (zero on a real device).
fn device_now_ms(c: &Connection) -> Result<i64> {
    let skew: i64 = get_meta(c, CLOCK_SKEW)?.unwrap_or(0);
    Ok(now_ms() + skew)
}

const CLOCK_SKEW: &str = "clock_skew_ms";

pub(crate) fn observe_hlc(c: &Connection, remote: Hlc) -> Result<()> {
    let local: Hlc = get_meta(c, key::HLC)?.unwrap_or_default();
    set_meta(c, key::HLC, &local.observe(remote, device_now_ms(c)?))
}

/// Ticks the device clock for a local edit and stores it.
pub(crate) fn tick_hlc(c: &Connection) -> Result<Hlc> {
    let local: Hlc = get_meta(c, key::HLC)?.unwrap_or_default();
    let next = local.tick(device_now_ms(c)?);
    set_meta(c, key::HLC, &next)?;
    Ok(next)
}

fn load_session(c: &Connection) -> Result<Option<Session>> {
    let row: Option<(
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    )> = c
        .query_row(
            "SELECT server_url, username, account, device_id, token, token_expires_at
             FROM session WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((server_url, username, account, device_id, token, expires)) = row else {
        return Ok(None);
    };
    Ok(Some(Session {
        server_url,
        username,
        account: serde_json::from_str(&account)?,
        device_id: parse_uuid(&device_id)?,
        token,
        expires_at: expires
            .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
            .map(|d| d.with_timezone(&Utc)),
    }))
}

pub(crate) fn count_outbox(c: &Connection) -> Result<usize> {
    let n: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

const RECORD_COLUMNS: &str =
    "person, version, answers, review, review_comment, conflicts, seq, prior, review_notes";

type RawRecord = (
    String,
    i64,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<String>,
);

/// The reviewer's item notes as stored: JSON, or NULL when there are none.
fn encode_notes(notes: &BTreeMap<String, String>) -> Result<Option<String>> {
    if notes.is_empty() {
        Ok(None)
    } else {
        Ok(Some(serde_json::to_string(notes)?))
    }
}

fn raw_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn decode_record(raw: RawRecord) -> Result<RecordState> {
    let (person, version, answers, review, review_comment, conflicts, seq, prior, review_notes) =
        raw;
    let conflicts: BTreeMap<String, OpenConflict> = serde_json::from_str(&conflicts)?;
    Ok(RecordState {
        person: serde_json::from_str(&person)?,
        version: to_u64(version),
        answers: serde_json::from_str(&answers)?,
        review: Review::parse(&review).unwrap_or_default(),
        review_comment,
        review_notes: review_notes
            .map(|n| serde_json::from_str::<BTreeMap<String, String>>(&n))
            .transpose()?
            .unwrap_or_default(),
        conflicts,
        seq: to_u64(seq),
        prior: prior
            .map(|p| serde_json::from_str::<Answers>(&p))
            .transpose()?,
    })
}

pub(crate) fn load_record(c: &Connection, person: Uuid) -> Result<Option<RecordState>> {
    let raw = c
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE person_id = ?1"
        ))?
        .query_row([person.to_string()], raw_record)
        .optional()?;
    raw.map(decode_record).transpose()
}

/// Records of one community, or all of them.
pub(crate) fn load_records(c: &Connection, community: Option<&str>) -> Result<Vec<RecordState>> {
    let raws: Vec<RawRecord> = match community {
        Some(code) => {
            let mut st = c.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE community = ?1"
            ))?;
            st.query_map([code], raw_record)?
                .collect::<rusqlite::Result<_>>()?
        }
        None => {
            let mut st = c.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records"))?;
            st.query_map([], raw_record)?
                .collect::<rusqlite::Result<_>>()?
        }
    };
    raws.into_iter().map(decode_record).collect()
}

pub(crate) fn upsert_record(c: &Connection, rec: &RecordState) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO records (person_id, community, person, version, answers, review,
                              review_comment, conflicts, seq, prior, review_notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (person_id) DO UPDATE SET community = ?2, person = ?3, version = ?4,
           answers = ?5, review = ?6, review_comment = ?7, conflicts = ?8, seq = ?9,
           prior = ?10, review_notes = ?11",
    )?
    .execute(params![
        rec.person.id.to_string(),
        rec.person.community.as_str(),
        serde_json::to_string(&rec.person)?,
        to_i64(rec.version)?,
        serde_json::to_string(&rec.answers)?,
        rec.review.key(),
        rec.review_comment,
        serde_json::to_string(&rec.conflicts)?,
        to_i64(rec.seq)?,
        rec.prior.as_ref().map(serde_json::to_string).transpose()?,
        encode_notes(&rec.review_notes)?,
    ])?;
    Ok(())
}

/// Drops the departed persons (see [`PullResponse::removed`]) that hold no outbox edits; the
/// others stay listed until their edits are acknowledged.
pub(crate) fn purge_departed(c: &Connection) -> Result<()> {
    let departed: Vec<Uuid> = get_meta(c, key::DEPARTED)?.unwrap_or_default();
    if departed.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::new();
    for id in departed {
        let busy: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE person_id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?;
        if busy {
            kept.push(id);
        } else {
            c.execute("DELETE FROM records WHERE person_id = ?1", [id.to_string()])?;
        }
    }
    set_meta(c, key::DEPARTED, &kept)
}

/// A person pulled again (moved back into the scope) is no longer departed.
fn unmark_departed(c: &Connection, id: Uuid) -> Result<()> {
    let mut departed: Vec<Uuid> = get_meta(c, key::DEPARTED)?.unwrap_or_default();
    let n = departed.len();
    departed.retain(|d| *d != id);
    if departed.len() != n {
        set_meta(c, key::DEPARTED, &departed)?;
    }
    Ok(())
}

/// Drops the records of communities outside `scope` that hold no outbox edits. A scope entry
/// covers the communities under it: a worker's scope lists communities, a supervisor's their
/// street, an admin's the district.
fn drop_out_of_scope(c: &Connection, scope: &[DivisionCode]) -> Result<Vec<DivisionCode>> {
    let held: Vec<String> = {
        let mut st = c.prepare_cached("SELECT DISTINCT community FROM records")?;
        st.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let in_scope = |community: &str| {
        DivisionCode::parse(community).is_ok_and(|code| scope.iter().any(|s| s.contains(&code)))
    };
    let mut dropped = Vec::new();
    for community in held.iter().filter(|h| !in_scope(h)) {
        let busy: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN records r ON r.person_id = o.person_id
                            WHERE r.community = ?1)",
            [community],
            |r| r.get(0),
        )?;
        if busy {
            continue;
        }
        c.execute("DELETE FROM records WHERE community = ?1", [community])?;
        if let Ok(code) = DivisionCode::parse(community) {
            dropped.push(code);
        }
    }
    Ok(dropped)
}
