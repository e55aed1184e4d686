//! The command line.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use samu_store::Role;

use crate::{
    app::{self, Application},
    config::Config,
    logging,
};

/// Exit code for a configuration that cannot be used (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

/// samu-central: a SAMU 192 regulation center server.
#[derive(Debug, Parser)]
#[command(name = "samu-central", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a central: gRPC, HTTP, WebSocket and background jobs.
    Serve {
        /// TOML configuration file (environment variables override it).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Seed the ten municipal SAMU of Resolução SES/MG 6.953/2019 and run
        /// the vehicle simulator.
        #[arg(long)]
        demo: bool,
    },
    /// Apply migrations/ to the configured store and exit.
    Migrate {
        /// TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write the monthly indicator report ("relatório de acompanhamento") of
    /// one central.
    Report {
        /// The central: IBGE code of its seat municipality (7 digits).
        #[arg(long)]
        central: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// csv, xlsx or pdf.
        #[arg(long, value_enum)]
        format: ReportFormat,
        /// Output file; standard output when absent.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Issue an access token for a role (bootstraps the first admin) and
    /// print it; the store keeps only its hash.
    Token {
        /// The role.
        #[arg(long, value_enum)]
        role: TokenRole,
        /// Who holds it (for the audit trail).
        #[arg(long)]
        label: String,
        /// Lifetime in hours; none means no expiry.
        #[arg(long)]
        ttl_hours: Option<u32>,
        /// TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Report formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// `;`-separated, decimal comma, UTF-8.
    Csv,
    /// Excel workbook: indicators, unit-days, team, response times.
    Xlsx,
    /// One readable document in Portuguese.
    Pdf,
}

impl From<ReportFormat> for samu_report::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Csv => samu_report::Format::Csv,
            ReportFormat::Xlsx => samu_report::Format::Xlsx,
            ReportFormat::Pdf => samu_report::Format::Pdf,
        }
    }
}

/// Roles that `token` issues (device tokens come from the admin API).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TokenRole {
    /// Registry and credentials.
    Admin,
    /// Read-only wall display.
    Wall,
    /// Call taker (TARM).
    Tarm,
    /// Regulation physician.
    Physician,
    /// Radio operator.
    RadioOperator,
    /// Manager (gestor).
    Manager,
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Admin => Role::Admin,
            TokenRole::Wall => Role::Wall,
            TokenRole::Tarm => Role::Tarm,
            TokenRole::Physician => Role::Physician,
            TokenRole::RadioOperator => Role::RadioOperator,
            TokenRole::Manager => Role::Manager,
        }
    }
}

fn load(file: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(file).map_err(|e| {
        eprintln!("samu-central: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        Command::Serve { config, demo } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            logging::init(config.log_format);
            serve(config, demo).await
        }
        Command::Migrate { config } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            logging::init(config.log_format);
            app::open_store(&config).await.map(|store| {
                tracing::info!("migrations applied");
                drop(store);
            })
        }
        Command::Report {
            central,
            month,
            format,
            out,
            config,
        } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            logging::init(config.log_format);
            let (central, month) = match (
                samu_domain::CentralId::parse("--central", &central),
                samu_indicators::YearMonth::parse(&month),
            ) {
                (Ok(c), Ok(m)) => (c, m),
                (Err(e), _) => {
                    eprintln!("samu-central: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
                (_, Err(e)) => {
                    eprintln!("samu-central: --month: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            report(&config, &central, month, format.into(), out.as_deref()).await
        }
        Command::Token {
            role,
            label,
            ttl_hours,
            config,
        } => {
            let config = match load(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            logging::init(config.log_format);
            issue_token(&config, role.into(), &label, ttl_hours).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // A bad [tls] section is a configuration error like any other.
        Err(e) if e.downcast_ref::<samu_tls::TlsError>().is_some() => {
            tracing::error!(error = format!("{e:#}"), "unusable configuration");
            eprintln!("samu-central: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "samu-central failed");
            eprintln!("samu-central: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let app = Application::build(config, demo).await?;
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested; draining");
        shutdown.cancel();
    });
    app.run_until_stopped().await
}

async fn report(
    config: &Config,
    central: &samu_domain::CentralId,
    month: samu_indicators::YearMonth,
    format: samu_report::Format,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let store = app::open_store(config).await?;
    let report = samu_runtime::reporting::monthly_report(&store, central, month).await?;
    let bytes = samu_report::render(&report, format).context("cannot render the report")?;
    store.close().await;
    match out {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .write_all(&bytes)
            .context("cannot write to standard output")?,
    }
    Ok(())
}

async fn issue_token(
    config: &Config,
    role: Role,
    label: &str,
    ttl_hours: Option<u32>,
) -> anyhow::Result<()> {
    let label = label.trim();
    anyhow::ensure!(
        !label.is_empty() && label.chars().count() <= 120,
        "--label must be 1 to 120 characters"
    );
    let store = app::open_store(config).await?;
    let now = chrono::Utc::now();
    let expires = ttl_hours.map(|h| now + chrono::TimeDelta::hours(i64::from(h)));
    let issued = store
        .issue_credential(role, None, label, expires, now)
        .await
        .context("cannot store the token")?;
    println!("{}", issued.token);
    eprintln!(
        "token id {} for role {role}; it is shown only now",
        issued.credential.id
    );
    store.close().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
