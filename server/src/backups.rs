//! Scheduled backups of the embedded SQLite database while serving (`serve --backup-dir DIR
//! --backup-every 24h --backup-keep 14`): a compact copy (`VACUUM INTO`, as `backup FILE`) named
//! `doorstep-YYYYMMDDTHHMMSSZ.db`, written under a temporary name and renamed when complete, the
//! oldest removed beyond `keep`. The first is due one interval after the newest already in the
//! directory (at once when there is none), so restarts do not postpone it. PostgreSQL is backed
//! up with `pg_dump` from cron (docs/deploy.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::db::{Backend, Db};

const PREFIX: &str = "doorstep-";
const SUFFIX: &str = ".db";

/// When and where to back up, and how many to keep.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

/// Parses an interval: a number and a unit, `s`, `m`, `h` or `d` (`24h`, `30m`, `7d`).
///
/// # Errors
/// Anything else, said in Chinese and English.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "间隔应为数字加单位 s/m/h/d，如 24h / an interval is a number and s, m, h or d, e.g. 24h; got {s:?}"
        )
    };
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// Checks a schedule against the database before serving.
///
/// # Errors
/// PostgreSQL, a `keep` of 0, or a directory that cannot be made.
pub fn check(db: &Db, s: &Schedule) -> anyhow::Result<()> {
    if db.backend() == Backend::Postgres {
        anyhow::bail!(
            "--backup-dir 仅用于内置 SQLite；PostgreSQL 请用 cron 运行 pg_dump / --backup-dir is for the embedded SQLite database; back PostgreSQL up with pg_dump from cron (docs/deploy.md)"
        );
    }
    if s.keep == 0 {
        anyhow::bail!("--backup-keep 至少为 1 / --backup-keep must be at least 1");
    }
    std::fs::create_dir_all(&s.dir)
        .map_err(|e| anyhow::anyhow!("backup directory {}: {e}", s.dir.display()))?;
    Ok(())
}

/// The backups in `dir`, oldest first (their names sort by time).
///
/// # Errors
/// The directory cannot be read.
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Takes one backup now and removes the oldest beyond `keep`; returns its path.
///
/// # Errors
/// The copy or the directory fails (nothing half-written is left under a backup's name).
pub async fn take(db: &Db, s: &Schedule) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let path = s.dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let partial = s.dir.join(format!(".{PREFIX}{stamp}{SUFFIX}.partial"));
    let _ = std::fs::remove_file(&partial);
    if let Err(e) = db.backup_to(&partial).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    std::fs::rename(&partial, &path)?;
    let all = list(&s.dir)?;
    for old in all.iter().take(all.len().saturating_sub(s.keep)) {
        std::fs::remove_file(old)?;
    }
    db.audit(
        Some("scheduler"),
        "backup",
        &path.file_name().unwrap_or_default().to_string_lossy(),
    )
    .await?;
    Ok(path)
}

/// How long until the next backup is due: one interval after the newest in the directory.
fn first_delay(s: &Schedule) -> Duration {
    let newest = list(&s.dir)
        .ok()
        .and_then(|l| l.last().cloned())
        .and_then(|p| std::fs::metadata(p).ok()?.modified().ok());
    match newest {
        Some(t) => {
            let age = SystemTime::now().duration_since(t).unwrap_or_default();
            s.every.saturating_sub(age)
        }
        None => Duration::ZERO,
    }
}

/// Backs up on schedule until `stop` turns true. A failed backup is logged and counted, and
/// tried again at the next interval; serving goes on.
pub async fn run(db: Arc<Db>, s: Schedule, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut delay = first_delay(&s);
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let started = std::time::Instant::now();
        match take(&db, &s).await {
            Ok(path) => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                tracing::info!(
                    file = %path.display(),
                    bytes = size,
                    ms = started.elapsed().as_millis(),
                    "scheduled backup written"
                );
                metrics::counter!("doorstep_backups_total", "result" => "ok").increment(1);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("doorstep_last_backup_timestamp_seconds")
                    .set(chrono::Utc::now().timestamp() as f64);
            }
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                metrics::counter!("doorstep_backups_total", "result" => "failed").increment(1);
            }
        }
        delay = s.every;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_interval("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_interval("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        for bad in ["", "24", "h", "0h", "1w", "-1h", "1.5h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
