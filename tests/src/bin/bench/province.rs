//! Progress at province scale on SQLite and PostgreSQL: the province and a district-sized
//! overview over a million imported persons (100,000 with `--quick`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use doorstep_server::db::Scope;
use doorstep_server::testing::{Backend, TempPostgres, fresh_url};
use doorstep_server::{Config, build};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::progress::Counts;

use crate::Args;
use crate::common::{Table, ms, pct, tmpfs_url};

pub(crate) async fn province(args: &Args, t: &mut Table) -> anyhow::Result<()> {
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
        drop(state);
        if let Some(u) = pg_db {
            TempPostgres::shared().drop_db(&u);
        }
    }
    Ok(())
}
