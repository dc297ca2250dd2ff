//! The review chain over a whole district (docs/review.md), on SQLite and PostgreSQL: a campaign
//! with street and district review opened from the demo year; every worker submits twelve
//! persons of each community; each street supervisor approves them and returns one per
//! community with an item note; the district approves five per community and returns one; the
//! district samples 5 % of each community with a fixed seed and records the checks. The figures
//! per level and the agreement rates per community and per worker are computed here from what
//! the test did, and must equal the server's; a record returned by the district reaches the
//! worker's phone with its comment.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value as Json, json};
use uuid::Uuid;

use doorstep_server::testing::{Backend, demo_server};
use doorstep_shared::demo::survey_mutation;
use doorstep_shared::review;
use doorstep_shared::sync::{PROTOCOL_VERSION, PullResponse, RecordState};
use doorstep_shared::{Outcome, Review};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn login(&self, user: &str) -> String {
        let r: Json = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(
                &json!({"username": user, "password": doorstep_server::seed::DEMO_PASSWORD,
                          "device_name": "review test"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login {user}: {r}"))
            .to_string()
    }

    async fn get(&self, token: &str, path: &str) -> Json {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    async fn post(&self, token: &str, path: &str, body: &Json) -> (u16, Json) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    async fn pull_all(&self, token: &str) -> BTreeMap<Uuid, RecordState> {
        let mut out = BTreeMap::new();
        let mut cursor = 0;
        loop {
            let page: PullResponse = serde_json::from_value(
                self.get(
                    token,
                    &format!("/api/v1/sync/pull?cursor={cursor}&limit=1000"),
                )
                .await,
            )
            .unwrap();
            for r in page.records {
                out.insert(r.person.id, r);
            }
            cursor = page.cursor;
            if !page.more {
                return out;
            }
        }
    }
}

/// What the test expects of one community.
#[derive(Default, Debug, PartialEq, Eq)]
struct Stage {
    submitted: u64,
    street_approved: u64,
    approved: u64,
    returned: u64,
}

/// Agreement counts: (sampled, reached, confirmed).
type Tally = (u64, u64, u64);

async fn chain(backend: Backend) {
    let server = demo_server(backend).await;
    let c = Client {
        http: reqwest::Client::new(),
        base: server.url.clone(),
    };
    let admin = c.login("admin").await;
    let demo_year = server
        .state
        .db
        .current_campaign()
        .await
        .unwrap()
        .unwrap()
        .year;
    let (s, opened) = c
        .post(
            &admin,
            "/api/v1/admin/campaigns",
            &json!({"district": "430503", "district_name": "大祥区", "year": demo_year + 1,
                    "from": demo_year, "review_levels": "street,district"}),
        )
        .await;
    assert_eq!(s, 201, "{opened}");
    let campaign = server.state.db.current_campaign().await.unwrap().unwrap();
    let users = c.get(&admin, "/api/v1/admin/users").await;
    let users = users.as_array().unwrap();
    let role = |r: &str| -> Vec<(String, Option<String>)> {
        users
            .iter()
            .filter(|u| u["role"] == r && u["active"] == true)
            .map(|u| {
                (
                    u["username"].as_str().unwrap().to_string(),
                    u["area"].as_str().map(String::from),
                )
            })
            .collect()
    };

    // Every worker submits the first twelve persons (by ID) of each of their communities.
    let mut submitted: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    let mut collector: BTreeMap<Uuid, String> = BTreeMap::new();
    let mut worker_tokens = BTreeMap::new();
    for (w, _) in role("worker") {
        let token = c.login(&w).await;
        let mine = c.pull_all(&token).await;
        let mut by_community: BTreeMap<String, Vec<&RecordState>> = BTreeMap::new();
        for r in mine.values() {
            by_community
                .entry(r.person.community.to_string())
                .or_default()
                .push(r);
        }
        let mut muts = Vec::new();
        for (community, people) in by_community {
            for (i, r) in people.iter().take(12).enumerate() {
                let outcome = if i % 4 == 3 {
                    Outcome::Phone
                } else {
                    Outcome::HomeVisit
                };
                muts.push(survey_mutation(&campaign, r, outcome));
                submitted
                    .entry(community.clone())
                    .or_default()
                    .push(r.person.id);
                collector.insert(r.person.id, w.clone());
            }
        }
        for batch in muts.chunks(500) {
            let (s, res) = c
                .post(
                    &token,
                    "/api/v1/sync/push",
                    &json!({"protocol": PROTOCOL_VERSION, "mutations": batch}),
                )
                .await;
            assert_eq!(s, 200);
            assert!(
                res["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r["code"].is_null()),
                "{w}: {res}"
            );
        }
        worker_tokens.insert(w, token);
    }
    assert!(
        submitted.len() >= 90,
        "most communities have a worker: {}",
        submitted.len()
    );

    let mut want: BTreeMap<String, Stage> = BTreeMap::new();
    // Each street supervisor: return the first of each community with an item note, approve the rest.
    for (sup, area) in role("supervisor") {
        let area = area.unwrap_or_default();
        let token = c.login(&sup).await;
        for (community, ids) in submitted.iter().filter(|(k, _)| k.starts_with(&area)) {
            let w = want.entry(community.clone()).or_default();
            for (i, id) in ids.iter().enumerate() {
                let body = if i == 0 {
                    json!({"decision": "return", "comment": "请核对电话", "notes": {"phone": "号码有误"}})
                } else {
                    json!({"decision": "approve"})
                };
                let (s, r) = c
                    .post(&token, &format!("/api/v1/records/{id}/review"), &body)
                    .await;
                assert_eq!(s, 200, "{sup} {id}: {r}");
                if i == 0 {
                    w.returned += 1;
                } else {
                    w.street_approved += 1;
                }
            }
        }
    }
    assert_eq!(
        want.values()
            .map(|w| w.returned + w.street_approved)
            .sum::<u64>(),
        submitted.values().map(|v| v.len() as u64).sum::<u64>(),
        "every submitted record has a street supervisor"
    );
    // The district: approve five per community, return the sixth.
    let mut district_returned: BTreeMap<Uuid, String> = BTreeMap::new();
    for (community, ids) in &submitted {
        let w = want.get_mut(community).unwrap();
        for (i, id) in ids.iter().enumerate().skip(1).take(6) {
            let body = if i == 6 {
                json!({"decision": "return", "comment": format!("区级审核退回 {community}")})
            } else {
                json!({"decision": "approve"})
            };
            let (s, r) = c
                .post(&admin, &format!("/api/v1/records/{id}/review"), &body)
                .await;
            assert_eq!(s, 200, "district {id}: {r}");
            w.street_approved -= 1;
            if i == 6 {
                w.returned += 1;
                district_returned.insert(*id, format!("区级审核退回 {community}"));
            } else {
                w.approved += 1;
            }
        }
    }

    // Figures per level.
    let stages = c.get(&admin, "/api/v1/review/stages").await;
    let got: BTreeMap<String, Stage> = stages["communities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            (
                s["community"].as_str().unwrap().to_string(),
                Stage {
                    submitted: n("submitted"),
                    street_approved: n("street_approved"),
                    approved: n("approved"),
                    returned: n("returned"),
                },
            )
        })
        .collect();
    assert_eq!(got, want, "records per review stage");

    // The district samples 5 % of each community with a fixed seed; the test draws it too.
    let (s, drawn) = c
        .post(
            &admin,
            "/api/v1/samples/draw",
            &json!({"rate_permille": 50, "seed": 2021, "threshold_percent": 95}),
        )
        .await;
    assert_eq!(s, 200, "{drawn}");
    let returned: BTreeSet<Uuid> = want
        .keys()
        .flat_map(|k| [submitted[k][0], submitted[k][6]])
        .collect();
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for (community, ids) in &submitted {
        let eligible: Vec<String> = ids
            .iter()
            .filter(|i| !returned.contains(i))
            .map(Uuid::to_string)
            .collect();
        let sample = review::draw_sample(community, &eligible, 50, 2021);
        assert_eq!(sample.len(), review::sample_size(10, 50));
        assert_eq!(
            drawn["communities"][community].as_u64().unwrap(),
            sample.len() as u64
        );
        expected.extend(sample);
    }
    let report = c.get(&admin, "/api/v1/samples").await;
    let got: BTreeSet<String> = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["person_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, expected, "the server's sample is the seed's");

    // Checks: every fifth not reached, every third reached one differs on the phone number.
    let mut by_community: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_worker: BTreeMap<String, Tally> = BTreeMap::new();
    let community_of: BTreeMap<String, String> = submitted
        .iter()
        .flat_map(|(k, ids)| ids.iter().map(move |i| (i.to_string(), k.clone())))
        .collect();
    for (n, person) in expected.iter().enumerate() {
        let reached = n % 5 != 4;
        let confirmed = reached && n % 3 != 2;
        let body = json!({"checker": "第三方核查员", "method": if n % 2 == 0 { "call" } else { "visit" },
                          "reached": reached, "confirmed": confirmed,
                          "differing": if reached && !confirmed { vec!["phone"] } else { vec![] }});
        let (s, r) = c
            .post(&admin, &format!("/api/v1/samples/{person}/check"), &body)
            .await;
        assert_eq!(s, 204, "{r}");
        let uid = Uuid::parse_str(person).unwrap();
        for t in [
            by_community
                .entry(community_of[person].clone())
                .or_default(),
            by_worker.entry(collector[&uid].clone()).or_default(),
        ] {
            t.0 += 1;
            t.1 += u64::from(reached);
            t.2 += u64::from(confirmed);
        }
    }
    let report = c.get(&admin, "/api/v1/samples").await;
    for (list, want) in [("communities", &by_community), ("workers", &by_worker)] {
        let got: BTreeMap<String, (Tally, Option<u64>, bool)> = report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let n = |k: &str| a[k].as_u64().unwrap();
                (
                    a["key"].as_str().unwrap().to_string(),
                    (
                        (n("sampled"), n("reached"), n("confirmed")),
                        a["agreement_bp"].as_u64(),
                        a["flagged"] == true,
                    ),
                )
            })
            .collect();
        let computed: BTreeMap<String, (Tally, Option<u64>, bool)> = want
            .iter()
            .map(|(k, t)| {
                let bp = (t.1 > 0).then(|| t.2 * 10_000 / t.1);
                (k.clone(), (*t, bp, bp.is_some_and(|b| b < 9_500)))
            })
            .collect();
        assert_eq!(got, computed, "agreement per {list}");
    }
    assert!(
        by_community.values().any(|t| t.1 > t.2),
        "some community is below the threshold"
    );

    // A record the district returned reaches the worker's phone with its comment.
    let (id, comment) = district_returned.iter().next().unwrap();
    let token = &worker_tokens[&collector[id]];
    let state = c.pull_all(token).await.remove(id).unwrap();
    assert_eq!(state.review, Review::Returned);
    assert_eq!(state.review_comment.as_deref(), Some(comment.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_chain_sqlite() {
    chain(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_chain_postgres() {
    chain(Backend::Postgres).await;
}
