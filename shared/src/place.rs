//! Places: district → street / township → community / village, keyed by the national statistical
//! division codes (统计用区划代码): 6 digits county, +3 township, +3 village.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("division code must be 6, 9 or 12 digits, found {0:?}")]
    Code(String),
}

/// Which level of the division tree a code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DivisionLevel {
    County,
    Township,
    Village,
}

/// A statistical division code of 6 (county), 9 (township) or 12 (village) digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DivisionCode(String);

impl DivisionCode {
    /// # Errors
    /// Anything but 6, 9 or 12 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, PlaceError> {
        let s = s.trim();
        if matches!(s.len(), 6 | 9 | 12) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_string()))
        } else {
            Err(PlaceError::Code(s.to_string()))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn level(&self) -> DivisionLevel {
        match self.0.len() {
            6 => DivisionLevel::County,
            9 => DivisionLevel::Township,
            _ => DivisionLevel::Village,
        }
    }

    /// The 6-digit county part.
    #[must_use]
    pub fn county(&self) -> &str {
        &self.0[..6]
    }

    /// The 9-digit township part, if this code is at least that deep.
    #[must_use]
    pub fn township(&self) -> Option<&str> {
        self.0.get(..9)
    }

    /// Whether `other` lies within this division (or is it).
    #[must_use]
    pub fn contains(&self, other: &DivisionCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The code of a child division: `seq` is 1–999.
    #[must_use]
    pub fn child(&self, seq: u16) -> DivisionCode {
        DivisionCode(format!("{}{:03}", self.0, seq))
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DivisionCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DivisionCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct District {
    pub code: DivisionCode,
    pub name: String,
}

/// A street (街道, urban) or a township (乡镇, rural).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Street {
    pub code: DivisionCode,
    pub name: String,
}

/// A community (社区) or village (村): the unit of assignment and of completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Community {
    pub code: DivisionCode,
    pub name: String,
    pub street: DivisionCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_nest() {
        let county = DivisionCode::parse("430503").unwrap();
        let town = county.child(2);
        let village = town.child(15);
        assert_eq!(town.as_str(), "430503002");
        assert_eq!(village.as_str(), "430503002015");
        assert_eq!(village.level(), DivisionLevel::Village);
        assert_eq!(village.township(), Some("430503002"));
        assert!(county.contains(&village) && town.contains(&village));
        assert!(!village.contains(&town));
        assert!(DivisionCode::parse("43050").is_err());
        assert!(DivisionCode::parse("4305030020a5").is_err());
    }
}

/// The order a worker walks a community in: addresses compared with their numbers as numbers
/// ("1栋2号" before "10栋", "11栋9号" before "11栋51号"), the text between them as text.
#[must_use]
pub fn walking_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digits = None;
        for (i, c) in s.char_indices() {
            let d = c.is_ascii_digit();
            if digits.is_some_and(|was| was != d) {
                out.push((digits.unwrap_or(false), &s[start..i]));
                start = i;
            }
            digits = Some(d);
        }
        if let Some(d) = digits {
            out.push((d, &s[start..]));
        }
        out
    }
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(&rb) {
        let ord = match (x, y) {
            ((true, n), (true, m)) => {
                let (n, m) = (n.trim_start_matches('0'), m.trim_start_matches('0'));
                n.len().cmp(&m.len()).then_with(|| n.cmp(m))
            }
            ((_, s), (_, t)) => s.cmp(t),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod walking_tests {
    use super::walking_order;

    #[test]
    fn addresses_sort_in_walking_order() {
        let mut v = vec![
            "新华路10栋1号",
            "新华路1栋2号",
            "新华路11栋51号",
            "新华路11栋9号",
            "新华路2栋",
            "新华路1栋10号",
            "新华路1栋",
            "建设街3号",
        ];
        v.sort_by(|a, b| walking_order(a, b));
        assert_eq!(
            v,
            [
                "建设街3号",
                "新华路1栋",
                "新华路1栋2号",
                "新华路1栋10号",
                "新华路2栋",
                "新华路10栋1号",
                "新华路11栋9号",
                "新华路11栋51号",
            ]
        );
    }
}
