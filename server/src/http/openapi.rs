//! `GET /api/openapi.json`: the API described from [`ROUTES`] (the table the router test checks
//! against the real routes) and [`BODIES`] (what each operation takes and answers), with the
//! schemas generated from the Rust types by `utoipa`.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use doorstep_shared::analysis::Action;
use doorstep_shared::sync;

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
        "get",
        "/metrics",
        "Prometheus metrics in the text format (admin)",
        true,
    ),
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
        "A review step at the caller's level: approve (one level on) or return with a comment and per-item notes (docs/review.md)",
        true,
    ),
    (
        "get",
        "/api/v1/review/stages",
        "Records per review stage (submitted, street-approved, approved, returned) per community",
        true,
    ),
    (
        "get",
        "/api/v1/review/warnings",
        "Records finalized over a soft check's warning, with the worker's reason (?unexplained=true: those without)",
        true,
    ),
    (
        "get",
        "/api/v1/samples",
        "The district's sample with its checks, and the agreement per community and per worker",
        true,
    ),
    (
        "post",
        "/api/v1/samples/draw",
        "Draw a reproducible sample per community (rate in per mille, seed; admin)",
        true,
    ),
    (
        "post",
        "/api/v1/samples/{person}/check",
        "Record the verification visit or call of a sampled record (admin)",
        true,
    ),
    (
        "get",
        "/api/v1/follow-ups",
        "Follow-up cases of the non-surveyed outcomes (?outcome=&open=true)",
        true,
    ),
    (
        "get",
        "/api/v1/follow-ups.xlsx",
        "The follow-up cases as XLSX (full ID numbers for the admin; audited)",
        true,
    ),
    (
        "post",
        "/api/v1/follow-ups/{person}",
        "The county office's decision on a case: transferred (with county), deregistered, kept (admin)",
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
    (
        "get",
        "/api/v1/handover/{file}",
        "Hand-over to the national system (?area=community|street|district): coded.xlsx|csv (official codes in R-item order), checklist.json|pdf (keying checklist, a page per person)",
        true,
    ),
    (
        "post",
        "/api/v1/handover/keyed/{person}",
        "Mark a record keyed into the national system ({\"keyed\": true}) or clear the mark (supervisor, admin)",
        true,
    ),
];

/// A request or response body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// None (a request) or 204 No Content (a response).
    Empty,
    /// JSON of a named schema.
    Json(&'static str),
    /// A JSON array of a named schema.
    List(&'static str),
    /// JSON of a named schema, or `null`.
    JsonOrNull(&'static str),
    /// JSON of a named schema, or (asked for by the path or the query) a file of one of these
    /// media types.
    JsonOrFile(&'static str, &'static [&'static str]),
    /// A JSON array of a named schema, or (asked for by the query) a file of one of these media
    /// types.
    ListOrFile(&'static str, &'static [&'static str]),
    /// Plain text.
    Text,
    /// A file: CSV or XLSX.
    File,
}

/// A query parameter: name, type (`integer`, `string`), description.
pub type QueryParam = (&'static str, &'static str, &'static str);

/// What each route of [`ROUTES`] takes and answers: method, path, request body, success status
/// and its body, query parameters. A test keeps it and `ROUTES` the same list.
pub const BODIES: &[(&str, &str, Body, u16, Body, &[QueryParam])] = &[
    ("get", "/healthz", Body::Empty, 200, Body::Text, &[]),
    (
        "get",
        "/api/openapi.json",
        Body::Empty,
        200,
        Body::Json("OpenApiDocument"),
        &[],
    ),
    ("get", "/metrics", Body::Empty, 200, Body::Text, &[]),
    (
        "post",
        "/api/v1/auth/login",
        Body::Json("LoginRequest"),
        200,
        Body::Json("LoginResponse"),
        &[],
    ),
    (
        "post",
        "/api/v1/auth/logout",
        Body::Empty,
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/auth/password",
        Body::Json("PasswordChange"),
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/deactivate",
        Body::Empty,
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/reactivate",
        Body::Empty,
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/admin/users/{username}/password",
        Body::Json("NewPassword"),
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/sync/push",
        Body::Json("PushRequest"),
        200,
        Body::Json("PushResponse"),
        &[],
    ),
    (
        "get",
        "/api/v1/sync/pull",
        Body::Empty,
        200,
        Body::Json("PullResponse"),
        &[
            (
                "cursor",
                "integer",
                "Where the page starts (0: from the beginning)",
            ),
            ("limit", "integer", "Records per page (1–2000, default 500)"),
        ],
    ),
    (
        "get",
        "/api/v1/forms/{version}",
        Body::Empty,
        200,
        Body::Json("FormDefinition"),
        &[],
    ),
    (
        "get",
        "/api/v1/progress",
        Body::Empty,
        200,
        Body::Json("Progress"),
        &[YEAR],
    ),
    (
        "get",
        "/api/v1/report",
        Body::Empty,
        200,
        Body::Json("Report"),
        &[YEAR],
    ),
    (
        "get",
        "/api/v1/records",
        Body::Empty,
        200,
        Body::List("Line"),
        &[("community", "string", "One community's division code")],
    ),
    (
        "get",
        "/api/v1/records/{person}",
        Body::Empty,
        200,
        Body::Json("RecordState"),
        &[],
    ),
    (
        "post",
        "/api/v1/records/{person}/review",
        Body::Json("ReviewBody"),
        200,
        Body::Json("RecordState"),
        &[],
    ),
    (
        "get",
        "/api/v1/review/stages",
        Body::Empty,
        200,
        Body::Json("Stages"),
        &[YEAR],
    ),
    (
        "get",
        "/api/v1/review/warnings",
        Body::Empty,
        200,
        Body::List("Warned"),
        &[YEAR, UNEXPLAINED],
    ),
    (
        "get",
        "/api/v1/samples",
        Body::Empty,
        200,
        Body::Json("SampleReport"),
        &[YEAR],
    ),
    (
        "post",
        "/api/v1/samples/draw",
        Body::Json("DrawRequest"),
        200,
        Body::Json("Drawn"),
        &[],
    ),
    (
        "post",
        "/api/v1/samples/{person}/check",
        Body::Json("Verification"),
        204,
        Body::Empty,
        &[],
    ),
    (
        "get",
        "/api/v1/follow-ups",
        Body::Empty,
        200,
        Body::List("CaseRow"),
        &[YEAR, OUTCOME, OPEN],
    ),
    (
        "get",
        "/api/v1/follow-ups.xlsx",
        Body::Empty,
        200,
        Body::File,
        &[YEAR, OUTCOME, OPEN],
    ),
    (
        "post",
        "/api/v1/follow-ups/{person}",
        Body::Json("CaseRequest"),
        204,
        Body::Empty,
        &[],
    ),
    (
        "get",
        "/api/v1/conflicts",
        Body::Empty,
        200,
        Body::List("ConflictRow"),
        &[],
    ),
    (
        "post",
        "/api/v1/conflicts/{person}/{item}/resolve",
        Body::Json("ResolveBody"),
        200,
        Body::Json("RecordState"),
        &[],
    ),
    (
        "post",
        "/api/v1/admin/roster",
        Body::File,
        200,
        Body::Json("ImportOutcome"),
        &[("filename", "string", "The file's name: .csv or .xlsx")],
    ),
    (
        "get",
        "/api/v1/admin/users",
        Body::Empty,
        200,
        Body::List("UserLine"),
        &[],
    ),
    (
        "post",
        "/api/v1/admin/users",
        Body::Json("NewUser"),
        200,
        Body::Json("CreatedUser"),
        &[],
    ),
    (
        "get",
        "/api/v1/admin/assignments",
        Body::Empty,
        200,
        Body::List("Assignment"),
        &[],
    ),
    (
        "delete",
        "/api/v1/admin/assignments/{community}",
        Body::Empty,
        204,
        Body::Empty,
        &[],
    ),
    (
        "put",
        "/api/v1/admin/assignments",
        Body::Json("Assignment"),
        200,
        Body::Json("Assignment"),
        &[],
    ),
    (
        "get",
        "/api/v1/admin/devices",
        Body::Empty,
        200,
        Body::List("DeviceLine"),
        &[],
    ),
    (
        "get",
        "/api/v1/admin/audit",
        Body::Empty,
        200,
        Body::ListOrFile("AuditEntry", &[CSV]),
        &[
            ("action", "string", "Only entries of this action"),
            ("user", "string", "Only entries of this user"),
            ("limit", "integer", "Most entries"),
            ("format", "string", "csv: the trail as CSV"),
        ],
    ),
    (
        "get",
        "/api/v1/admin/audit/verify",
        Body::Empty,
        200,
        Body::Json("Verified"),
        &[],
    ),
    (
        "get",
        "/api/v1/admin/campaigns",
        Body::Empty,
        200,
        Body::List("Summary"),
        &[],
    ),
    (
        "post",
        "/api/v1/admin/campaigns",
        Body::Json("OpenRequest"),
        201,
        Body::Json("Opened"),
        &[],
    ),
    (
        "post",
        "/api/v1/admin/campaigns/{year}/close",
        Body::Empty,
        200,
        Body::Json("CampaignRow"),
        &[],
    ),
    (
        "get",
        "/api/v1/admin/roster/decisions",
        Body::Empty,
        200,
        Body::List("Flagged"),
        &[],
    ),
    (
        "post",
        "/api/v1/admin/roster/decisions/{person}",
        Body::Json("DecisionBody"),
        204,
        Body::Empty,
        &[],
    ),
    (
        "post",
        "/api/v1/admin/devices/{id}/revoke",
        Body::Empty,
        200,
        Body::Json("Revoked"),
        &[],
    ),
    (
        "get",
        "/api/v1/export/{file}",
        Body::Empty,
        200,
        Body::File,
        &[YEAR],
    ),
    (
        "get",
        "/api/v1/handover/{file}",
        Body::Empty,
        200,
        Body::File,
        &[AREA, YEAR],
    ),
    (
        "post",
        "/api/v1/handover/keyed/{person}",
        Body::Json("KeyedBody"),
        200,
        Body::JsonOrNull("KeyedMark"),
        &[],
    ),
    (
        "get",
        "/api/v1/analysis",
        Body::Empty,
        200,
        Body::Json("Analysis"),
        &[
            (
                "place",
                "string",
                "A street's or community's code within the caller's area",
            ),
            ("category", "string", "Disability category 1–7"),
            ("level", "string", "Disability level 1–4"),
            (
                "age",
                "string",
                "Age band: 0-5, 6-15, 16-59, 60-79, 80+ (or its index 0–4)",
            ),
            ("sex", "string", "male or female"),
            YEAR,
        ],
    ),
    (
        "get",
        "/api/v1/analysis/actions/{list}",
        Body::Empty,
        200,
        Body::JsonOrFile("ActionList", &[XLSX]),
        &[
            (
                "place",
                "string",
                "A street's or community's code within the caller's area",
            ),
            ("device", "string", "One device of the device list"),
            YEAR,
        ],
    ),
];

const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const AREA: QueryParam = (
    "area",
    "string",
    "A community's, street's or the district's code (default: the caller's area)",
);

/// The files `GET /api/v1/export/{file}` serves.
const EXPORT_FILES: &[&str] = &[
    "progress.xlsx",
    "progress.csv",
    "records.xlsx",
    "records.csv",
];

/// The files `GET /api/v1/handover/{file}` serves.
const HANDOVER_FILES: &[&str] = &["coded.xlsx", "coded.csv", "checklist.json", "checklist.pdf"];

const OUTCOME: QueryParam = (
    "outcome",
    "string",
    "One follow-up outcome: moved, deregistered, not_found, registered_only",
);

const UNEXPLAINED: QueryParam = (
    "unexplained",
    "boolean",
    "Only records whose warnings have no reason",
);

const OPEN: QueryParam = ("open", "boolean", "Only cases without a decision");

const YEAR: QueryParam = (
    "year",
    "integer",
    "A campaign's year (default: the open one)",
);

/// Adds a type's schema and the schemas it refers to.
fn with<T: ToSchema>(mut c: ComponentsBuilder) -> ComponentsBuilder {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    c = c.schema(T::name(), T::schema());
    for (name, schema) in deps {
        c = c.schema(name, schema);
    }
    c
}

fn components() -> ComponentsBuilder {
    let mut c = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    c = with::<sync::ErrorBody>(c);
    c = with::<sync::LoginRequest>(c);
    c = with::<sync::LoginResponse>(c);
    c = with::<sync::PushRequest>(c);
    c = with::<sync::PushResponse>(c);
    c = with::<sync::PullResponse>(c);
    c = with::<sync::RecordState>(c);
    c = with::<super::auth::PasswordChange>(c);
    c = with::<super::admin::NewPassword>(c);
    c = with::<super::admin::NewUser>(c);
    c = with::<super::admin::Assignment>(c);
    c = with::<super::admin::DecisionBody>(c);
    c = with::<super::review::ReviewBody>(c);
    c = with::<super::review::ResolveBody>(c);
    c = with::<crate::service::review::Stages>(c);
    c = with::<doorstep_shared::progress::Progress>(c);
    c = with::<crate::service::analysis::Analysis>(c);
    c = with::<crate::service::records::Line>(c);
    c = with::<crate::db::ConflictRow>(c);
    c = with::<crate::db::ImportOutcome>(c);
    c = with::<super::admin::UserLine>(c);
    c = with::<super::admin::DeviceLine>(c);
    c = with::<super::admin::Flagged>(c);
    c = with::<crate::service::campaigns::Summary>(c);
    c = with::<crate::service::campaigns::Opened>(c);
    c = with::<crate::service::review::Warned>(c);
    c = with::<crate::service::review::SampleReport>(c);
    c = with::<crate::service::review::DrawRequest>(c);
    c = with::<crate::service::review::Drawn>(c);
    c = with::<crate::service::review::CaseRequest>(c);
    c = with::<crate::db::CaseRow>(c);
    c = with::<doorstep_shared::review::Verification>(c);
    c = with::<super::progress::Report>(c);
    c = with::<crate::service::campaigns::OpenRequest>(c);
    c = with::<crate::db::audit::Verified>(c);
    c = with::<doorstep_shared::form::FormDefinition>(c);
    c = with::<doorstep_shared::form::Condition>(c);
    c = with::<super::admin::CreatedUser>(c);
    c = with::<super::admin::Revoked>(c);
    c = with::<crate::db::audit::Stored>(c);
    c = with::<crate::db::CampaignRow>(c);
    c = with::<super::handover::KeyedBody>(c);
    c = with::<crate::db::KeyedMark>(c);
    c = with::<crate::service::handover::Checklist>(c);
    c = with::<super::analysis::List>(c);
    c.schema("OpenApiDocument", document_schema())
}

/// Every enum without an example gets its first value as one.
fn with_enum_examples(mut components: utoipa::openapi::Components) -> utoipa::openapi::Components {
    for schema in components.schemas.values_mut() {
        if let RefOr::T(Schema::Object(o)) = schema
            && o.examples.is_empty()
            && let Some(first) = o.enum_values.as_ref().and_then(|v| v.first())
        {
            o.examples.push(first.clone());
        }
    }
    components
}

/// What `GET /api/openapi.json` answers: this document (OpenAPI 3.1).
fn document_schema() -> RefOr<Schema> {
    let object = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
    };
    ObjectBuilder::new()
        .description(Some("An OpenAPI 3.1 document: this one"))
        .property(
            "openapi",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples([serde_json::json!("3.1.0")]),
        )
        .property("info", object("Title, version and description"))
        .property("paths", object("Every operation by path and method"))
        .property("components", object("The schemas and the security scheme"))
        .required("openapi")
        .required("info")
        .required("paths")
        .into()
}

fn file() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Binary,
        )))
        .into()
}

fn list_of(name: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name(name))
        .into()
}

fn content(body: Body) -> Option<(&'static str, RefOr<Schema>)> {
    let json = "application/json";
    Some(match body {
        Body::Empty => return None,
        Body::Json(name) | Body::JsonOrFile(name, _) => (json, Ref::from_schema_name(name).into()),
        Body::List(name) | Body::ListOrFile(name, _) => (json, list_of(name)),
        Body::JsonOrNull(name) => (
            json,
            OneOfBuilder::new()
                .item(Ref::from_schema_name(name))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into(),
        ),
        Body::Text => ("text/plain", String::schema()),
        Body::File => ("application/octet-stream", file()),
    })
}

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "put" => HttpMethod::Put,
        "delete" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// The OpenAPI document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut paths = PathsBuilder::new();
    for (m, path, summary, auth) in ROUTES {
        let Some((_, _, request, status, response, query)) =
            BODIES.iter().find(|(bm, bp, ..)| bm == m && bp == path)
        else {
            continue;
        };
        let mut op = OperationBuilder::new()
            .summary(Some(*summary))
            .operation_id(Some(format!("{m} {path}")));
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        {
            let schema: RefOr<Schema> = match name {
                "file" if path.starts_with("/api/v1/handover/") => ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(HANDOVER_FILES.iter().copied()))
                    .into(),
                "file" => ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(EXPORT_FILES.iter().copied()))
                    .into(),
                "list" => ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The list, or `{list}.xlsx` for it as a spreadsheet"))
                    .enum_values(Some(
                        Action::ALL
                            .iter()
                            .flat_map(|a| [a.key().to_string(), format!("{}.xlsx", a.key())]),
                    ))
                    .into(),
                "version" => ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples([serde_json::json!("2021.1")])
                    .into(),
                _ => String::schema(),
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(schema)),
            );
        }
        for (name, ty, description) in *query {
            let schema: RefOr<Schema> = match *ty {
                "integer" => ObjectBuilder::new().schema_type(Type::Integer).into(),
                "boolean" => ObjectBuilder::new().schema_type(Type::Boolean).into(),
                _ => String::schema(),
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*description))
                    .schema(Some(schema)),
            );
        }
        if let Some((ct, schema)) = content(*request) {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content(ct, ContentBuilder::new().schema(Some(schema)).build())
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        let mut ok = ResponseBuilder::new().description("OK");
        if let Some((ct, schema)) = content(*response) {
            let types: &[&str] = if matches!(response, Body::File) {
                // A file is answered as what it is; the hand-over also serves the checklist as
                // JSON and PDF.
                if path.starts_with("/api/v1/handover/") {
                    &[
                        "text/csv",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        "application/json",
                        "application/pdf",
                    ]
                } else {
                    &[
                        "text/csv",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ]
                }
            } else {
                &[ct]
            };
            for t in types {
                // The checklist as JSON is described; the other file types are bytes.
                let schema = if matches!(response, Body::File) && *t == "application/json" {
                    Ref::from_schema_name("Checklist").into()
                } else {
                    schema.clone()
                };
                ok = ok.content(*t, ContentBuilder::new().schema(Some(schema)).build());
            }
            if let Body::JsonOrFile(_, files) | Body::ListOrFile(_, files) = response {
                for t in *files {
                    ok = ok.content(*t, ContentBuilder::new().schema(Some(file())).build());
                }
            }
        }
        let error = ResponseBuilder::new()
            .description("Refused: the error code and a message in Chinese and English")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        let mut responses = ResponsesBuilder::new().response(status.to_string(), ok.build());
        for code in [
            "400", "401", "403", "404", "409", "413", "415", "422", "429", "500", "503",
        ] {
            responses = responses.response(code, error.clone());
        }
        op = op.responses(responses.build());
        if *auth {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(*path, PathItem::new(method(m), op.build()));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Doorstep API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Sync protocol: see docs/sync.md. Errors: {\"error\": {\"code\", \"message\"}}.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(with_enum_examples(components().build())))
        .build()
}

/// The document as JSON.
#[must_use]
pub fn document() -> Value {
    serde_json::to_value(openapi()).unwrap_or_default()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_says_what_it_takes_and_answers() {
        for (m, p, ..) in ROUTES {
            assert!(
                BODIES.iter().any(|(bm, bp, ..)| bm == m && bp == p),
                "{m} {p}: add it to BODIES"
            );
        }
        for (m, p, ..) in BODIES {
            assert!(
                ROUTES.iter().any(|(rm, rp, ..)| rm == m && rp == p),
                "{m} {p} is in BODIES, not in ROUTES"
            );
        }
    }

    #[test]
    fn every_schema_referred_to_is_there() {
        let doc = serde_json::to_string(&document()).unwrap();
        let v = document();
        let schemas = v["components"]["schemas"].as_object().unwrap();
        for part in doc.split("#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
        // The enums are spelled as on the wire.
        assert_eq!(
            v["components"]["schemas"]["Role"]["enum"],
            serde_json::json!(["worker", "supervisor", "admin"])
        );
        assert_eq!(v["paths"].as_object().unwrap().len(), {
            let mut p: Vec<_> = ROUTES.iter().map(|r| r.1).collect();
            p.sort_unstable();
            p.dedup();
            p.len()
        });
    }
}
