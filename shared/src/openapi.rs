//! OpenAPI schemas (feature `openapi`) of the wire types whose JSON is written by hand: ID
//! numbers and division codes are strings, an answer [`Value`] is one of five JSON shapes.

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::ids::{CertificateNumber, ResidentId};
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
