//! End-to-end scenarios: real server processes, real app engines, a whole district, faults.
//! Each prints what it did (run with `--nocapture` to see the figures).

use std::path::PathBuf;
use std::time::Instant;

use doorstep_server::testing::{Backend, fresh_url};
use doorstep_shared::Value;
use doorstep_tests::field::{Device, Field};
use doorstep_tests::proxy::Proxy;
use doorstep_tests::server::ServerProcess;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_field-server"))
}

fn workdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir")
}

/// A seeded database and a server process on it.
fn server(backend: Backend) -> ServerProcess {
    let url = fresh_url(backend);
    ServerProcess::seed_demo(&bin(), &url, 2021).expect("seed");
    ServerProcess::start(&bin(), &url, "127.0.0.1:0").expect("start")
}

async fn mutation_count(database_url: &str) -> i64 {
    let db = doorstep_server::db::Db::connect(database_url)
        .await
        .expect("db");
    db.mutation_count().await.expect("count")
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(doorstep_server::testing::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name(doorstep_server::testing::Backend::Postgres).await;
            }
        }
    };
}

/// The whole district: 98 communities, 6,800 persons, 20 worker phones and 2 supervisors,
/// offline days, conflicts and set merges, returned records; the server's figures equal the
/// ground truth per community and outcome, and every phone ends with the server's state.
async fn full_district_campaign(b: Backend) {
    let started = Instant::now();
    let srv = server(b);
    let dir = workdir();
    let mut field = Field::setup(&srv.url(), dir.path(), 20, 2, 11)
        .await
        .expect("setup");
    for day in 0..5 {
        field.day(70, 20).await.expect("day");
        if day == 2 {
            field.return_some(15).await.expect("returns");
        }
    }
    field.finish().await.expect("finish");
    field.verify().await.expect("verify");
    let s = &field.stats;
    assert_eq!(field.truth.len(), 6800);
    assert!(
        s.conflict_items > 0 && s.merged_items > 0 && s.returned > 0,
        "{s:?}"
    );
    println!(
        "full district on {b:?}: {} s, {} persons, {} server mutations, {} pushed, {} merged items, {} conflict items ({} resolved), {} returned, {} syncs",
        started.elapsed().as_secs(),
        field.truth.len(),
        mutation_count(&srv.database_url).await,
        s.pushed,
        s.merged_items,
        s.conflict_items,
        s.conflicts_resolved,
        s.returned,
        s.syncs
    );
}
both!(full_district_campaign);

/// One phone three days ahead, one three days behind: the ahead clock cannot win a conflict it
/// did not win in real time, and the campaign still ends exact and converged.
async fn clock_skew(b: Backend) {
    let srv = server(b);
    let dir = workdir();
    let mut field = Field::setup_on(&srv.url(), dir.path(), 3, 0, 6, 5)
        .await
        .expect("setup");
    let day_ms = 86_400_000;
    field.workers[1]
        .store
        .set_clock_skew_ms(3 * day_ms)
        .unwrap();
    field.workers[2]
        .store
        .set_clock_skew_ms(-3 * day_ms)
        .unwrap();
    // Three phones of one worker editing the same item of one person from the same base.
    let url = srv.url();
    let ahead = Device::sign_in(dir.path(), "w001-ahead", "w001", &url)
        .await
        .unwrap();
    let right = Device::sign_in(dir.path(), "w001-right", "w001", &url)
        .await
        .unwrap();
    let behind = Device::sign_in(dir.path(), "w001-behind", "w001", &url)
        .await
        .unwrap();
    ahead.store.set_clock_skew_ms(3 * day_ms).unwrap();
    behind.store.set_clock_skew_ms(-3 * day_ms).unwrap();
    let person = ahead
        .store
        .persons(None, doorstep_app::Filter::All, "")
        .unwrap()[0]
        .person_id;
    ahead
        .edit(person, &[("marital_status", Some(Value::text("married")))])
        .unwrap();
    ahead.sync().await.unwrap();
    right
        .edit(person, &[("marital_status", Some(Value::text("divorced")))])
        .unwrap();
    let r = right.sync().await.unwrap();
    assert_eq!(r.conflict_items, 1);
    right.sync().await.unwrap();
    // The later edit in real time holds, although the ahead phone's clock says three days later.
    assert_eq!(
        right.store.record(person).unwrap().answers["marital_status"],
        Value::text("divorced")
    );
    // The phone three days behind has just synced (its clock learned the server's time), so its
    // edit, the latest in real time, is ordered correctly.
    behind.sync().await.unwrap();
    behind
        .edit(person, &[("marital_status", Some(Value::text("widowed")))])
        .unwrap();
    behind.sync().await.unwrap();
    ahead.sync().await.unwrap();
    let seen = ahead.store.record(person).unwrap();
    assert_eq!(seen.answers["marital_status"], Value::text("widowed"));
    assert_eq!(seen.conflicts["marital_status"].candidates.len(), 3);
    field.supervisors.extend([ahead, right, behind]);
    for _ in 0..3 {
        field.day(40, 30).await.unwrap();
    }
    field.finish().await.unwrap();
    field.verify().await.unwrap();
}
both!(clock_skew);

/// The server is SIGKILLed in the middle of pushes, several times, and restarted: no mutation
/// lost, none duplicated (the log holds exactly one entry per survey), figures exact.
async fn server_killed_mid_push(b: Backend) {
    let mut srv = server(b);
    let dir = workdir();
    let proxy = Proxy::start(srv.addr).await.unwrap();
    let mut field = Field::setup_on(&proxy.url(), dir.path(), 4, 0, 12, 3)
        .await
        .expect("setup");
    // A week offline: big outboxes.
    let sims: Vec<_> = field
        .workers
        .iter()
        .map(|w| {
            w.store
                .persons(None, doorstep_app::Filter::NotYet, "")
                .unwrap()
        })
        .collect();
    for (w, todo) in field.workers.iter().zip(&sims) {
        for row in todo {
            let o = doorstep_shared::demo::pick_outcome(&mut field.rng);
            w.survey(row.person_id, o, &mut field.rng).unwrap();
            field.truth.insert(row.person_id, o);
            field.stats.surveys += 1;
        }
    }
    let surveys = field.stats.surveys;
    let syncing = {
        let devices: Vec<_> = field
            .workers
            .iter()
            .map(|d| (d.store.clone(), d.name.clone()))
            .collect();
        tokio::spawn(async move {
            let engine = doorstep_app::SyncEngine::with_options(doorstep_app::sync::SyncOptions {
                push_batch: 40,
                retry_initial: std::time::Duration::from_millis(50),
                retry_max: std::time::Duration::from_millis(400),
                ..Default::default()
            });
            let runs = devices.iter().map(|(s, _)| engine.sync_with_retry(s, 100));
            futures::future::join_all(runs).await
        })
    };
    let mut kills = 0;
    for i in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(150 + 90 * i)).await;
        if syncing.is_finished() {
            break;
        }
        srv.restart().unwrap();
        proxy.retarget(srv.addr);
        kills += 1;
    }
    for r in syncing.await.unwrap() {
        r.expect("sync converged after restarts");
    }
    assert!(
        kills >= 2,
        "the pushes ended before the server could be killed twice ({kills})"
    );
    field.finish().await.unwrap();
    field.verify().await.unwrap();
    assert_eq!(
        mutation_count(&srv.database_url).await,
        i64::try_from(surveys).unwrap()
    );
    println!(
        "server killed {kills} times during {surveys} pushes on {b:?}: nothing lost or duplicated"
    );
}
both!(server_killed_mid_push);

/// The link drops in the middle of responses: retries converge, nothing duplicated.
async fn link_cut_mid_response(b: Backend) {
    let srv = server(b);
    let dir = workdir();
    let proxy = Proxy::start(srv.addr).await.unwrap();
    let mut field = Field::setup_on(&proxy.url(), dir.path(), 3, 0, 9, 4)
        .await
        .expect("setup");
    proxy.cut_every(3);
    for _ in 0..4 {
        field.day(50, 0).await.unwrap();
    }
    field.finish().await.unwrap();
    proxy.cut_every(0);
    field.verify().await.unwrap();
    let cuts = proxy
        .counters
        .cuts
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(cuts > 0);
    assert_eq!(
        mutation_count(&srv.database_url).await,
        i64::try_from(field.stats.surveys).unwrap()
    );
    println!(
        "{cuts} responses cut on {b:?}; converged with {} surveys",
        field.stats.surveys
    );
}
both!(link_cut_mid_response);

/// A community moves from worker A to worker B in the middle of the campaign while A has
/// unsent work there: A's edits are accepted (marked), B gets the community with them, A's
/// phone drops it, the figures stay exact.
async fn community_reassigned_mid_campaign(b: Backend) {
    let srv = server(b);
    let dir = workdir();
    let mut field = Field::setup_on(&srv.url(), dir.path(), 2, 0, 6, 8)
        .await
        .expect("setup");
    field.day(20, 0).await.unwrap();
    let (a, bw) = (&field.workers[0], &field.workers[1]);
    let moved = a
        .store
        .scope()
        .unwrap()
        .into_iter()
        .find(|c| c.as_str().len() == 12)
        .unwrap();
    let offline: Vec<_> = a
        .store
        .persons(Some(&moved), doorstep_app::Filter::NotYet, "")
        .unwrap()
        .into_iter()
        .take(5)
        .collect();
    let mut rng = doorstep_shared::demo::SplitMix64::new(1);
    for row in &offline {
        a.survey(row.person_id, doorstep_shared::Outcome::Phone, &mut rng)
            .unwrap();
        field
            .truth
            .insert(row.person_id, doorstep_shared::Outcome::Phone);
    }
    field.stats.surveys += offline.len();
    field
        .console
        .assign(moved.as_str(), &bw.username)
        .await
        .unwrap();
    let rb = bw.sync().await.unwrap();
    assert!(rb.pulled > 0);
    let ra = a.sync().await.unwrap();
    assert_eq!(ra.reassigned, offline.len());
    assert!(ra.dropped_communities.contains(&moved), "{ra:?}");
    assert!(
        a.store
            .persons(Some(&moved), doorstep_app::Filter::All, "")
            .unwrap()
            .is_empty()
    );
    bw.sync().await.unwrap();
    for row in &offline {
        assert_eq!(
            bw.store.record(row.person_id).unwrap().final_outcome,
            Some(doorstep_shared::Outcome::Phone)
        );
    }
    field.finish().await.unwrap();
    field.verify().await.unwrap();
}
both!(community_reassigned_mid_campaign);

/// Two server processes on one PostgreSQL database, phones spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_postgres() {
    let one = server(Backend::Postgres);
    let two = ServerProcess::start(&bin(), &one.database_url, "127.0.0.1:0").unwrap();
    let dir = workdir();
    let mut field = Field::setup_on(&one.url(), dir.path(), 6, 1, 18, 21)
        .await
        .expect("setup");
    // Half the phones sign in again through the second process.
    for (i, w) in field.workers.iter_mut().enumerate() {
        if i % 2 == 1 {
            *w = Device::sign_in(
                dir.path(),
                &format!("{}-two", w.name),
                &w.username.clone(),
                &two.url(),
            )
            .await
            .unwrap();
        }
    }
    for _ in 0..4 {
        field.day(60, 10).await.unwrap();
    }
    field.finish().await.unwrap();
    field.verify().await.unwrap();
    println!(
        "two processes: {} surveys, {} conflicts",
        field.stats.surveys, field.stats.conflict_items
    );
}
