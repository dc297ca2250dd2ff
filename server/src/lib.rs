//! Doorstep's server: sync with item-by-item merge, live progress per community, the supervisor
//! console and exports, on embedded SQLite or PostgreSQL.
//!
//! - [`startup`]: build the state and serve (what `main.rs` and the tests call);
//! - [`http`]: one router per feature, one error type;
//! - [`service`]: every operation a district runs, called by the API, the console and the CLI;
//! - [`db`]: every SQL statement, behind one type;
//! - [`roster`]: the district roster file layout (CSV / XLSX);
//! - [`tables`]: tables written as CSV (formulas made inert) or XLSX, for every export;
//! - [`seed`]: the demo district and accounts;
//! - [`console`]: the supervisor console pages.

pub mod auth;
pub mod backups;
pub mod cli;
pub mod console;
pub mod db;
pub mod error;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod pdf;
pub mod roster;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod tables;
#[cfg(feature = "testing")]
pub mod testing;

pub use startup::{Config, build, serve, spawn};
pub use state::AppState;
