//! The herd's servers in their own OS processes: the bench re-executes itself with the hidden
//! `--serve URL` flag; the child builds the server from the library on an ephemeral port, prints
//! the address, and serves until killed or until its stdin closes (the bench is gone). CPU time
//! of a process from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use doorstep_server::{Config, build, seed, spawn};

/// The child's side: serve `url` (seeding the demo first with `seed`) until stdin closes.
pub(crate) async fn serve_child(url: &str, seed: bool) -> anyhow::Result<()> {
    // Warnings and errors (lock waits, failed requests) to stderr, which the bench keeps.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let state = build(&Config::new(Some(url.to_string()), PathBuf::new()))
        .await
        .context("building the server")?;
    if seed {
        seed::seed_demo(&state, 2021)
            .await
            .context("seeding the demo")?;
    }
    let addr = spawn(state, "127.0.0.1:0").await.context("binding")?;
    println!("{addr}");
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await.context("stdin")? > 0 {}
    Ok(())
}

/// A server child process, killed when dropped (also on an error of the bench).
pub(crate) struct ServerProc {
    pub(crate) base: String,
    pub(crate) pid: u32,
    child: Child,
}

impl ServerProc {
    /// Starts `bench --serve URL` and waits for its address; its stderr goes to `log`.
    pub(crate) async fn start(url: &str, seed: bool, log: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("the bench's own path")?;
        let mut cmd = Command::new(exe);
        cmd.arg("--serve").arg(url);
        if seed {
            cmd.arg("--serve-seed");
        }
        let err = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("starting a server process")?;
        let pid = child.id().context("server pid")?;
        let out = child.stdout.take().context("server stdout")?;
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .await
            .context("reading the server's address")?;
        let addr = line.trim();
        if addr.is_empty() {
            let status = child.try_wait().ok().flatten();
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            bail!("server process gave no address ({status:?}): {log_text}");
        }
        Ok(Self {
            base: format!("http://{addr}"),
            pid,
            child,
        })
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The fields of `/proc/<pid>/stat` after the command name (field 3, the state, is index 0).
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// CPU seconds (user + system) of a process; `children` adds its waited-for children's.
pub(crate) fn cpu_secs(pid: &str, children: bool) -> f64 {
    let Some(f) = stat_fields(pid) else {
        return 0.0;
    };
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    let mut ticks = get(11) + get(12);
    if children {
        ticks += get(13) + get(14);
    }
    #[allow(clippy::cast_precision_loss)]
    let t = ticks as f64;
    t / clock_ticks()
}

/// CPU seconds the whole machine spent busy so far (every core, every process).
pub(crate) fn machine_busy_secs() -> f64 {
    let Some(line) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
    else {
        return 0.0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
    let busy: u64 = f.iter().take(8).sum::<u64>() - f.get(3).unwrap_or(&0) - f.get(4).unwrap_or(&0);
    #[allow(clippy::cast_precision_loss)]
    let b = busy as f64;
    b / clock_ticks()
}

/// CPU seconds of a PostgreSQL cluster: the postmaster, its live backends and the exited ones.
pub(crate) fn postgres_cpu_secs(data_dir: &Path) -> f64 {
    let Some(master) = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
    else {
        return 0.0;
    };
    let mut total = cpu_secs(&master, true);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let ppid = stat_fields(&name).and_then(|f| f.get(1).copied());
            if ppid.is_some_and(|p| p.to_string() == master) {
                total += cpu_secs(&name, false);
            }
        }
    }
    total
}
