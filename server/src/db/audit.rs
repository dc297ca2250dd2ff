//! The audit trail as a hash chain: entry `n` stores the SHA-256 of its own fields and of entry
//! `n − 1`'s hash. Removing, inserting or altering an entry anywhere breaks every hash after it,
//! which [`Db::audit_verify`] finds.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::{Db, DbResult, now_ms};

/// One thing someone did.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub user: Option<String>,
    pub device: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub detail: String,
}

impl Entry {
    /// An entry of a signed-in user's action (device and address not known here).
    #[must_use]
    pub fn by(user: &str, action: &str, detail: &str) -> Self {
        Self {
            user: Some(user.to_string()),
            device: None,
            address: None,
            action: action.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct Stored {
    pub seq: i64,
    pub at: i64,
    pub user: Option<String>,
    pub device: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub detail: String,
    pub hash: String,
}

/// An `audit_log` row as listed ([`Db::audit_entries`]).
#[derive(sqlx::FromRow)]
struct StoredRow {
    seq: i64,
    at: i64,
    user_name: Option<String>,
    device_id: Option<String>,
    address: Option<String>,
    action: String,
    detail: String,
    hash: String,
}

impl StoredRow {
    fn into_domain(self) -> Stored {
        Stored {
            seq: self.seq,
            at: self.at,
            user: self.user_name,
            device: self.device_id,
            address: self.address,
            action: self.action,
            detail: self.detail,
            hash: self.hash,
        }
    }
}

/// A whole `audit_log` row, as the chain check reads it ([`Db::audit_verify`]).
#[derive(sqlx::FromRow)]
struct ChainRow {
    seq: i64,
    at: i64,
    user_name: Option<String>,
    device_id: Option<String>,
    address: Option<String>,
    action: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

/// The chain's last entry ([`append`]).
#[derive(sqlx::FromRow)]
struct LastRow {
    seq: i64,
    hash: String,
}

/// The chain's start.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hash_of(seq: i64, at: i64, e: &Entry, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        seq.to_string().as_str(),
        at.to_string().as_str(),
        e.user.as_deref().unwrap_or(""),
        e.device.as_deref().unwrap_or(""),
        e.address.as_deref().unwrap_or(""),
        &e.action,
        &e.detail,
        prev,
    ] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry inside a transaction that holds the chain's lock.
pub(crate) async fn append(tx: &mut AnyConnection, e: &Entry) -> DbResult<()> {
    let last =
        sqlx::query_as::<_, LastRow>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (seq, prev) = match last {
        Some(r) => (r.seq + 1, r.hash),
        None => (1, GENESIS.to_string()),
    };
    let at = now_ms();
    let hash = hash_of(seq, at, e, &prev);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, user_name, device_id, address, action, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(seq)
    .bind(at)
    .bind(e.user.clone())
    .bind(e.device.clone())
    .bind(e.address.clone())
    .bind(e.action.clone())
    .bind(e.detail.clone())
    .bind(prev)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What checking the chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Verified {
    pub entries: i64,
    /// The first entry whose hash does not follow (`None`: the chain is whole).
    pub broken_at: Option<i64>,
}

impl Db {
    /// Recomputes the chain from the first entry.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_verify(&self) -> DbResult<Verified> {
        let rows = sqlx::query_as::<_, ChainRow>(
            "SELECT seq, at, user_name, device_id, address, action, detail, prev_hash, hash \
             FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut prev = GENESIS.to_string();
        let mut entries = 0;
        for (expected_seq, r) in (1_i64..).zip(rows) {
            let ChainRow {
                seq,
                at,
                user_name,
                device_id,
                address,
                action,
                detail,
                prev_hash: stored_prev,
                hash,
            } = r;
            let e = Entry {
                user: user_name,
                device: device_id,
                address,
                action,
                detail,
            };
            if seq != expected_seq || stored_prev != prev || hash_of(seq, at, &e, &prev) != hash {
                return Ok(Verified {
                    entries,
                    broken_at: Some(seq),
                });
            }
            prev = hash;
            entries += 1;
        }
        Ok(Verified {
            entries,
            broken_at: None,
        })
    }

    /// The newest entries, optionally of one action or one user, newest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_entries(
        &self,
        action: Option<&str>,
        user: Option<&str>,
        limit: i64,
    ) -> DbResult<Vec<Stored>> {
        Ok(sqlx::query_as::<_, StoredRow>(
            "SELECT seq, at, user_name, device_id, address, action, detail, hash FROM audit_log \
             WHERE ($1 = '' OR action = $1) AND ($2 = '' OR user_name = $2) ORDER BY seq DESC LIMIT $3",
        )
        .bind(action.unwrap_or("").to_string())
        .bind(user.unwrap_or("").to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(StoredRow::into_domain)
        .collect())
    }
}
