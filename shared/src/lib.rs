//! Doorstep's pure domain, shared by the server and the app: no IO lives here.
//!
//! - [`place`]: division codes and the district → street → community tree;
//! - [`ids`]: resident IDs and certificate numbers, valid by construction;
//! - [`domain`]: campaign, roster person, the seven outcomes, a record's status and review;
//! - [`value`]: the value of one questionnaire item;
//! - [`form`]: the questionnaire as data, relevance and validation;
//! - [`progress`]: completion, home-visit and APP figures from integer counts;
//! - [`sync`]: the sync wire types (protocol version, mutations, pull pages);
//! - [`merge`]: the item-by-item three-way merge and the conflict rule;
//! - [`analysis`]: the needs and services analysis: tallies, eligibility rules, action lists;
//! - [`carry`]: the year-over-year update: prior values and the per-item diff;
//! - [`official`]: the national form's item numbers and codes, the coded hand-over row;
//! - [`review`]: the review chain: levels, approvals and returns, sampling, follow-up cases;
//! - [`checks`]: the form's soft consistency checks (warnings);
//! - [`hlc`]: the hybrid logical clock;
//! - [`lang`]: the UI language (Chinese or English) and the label of each domain value in it;
//! - [`demo`]: the deterministic demo district.

pub mod analysis;
pub mod carry;
pub mod checks;
pub mod demo;
pub mod domain;
pub mod errors;
pub mod form;
pub mod hlc;
pub mod ids;
pub mod lang;
pub mod merge;
pub mod official;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod place;
pub mod progress;
pub mod review;
pub mod sync;
pub mod value;

pub use domain::{
    Campaign, CampaignState, Numbers, Outcome, Person, PersonFacts, PersonKeys, Review,
    ShownPerson, Status,
};
pub use ids::{CertificateNumber, ResidentId};
pub use place::DivisionCode;
pub use value::{Answers, Value};
