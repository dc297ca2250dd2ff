//! The one state every route shares. Its reading helpers (`campaign`, `campaign_for`, `form`,
//! `push_campaigns`) are in `crate::service::campaigns`: the state sits below the service layer.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use doorstep_shared::form::FormDefinition;

use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Db>,
    pub token_ttl: chrono::Duration,
    /// The form definitions read so far (see `AppState::form` in `crate::service::campaigns`).
    pub(crate) forms: Arc<RwLock<HashMap<String, Arc<FormDefinition>>>>,
    /// Ticks on every accepted change, for the console's live figures.
    pub changes: tokio::sync::broadcast::Sender<()>,
    /// The console's cookie carries `Secure` (the server is behind https).
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`crate::auth::ClientAddr`]).
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
    /// The push batches being applied now (`crate::service::push::InFlight`).
    pub pushes: Arc<crate::service::push::InFlight>,
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
            pushes: Arc::default(),
        }
    }

    pub fn notify(&self) {
        let _ = self.changes.send(());
    }
}
