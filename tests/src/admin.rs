//! The supervisor's and admin's side of a simulation, over the real HTTP API.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use doorstep_shared::sync::{LoginResponse, PullResponse, RecordState};

/// A signed-in console user (admin or supervisor).
#[derive(Clone)]
pub struct Console {
    pub url: String,
    pub token: String,
    http: reqwest::Client,
}

impl Console {
    /// # Errors
    /// Bad credentials or an unreachable server.
    pub async fn login(url: &str, user: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"username": user, "password": doorstep_server::seed::DEMO_PASSWORD}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("login {user}: {}", r.status());
        }
        let login: LoginResponse = r.json().await?;
        Ok(Self {
            url: url.to_string(),
            token: login.token,
            http,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> anyhow::Result<Json> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("{path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// # Errors
    /// The API refuses.
    pub async fn get(&self, path: &str) -> anyhow::Result<Json> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// # Errors
    /// The API refuses.
    pub async fn post(&self, path: &str, body: Json) -> anyhow::Result<Json> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// # Errors
    /// The API refuses.
    pub async fn assign(&self, community: &str, worker: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::PUT,
            "/api/v1/admin/assignments",
            Some(json!({"community": community, "username": worker})),
        )
        .await?;
        Ok(())
    }

    /// Every record in the caller's scope, as the server holds it now.
    ///
    /// # Errors
    /// The API refuses.
    pub async fn records(&self) -> anyhow::Result<BTreeMap<Uuid, RecordState>> {
        let mut out = BTreeMap::new();
        let mut cursor = 0;
        loop {
            let page: PullResponse = serde_json::from_value(
                self.get(&format!("/api/v1/sync/pull?cursor={cursor}&limit=2000"))
                    .await?,
            )?;
            for r in page.records {
                out.insert(r.person.id, r);
            }
            cursor = page.cursor;
            if !page.more {
                return Ok(out);
            }
        }
    }

    /// Resolves every open conflict with its first candidate's value; returns how many.
    ///
    /// # Errors
    /// The API refuses.
    pub async fn resolve_all(&self) -> anyhow::Result<usize> {
        let list = self.get("/api/v1/conflicts").await?;
        let list = list.as_array().context("conflict list")?;
        for c in list {
            let person = c["person_id"].as_str().context("person")?;
            let item = c["item"].as_str().context("item")?;
            let value = c["conflict"]["candidates"][0]["value"].clone();
            self.post(
                &format!("/api/v1/conflicts/{person}/{item}/resolve"),
                json!({"value": value}),
            )
            .await?;
        }
        Ok(list.len())
    }

    /// Returns a record to its worker with a comment.
    ///
    /// # Errors
    /// The API refuses.
    pub async fn return_record(&self, person: Uuid, comment: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/api/v1/records/{person}/review"),
            json!({"decision": "returned", "comment": comment}),
        )
        .await?;
        Ok(())
    }

    /// Progress as the API reports it.
    ///
    /// # Errors
    /// The API refuses.
    pub async fn progress(&self) -> anyhow::Result<Json> {
        self.get("/api/v1/progress").await
    }
}
