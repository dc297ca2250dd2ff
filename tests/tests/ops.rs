//! Running it for real: SIGTERM during pushes loses nothing acknowledged, answers every
//! request it read, and a push that never got an answer is taken on the phone's retry; a backup taken while serving restores into a server with the same figures.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use doorstep_server::testing::{Backend, fresh_url};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire, pick_outcome};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Change;
use doorstep_shared::sync::{LoginResponse, Mutation, PullResponse, PushRequest, PushResponse};
use doorstep_tests::server::ServerProcess;
use serde_json::json;
use uuid::Uuid;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_field-server"))
}

async fn login(http: &reqwest::Client, url: &str, user: &str) -> String {
    let r: LoginResponse = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": doorstep_server::seed::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r.token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_pushes_loses_nothing_acknowledged() {
    let url = fresh_url(Backend::Sqlite);
    ServerProcess::seed_demo(&bin(), &url, 2021).unwrap();
    let mut server = ServerProcess::start(&bin(), &url, "127.0.0.1:0").unwrap();
    let base = server.url();
    let http = reqwest::Client::new();
    let token = login(&http, &base, "admin").await;
    let page: PullResponse = http
        .get(format!("{base}/api/v1/sync/pull?cursor=0&limit=2000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = FormDefinition::dynamic_update_2021();
    let campaign = page.campaign.clone();
    let records = Arc::new(page.records);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for k in 0..4usize {
        let (http, base, token, records, stop, form, campaign) = (
            http.clone(),
            base.clone(),
            token.clone(),
            records.clone(),
            stop.clone(),
            form.clone(),
            campaign.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<Uuid> = Vec::new();
            let mut unanswered: Vec<Mutation> = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            let mut rng = SplitMix64::new(k as u64);
            let mut i = k;
            while !stop.load(Ordering::Relaxed) && i < records.len() {
                let rec = &records[i];
                i += 4;
                let o = pick_outcome(&mut rng);
                let answers = fill_questionnaire(&form, &rec.person, &campaign, o, &mut rng);
                let m = Mutation {
                    id: Uuid::now_v7(),
                    person: rec.person.id,
                    base_version: rec.version,
                    hlc: Hlc {
                        wall: chrono::Utc::now().timestamp_millis(),
                        counter: 0,
                    },
                    changes: answers
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                Change {
                                    base: None,
                                    value: Some(v),
                                },
                            )
                        })
                        .collect(),
                };
                let id = m.id;
                let r = http
                    .post(format!("{base}/api/v1/sync/push"))
                    .bearer_auth(&token)
                    .json(&PushRequest::new(vec![m.clone()]))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == 200 => match resp.json::<PushResponse>().await {
                        Ok(body) => {
                            assert_eq!(body.results.len(), 1);
                            acked.push(id);
                        }
                        Err(e) => errors.push(format!("body: {e}")),
                    },
                    Ok(resp) => errors.push(format!("status {}", resp.status())),
                    Err(e) if e.is_connect() => break,
                    // A request sent on a kept-alive connection the server was closing
                    // (HTTP/1.1's race) never got an answer: the phone keeps it in its
                    // outbox and sends it again.
                    Err(e)
                        if e.is_request() && !e.is_timeout() && !e.is_body() && !e.is_decode() =>
                    {
                        unanswered.push(m);
                    }
                    Err(e) => errors.push(format!("{e:?}")),
                }
            }
            (acked, unanswered, errors)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t0 = Instant::now();
    let clean = tokio::task::spawn_blocking(move || {
        let ok = server.terminate(Duration::from_secs(20)).unwrap();
        (ok, server)
    })
    .await
    .unwrap();
    let stopped_in = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, mut server) = clean;
    assert!(ok, "the server exits cleanly on SIGTERM");
    let mut acked = Vec::new();
    let mut unanswered = Vec::new();
    for t in tasks {
        let (a, u, errors) = t.await.unwrap();
        assert!(errors.is_empty(), "no failed answer: {errors:?}");
        acked.extend(a);
        unanswered.extend(u);
    }
    assert!(!acked.is_empty());
    // The phones send again what never got an answer; the restarted server takes it once.
    let resent = unanswered.len();
    if !unanswered.is_empty() {
        server.restart().unwrap();
        let base = server.url();
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/sync/push"))
            .bearer_auth(&token)
            .json(&PushRequest::new(unanswered.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: PushResponse = r.json().await.unwrap();
        assert_eq!(body.results.len(), unanswered.len());
        acked.extend(unanswered.iter().map(|m| m.id));
        server.terminate(Duration::from_secs(20)).unwrap();
    }
    // Every acknowledged push is stored.
    let db = doorstep_server::db::Db::connect(&url).await.unwrap();
    let log: std::collections::HashSet<Uuid> = db
        .mutation_log()
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    for id in &acked {
        assert!(log.contains(id), "acknowledged push {id} lost");
    }
    println!(
        "SIGTERM during pushes: {} pushes acknowledged ({resent} sent again after the restart), all stored; stopped in {:.0} ms",
        acked.len(),
        stopped_in.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("doorstep.db").display());
    let state = doorstep_server::build(&doorstep_server::Config::new(
        Some(url.clone()),
        data.clone(),
    ))
    .await
    .unwrap();
    doorstep_server::seed::seed_demo(&state, 5).await.unwrap();
    let addr = doorstep_server::spawn(state.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let token = login(&http, &base, "admin").await;
    // Some survey work, so the figures are not all zero.
    let page: PullResponse = http
        .get(format!("{base}/api/v1/sync/pull?cursor=0&limit=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let form = FormDefinition::dynamic_update_2021();
    let mut rng = SplitMix64::new(3);
    let mutations: Vec<Mutation> = page
        .records
        .iter()
        .map(|rec| {
            let o = pick_outcome(&mut rng);
            Mutation {
                id: Uuid::now_v7(),
                person: rec.person.id,
                base_version: rec.version,
                hlc: Hlc {
                    wall: chrono::Utc::now().timestamp_millis(),
                    counter: 0,
                },
                changes: fill_questionnaire(&form, &rec.person, &page.campaign, o, &mut rng)
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Change {
                                base: None,
                                value: Some(v),
                            },
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let r = http
        .post(format!("{base}/api/v1/sync/push"))
        .bearer_auth(&token)
        .json(&PushRequest::new(mutations))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let before: serde_json::Value = http
        .get(format!("{base}/api/v1/progress"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The backup, through the command line, while the server serves.
    let file = dir.path().join("backup.db");
    let t0 = Instant::now();
    doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from([
        "doorstep-server",
        "--data-dir",
        data.to_str().unwrap(),
        "backup",
        file.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    let took = t0.elapsed();
    let size = std::fs::metadata(&file).unwrap().len();
    // Refuses to overwrite, and refuses a non-empty data directory on restore.
    assert!(
        doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from([
            "doorstep-server",
            "--data-dir",
            data.to_str().unwrap(),
            "backup",
            file.to_str().unwrap(),
        ]))
        .await
        .is_err()
    );
    assert!(
        doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from([
            "doorstep-server",
            "--data-dir",
            data.to_str().unwrap(),
            "restore",
            file.to_str().unwrap(),
        ]))
        .await
        .is_err()
    );
    let restored = dir.path().join("restored");
    doorstep_server::cli::run(doorstep_server::cli::Cli::parse_from([
        "doorstep-server",
        "--data-dir",
        restored.to_str().unwrap(),
        "restore",
        file.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    let state2 = doorstep_server::build(&doorstep_server::Config::new(None, restored.clone()))
        .await
        .unwrap();
    let addr2 = doorstep_server::spawn(state2, "127.0.0.1:0").await.unwrap();
    let base2 = format!("http://{addr2}");
    let token2 = login(&http, &base2, "admin").await;
    let after: serde_json::Value = http
        .get(format!("{base2}/api/v1/progress"))
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before["total"], after["total"]);
    assert_eq!(before["communities"], after["communities"]);
    println!(
        "backup of the demo district: {:.1} MB in {:.0} ms",
        size as f64 / 1_048_576.0,
        took.as_secs_f64() * 1000.0
    );
}

/// `serve --backup-dir --backup-every --backup-keep`: backups come on schedule while serving,
/// only the newest `keep` stay, none is left half-written, and the newest holds the pushes made
/// before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let log = dir.path().join("server.log");
    let url = fresh_url(Backend::Sqlite);
    ServerProcess::seed_demo(&bin(), &url, 2021).unwrap();
    let opts = doorstep_tests::server::Options {
        serve_args: [
            "--backup-dir",
            backups.to_str().unwrap(),
            "--backup-every",
            "2s",
            "--backup-keep",
            "2",
        ]
        .map(String::from)
        .to_vec(),
        log_level: Some("doorstep_server=info".into()),
        log_file: Some(log.clone()),
        ..Default::default()
    };
    let mut server = ServerProcess::start_with(&bin(), &url, "127.0.0.1:0", &opts).unwrap();
    let written = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("scheduled backup written")
            .count()
    };
    let wait_for = |n: usize| {
        let started = Instant::now();
        while written() < n {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} backups",
                written()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The first is due at once (none in the directory yet).
    wait_for(1);
    let base = server.url();
    let http = reqwest::Client::new();
    let token = login(&http, &base, "w001").await;
    let page: PullResponse = http
        .get(format!("{base}/api/v1/sync/pull?cursor=0&limit=3"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rec = &page.records[0];
    let m = Mutation {
        id: Uuid::now_v7(),
        person: rec.person.id,
        base_version: rec.version,
        hlc: Hlc {
            wall: chrono::Utc::now().timestamp_millis(),
            counter: 0,
        },
        changes: [(
            "marital_status".to_string(),
            Change {
                base: rec.answers.get("marital_status").cloned(),
                value: Some(doorstep_shared::Value::text("married")),
            },
        )]
        .into(),
    };
    let r: PushResponse = http
        .post(format!("{base}/api/v1/sync/push"))
        .bearer_auth(&token)
        .json(&PushRequest::new(vec![m]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r.results[0].status,
        doorstep_shared::sync::MutationStatus::Applied
    );
    let after_push = written();
    wait_for(after_push + 2);
    assert!(server.terminate(Duration::from_secs(20)).unwrap());
    let total = written();
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let kept = doorstep_server::backups::list(&backups).unwrap();
    assert_eq!(kept.len(), 2, "{names:?}");
    assert_eq!(names.len(), 2, "nothing else in the directory: {names:?}");
    // The newest holds the push; the live database and it show the same campaign figures.
    let copy = dir.path().join("newest.db");
    std::fs::copy(kept.last().unwrap(), &copy).unwrap();
    let size = std::fs::metadata(&copy).unwrap().len();
    let newest = doorstep_tests::upgrade::figures(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let live = doorstep_tests::upgrade::figures(&url).await.unwrap();
    assert_eq!(newest["mutations"], 1);
    assert_eq!(newest["campaigns"], live["campaigns"]);
    assert!(newest["audit"]["broken_at"].is_null());
    println!(
        "scheduled backups: {total} written every 2 s, 2 kept, newest {:.1} MB",
        size as f64 / 1_048_576.0
    );
}
