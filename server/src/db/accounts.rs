//! Users, devices, tokens and community assignments.

use uuid::Uuid;

use doorstep_shared::DivisionCode;
use doorstep_shared::errors::ErrorCode;
use doorstep_shared::sync::Role;

use super::{Db, DbError, DbResult, WriteTx, audit, now_ms, placeholders, take_seqs};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub area: Option<DivisionCode>,
    pub password_hash: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub kind: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub revoked: bool,
}

/// What a successful sign-in stores.
#[derive(Debug)]
pub struct SignIn<'a> {
    pub user_id: &'a str,
    /// The device the app names (its own ID), or `None` for a new one (a browser).
    pub device: Option<Uuid>,
    pub device_name: &'a str,
    /// `app` or `web`.
    pub kind: &'a str,
    pub token_hash: &'a str,
    pub expires_at: i64,
    /// Sign-in failure keys to forget.
    pub clear: &'a [String],
}

/// Sign-in failures in a row on a key (`u:name` or `a:address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    pub key: String,
    pub failures: i64,
    /// When the last one was (ms since the epoch).
    pub last_at: i64,
}

/// Who is calling: resolved from a bearer token on every request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub user: UserRow,
    pub device_id: String,
    /// The device is the mobile app (not a console session): its final outcomes count as APP.
    pub via_app: bool,
    pub revoked: bool,
    pub expires_at: i64,
}

/// A `users` row as stored ([`USER_COLS`]).
#[derive(sqlx::FromRow)]
struct UserDbRow {
    id: String,
    username: String,
    display_name: String,
    role: String,
    area: Option<String>,
    password_hash: String,
    active: i64,
}

impl UserDbRow {
    fn into_domain(self) -> DbResult<UserRow> {
        let area = self
            .area
            .map(|a| DivisionCode::parse(&a))
            .transpose()
            .map_err(|e| DbError::Corrupt(e.to_string()))?;
        let role = self.role;
        Ok(UserRow {
            id: self.id,
            username: self.username,
            display_name: self.display_name,
            role: Role::parse(&role).ok_or_else(|| DbError::Corrupt(format!("role {role}")))?,
            area,
            password_hash: self.password_hash,
            active: self.active != 0,
        })
    }
}

const USER_COLS: &str = "id, username, display_name, role, area, password_hash, active";

/// The user's columns and the device and token of a session ([`Db::auth`]).
#[derive(sqlx::FromRow)]
struct AuthDbRow {
    #[sqlx(flatten)]
    user: UserDbRow,
    device_id: String,
    kind: String,
    revoked_at: Option<i64>,
    expires_at: i64,
}

impl AuthDbRow {
    fn into_domain(self) -> DbResult<AuthContext> {
        Ok(AuthContext {
            user: self.user.into_domain()?,
            device_id: self.device_id,
            via_app: self.kind == "app",
            revoked: self.revoked_at.is_some(),
            expires_at: self.expires_at,
        })
    }
}

/// Whose a device is and whether it is revoked ([`Db::sign_in`]).
#[derive(sqlx::FromRow)]
struct DeviceOwnerRow {
    user_id: String,
    revoked_at: Option<i64>,
}

/// A device with its user's name ([`Db::devices`]).
#[derive(sqlx::FromRow)]
struct DeviceDbRow {
    id: String,
    user_id: String,
    username: String,
    name: String,
    kind: String,
    created_at: i64,
    last_seen: i64,
    revoked_at: Option<i64>,
}

impl DeviceDbRow {
    fn into_domain(self) -> DeviceRow {
        DeviceRow {
            id: self.id,
            user_id: self.user_id,
            username: self.username,
            name: self.name,
            kind: self.kind,
            created_at: self.created_at,
            last_seen: self.last_seen,
            revoked: self.revoked_at.is_some(),
        }
    }
}

/// A `sign_in_failures` row ([`Db::sign_in_failures`]).
#[derive(sqlx::FromRow)]
struct FailuresRow {
    lock_key: String,
    failures: i64,
    last_at: i64,
}

impl FailuresRow {
    fn into_domain(self) -> Failures {
        Failures {
            key: self.lock_key,
            failures: self.failures,
            last_at: self.last_at,
        }
    }
}

/// A community and its worker's username ([`Db::assignments`]).
#[derive(sqlx::FromRow)]
struct AssignmentRow {
    community: String,
    username: String,
}

impl Db {
    /// Creates an account, with its audit entry.
    ///
    /// # Errors
    /// A taken username, or a database error.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        area: Option<&DivisionCode>,
        password_hash: &str,
        entry: &audit::Entry,
    ) -> DbResult<String> {
        if self.user_by_name(username).await?.is_some() {
            return Err(DbError::Invalid(format!("user {username} exists already")));
        }
        let id = Uuid::now_v7().to_string();
        let mut tx = self.side_write().await?;
        sqlx::query(
            "INSERT INTO users (id, username, display_name, role, area, password_hash, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
        )
        .bind(id.clone())
        .bind(username.to_string())
        .bind(display_name.to_string())
        .bind(role.key())
        .bind(area.map(ToString::to_string))
        .bind(password_hash.to_string())
        .bind(now_ms())
        .execute(&mut *tx.tx)
        .await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// # Errors
    /// A database error.
    pub async fn user_by_name(&self, username: &str) -> DbResult<Option<UserRow>> {
        let row = sqlx::query_as::<_, UserDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        )))
        .bind(username.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserDbRow::into_domain).transpose()
    }

    /// # Errors
    /// A database error.
    pub async fn users(&self) -> DbResult<Vec<UserRow>> {
        let rows = sqlx::query_as::<_, UserDbRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users ORDER BY role, username"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UserDbRow::into_domain).collect()
    }

    /// A successful sign-in, as one transaction: the device registered (or the one given
    /// re-used, if it is the user's and not revoked), the session's token stored, the sign-in
    /// failures of `clear` forgotten, and the audit entry (whose `device` is filled in here).
    /// Returns the device's ID.
    ///
    /// # Errors
    /// A revoked device or one of another user ([`DbError::Invalid`]), or a database error;
    /// then nothing is kept.
    pub async fn sign_in(&self, s: &SignIn<'_>, mut entry: audit::Entry) -> DbResult<String> {
        let now = now_ms();
        let mut tx = self.side_write().await?;
        let mut known = false;
        if let Some(id) = s.device {
            let row = sqlx::query_as::<_, DeviceOwnerRow>(
                "SELECT user_id, revoked_at FROM devices WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?;
            if let Some(row) = row {
                if row.revoked_at.is_some() {
                    return Err(DbError::Invalid(ErrorCode::DeviceRevoked.as_str().into()));
                }
                if row.user_id != s.user_id {
                    return Err(DbError::Invalid("device_other_user".into()));
                }
                known = true;
            }
        }
        let id = s.device.unwrap_or_else(Uuid::now_v7).to_string();
        if !known {
            sqlx::query(
                "INSERT INTO devices (id, user_id, name, kind, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.clone())
            .bind(s.user_id.to_string())
            .bind(s.device_name.to_string())
            .bind(s.kind.to_string())
            .bind(now)
            .bind(now)
            .execute(&mut *tx.tx)
            .await?;
        }
        sqlx::query("INSERT INTO tokens (hash, device_id, expires_at) VALUES ($1, $2, $3)")
            .bind(s.token_hash.to_string())
            .bind(id.clone())
            .bind(s.expires_at)
            .execute(&mut *tx.tx)
            .await?;
        forget_failures(&mut tx, s.clear).await?;
        entry.device = Some(id.clone());
        self.audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// How the keys stand: failures in a row and the last one's time, for keys that have any.
    ///
    /// # Errors
    /// A database error.
    pub async fn sign_in_failures(&self, keys: &[String]) -> DbResult<Vec<Failures>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::query_as::<_, FailuresRow>(sqlx::AssertSqlSafe(format!(
            "SELECT lock_key, failures, last_at FROM sign_in_failures WHERE lock_key IN ({})",
            placeholders(1, keys.len())
        )));
        for k in keys {
            q = q.bind(k.clone());
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(FailuresRow::into_domain)
            .collect())
    }

    /// A failed sign-in, as one transaction: one more failure on each key (counting from one
    /// again when the last was before `fresh_since`), and the audit entry.
    ///
    /// # Errors
    /// A database error; then nothing is kept.
    pub async fn sign_in_failed(
        &self,
        keys: &[String],
        fresh_since: i64,
        entry: &audit::Entry,
    ) -> DbResult<()> {
        let now = now_ms();
        let mut tx = self.side_write().await?;
        for k in keys {
            sqlx::query(
                "INSERT INTO sign_in_failures (lock_key, failures, last_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (lock_key) DO UPDATE SET \
                 failures = CASE WHEN sign_in_failures.last_at < $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
                 last_at = $2",
            )
            .bind(k.clone())
            .bind(now)
            .bind(fresh_since)
            .execute(&mut *tx.tx)
            .await?;
        }
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Deletes expired tokens, and console devices (a browser's sign-in) with no session left.
    /// Phones stay: their revocation must outlive their tokens. Returns (tokens, devices) removed.
    ///
    /// # Errors
    /// A database error.
    pub async fn purge_expired(&self, now: i64) -> DbResult<(u64, u64)> {
        let mut tx = self.side_write().await?;
        let tokens = sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        let devices = sqlx::query(
            "DELETE FROM devices WHERE kind = 'web' \
             AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.device_id = devices.id)",
        )
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((tokens, devices))
    }

    /// Activates or deactivates an account, with its audit entry; deactivating deletes every
    /// token of its devices; the failures of `lift` are forgotten (an admin's unlock).
    ///
    /// # Errors
    /// A database error.
    pub async fn set_active(
        &self,
        user_id: &str,
        active: bool,
        lift: &[String],
        entry: &audit::Entry,
    ) -> DbResult<()> {
        let mut tx = self.side_write().await?;
        sqlx::query("UPDATE users SET active = $1 WHERE id = $2")
            .bind(i64::from(active))
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        if !active {
            delete_tokens(&mut tx, user_id).await?;
        }
        forget_failures(&mut tx, lift).await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Sets an account's password hash and ends every session of the account, with its audit
    /// entry; the failures of `lift` are forgotten.
    ///
    /// # Errors
    /// A database error.
    pub async fn set_password(
        &self,
        user_id: &str,
        hash: &str,
        lift: &[String],
        entry: &audit::Entry,
    ) -> DbResult<()> {
        let mut tx = self.side_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.to_string())
            .bind(user_id.to_string())
            .execute(&mut *tx.tx)
            .await?;
        delete_tokens(&mut tx, user_id).await?;
        forget_failures(&mut tx, lift).await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Forgets sign-in failures (an admin lifts a lockout), with its audit entry.
    ///
    /// # Errors
    /// A database error.
    pub async fn lift_lockout(&self, keys: &[String], entry: &audit::Entry) -> DbResult<()> {
        let mut tx = self.side_write().await?;
        forget_failures(&mut tx, keys).await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// Ends one session (signing out).
    ///
    /// # Errors
    /// A database error.
    pub async fn delete_token(&self, hash: &str, entry: &audit::Entry) -> DbResult<()> {
        let mut tx = self.side_write().await?;
        sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(hash.to_string())
            .execute(&mut *tx.tx)
            .await?;
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// The caller behind a token hash, if the token exists.
    ///
    /// # Errors
    /// A database error.
    pub async fn auth(&self, token_hash: &str) -> DbResult<Option<AuthContext>> {
        let row = sqlx::query_as::<_, AuthDbRow>(
            "SELECT u.id, u.username, u.display_name, u.role, u.area, u.password_hash, u.active, \
                    d.id AS device_id, d.kind, d.revoked_at, t.expires_at \
             FROM tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id \
             WHERE t.hash = $1",
        )
        .bind(token_hash.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(AuthDbRow::into_domain).transpose()
    }

    /// Marks a device lost: its tokens are refused from now on.
    ///
    /// # Errors
    /// An unknown device, or a database error.
    pub async fn revoke_device(&self, device_id: &str, entry: &audit::Entry) -> DbResult<()> {
        let mut tx = self.side_write().await?;
        let r =
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(device_id.to_string())
                .execute(&mut *tx.tx)
                .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("no active device {device_id}")));
        }
        self.audit_in(&mut tx, entry).await?;
        tx.commit().await
    }

    /// # Errors
    /// A database error.
    pub async fn devices(&self) -> DbResult<Vec<DeviceRow>> {
        let rows = sqlx::query_as::<_, DeviceDbRow>(
            "SELECT d.id, d.user_id, u.username, d.name, d.kind, d.created_at, d.last_seen, d.revoked_at \
             FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeviceDbRow::into_domain).collect())
    }

    /// The communities currently assigned to a worker in a campaign.
    ///
    /// # Errors
    /// A database error.
    pub async fn assigned(&self, campaign: &str, user_id: &str) -> DbResult<Vec<DivisionCode>> {
        let rows = sqlx::query_scalar::<_, String>(
            "SELECT community FROM assignments WHERE campaign_id = $1 AND user_id = $2 ORDER BY community",
        )
        .bind(campaign.to_string())
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|c| DivisionCode::parse(c).map_err(|e| DbError::Corrupt(e.to_string())))
            .collect()
    }

    /// All current assignments of a campaign: (community, username).
    ///
    /// # Errors
    /// A database error.
    pub async fn assignments(&self, campaign: &str) -> DbResult<Vec<(String, String)>> {
        let rows = sqlx::query_as::<_, AssignmentRow>(
            "SELECT a.community, u.username FROM assignments a JOIN users u ON u.id = a.user_id \
             WHERE a.campaign_id = $1 ORDER BY a.community",
        )
        .bind(campaign.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.community, r.username))
            .collect())
    }

    /// Assigns a community to a worker, for the first time or moved from another worker. Every
    /// person in it gets a new change sequence number, so the worker's next pull brings the whole
    /// community whatever their cursor (a first assignment after the worker pulled past the
    /// persons' import is no different from a move).
    ///
    /// # Errors
    /// An unknown worker or community, or a database error.
    pub async fn assign(
        &self,
        campaign: &str,
        community: &DivisionCode,
        username: &str,
    ) -> DbResult<()> {
        let user = self
            .user_by_name(username)
            .await?
            .ok_or_else(|| DbError::NotFound(format!("no user {username}")))?;
        if user.role != Role::Worker {
            return Err(DbError::Invalid(format!("{username} is not a worker")));
        }
        let mut tx = self.write().await?;
        let known = sqlx::query("SELECT code FROM places WHERE code = $1")
            .bind(community.to_string())
            .fetch_optional(&mut *tx.tx)
            .await?;
        if known.is_none() {
            return Err(DbError::NotFound(format!("no community {community}")));
        }
        let now = now_ms();
        let prev: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM assignments WHERE campaign_id = $1 AND community = $2",
        )
        .bind(campaign.to_string())
        .bind(community.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
        if prev.as_deref() == Some(user.id.as_str()) {
            return Ok(());
        }
        if let Some(prev) = &prev {
            close_history(&mut tx, campaign, community.as_str(), prev, now).await?;
        }
        sqlx::query("DELETE FROM assignments WHERE campaign_id = $1 AND community = $2")
            .bind(campaign.to_string())
            .bind(community.to_string())
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("INSERT INTO assignments (campaign_id, community, user_id, assigned_at) VALUES ($1, $2, $3, $4)")
            .bind(campaign.to_string())
            .bind(community.to_string())
            .bind(user.id.clone())
            .bind(now)
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query(
            "INSERT INTO assignment_history (campaign_id, community, user_id, assigned_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (campaign_id, community, user_id) DO UPDATE SET until_at = NULL",
        )
        .bind(campaign.to_string())
        .bind(community.to_string())
        .bind(user.id.clone())
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        bump_community(&mut tx, campaign, community.as_str()).await?;
        tx.commit().await
    }

    /// Takes a community away from its worker: their next pull lists a scope without it, and
    /// their device drops it once its edits there are acknowledged (late edits stay accepted).
    ///
    /// # Errors
    /// A community not assigned, or a database error.
    pub async fn unassign(&self, campaign: &str, community: &DivisionCode) -> DbResult<()> {
        let mut tx = self.write().await?;
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM assignments WHERE campaign_id = $1 AND community = $2",
        )
        .bind(campaign.to_string())
        .bind(community.to_string())
        .fetch_optional(&mut *tx.tx)
        .await?;
        if let Some(user) = holder {
            close_history(&mut tx, campaign, community.as_str(), &user, now_ms()).await?;
        }
        let r = sqlx::query("DELETE FROM assignments WHERE campaign_id = $1 AND community = $2")
            .bind(campaign.to_string())
            .bind(community.to_string())
            .execute(&mut *tx.tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(DbError::NotFound(format!(
                "社区 {community} 未分配 / community {community} is not assigned"
            )));
        }
        tx.commit().await
    }
}

/// Gives every person of a community a fresh change sequence number.
pub(crate) async fn bump_community(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    community: &str,
) -> DbResult<()> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM persons WHERE campaign_id = $1 AND community = $2 ORDER BY seq",
    )
    .bind(campaign.to_string())
    .bind(community.to_string())
    .fetch_all(&mut *tx.tx)
    .await?;
    let first = take_seqs(tx, campaign, i64::try_from(ids.len()).unwrap_or(0)).await?;
    for (i, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE persons SET seq = $1 WHERE id = $2")
            .bind(first + i64::try_from(i).unwrap_or(0))
            .bind(id.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    Ok(())
}

/// Deletes every token of a user's devices (inside the caller's transaction).
async fn forget_failures(tx: &mut WriteTx<'_>, keys: &[String]) -> DbResult<()> {
    for k in keys {
        sqlx::query("DELETE FROM sign_in_failures WHERE lock_key = $1")
            .bind(k.clone())
            .execute(&mut *tx.tx)
            .await?;
    }
    Ok(())
}

async fn delete_tokens(tx: &mut WriteTx<'_>, user_id: &str) -> DbResult<()> {
    sqlx::query(
        "DELETE FROM tokens WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)",
    )
    .bind(user_id.to_string())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// Notes when a community left a worker (their later edits there are new work, not late).
async fn close_history(
    tx: &mut WriteTx<'_>,
    campaign: &str,
    community: &str,
    user_id: &str,
    at: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE assignment_history SET until_at = $1 WHERE campaign_id = $2 AND community = $3 AND user_id = $4",
    )
    .bind(at)
    .bind(campaign.to_string())
    .bind(community.to_string())
    .bind(user_id.to_string())
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}
