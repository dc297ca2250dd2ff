//! Every code an API error or a refused mutation carries: stable, machine-readable, and the same
//! type on the server (which sends them) and the app (which acts on some of them). On the wire a
//! code is its snake_case text (`device_revoked`); the messages beside it are in both languages.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// A stable error code (see the module docs).
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
            /// A code this build does not know (a newer server's), kept as sent: shown, never
            /// acted on.
            Other(String),
        }

        impl ErrorCode {
            /// Every code a server of this build may send.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code's text on the wire.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(text) => text,
                }
            }

            /// The code of a text; an unknown text is [`ErrorCode::Other`].
            #[must_use]
            pub fn parse(s: &str) -> Self {
                match s {
                    $($text => ErrorCode::$variant,)*
                    _ => ErrorCode::Other(s.to_string()),
                }
            }
        }
    };
}

codes! {
    // Sessions and sign-in.
    /// No bearer token (or console cookie) on a request that needs one.
    MissingToken = "missing_token",
    /// The token is unknown (signed out, purged, or never issued).
    InvalidToken = "invalid_token",
    TokenExpired = "token_expired",
    /// The admin revoked this device: the app stops syncing and says so.
    DeviceRevoked = "device_revoked",
    AccountDisabled = "account_disabled",
    /// A wrong user name or password (the same answer for both).
    InvalidCredentials = "invalid_credentials",
    /// The current password given to change it is wrong.
    BadCredentials = "bad_credentials",
    /// Too many failed sign-ins: locked for a while, or until an admin lifts it.
    TooManyAttempts = "too_many_attempts",
    WeakPassword = "weak_password",
    InvalidUser = "invalid_user",
    UserExists = "user_exists",
    NoSuchUser = "no_such_user",
    /// The last active admin cannot be deactivated.
    LastAdmin = "last_admin",
    NoAdmin = "no_admin",

    // Requests.
    BadJson = "bad_json",
    BadQuery = "bad_query",
    BadPath = "bad_path",
    BadContentType = "bad_content_type",
    /// A request body compressed other than with gzip or zstd.
    BadContentEncoding = "bad_content_encoding",
    BadCursor = "bad_cursor",
    InvalidBody = "invalid_body",
    TooLarge = "too_large",
    /// The app speaks another sync protocol version.
    ProtocolVersion = "protocol_version",
    /// A push names the batch before it (`PushRequest::after`), and that batch is not the
    /// device's last applied one: nothing of it was applied; the device sends it again once
    /// the batch before is answered.
    PreviousBatchMissing = "previous_batch_missing",
    Forbidden = "forbidden",
    NotFound = "not_found",
    Internal = "internal",
    /// A value a rule refuses (the message says which).
    Invalid = "invalid",
    InvalidValue = "invalid_value",

    // A pushed mutation, refused (`MutationResult::code`).
    /// The person is unknown, or not in the pusher's communities (the same answer for both).
    OutOfScope = "out_of_scope",
    /// The person belongs to a campaign the server does not hold.
    OtherCampaign = "other_campaign",
    /// The record's campaign was closed by the admin.
    CampaignClosed = "campaign_closed",
    /// The mutation's ID was already used for other content or by another user.
    MutationIdReused = "mutation_id_reused",
    /// The record is approved (or under district review): locked for workers.
    RecordApproved = "record_approved",
    /// A value the form refuses (per-item reasons in `errors`).
    InvalidItem = "invalid_item",
    /// A record left final is not complete by the form (per-item reasons in `errors`).
    Incomplete = "incomplete",

    // Campaigns and the roster.
    NoCampaign = "no_campaign",
    NoSuchCampaign = "no_such_campaign",
    CampaignExists = "campaign_exists",
    NoSuchForm = "no_such_form",
    InvalidYear = "invalid_year",
    BadYear = "bad_year",
    InvalidDates = "invalid_dates",
    InvalidTitle = "invalid_title",
    InvalidDistrict = "invalid_district",
    InvalidDistrictName = "invalid_district_name",
    InvalidReviewLevels = "invalid_review_levels",
    InvalidCommunity = "invalid_community",
    InvalidArea = "invalid_area",
    BadArea = "bad_area",
    CountyRequired = "county_required",
    OtherDistrict = "other_district",
    /// A roster file with bad rows (every bad row named) or unreadable.
    RosterInvalid = "roster_invalid",
    UnknownPerson = "unknown_person",
    NoSuchPerson = "no_such_person",
    NotFlagged = "not_flagged",
    ReasonRequired = "reason_required",
    NotInScope = "not_in_scope",

    // Review, sampling, follow-up, hand-over, analysis.
    NotFinal = "not_final",
    NotSampled = "not_sampled",
    NotACase = "not_a_case",
    NoteTooLong = "note_too_long",
    InvalidOutcome = "invalid_outcome",
    InvalidRate = "invalid_rate",
    InvalidTarget = "invalid_target",
    InvalidThreshold = "invalid_threshold",
    InvalidFrom = "invalid_from",
    NoSuchList = "no_such_list",
    /// No CJK font to write the checklist PDF with.
    NoFont = "no_font",
    // A review step refused (`shared/src/review.rs`), an analysis filter refused.
    AboveLevel = "above_level",
    CheckerRequired = "checker_required",
    CommentRequired = "comment_required",
    CommentTooLong = "comment_too_long",
    ConfirmedWithDifferences = "confirmed_with_differences",
    DifferencesRequired = "differences_required",
    LevelOff = "level_off",
    NotReached = "not_reached",
    NotSubmitted = "not_submitted",
    NotesOnApproval = "notes_on_approval",
    UnknownItem = "unknown_item",
    BadAge = "bad_age",
    BadCategory = "bad_category",
    BadDevice = "bad_device",
    BadLevel = "bad_level",
    BadPlace = "bad_place",
    BadSex = "bad_sex",
    PlaceOutsideArea = "place_outside_area",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_unknown_ones_are_other() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(&ErrorCode::parse(c.as_str()), c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), c);
        }
        let newer = serde_json::from_str::<ErrorCode>("\"from_a_newer_server\"").unwrap();
        assert_eq!(newer, ErrorCode::Other("from_a_newer_server".into()));
        assert_eq!(newer.as_str(), "from_a_newer_server");
    }
}
