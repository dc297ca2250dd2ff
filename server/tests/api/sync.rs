use std::collections::BTreeSet;

use doorstep_server::testing::{Backend, second_server};
use doorstep_shared::Value;
use doorstep_shared::merge::ItemOutcome;
use doorstep_shared::sync::MutationStatus;

use crate::both;
use crate::helpers::{Api, edit, now, spawn, survey, t};
use doorstep_shared::Outcome;

async fn idempotent_repush(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let p = recs.values().next().unwrap();
    let m = survey(&api.campaign().await, p, Outcome::HomeVisit);
    let first = api.push(&w, vec![m.clone()]).await;
    let again = api.push(&w, vec![m.clone(), m.clone()]).await;
    assert_eq!(first.results[0].status, MutationStatus::Applied);
    assert_eq!(again.results[0], first.results[0]);
    assert_eq!(again.results[1], first.results[0]);
    assert_eq!(api.server.state.db.mutation_count().await.unwrap(), 1);
    let prog = api.progress(&w).await;
    assert_eq!(prog["total"]["outcomes"][0], 1, "counted once: {prog}");
    let after = api.pull_all(&w).await;
    assert_eq!(after[&p.person.id].version, p.version + 1);
}
both!(idempotent_repush);

/// The log keeps each mutation as the JSON it was sent as; the same mutation sent again as other
/// JSON text (another client's spacing and key order) gets the same answer, another content
/// under the same ID is still refused.
async fn a_repush_in_other_json_text_gets_the_same_answer(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let recs = api.pull_all(&w).await;
    let p = recs.values().next().unwrap();
    let m = survey(&api.campaign().await, p, Outcome::HomeVisit);
    let raw = |text: String| {
        api.http
            .post(api.url("/api/v1/sync/push"))
            .bearer_auth(&w.token)
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    let compact = serde_json::to_string(&m).unwrap();
    let r = raw(format!(r#"{{"protocol":1,"mutations":[{compact}]}}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first: serde_json::Value = r.json().await.unwrap();
    assert_eq!(first["results"][0]["status"], "applied");
    // The same mutation, pretty-printed with its keys in reverse order.
    let mut value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&compact).unwrap();
    let reversed: serde_json::Map<String, serde_json::Value> =
        std::mem::take(&mut value).into_iter().rev().collect();
    let pretty = serde_json::to_string_pretty(&reversed).unwrap();
    assert_ne!(pretty, compact);
    let r = raw(format!(
        "{{\"protocol\": 1, \"mutations\": [\n{pretty}\n]}}"
    ))
    .await
    .unwrap();
    let again: serde_json::Value = r.json().await.unwrap();
    assert_eq!(again["results"][0], first["results"][0]);
    assert_eq!(api.server.state.db.mutation_count().await.unwrap(), 1);
    let log = api.server.state.db.mutation_log().await.unwrap();
    assert_eq!(log, vec![m.clone()]);
    // Another content under the same ID is refused.
    let mut other = m.clone();
    other.changes.remove("phone");
    let r = api.push(&w, vec![other]).await;
    assert_eq!(
        r.results[0].code,
        Some(doorstep_shared::errors::ErrorCode::MutationIdReused)
    );
    // A mutation that does not fit is named by its place in the batch.
    let r = raw(format!(
        r#"{{"protocol":1,"mutations":[{compact},{{"id":7}}]}}"#
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_body");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mutation 1 does not fit")
    );
}
both!(a_repush_in_other_json_text_gets_the_same_answer);

async fn disjoint_items_merge(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bb = api.login("w001").await;
    assert_ne!(a.device, bb.device);
    let recs = api.pull_all(&a).await;
    let p = recs.values().next().unwrap();
    let ra = api
        .push(&a, vec![edit(p, &[("ethnicity", t("han"))], now())])
        .await;
    let rb = api
        .push(
            &bb,
            vec![edit(p, &[("marital_status", t("married"))], now())],
        )
        .await;
    assert!(ra.results[0].items.is_empty() && rb.results[0].items.is_empty());
    let s = &api.pull_all(&bb).await[&p.person.id];
    assert_eq!(s.answers["ethnicity"], Value::text("han"));
    assert_eq!(s.answers["marital_status"], Value::text("married"));
    assert!(s.conflicts.is_empty());
    assert_eq!(s.version, p.version + 2);
}
both!(disjoint_items_merge);

async fn same_item_conflict_resolved_and_converged(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bb = api.login("w001").await;
    let sup = api.login("sup01").await;
    let recs = api.pull_all(&a).await;
    let p = recs.values().next().unwrap();
    let t0 = now();
    api.push(&a, vec![edit(p, &[("marital_status", t("married"))], t0)])
        .await;
    let rb = api
        .push(
            &bb,
            vec![edit(p, &[("marital_status", t("widowed"))], t0 - 1000)],
        )
        .await;
    assert_eq!(rb.results[0].items["marital_status"], ItemOutcome::Conflict);
    // Provisional: the later edit (a's).
    let s = &api.pull_all(&bb).await[&p.person.id];
    assert_eq!(s.answers["marital_status"], Value::text("married"));
    let c = &s.conflicts["marital_status"];
    assert_eq!(c.base, None);
    let values: BTreeSet<_> = c
        .candidates
        .iter()
        .map(|c| c.value.clone().unwrap().display())
        .collect();
    assert_eq!(
        values,
        BTreeSet::from(["married".to_string(), "widowed".to_string()])
    );
    // The supervisor sees it and resolves it.
    let list: serde_json::Value = api
        .get(&sup, "/api/v1/conflicts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let r = api
        .post(
            &sup,
            &format!("/api/v1/conflicts/{}/marital_status/resolve", p.person.id),
            serde_json::json!({"value": "widowed"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Every device converges on the resolution.
    let sa = &api.pull_all(&a).await[&p.person.id];
    let sb = &api.pull_all(&bb).await[&p.person.id];
    assert_eq!(sa, sb);
    assert_eq!(sa.answers["marital_status"], Value::text("widowed"));
    assert!(sa.conflicts.is_empty());
    let list: serde_json::Value = api
        .get(&sup, "/api/v1/conflicts")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.as_array().unwrap().is_empty());
    // Resolving again: nothing open.
    let r = api
        .post(
            &sup,
            &format!("/api/v1/conflicts/{}/marital_status/resolve", p.person.id),
            serde_json::json!({"value": "married"}),
        )
        .await;
    assert_eq!(r.status(), 404);
}
both!(same_item_conflict_resolved_and_converged);

async fn multi_choice_sets_merge(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bb = api.login("w001").await;
    let recs = api.pull_all(&a).await;
    let p0 = recs.values().next().unwrap();
    api.push(
        &a,
        vec![edit(
            p0,
            &[(
                "training_wanted",
                Some(Value::set(["vocational_skills", "job_guidance"])),
            )],
            now(),
        )],
    )
    .await;
    let p = api.pull_all(&a).await[&p0.person.id].clone();
    // a removes job_guidance and adds rural_practical; b adds entrepreneurship.
    api.push(
        &a,
        vec![edit(
            &p,
            &[(
                "training_wanted",
                Some(Value::set(["vocational_skills", "rural_practical"])),
            )],
            now(),
        )],
    )
    .await;
    let rb = api
        .push(
            &bb,
            vec![edit(
                &p,
                &[(
                    "training_wanted",
                    Some(Value::set([
                        "vocational_skills",
                        "job_guidance",
                        "entrepreneurship",
                    ])),
                )],
                now(),
            )],
        )
        .await;
    assert_eq!(
        rb.results[0].items["training_wanted"],
        ItemOutcome::SetMerged
    );
    let s = &api.pull_all(&bb).await[&p.person.id];
    assert_eq!(
        s.answers["training_wanted"],
        Value::set(["vocational_skills", "rural_practical", "entrepreneurship"])
    );
    assert!(s.conflicts.is_empty());
}
both!(multi_choice_sets_merge);

async fn pull_resumes_after_a_cut(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("sup01").await;
    let everything = api.pull_all(&w).await;
    assert!(everything.len() > 100);
    // First page arrives and is stored with its cursor; the second is cut mid-response (never
    // stored), so the device asks again from the stored cursor.
    let p1 = api.pull_page(&w, 0, 50).await;
    let _lost = api.pull_page(&w, p1.cursor, 50).await;
    let (rest, _) = api.pull_from(&w, p1.cursor).await;
    let mut got: BTreeSet<_> = p1.records.iter().map(|r| r.person.id).collect();
    for id in rest.keys() {
        assert!(got.insert(*id), "duplicate {id}");
    }
    assert_eq!(got, everything.keys().copied().collect());
}
both!(pull_resumes_after_a_cut);

async fn no_gap_with_concurrent_pushes(b: Backend) {
    let api = spawn(b).await;
    // On PostgreSQL, a second server process-equivalent on the same database.
    let second = if b == Backend::Postgres {
        Some(Api::on(second_server(&api.server.database_url).await))
    } else {
        None
    };
    let other = second.as_ref().unwrap_or(&api);
    let reader = api.login("sup01").await;
    let (_, start) = api.pull_from(&reader, 0).await;
    let writers = ["w001", "w002"];
    let mut sessions = Vec::new();
    for (i, w) in writers.iter().enumerate() {
        let target = if i == 0 { &api } else { other };
        sessions.push(target.login(w).await);
    }
    let mut handles = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let target = if i == 0 { &api } else { other };
        let recs = target.pull_all(s).await;
        let http = target.http.clone();
        let url = target.url("/api/v1/sync/push");
        let token = s.token.clone();
        let campaign = target.campaign().await;
        let batches: Vec<_> = recs
            .values()
            .map(|p| survey(&campaign, p, Outcome::Phone))
            .collect::<Vec<_>>()
            .chunks(7)
            .map(<[_]>::to_vec)
            .collect();
        handles.push(tokio::spawn(async move {
            for b in batches {
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&doorstep_shared::sync::PushRequest::new(b))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    // Pull repeatedly while they push, on alternating servers, keeping only a cursor.
    let mut cursor = start;
    let mut seen = std::collections::BTreeMap::new();
    let mut round = 0;
    loop {
        let finished = handles.iter().all(tokio::task::JoinHandle::is_finished);
        let target = if round % 2 == 0 { &api } else { other };
        let (page, next) = target.pull_from(&reader, cursor).await;
        seen.extend(page);
        cursor = next;
        round += 1;
        if finished {
            break;
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    let (last, _) = api.pull_from(&reader, cursor).await;
    seen.extend(last);
    // The device's incrementally pulled state equals the server's.
    let truth = api.pull_all(&reader).await;
    let phone = truth
        .values()
        .filter(|r| r.answers.get("outcome") == Some(&Value::text("phone")))
        .count();
    assert!(phone > 0);
    for (id, r) in &truth {
        if r.answers.contains_key("outcome") {
            assert_eq!(seen.get(id), Some(r), "missed a change of {id}");
        }
    }
}
both!(no_gap_with_concurrent_pushes);

async fn reassignment_loses_nothing(b: Backend) {
    let api = spawn(b).await;
    let a = api.login("w001").await;
    let bw = api.login("w002").await;
    let admin = api.login("admin").await;
    let recs_a = api.pull_all(&a).await;
    let (_, b_cursor) = api.pull_from(&bw, 0).await;
    let moved = a.login.account.communities[0].to_string();
    let in_moved: Vec<_> = recs_a
        .values()
        .filter(|r| r.person.community.as_str() == moved)
        .cloned()
        .collect();
    // A edits offline; meanwhile the community moves to B.
    let pending = survey(&api.campaign().await, &in_moved[0], Outcome::Away);
    let r = api
        .http
        .put(api.url("/api/v1/admin/assignments"))
        .bearer_auth(&admin.token)
        .json(&serde_json::json!({"community": moved, "username": "w002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // B gets the whole community on the next pull, whatever B's cursor.
    let (new_b, _) = api.pull_from(&bw, b_cursor).await;
    assert_eq!(
        new_b
            .values()
            .filter(|r| r.person.community.as_str() == moved)
            .count(),
        in_moved.len()
    );
    let page = api.pull_page(&bw, 0, 1).await;
    assert!(page.scope.iter().any(|c| c.as_str() == moved));
    // A's late edit is accepted and marked; A's scope no longer lists it.
    let res = api.push(&a, vec![pending]).await;
    assert_eq!(res.results[0].status, MutationStatus::Applied);
    assert!(res.results[0].reassigned);
    let page = api.pull_page(&a, 0, 1).await;
    assert!(!page.scope.iter().any(|c| c.as_str() == moved));
    // A's new edits there after the move are still accepted (late, marked), and B sees them.
    let s = &api.pull_all(&bw).await[&in_moved[0].person.id];
    assert_eq!(s.answers["outcome"], Value::text("away"));
}
both!(reassignment_loses_nothing);

/// Answers are compressed as the client accepts: zstd for the app (`gzip, zstd`), gzip for a
/// client that takes only gzip, none for one that takes neither; the same page each way.
async fn answers_are_compressed_as_the_client_accepts(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .unwrap();
    let mut bodies = Vec::new();
    for (accept, expected) in [
        ("gzip, zstd", Some("zstd")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        let r = raw
            .get(api.url("/api/v1/sync/pull?cursor=0&limit=50"))
            .bearer_auth(&w.token)
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{accept}");
        let got = r
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(got.as_deref(), expected, "{accept}");
        bodies.push(r.bytes().await.unwrap());
    }
    let plain: serde_json::Value = serde_json::from_slice(&bodies[2]).unwrap();
    let mut gz = flate2::read::GzDecoder::new(&bodies[1][..]);
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut gz, &mut text).unwrap();
    let gunzipped: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("server_time");
        v
    };
    assert_eq!(strip(gunzipped), strip(plain.clone()));
    assert!(bodies[0].len() < bodies[2].len() / 3, "zstd compresses");
    // The app's own client (zstd on) reads the same page.
    let page = api.pull_page(&w, 0, 50).await;
    assert_eq!(
        strip(serde_json::to_value(&page).unwrap())["records"],
        plain["records"]
    );
}
both!(answers_are_compressed_as_the_client_accepts);

/// A push compressed in a way the server does not read, or whose gzip is broken, gets the
/// stable error body in both languages; a zstd body is read like a gzip one.
async fn a_body_compressed_otherwise_is_refused_clearly(b: Backend) {
    let api = spawn(b).await;
    let w = api.login("w001").await;
    let body = br#"{"protocol":1,"mutations":[]}"#.to_vec();
    let send = |encoding: &'static str, bytes: Vec<u8>| {
        api.http
            .post(api.url("/api/v1/sync/push"))
            .bearer_auth(&w.token)
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(bytes)
            .send()
    };
    for encoding in ["br", "deflate", "x-unknown"] {
        let r = send(encoding, body.clone()).await.unwrap();
        assert_eq!(r.status(), 415, "{encoding}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "bad_content_encoding", "{encoding}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("不支持的压缩方式") && m.contains("gzip or zstd"),
            "{m}"
        );
    }
    let r = send("gzip", body.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "bad_json");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("请求内容无法读取")
    );
    let zstd = zstd_frame(&body);
    let r = send("zstd", zstd).await.unwrap();
    assert_eq!(r.status(), 200, "a zstd push is read");
}
both!(a_body_compressed_otherwise_is_refused_clearly);

/// A zstd frame of `data` stored raw (one raw block): what any zstd encoder may send.
fn zstd_frame(data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header: single segment, 1-byte content size.
    f.push(0x20);
    f.push(u8::try_from(data.len()).unwrap());
    // Last block, raw, its size in the upper bits.
    let header = (u32::try_from(data.len()).unwrap() << 3) | 1;
    f.extend_from_slice(&header.to_le_bytes()[..3]);
    f.extend_from_slice(data);
    f
}
