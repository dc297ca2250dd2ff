//! Many devices (200) syncing a day's work against one server at once: latency, errors, and
//! whether the maintained progress figures stay exact.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use doorstep_app::{Filter, KdfParams, SaveResult, Store, SyncEngine};
use doorstep_server::db::Scope;
use doorstep_server::{Config, build, seed, spawn};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire, pick_outcome};
use doorstep_shared::domain::STATUS;
use doorstep_shared::progress::Counts;

use crate::common::{Table, ms, pct, tmpfs_url, workdir};

pub(crate) async fn many_devices(t: &mut Table) -> anyhow::Result<()> {
    const DEVICES: usize = 200;
    const PER_DAY: usize = 25;
    println!("\n3. {DEVICES} devices pushing and pulling a day's work at once");
    let (url, _dir) = tmpfs_url();
    let state = build(&Config::new(Some(url), PathBuf::new())).await?;
    seed::seed_demo(&state, 2021).await?;
    let addr = spawn(state.clone(), "127.0.0.1:0").await?;
    let server = format!("http://{addr}");
    let work = workdir();
    // 33 demo workers, six phones each (the last ones share fewer), each phone its own persons.
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let user = format!("w{:03}", i % 33 + 1);
        let store = Store::create(
            work.path().join(format!("d{i}.db")),
            "246810",
            KdfParams::insecure_fast_for_tests(),
        )?;
        let engine = SyncEngine::new();
        engine
            .login(
                &store,
                &server,
                &user,
                seed::DEMO_PASSWORD,
                &format!("phone {i}"),
            )
            .await?;
        engine.sync_once(&store).await?;
        devices.push((i, store, engine));
    }
    let mut rng = SplitMix64::new(3);
    let mut surveyed = 0;
    for (i, store, _) in &devices {
        let form = store.form()?.context("form")?;
        let campaign = store.campaign()?.context("campaign")?;
        let rows = store.persons(None, Filter::All, "")?;
        let slot = i / 33;
        for row in rows.iter().skip(slot).step_by(7).take(PER_DAY) {
            let v = store.record(row.person_id)?;
            let o = pick_outcome(&mut rng);
            let ans = fill_questionnaire(&form, &v.person, &campaign, o, &mut rng);
            let changes = ans
                .into_iter()
                .filter(|(k, _)| k != STATUS)
                .map(|(k, v)| (k, Some(v)))
                .collect();
            if let SaveResult::Invalid(e) = store.save_edit(row.person_id, changes, true)? {
                bail!("invalid: {e:?}");
            }
            surveyed += 1;
        }
    }
    let t0 = Instant::now();
    let runs = devices.iter().map(|(_, store, engine)| async move {
        let t1 = Instant::now();
        let r = engine.sync_once(store).await;
        (ms(t1.elapsed()), r.is_err())
    });
    let results = futures::future::join_all(runs).await;
    let wall = t0.elapsed();
    let lat: Vec<f64> = results.iter().map(|(l, _)| *l).collect();
    let errors = results.iter().filter(|(_, e)| *e).count();
    let campaign = state.db.current_campaign().await?.context("campaign")?;
    let maintained: Counts = state
        .db
        .progress(&campaign.id.to_string(), &Scope::All)
        .await?
        .iter()
        .map(|c| &c.counts)
        .sum();
    let recomputed: Counts = state
        .db
        .progress_from_records(&campaign.id.to_string())
        .await?
        .values()
        .sum();
    let exact = maintained == recomputed && maintained.done() == surveyed as u64;
    t.row(
        &format!("{DEVICES} devices: a day's sync each ({surveyed} surveys)"),
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, {errors} errors, all done in {:.1} s",
            pct(lat.clone(), 0.5),
            pct(lat.clone(), 0.99),
            wall.as_secs_f64()
        ),
        "p99 < 300 ms, 0 errors, figures exact",
        Some(pct(lat, 0.99) < 300.0 && errors == 0 && exact),
        format!("figures exact: {exact}"),
    );
    Ok(())
}
