//! OpenAPI schemas (feature `openapi`) of the wire types whose JSON is written by hand: ID
//! numbers and division codes are strings, an answer [`Value`] is one of five JSON shapes, an
//! official [`Code`] is a string, an [`ItemKind`] is an object tagged by `type`, an
//! [`ErrorCode`] is one of its texts.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::errors::ErrorCode;
use crate::form::ItemKind;
use crate::ids::{CertificateNumber, ResidentId};
use crate::official::Code;
use crate::place::DivisionCode;
use crate::value::{GeoPoint, Value};

fn string(description: &str, pattern: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .examples([serde_json::json!(example)])
        .into()
}

impl PartialSchema for ResidentId {
    fn schema() -> RefOr<Schema> {
        string(
            "18-character resident ID number (GB 11643-1999); masked (*) unless the role may see it",
            r"^[0-9*]{17}[0-9X*]$",
            "430503199001011234",
        )
    }
}
impl ToSchema for ResidentId {}

impl PartialSchema for CertificateNumber {
    fn schema() -> RefOr<Schema> {
        string(
            "20-character disability certificate number: the resident ID, category and level",
            r"^[0-9*]{17}[0-9X*][1-7][1-4]$",
            "43050319900101123411",
        )
    }
}
impl ToSchema for CertificateNumber {}

impl PartialSchema for DivisionCode {
    fn schema() -> RefOr<Schema> {
        string(
            "Statistical division code: 6 (county), 9 (township) or 12 (village) digits",
            r"^[0-9]{6}([0-9]{3}){0,2}$",
            "430503001001",
        )
    }
}
impl ToSchema for DivisionCode {}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A stable error code (`shared/src/errors.rs`)"))
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .examples([serde_json::json!("missing_token")])
            .into()
    }
}
impl ToSchema for ErrorCode {}

/// [`Value`] under another name for `#[schema(value_type = …)]`: utoipa takes any type whose
/// last path segment is `Value` for `serde_json::Value` (any JSON) and drops the schema.
pub type Answer = Value;

impl PartialSchema for Value {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .description(Some(
                "An answer: yes/no, an integer, a text or choice key, a set of choice keys, or a point",
            ))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
            .item(Ref::from_schema_name("GeoPoint"))
            .into()
    }
}
impl ToSchema for Value {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Value")
    }
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("GeoPoint".into(), <GeoPoint as PartialSchema>::schema()));
    }
}

impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An official item number (R3) or option code (digits) of the form's numbering year, \
                 or \"unknown\"",
            ))
            .min_length(Some(1))
            .examples([serde_json::json!("R3"), serde_json::json!("unknown")])
            .into()
    }
}
impl ToSchema for Code {}

impl PartialSchema for ItemKind {
    fn schema() -> RefOr<Schema> {
        let tag = |tags: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(tags.iter().copied()))
        };
        let bound = |what: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .description(Some(what))
        };
        OneOfBuilder::new()
            .description(Some(
                "What an item takes: `{\"type\": \"integer\"}` with optional inclusive bounds \
                 `min` and `max`, or one of the other kinds without fields",
            ))
            .item(
                ObjectBuilder::new()
                    .property("type", tag(&["integer"]))
                    .property("min", bound("Smallest allowed answer"))
                    .property("max", bound("Largest allowed answer"))
                    .required("type")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .item(
                ObjectBuilder::new()
                    .property(
                        "type",
                        tag(&["text", "date", "yes_no", "single", "multi", "phone", "geo"]),
                    )
                    .required("type")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .examples([
                serde_json::json!({"type": "integer", "min": 0, "max": 120}),
                serde_json::json!({"type": "single"}),
            ])
            .into()
    }
}
impl ToSchema for ItemKind {}
