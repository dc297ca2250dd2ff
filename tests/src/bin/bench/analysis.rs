//! The needs and services analysis of a province's finalized records on SQLite and PostgreSQL:
//! the province, a district-sized area, a filtered view, and a device's action list.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use uuid::Uuid;

use doorstep_server::db::Scope;
use doorstep_server::testing::{Backend, TempPostgres, fresh_url};
use doorstep_server::{Config, build};
use doorstep_shared::demo::{fill_questionnaire, pick_outcome};
use doorstep_shared::form::FormDefinition;

use crate::Args;
use crate::common::{Table, median, ms, pct, tmpfs_url};

/// The needs and services analysis over a province's finalized records: the roster imported,
/// every person surveyed through the real push path (complete questionnaires, 88 % home
/// visits), then the analysis behind `GET /api/v1/analysis` for the province (every street) and
/// a district-sized area, and one action list of that area.
pub(crate) async fn analysis(args: &Args, t: &mut Table) -> anyhow::Result<()> {
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
        // Dropped after this backend's figures: the sections after it run on the same cluster.
        let pg_db = (backend == Backend::Postgres).then(|| url.clone());
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
                let batch = doorstep_server::service::push::Received::all(&batch)?;
                let results = doorstep_server::service::push::push(
                    db,
                    &campaigns,
                    &pusher,
                    batch,
                    Default::default(),
                )
                .await?;
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
            sqlx::query("ANALYZE persons, analysis_packs")
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
        drop(state);
        if let Some(u) = pg_db {
            TempPostgres::shared().drop_db(&u);
        }
    }
    Ok(())
}
