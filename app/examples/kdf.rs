//! Measures the PIN's key derivation on this machine: the floor (OWASP's Argon2id minimum), the
//! parameters calibration picks for a 500 ms unlock, and what an offline guesser with a copied
//! store pays per PIN space. Run on the device class in question, in release:
//! `cargo run --release -p doorstep-app --example kdf`.

use std::time::{Duration, Instant};

use doorstep_app::KdfParams;
use doorstep_app::keyfile::{MAX_M_KIB, MAX_T};

fn time(p: KdfParams) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("probe.db");
    // Creating a store derives the key once (plus a tiny SQLCipher database).
    let started = Instant::now();
    let store = doorstep_app::Store::create(&path, "482915", p).expect("store");
    let took = started.elapsed();
    drop(store);
    took
}

fn main() {
    let floor = KdfParams::default();
    let median = |p: KdfParams| {
        let mut v: Vec<Duration> = (0..5).map(|_| time(p)).collect();
        v.sort();
        v[2]
    };
    let f = median(floor);
    println!(
        "floor: m = {} KiB, t = {}, p = {}: {:.0} ms per derivation",
        floor.m_kib,
        floor.t,
        floor.p,
        f.as_secs_f64() * 1000.0
    );
    let (cal, probe) = KdfParams::calibrated(floor, Duration::from_millis(500));
    let c = median(cal);
    println!(
        "calibrated for 500 ms (probe took {:.0} ms): m = {} KiB, t = {} (caps {MAX_M_KIB} KiB, {MAX_T} passes): {:.0} ms per derivation",
        probe.as_secs_f64() * 1000.0,
        cal.m_kib,
        cal.t,
        c.as_secs_f64() * 1000.0
    );
    for (what, space) in [
        ("6-digit PIN", 1e6),
        ("8-digit PIN", 1e8),
        ("8 characters, letters and digits", 36f64.powi(8)),
    ] {
        let core_years = |d: Duration| space * d.as_secs_f64() / 2.0 / (365.25 * 86_400.0);
        println!(
            "{what}: on average {:.1} core-days at the floor, {:.1} core-days calibrated ({:.2e} core-years)",
            core_years(f) * 365.25,
            core_years(c) * 365.25,
            core_years(c)
        );
    }
}
