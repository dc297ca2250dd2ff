//! The `meta` table: one JSON value per key (cursor, clock, campaign, form, scope, cached
//! progress…), and the device's hybrid logical clock kept in it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use doorstep_shared::domain::Campaign;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::place::DivisionCode;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, now_ms};
use crate::error::{AppError, Result};
use crate::model::ProgressReport;

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

impl Store {
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
    #[cfg(feature = "testing")]
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

/// The device's wall clock: the system clock, plus the field simulator's skew in a `testing`
/// build.
#[cfg(feature = "testing")]
fn device_now_ms(c: &Connection) -> Result<i64> {
    let skew: i64 = get_meta(c, CLOCK_SKEW)?.unwrap_or(0);
    Ok(now_ms() + skew)
}

/// The device's wall clock: the system clock.
#[cfg(not(feature = "testing"))]
#[allow(clippy::unnecessary_wraps)]
fn device_now_ms(_: &Connection) -> Result<i64> {
    Ok(now_ms())
}

#[cfg(feature = "testing")]
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
