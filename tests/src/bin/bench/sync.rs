//! Sync side by side with the CouchDB/PouchDB peer (`../shared/peer-bench`): push all, push
//! 200 edits and pull all on the same records, bytes on the wire, and the bulk-insert floor.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, Value as Json, json};
use uuid::Uuid;

use doorstep_app::{Filter, KdfParams, SaveResult, Store, SyncEngine};
use doorstep_server::{Config, build, seed, spawn};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire, pick_outcome};
use doorstep_shared::domain::STATUS;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::{Campaign, Value};
use doorstep_tests::proxy::Proxy;

use crate::Args;
use crate::common::{Table, lo_bytes, median, ms, perf_phase, tmpfs_url, workdir};
use crate::herd::cpu_secs;

/// The demo district with every record surveyed: the same records for the peer and Doorstep.
struct Corpus {
    persons: Vec<doorstep_shared::Person>,
    answers: Vec<doorstep_shared::Answers>,
    edits: Vec<(usize, BTreeMap<String, Option<Value>>)>,
}

fn corpus(campaign: Campaign) -> Corpus {
    let form = FormDefinition::dynamic_update_2021();
    let d = doorstep_shared::demo::generate(2021, campaign.id);
    let mut rng = SplitMix64::new(5);
    let answers: Vec<_> = d
        .persons
        .iter()
        .map(|p| {
            // Surveys with the questionnaire: the heavy records.
            let o = if rng.below(10) < 9 {
                doorstep_shared::Outcome::HomeVisit
            } else {
                pick_outcome(&mut rng)
            };
            fill_questionnaire(&form, p, &campaign, o, &mut rng)
        })
        .collect();
    let surveyed: Vec<usize> = (0..d.persons.len())
        .filter(|i| {
            doorstep_shared::domain::outcome_of(&answers[*i])
                .is_some_and(doorstep_shared::Outcome::has_questionnaire)
        })
        .collect();
    let edits = (0..200)
        .map(|i| {
            let idx = surveyed[i * 31 % surveyed.len()];
            let mut ch = BTreeMap::new();
            ch.insert(
                "phone".to_string(),
                Some(Value::text(format!("1390000{i:04}"))),
            );
            ch.insert("marital_status".to_string(), Some(Value::text("married")));
            (idx, ch)
        })
        .collect();
    Corpus {
        persons: d.persons,
        answers,
        edits,
    }
}

fn write_peer_files(c: &Corpus, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, usize)> {
    let rec = dir.join("records.jsonl");
    let ed = dir.join("edits.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&rec)?);
    let mut fields = 0;
    for (p, a) in c.persons.iter().zip(&c.answers) {
        let mut m = Map::new();
        m.insert("id".into(), json!(p.id.to_string()));
        let pj = serde_json::to_value(p)?;
        for (k, v) in pj.as_object().context("person")? {
            if k != "id" {
                m.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in a {
            m.insert(k.clone(), serde_json::to_value(v)?);
        }
        fields = fields.max(m.len());
        serde_json::to_writer(&mut f, &Json::Object(m))?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&ed)?);
    for (idx, ch) in &c.edits {
        let fields: Map<String, Json> = ch
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Json::Null)))
            .collect();
        serde_json::to_writer(
            &mut f,
            &json!({"id": c.persons[*idx].id.to_string(), "fields": fields}),
        )?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok((rec, ed, fields))
}

/// Milliseconds as a list, one decimal each.
fn listed(ms: impl Iterator<Item = f64>) -> String {
    ms.map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(", ")
}

/// One measured run of the peer.
struct PeerRun {
    push_all: f64,
    push_edits: f64,
    pull_all: f64,
    /// Bytes on the loopback over the run (and the warm-up run before it: halved).
    bytes: u64,
}

/// One measured run of the peer: an invocation of two runs, the second kept. The first warms
/// the peer's client (its process is new: JIT-compiled code not compiled yet); each run has a
/// new server process and new stores, as the peer does it. The first call installs the peer's
/// packages (outside any run).
fn run_peer(args: &Args, rec: &Path, ed: &Path, work: &Path) -> anyhow::Result<PeerRun> {
    let run_sh = args.peer.join("run.sh");
    if !run_sh.exists() {
        bail!("no peer at {}", args.peer.display());
    }
    let before = lo_bytes();
    let out = std::process::Command::new("bash")
        .arg(&run_sh)
        .arg(work.join("peer"))
        .args([
            "--records",
            rec.to_str().unwrap_or_default(),
            "--edits",
            ed.to_str().unwrap_or_default(),
            "--runs",
            "2",
        ])
        .output()?;
    let bytes = (lo_bytes() - before) / 2;
    if !out.status.success() {
        bail!(
            "peer failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last: Json = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .rfind(|r| r["run"].as_u64() == Some(2))
        .context("the peer's second run")?;
    let ms = |k: &str| last[k].as_f64().with_context(|| k.to_string());
    Ok(PeerRun {
        push_all: ms("push_all_ms")?,
        push_edits: ms("push_edits_ms")?,
        pull_all: ms("pull_all_ms")?,
        bytes,
    })
}

struct OursRun {
    push_all: f64,
    /// CPU time of device and server together during push all.
    push_all_cpu: f64,
    push_edits: f64,
    pull_all: f64,
    /// Device A pulling back what it pushed (the pull that ends its sync): not one of the
    /// peer's phases, shown beside them.
    pull_back: f64,
    bytes: [u64; 3],
}

/// One run of the three phases. With `one_way` not zero the devices reach the server through a
/// proxy that delays every byte that long each way (set once the device holds its surveys: the
/// timed phases only).
async fn run_ours(c: &Corpus, dir: &Path, one_way: Duration) -> anyhow::Result<OursRun> {
    let (url, _db) = tmpfs_url();
    let state = build(&Config::new(Some(url), PathBuf::new())).await?;
    seed::seed_demo(&state, 2021).await?;
    let addr = spawn(state.clone(), "127.0.0.1:0").await?;
    let proxy = if one_way.is_zero() {
        None
    } else {
        Some(Proxy::start(addr).await?)
    };
    let server = proxy
        .as_ref()
        .map_or_else(|| format!("http://{addr}"), Proxy::url);
    let engine = SyncEngine::new();
    let a = Store::create(
        dir.join(format!("a-{}.db", Uuid::new_v4())),
        "246810",
        KdfParams::insecure_fast_for_tests(),
    )?;
    engine
        .login(&a, &server, "admin", seed::DEMO_PASSWORD, "bench A")
        .await?;
    engine.sync_once(&a).await?;
    // The device holds every finalized record (made locally, untimed, like the peer's bulkDocs).
    // The server's person keys belong to its campaign: match the corpus by resident ID.
    let mut by_resident: BTreeMap<String, Uuid> = BTreeMap::new();
    for row in a.persons(None, Filter::All, "")? {
        by_resident.insert(
            a.record(row.person_id)?.person.resident_id.to_string(),
            row.person_id,
        );
    }
    for (p, ans) in c.persons.iter().zip(&c.answers) {
        let id = by_resident[p.resident_id.as_str()];
        let changes = ans
            .iter()
            .filter(|(k, _)| *k != STATUS)
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        if let SaveResult::Invalid(e) = a.save_edit(id, changes, true)? {
            bail!("corpus record invalid: {e:?}");
        }
    }
    if let Some(p) = &proxy {
        p.set_delay(one_way);
    }
    let b0 = lo_bytes();
    perf_phase("push_all", true);
    let (t, cpu) = (Instant::now(), cpu_secs("self", false));
    let r = engine.push_only(&a).await?;
    let push_all = ms(t.elapsed());
    let push_all_cpu = (cpu_secs("self", false) - cpu) * 1000.0;
    perf_phase("push_all", false);
    let b1 = lo_bytes();
    if r.applied != c.persons.len() {
        bail!("pushed {} of {}", r.applied, c.persons.len());
    }
    for (idx, ch) in &c.edits {
        let id = by_resident[c.persons[*idx].resident_id.as_str()];
        if !matches!(
            a.save_edit(id, ch.clone(), false)?,
            SaveResult::Saved { .. }
        ) {
            bail!("edit not saved");
        }
    }
    let b2 = lo_bytes();
    perf_phase("push_edits", true);
    let t = Instant::now();
    let r = engine.push_only(&a).await?;
    let push_edits = ms(t.elapsed());
    perf_phase("push_edits", false);
    let b3 = lo_bytes();
    if r.applied != c.edits.len() {
        bail!("pushed {} edits of {}", r.applied, c.edits.len());
    }
    let t = Instant::now();
    let r = engine.pull_only(&a).await?;
    let pull_back = ms(t.elapsed());
    if r.pulled < c.persons.len() {
        bail!("device A pulled back {} of {}", r.pulled, c.persons.len());
    }
    let bdev = Store::create(
        dir.join(format!("b-{}.db", Uuid::new_v4())),
        "246810",
        KdfParams::insecure_fast_for_tests(),
    )?;
    engine
        .login(&bdev, &server, "admin", seed::DEMO_PASSWORD, "bench B")
        .await?;
    let b4 = lo_bytes();
    let t = Instant::now();
    let r = engine.pull_only(&bdev).await?;
    let pull_all = ms(t.elapsed());
    let b5 = lo_bytes();
    if r.pulled != c.persons.len() {
        bail!("pulled {} of {}", r.pulled, c.persons.len());
    }
    Ok(OursRun {
        push_all,
        push_all_cpu,
        push_edits,
        pull_all,
        pull_back,
        bytes: [b1 - b0, b3 - b2, b5 - b4],
    })
}

/// Bulk-inserting the same rows, without sync logic, into a server SQLite file and a device
/// SQLCipher file: the floor under push and pull.
async fn floors(c: &Corpus, dir: &Path) -> anyhow::Result<(f64, f64)> {
    let docs: Vec<(String, String)> = c
        .persons
        .iter()
        .zip(&c.answers)
        .map(|(p, a)| {
            (
                p.id.to_string(),
                serde_json::to_string(&json!({"person": p, "answers": a})).unwrap_or_default(),
            )
        })
        .collect();
    let (url, _d) = tmpfs_url();
    let opts: sqlx::sqlite::SqliteConnectOptions = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::SqlitePool::connect_with(opts).await?;
    sqlx::query("CREATE TABLE r (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let t = Instant::now();
    let mut tx = pool.begin().await?;
    for (id, doc) in &docs {
        sqlx::query("INSERT INTO r (id, doc) VALUES (?1, ?2)")
            .bind(id)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let row_at_a_time = ms(t.elapsed());
    // The best shape the driver allows: 100 rows a statement, anonymous parameters (numbered
    // ones are looked up by name when bound, a scan of the statement's list each).
    sqlx::query("DELETE FROM r").execute(&pool).await?;
    let t = Instant::now();
    let mut tx = pool.begin().await?;
    for chunk in docs.chunks(100) {
        let sql = format!(
            "INSERT INTO r (id, doc) VALUES {}",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, doc) in chunk {
            q = q.bind(id).bind(doc);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let server_floor = ms(t.elapsed()).min(row_at_a_time);
    println!(
        "  server floor: a row a statement {row_at_a_time:.0} ms, 100 rows a statement {:.0} ms",
        ms(t.elapsed())
    );
    let conn = rusqlite::Connection::open(dir.join("floor.db"))?;
    conn.pragma_update(None, "key", "floor-key")?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; CREATE TABLE r (id TEXT PRIMARY KEY, doc TEXT NOT NULL);",
    )?;
    let t = Instant::now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut st = tx.prepare("INSERT INTO r (id, doc) VALUES (?1, ?2)")?;
        for (id, doc) in &docs {
            st.execute(rusqlite::params![id, doc])?;
        }
    }
    tx.commit()?;
    Ok((server_floor, ms(t.elapsed())))
}

pub(crate) async fn sync_side_by_side(args: &Args, t: &mut Table) -> anyhow::Result<()> {
    println!("\n1. Sync, side by side with the CouchDB/PouchDB peer");
    let work = workdir();
    let campaign = Campaign {
        id: Uuid::now_v7(),
        district: doorstep_shared::DivisionCode::parse("430503")?,
        district_name: "大祥区".into(),
        year: 2021,
        name: "bench".into(),
        // The demo campaign's dates (ages, hence relevance, depend on them).
        starts: chrono::Utc::now().date_naive() - chrono::Duration::days(21),
        ends: chrono::Utc::now().date_naive() + chrono::Duration::days(70),
        form_version: FormDefinition::dynamic_update_2021().version,
    };
    let c = corpus(campaign);
    let (rec, ed, fields) = write_peer_files(&c, work.path())?;
    println!(
        "  {} records of up to {fields} fields, {} edits",
        c.persons.len(),
        c.edits.len()
    );
    // The two sides alternate run by run, so that a machine that drifts (shared cores) slows
    // both alike rather than whichever runs second. Each run of the peer, or none (it could
    // not run).
    let mut peer: Option<Vec<PeerRun>> = Some(Vec::new());
    let mut runs = Vec::new();
    for _ in 0..args.runs.max(1) {
        if let Some(done) = &mut peer {
            match run_peer(args, &rec, &ed, work.path()) {
                Ok(p) => done.push(p),
                Err(e) => {
                    println!("  peer unavailable: {e}");
                    peer = None;
                }
            }
        }
        runs.push(run_ours(&c, work.path(), Duration::ZERO).await?);
    }
    let ours = [
        median(runs.iter().map(|r| r.push_all).collect()),
        median(runs.iter().map(|r| r.push_edits).collect()),
        median(runs.iter().map(|r| r.pull_all).collect()),
    ];
    let bytes: u64 = runs[0].bytes.iter().sum();
    let push_all_cpu = median(runs.iter().map(|r| r.push_all_cpu).collect());
    let walls: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.push_all)).collect();
    println!(
        "  push all: runs {} ms; CPU (device and server, one process) {push_all_cpu:.0} ms, {:.2} cores",
        walls.join(", "),
        push_all_cpu / ours[0]
    );
    println!(
        "  push 200 edits: runs {} ms{}",
        listed(runs.iter().map(|r| r.push_edits)),
        peer.as_ref().map_or_else(String::new, |p| format!(
            " (the peer's: {} ms)",
            listed(p.iter().map(|r| r.push_edits))
        ))
    );
    println!(
        "  device A pulling back what it pushed (the rest of its sync): {:.0} ms",
        median(runs.iter().map(|r| r.pull_back).collect())
    );
    let (server_floor, device_floor) = floors(&c, work.path()).await?;
    let names = ["push all", "push 200 edits", "pull all"];
    // The architecture issue's goals: pushes at least 5× the peer, the pull at least 10×.
    let goals = [5.0, 5.0, 10.0];
    let peers = peer.as_ref().map(|p| {
        [
            median(p.iter().map(|r| r.push_all).collect()),
            median(p.iter().map(|r| r.push_edits).collect()),
            median(p.iter().map(|r| r.pull_all).collect()),
        ]
    });
    for i in 0..3 {
        let (figure, met) = match peers {
            Some(p) => (
                format!(
                    "peer {:.0} ms, Doorstep {:.0} ms, ratio {:.1}×",
                    p[i],
                    ours[i],
                    p[i] / ours[i]
                ),
                Some(p[i] / ours[i] >= goals[i]),
            ),
            None => (format!("Doorstep {:.0} ms", ours[i]), None),
        };
        t.row(
            &format!("sync: {}", names[i]),
            figure,
            &format!("≥ {}× the peer", goals[i]),
            met,
            String::new(),
        );
    }
    t.row(
        "sync: floor (bulk insert, no sync logic)",
        format!("server SQLite {server_floor:.0} ms, device SQLCipher {device_floor:.0} ms"),
        "push ≤ 3× server floor, pull ≤ 3× device floor",
        Some(ours[0] <= 3.0 * server_floor && ours[2] <= 3.0 * device_floor),
        format!(
            "push all {:.1}× floor, pull all {:.1}× floor",
            ours[0] / server_floor,
            ours[2] / device_floor
        ),
    );
    let peer_bytes = peer
        .as_ref()
        .map(|p| p.iter().map(|r| r.bytes).sum::<u64>() / p.len() as u64);
    let (bfig, bmet) = match peer_bytes {
        Some(peer_bytes) => (
            format!(
                "peer {} kB/run, Doorstep {} kB/run ({:.2})",
                peer_bytes / 1024,
                bytes / 1024,
                bytes as f64 / peer_bytes as f64
            ),
            Some(bytes * 5 <= peer_bytes),
        ),
        None => (format!("Doorstep {} kB/run", bytes / 1024), None),
    };
    t.row(
        "sync: bytes on the wire (all three phases)",
        bfig,
        "≤ 1/5 of the peer",
        bmet,
        format!("per phase {:?} kB", runs[0].bytes.map(|b| b / 1024)),
    );
    // The same phases over a phone network's round trip: what two push batches in flight and
    // the pull's next page fetched while one is written are for.
    let slow = run_ours(&c, work.path(), Duration::from_millis(50)).await?;
    t.row(
        "sync over a 100 ms round trip (a proxy delays each way 50 ms)",
        format!(
            "push all {:.0} ms, push 200 edits {:.0} ms, pull all {:.0} ms",
            slow.push_all, slow.push_edits, slow.pull_all
        ),
        "report",
        None,
        "one run; push all is 14 batches, pull all 7 pages".into(),
    );
    Ok(())
}
