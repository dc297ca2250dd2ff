//! The `doorstep-server` command line: serve, load the demo, import a roster, manage accounts.

use std::path::{Path, PathBuf};

use crate::service::{Who, campaigns, roster};
use crate::state::AppState;
use crate::{Config, build, seed};
use anyhow::Context;
use clap::{Parser, Subcommand};
use doorstep_shared::DivisionCode;
use doorstep_shared::sync::Role;

#[derive(Parser)]
#[command(
    name = "doorstep-server",
    version,
    about = "Doorstep sync and progress server"
)]
pub struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Default: SQLite in the data directory.
    #[arg(long, env = "DOORSTEP_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Where the embedded SQLite database lives.
    #[arg(long, env = "DOORSTEP_DATA_DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    /// Mark the console's session cookie `Secure`: set it when the server is reached over https
    /// (behind a TLS proxy).
    #[arg(long, env = "DOORSTEP_SECURE_COOKIES", global = true)]
    secure_cookies: bool,
    /// The address of a reverse proxy in front of the server (repeat, or comma-separated in the
    /// variable): for requests from it, the caller's address is taken from `X-Forwarded-For`
    /// (for the sign-in throttle and the audit trail). Without it the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "DOORSTEP_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Log lines as `human` text or one `json` object per line (on stderr; the level with
    /// RUST_LOG, default doorstep_server=info,tower_http=warn).
    #[arg(
        long,
        env = "DOORSTEP_LOG_FORMAT",
        value_enum,
        default_value = "human",
        global = true
    )]
    log_format: crate::logs::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the console.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Start afresh with the demo district, an open campaign and demo accounts, then serve.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Seed of the demo district.
        #[arg(long, default_value_t = 2021)]
        seed: u64,
        /// Only load the demo; do not serve.
        #[arg(long)]
        no_serve: bool,
        /// Start the demo afresh. Only ever deletes a database that holds the demo.
        #[arg(long)]
        reset: bool,
    },
    /// Open the year's campaign (the first admin account must exist: add-user --role admin).
    OpenCampaign {
        /// The district's 6-digit division code, e.g. 430503.
        #[arg(long)]
        district: String,
        /// The district's name, e.g. 大祥区.
        #[arg(long)]
        district_name: String,
        #[arg(long)]
        year: i32,
        /// Default: "{year}年{district name}残疾人基本服务状况和需求信息数据动态更新".
        #[arg(long)]
        title: Option<String>,
        /// First day (YYYY-MM-DD); default March 1 of the year.
        #[arg(long)]
        starts: Option<chrono::NaiveDate>,
        /// Last day (YYYY-MM-DD); default November 30 of the year.
        #[arg(long)]
        ends: Option<chrono::NaiveDate>,
        /// Home-visit target in percent; default 95.
        #[arg(long)]
        home_visit_target: Option<f64>,
        /// Carry the roster and last year's answers over from this year.
        #[arg(long)]
        from: Option<i32>,
        /// Review levels: street (default), street,district, or district (docs/review.md).
        #[arg(long)]
        review_levels: Option<String>,
    },
    /// List the campaigns with their state and figures.
    Campaigns,
    /// The needs and services analysis of the district (docs/analysis.md): the action lists'
    /// counts and the report's needs paragraph; `--list device --xlsx FILE` exports one list
    /// (full ID numbers, as the district admin; audited).
    Analysis {
        /// The campaign's year; default the open one.
        #[arg(long)]
        year: Option<i32>,
        /// An action list: device, home_modification, training, job, nursing_subsidy,
        /// living_subsidy.
        #[arg(long)]
        list: Option<String>,
        /// Write the list to this XLSX file.
        #[arg(long, requires = "list")]
        xlsx: Option<PathBuf>,
    },
    /// Close a year for good (its figures, exports and report stay readable).
    CloseCampaign {
        #[arg(long)]
        year: i32,
    },
    /// Import a roster file (CSV or XLSX) into the open campaign: every row or none.
    ImportRoster { file: PathBuf },
    /// List the persons awaiting a decision (moved last year, missing from the roster file).
    RosterDecisions,
    /// Keep a flagged person on the roster, or remove them (archived, with the reason).
    Decide {
        person: String,
        #[arg(value_parser = ["keep", "remove"])]
        decision: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Create an account.
    AddUser {
        username: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["worker", "supervisor", "admin"])]
        role: String,
        /// A supervisor's street or township code (or the district's).
        #[arg(long)]
        area: Option<String>,
        #[arg(long, env = "DOORSTEP_NEW_PASSWORD")]
        password: String,
    },
    /// Deactivate an account: every session ends and sign-in is refused.
    DeactivateUser { username: String },
    /// Reactivate an account (also lifts a sign-in lockout).
    ReactivateUser { username: String },
    /// Set a new password for an account (every session ends).
    SetPassword {
        username: String,
        #[arg(long, env = "DOORSTEP_NEW_PASSWORD")]
        password: String,
    },
    /// Write a consistent copy of the (SQLite) database to FILE while the server keeps serving.
    Backup { file: PathBuf },
    /// Restore a backup FILE into an empty data directory (then `serve`).
    Restore { file: PathBuf },
    /// Check the audit trail's hash chain: exits non-zero when an entry was altered or removed.
    AuditVerify,
    /// Assign a community to a worker.
    Assign { community: String, username: String },
    /// Take a community away from its worker (their phone drops it once its edits are in).
    Unassign { community: String },
    /// Revoke a lost device.
    RevokeDevice { device_id: String },
    /// Write the coded hand-over export (动态1表 codes in R-item order; full ID numbers) of a
    /// community, street or the district to FILE (.xlsx or .csv).
    CodedExport {
        file: PathBuf,
        /// A community (12 digits), street (9) or the district (6); default the whole campaign.
        #[arg(long)]
        area: Option<String>,
        /// The campaign's year; default the open one.
        #[arg(long)]
        year: Option<i32>,
    },
    /// Write the keying checklist (a page per person) of a community, street or the district
    /// to a PDF FILE (needs a CJK font: DOORSTEP_PDF_FONT, default fonts-noto-cjk).
    ChecklistPdf {
        file: PathBuf,
        #[arg(long)]
        area: Option<String>,
        #[arg(long)]
        year: Option<i32>,
    },
}

/// How `serve` (and `demo`) listen, and what they run beside the API.
#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    #[arg(long, env = "DOORSTEP_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Also serve `GET /metrics` without a token on this address (e.g. 127.0.0.1:9100), for a
    /// Prometheus on the same host or a private network. On the API's address `/metrics` always
    /// needs an admin's token.
    #[arg(long, env = "DOORSTEP_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// Back the (SQLite) database up into this directory while serving, on a schedule.
    #[arg(long, env = "DOORSTEP_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// How often: a number and s, m, h or d.
    #[arg(long, env = "DOORSTEP_BACKUP_EVERY", default_value = "24h", value_parser = crate::backups::parse_interval)]
    backup_every: std::time::Duration,
    /// How many scheduled backups to keep (the oldest are removed).
    #[arg(long, env = "DOORSTEP_BACKUP_KEEP", default_value_t = 14)]
    backup_keep: usize,
}

/// Binds, prints the addresses, serves until SIGTERM or Ctrl-C.
async fn serve_with(args: &ServeArgs, state: AppState, banner: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    if banner {
        println!("Console:  http://{addr}/console   API: http://{addr}/api/openapi.json");
    }
    let mut extra = crate::startup::Extras::default();
    if let Some(dir) = &args.backup_dir {
        let schedule = crate::backups::Schedule {
            dir: dir.clone(),
            every: args.backup_every,
            keep: args.backup_keep,
        };
        crate::backups::check(&state.db, &schedule)?;
        println!(
            "backups into {} every {} s, keeping {}",
            dir.display(),
            schedule.every.as_secs(),
            schedule.keep
        );
        extra.backups = Some(schedule);
    }
    if let Some(m) = &args.metrics_bind {
        let l = tokio::net::TcpListener::bind(m)
            .await
            .with_context(|| format!("binding the metrics address {m}"))?;
        println!("metrics on http://{}/metrics", l.local_addr()?);
        extra.metrics = Some(l);
    }
    println!("listening on http://{addr}");
    crate::startup::serve_until_signal_with(listener, state, extra).await?;
    Ok(())
}

/// Parses the arguments and runs the command (what `main.rs` and test binaries call).
///
/// # Errors
/// Whatever the command fails with, said for a person at a terminal.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::logs::init(cli.log_format);
    run(cli).await
}

/// Runs one parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(cli.database_url.clone(), cli.data_dir.clone());
    config.secure_cookies = cli.secure_cookies;
    config.trusted_proxies.clone_from(&cli.trusted_proxies);
    match cli.command {
        Command::Serve { serve } => serve_command(&config, serve).await,
        Command::Demo {
            serve,
            seed: s,
            no_serve,
            reset,
        } => {
            demo(
                &config,
                cli.database_url.as_deref(),
                &cli.data_dir,
                serve,
                s,
                no_serve,
                reset,
            )
            .await
        }
        Command::OpenCampaign {
            district,
            district_name,
            year,
            title,
            starts,
            ends,
            home_visit_target,
            from,
            review_levels,
        } => {
            let req = campaigns::OpenRequest {
                district,
                district_name,
                year,
                title,
                starts,
                ends,
                home_visit_target,
                from,
                review_levels,
            };
            open_campaign(&config, &req).await
        }
        Command::Campaigns => list_campaigns(&config).await,
        Command::Analysis { year, list, xlsx } => analysis(&config, year, list, xlsx).await,
        Command::CloseCampaign { year } => close_campaign(&config, year).await,
        Command::ImportRoster { file } => import_roster(&config, file).await,
        Command::RosterDecisions => roster_decisions(&config).await,
        Command::Decide {
            person,
            decision,
            reason,
        } => decide(&config, person, decision, reason).await,
        Command::AddUser {
            username,
            name,
            role,
            area,
            password,
        } => add_user(&config, username, name, role, area, password).await,
        Command::Assign {
            community,
            username,
        } => assign(&config, community, username).await,
        Command::Backup { file } => backup(&config, file).await,
        Command::Restore { file } => {
            restore(&config, cli.database_url.as_deref(), &cli.data_dir, file).await
        }
        Command::CodedExport { file, area, year } => coded_export(&config, file, area, year).await,
        Command::ChecklistPdf { file, area, year } => {
            checklist_pdf(&config, file, area, year).await
        }
        Command::AuditVerify => audit_verify(&config).await,
        Command::DeactivateUser { username } => deactivate_user(&config, username).await,
        Command::ReactivateUser { username } => reactivate_user(&config, username).await,
        Command::SetPassword { username, password } => {
            set_password(&config, username, password).await
        }
        Command::Unassign { community } => unassign(&config, community).await,
        Command::RevokeDevice { device_id } => revoke_device(&config, device_id).await,
    }
}

/// `serve`.
async fn serve_command(config: &Config, serve: ServeArgs) -> anyhow::Result<()> {
    let state = build(config).await?;
    print_next_steps(&state).await?;
    serve_with(&serve, state, false).await?;
    Ok(())
}

/// `demo`: the demo district afresh (or as it is), then serve.
async fn demo(
    config: &Config,
    database_url: Option<&str>,
    data_dir: &Path,
    serve: ServeArgs,
    s: u64,
    no_serve: bool,
    reset: bool,
) -> anyhow::Result<()> {
    let mut state = build(config).await?;
    let demo = state.db.setting(seed::DEMO_SETTING).await?;
    let empty = state.db.is_empty().await?;
    if demo.is_none() && !empty {
        anyhow::bail!(
            "数据库中已有非演示数据，演示未运行，未删除任何内容 / the database holds data that is not \
             the demo's: the demo refuses to run and deleted nothing. Use another --data-dir for the demo."
        );
    }
    let fresh = empty || reset;
    if demo.is_some() && reset {
        if database_url.is_some() {
            anyhow::bail!(
                "--reset 仅用于内置 SQLite 演示库 / --reset works on the embedded SQLite demo database only"
            );
        }
        state.db.pool().close().await;
        drop(state);
        let db = data_dir.join("doorstep.db");
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        state = build(config).await?;
    }
    if !fresh {
        println!("The demo database is kept as it is (--reset starts it afresh).");
        if !no_serve {
            serve_with(&serve, state, false).await?;
        }
        return Ok(());
    }
    println!("Loading the demo district (seed {s}) …");
    let logins = seed::seed_demo(&state, s).await?;
    println!("Demo accounts (password for all: {}):", seed::DEMO_PASSWORD);
    for l in logins
        .iter()
        .filter(|l| l.role != Role::Worker)
        .chain(logins.iter().filter(|l| l.role == Role::Worker).take(5))
    {
        println!("  {:<6} {:<10} {}", l.username, l.role.key(), l.what);
    }
    println!(
        "  … {} workers in all (w001 …)",
        logins.iter().filter(|l| l.role == Role::Worker).count()
    );
    if !no_serve {
        serve_with(&serve, state, true).await?;
    }
    Ok(())
}

/// `open-campaign`.
async fn open_campaign(config: &Config, req: &campaigns::OpenRequest) -> anyhow::Result<()> {
    let state = build(config).await?;
    let opened = campaigns::open(&state.db, req, Who::Cli).await?;
    let c = &opened.campaign.campaign;
    println!(
        "opened {} ({} – {}, home-visit target {:.2} %, review: {})",
        c.name,
        c.starts,
        c.ends,
        opened.campaign.home_visit_target_bp as f64 / 100.0,
        opened.campaign.review_levels.key()
    );
    if let Some(y) = opened.superseded {
        println!("{y} is closed; phones may still deliver its unsent edits (marked late)");
    }
    if let Some(y) = req.from {
        let r = &opened.carry;
        println!(
            "carried from {y}: {} persons ({} with last year's answers, {} moved last year flagged \
             for a decision), {} deregistered and {} closed follow-up cases left behind, {} assignments kept",
            r.carried,
            r.with_prior,
            r.moved_flagged,
            r.deregistered,
            r.left_by_follow_up,
            r.assignments
        );
    } else {
        println!("next: doorstep-server import-roster FILE.xlsx");
    }
    Ok(())
}

/// `campaigns`.
async fn list_campaigns(config: &Config) -> anyhow::Result<()> {
    let state = build(config).await?;
    let list = campaigns::list(&state.db).await?;
    if list.is_empty() {
        println!(
            "no campaign yet: doorstep-server open-campaign --district … --district-name … --year …"
        );
    }
    for s in list {
        let c = &s.campaign.campaign;
        let pct =
            |bp: Option<u64>| bp.map_or("—".into(), |b| format!("{:.2} %", b as f64 / 100.0));
        println!(
            "{}  {:<8} {}  persons {}  done {}  completion {}  home visits {}",
            c.year,
            s.campaign.state.key(),
            c.name,
            s.figures.roster,
            s.figures.done,
            pct(s.figures.completion_bp),
            pct(s.figures.home_visit_bp)
        );
    }
    Ok(())
}

/// `analysis`: the counts and the needs paragraph, or one action list (printed or to XLSX).
async fn analysis(
    config: &Config,
    year: Option<i32>,
    list: Option<String>,
    xlsx: Option<PathBuf>,
) -> anyhow::Result<()> {
    use crate::db::Scope;
    use crate::service::analysis::{Params, action_list_in, analyse};
    let state = build(config).await?;
    let campaign = state.campaign_for(year).await?;
    let last = state
        .db
        .campaign_by_year(campaign.year - 1)
        .await?
        .map(|r| (r.campaign, Scope::All));
    let p = Params {
        year,
        ..Params::default()
    };
    match list {
        None => {
            let a = analyse(&state.db, campaign, &Scope::All, last, &p).await?;
            println!("{}: {} finalized records", a.campaign.name, a.records);
            for x in &a.actions {
                let last = x
                    .last_year
                    .map_or(String::new(), |n| format!(" (last year {n})"));
                println!("  {:<18} {:>6}{last}  {}", x.key, x.n, x.label_zh);
            }
            println!("\n{}", a.paragraph);
        }
        Some(name) => {
            let rows = action_list_in(&state.db, &campaign, &Scope::All, true, &p, &name).await?;
            match xlsx {
                None => {
                    for r in &rows {
                        println!("{}", r.cells().join("\t"));
                    }
                }
                Some(file) => {
                    let table = crate::service::analysis::list_table(&rows);
                    let bytes = crate::tables::to_xlsx(&table, "行动清单")?;
                    std::fs::write(&file, bytes)
                        .with_context(|| format!("writing {}", file.display()))?;
                    state
                        .db
                        .audit(
                            Some("cli"),
                            "export",
                            &format!(
                                "analysis-{name}.xlsx ({} rows; year {})",
                                rows.len(),
                                campaign.year
                            ),
                        )
                        .await?;
                    println!("{} persons written to {}", rows.len(), file.display());
                }
            }
        }
    }
    Ok(())
}

/// `close-campaign`.
async fn close_campaign(config: &Config, year: i32) -> anyhow::Result<()> {
    let state = build(config).await?;
    let c = campaigns::close(&state.db, year, Who::Cli).await?;
    println!("closed {}", c.campaign.name);
    Ok(())
}

/// `import-roster`.
async fn import_roster(config: &Config, file: PathBuf) -> anyhow::Result<()> {
    let state = build(config).await?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let r = roster::import(&state.db, &name, &bytes, Who::Cli, &|done, total| {
        eprint!("\rimporting {done}/{total}");
    })
    .await?;
    eprintln!();
    println!(
        "imported {} persons: {} added, {} updated, {} unchanged",
        r.imported, r.added, r.updated, r.unchanged
    );
    for c in &r.changes {
        println!("  changed {} {}: {} → {}", c.name, c.field, c.old, c.new);
    }
    if !r.missing.is_empty() {
        println!(
            "{} persons of these communities are not in the file; they stay and await a decision \
             (doorstep-server roster-decisions):",
            r.missing.len()
        );
        for m in &r.missing {
            println!("  {} {} {}", m.person_id, m.name, m.community);
        }
    }
    Ok(())
}

/// `roster-decisions`.
async fn roster_decisions(config: &Config) -> anyhow::Result<()> {
    let state = build(config).await?;
    let list = roster::flagged(&state.db).await?;
    if list.is_empty() {
        println!("no person awaits a decision");
    }
    for r in list {
        println!(
            "{}  {}  {}  {}",
            r.id,
            r.person.name,
            r.community,
            r.flag.unwrap_or_default()
        );
    }
    Ok(())
}

/// `decide`.
async fn decide(
    config: &Config,
    person: String,
    decision: String,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let state = build(config).await?;
    let d = if decision == "keep" {
        roster::Decision::Keep
    } else {
        roster::Decision::Remove
    };
    roster::decide(
        &state.db,
        &person,
        d,
        reason.as_deref().unwrap_or(""),
        Who::Cli,
    )
    .await?;
    println!("{person}: {decision}");
    Ok(())
}

/// `add-user`.
async fn add_user(
    config: &Config,
    username: String,
    name: String,
    role: String,
    area: Option<String>,
    password: String,
) -> anyhow::Result<()> {
    let state = build(config).await?;
    let role = Role::parse(&role).context("role")?;
    let area = area.as_deref().map(DivisionCode::parse).transpose()?;
    state
        .db
        .create_user(
            &username,
            &name,
            role,
            area.as_ref(),
            &crate::service::accounts::hash_password(&password),
            &crate::db::audit::Entry::by(
                "cli",
                "user_created",
                &format!("{username} {}", role.key()),
            ),
        )
        .await?;
    println!("created {username}");
    Ok(())
}

/// `assign`.
async fn assign(config: &Config, community: String, username: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    let campaign = state
        .db
        .current_campaign()
        .await?
        .context("no open campaign")?;
    state
        .db
        .assign(
            &campaign.id.to_string(),
            &DivisionCode::parse(&community)?,
            &username,
        )
        .await?;
    println!("{community} → {username}");
    Ok(())
}

/// `backup`.
async fn backup(config: &Config, file: PathBuf) -> anyhow::Result<()> {
    let state = build(config).await?;
    let started = std::time::Instant::now();
    state.db.backup_to(&file).await?;
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    state
        .db
        .audit(Some("cli"), "backup", &file.display().to_string())
        .await?;
    println!(
        "backup written to {} ({:.1} MB in {:.1} s)",
        file.display(),
        size as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `restore`: into an empty data directory, checked before it is kept.
async fn restore(
    config: &Config,
    database_url: Option<&str>,
    data_dir: &Path,
    file: PathBuf,
) -> anyhow::Result<()> {
    if database_url.is_some() {
        anyhow::bail!(
            "restore 用于内置 SQLite；PostgreSQL 请用 pg_restore / restore is for the embedded SQLite database; use pg_restore for PostgreSQL (docs/deploy.md)"
        );
    }
    let db = data_dir.join("doorstep.db");
    if db.exists() {
        anyhow::bail!(
            "{} 已有数据库，未覆盖；请恢复到一个空的数据目录 / {} holds a database: restore into an empty data directory (--data-dir), nothing was overwritten",
            data_dir.display(),
            data_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir)?;
    std::fs::copy(&file, &db).with_context(|| format!("copying {}", file.display()))?;
    let state = match build(config).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&db);
            anyhow::bail!(
                "{} 不是可用的备份 / {} is not a usable backup: {e}",
                file.display(),
                file.display()
            );
        }
    };
    if !state.db.integrity_ok().await? {
        state.db.pool().close().await;
        let _ = std::fs::remove_file(&db);
        anyhow::bail!("备份文件已损坏 / the backup failed its integrity check; nothing restored");
    }
    let campaigns = campaigns::list(&state.db).await?;
    println!("restored into {}:", db.display());
    for c in campaigns {
        println!(
            "  {} {} persons {} done {}",
            c.campaign.campaign.year,
            c.campaign.state.key(),
            c.figures.roster,
            c.figures.done
        );
    }
    Ok(())
}

/// `coded-export`.
async fn coded_export(
    config: &Config,
    file: PathBuf,
    area: Option<String>,
    year: Option<i32>,
) -> anyhow::Result<()> {
    let state = build(config).await?;
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if !matches!(ext, "xlsx" | "csv") {
        anyhow::bail!("文件名应以 .xlsx 或 .csv 结尾 / the file name must end in .xlsx or .csv");
    }
    let table = crate::service::handover::coded_table(
        &state,
        crate::service::handover::Who::Cli,
        year,
        area.as_deref(),
    )
    .await?;
    let bytes = if ext == "xlsx" {
        crate::tables::to_xlsx(&table, "动态1表")?
    } else {
        crate::tables::to_csv(&table)?
    };
    std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    println!("{} persons written to {}", table.rows.len(), file.display());
    Ok(())
}

/// `checklist-pdf`.
async fn checklist_pdf(
    config: &Config,
    file: PathBuf,
    area: Option<String>,
    year: Option<i32>,
) -> anyhow::Result<()> {
    let font = crate::pdf::FontFile::load()?;
    let state = build(config).await?;
    let list = crate::service::handover::checklist(
        &state,
        crate::service::handover::Who::Cli,
        year,
        area.as_deref(),
        None,
    )
    .await?;
    let bytes = crate::pdf::checklist_pdf(&list, &font)?;
    std::fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    println!("{} pages written to {}", list.pages.len(), file.display());
    Ok(())
}

/// `audit-verify`.
async fn audit_verify(config: &Config) -> anyhow::Result<()> {
    let state = build(config).await?;
    let v = state.db.audit_verify().await?;
    match v.broken_at {
        None => println!("audit trail intact: {} entries", v.entries),
        Some(seq) => anyhow::bail!(
            "审计记录在第 {seq} 条被改动或删除 / the audit trail is broken at entry {seq} ({} entries before it are intact)",
            v.entries
        ),
    }
    Ok(())
}

/// `deactivate-user`.
async fn deactivate_user(config: &Config, username: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    crate::service::accounts::set_active(&state, &username, false, Who::Cli).await?;
    println!("{username} deactivated; every session ended");
    Ok(())
}

/// `reactivate-user`.
async fn reactivate_user(config: &Config, username: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    crate::service::accounts::set_active(&state, &username, true, Who::Cli).await?;
    println!(
        "{username} reactivated; a sign-in lockout is lifted on every server process / \
         已重新启用，登录锁定已解除"
    );
    Ok(())
}

/// `set-password`.
async fn set_password(config: &Config, username: String, password: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    crate::service::accounts::reset_password(&state, &username, &password, Who::Cli).await?;
    println!("new password set for {username}; every session ended");
    Ok(())
}

/// `unassign`.
async fn unassign(config: &Config, community: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    let campaign = state
        .db
        .current_campaign()
        .await?
        .ok_or_else(campaigns::no_campaign)?;
    state
        .db
        .unassign(&campaign.id.to_string(), &DivisionCode::parse(&community)?)
        .await?;
    println!("{community} unassigned");
    Ok(())
}

/// `revoke-device`.
async fn revoke_device(config: &Config, device_id: String) -> anyhow::Result<()> {
    let state = build(config).await?;
    state
        .db
        .revoke_device(
            &device_id,
            &crate::db::audit::Entry::by("cli", "revoke_device", &device_id),
        )
        .await?;
    println!("revoked {device_id}");
    Ok(())
}

/// What `serve` says on a database that is not ready yet: the commands that make it ready.
async fn print_next_steps(state: &AppState) -> anyhow::Result<()> {
    let users = state.db.users().await?;
    if !users.iter().any(|u| u.role == Role::Admin) {
        println!(
            "This database has no admin account yet. Make the first one:\n  \
             doorstep-server add-user admin --role admin --name \"区残联管理员\" --password '…'"
        );
    }
    if state.db.current_campaign().await?.is_none() {
        println!(
            "No campaign is open. Open this year's, then import the roster and assign workers:\n  \
             doorstep-server open-campaign --district 430503 --district-name 大祥区 --year YYYY [--from LAST_YEAR]\n  \
             doorstep-server import-roster roster.xlsx\n  \
             doorstep-server add-user w001 --role worker --name \"…\" --password '…'\n  \
             doorstep-server assign 430503001001 w001\n\
             (or sign in to the console as the admin: it shows the same steps)"
        );
    }
    Ok(())
}
