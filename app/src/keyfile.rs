//! The database key: Argon2id of the worker's PIN with a random salt, 32 bytes, handed to
//! SQLCipher as a raw key (`PRAGMA key = "x'…'"`, so SQLCipher's own PBKDF2 is skipped).
//!
//! The salt and the Argon2 parameters live in a small plaintext sidecar next to the database,
//! `<db path>.salt`, as JSON: `{"format":1,"kdf":"argon2id","m_kib":19456,"t":2,"p":1,
//! "salt":"<32 hex>"}`. Neither is secret; without the PIN they open nothing. The sidecar is
//! written atomically (temporary file, fsync, rename) before the database is created, and never
//! changes afterwards. Losing it makes the database unreadable, exactly like forgetting the PIN.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id minimum (19 MiB, 2 passes, 1 lane): a fraction of a second on a cheap
    /// phone, and a PIN guesser pays the same for every guess.
    fn default() -> Self {
        Self {
            m_kib: Params::DEFAULT_M_COST,
            t: Params::DEFAULT_T_COST,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Tiny parameters for tests only: fast, and worthless against a guesser.
    #[must_use]
    pub fn insecure_fast_for_tests() -> Self {
        Self {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    format: u32,
    kdf: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// The sidecar's path: `<db path>.salt`.
pub(crate) fn sidecar_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".salt");
    PathBuf::from(s)
}

impl KeyFile {
    /// A fresh key file with a random 16-byte salt (a v4 UUID: 122 random bits from the OS).
    pub(crate) fn generate(params: KdfParams) -> Self {
        Self {
            format: 1,
            kdf: "argon2id".into(),
            params,
            salt: hex::encode(uuid::Uuid::new_v4().as_bytes()),
        }
    }

    pub(crate) fn read(db: &Path) -> Result<Self> {
        let path = sidecar_path(db);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AppError::KeyFileMissing(path));
            }
            Err(e) => return Err(e.into()),
        };
        let kf: KeyFile = serde_json::from_str(&text)
            .map_err(|e| AppError::Storage(format!("key file {}: {e}", path.display())))?;
        if kf.format != 1 || kf.kdf != "argon2id" {
            return Err(AppError::Storage(format!(
                "key file {}: unsupported format",
                path.display()
            )));
        }
        Ok(kf)
    }

    /// Writes the sidecar atomically and durably.
    pub(crate) fn write(&self, db: &Path) -> Result<()> {
        let path = sidecar_path(db);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string(self)?.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform can open a directory.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// The SQLCipher raw key for `pin`, as 64 hex characters.
    pub(crate) fn derive_hex(&self, pin: &str) -> Result<String> {
        let salt = hex::decode(&self.salt)
            .map_err(|e| AppError::Storage(format!("key file salt: {e}")))?;
        let params = Params::new(self.params.m_kib, self.params.t, self.params.p, Some(32))
            .map_err(|e| AppError::Storage(format!("key file parameters: {e}")))?;
        let mut key = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(pin.as_bytes(), &salt, &mut key)
            .map_err(|e| AppError::Storage(format!("key derivation: {e}")))?;
        let hex = hex::encode(key);
        key.fill(0);
        Ok(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pin_same_key_other_salt_other_key() {
        let a = KeyFile::generate(KdfParams::insecure_fast_for_tests());
        let b = KeyFile::generate(KdfParams::insecure_fast_for_tests());
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.salt.len(), 32);
        let ka = a.derive_hex("123456").unwrap();
        assert_eq!(ka.len(), 64);
        assert_eq!(ka, a.derive_hex("123456").unwrap());
        assert_ne!(ka, a.derive_hex("123457").unwrap());
        assert_ne!(ka, b.derive_hex("123456").unwrap());
    }

    #[test]
    fn sidecar_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("doorstep.db");
        let kf = KeyFile::generate(KdfParams::default());
        kf.write(&db).unwrap();
        assert!(sidecar_path(&db).ends_with("doorstep.db.salt"));
        assert_eq!(KeyFile::read(&db).unwrap(), kf);
    }
}
