//! The `doorstep-server` command line: serve, load the demo, import a roster, manage accounts.

use std::path::PathBuf;

use crate::{Config, build, seed, serve};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the console.
    Serve {
        #[arg(long, env = "DOORSTEP_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
    },
    /// Start afresh with the demo district, an open campaign and demo accounts, then serve.
    Demo {
        #[arg(long, env = "DOORSTEP_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
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
    /// Import a roster file (CSV or XLSX) into the open campaign: every row or none.
    ImportRoster { file: PathBuf },
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
    /// Assign a community to a worker.
    Assign { community: String, username: String },
    /// Revoke a lost device.
    RevokeDevice { device_id: String },
}

/// Parses the arguments and runs the command (what `main.rs` and test binaries call).
///
/// # Errors
/// Whatever the command fails with, said for a person at a terminal.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "doorstep_server=info,tower_http=warn".into()),
        )
        .init();
    run(Cli::parse()).await
}

/// Runs one parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::new(cli.database_url.clone(), cli.data_dir.clone());
    match cli.command {
        Command::Serve { bind } => {
            let state = build(&config).await?;
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            println!("listening on http://{}", listener.local_addr()?);
            serve(listener, state).await?;
        }
        Command::Demo {
            bind,
            seed: s,
            no_serve,
            reset,
        } => {
            let mut state = build(&config).await?;
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
                if cli.database_url.is_some() {
                    anyhow::bail!(
                        "--reset 仅用于内置 SQLite 演示库 / --reset works on the embedded SQLite demo database only"
                    );
                }
                state.db.pool().close().await;
                drop(state);
                let db = cli.data_dir.join("doorstep.db");
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", db.display()));
                    if p.exists() {
                        std::fs::remove_file(&p)
                            .with_context(|| format!("removing {}", p.display()))?;
                    }
                }
                state = build(&config).await?;
            }
            if !fresh {
                println!("The demo database is kept as it is (--reset starts it afresh).");
                if !no_serve {
                    let listener = tokio::net::TcpListener::bind(&bind)
                        .await
                        .with_context(|| format!("binding {bind}"))?;
                    println!("listening on http://{}", listener.local_addr()?);
                    serve(listener, state).await?;
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
                let listener = tokio::net::TcpListener::bind(&bind)
                    .await
                    .with_context(|| format!("binding {bind}"))?;
                let addr = listener.local_addr()?;
                println!("Console:  http://{addr}/console   API: http://{addr}/api/openapi.json");
                println!("listening on http://{addr}");
                serve(listener, state).await?;
            }
        }
        Command::ImportRoster { file } => {
            let state = build(&config).await?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let report = crate::http::admin::import_bytes(&state, &name, &bytes, &|done, total| {
                eprint!("\rimporting {done}/{total}");
            })
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            eprintln!();
            println!("imported {} persons", report.imported);
        }
        Command::AddUser {
            username,
            name,
            role,
            area,
            password,
        } => {
            let state = build(&config).await?;
            let role = Role::parse(&role).context("role")?;
            let area = area.as_deref().map(DivisionCode::parse).transpose()?;
            state
                .db
                .create_user(
                    &username,
                    &name,
                    role,
                    area.as_ref(),
                    &crate::http::auth::hash_password(&password),
                )
                .await?;
            println!("created {username}");
        }
        Command::Assign {
            community,
            username,
        } => {
            let state = build(&config).await?;
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
        }
        Command::RevokeDevice { device_id } => {
            let state = build(&config).await?;
            state.db.revoke_device(&device_id).await?;
            println!("revoked {device_id}");
        }
    }
    Ok(())
}
