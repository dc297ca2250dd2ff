//! Shared by every benchmark: the printed table, timing statistics (ms, median, percentiles),
//! bytes on the loopback interface, and scratch directories on tmpfs.

use std::path::Path;
use std::time::Duration;

pub(crate) struct Table(pub(crate) Vec<[String; 5]>);

impl Table {
    pub(crate) fn row(
        &mut self,
        what: &str,
        figure: String,
        goal: &str,
        met: Option<bool>,
        note: String,
    ) {
        let met = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("  {what}: {figure} ({goal}) {met} {note}");
        self.0
            .push([what.into(), figure, goal.into(), met.into(), note]);
    }

    pub(crate) fn print(&self) {
        println!("\n| measure | figure | goal | | notes |\n|---|---|---|---|---|");
        for r in &self.0 {
            println!("| {} | {} | {} | {} | {} |", r[0], r[1], r[2], r[3], r[4]);
        }
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Bytes through the loopback interface so far (each packet once; headers included).
pub(crate) fn lo_bytes() -> u64 {
    std::fs::read_to_string("/proc/net/dev")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.trim_start().starts_with("lo:"))
                .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub(crate) fn workdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir")
}

pub(crate) fn tmpfs_url() -> (String, tempfile::TempDir) {
    let dir = workdir();
    (
        format!("sqlite://{}", dir.path().join("doorstep.db").display()),
        dir,
    )
}

/// Profiling one phase: with `BENCH_PERF_CTL=CTL:ACK` (the FIFOs of `perf record --control
/// fifo:CTL,ACK -D -1`) and `BENCH_PERF_PHASE` naming a phase, perf records only while that
/// phase runs. Does nothing otherwise.
pub(crate) fn perf_phase(phase: &str, on: bool) {
    use std::io::{Read, Write};
    let (Ok(ctl), Ok(want)) = (
        std::env::var("BENCH_PERF_CTL"),
        std::env::var("BENCH_PERF_PHASE"),
    ) else {
        return;
    };
    if want != phase {
        return;
    }
    let Some((ctl, ack)) = ctl.split_once(':') else {
        return;
    };
    let cmd: &[u8] = if on { b"enable\n" } else { b"disable\n" };
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(ctl) {
        let _ = f.write_all(cmd);
    }
    if let Ok(mut f) = std::fs::File::open(ack) {
        let mut buf = [0u8; 5];
        let _ = f.read(&mut buf);
    }
}
