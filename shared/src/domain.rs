//! The campaign, the roster person, the seven outcomes, and the life of a survey record.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{self, Category, CertificateNumber, Level, ResidentId, Sex};
use crate::place::DivisionCode;
use crate::value::{Answers, Value};

/// Item key holding the outcome in a record's answers.
pub const OUTCOME: &str = "outcome";
/// Item key holding the record's status (`draft` or `final`) in its answers.
pub const STATUS: &str = "status";
/// Item key holding where and when a home visit happened.
pub const VISIT_GEO: &str = "visit_geo";
pub const VISIT_AT: &str = "visit_at";

/// Every person ends the campaign with exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    HomeVisit,
    Phone,
    NotFound,
    Moved,
    RegisteredOnly,
    Away,
    Deregistered,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::HomeVisit,
        Outcome::Phone,
        Outcome::NotFound,
        Outcome::Moved,
        Outcome::RegisteredOnly,
        Outcome::Away,
        Outcome::Deregistered,
    ];

    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Outcome::HomeVisit => "home_visit",
            Outcome::Phone => "phone",
            Outcome::NotFound => "not_found",
            Outcome::Moved => "moved",
            Outcome::RegisteredOnly => "registered_only",
            Outcome::Away => "away",
            Outcome::Deregistered => "deregistered",
        }
    }

    #[must_use]
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.key() == key)
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Outcome::HomeVisit => "入户调查",
            Outcome::Phone => "电话调查",
            Outcome::NotFound => "查无此人",
            Outcome::Moved => "已搬迁",
            Outcome::RegisteredOnly => "空挂户",
            Outcome::Away => "外出",
            Outcome::Deregistered => "注销",
        }
    }

    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Outcome::HomeVisit => "Home visit",
            Outcome::Phone => "Phone survey",
            Outcome::NotFound => "Not found",
            Outcome::Moved => "Moved away",
            Outcome::RegisteredOnly => "Registered only",
            Outcome::Away => "Temporarily away",
            Outcome::Deregistered => "Deregistered",
        }
    }

    /// Whether this outcome carries the questionnaire.
    #[must_use]
    pub fn has_questionnaire(self) -> bool {
        matches!(self, Outcome::HomeVisit | Outcome::Phone)
    }

    /// Position in [`Outcome::ALL`], for count arrays.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A district's survey for one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Campaign {
    pub id: Uuid,
    pub district: DivisionCode,
    /// The district's name, given when the campaign is opened (大祥区).
    #[serde(default)]
    pub district_name: String,
    pub year: i32,
    pub name: String,
    pub starts: NaiveDate,
    pub ends: NaiveDate,
    pub form_version: String,
}

/// The one time-zone rule: a campaign's times are recorded and shown in China Standard Time
/// (UTC+8 all year, the zone of every district: Asia/Shanghai), whatever the phone's or the
/// server's own zone. The visit time, the app's sync times, the console and the exports all
/// follow it.
#[must_use]
pub fn campaign_zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("UTC+8 is a valid offset"))
}

/// An instant in the campaign's zone.
#[must_use]
pub fn campaign_time(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&campaign_zone())
}

/// The visit time as the questionnaire records it (`YYYY-MM-DD HH:MM`, campaign time).
#[must_use]
pub fn visit_time_label(t: DateTime<Utc>) -> String {
    campaign_time(t).format("%Y-%m-%d %H:%M").to_string()
}

impl Campaign {
    /// The day used to compute ages for relevance rules (the campaign's start).
    #[must_use]
    pub fn reference_date(&self) -> NaiveDate {
        self.starts
    }
}

/// Where a campaign stands (see `docs/campaigns.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CampaignState {
    /// The year under way: pulls and pushes (at most one campaign is open).
    Open,
    /// Closed because the next year opened: phones may still deliver edits of its records,
    /// which are accepted and marked late.
    Late,
    /// Closed for good: read only; a push of its records is refused with `campaign_closed`.
    Closed,
}

impl CampaignState {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            CampaignState::Open => "open",
            CampaignState::Late => "late",
            CampaignState::Closed => "closed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(CampaignState::Open),
            "late" => Some(CampaignState::Late),
            "closed" => Some(CampaignState::Closed),
            _ => None,
        }
    }

    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            CampaignState::Open => "进行中",
            CampaignState::Late => "已结束（接收补交）",
            CampaignState::Closed => "已关闭",
        }
    }

    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            CampaignState::Open => "open",
            CampaignState::Late => "ended, late edits accepted",
            CampaignState::Closed => "closed",
        }
    }
}

/// The default title of a campaign: `2021年大祥区残疾人基本服务状况和需求信息数据动态更新`.
#[must_use]
pub fn default_campaign_title(year: i32, district_name: &str) -> String {
    format!("{year}年{district_name}残疾人基本服务状况和需求信息数据动态更新")
}

/// The default survey window of a year: March 1 to November 30.
#[must_use]
pub fn default_survey_window(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        NaiveDate::from_ymd_opt(year, 3, 1)?,
        NaiveDate::from_ymd_opt(year, 11, 30)?,
    ))
}

/// One certified person on the roster (调查底册).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    /// Stable within a campaign: derived from the campaign and the resident ID.
    pub id: Uuid,
    pub name: String,
    pub resident_id: ResidentId,
    pub certificate: CertificateNumber,
    pub community: DivisionCode,
    pub address: String,
    pub phone: String,
    /// Receives the 重度残疾人护理补贴 nursing subsidy.
    pub nursing_subsidy: bool,
    /// Receives the 困难残疾人生活补贴 living subsidy.
    pub living_subsidy: bool,
}

impl Person {
    /// What the person's numbers say about them.
    #[must_use]
    pub fn facts(&self) -> PersonFacts {
        PersonFacts::from(&self.certificate)
    }

    /// The person as shown with `numbers` whole or masked.
    #[must_use]
    pub fn shown(&self, numbers: Numbers) -> ShownPerson {
        let (resident_id, certificate) = match numbers {
            Numbers::Whole => (self.resident_id.to_string(), self.certificate.to_string()),
            Numbers::Masked => (self.resident_id.masked(), self.certificate.masked()),
        };
        ShownPerson {
            id: self.id,
            name: self.name.clone(),
            resident_id,
            certificate,
            masked: numbers == Numbers::Masked,
            facts: self.facts(),
            community: self.community.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            nursing_subsidy: self.nursing_subsidy,
            living_subsidy: self.living_subsidy,
        }
    }
}

/// What a person's certificate number (and the resident ID inside it) says about them: all
/// that the questionnaire's conditions, the checks and the analysis read. It travels beside
/// masked numbers, so a device that never sees the whole numbers still runs the questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonFacts {
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub category: Category,
    /// 1–4, 1 the most severe.
    #[cfg_attr(feature = "openapi", schema(value_type = u8, minimum = 1, maximum = 4))]
    pub level: Level,
}

impl PersonFacts {
    /// Age in whole years on `on`.
    #[must_use]
    pub fn age_on(&self, on: NaiveDate) -> u32 {
        ids::age_on(self.birth_date, on)
    }
}

impl From<&CertificateNumber> for PersonFacts {
    fn from(c: &CertificateNumber) -> Self {
        let id = c.resident_id();
        Self {
            birth_date: id.birth_date(),
            sex: id.sex(),
            category: c.category(),
            level: c.level(),
        }
    }
}

/// What a questionnaire reads of the person it is about: the facts their numbers carry and the
/// phone the roster knows (offered to confirm).
pub trait Respondent {
    fn facts(&self) -> PersonFacts;
    fn phone(&self) -> &str;
}

impl Respondent for Person {
    fn facts(&self) -> PersonFacts {
        Person::facts(self)
    }
    fn phone(&self) -> &str {
        &self.phone
    }
}

impl Respondent for ShownPerson {
    fn facts(&self) -> PersonFacts {
        self.facts
    }
    fn phone(&self) -> &str {
        &self.phone
    }
}

impl From<&Person> for PersonFacts {
    fn from(p: &Person) -> Self {
        p.facts()
    }
}

impl From<&ShownPerson> for PersonFacts {
    fn from(p: &ShownPerson) -> Self {
        p.facts
    }
}

impl From<CertificateNumber> for PersonFacts {
    fn from(c: CertificateNumber) -> Self {
        Self::from(&c)
    }
}

/// Whether a person's ID and certificate numbers are shown whole or masked (`430503********1234`:
/// the region and the last four characters). Who sees which is the role's rule
/// ([`crate::sync::Role::device_numbers`]; docs/security.md "Who sees whole numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    Whole,
    Masked,
}

/// A roster person as a device (or a record view) holds them: the [`Person`] with its ID and
/// certificate numbers whole or masked, and the [`PersonFacts`] those numbers carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShownPersonJson")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShownPerson {
    pub id: Uuid,
    pub name: String,
    /// The resident ID, whole or masked (see `masked`).
    pub resident_id: String,
    /// The certificate number, whole or masked (see `masked`).
    pub certificate: String,
    /// The two numbers are masked.
    #[serde(default)]
    pub masked: bool,
    pub facts: PersonFacts,
    pub community: DivisionCode,
    pub address: String,
    pub phone: String,
    /// Receives the 重度残疾人护理补贴 nursing subsidy.
    pub nursing_subsidy: bool,
    /// Receives the 困难残疾人生活补贴 living subsidy.
    pub living_subsidy: bool,
}

impl ShownPerson {
    /// The resident ID as shown where the whole number is not needed.
    #[must_use]
    pub fn masked_id(&self) -> String {
        if self.masked {
            self.resident_id.clone()
        } else {
            ids::mask_id(&self.resident_id)
        }
    }

    /// The certificate number as shown where the whole number is not needed.
    #[must_use]
    pub fn masked_certificate(&self) -> String {
        if self.masked {
            self.certificate.clone()
        } else {
            ids::mask_id(&self.certificate)
        }
    }
}

/// How a [`ShownPerson`] is read: whole numbers are checked, and a person stored before the
/// facts travelled (a phone's store from an earlier version) gets them from its whole numbers.
#[derive(Deserialize)]
struct ShownPersonJson {
    id: Uuid,
    name: String,
    resident_id: String,
    certificate: String,
    #[serde(default)]
    masked: bool,
    facts: Option<PersonFacts>,
    community: DivisionCode,
    address: String,
    phone: String,
    nursing_subsidy: bool,
    living_subsidy: bool,
}

impl TryFrom<ShownPersonJson> for ShownPerson {
    type Error = String;
    fn try_from(j: ShownPersonJson) -> Result<Self, String> {
        let facts = if j.masked {
            j.facts
                .ok_or("masked numbers come with their facts / 遮蔽的证号须附带其信息")?
        } else {
            ResidentId::parse(&j.resident_id).map_err(|e| e.to_string())?;
            let c = CertificateNumber::parse(&j.certificate).map_err(|e| e.to_string())?;
            let facts = PersonFacts::from(&c);
            if j.facts.is_some_and(|f| f != facts) {
                return Err("facts differ from the certificate number / 信息与残疾证号不符".into());
            }
            facts
        };
        Ok(Self {
            id: j.id,
            name: j.name,
            resident_id: j.resident_id,
            certificate: j.certificate,
            masked: j.masked,
            facts,
            community: j.community,
            address: j.address,
            phone: j.phone,
            nursing_subsidy: j.nursing_subsidy,
            living_subsidy: j.living_subsidy,
        })
    }
}

/// Namespace for derived person keys: `uuid5(NS, campaign || resident ID)`.
const PERSON_NS: Uuid = Uuid::from_u128(0x6c1e_4a0e_2f0b_4b57_9d3e_0d00_2573_0001);

/// How a campaign turns resident IDs into person keys. A key is stable within a campaign
/// (re-importing a roster finds the same person), and a new campaign gives everyone new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonKeys {
    /// `uuid5(NS, campaign || ID)`: anyone who knows the campaign's ID and an ID number can
    /// compute the key. Campaigns opened before the secret existed, and the demo district (whose
    /// roster is public anyway).
    Derived,
    /// `uuid5(secret, ID)` with 122 random bits the server keeps and never sends: a key says
    /// nothing about whose it is, and nobody can compute one from an ID number.
    Secret(Uuid),
}

impl PersonKeys {
    /// A fresh secret (from the operating system's random source).
    #[must_use]
    pub fn random() -> Self {
        Self::Secret(Uuid::new_v4())
    }

    /// The key of a resident in `campaign`.
    #[must_use]
    pub fn key(&self, campaign: Uuid, id: &ResidentId) -> Uuid {
        match self {
            Self::Derived => {
                let mut name = campaign.as_bytes().to_vec();
                name.extend_from_slice(id.as_str().as_bytes());
                Uuid::new_v5(&PERSON_NS, &name)
            }
            Self::Secret(secret) => Uuid::new_v5(secret, id.as_str().as_bytes()),
        }
    }

    /// As stored: `None` for [`PersonKeys::Derived`], the secret's text otherwise.
    #[must_use]
    pub fn stored(&self) -> Option<String> {
        match self {
            Self::Derived => None,
            Self::Secret(s) => Some(s.to_string()),
        }
    }

    /// From [`PersonKeys::stored`].
    ///
    /// # Errors
    /// A stored secret that is not a UUID.
    pub fn from_stored(s: Option<&str>) -> Result<Self, uuid::Error> {
        s.map_or(Ok(Self::Derived), |s| Ok(Self::Secret(Uuid::parse_str(s)?)))
    }
}

/// The status item of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    Draft,
    Final,
}

impl Status {
    /// The value of the `status` item: `"draft"` or `"final"`.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Final => "final",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Status::Draft),
            "final" => Some(Status::Final),
            _ => None,
        }
    }

    /// The answer that sets the `status` item.
    #[must_use]
    pub fn value(self) -> Value {
        Value::text(self.key())
    }
}

/// Where a record stands in the review chain (docs/review.md; the rules in [`crate::review`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Review {
    /// Submitted and waiting for the first level (a draft has it too).
    #[default]
    Pending,
    /// Approved by the street, waiting for the district.
    StreetApproved,
    /// Approved at the campaign's last level: final and locked.
    Approved,
    /// Returned to the worker with a comment.
    Returned,
}

impl Review {
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Review::Pending => "pending",
            Review::StreetApproved => "street_approved",
            Review::Approved => "approved",
            Review::Returned => "returned",
        }
    }
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Review::Pending),
            "street_approved" => Some(Review::StreetApproved),
            "approved" => Some(Review::Approved),
            "returned" => Some(Review::Returned),
            _ => None,
        }
    }
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Review::Pending => "待审核",
            Review::StreetApproved => "街道已复查",
            Review::Approved => "已通过",
            Review::Returned => "已退回",
        }
    }
    #[must_use]
    pub fn label_en(self) -> &'static str {
        match self {
            Review::Pending => "Pending",
            Review::StreetApproved => "Street-approved",
            Review::Approved => "Approved",
            Review::Returned => "Returned",
        }
    }
}

/// The outcome recorded in answers, if any.
#[must_use]
pub fn outcome_of(answers: &Answers) -> Option<Outcome> {
    answers.get(OUTCOME)?.as_text().and_then(Outcome::parse)
}

/// The status recorded in answers (draft when absent).
#[must_use]
pub fn status_of(answers: &Answers) -> Status {
    match answers.get(STATUS) {
        Some(Value::Text(s)) if Status::parse(s) == Some(Status::Final) => Status::Final,
        _ => Status::Draft,
    }
}

/// The rule for "this person has a final outcome": the record is finalized, carries an outcome,
/// and has not been returned by a supervisor. Progress counts exactly these.
#[must_use]
pub fn final_outcome(answers: &Answers, review: Review) -> Option<Outcome> {
    if status_of(answers) == Status::Final && review != Review::Returned {
        outcome_of(answers)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_keys_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.key()), Some(o));
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.key())
            );
        }
        assert_eq!(
            Outcome::ALL
                .iter()
                .filter(|o| o.has_questionnaire())
                .count(),
            2
        );
    }

    #[test]
    fn final_outcome_needs_final_status_and_no_return() {
        let mut a = Answers::new();
        a.insert(OUTCOME.into(), Value::text("phone"));
        assert_eq!(final_outcome(&a, Review::Pending), None);
        a.insert(STATUS.into(), Value::text("final"));
        assert_eq!(final_outcome(&a, Review::Pending), Some(Outcome::Phone));
        assert_eq!(final_outcome(&a, Review::Approved), Some(Outcome::Phone));
        assert_eq!(final_outcome(&a, Review::Returned), None);
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn times_are_china_time_whatever_the_device_zone() {
        let t = DateTime::parse_from_rfc3339("2021-06-01T07:40:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(visit_time_label(t), "2021-06-01 15:40");
        let late = DateTime::parse_from_rfc3339("2021-06-01T16:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(visit_time_label(late), "2021-06-02 00:30");
    }
}

#[cfg(test)]
mod person_key_tests {
    use super::*;

    #[test]
    fn secret_keys_are_stable_per_campaign_and_not_derivable() {
        let id = crate::demo::generate_sized(1, Uuid::nil(), 1, 1).persons[0]
            .resident_id
            .clone();
        let campaign = Uuid::from_u128(7);
        let a = PersonKeys::random();
        let b = PersonKeys::random();
        assert_eq!(a.key(campaign, &id), a.key(campaign, &id), "stable");
        assert_ne!(
            a.key(campaign, &id),
            b.key(campaign, &id),
            "another secret, another key"
        );
        assert_ne!(a.key(campaign, &id), PersonKeys::Derived.key(campaign, &id));
        assert_eq!(PersonKeys::from_stored(a.stored().as_deref()).unwrap(), a);
        assert_eq!(PersonKeys::from_stored(None).unwrap(), PersonKeys::Derived);
        assert!(PersonKeys::from_stored(Some("nonsense")).is_err());
    }
}
