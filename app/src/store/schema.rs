//! The on-device schema: the migrations, applied in order on open and tracked by
//! `PRAGMA user_version`. Never edit a migration that has shipped: add one.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{AppError, Result};

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
    // 5: an edit the server applied stays in the outbox as `acked`, with the record version the
    // server answered (`acked_version`), until a pull brings that version of the record: the
    // device's copy is not rewritten twice, once at the answer and once at the pull that follows
    // (`outbox::apply_results`, `records::with_acked`). SQLite cannot change a CHECK: the table
    // is rebuilt. Rows are found by state through `outbox_state`: the pending ones to send are
    // not looked for among thousands acknowledged (a push of every survey, not yet pulled); a
    // query of one person's rows writes `+state` so that it keeps to `outbox_person`.
    r"
    CREATE TABLE outbox_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        person_id TEXT NOT NULL,
        base_version INTEGER NOT NULL,
        hlc TEXT NOT NULL,
        changes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected', 'acked')),
        reject_code TEXT,
        reject_message TEXT,
        acked_version INTEGER
    );
    INSERT INTO outbox_v5 (seq, id, person_id, base_version, hlc, changes, created_at, sent,
                           state, reject_code, reject_message)
        SELECT seq, id, person_id, base_version, hlc, changes, created_at, sent, state,
               reject_code, reject_message
        FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v5 RENAME TO outbox;
    CREATE INDEX outbox_person ON outbox (person_id, seq);
    CREATE INDEX outbox_state ON outbox (state, seq);
    ",
];

/// Applies the migrations not yet applied, each in its own transaction with its
/// `user_version`; a store newer than this app is refused.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
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
