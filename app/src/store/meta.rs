//! The `meta` table: one JSON value per key (cursor, clock, campaign, form, scope, cached
//! progress…), and the device's hybrid logical clock kept in it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use doorstep_shared::domain::Campaign;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::progress::Progress;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, now_ms};
use crate::error::{AppError, Result};

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
    /// The outbox's sent mark (`outbox::sent_upto`).
    pub const OUTBOX_SENT_UPTO: &str = "outbox_sent_upto";
    /// The server's last push answer said it keeps batches in order (`PushResponse::in_order`).
    pub const SERVER_IN_ORDER: &str = "server_in_order";
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
    pub fn set_progress(&self, report: &Progress) -> Result<()> {
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

    /// The cached progress table and when it was fetched. A table an older app cached in
    /// another shape does not decode: then there is none, and the next fetch replaces it.
    ///
    /// # Errors
    /// A storage error.
    pub fn cached_progress(&self) -> Result<Option<(Progress, DateTime<Utc>)>> {
        self.read(|c| {
            let report: Option<Progress> = get_meta_if_decodes(c, key::PROGRESS)?;
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

/// A cached value, or `None` when it is missing or no longer decodes (written by an older app
/// in another shape): for caches the next fetch refills, never for state the device owns.
fn get_meta_if_decodes<T: DeserializeOwned>(c: &Connection, k: &str) -> Result<Option<T>> {
    let v: Option<String> = c
        .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|s| match serde_json::from_str(&s) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::info!(key = k, error = %e, "cached value no longer decodes: ignored");
            None
        }
    }))
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

#[cfg(test)]
mod tests {
    use doorstep_shared::progress::{Counts, DayCount, Figures, ProgressRow};
    use serde_json::json;

    use super::*;
    use crate::tests::{campaign, empty_store};

    fn table() -> Progress {
        let community = Counts::community(20, [5, 1, 0, 0, 0, 0, 0], 6);
        let row = ProgressRow {
            code: DivisionCode::parse("430503001001").unwrap(),
            name: "北旗社区".into(),
            street_code: DivisionCode::parse("430503001").unwrap(),
            street_name: "城南街道".into(),
            figures: Figures::from(&community),
            last_activity: Some(1_796_399_654_919),
            expected_by_today: 12,
        };
        let street = ProgressRow {
            code: row.street_code.clone(),
            name: row.street_name.clone(),
            ..row.clone()
        };
        Progress {
            campaign: campaign(),
            total: Figures::from(&community),
            expected_by_today: 12,
            streets: vec![street],
            communities: vec![row],
            daily: vec![DayCount {
                day: "2021-03-02".into(),
                n: 6,
            }],
        }
    }

    #[test]
    fn a_progress_table_cached_by_an_older_app_is_no_cache() {
        let (_dir, _path, store) = empty_store();
        // The shape an older app cached: no campaign, no burn-up, no street for a community.
        let figures =
            serde_json::to_value(Figures::from(&Counts::community(20, [0; 7], 0))).unwrap();
        let old = json!({
            "communities": [{
                "code": "430503001001",
                "name": "北旗社区",
                "street_code": null,
                "street_name": null,
                "figures": figures,
                "last_activity": null,
                "expected_by_today": 0,
            }],
            "streets": [],
            "total": figures,
        });
        store
            .write(|tx| {
                set_meta(tx, key::PROGRESS, &old)?;
                set_meta(tx, key::PROGRESS_AT, &Utc::now())
            })
            .unwrap();
        assert!(
            store.cached_progress().unwrap().is_none(),
            "an old cache is no cache"
        );
        // Nor does anything else that does not decode break the app.
        store
            .write(|tx| set_meta(tx, key::PROGRESS, &json!("not a table")))
            .unwrap();
        assert!(store.cached_progress().unwrap().is_none());

        // The next fetch replaces it.
        let fresh = table();
        store.set_progress(&fresh).unwrap();
        let (cached, _at) = store.cached_progress().unwrap().unwrap();
        assert_eq!(cached, fresh);
        assert_eq!(
            store
                .community_names()
                .unwrap()
                .get(&fresh.communities[0].code),
            Some(&"北旗社区".to_string())
        );
    }
}
