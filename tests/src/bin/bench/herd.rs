//! A herd of light clients against servers in their own processes: device syncs per second at
//! saturation (closed loops of a few concurrency levels) and the latency of a whole sync at half
//! that rate (an open loop), on SQLite (one server process) and on PostgreSQL (two server
//! processes on one database). The clients are plain HTTP with pushes pre-built before the
//! timed runs, so the server's cores are the server's: the CPU split is reported.

mod client;
mod procs;
mod runs;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};

use doorstep_server::db::Db;
use doorstep_server::testing::TempPostgres;

use crate::common::{Table, pct, tmpfs_url, workdir};
use client::{Device, MUTATIONS, Tally};
use procs::{ServerProc, machine_busy_secs, postgres_cpu_secs};
pub(crate) use procs::{cpu_secs, serve_child};
use runs::{Herd, Stats};

/// Simulated phones: six per demo worker (the last ones share fewer), like `many_devices`.
const DEVICES: usize = 200;
const LEVELS: [usize; 3] = [8, 32, 128];
const SATURATION_SECS: u64 = 8;
const OPEN_SECS: u64 = 10;

pub(crate) async fn herd(t: &mut Table) -> anyhow::Result<()> {
    println!(
        "\n7. Herd: {DEVICES} light clients, pushes of {MUTATIONS} edits pre-built, servers in their own processes"
    );
    let (url, _dir) = tmpfs_url();
    run_backend("SQLite", &url, 1, None, t).await?;
    if postgres_installed() {
        // A cluster of its own: in the one the million-survey sections used, PostgreSQL spent
        // four times the CPU a sync (cause not found; docs/benchmarks.md).
        let pg = TempPostgres::start();
        let url = pg.fresh_db();
        run_backend(
            "PostgreSQL (2 server processes)",
            &url,
            2,
            Some(&pg.dir.join("data")),
            t,
        )
        .await?;
    } else {
        println!("  PostgreSQL not installed (scripts/setup.sh): skipped");
    }
    Ok(())
}

/// The 1-minute load average (other work on the machine shows here).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// A percentile, NaN for no samples.
fn pq(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        pct(v.to_vec(), p)
    }
}

fn postgres_installed() -> bool {
    ["17", "16", "15", "14", "13"]
        .iter()
        .any(|v| Path::new(&format!("/usr/lib/postgresql/{v}/bin/pg_ctl")).exists())
}

/// CPU seconds of the bench, of the server processes and of the PostgreSQL cluster, so far.
struct Cpu {
    bench: f64,
    servers: f64,
    postgres: f64,
    machine: f64,
}

fn cpu_now(servers: &[ServerProc], pg_data: Option<&Path>) -> Cpu {
    Cpu {
        bench: cpu_secs("self", false),
        servers: servers
            .iter()
            .map(|s| cpu_secs(&s.pid.to_string(), false))
            .sum(),
        postgres: pg_data.map_or(0.0, postgres_cpu_secs),
        machine: machine_busy_secs(),
    }
}

impl Cpu {
    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            bench: self.bench - before.bench,
            servers: self.servers - before.servers,
            postgres: self.postgres - before.postgres,
            machine: self.machine - before.machine,
        }
    }

    fn add(&mut self, o: &Cpu) {
        self.bench += o.bench;
        self.servers += o.servers;
        self.postgres += o.postgres;
        self.machine += o.machine;
    }

    fn note(&self, syncs: usize) -> String {
        #[allow(clippy::cast_precision_loss)]
        let per = |s: f64| s * 1000.0 / syncs.max(1) as f64;
        let pg = if self.postgres > 0.0 {
            format!(
                ", PostgreSQL {:.1} s ({:.2} ms/sync)",
                self.postgres,
                per(self.postgres)
            )
        } else {
            String::new()
        };
        let others = (self.machine - self.bench - self.servers - self.postgres).max(0.0);
        format!(
            "CPU: clients {:.1} s ({:.2} ms/sync), servers {:.1} s ({:.2} ms/sync){pg}, other processes on the machine {others:.1} s",
            self.bench,
            per(self.bench),
            self.servers,
            per(self.servers)
        )
    }
}

async fn logged_mutations(db: &Db) -> anyhow::Result<i64> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mutations")
        .fetch_one(db.pool())
        .await
        .context("counting the mutation log")
}

/// Pre-built pushes per device for a run expected to finish `rate × secs` syncs (with margin).
fn per_device(rate: f64, secs: u64) -> usize {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let n = (rate * secs as f64 * 1.5 / DEVICES as f64).ceil() as usize;
    n + 2
}

async fn run_backend(
    name: &str,
    url: &str,
    processes: usize,
    pg_data: Option<&Path>,
    t: &mut Table,
) -> anyhow::Result<()> {
    let work = workdir();
    let mut servers = Vec::new();
    for i in 0..processes {
        let log = work.path().join(format!("server{i}.log"));
        servers.push(ServerProc::start(url, i == 0, &log).await?);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent("doorstep-herd")
        .build()
        .context("HTTP client")?;
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let devices: Vec<Device> = futures::stream::iter(0..DEVICES)
        .map(|i| {
            let (http, base) = (&http, &bases[i % processes]);
            async move { Device::setup(http, base, i, i % processes).await }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    let edits: usize = devices.iter().map(Device::mutations_per_push).sum();
    let db = Db::connect(url)
        .await
        .context("the bench's own connection")?;
    let logged_before = logged_mutations(&db).await?;
    let h = Arc::new(Herd::new(http, bases, devices));
    #[allow(clippy::cast_precision_loss)]
    let per_push = edits as f64 / DEVICES as f64;
    println!(
        "  {name}: {DEVICES} devices signed in and pulled; {per_push:.1} mutations a push (load average {})",
        load_average()
    );

    // Saturation: closed loops.
    let mut levels: Vec<(usize, Stats)> = Vec::new();
    let mut estimate: f64 = 100.0;
    let mut sat_cpu = Cpu {
        bench: 0.0,
        servers: 0.0,
        postgres: 0.0,
        machine: 0.0,
    };
    for c in LEVELS {
        h.prebuild(per_device(estimate, SATURATION_SECS))?;
        let before = cpu_now(&servers, pg_data);
        let s = h
            .clone()
            .closed_loop(c, Duration::from_secs(SATURATION_SECS))
            .await?;
        sat_cpu.add(&cpu_now(&servers, pg_data).since(&before));
        println!(
            "    {c:>3} concurrent: {:.0} syncs/s, p50 {:.0} ms, {} errors",
            s.rate,
            pq(&s.lat, 0.5),
            s.error_count()
        );
        estimate = estimate.max(s.rate);
        levels.push((c, s));
    }
    let (best_c, best) = levels
        .iter()
        .max_by(|a, b| a.1.rate.total_cmp(&b.1.rate))
        .context("no level")?;
    let best_rate = best.rate;
    let best_c = *best_c;

    // Half of it: an open loop.
    let rate = (best_rate / 2.0).max(1.0);
    h.prebuild(per_device(rate, OPEN_SECS))?;
    let before = cpu_now(&servers, pg_data);
    let open = h
        .clone()
        .open_loop(rate, Duration::from_secs(OPEN_SECS))
        .await?;
    let open_cpu = cpu_now(&servers, pg_data).since(&before);

    // Were the pushes real? The server's log against the answers.
    let mut all = Tally::default();
    for (_, s) in &levels {
        all += s.tally;
    }
    all += open.tally;
    let logged = logged_mutations(&db).await? - logged_before;
    db.pool().close().await;
    let late = h.built_late();
    drop(h);
    drop(servers);
    let warnings = server_warnings(work.path(), processes);

    let sat_syncs: usize = levels.iter().map(|(_, s)| s.lat.len()).sum();
    let sat_errors: usize = levels.iter().map(|(_, s)| s.error_count()).sum();
    let level_list: Vec<String> = levels
        .iter()
        .map(|(c, s)| format!("{c}: {:.0}/s", s.rate))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let pulled = all.pulled as f64 / all.syncs.max(1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let pages = all.pull_pages as f64 / all.syncs.max(1) as f64;
    println!(
        "    a sync pulled {pulled:.0} records on average ({pages:.2} pages): the worker's other phones' edits"
    );
    let checked = format!(
        "{} of {} mutations pushed answered applied ({} rejected, {} not clean), {logged} in the server's log",
        all.applied, all.mutations, all.rejected, all.not_clean
    );
    let mut errs: BTreeMap<&str, usize> = BTreeMap::new();
    for (e, n) in levels
        .iter()
        .flat_map(|(_, s)| s.errors.iter())
        .chain(open.errors.iter())
    {
        *errs.entry(e.as_str()).or_default() += n;
    }
    for (e, n) in &errs {
        println!("    error: {n}× {e}");
    }
    for w in warnings.iter().take(5) {
        println!("    server log: {w}");
    }
    if late > 0 {
        println!("    {late} pushes were built during the runs (pre-built ones ran out)");
    }
    let mutation_rate = best_rate * per_push;
    t.row(
        &format!("herd {name}: device syncs/s at saturation"),
        format!("{best_rate:.0} syncs/s ({mutation_rate:.0} mutations/s) at {best_c} concurrent"),
        "report",
        None,
        format!(
            "closed loops of {SATURATION_SECS} s ({}); {per_push:.1} mutations pushed and {pulled:.0} records pulled a sync; {sat_syncs} syncs counted, {sat_errors} errors; {}; {checked}; server log: {} warnings",
            level_list.join(", "),
            sat_cpu.note(sat_syncs),
            warnings.len()
        ),
    );
    t.row(
        &format!("herd {name}: latency at half load"),
        format!(
            "p50 {:.0} ms, p99 {:.0} ms at {rate:.0} syncs/s",
            pq(&open.lat, 0.5),
            pq(&open.lat, 0.99)
        ),
        "report",
        None,
        format!(
            "open loop of {OPEN_SECS} s: {} syncs, {} errors, {:.0} syncs/s achieved; {}",
            open.lat.len(),
            open.error_count(),
            open.rate,
            open_cpu.note(open.lat.len())
        ),
    );
    Ok(())
}

/// The warning and error lines the server processes logged.
fn server_warnings(dir: &Path, processes: usize) -> Vec<String> {
    (0..processes)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("server{i}.log"))).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .map(|l| l.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect()
}
