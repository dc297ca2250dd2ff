//! Writes the upgrade fixture with this release (see `doorstep_tests::upgrade`): into DIR,
//! `sqlite.db` and `sqlite.figures.json`, `postgres.sql` (pg_dump, plain SQL) and
//! `postgres.figures.json`. Run through `scripts/make-upgrade-fixture.sh`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, ensure};
use doorstep_server::testing::TempPostgres;
use doorstep_server::{Config, build, seed, spawn};
use doorstep_tests::upgrade::{COMMUNITIES, PERSONS, figures, go_through};

async fn write(database_url: &str) -> anyhow::Result<()> {
    let state = build(&Config::new(Some(database_url.to_string()), PathBuf::new())).await?;
    seed::seed_demo_sized(&state, 2021, PERSONS, COMMUNITIES).await?;
    let addr = spawn(state.clone(), "127.0.0.1:0").await?;
    go_through(&format!("http://{addr}")).await?;
    state.db.pool().close().await;
    Ok(())
}

fn save(path: &std::path::Path, figures: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(figures)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: upgrade-fixture DIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let tmp = tempfile::tempdir()?;

    // SQLite: written by a server, then copied compactly (VACUUM INTO, as `backup` does).
    let url = format!("sqlite://{}", tmp.path().join("doorstep.db").display());
    write(&url).await?;
    let target = out.join("sqlite.db");
    if target.exists() {
        std::fs::remove_file(&target)?;
    }
    let db = doorstep_server::db::Db::connect(&url).await?;
    db.backup_to(&target).await?;
    db.pool().close().await;
    let copy = tmp.path().join("check.db");
    std::fs::copy(&target, &copy)?;
    save(
        &out.join("sqlite.figures.json"),
        &figures(&format!("sqlite://{}", copy.display())).await?,
    )?;
    println!("wrote {}", target.display());

    // PostgreSQL: the same story on a throwaway cluster, dumped as plain SQL.
    let pg = TempPostgres::start();
    let url = pg.fresh_db();
    write(&url).await?;
    let sql = out.join("postgres.sql");
    let status = Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "-f"])
        .arg(&sql)
        .arg(&url)
        .status()
        .context("pg_dump")?;
    ensure!(status.success(), "pg_dump failed");
    save(&out.join("postgres.figures.json"), &figures(&url).await?)?;
    println!("wrote {}", sql.display());
    Ok(())
}
