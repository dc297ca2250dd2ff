//! Doorstep's benchmarks, printed as one table:
//!
//! ```sh
//! cargo run --release -p doorstep-tests --bin bench            # everything
//! cargo run --release -p doorstep-tests --bin bench -- --quick # smaller province, fewer runs
//! ```
//!
//! 1. sync side by side with the CouchDB/PouchDB peer (`../shared/peer-bench`) on the same
//!    records, with bytes on the wire and the bulk-insert floor;
//! 2. progress at province scale on SQLite and PostgreSQL;
//! 3. many devices syncing a day's work at once;
//! 4. the app's store on 5,000 persons;
//! 5. durability;
//! 6. the needs and services analysis of a province's finalized records (`analysis`);
//! 7. a herd of light clients (pre-built pushes) against servers in their own processes:
//!    device syncs per second at saturation and latency at half of it, on SQLite and on two
//!    server processes sharing PostgreSQL (`herd`).

/// mimalloc: the sync's many small allocations (answers, writers, JSON) cost less than with
/// the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod analysis;
mod app_store;
mod common;
mod durability;
mod herd;
mod many_devices;
mod province;
mod sync;

use std::path::PathBuf;

use clap::Parser;

use analysis::analysis;
use app_store::app_store;
use common::Table;
use durability::durability;
use herd::herd;
use many_devices::many_devices;
use province::province;
use sync::sync_side_by_side;

#[derive(Parser)]
struct Args {
    /// Smaller province (100k persons) and one run per phase.
    #[arg(long)]
    quick: bool,
    /// The peer's folder.
    #[arg(long, default_value = "../shared/peer-bench")]
    peer: PathBuf,
    /// Runs per sync phase (median reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only these sections (sync, province, devices, store, durability, analysis, herd); all
    /// when empty.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The analysis section only on these backends (sqlite, postgres); both when empty.
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// The analysis section writes each questionnaire's facts straight into the facts table
    /// (computed by the same rules) instead of pushing every survey: for reading at province
    /// scale when there is no time to push a million surveys.
    #[arg(long)]
    direct_facts: bool,
    /// Internal: serve this database URL (the herd's server process) and print the address.
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// Internal: with `--serve`, seed the demo district first.
    #[arg(long, hide = true)]
    serve_seed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = &args.serve {
        return herd::serve_child(url, args.serve_seed).await;
    }
    let want = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let mut t = Table(Vec::new());
    println!(
        "Doorstep benchmarks, {} on {} cores",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    if want("sync") {
        sync_side_by_side(&args, &mut t).await?;
    }
    if want("province") {
        province(&args, &mut t).await?;
    }
    if want("devices") {
        many_devices(&mut t).await?;
    }
    if want("store") {
        app_store(&mut t)?;
    }
    if want("durability") {
        durability(&mut t).await?;
    }
    if want("analysis") {
        analysis(&args, &mut t).await?;
    }
    if want("herd") {
        herd(&mut t).await?;
    }
    t.print();
    Ok(())
}
