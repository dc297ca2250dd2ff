//! Two push batches in flight (docs/sync.md, "Two batches in flight"): a batch that names the
//! batch before it (`after`) is applied after that one, or not at all.

use std::time::Duration;

use doorstep_server::db::{Pusher, Scope};
use doorstep_server::service::push::{InFlight, Received, Sequence, push, push_in_sequence};
use doorstep_server::testing::Backend;
use doorstep_shared::Value;
use doorstep_shared::errors::ErrorCode;
use doorstep_shared::sync::{
    ErrorBody, Mutation, MutationStatus, PushRequest, PushResponse, RecordState, Role,
};
use uuid::Uuid;

use crate::both;
use crate::helpers::{Api, Session, edit, now, spawn, t};

async fn send(api: &Api, s: &Session, req: &PushRequest) -> reqwest::Response {
    api.http
        .post(api.url("/api/v1/sync/push"))
        .bearer_auth(&s.token)
        .json(req)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap()
}

fn batch(mutations: Vec<Mutation>, id: Uuid, after: Option<Uuid>) -> PushRequest {
    PushRequest {
        batch: Some(id),
        after,
        ..PushRequest::new(mutations)
    }
}

/// `rec` as it stands after `m` was applied to it.
fn after_edit(rec: &RecordState, m: &Mutation) -> RecordState {
    let mut r = rec.clone();
    for (k, c) in &m.changes {
        match &c.value {
            Some(v) => r.answers.insert(k.clone(), v.clone()),
            None => r.answers.remove(k),
        };
    }
    r.version += 1;
    r
}

async fn refused_as_out_of_order(r: reqwest::Response) {
    assert_eq!(r.status(), 409);
    let body: ErrorBody = r.json().await.unwrap();
    assert_eq!(body.error.code, ErrorCode::PreviousBatchMissing);
    assert!(
        body.error.message.contains("上一批") && body.error.message.contains("batch before"),
        "{}",
        body.error.message
    );
}

/// A batch that names a batch the device has not had applied (and that does not come within
/// the wait for a batch still on its way) is refused whole; sent again after that one, it
/// applies. Only the device's last applied batch can be named.
async fn a_batch_after_one_not_applied_is_refused_whole(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let rec = recs.values().next().unwrap();
    let first = edit(rec, &[("phone", t("13900000001"))], now());
    let second = edit(
        &after_edit(rec, &first),
        &[("phone", t("13900000002"))],
        now(),
    );
    let (a, b2, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let count = || async { api.server.state.db.mutation_count().await.unwrap() };
    let before = count().await;

    // The second batch comes first: nothing of it is applied.
    let second_batch = batch(vec![second.clone()], b2, Some(a));
    refused_as_out_of_order(send(&api, &w, &second_batch).await).await;
    assert_eq!(count().await, before);

    // The first, then the second again: both apply, in order.
    let r = send(&api, &w, &batch(vec![first], a, None)).await;
    assert_eq!(r.status(), 200);
    let answer: PushResponse = r.json().await.unwrap();
    assert!(answer.in_order, "the server says it keeps batches in order");
    assert_eq!(send(&api, &w, &second_batch).await.status(), 200);
    assert_eq!(count().await, before + 2);
    let now_rec = &api.pull_all(&w).await[&rec.person.id];
    assert_eq!(now_rec.answers["phone"], Value::text("13900000002"));

    // The first batch is no longer the last applied one: a batch after it is refused.
    let third = edit(now_rec, &[("phone", t("13900000003"))], now());
    refused_as_out_of_order(send(&api, &w, &batch(vec![third], c, Some(a))).await).await;
    assert_eq!(count().await, before + 2);

    // Another device of the same worker has its own sequence: its batch cannot follow this
    // device's batch.
    let other = api.login("w001").await;
    assert_ne!(other.device, w.device);
    let fourth = edit(now_rec, &[("phone", t("13900000004"))], now());
    refused_as_out_of_order(
        send(&api, &other, &batch(vec![fourth], Uuid::now_v7(), Some(b2))).await,
    )
    .await;
    assert_eq!(count().await, before + 2);
}
both!(a_batch_after_one_not_applied_is_refused_whole);

/// The batch after one still being applied waits for it, then applies on top of it; without
/// the wait it would have been refused, the first not being applied yet.
async fn a_batch_after_one_being_applied_waits_for_it(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let rec = recs.values().next().unwrap();
    let db = &api.server.state.db;
    let campaigns = api.server.state.push_campaigns().await.unwrap();
    let pusher = Pusher {
        user_id: "test".into(),
        username: "test".into(),
        rank: Role::Admin.rank(),
        device_id: Some(w.device),
        via_app: true,
        scope: Scope::All,
        history: std::collections::HashMap::new(),
    };
    let first = edit(rec, &[("phone", t("13900000001"))], now());
    let second = edit(
        &after_edit(rec, &first),
        &[("phone", t("13900000002"))],
        now(),
    );
    let (a, b2) = (Uuid::now_v7(), Uuid::now_v7());
    let in_flight = InFlight::default();

    // The first batch has arrived and is being read; the second comes.
    let first_applying = in_flight.enter(db, Some(a));
    let second_push = async {
        let applying = in_flight.enter(db, Some(b2));
        let received = Received::all(&[second]).unwrap();
        let seq = Sequence {
            batch: Some(b2),
            after: Some(a),
        };
        push_in_sequence(db, &applying, &campaigns, &pusher, received, seq).await
    };
    tokio::pin!(second_push);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut second_push)
            .await
            .is_err(),
        "the second batch waits for the first"
    );
    let seq = Sequence {
        batch: Some(a),
        after: None,
    };
    push(
        db,
        &campaigns,
        &pusher,
        Received::all(&[first]).unwrap(),
        seq,
    )
    .await
    .unwrap();
    drop(first_applying);
    let results = second_push.await.expect("applied after the first");
    assert_eq!(results[0].status, MutationStatus::Applied);
    assert_eq!(
        api.pull_all(&w).await[&rec.person.id].answers["phone"],
        Value::text("13900000002")
    );
}
both!(a_batch_after_one_being_applied_waits_for_it);

/// A worker's two edits of one record's household size (3, then 12 on top of it): the server,
/// the worker's session, the person, the edits.
async fn two_edits(b: Backend) -> (Api, Session, Uuid, Mutation, Mutation) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let rec = recs.values().next().unwrap();
    let first = edit(rec, &[("household_size", Some(Value::Int(3)))], now());
    let then = edit(
        &after_edit(rec, &first),
        &[("household_size", Some(Value::Int(12)))],
        now(),
    );
    let person = rec.person.id;
    (api, w, person, first, then)
}

/// Both batches of [`two_edits`] were answered 200, the first before the second, and the record
/// holds the second's value.
async fn both_applied_in_order(
    api: &Api,
    w: &Session,
    person: Uuid,
    first: reqwest::StatusCode,
    second: reqwest::StatusCode,
) {
    assert_eq!((first.as_u16(), second.as_u16()), (200, 200));
    // The second batch's value is the one that stands: it was applied after the first. (When
    // each answer reaches the phone is not an order: the second batch's answer is shorter.)
    assert_eq!(
        api.pull_all(w).await[&person].answers["household_size"],
        Value::Int(12)
    );
}

/// Over HTTP: the second batch, sent while the first waits for the database, is applied after
/// it and lands on top of it.
async fn two_batches_in_flight_over_http_apply_in_order(b: Backend) {
    let (api, w, person, first, then) = two_edits(b).await;
    let (a, b2) = (Uuid::now_v7(), Uuid::now_v7());
    // Another write holds the database: both batches are at the server at once.
    let hold = api.server.state.db.write().await.unwrap();
    let first_sent = sending(&api, &w, batch(vec![first], a, None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second_sent = sending(&api, &w, batch(vec![then], b2, Some(a)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!first_sent.is_finished() && !second_sent.is_finished());
    drop(hold);
    let first = first_sent.await.unwrap();
    let second = second_sent.await.unwrap();
    both_applied_in_order(&api, &w, person, first, second).await;
}
both!(two_batches_in_flight_over_http_apply_in_order);

/// The later batch can arrive first (each travels on its own connection): it waits for the one
/// before it to arrive and be applied, instead of being refused and sent again.
async fn a_batch_that_overtook_the_one_before_waits_for_it(b: Backend) {
    let (api, w, person, first, then) = two_edits(b).await;
    let (a, b2) = (Uuid::now_v7(), Uuid::now_v7());
    let second_batch = batch(vec![then], b2, Some(a));
    let second = async { send(&api, &w, &second_batch).await.status() };
    let first = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send(&api, &w, &batch(vec![first], a, None)).await.status()
    };
    let (second, first) = tokio::join!(second, first);
    both_applied_in_order(&api, &w, person, first, second).await;
}
both!(a_batch_that_overtook_the_one_before_waits_for_it);

/// Sends a push on a task of its own: its status.
fn sending(
    api: &Api,
    s: &Session,
    req: PushRequest,
) -> tokio::task::JoinHandle<reqwest::StatusCode> {
    let (http, token, url) = (
        api.http.clone(),
        s.token.clone(),
        api.url("/api/v1/sync/push"),
    );
    tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token)
            .json(&req)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap()
            .status()
    })
}

/// A batch that arrives while the batch before it is being written runs its rules meanwhile,
/// on a snapshot of the database (docs/sync.md, "A batch prepared while the one before is
/// written"): on SQLite it is then applied as prepared, its changes after the first batch's.
/// A batch that shares a person with the batch before it waits for its turn instead. So is a
/// batch that overtook the one before it on the way, once that one is here. PostgreSQL
/// prepares none. (Whether the second batch's snapshot comes before the first begins its
/// commit is a race the first usually loses: of four rounds in order, and of three rounds
/// that overtake, one prepared batch is enough.)
async fn a_batch_is_prepared_while_the_one_before_is_written(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let state = &api.server.state;
    let mut used_overtaking = 0;
    for round in 0..8_i64 {
        let shared = round == 1;
        let overtaking = round >= 5;
        let (used, stale) = state.pushes.prepared();
        let recs = api.pull_all(&w).await;
        let mut ids: Vec<Uuid> = recs.keys().copied().collect();
        ids.sort();
        assert!(ids.len() > 20, "w001 has {} records", ids.len());
        let size = Value::Int(2 + round);
        let (last, rest) = ids.split_last().unwrap();
        // The first batch edits every record but the last; the second the last one (or, to
        // share a person, the first one's phone).
        let first: Vec<Mutation> = rest
            .iter()
            .map(|p| edit(&recs[p], &[("household_size", Some(size.clone()))], now()))
            .collect();
        let phone = Value::text(format!("1390000000{round}"));
        let second = if shared {
            edit(&recs[&rest[0]], &[("phone", Some(phone.clone()))], now())
        } else {
            edit(
                &recs[last],
                &[("household_size", Some(size.clone()))],
                now(),
            )
        };
        let (a, b2) = (Uuid::now_v7(), Uuid::now_v7());
        // Another write holds the database: both batches are at the server before the first
        // takes its turn.
        // (In the last rounds the second batch comes first.)
        let hold = state.db.write().await.unwrap();
        let (first, second) = (batch(first, a, None), batch(vec![second], b2, Some(a)));
        let (first_sent, second_sent) = if overtaking {
            let second_sent = sending(&api, &w, second);
            tokio::time::sleep(Duration::from_millis(300)).await;
            (sending(&api, &w, first), second_sent)
        } else {
            let first_sent = sending(&api, &w, first);
            tokio::time::sleep(Duration::from_millis(300)).await;
            (first_sent, sending(&api, &w, second))
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(hold);
        let s1 = first_sent.await.unwrap();
        let s2 = second_sent.await.unwrap();
        assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200), "round {round}");
        let now_recs = api.pull_all(&w).await;
        for p in rest {
            assert_eq!(now_recs[p].answers["household_size"], size, "round {round}");
        }
        // Applied in order: the second batch's change comes after every change of the first.
        // (Not when each answer arrives: the second batch's answer is shorter.)
        let seconds = if shared { &rest[0] } else { last };
        let firsts = rest.iter().filter(|p| *p != seconds);
        let first_seq = firsts.map(|p| now_recs[p].seq).max().unwrap();
        assert!(
            now_recs[seconds].seq > first_seq,
            "round {round}: out of order"
        );
        if shared {
            assert_eq!(now_recs[&rest[0]].answers["phone"], phone);
            assert_eq!(state.pushes.prepared(), (used, stale), "not prepared");
        } else {
            assert_eq!(now_recs[last].answers["household_size"], size);
        }
        // Nothing else writes here: a prepared batch is never prepared in vain.
        assert_eq!(state.pushes.prepared().1, 0, "round {round}");
        if overtaking {
            used_overtaking += state.pushes.prepared().0 - used;
        }
    }
    let used = state.pushes.prepared().0 - used_overtaking;
    match b {
        Backend::Sqlite => {
            assert!(used >= 1, "none of four batches in order was prepared");
            assert!(
                used_overtaking >= 1,
                "none of three overtaking batches was prepared"
            );
        }
        Backend::Postgres => assert_eq!(used + used_overtaking, 0),
    }
}
both!(a_batch_is_prepared_while_the_one_before_is_written);
