//! Durability: what durable commits cost, pushing the demo district to SQLite on disk with
//! `synchronous = FULL` against `NORMAL`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use doorstep_app::{Filter, KdfParams, Store, SyncEngine};
use doorstep_server::{Config, build, seed, spawn};
use doorstep_shared::demo::SplitMix64;
use doorstep_shared::domain::STATUS;
use doorstep_shared::form::FormDefinition;

use crate::common::Table;

/// What durable commits cost: pushing every record of the demo district (6,800 complete surveys,
/// batches of 500) to SQLite on disk (not tmpfs, where a sync costs nothing), with
/// `synchronous = FULL` (the product: an acknowledged push survives a power cut) and with
/// `NORMAL` (the earlier setting: the last commits may be lost).
pub(crate) async fn durability(t: &mut Table) -> anyhow::Result<()> {
    let mut figures = Vec::new();
    for durable in [true, false] {
        let dir = tempfile::tempdir_in(std::env::temp_dir())?;
        let url = format!("sqlite://{}", dir.path().join("doorstep.db").display());
        // Create and migrate with the product's settings, then reopen as measured.
        drop(build(&Config::new(Some(url.clone()), PathBuf::new())).await?);
        let db = if durable {
            doorstep_server::db::Db::connect(&url).await?
        } else {
            doorstep_server::db::Db::connect_not_durable(&url).await?
        };
        let state = doorstep_server::AppState::new(db, chrono::Duration::days(1));
        seed::seed_demo(&state, 2021).await?;
        let addr = spawn(state.clone(), "127.0.0.1:0").await?;
        let campaign = state.db.current_campaign().await?.context("campaign")?;
        let engine = SyncEngine::new();
        let a = Store::create(
            dir.path().join("device.db"),
            "246810",
            KdfParams::insecure_fast_for_tests(),
        )?;
        engine
            .login(
                &a,
                &format!("http://{addr}"),
                "admin",
                seed::DEMO_PASSWORD,
                "bench",
            )
            .await?;
        engine.sync_once(&a).await?;
        let form = FormDefinition::dynamic_update_2021();
        let mut rng = SplitMix64::new(9);
        for row in a.persons(None, Filter::All, "")? {
            let person = a.record(row.person_id)?.person;
            let o = doorstep_shared::demo::pick_outcome(&mut rng);
            let answers =
                doorstep_shared::demo::fill_questionnaire(&form, &person, &campaign, o, &mut rng);
            let changes = answers
                .into_iter()
                .filter(|(k, _)| k != STATUS)
                .map(|(k, v)| (k, Some(v)))
                .collect();
            a.save_edit(row.person_id, changes, true)?;
        }
        let t0 = Instant::now();
        let r = engine.push_only(&a).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(r.applied == r.pushed && r.pushed > 6000, "pushed {r:?}");
        figures.push((r.pushed, ms));
    }
    let (n, full) = figures[0];
    let normal = figures[1].1;
    t.row(
        "durability: push all on disk, FULL vs NORMAL",
        format!("{full:.0} ms vs {normal:.0} ms ({:.2}×)", full / normal),
        "report",
        None,
        format!("{n} surveys in batches of 500; FULL syncs the WAL on every commit"),
    );
    Ok(())
}
