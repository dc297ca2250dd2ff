//! The roster: importing a district's file (reconciled against the persons the campaign holds),
//! and the admin's decisions on flagged persons (`moved_last_year`, `missing_from_roster`).

use doorstep_shared::errors::ErrorCode;
use serde::{Deserialize, Serialize};

use super::{Error, Result, Who, campaigns};
use crate::db::{Db, ImportOutcome, RecordRow};

/// Reads, checks and imports a roster file into the open campaign: any bad row refuses the whole
/// file (naming every bad row, by the line a person sees in the file); nothing is imported then.
///
/// # Errors
/// `roster_invalid` with the rows' problems, no open campaign, or a database error.
pub async fn import(
    db: &Db,
    filename: &str,
    bytes: &[u8],
    by: Who<'_>,
    on_progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportOutcome> {
    let campaign = campaigns::for_reading(db, None).await?;
    // Parsing is CPU work on untrusted input: off the async threads.
    let (name, owned) = (filename.to_string(), bytes.to_vec());
    let entries = tokio::task::spawn_blocking(move || crate::roster::read_file(&name, &owned))
        .await
        .map_err(|e| {
            Error::invalid(
                ErrorCode::RosterInvalid,
                format!("读取文件失败 / reading the file failed: {e}"),
            )
        })?
        .map_err(|e| Error::invalid(ErrorCode::RosterInvalid, e.to_string()))?;
    let keys = db.person_keys(&campaign.id).await?;
    let persons: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.to_person(campaign.id, &keys),
                e.street_name.clone(),
                e.community_name.clone(),
            )
        })
        .collect();
    // Counts only: the changed facts themselves are personal data. The entry commits with
    // the import.
    let outcome = db
        .import_persons(&campaign, &persons, on_progress, &|outcome| {
            by.entry(
                "import_roster",
                &format!(
                    "{} rows from {filename}: {} added, {} updated ({} facts), {} unchanged, {} missing flagged",
                    outcome.imported,
                    outcome.added,
                    outcome.updated,
                    outcome.changes.len(),
                    outcome.unchanged,
                    outcome.missing.len()
                ),
            )
        })
        .await?;
    Ok(outcome)
}

/// An admin's decision on a flagged person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The person stays on the roster; the flag clears.
    Keep,
    /// The person leaves the campaign: the row is archived (nothing is lost), the devices holding
    /// the community drop the person, the counters move.
    Remove,
}

/// Persons of the open campaign awaiting a decision.
///
/// # Errors
/// No open campaign, or a database error.
pub async fn flagged(db: &Db) -> Result<Vec<RecordRow>> {
    let c = campaigns::for_reading(db, None).await?;
    Ok(db.flagged(&c.id.to_string()).await?)
}

/// Applies a decision on a flagged person of the open campaign.
///
/// # Errors
/// An unknown or unflagged person, removing without a reason, or a database error.
pub async fn decide(
    db: &Db,
    person_id: &str,
    decision: Decision,
    reason: &str,
    by: Who<'_>,
) -> Result<()> {
    let c = campaigns::for_reading(db, None).await?;
    let row = db
        .record(person_id)
        .await?
        .filter(|r| r.campaign_id == c.id.to_string())
        .ok_or_else(|| {
            Error::not_found(
                ErrorCode::UnknownPerson,
                format!("本次调查没有此人 / no person {person_id} in the open campaign"),
            )
        })?;
    if row.flag.is_none() {
        return Err(Error::conflict(
            ErrorCode::NotFlagged,
            "此人无待处理事项 / this person awaits no decision",
        ));
    }
    let entry = by.entry("roster_decision", &format!("{person_id} {decision:?}"));
    match decision {
        Decision::Keep => db.clear_flag(person_id, &entry).await?,
        Decision::Remove => {
            if reason.trim().is_empty() {
                return Err(Error::invalid(
                    ErrorCode::ReasonRequired,
                    "移出底册请填写原因 / say why the person leaves the roster",
                ));
            }
            db.remove_person(person_id, &by.name(), reason.trim(), &entry)
                .await?;
        }
    }
    Ok(())
}
