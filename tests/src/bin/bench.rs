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
//! 6. the needs and services analysis of a province's finalized records (`analysis`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Map, Value as Json, json};
use uuid::Uuid;

use doorstep_app::{Filter, KdfParams, SaveResult, Store, SyncEngine};
use doorstep_server::db::Scope;
use doorstep_server::testing::{Backend, TempPostgres, fresh_url};
use doorstep_server::{Config, build, seed, spawn};
use doorstep_shared::demo::{SplitMix64, fill_questionnaire, pick_outcome};
use doorstep_shared::domain::STATUS;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::progress::Counts;
use doorstep_shared::{Campaign, Value};

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
    /// Only these sections (sync, province, devices, store, durability, analysis); all when
    /// empty.
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
}

struct Table(Vec<[String; 5]>);

impl Table {
    fn row(&mut self, what: &str, figure: String, goal: &str, met: Option<bool>, note: String) {
        let met = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("  {what}: {figure} ({goal}) {met} {note}");
        self.0
            .push([what.into(), figure, goal.into(), met.into(), note]);
    }

    fn print(&self) {
        println!("\n| measure | figure | goal | | notes |\n|---|---|---|---|---|");
        for r in &self.0 {
            println!("| {} | {} | {} | {} | {} |", r[0], r[1], r[2], r[3], r[4]);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
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
fn lo_bytes() -> u64 {
    std::fs::read_to_string("/proc/net/dev")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.trim_start().starts_with("lo:"))
                .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn workdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir")
}

fn tmpfs_url() -> (String, tempfile::TempDir) {
    let dir = workdir();
    (
        format!("sqlite://{}", dir.path().join("doorstep.db").display()),
        dir,
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
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
    t.print();
    Ok(())
}

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

struct PeerResult {
    push_all: f64,
    push_edits: f64,
    pull_all: f64,
    bytes_per_run: u64,
}

fn run_peer(args: &Args, rec: &Path, ed: &Path, work: &Path) -> anyhow::Result<PeerResult> {
    let run_sh = args.peer.join("run.sh");
    if !run_sh.exists() {
        bail!("no peer at {}", args.peer.display());
    }
    let peer_dir = work.join("peer");
    // Install once, outside the measurement.
    let status = std::process::Command::new("bash")
        .arg(&run_sh)
        .arg(&peer_dir)
        .args([
            "--records",
            rec.to_str().unwrap_or_default(),
            "--edits",
            ed.to_str().unwrap_or_default(),
            "--runs",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("peer warm-up failed");
    }
    let before = lo_bytes();
    let out = std::process::Command::new("bash")
        .arg(&run_sh)
        .arg(&peer_dir)
        .args([
            "--records",
            rec.to_str().unwrap_or_default(),
            "--edits",
            ed.to_str().unwrap_or_default(),
            "--runs",
            &args.runs.to_string(),
        ])
        .output()?;
    let bytes = lo_bytes() - before;
    let text = String::from_utf8_lossy(&out.stdout);
    let last: Json = serde_json::from_str(text.lines().last().context("peer output")?)?;
    let m = &last["median_ms"];
    Ok(PeerResult {
        push_all: m["push_all"].as_f64().context("push_all")?,
        push_edits: m["push_edits"].as_f64().context("push_edits")?,
        pull_all: m["pull_all"].as_f64().context("pull_all")?,
        bytes_per_run: bytes / args.runs as u64,
    })
}

struct OursRun {
    push_all: f64,
    push_edits: f64,
    pull_all: f64,
    bytes: [u64; 3],
}

async fn run_ours(c: &Corpus, dir: &Path) -> anyhow::Result<OursRun> {
    let (url, _db) = tmpfs_url();
    let state = build(&Config::new(Some(url), PathBuf::new())).await?;
    seed::seed_demo(&state, 2021).await?;
    let addr = spawn(state.clone(), "127.0.0.1:0").await?;
    let server = format!("http://{addr}");
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
    let b0 = lo_bytes();
    let t = Instant::now();
    let r = engine.push_only(&a).await?;
    let push_all = ms(t.elapsed());
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
    let t = Instant::now();
    let r = engine.push_only(&a).await?;
    let push_edits = ms(t.elapsed());
    let b3 = lo_bytes();
    if r.applied != c.edits.len() {
        bail!("pushed {} edits of {}", r.applied, c.edits.len());
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
        push_edits,
        pull_all,
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
    let server_floor = ms(t.elapsed());
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

async fn sync_side_by_side(args: &Args, t: &mut Table) -> anyhow::Result<()> {
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
    let peer = match run_peer(args, &rec, &ed, work.path()) {
        Ok(p) => Some(p),
        Err(e) => {
            println!("  peer unavailable: {e}");
            None
        }
    };
    let mut runs = Vec::new();
    for _ in 0..args.runs.max(1) {
        runs.push(run_ours(&c, work.path()).await?);
    }
    let ours = [
        median(runs.iter().map(|r| r.push_all).collect()),
        median(runs.iter().map(|r| r.push_edits).collect()),
        median(runs.iter().map(|r| r.pull_all).collect()),
    ];
    let bytes: u64 = runs[0].bytes.iter().sum();
    let (server_floor, device_floor) = floors(&c, work.path()).await?;
    let names = ["push all", "push 200 edits", "pull all"];
    let peers = peer
        .as_ref()
        .map(|p| [p.push_all, p.push_edits, p.pull_all]);
    for i in 0..3 {
        let (figure, met) = match peers {
            Some(p) => (
                format!(
                    "peer {:.0} ms, Doorstep {:.0} ms, ratio {:.1}×",
                    p[i],
                    ours[i],
                    p[i] / ours[i]
                ),
                Some(p[i] / ours[i] >= 10.0),
            ),
            None => (format!("Doorstep {:.0} ms", ours[i]), None),
        };
        t.row(
            &format!("sync: {}", names[i]),
            figure,
            "≥ 10× the peer",
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
    let (bfig, bmet) = match &peer {
        Some(p) => (
            format!(
                "peer {} kB/run, Doorstep {} kB/run ({:.2})",
                p.bytes_per_run / 1024,
                bytes / 1024,
                bytes as f64 / p.bytes_per_run as f64
            ),
            Some(bytes * 5 <= p.bytes_per_run),
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
    Ok(())
}

async fn province(args: &Args, t: &mut Table) -> anyhow::Result<()> {
    let (persons, communities) = if args.quick {
        (100_000, 1_500)
    } else {
        (1_000_000, 15_000)
    };
    println!("\n2. Progress at province scale: {persons} persons in {communities} communities");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (url, _dir) = match backend {
            Backend::Sqlite => {
                let (u, d) = tmpfs_url();
                (u, Some(d))
            }
            Backend::Postgres => {
                let _ = TempPostgres::shared();
                (fresh_url(Backend::Postgres), None)
            }
        };
        let state = build(&Config::new(Some(url), PathBuf::new())).await?;
        let db = &state.db;
        let form = FormDefinition::dynamic_update_2021();
        let (campaign, _) = db
            .open_campaign(
                &doorstep_server::db::NewCampaign {
                    district: doorstep_shared::DivisionCode::parse("430503")?,
                    district_name: "province".into(),
                    year: 2021,
                    title: "province".into(),
                    starts: chrono::NaiveDate::from_ymd_opt(2021, 3, 1).context("date")?,
                    ends: chrono::NaiveDate::from_ymd_opt(2021, 6, 30).context("date")?,
                    home_visit_target_bp: 9500,
                    review_levels: doorstep_shared::review::Levels::default(),
                    // The demo generator's keys, as the demo server has them.
                    person_keys: doorstep_shared::PersonKeys::Derived,
                },
                &form,
                None,
                &|c, _| {
                    doorstep_server::db::audit::Entry::by(
                        "bench",
                        "open_campaign",
                        &c.year.to_string(),
                    )
                },
            )
            .await?;
        let d = doorstep_shared::demo::generate_sized(7, campaign.id, persons, communities);
        db.put_places(&d.district, &d.streets, &d.communities)
            .await?;
        let street_of: BTreeMap<_, _> = d
            .streets
            .iter()
            .map(|s| (s.code.clone(), s.name.clone()))
            .collect();
        let names: BTreeMap<_, _> = d
            .communities
            .iter()
            .map(|c| {
                (
                    c.code.clone(),
                    (street_of[&c.street].clone(), c.name.clone()),
                )
            })
            .collect();
        let rows: Vec<_> = d
            .persons
            .iter()
            .map(|p| {
                let (s, c) = names[&p.community].clone();
                (p.clone(), s, c)
            })
            .collect();
        let t0 = Instant::now();
        let step = (rows.len() / 10).max(1);
        db.import_persons(
            &campaign,
            &rows,
            &|done, total| {
                if done % step < 200 {
                    eprint!("\r  {backend:?}: importing {done}/{total}");
                }
            },
            &|o| {
                doorstep_server::db::audit::Entry::by(
                    "bench",
                    "import_roster",
                    &o.imported.to_string(),
                )
            },
        )
        .await?;
        eprintln!();
        let load = t0.elapsed();
        // Finalize a share of records so the counters are not all zero.
        let cid = campaign.id.to_string();
        // The overviews: the province (every community) and one district-sized area (~100).
        let district_prefix = d.communities[0].code.as_str()[..8].to_string();
        let mut prov = Vec::new();
        let mut dist = Vec::new();
        for i in 0..60 {
            let t1 = Instant::now();
            let rows = db.progress(&cid, &Scope::All).await?;
            let _total: Counts = rows.iter().map(|c| &c.counts).sum();
            if i > 0 {
                prov.push(ms(t1.elapsed()));
            }
        }
        let mut area_size = 0;
        for i in 0..200 {
            let t1 = Instant::now();
            let rows = db
                .progress(&cid, &Scope::Area(district_prefix.clone()))
                .await?;
            area_size = rows.len();
            let _total: Counts = rows.iter().map(|c| &c.counts).sum();
            if i > 0 {
                dist.push(ms(t1.elapsed()));
            }
        }
        t.row(
            &format!("progress {backend:?}: province overview ({communities} communities)"),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms",
                pct(prov.clone(), 0.5),
                pct(prov.clone(), 0.99)
            ),
            "p50 < 50 ms",
            Some(pct(prov, 0.5) < 50.0),
            format!("{persons} persons loaded in {:.0} s", load.as_secs_f64()),
        );
        t.row(
            &format!("progress {backend:?}: district overview ({area_size} communities)"),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms",
                pct(dist.clone(), 0.5),
                pct(dist.clone(), 0.99)
            ),
            "p50 < 50 ms",
            Some(pct(dist, 0.5) < 50.0),
            String::new(),
        );
    }
    Ok(())
}

async fn many_devices(t: &mut Table) -> anyhow::Result<()> {
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

fn app_store(t: &mut Table) -> anyhow::Result<()> {
    println!("\n4. The app's store on 5,000 persons");
    // On disk, not tmpfs: a confirmed save waits for its fsync, as on a phone.
    let work = tempfile::tempdir()?;
    let campaign_id = Uuid::now_v7();
    let d = doorstep_shared::demo::generate_sized(11, campaign_id, 5_000, 40);
    let form = FormDefinition::dynamic_update_2021();
    let campaign = Campaign {
        id: campaign_id,
        district: d.district.code.clone(),
        district_name: d.district.name.clone(),
        year: 2021,
        name: "store".into(),
        starts: chrono::NaiveDate::from_ymd_opt(2021, 3, 1).context("date")?,
        ends: chrono::NaiveDate::from_ymd_opt(2021, 6, 30).context("date")?,
        form_version: form.version.clone(),
    };
    let store = Store::create(work.path().join("store.db"), "246810", KdfParams::default())?;
    let page = doorstep_shared::sync::PullResponse {
        protocol: doorstep_shared::sync::PROTOCOL_VERSION,
        removed: Vec::new(),
        records: d
            .persons
            .iter()
            .enumerate()
            .map(|(i, p)| doorstep_shared::sync::RecordState {
                person: p.clone(),
                version: 0,
                answers: doorstep_shared::Answers::new(),
                review: doorstep_shared::Review::Pending,
                review_comment: None,
                review_notes: BTreeMap::new(),
                conflicts: BTreeMap::new(),
                seq: i as u64 + 1,
                prior: None,
            })
            .collect(),
        cursor: 5_000,
        more: false,
        scope: d.communities.iter().map(|c| c.code.clone()).collect(),
        community_names: d
            .communities
            .iter()
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect(),
        campaign: campaign.clone(),
        server_time: doorstep_shared::hlc::Hlc::default(),
    };
    store.set_form(&form)?;
    store.apply_pull_page(&page)?;
    let surname: String = d.persons[1234].name.chars().take(1).collect();
    let id_prefix = &d.persons[4321].resident_id.as_str()[..10];
    let time = |f: &dyn Fn() -> anyhow::Result<usize>| -> anyhow::Result<(f64, usize)> {
        let mut v = Vec::new();
        let mut n = 0;
        for _ in 0..30 {
            let t1 = Instant::now();
            n = f()?;
            v.push(ms(t1.elapsed()));
        }
        Ok((median(v), n))
    };
    let (by_name, n1) = time(&|| Ok(store.persons(None, Filter::All, &surname)?.len()))?;
    let (by_id, n2) = time(&|| Ok(store.persons(None, Filter::All, id_prefix)?.len()))?;
    let community = d.communities[3].code.clone();
    let (list, n3) = time(&|| Ok(store.persons(Some(&community), Filter::All, "")?.len()))?;
    let mut rng = SplitMix64::new(2);
    let mut saves = Vec::new();
    for p in d.persons.iter().take(50) {
        let ans = fill_questionnaire(
            &form,
            p,
            &campaign,
            doorstep_shared::Outcome::HomeVisit,
            &mut rng,
        );
        let changes = ans
            .into_iter()
            .filter(|(k, _)| k != STATUS)
            .map(|(k, v)| (k, Some(v)))
            .collect();
        let t1 = Instant::now();
        store.save_edit(p.id, changes, true)?;
        saves.push(ms(t1.elapsed()));
    }
    let save = median(saves);
    t.row(
        "store: search by name",
        format!("{by_name:.1} ms ({n1} found)"),
        "< 16 ms",
        Some(by_name < 16.0),
        String::new(),
    );
    t.row(
        "store: search by ID prefix",
        format!("{by_id:.1} ms ({n2} found)"),
        "< 16 ms",
        Some(by_id < 16.0),
        String::new(),
    );
    t.row(
        "store: open a community's list",
        format!("{list:.1} ms ({n3} persons)"),
        "< 50 ms",
        Some(list < 50.0),
        String::new(),
    );
    t.row(
        "store: save a survey (finalize, fsync)",
        format!("{save:.1} ms"),
        "< 5 ms",
        Some(save < 5.0),
        String::new(),
    );
    Ok(())
}

/// What durable commits cost: pushing every record of the demo district (6,800 complete surveys,
/// batches of 500) to SQLite on disk (not tmpfs, where a sync costs nothing), with
/// `synchronous = FULL` (the product: an acknowledged push survives a power cut) and with
/// `NORMAL` (the earlier setting: the last commits may be lost).
async fn durability(t: &mut Table) -> anyhow::Result<()> {
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

/// The needs and services analysis over a province's finalized records: the roster imported,
/// every person surveyed through the real push path (complete questionnaires, 88 % home
/// visits), then the analysis behind `GET /api/v1/analysis` for the province (every street) and
/// a district-sized area, and one action list of that area.
async fn analysis(args: &Args, t: &mut Table) -> anyhow::Result<()> {
    use doorstep_server::db::Pusher;
    use doorstep_server::service::analysis::{Params, action_list_in, analyse};
    use doorstep_shared::hlc::Hlc;
    use doorstep_shared::merge::Change;
    use doorstep_shared::sync::{Mutation, Role};

    let (persons, communities) = if args.quick {
        (100_000, 1_500)
    } else {
        (1_000_000, 15_000)
    };
    println!("\n6. Analysis: {persons} finalized records in {communities} communities");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if !args.backends.is_empty() && !args.backends.contains(&name) {
            continue;
        }
        let (url, _dir) = match backend {
            Backend::Sqlite => {
                let (u, d) = tmpfs_url();
                (u, Some(d))
            }
            Backend::Postgres => {
                let _ = TempPostgres::shared();
                (fresh_url(Backend::Postgres), None)
            }
        };
        let state = build(&Config::new(Some(url), PathBuf::new())).await?;
        let db = &state.db;
        let form = FormDefinition::dynamic_update_2021();
        let (campaign, _) = db
            .open_campaign(
                &doorstep_server::db::NewCampaign {
                    district: doorstep_shared::DivisionCode::parse("430503")?,
                    district_name: "province".into(),
                    year: 2021,
                    title: "province".into(),
                    starts: chrono::NaiveDate::from_ymd_opt(2021, 3, 1).context("date")?,
                    ends: chrono::NaiveDate::from_ymd_opt(2021, 6, 30).context("date")?,
                    home_visit_target_bp: 9500,
                    review_levels: doorstep_shared::review::Levels::default(),
                    // The demo generator's keys, as the demo server has them.
                    person_keys: doorstep_shared::PersonKeys::Derived,
                },
                &form,
                None,
                &|c, _| {
                    doorstep_server::db::audit::Entry::by(
                        "bench",
                        "open_campaign",
                        &c.year.to_string(),
                    )
                },
            )
            .await?;
        let d = doorstep_shared::demo::generate_sized(7, campaign.id, persons, communities);
        db.put_places(&d.district, &d.streets, &d.communities)
            .await?;
        let rows: Vec<_> = d
            .persons
            .iter()
            .map(|p| (p.clone(), String::new(), String::new()))
            .collect();
        db.import_persons(&campaign, &rows, &|_, _| {}, &|o| {
            doorstep_server::db::audit::Entry::by("bench", "import_roster", &o.imported.to_string())
        })
        .await?;
        drop(rows);
        let pusher = Pusher {
            user_id: "bench".into(),
            username: "bench".into(),
            rank: Role::Admin.rank(),
            device_id: None,
            via_app: true,
            scope: Scope::All,
            history: std::collections::HashMap::new(),
        };
        let campaigns = state.push_campaigns().await?;
        let t0 = Instant::now();
        let mut rng = doorstep_shared::demo::SplitMix64::new(21);
        if args.direct_facts {
            let layout = doorstep_shared::analysis::Layout::of(&form);
            // Both cores: each half of the persons with its own random stream.
            let half = d.persons.len() / 2;
            let make = |persons: &[doorstep_shared::Person], seed: u64| {
                let mut rng = doorstep_shared::demo::SplitMix64::new(seed);
                persons
                    .iter()
                    .map(|p| {
                        let o = pick_outcome(&mut rng);
                        let answers = fill_questionnaire(&form, p, &campaign, o, &mut rng);
                        let ctx = doorstep_shared::form::FormContext::for_person(p, &campaign);
                        let f =
                            doorstep_shared::analysis::Facts::of(&layout, &form, &answers, &ctx);
                        (p.community.to_string(), p.id.to_string(), f.encode())
                    })
                    .collect::<Vec<(String, String, String)>>()
            };
            let facts = std::thread::scope(|s| {
                let second = s.spawn(|| make(&d.persons[half..], 22));
                let mut facts = make(&d.persons[..half], 21);
                facts.extend(second.join().expect("facts thread"));
                facts
            });
            db.put_facts_for_bench(&campaign.id.to_string(), &facts)
                .await?;
        } else {
            for (n, chunk) in d.persons.chunks(1_000).enumerate() {
                let batch: Vec<Mutation> = chunk
                    .iter()
                    .map(|p| {
                        let o = pick_outcome(&mut rng);
                        let answers = fill_questionnaire(&form, p, &campaign, o, &mut rng);
                        Mutation {
                            id: Uuid::now_v7(),
                            person: p.id,
                            base_version: 0,
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
                        }
                    })
                    .collect();
                let results = db.push(&campaigns, &pusher, &batch).await?;
                if results
                    .iter()
                    .any(|r| r.status != doorstep_shared::sync::MutationStatus::Applied)
                {
                    bail!("a survey was not applied: {:?}", results.first());
                }
                if n % 50 == 0 {
                    eprint!("\r  {backend:?}: surveyed {}/{persons}", (n + 1) * 1_000);
                }
            }
        }
        eprintln!();
        let load = t0.elapsed();
        if backend == Backend::Postgres {
            sqlx::query("ANALYZE analysis_facts, analysis_packs")
                .execute(db.pool())
                .await?;
        }
        let district_prefix = d.communities[0].code.as_str()[..8].to_string();
        let mut prov = Vec::new();
        let mut records = 0;
        for i in 0..6 {
            let t1 = Instant::now();
            let a = analyse(db, campaign.clone(), &Scope::All, None, &Params::default()).await?;
            records = a.records;
            if i > 0 {
                prov.push(ms(t1.elapsed()));
            }
        }
        // Reading and adding up alone (no tables), to say where the time goes.
        let mut tallied = Vec::new();
        let sel = doorstep_server::service::analysis::select(&Params::default(), &Scope::All)?;
        for i in 0..6 {
            let t1 = Instant::now();
            let t =
                doorstep_server::service::analysis::tally(db, &campaign, &Scope::All, &sel).await?;
            std::hint::black_box(t.total.records);
            if i > 0 {
                tallied.push(ms(t1.elapsed()));
            }
        }
        // The read alone (SQL and the driver), to say where the time goes.
        let mut read = Vec::new();
        for i in 0..6 {
            let t1 = Instant::now();
            let rows = db
                .analysis_facts(&campaign.id.to_string(), &Scope::All, "", false)
                .await?;
            std::hint::black_box(rows);
            if i > 0 {
                read.push(ms(t1.elapsed()));
            }
        }
        let mut dist = Vec::new();
        let mut dist_records = 0;
        let area = Scope::Area(district_prefix.clone());
        for i in 0..21 {
            let t1 = Instant::now();
            let a = analyse(db, campaign.clone(), &area, None, &Params::default()).await?;
            dist_records = a.records;
            if i > 0 {
                dist.push(ms(t1.elapsed()));
            }
        }
        let mut filtered = Vec::new();
        let p = Params {
            level: Some("1".into()),
            sex: Some("female".into()),
            ..Params::default()
        };
        for i in 0..6 {
            let t1 = Instant::now();
            analyse(db, campaign.clone(), &Scope::All, None, &p).await?;
            if i > 0 {
                filtered.push(ms(t1.elapsed()));
            }
        }
        let mut list = Vec::new();
        let mut listed = 0;
        for i in 0..6 {
            let t1 = Instant::now();
            let rows =
                action_list_in(db, &campaign, &area, true, &Params::default(), "device").await?;
            listed = rows.len();
            if i > 0 {
                list.push(ms(t1.elapsed()));
            }
        }
        t.row(
            &format!("analysis {backend:?}: province ({records} finalized records, every street)"),
            format!(
                "p50 {:.0} ms, max {:.0} ms",
                median(prov.clone()),
                pct(prov.clone(), 1.0)
            ),
            "< 1 s",
            Some(pct(prov, 0.5) < 1000.0),
            format!(
                "of which reading the packs {:.0} ms, reading and adding up {:.0} ms; filtered \
                 (level 1, female) p50 {:.0} ms, max {:.0} ms; {persons} surveys {} in {:.0} s",
                median(read),
                median(tallied),
                median(filtered.clone()),
                pct(filtered, 1.0),
                if args.direct_facts {
                    "reduced to facts and written directly"
                } else {
                    "pushed"
                },
                load.as_secs_f64(),
            ),
        );
        t.row(
            &format!("analysis {backend:?}: district-sized area ({dist_records} records)"),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms",
                median(dist.clone()),
                pct(dist.clone(), 0.99)
            ),
            "< 1 s",
            Some(median(dist) < 1000.0),
            format!(
                "device action list of the area ({listed} persons): p50 {:.0} ms",
                median(list)
            ),
        );
    }
    Ok(())
}
