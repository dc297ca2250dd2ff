//! Identity numbers: the resident ID (GB 11643-1999) and the second-generation disability
//! certificate number. Both exist only through their parsing constructors, so an invalid number
//! cannot be held.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::place::DivisionCode;

/// Weights of GB 11643-1999 over the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for `sum mod 11`.
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why a resident ID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("身份证号为空 / resident ID is empty")]
    Empty,
    #[error(
        "身份证号为15位旧号码，请填写18位号码 / resident ID has 15 digits: this is a legacy (first-generation) number; enter the 18-character number"
    )]
    Legacy15,
    #[error("身份证号应为18位，实际{0}位 / resident ID must have 18 characters, found {0}")]
    Length(usize),
    #[error(
        "身份证号第{1}位字符{0:?}无效（只能是数字，末位可为X） / resident ID may hold only digits and a final X, found {0:?} at position {1}"
    )]
    Character(char, usize),
    #[error("身份证号中的出生日期{0}不存在 / resident ID has an impossible birth date {0}")]
    BirthDate(String),
    #[error(
        "身份证号校验位为{found}，应为{expected} / resident ID check character is {found}, the digits require {expected}"
    )]
    Check { found: char, expected: char },
}

/// Sex as encoded in the sequence digit of a resident ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// An 18-character resident ID number (GB 11643-1999), valid by construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId(String);

/// The check character for the first 17 digits of a resident ID.
#[must_use]
pub fn check_char(first17: &str) -> char {
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

impl ResidentId {
    /// Parses and checks a resident ID. Lower-case `x` is accepted and normalised.
    ///
    /// # Errors
    /// Says which rule the number breaks.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = input.trim().to_ascii_uppercase();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Legacy15);
        }
        let n = s.chars().count();
        if n != 18 {
            return Err(IdError::Length(n));
        }
        for (i, c) in s.chars().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && c == 'X');
            if !ok {
                return Err(IdError::Character(c, i + 1));
            }
        }
        let date = &s[6..14];
        let parsed = NaiveDate::parse_from_str(date, "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1880);
        if parsed.is_none() {
            return Err(IdError::BirthDate(date.to_string()));
        }
        let expected = check_char(&s[..17]);
        let found = s.as_bytes()[17] as char;
        if found != expected {
            return Err(IdError::Check { found, expected });
        }
        Ok(Self(s))
    }

    /// Builds a valid ID from its parts (used by the demo generator).
    ///
    /// # Panics
    /// Never for a 6-digit region and `seq < 1000`.
    #[must_use]
    pub fn from_parts(region: &str, birth: NaiveDate, seq: u16) -> Self {
        let first17 = format!("{region}{}{:03}", birth.format("%Y%m%d"), seq % 1000);
        let c = check_char(&first17);
        Self::parse(&format!("{first17}{c}")).expect("constructed ID is valid")
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit region of registration.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.0[..6]
    }

    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked at parse")
    }

    /// Sex from the sequence digit: odd male, even female.
    #[must_use]
    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Age in whole years on `on`.
    #[must_use]
    pub fn age_on(&self, on: NaiveDate) -> u32 {
        age_on(self.birth_date(), on)
    }

    /// The masked form shown where the number is not needed: `430503********1234`.
    #[must_use]
    pub fn masked(&self) -> String {
        mask_id(&self.0)
    }
}

/// Age in whole years on `on` of someone born on `birth`.
#[must_use]
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    u32::try_from(age.max(0)).unwrap_or(0)
}

/// Masks all but the first six and last four characters of an ID-like string.
#[must_use]
pub fn mask_id(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..6].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 10));
    out.extend(&chars[chars.len() - 4..]);
    out
}

impl fmt::Debug for ResidentId {
    // Sensitive: never print the whole number in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ResidentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ResidentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ResidentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Disability category, the 19th character of a certificate number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Category {
    Visual = 1,
    Hearing = 2,
    Speech = 3,
    Physical = 4,
    Intellectual = 5,
    Mental = 6,
    Multiple = 7,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Visual,
        Category::Hearing,
        Category::Speech,
        Category::Physical,
        Category::Intellectual,
        Category::Mental,
        Category::Multiple,
    ];

    #[must_use]
    pub fn from_digit(d: u8) -> Option<Self> {
        Self::ALL.get(usize::from(d).checked_sub(1)?).copied()
    }

    #[must_use]
    pub fn digit(self) -> u8 {
        self as u8
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Category::Visual => "视力",
            Category::Hearing => "听力",
            Category::Speech => "言语",
            Category::Physical => "肢体",
            Category::Intellectual => "智力",
            Category::Mental => "精神",
            Category::Multiple => "多重",
        }
    }

    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Category::Visual => "visual",
            Category::Hearing => "hearing",
            Category::Speech => "speech",
            Category::Physical => "physical",
            Category::Intellectual => "intellectual",
            Category::Mental => "mental",
            Category::Multiple => "multiple",
        }
    }
}

/// Disability level 1–4; level 1 is the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    /// # Errors
    /// A level outside 1–4.
    pub fn new(n: u8) -> Result<Self, CertificateError> {
        if (1..=4).contains(&n) {
            Ok(Self(n))
        } else {
            Err(CertificateError::Level(n))
        }
    }

    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }

    /// Levels 1 and 2 count as severe (重度).
    #[must_use]
    pub fn is_severe(self) -> bool {
        self.0 <= 2
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        ["一级", "二级", "三级", "四级"][usize::from(self.0 - 1)]
    }
}

impl TryFrom<u8> for Level {
    type Error = CertificateError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

/// Why a certificate number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error(
        "残疾证号应为20位（身份证号+类别+等级），实际{0}位 / certificate number must have 20 characters (ID + category + level), found {0}"
    )]
    Length(usize),
    #[error("残疾证号：{0}")]
    Id(#[from] IdError),
    #[error("残疾类别应为1–7，实际为{0:?} / certificate category must be a digit 1–7, found {0:?}")]
    Category(char),
    #[error("残疾等级应为1–4，实际为{0} / certificate level must be 1–4, found {0}")]
    Level(u8),
}

/// A 20-character second-generation disability certificate number, valid by construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateNumber {
    id: ResidentId,
    category: Category,
    level: Level,
}

impl CertificateNumber {
    /// # Errors
    /// Says which part is wrong: length, the embedded ID, the category or the level.
    pub fn parse(input: &str) -> Result<Self, CertificateError> {
        let s = input.trim().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 20 {
            return Err(CertificateError::Length(n));
        }
        let id = ResidentId::parse(&s[..18])?;
        let cat_c = s.as_bytes()[18] as char;
        let category = cat_c
            .to_digit(10)
            .and_then(|d| Category::from_digit(u8::try_from(d).ok()?))
            .ok_or(CertificateError::Category(cat_c))?;
        let lvl_c = s.as_bytes()[19] as char;
        let level = match lvl_c.to_digit(10) {
            Some(d) => Level::new(u8::try_from(d).unwrap_or(0))?,
            None => return Err(CertificateError::Level(0)),
        };
        Ok(Self {
            id,
            category,
            level,
        })
    }

    #[must_use]
    pub fn new(id: ResidentId, category: Category, level: Level) -> Self {
        Self {
            id,
            category,
            level,
        }
    }

    #[must_use]
    pub fn resident_id(&self) -> &ResidentId {
        &self.id
    }
    #[must_use]
    pub fn category(&self) -> Category {
        self.category
    }
    #[must_use]
    pub fn level(&self) -> Level {
        self.level
    }
    #[must_use]
    pub fn masked(&self) -> String {
        mask_id(&self.to_string())
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.id, self.category.digit(), self.level.0)
    }
}

impl fmt::Debug for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateNumber({})", self.masked())
    }
}

impl Serialize for CertificateNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CertificateNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Checks that a certificate's ID was registered in a place: used when importing rosters.
#[must_use]
pub fn registered_in(id: &ResidentId, county: &DivisionCode) -> bool {
    id.region() == county.county()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 11010519491231002X is the standard's own worked example.
    const STD_EXAMPLE: &str = "11010519491231002X";

    #[test]
    fn accepts_the_standards_example_and_reads_its_parts() {
        let id = ResidentId::parse(STD_EXAMPLE).unwrap();
        assert_eq!(id.region(), "110105");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(ResidentId::parse("11010519491231002x").unwrap(), id);
    }

    #[test]
    fn refuses_a_wrong_check_character() {
        assert_eq!(
            ResidentId::parse("110105194912310021"),
            Err(IdError::Check {
                found: '1',
                expected: 'X'
            })
        );
    }

    #[test]
    fn refuses_an_impossible_date() {
        let first17 = "43050319990230123";
        let id = format!("{first17}{}", check_char(first17));
        assert_eq!(
            ResidentId::parse(&id),
            Err(IdError::BirthDate("19990230".into()))
        );
    }

    #[test]
    fn refuses_a_legacy_15_digit_number_with_advice() {
        let e = ResidentId::parse("430503491231002").unwrap_err();
        assert_eq!(e, IdError::Legacy15);
        assert!(e.to_string().contains("18-character"));
    }

    #[test]
    fn refuses_letters_and_wrong_lengths() {
        assert_eq!(
            ResidentId::parse("1101051949123100AX"),
            Err(IdError::Character('A', 17))
        );
        assert_eq!(ResidentId::parse("123"), Err(IdError::Length(3)));
        assert_eq!(ResidentId::parse("  "), Err(IdError::Empty));
    }

    #[test]
    fn age_counts_whole_years() {
        let id =
            ResidentId::from_parts("430503", NaiveDate::from_ymd_opt(2010, 6, 15).unwrap(), 11);
        assert_eq!(id.age_on(NaiveDate::from_ymd_opt(2021, 6, 14).unwrap()), 10);
        assert_eq!(id.age_on(NaiveDate::from_ymd_opt(2021, 6, 15).unwrap()), 11);
        assert_eq!(id.sex(), Sex::Male);
    }

    #[test]
    fn certificate_numbers() {
        let c = CertificateNumber::parse(&format!("{STD_EXAMPLE}42")).unwrap();
        assert_eq!(c.category(), Category::Physical);
        assert_eq!(c.level().get(), 2);
        assert!(c.level().is_severe());
        assert_eq!(c.to_string(), format!("{STD_EXAMPLE}42"));
        assert_eq!(
            CertificateNumber::parse(&format!("{STD_EXAMPLE}02")),
            Err(CertificateError::Category('0'))
        );
        assert_eq!(
            CertificateNumber::parse(&format!("{STD_EXAMPLE}82")),
            Err(CertificateError::Category('8'))
        );
        assert_eq!(
            CertificateNumber::parse(&format!("{STD_EXAMPLE}45")),
            Err(CertificateError::Level(5))
        );
        assert_eq!(
            CertificateNumber::parse(&format!("{STD_EXAMPLE}4")),
            Err(CertificateError::Length(19))
        );
        assert!(matches!(
            CertificateNumber::parse("1101051949123100214"),
            Err(CertificateError::Length(19))
        ));
        assert!(matches!(
            CertificateNumber::parse("11010519491231002142"),
            Err(CertificateError::Id(IdError::Check { .. }))
        ));
    }

    #[test]
    fn serde_round_trip_checks() {
        let id: ResidentId = serde_json::from_str(&format!("\"{STD_EXAMPLE}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{STD_EXAMPLE}\"")
        );
        assert!(serde_json::from_str::<ResidentId>("\"110105194912310021\"").is_err());
    }
}
