//! The value of one questionnaire item, as stored and as sent on the wire.
//!
//! JSON stays plain: text, dates (`YYYY-MM-DD`) and single choices are strings, integers are
//! numbers, yes/no are booleans, multi-choice answers are arrays (sets), a GPS point is
//! `{"lat":…, "lon":…}`. The form definition says which shape an item takes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Text(String),
    Set(BTreeSet<String>),
    Geo(GeoPoint),
}

/// Values are read straight from the JSON shape (no buffering as an untagged enum would do):
/// this is on every sync's hot path.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean, an integer, a string, an array of strings or {lat, lon}")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
                i64::try_from(u)
                    .map(Value::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Text(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Text(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                let mut set = BTreeSet::new();
                while let Some(s) = seq.next_element::<String>()? {
                    set.insert(s);
                }
                Ok(Value::Set(set))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
                GeoPoint::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Value::Geo)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl Value {
    #[must_use]
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }

    #[must_use]
    pub fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Self {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_set(&self) -> Option<&BTreeSet<String>> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A short human rendering for lists, exports and conflict views.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Value::Bool(true) => "是".into(),
            Value::Bool(false) => "否".into(),
            Value::Int(i) => i.to_string(),
            Value::Text(s) => s.clone(),
            Value::Set(s) => s.iter().cloned().collect::<Vec<_>>().join("、"),
            Value::Geo(g) => format!("{:.5},{:.5}", g.lat, g.lon),
        }
    }
}

/// The answers of one record: item key → value. Absent means unanswered.
pub type Answers = std::collections::BTreeMap<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_are_refused() {
        assert!(serde_json::from_str::<Value>("1.5").is_err());
        assert!(serde_json::from_str::<Value>("[1]").is_err());
        assert!(serde_json::from_str::<Value>(r#"{"lat": 1}"#).is_err());
        assert!(serde_json::from_str::<Value>("null").is_err());
        assert_eq!(serde_json::from_str::<Option<Value>>("null").unwrap(), None);
    }

    #[test]
    fn json_is_plain() {
        let a: Answers = serde_json::from_str(
            r#"{"b":true,"n":3,"t":"x","s":["a","b"],"g":{"lat":27.2,"lon":111.4}}"#,
        )
        .unwrap();
        assert_eq!(a["b"], Value::Bool(true));
        assert_eq!(a["n"], Value::Int(3));
        assert_eq!(a["t"], Value::text("x"));
        assert_eq!(a["s"], Value::set(["b", "a"]));
        assert!(matches!(a["g"], Value::Geo(_)));
        let back = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Answers>(&back).unwrap(), a);
    }
}
