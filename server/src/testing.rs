//! Test support used by the server's and the end-to-end suites: a throwaway PostgreSQL server
//! started from the Debian packages, and a server with the demo district on a fresh database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::{AppState, Config, build, seed, spawn};

/// A PostgreSQL cluster in a temporary directory, owned by the `postgres` user (PostgreSQL
/// refuses to run as root), stopped when the process exits.
pub struct TempPostgres {
    pub dir: PathBuf,
    pub port: u16,
}

fn pg_bin(name: &str) -> PathBuf {
    for v in ["17", "16", "15", "14", "13"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}"));
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn as_postgres(cmd: &PathBuf, args: &[&str]) -> std::io::Result<std::process::Output> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if is_root {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(cmd)
            .args(args)
            .output()
    } else {
        Command::new(cmd).args(args).output()
    }
}

impl TempPostgres {
    /// Starts a cluster.
    ///
    /// # Panics
    /// When PostgreSQL is not installed or does not start (the test cannot run without it).
    #[must_use]
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "doorstep-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status();
        let data = dir.join("data");
        let out = as_postgres(
            &pg_bin("initdb"),
            &[
                "-D",
                data.to_str().expect("path"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .expect("initdb (apt-get install postgresql)");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("log");
        let out = as_postgres(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                data.to_str().expect("path"),
                "-o",
                &opts,
                "-l",
                log.to_str().expect("path"),
                "-w",
                "start",
            ],
        )
        .expect("pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, port }
    }

    /// A shared cluster for the whole test process.
    pub fn shared() -> &'static TempPostgres {
        static PG: OnceLock<TempPostgres> = OnceLock::new();
        PG.get_or_init(TempPostgres::start)
    }

    /// Creates a fresh database and returns its URL.
    ///
    /// # Panics
    /// When `psql` cannot create it.
    #[must_use]
    pub fn fresh_db(&self) -> String {
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        self.psql(&format!("CREATE DATABASE {name}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Drops a database [`TempPostgres::fresh_db`] made (its URL), closing what is still
    /// connected to it: a benchmark's million-row database would otherwise keep the cluster's
    /// autovacuum busy through the sections after it.
    ///
    /// # Panics
    /// When `psql` cannot drop it.
    pub fn drop_db(&self, url: &str) {
        let name = url.rsplit('/').next().unwrap_or_default();
        self.psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
    }

    /// Runs one statement as `postgres` through `psql`.
    ///
    /// # Panics
    /// When it fails.
    fn psql(&self, statement: &str) {
        let out = Command::new(pg_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-c",
            ])
            .arg(statement)
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(
            &pg_bin("pg_ctl"),
            &["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database URL for a backend (SQLite in a new temp dir, kept for the process's life).
#[must_use]
pub fn fresh_url(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let dir = process_temp_root().join(uuid::Uuid::new_v4().simple().to_string());
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}", dir.join("doorstep.db").display())
        }
        Backend::Postgres => {
            // The cluster lives as long as the test process; its Drop never runs for a static,
            // so stop it at exit.
            let pg = TempPostgres::shared();
            register_stop_at_exit(pg);
            pg.fresh_db()
        }
    }
}

/// One directory per test process for its SQLite databases, removed by a watchdog process once
/// the test process is gone (a static's Drop never runs, and a test binary makes hundreds).
fn process_temp_root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let pid = std::process::id();
        let root = std::env::temp_dir().join(format!(
            "doorstep-test-{pid}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root).expect("temp dir");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; rm -rf '{}'",
            root.display()
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        root
    })
}

fn register_stop_at_exit(pg: &'static TempPostgres) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let data = pg.dir.join("data");
        // A watchdog process stops the cluster when this test process is gone.
        let pid = std::process::id();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; runuser -u postgres -- {} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
            pg_bin("pg_ctl").display(),
            data.display(),
            pg.dir.display()
        );
        let _ = Command::new("sh").arg("-c").arg(script).spawn();
    });
}

/// A running server on 127.0.0.1:0 with the demo district loaded.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub url: String,
    pub database_url: String,
}

/// Starts a server on a fresh database of the backend with the demo district (seed 7).
///
/// # Panics
/// When the server cannot start.
pub async fn demo_server(backend: Backend) -> TestServer {
    let database_url = fresh_url(backend);
    let state = build(&Config::new(Some(database_url.clone()), PathBuf::new()))
        .await
        .expect("build");
    seed::seed_demo(&state, 7).await.expect("seed");
    let addr = spawn(state.clone(), "127.0.0.1:0").await.expect("spawn");
    TestServer {
        addr,
        url: format!("http://{addr}"),
        state,
        database_url,
    }
}

/// Starts another server process-equivalent (own pool, own state) on an existing database.
///
/// # Panics
/// When the server cannot start.
pub async fn second_server(database_url: &str) -> TestServer {
    let state = build(&Config::new(Some(database_url.to_string()), PathBuf::new()))
        .await
        .expect("build");
    let addr = spawn(state.clone(), "127.0.0.1:0").await.expect("spawn");
    TestServer {
        addr,
        url: format!("http://{addr}"),
        state,
        database_url: database_url.to_string(),
    }
}
