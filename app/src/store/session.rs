//! The `session` table: the one signed-in account on this store (server, account, device ID,
//! token), and what signing in as someone else clears.

use chrono::{DateTime, Utc};
use doorstep_shared::sync::LoginResponse;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::{Store, count_outbox, parse_uuid};
use crate::error::{AppError, Result};
use crate::model::Session;

impl Store {
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
                    "DELETE FROM records; DELETE FROM outbox; DELETE FROM sync_log;
                     DELETE FROM scratch;
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
}

/// The `session` row as stored: the account as JSON, the device ID and expiry as text.
struct SessionRow {
    server_url: String,
    username: String,
    account: String,
    device_id: String,
    token: Option<String>,
    token_expires_at: Option<String>,
}

impl SessionRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
        Ok(SessionRow {
            server_url: r.get("server_url")?,
            username: r.get("username")?,
            account: r.get("account")?,
            device_id: r.get("device_id")?,
            token: r.get("token")?,
            token_expires_at: r.get("token_expires_at")?,
        })
    }

    fn decode(self) -> Result<Session> {
        Ok(Session {
            server_url: self.server_url,
            username: self.username,
            account: serde_json::from_str(&self.account)?,
            device_id: parse_uuid(&self.device_id)?,
            token: self.token,
            expires_at: self
                .token_expires_at
                .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
                .map(|d| d.with_timezone(&Utc)),
        })
    }
}

fn load_session(c: &Connection) -> Result<Option<Session>> {
    c.query_row(
        "SELECT server_url, username, account, device_id, token, token_expires_at
         FROM session WHERE id = 1",
        [],
        SessionRow::read,
    )
    .optional()?
    .map(SessionRow::decode)
    .transpose()
}
