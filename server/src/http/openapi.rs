//! `GET /api/openapi.json`: the API described from [`ROUTES`], the same table the router test
//! checks against the real routes.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::AppState;

/// Every API route: method, path, summary, whether it needs a bearer token.
pub const ROUTES: &[(&str, &str, &str, bool)] = &[
    (
        "get",
        "/healthz",
        "Liveness: 200 when the server and its database answer",
        false,
    ),
    ("get", "/api/openapi.json", "This document", false),
    (
        "post",
        "/api/v1/auth/login",
        "Sign in; registers the device; returns a bearer token",
        false,
    ),
    (
        "post",
        "/api/v1/auth/logout",
        "End this session: the token is refused from now on",
        true,
    ),
    (
        "post",
        "/api/v1/auth/password",
        "Change one's own password (every session of the account ends)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/deactivate",
        "Deactivate an account: every session ends, sign-in refused (admin)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/reactivate",
        "Reactivate an account and lift a sign-in lockout (admin)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/password",
        "Set a new password for an account (admin)",
        true,
    ),
    (
        "post",
        "/api/v1/sync/push",
        "Push a batch of mutations (idempotent, merged item by item)",
        true,
    ),
    (
        "get",
        "/api/v1/sync/pull",
        "Pull records changed after a cursor, in pages",
        true,
    ),
    (
        "get",
        "/api/v1/forms/{version}",
        "A questionnaire definition",
        true,
    ),
    (
        "get",
        "/api/v1/progress",
        "Figures per community, street and district, and the daily burn-up",
        true,
    ),
    (
        "get",
        "/api/v1/report",
        "The annual-report paragraphs: progress, and needs (`needs`)",
        true,
    ),
    (
        "get",
        "/api/v1/analysis",
        "Needs and services analysis of finalized records: per item and option, by place, \
         category and level, last year beside it; ?place=&category=&level=&age=&sex=&year=",
        true,
    ),
    (
        "get",
        "/api/v1/analysis/actions/{list}",
        "An action list (device, home_modification, training, job, nursing_subsidy, \
         living_subsidy); `{list}.xlsx` exports it; masked unless admin; audited",
        true,
    ),
    (
        "get",
        "/api/v1/records",
        "Persons of the caller's communities (masked)",
        true,
    ),
    (
        "get",
        "/api/v1/records/{person}",
        "One record (audited)",
        true,
    ),
    (
        "post",
        "/api/v1/records/{person}/review",
        "Approve or return a submitted record",
        true,
    ),
    ("get", "/api/v1/conflicts", "Open same-item conflicts", true),
    (
        "post",
        "/api/v1/conflicts/{person}/{item}/resolve",
        "Resolve a conflict with a value",
        true,
    ),
    (
        "post",
        "/api/v1/admin/roster",
        "Import a roster file (CSV or XLSX): all rows or none",
        true,
    ),
    ("get", "/api/v1/admin/users", "List accounts", true),
    ("post", "/api/v1/admin/users", "Create an account", true),
    (
        "get",
        "/api/v1/admin/assignments",
        "Community assignments",
        true,
    ),
    (
        "delete",
        "/api/v1/admin/assignments/{community}",
        "Take a community away from its worker (admin)",
        true,
    ),
    (
        "put",
        "/api/v1/admin/assignments",
        "Assign a community to a worker",
        true,
    ),
    ("get", "/api/v1/admin/devices", "Registered devices", true),
    (
        "get",
        "/api/v1/admin/audit",
        "The audit trail, newest first; ?action=&user=&limit=, ?format=csv (admin)",
        true,
    ),
    (
        "get",
        "/api/v1/admin/audit/verify",
        "Check the audit trail's hash chain (admin)",
        true,
    ),
    (
        "get",
        "/api/v1/admin/campaigns",
        "Every campaign with its state and figures",
        true,
    ),
    (
        "post",
        "/api/v1/admin/campaigns",
        "Open the year's campaign, optionally carried over from an earlier year (admin)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/campaigns/{year}/close",
        "Close a year for good (admin)",
        true,
    ),
    (
        "get",
        "/api/v1/admin/roster/decisions",
        "Persons awaiting an admin decision (moved last year, missing from the roster)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/roster/decisions/{person}",
        "Keep or remove a flagged person (admin)",
        true,
    ),
    (
        "post",
        "/api/v1/admin/devices/{id}/revoke",
        "Revoke a lost device",
        true,
    ),
    (
        "get",
        "/api/v1/export/{file}",
        "progress.xlsx|csv, records.xlsx|csv",
        true,
    ),
];

#[must_use]
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, auth) in ROUTES {
        let entry = paths
            .entry((*path).to_string())
            .or_insert_with(|| json!({}));
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "4XX": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if *auth {
            op["security"] = json!([{"bearer": []}]);
        }
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Doorstep API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Sync protocol: see docs/sync.md"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}
        }
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}
