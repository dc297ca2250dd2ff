//! The one state every route shares.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use doorstep_shared::Campaign;
use doorstep_shared::form::FormDefinition;

use crate::db::Db;
use crate::service::{self, Error, Result};

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Db>,
    pub token_ttl: chrono::Duration,
    forms: Arc<RwLock<HashMap<String, Arc<FormDefinition>>>>,
    /// Ticks on every accepted change, for the console's live figures.
    pub changes: tokio::sync::broadcast::Sender<()>,
    /// The console's cookie carries `Secure` (the server is behind https).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`crate::auth::ClientAddr`]).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
}

impl AppState {
    #[must_use]
    pub fn new(db: Db, token_ttl: chrono::Duration) -> Self {
        Self {
            db: Arc::new(db),
            token_ttl,
            forms: Arc::default(),
            changes: tokio::sync::broadcast::channel(64).0,
            secure_cookies: false,
            trusted_proxies: Arc::new([]),
        }
    }

    /// The open campaign.
    ///
    /// # Errors
    /// 409 when no campaign is open.
    pub async fn campaign(&self) -> Result<Campaign> {
        service::campaigns::for_reading(&self.db, None).await
    }

    /// The campaign a reading route shows: `?year=` or the open one.
    ///
    /// # Errors
    /// 404 for an unknown year, 409 when none is open.
    pub async fn campaign_for(&self, year: Option<i32>) -> Result<Campaign> {
        service::campaigns::for_reading(&self.db, year).await
    }

    /// A form definition, cached after the first read.
    ///
    /// # Errors
    /// 404 for an unknown version.
    pub async fn form(&self, version: &str) -> Result<Arc<FormDefinition>> {
        if let Some(f) = self.forms.read().expect("forms lock").get(version) {
            return Ok(f.clone());
        }
        let form = self.db.form(version).await?.ok_or_else(|| {
            Error::not_found(
                "no_such_form",
                format!("没有版本为 {version} 的调查表 / no form version {version}"),
            )
        })?;
        let form = Arc::new(form);
        self.forms
            .write()
            .expect("forms lock")
            .insert(version.to_string(), form.clone());
        Ok(form)
    }

    /// Every campaign a push may touch, with its form: the open one and the ended ones.
    ///
    /// # Errors
    /// A database error.
    pub async fn push_campaigns(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::db::PushCampaign>> {
        let mut out = std::collections::HashMap::new();
        for row in self.db.campaigns().await? {
            let form = self.form(&row.campaign.form_version).await?;
            out.insert(
                row.campaign.id.to_string(),
                crate::db::PushCampaign { row, form },
            );
        }
        Ok(out)
    }

    pub fn notify(&self) {
        let _ = self.changes.send(());
    }
}
