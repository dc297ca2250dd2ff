//! Tests of the library, headless: the store on its own, and the sync engine against a small
//! in-process server speaking the protocol (`mock`).

mod carry;
mod engine;
mod mock;
mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::PulledPage;

use chrono::NaiveDate;
use doorstep_shared::demo::{DemoDistrict, generate_sized};
use doorstep_shared::domain::{Campaign, Numbers, Person, Review};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::sync::{PROTOCOL_VERSION, PullResponse, RecordState};
use doorstep_shared::value::{Answers, Value};
use tempfile::TempDir;
use uuid::Uuid;

use crate::keyfile::KdfParams;
use crate::store::Store;

pub(crate) const PIN: &str = "246810";

pub(crate) fn campaign() -> Campaign {
    Campaign {
        id: Uuid::from_u128(0x2021_0001),
        district: DivisionCode::parse("430503").unwrap(),
        district_name: "大祥区".into(),
        year: 2021,
        name: "2021年残疾人基本服务状况和需求信息数据动态更新".into(),
        starts: NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
        ends: NaiveDate::from_ymd_opt(2021, 10, 31).unwrap(),
        form_version: FormDefinition::dynamic_update_2021().version,
    }
}

/// 45 persons in 2 communities.
pub(crate) fn district() -> DemoDistrict {
    generate_sized(7, campaign().id, 45, 2)
}

pub(crate) fn fresh(p: &Person, seq: u64) -> RecordState {
    RecordState {
        person: p.shown(Numbers::Whole),
        version: 1,
        answers: Answers::new(),
        review: Review::Pending,
        review_comment: None,
        review_notes: Default::default(),
        conflicts: BTreeMap::new(),
        seq,
        prior: None,
    }
}

pub(crate) fn page(records: Vec<RecordState>, cursor: u64, scope: Vec<DivisionCode>) -> PulledPage {
    PullResponse {
        protocol: PROTOCOL_VERSION,
        records,
        removed: Vec::new(),
        cursor,
        more: false,
        scope,
        community_names: BTreeMap::new(),
        campaign: campaign(),
        server_time: Hlc {
            wall: chrono::Utc::now().timestamp_millis(),
            counter: 0,
        },
    }
    .try_into()
    .expect("a page of typed records")
}

pub(crate) fn edit(pairs: &[(&str, Option<Value>)]) -> BTreeMap<String, Option<Value>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

pub(crate) fn text(s: &str) -> Option<Value> {
    Some(Value::text(s))
}

/// A store holding the demo roster as pulled (cursor 45), with the 2021 form.
pub(crate) struct Fx {
    pub dir: TempDir,
    pub path: PathBuf,
    pub store: Store,
    pub d: DemoDistrict,
}

impl Fx {
    pub fn scope(&self) -> Vec<DivisionCode> {
        self.d.communities.iter().map(|c| c.code.clone()).collect()
    }

    pub fn person(&self, i: usize) -> &Person {
        &self.d.persons[i]
    }

    /// Closes the store (drops the only handle) and opens it again.
    pub fn reopen(&mut self) {
        let store = Store::open(&self.path, PIN).unwrap();
        self.store = store;
    }
}

pub(crate) fn empty_store() -> (TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doorstep.db");
    let store = Store::create(&path, PIN, KdfParams::insecure_fast_for_tests()).unwrap();
    (dir, path, store)
}

pub(crate) fn fx() -> Fx {
    let (dir, path, store) = empty_store();
    let d = district();
    store
        .set_form(&FormDefinition::dynamic_update_2021())
        .unwrap();
    let records: Vec<RecordState> = d
        .persons
        .iter()
        .enumerate()
        .map(|(i, p)| fresh(p, i as u64 + 1))
        .collect();
    let n = records.len() as u64;
    let scope = d.communities.iter().map(|c| c.code.clone()).collect();
    store.apply_pull_page(&page(records, n, scope)).unwrap();
    Fx {
        dir,
        path,
        store,
        d,
    }
}

/// Takes `store` (at `path`) back to an older schema with `sql` (which sets `user_version`) and
/// opens it again: it must come up migrated to the newest schema.
pub(crate) fn reopened_from(store: Store, path: &std::path::Path, sql: &str) -> Store {
    store
        .read(|c| {
            c.execute_batch(sql)?;
            Ok(())
        })
        .unwrap();
    drop(store);
    let store = Store::open(path, PIN).unwrap();
    let v: i64 = store
        .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(v, crate::store::MIGRATIONS.len() as i64);
    store
}
