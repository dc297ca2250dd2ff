//! Black-box API tests: a real server on 127.0.0.1:0, on SQLite and on PostgreSQL.

mod admin;
mod analysis;
mod authz;
mod batches;
mod campaigns;
mod console;
mod helpers;
mod holes;
mod metrics;
mod openapi;
mod progress;
mod review;
mod scope;
mod security;
mod sync;
