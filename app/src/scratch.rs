//! The answers being given on a person's screen, kept on the device as each one is given.
//!
//! A questionnaire is answered over minutes; the worker may reload, tap back, take a call, or
//! the phone may kill the app. So every answer goes to the encrypted store at once, as the
//! screen's whole set of unsaved edits (item → value, `None` clears), before "save draft" or
//! "submit" turns them into an outbox edit. Opening the person again brings them back, and the
//! person list marks who has such input.
//!
//! Writes come from the UI in the order answers are given but run on background threads, so
//! each carries a `stamp` from one process-wide clock ([`next_stamp`]) and a write older than
//! the stored one is ignored. Saving the edits leaves `{}` with a newer stamp, so a keystroke's
//! write that lands late cannot bring back what was just saved.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};

use doorstep_shared::value::Value;
use rusqlite::params;
use uuid::Uuid;

use crate::error::Result;
use crate::store::{Store, now_ms, parse_uuid};

/// A screen's unsaved edits: item → new value (`None` clears the item).
pub type Edits = BTreeMap<String, Option<Value>>;

static CLOCK: AtomicI64 = AtomicI64::new(0);

/// The next stamp: increasing within the process, and (being time-based) across restarts.
#[must_use]
pub fn next_stamp() -> i64 {
    let now = now_ms().saturating_mul(1000);
    let mut last = CLOCK.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match CLOCK.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

impl Store {
    /// Keeps a person's unsaved edits (all of them, replacing what was kept), unless a newer
    /// write (`stamp`) is already stored. Empty `edits` mean "nothing unsaved".
    ///
    /// # Errors
    /// A storage error.
    pub fn put_scratch(&self, person: Uuid, stamp: i64, edits: &Edits) -> Result<()> {
        let json = serde_json::to_string(edits)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO scratch (person_id, edits, stamp) VALUES (?1, ?2, ?3)
                 ON CONFLICT (person_id) DO UPDATE SET edits = excluded.edits, stamp = excluded.stamp
                 WHERE excluded.stamp > scratch.stamp",
                params![person.to_string(), json, stamp],
            )?;
            Ok(())
        })
    }

    /// A person's unsaved edits (empty when there are none).
    ///
    /// # Errors
    /// A storage error.
    pub fn scratch(&self, person: Uuid) -> Result<Edits> {
        self.read(|c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT edits FROM scratch WHERE person_id = ?1",
                    [person.to_string()],
                    |r| r.get(0),
                )
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            Ok(match json {
                Some(j) => serde_json::from_str(&j)?,
                None => Edits::new(),
            })
        })
    }

    /// The persons with unsaved edits on this device.
    ///
    /// # Errors
    /// A storage error.
    pub fn persons_with_scratch(&self) -> Result<BTreeSet<Uuid>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT person_id FROM scratch WHERE edits <> '{}'")?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ids.iter().map(|s| parse_uuid(s)).collect()
        })
    }
}
