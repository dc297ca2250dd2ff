use std::collections::BTreeMap;

use doorstep_server::testing::{Backend, TestServer, demo_server};
use doorstep_shared::Value;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::merge::Change;
use doorstep_shared::sync::{
    LoginResponse, Mutation, PullResponse, PushRequest, PushResponse, RecordState,
};
use serde_json::json;
use uuid::Uuid;

/// Runs one test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(doorstep_server::testing::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(doorstep_server::testing::Backend::Postgres).await;
            }
        }
    };
}

pub struct Api {
    pub server: TestServer,
    pub http: reqwest::Client,
}

#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub device: Uuid,
    pub login: LoginResponse,
}

pub async fn spawn(backend: Backend) -> Api {
    Api::on(demo_server(backend).await)
}

impl Api {
    pub fn on(server: TestServer) -> Api {
        Api {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    pub async fn try_login(
        &self,
        user: &str,
        password: &str,
        device: Option<Uuid>,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": user, "password": password, "device_id": device, "device_name": "test phone"}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, user: &str) -> Session {
        let r = self
            .try_login(user, doorstep_server::seed::DEMO_PASSWORD, None)
            .await;
        assert_eq!(r.status(), 200, "login {user}");
        let login: LoginResponse = r.json().await.unwrap();
        Session {
            token: login.token.clone(),
            device: login.device_id,
            login,
        }
    }

    pub async fn get(&self, s: &Session, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(
        &self,
        s: &Session,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&s.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn push(&self, s: &Session, mutations: Vec<Mutation>) -> PushResponse {
        let r = self
            .http
            .post(self.url("/api/v1/sync/push"))
            .bearer_auth(&s.token)
            .json(&PushRequest::new(mutations))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "push");
        r.json().await.unwrap()
    }

    pub async fn pull_page(&self, s: &Session, cursor: u64, limit: u32) -> PullResponse {
        let r = self
            .get(
                s,
                &format!("/api/v1/sync/pull?cursor={cursor}&limit={limit}"),
            )
            .await;
        assert_eq!(r.status(), 200, "pull");
        r.json().await.unwrap()
    }

    /// Pulls every page from `cursor`; returns the latest state per person and the final cursor.
    pub async fn pull_from(
        &self,
        s: &Session,
        mut cursor: u64,
    ) -> (BTreeMap<Uuid, RecordState>, u64) {
        let mut out = BTreeMap::new();
        loop {
            let page = self.pull_page(s, cursor, 500).await;
            for r in page.records {
                out.insert(r.person.id, r);
            }
            cursor = page.cursor;
            if !page.more {
                return (out, cursor);
            }
        }
    }

    pub async fn pull_all(&self, s: &Session) -> BTreeMap<Uuid, RecordState> {
        self.pull_from(s, 0).await.0
    }

    pub async fn campaign(&self) -> doorstep_shared::Campaign {
        self.server
            .state
            .db
            .current_campaign()
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn progress(&self, s: &Session) -> serde_json::Value {
        let r = self.get(s, "/api/v1/progress").await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// A mutation of a record from the state a device holds.
pub fn edit(base: &RecordState, items: &[(&str, Option<Value>)], wall: i64) -> Mutation {
    Mutation {
        id: Uuid::now_v7(),
        person: base.person.id,
        base_version: base.version,
        hlc: Hlc { wall, counter: 0 },
        changes: items
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    Change {
                        base: base.answers.get(*k).cloned(),
                        value: v.clone(),
                    },
                )
            })
            .collect(),
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn t(s: &str) -> Option<Value> {
    Some(Value::text(s))
}

/// A mutation that surveys a person completely (`doorstep_shared::demo::survey_mutation`).
pub fn survey(
    campaign: &doorstep_shared::Campaign,
    base: &RecordState,
    outcome: doorstep_shared::Outcome,
) -> Mutation {
    doorstep_shared::demo::survey_mutation(campaign, base, outcome)
}
