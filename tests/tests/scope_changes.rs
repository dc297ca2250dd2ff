//! Property: random interleavings of assignments, moves between workers, unassignments and
//! roster imports that move persons, with edits, pushes and pulls on several phones. After each
//! full sync:
//! - each phone holds exactly the persons of its scope (and those whose edit the server refused
//!   as new work in a community taken away: kept on the phone with the reason);
//! - every accepted value is on the server (current, a conflict candidate, or replaced by an
//!   edit made by someone who had seen it);
//! - the counters equal the counters recomputed from the records;
//! - every phone's view of every record equals the server's, also while conflicts are open.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use doorstep_app::Filter;
use doorstep_server::db::Scope;
use doorstep_server::testing::{Backend, demo_server};
use doorstep_shared::{DivisionCode, Value};
use doorstep_tests::field::Device;

/// Communities in play: the first six of street 001.
const COMMUNITIES: [&str; 4] = [
    "430503001001",
    "430503001002",
    "430503001003",
    "430503001004",
];
const WORKERS: [&str; 2] = ["w001", "w002"];
/// Phones: two workers' and the street supervisor's.
const PHONES: [&str; 3] = ["w001", "w002", "sup01"];

#[derive(Debug, Clone)]
enum Op {
    Assign {
        community: usize,
        worker: usize,
    },
    Unassign {
        community: usize,
    },
    Move {
        person: usize,
        community: usize,
    },
    Edit {
        phone: usize,
        person: usize,
        value: usize,
    },
    Sync {
        phone: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..4usize, 0..2usize).prop_map(|(community, worker)| Op::Assign { community, worker }),
        1 => (0..4usize).prop_map(|community| Op::Unassign { community }),
        2 => (0..6usize, 0..4usize).prop_map(|(person, community)| Op::Move { person, community }),
        4 => (0..3usize, 0..6usize, 0..4usize).prop_map(|(phone, person, value)| Op::Edit { phone, person, value }),
        3 => (0..3usize).prop_map(|phone| Op::Sync { phone }),
    ]
}

const VALUES: [&str; 4] = ["unmarried", "married", "divorced", "widowed"];

fn run(ops: Vec<Op>, case: usize) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let srv = demo_server(Backend::Sqlite).await;
        let db = &srv.state.db;
        let campaign = db.current_campaign().await.unwrap().unwrap();
        let cid = campaign.id.to_string();
        // Start with the communities in play assigned alternately to the two workers.
        for (i, c) in COMMUNITIES.iter().enumerate() {
            db.assign(&cid, &DivisionCode::parse(c).unwrap(), WORKERS[i % 2])
                .await
                .unwrap();
        }
        // Six persons of those communities, each given an outcome so the item is relevant.
        let all = db
            .records(&cid, &Scope::All, Some("430503001"))
            .await
            .unwrap();
        let persons: Vec<_> = all
            .iter()
            .filter(|r| COMMUNITIES.contains(&r.community.as_str()))
            .skip(case % 20)
            .take(6)
            .cloned()
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut phones = Vec::new();
        for (i, user) in PHONES.iter().enumerate() {
            phones.push(
                Device::sign_in(dir.path(), &format!("p{i}"), user, &srv.url)
                    .await
                    .unwrap(),
            );
        }
        for p in &persons {
            let id = Uuid::parse_str(&p.id).unwrap();
            phones[2]
                .edit(id, &[("outcome", Some(Value::text("home_visit")))])
                .unwrap();
        }
        phones[2].sync().await.unwrap();
        for op in ops {
            match op {
                Op::Assign { community, worker } => {
                    db.assign(
                        &cid,
                        &DivisionCode::parse(COMMUNITIES[community]).unwrap(),
                        WORKERS[worker],
                    )
                    .await
                    .unwrap();
                }
                Op::Unassign { community } => {
                    // Unassigning a community nobody holds is refused; that is fine here.
                    let _ = db
                        .unassign(&cid, &DivisionCode::parse(COMMUNITIES[community]).unwrap())
                        .await;
                }
                Op::Move { person, community } => {
                    // A roster re-import of one row that names another community.
                    let row = db.record(&persons[person].id).await.unwrap().unwrap();
                    let mut p = row.person.clone();
                    p.community = DivisionCode::parse(COMMUNITIES[community]).unwrap();
                    db.import_persons(
                        &campaign,
                        &[(p, "街道".into(), format!("社区{community}"))],
                        &|_, _| {},
                        &|_| doorstep_server::db::audit::Entry::by("test", "import_roster", ""),
                    )
                    .await
                    .unwrap();
                }
                Op::Edit {
                    phone,
                    person,
                    value,
                } => {
                    let id = Uuid::parse_str(&persons[person].id).unwrap();
                    if phones[phone].store.record(id).is_ok() {
                        phones[phone]
                            .edit(id, &[("marital_status", Some(Value::text(VALUES[value])))])
                            .unwrap();
                    }
                }
                Op::Sync { phone } => {
                    phones[phone].sync().await.unwrap();
                }
            }
        }
        for _ in 0..2 {
            for ph in &phones {
                ph.sync().await.unwrap();
            }
        }
        // Each phone holds exactly its scope, and sees every record as the server has it.
        let assignments = db.assignments(&cid).await.unwrap();
        for (ph, user) in phones.iter().zip(PHONES) {
            let scope = if user.starts_with('w') {
                let communities: BTreeSet<String> = assignments
                    .iter()
                    .filter(|(_, u)| u == user)
                    .map(|(c, _)| c.clone())
                    .collect();
                Scope::Worker {
                    user_id: db.user_by_name(user).await.unwrap().unwrap().id,
                    communities: communities.into_iter().collect(),
                }
            } else {
                Scope::Area("430503001".into())
            };
            let server: BTreeMap<Uuid, _> = db
                .records(&cid, &scope, None)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (Uuid::parse_str(&r.id).unwrap(), r))
                .collect();
            let held: BTreeSet<Uuid> = ph
                .store
                .persons(None, Filter::All, "")
                .unwrap()
                .iter()
                .map(|r| r.person_id)
                .collect();
            // An edit made after its community was taken away is new work the server refuses;
            // the phone keeps it with the reason (nothing is silently dropped), and with it that
            // community, until the worker hands the edit over or discards it.
            let refused: BTreeSet<Uuid> = held
                .iter()
                .copied()
                .filter(|id| {
                    ph.store
                        .record(*id)
                        .unwrap()
                        .rejected
                        .is_some_and(|(code, _)| code == "out_of_scope")
                })
                .collect();
            let kept_communities: BTreeSet<String> = refused
                .iter()
                .map(|id| ph.store.record(*id).unwrap().person.community.to_string())
                .collect();
            let want: BTreeSet<Uuid> = server.keys().copied().collect();
            prop_assert!(want.is_subset(&held), "{} holds its whole scope", user);
            for extra in held.difference(&want) {
                let c = ph
                    .store
                    .record(*extra)
                    .unwrap()
                    .person
                    .community
                    .to_string();
                prop_assert!(
                    kept_communities.contains(&c),
                    "{} holds {} outside its scope without a refused edit there",
                    user,
                    extra
                );
            }
            for (id, row) in &server {
                if refused.contains(id) {
                    continue;
                }
                let v = ph.store.record(*id).unwrap();
                prop_assert_eq!(v.pending, 0);
                prop_assert_eq!(&v.answers, &row.doc.answers, "{} answers of {}", user, id);
                prop_assert_eq!(
                    &v.conflicts,
                    &row.doc.conflicts,
                    "{} conflicts of {}",
                    user,
                    id
                );
                prop_assert_eq!(v.version, u64::try_from(row.version).unwrap());
                prop_assert_eq!(v.person.community.as_str(), row.community.as_str());
            }
        }
        // Counters equal the counters recomputed from the records.
        let maintained = db.progress(&cid, &Scope::All).await.unwrap();
        let recomputed = db.progress_from_records(&cid).await.unwrap();
        for c in &maintained {
            let r = recomputed.get(c.code.as_str()).cloned().unwrap_or_default();
            prop_assert_eq!(c.counts.roster, r.roster, "roster of {}", c.code);
            prop_assert_eq!(c.counts.outcomes, r.outcomes, "outcomes of {}", c.code);
        }
        // Nothing accepted is silently lost.
        if let Err(lost) = doorstep_tests::field::check_nothing_lost(db).await {
            prop_assert!(false, "{}", lost);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, max_shrink_iters: 20, ..ProptestConfig::default() })]
    #[test]
    fn every_phone_holds_its_scope_and_the_servers_view(
        ops in proptest::collection::vec(op(), 6..30),
        case in 0usize..1000,
    ) {
        run(ops, case)?;
    }
}
