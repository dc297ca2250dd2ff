//! Upgrades: the database a shipped release wrote (tests/fixtures/upgrade/, made by
//! scripts/make-upgrade-fixture.sh) opens with this release's migrations on SQLite and on
//! PostgreSQL and shows the figures recorded beside it; and PostgreSQL's documented backup path
//! (pg_dump -Fc, pg_restore into a fresh database) gives back the same figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use doorstep_server::testing::{Backend, fresh_url};
use doorstep_tests::upgrade::figures;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/upgrade")
        .join(name)
}

fn recorded(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The figures as the fixture's release recorded them: a field a later release added (such as a
/// campaign's review levels) is left out, every recorded one must be the same.
fn as_recorded(got: &serde_json::Value, recorded: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (got, recorded) {
        (Value::Object(g), Value::Object(r)) => Value::Object(
            g.iter()
                .filter(|(k, _)| r.contains_key(*k))
                .map(|(k, v)| (k.clone(), as_recorded(v, &r[k])))
                .collect(),
        ),
        (Value::Array(g), Value::Array(r)) if g.len() == r.len() => {
            Value::Array(g.iter().zip(r).map(|(a, b)| as_recorded(a, b)).collect())
        }
        _ => got.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_sqlite_database_opens_with_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("doorstep.db");
    std::fs::copy(fixture("sqlite.db"), &db).unwrap();
    let got = figures(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(
        as_recorded(&got, &recorded("sqlite.figures.json")),
        recorded("sqlite.figures.json")
    );
    assert!(got["mutations"].as_i64().unwrap() > 10, "{got}");
    assert_eq!(got["open_conflicts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_postgres_dump_opens_and_pg_dump_restore_keeps_the_figures() {
    let url = fresh_url(Backend::Postgres);
    run(Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(fixture("postgres.sql")));
    let want = recorded("postgres.figures.json");
    let got = figures(&url).await.unwrap();
    assert_eq!(as_recorded(&got, &want), want);
    assert_eq!(got["open_conflicts"], 1);

    // The documented backup: pg_dump's custom format, restored into a fresh database.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("doorstep.dump");
    let started = Instant::now();
    run(Command::new("pg_dump")
        .args(["-Fc", "-f"])
        .arg(&dump)
        .arg(&url));
    let dumped = started.elapsed();
    let restored = fresh_url(Backend::Postgres);
    let started = Instant::now();
    run(Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "-d", &restored])
        .arg(&dump));
    println!(
        "pg_dump -Fc {:.2} s ({} bytes), pg_restore {:.2} s",
        dumped.as_secs_f64(),
        std::fs::metadata(&dump).unwrap().len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(as_recorded(&figures(&restored).await.unwrap(), &want), want);
}
