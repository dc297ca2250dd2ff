//! The demo: a fresh database with the demo district, an open campaign, and demo accounts.

use chrono::Datelike;

use doorstep_shared::demo;
use doorstep_shared::form::FormDefinition;
use doorstep_shared::sync::Role;

use crate::service::accounts::hash_password;
use crate::state::AppState;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "doorstep2021";

/// One demo login.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub role: Role,
    pub what: String,
}

/// The setting that marks a database as the demo's (its value is the seed).
pub const DEMO_SETTING: &str = "demo_seed";

/// Loads the demo district into an empty database: places, the 2021 campaign and form, the
/// roster, an admin, one supervisor per street, and a worker for every three communities.
/// `workers_limit` caps how many workers get accounts (all communities are assigned).
///
/// # Errors
/// A database error.
pub async fn seed_demo(state: &AppState, seed: u64) -> anyhow::Result<Vec<Login>> {
    seed_demo_sized(
        state,
        seed,
        demo::DEFAULT_PERSONS,
        demo::DEFAULT_COMMUNITIES,
    )
    .await
}

/// [`seed_demo`] with a district of about `persons` persons in `communities` communities (the
/// upgrade fixture's tiny district).
///
/// # Errors
/// A database error.
pub async fn seed_demo_sized(
    state: &AppState,
    seed: u64,
    persons: usize,
    communities: usize,
) -> anyhow::Result<Vec<Login>> {
    let db = &state.db;
    // Marked first: a database holding the demo may be reset by `demo --reset`, no other.
    db.set_setting(DEMO_SETTING, &seed.to_string()).await?;
    let form = FormDefinition::dynamic_update_2021();
    let district_code = doorstep_shared::DivisionCode::parse("430503")?;
    // The demo campaign is under way: it opened three weeks ago and closes in ten weeks, so the
    // console's expected-by-today line and burn-up chart have something to say.
    let today = chrono::Utc::now().date_naive();
    let year = today.year();
    let district_name = demo::generate_sized(seed, uuid::Uuid::nil(), 1, 1)
        .district
        .name;
    let (campaign, _) = db
        .open_campaign(
            &crate::db::NewCampaign {
                district: district_code.clone(),
                year,
                title: doorstep_shared::domain::default_campaign_title(year, &district_name),
                district_name,
                starts: today - chrono::Duration::days(21),
                ends: today + chrono::Duration::days(70),
                home_visit_target_bp: 9500,
                review_levels: doorstep_shared::review::Levels::default(),
                // The demo's keys are derived, as the demo generator makes them: its roster is
                // public; a district's campaign gets a secret.
                person_keys: doorstep_shared::PersonKeys::Derived,
            },
            &form,
            None,
            &|c, _| {
                crate::db::audit::Entry::by(
                    "demo",
                    "open_campaign",
                    &format!("{} {}", c.year, c.id),
                )
            },
        )
        .await?;
    let d = demo::generate_sized(seed, campaign.id, persons, communities);
    db.put_places(&d.district, &d.streets, &d.communities)
        .await?;
    let entries = crate::roster::entries_from_demo(&d);
    let persons: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.to_person(campaign.id, &doorstep_shared::PersonKeys::Derived),
                e.street_name.clone(),
                e.community_name.clone(),
            )
        })
        .collect();
    db.import_persons(&campaign, &persons, &|_, _| {}, &|o| {
        crate::db::audit::Entry::by("demo", "import_roster", &format!("{} rows", o.imported))
    })
    .await?;

    let hash = hash_password(DEMO_PASSWORD);
    let mut logins = Vec::new();
    let created = |name: &str, role: Role| {
        crate::db::audit::Entry::by("demo", "user_created", &format!("{name} {}", role.key()))
    };
    db.create_user(
        "admin",
        "区残联管理员",
        Role::Admin,
        None,
        &hash,
        &created("admin", Role::Admin),
    )
    .await?;
    logins.push(Login {
        username: "admin".into(),
        role: Role::Admin,
        what: format!("{} (district admin)", d.district.name),
    });
    for (i, s) in d.streets.iter().enumerate() {
        let name = format!("sup{:02}", i + 1);
        db.create_user(
            &name,
            &format!("{}专干", s.name),
            Role::Supervisor,
            Some(&s.code),
            &hash,
            &created(&name, Role::Supervisor),
        )
        .await?;
        logins.push(Login {
            username: name,
            role: Role::Supervisor,
            what: s.name.clone(),
        });
    }
    let cid = campaign.id.to_string();
    for (i, chunk) in d.communities.chunks(3).enumerate() {
        let name = format!("w{:03}", i + 1);
        db.create_user(
            &name,
            &format!("社区专干{}", i + 1),
            Role::Worker,
            None,
            &hash,
            &created(&name, Role::Worker),
        )
        .await?;
        for c in chunk {
            db.assign(&cid, &c.code, &name).await?;
        }
        logins.push(Login {
            username: name,
            role: Role::Worker,
            what: chunk
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join("、"),
        });
    }
    Ok(logins)
}
