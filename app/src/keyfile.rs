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

/// The most memory one derivation may take on a phone: cheap phones have 2–3 GB and the
/// system may stop an app that takes much more.
pub const MAX_M_KIB: u32 = 64 * 1024;
/// The most passes calibration adds once the memory is at [`MAX_M_KIB`].
pub const MAX_T: u32 = 8;

impl KdfParams {
    /// Parameters that cost about `target` on this device, never below `floor`: one
    /// derivation is timed with `floor`, then the memory is raised (up to [`MAX_M_KIB`]), then
    /// the passes (up to [`MAX_T`]). A phone that unlocks in `target` makes every guess of an
    /// offline attacker with the copied store cost the same memory and work. Returns the
    /// parameters and how long the `floor` derivation took here.
    #[must_use]
    pub fn calibrated(
        floor: KdfParams,
        target: std::time::Duration,
    ) -> (KdfParams, std::time::Duration) {
        let probe = KeyFile::generate(floor, Passcode::Digits);
        let started = std::time::Instant::now();
        let _ = probe.derive_hex("calibration");
        let took = started.elapsed();
        (floor.scaled(took, target), took)
    }

    /// `self` scaled by how much longer a derivation may take (`target` over `took`): memory
    /// first, then passes; never below `self`.
    #[must_use]
    pub fn scaled(self, took: std::time::Duration, target: std::time::Duration) -> KdfParams {
        let factor = target.as_secs_f64() / took.as_secs_f64().max(1e-6);
        if factor <= 1.0 {
            return self;
        }
        let m0 = f64::from(self.m_kib);
        let m = (m0 * factor).clamp(m0, f64::from(MAX_M_KIB.max(self.m_kib)));
        let t0 = f64::from(self.t);
        let t = (t0 * factor * m0 / m)
            .round()
            .clamp(t0, f64::from(MAX_T.max(self.t)));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        KdfParams {
            m_kib: m as u32,
            t: t as u32,
            p: self.p,
        }
    }

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

/// What kind of passcode protects a store: the unlock screen shows the matching keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Passcode {
    /// Digits only: a PIN on the number pad.
    #[default]
    Digits,
    /// Letters (and anything else) too: a longer passcode on the full keyboard.
    Text,
}

impl Passcode {
    /// The kind of this passcode.
    #[must_use]
    pub fn of(pin: &str) -> Self {
        if pin.chars().all(|c| c.is_ascii_digit()) {
            Self::Digits
        } else {
            Self::Text
        }
    }

    /// The `inputmode` of a field that takes it.
    #[must_use]
    pub fn input_mode(self) -> &'static str {
        match self {
            Self::Digits => "numeric",
            Self::Text => "text",
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
    /// Written by this release on; a sidecar without it is a PIN's.
    #[serde(default)]
    pub(crate) passcode: Passcode,
}

/// The key file format this release writes ([`KeyFile::cipher_pragmas`]); it reads 1 and 2.
const FORMAT: u32 = 2;

/// The sidecar's path: `<db path>.salt`.
pub(crate) fn sidecar_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".salt");
    PathBuf::from(s)
}

impl KeyFile {
    /// A fresh key file with a random 16-byte salt (a v4 UUID: 122 random bits from the OS).
    pub(crate) fn generate(params: KdfParams, passcode: Passcode) -> Self {
        Self {
            format: FORMAT,
            kdf: "argon2id".into(),
            params,
            salt: hex::encode(uuid::Uuid::new_v4().as_bytes()),
            passcode,
        }
    }

    /// The SQLCipher settings of the store, set right after its key (before the first read):
    /// how its pages are authenticated. Format 1 (the first releases) kept SQLCipher 4's
    /// default, HMAC-SHA512. Format 2 (stores created since) uses HMAC-SHA256: as strong for a
    /// page's tag, and on CPUs with SHA extensions (ARMv8 phones, recent x86) about twice as
    /// fast (measured on the development machine: 1.9 GB/s against 0.85 GB/s), and every page
    /// the store writes or reads from disk pays it. An older app refuses a format 2 key file
    /// as "unsupported format" rather than reporting a wrong PIN.
    pub(crate) fn cipher_pragmas(&self) -> &'static str {
        if self.format >= 2 {
            "PRAGMA cipher_hmac_algorithm = HMAC_SHA256;"
        } else {
            "PRAGMA cipher_hmac_algorithm = HMAC_SHA512;"
        }
    }

    /// The cost parameters it was made with.
    pub(crate) fn params(&self) -> KdfParams {
        self.params
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
        if !(1..=FORMAT).contains(&kf.format) || kf.kdf != "argon2id" {
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
        let a = KeyFile::generate(KdfParams::insecure_fast_for_tests(), Passcode::Digits);
        let b = KeyFile::generate(KdfParams::insecure_fast_for_tests(), Passcode::Digits);
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
        let kf = KeyFile::generate(KdfParams::default(), Passcode::Text);
        kf.write(&db).unwrap();
        assert!(sidecar_path(&db).ends_with("doorstep.db.salt"));
        assert_eq!(KeyFile::read(&db).unwrap(), kf);
    }

    #[test]
    fn a_sidecar_without_a_passcode_kind_is_a_pins() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("doorstep.db");
        std::fs::write(
            sidecar_path(&db),
            r#"{"format":1,"kdf":"argon2id","m_kib":19456,"t":2,"p":1,"salt":"00112233445566778899aabbccddeeff"}"#,
        )
        .unwrap();
        assert_eq!(KeyFile::read(&db).unwrap().passcode, Passcode::Digits);
        assert_eq!(Passcode::of("123456"), Passcode::Digits);
        assert_eq!(Passcode::of("field-2026"), Passcode::Text);
    }

    #[test]
    fn calibration_raises_memory_then_passes_and_never_goes_below_the_floor() {
        use std::time::Duration;
        let floor = KdfParams::default();
        let ms = Duration::from_millis;
        // A slow phone: the floor already takes longer than the target.
        assert_eq!(floor.scaled(ms(900), ms(500)), floor);
        // Twice as fast as needed: twice the memory, same passes.
        let p = floor.scaled(ms(250), ms(500));
        assert_eq!((p.m_kib, p.t), (floor.m_kib * 2, floor.t));
        // Much faster: memory at its cap, the rest in passes, capped too.
        let p = floor.scaled(ms(50), ms(500));
        assert_eq!(p.m_kib, MAX_M_KIB);
        let expected_t =
            (f64::from(floor.t) * 10.0 * f64::from(floor.m_kib) / f64::from(MAX_M_KIB)).round();
        assert_eq!(f64::from(p.t), expected_t);
        let p = floor.scaled(ms(1), ms(500));
        assert_eq!((p.m_kib, p.t), (MAX_M_KIB, MAX_T));
    }
}
