//! Real server processes: start on a database, read the address they print, SIGKILL, restart.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// A `doorstep-server` process.
pub struct ServerProcess {
    bin: PathBuf,
    pub database_url: String,
    pub addr: SocketAddr,
    /// The `--metrics-bind` address, when given.
    pub metrics_addr: Option<SocketAddr>,
    child: Child,
}

/// What [`ServerProcess::start_with`] adds to a plain `serve`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Arguments before `serve` (`--log-format json`).
    pub global_args: Vec<String>,
    /// Arguments after `serve --bind ADDR` (`--metrics-bind 127.0.0.1:0`).
    pub serve_args: Vec<String>,
    /// `RUST_LOG`; default `warn`.
    pub log_level: Option<String>,
    /// Where stdout and stderr go (appended); default: stderr inherited, stdout drained.
    pub log_file: Option<PathBuf>,
}

fn run_to_end(bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("server binary")?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl ServerProcess {
    /// Loads the demo district into a fresh database (`seed`), without serving.
    ///
    /// # Errors
    /// The command fails.
    pub fn seed_demo(bin: &Path, database_url: &str, seed: u64) -> anyhow::Result<()> {
        run_to_end(
            bin,
            &[
                "--database-url",
                database_url,
                "demo",
                "--no-serve",
                "--seed",
                &seed.to_string(),
            ],
        )
    }

    /// Starts serving `database_url` on `bind` (port 0 picks one) and waits until it listens.
    ///
    /// # Errors
    /// The process does not start or does not print its address.
    pub fn start(bin: &Path, database_url: &str, bind: &str) -> anyhow::Result<Self> {
        Self::start_with(bin, database_url, bind, &Options::default())
    }

    /// [`ServerProcess::start`] with more `serve` arguments, a log level, and the process's
    /// output (stdout and stderr) captured into a file.
    ///
    /// # Errors
    /// The process does not start or does not print its address.
    pub fn start_with(
        bin: &Path,
        database_url: &str,
        bind: &str,
        opts: &Options,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(["--database-url", database_url])
            .args(&opts.global_args)
            .args(["serve", "--bind", bind])
            .args(&opts.serve_args)
            .env("RUST_LOG", opts.log_level.as_deref().unwrap_or("warn"))
            .stdout(Stdio::piped());
        let log = match &opts.log_file {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .context("log file")?,
            ),
            None => None,
        };
        match &log {
            Some(f) => cmd.stderr(f.try_clone()?),
            None => cmd.stderr(Stdio::inherit()),
        };
        let mut child = cmd.spawn().context("spawn server")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let addr = loop {
            let Some(line) = lines.next() else {
                bail!("server exited before listening");
            };
            let line = line?;
            printed.push(line.clone());
            if let Some(a) = line.strip_prefix("listening on http://") {
                break a.trim().parse::<SocketAddr>()?;
            }
        };
        let metrics_addr = printed.iter().find_map(|l| {
            l.strip_prefix("metrics on http://")
                .and_then(|a| a.trim().trim_end_matches("/metrics").parse().ok())
        });
        // Keep draining stdout (into the log file, if any) so the process never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            use std::io::Write;
            let mut log = log;
            if let Some(f) = log.as_mut() {
                for l in &printed {
                    let _ = writeln!(f, "{l}");
                }
            }
            for l in lines.map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{l}");
                }
            }
        });
        Ok(Self {
            bin: bin.to_path_buf(),
            database_url: database_url.to_string(),
            addr,
            metrics_addr,
            child,
        })
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush — what a power cut or the OOM killer does.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd or an operator stops the service, then waits up to `wait` for the
    /// process to exit; returns whether it exited successfully in time.
    ///
    /// # Errors
    /// The signal cannot be sent.
    pub fn terminate(&mut self, wait: std::time::Duration) -> anyhow::Result<bool> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let started = std::time::Instant::now();
        while started.elapsed() < wait {
            if let Some(code) = self.child.try_wait()? {
                return Ok(code.success());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(false)
    }

    /// Starts the same server again on the same database and the same port.
    ///
    /// # Errors
    /// It does not come back.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let mut last = None;
        for _ in 0..50 {
            match Self::start(&self.bin, &self.database_url, &self.addr.to_string()) {
                Ok(next) => {
                    *self = next;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("restart failed")))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
