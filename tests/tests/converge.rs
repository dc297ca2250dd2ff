//! Property: random interleavings of edits and syncs on three phones always converge, and no
//! accepted value is ever silently lost: each is current, kept in an open conflict, or was
//! replaced by a later edit made by someone who had seen it.

use proptest::prelude::*;
use uuid::Uuid;

use doorstep_server::testing::{Backend, demo_server};
use doorstep_shared::Value;
use doorstep_tests::field::Device;

#[derive(Debug, Clone)]
enum Op {
    Edit {
        device: usize,
        person: usize,
        item: usize,
        value: usize,
    },
    Sync {
        device: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..2usize, 0..3usize, 0..4usize).prop_map(|(device, person, item, value)| Op::Edit { device, person, item, value }),
        2 => (0..3usize).prop_map(|device| Op::Sync { device }),
    ]
}

const ITEMS: [&str; 3] = ["marital_status", "culture_needs", "ethnicity"];

fn value(item: usize, v: usize) -> Option<Value> {
    match item {
        0 => Some(Value::text(
            ["unmarried", "married", "divorced", "widowed"][v],
        )),
        1 => Some(Value::set(
            [["reading"], ["fitness"], ["performances"], ["home_fitness"]][v],
        )),
        _ => [
            Some(Value::text("han")),
            Some(Value::text("miao")),
            Some(Value::text("yao")),
            None,
        ][v]
            .clone(),
    }
}

fn run(ops: Vec<Op>, case: usize) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let srv = demo_server(Backend::Sqlite).await;
        let dir = tempfile::tempdir().unwrap();
        let mut phones = Vec::new();
        for i in 0..3 {
            phones.push(
                Device::sign_in(dir.path(), &format!("p{i}"), "w001", &srv.url)
                    .await
                    .unwrap(),
            );
        }
        let persons: Vec<Uuid> = phones[0]
            .store
            .persons(None, doorstep_app::Filter::All, "")
            .unwrap()
            .iter()
            .skip(case % 50)
            .take(2)
            .map(|r| r.person_id)
            .collect();
        // Every edit needs the outcome that makes the items relevant.
        for p in &persons {
            phones[0]
                .edit(*p, &[("outcome", Some(Value::text("home_visit")))])
                .unwrap();
        }
        phones[0].sync().await.unwrap();
        for ph in &phones {
            ph.sync().await.unwrap();
        }
        for op in ops {
            match op {
                Op::Edit {
                    device,
                    person,
                    item,
                    value: v,
                } => {
                    phones[device]
                        .edit(persons[person], &[(ITEMS[item], value(item, v))])
                        .unwrap();
                }
                Op::Sync { device } => {
                    phones[device].sync().await.unwrap();
                }
            }
        }
        for _ in 0..2 {
            for ph in &phones {
                ph.sync().await.unwrap();
            }
        }
        // Convergence: every phone holds the server's state.
        let db = &srv.state.db;
        for p in &persons {
            let server = db.record(&p.to_string()).await.unwrap().unwrap();
            for ph in &phones {
                let v = ph.store.record(*p).unwrap();
                prop_assert_eq!(&v.answers, &server.doc.answers);
                prop_assert_eq!(v.version, u64::try_from(server.version).unwrap());
                prop_assert_eq!(v.pending, 0);
            }
        }
        // Nothing silently lost.
        if let Err(lost) = doorstep_tests::field::check_nothing_lost(db).await {
            prop_assert!(false, "{}", lost);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 20, ..ProptestConfig::default() })]
    #[test]
    fn three_phones_always_converge(ops in proptest::collection::vec(op(), 4..24), case in 0usize..1000) {
        run(ops, case)?;
    }
}
