//! The app's store on 5,000 persons: search by name and ID prefix, a community's list, and a
//! finalized save with its fsync.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use uuid::Uuid;

use doorstep_app::{Filter, KdfParams, Store};
use doorstep_shared::Campaign;
use doorstep_shared::demo::{SplitMix64, fill_questionnaire};
use doorstep_shared::domain::STATUS;
use doorstep_shared::form::FormDefinition;

use crate::common::{Table, median, ms};

pub(crate) fn app_store(t: &mut Table) -> anyhow::Result<()> {
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
                person: p.shown(doorstep_shared::Numbers::Whole),
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
    store.apply_pull_page(&page.try_into()?)?;
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
