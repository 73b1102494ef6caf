//! The `trackgate` command line: serve, migrate, check-config, keys, reprocess, dead-letters, demo.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use trackgate::config::Settings;
use trackgate::startup::{Application, Gateway, ShutdownSignals, install_crypto_provider};
use trackgate::store::Store;
use trackgate::store::keys::Scope;

#[derive(Debug, Parser)]
#[command(
    name = "trackgate",
    version,
    about = "Logistics tracking gateway: carriers in, signed status pushes out"
)]
struct Cli {
    /// A TOML file overlaid on the built-in defaults (see config.toml).
    #[arg(long, global = true, env = "TRACKGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API, the push and poll workers.
    Serve {
        /// Do not apply pending migrations on start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Parse and ingest stored webhooks again (after a parser fix): failed and unprocessed ones,
    /// or one by id.
    Reprocess {
        /// Only this inbound webhook.
        #[arg(long)]
        id: Option<i64>,
        /// Also webhooks that were processed with problems (e.g. unregistered numbers).
        #[arg(long)]
        include_partial: bool,
    },
    /// List or replay calls that ran out of retries.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
    /// Run a self-contained demo on embedded defaults: gateway, sandbox carrier and mall.
    Demo,
    /// List the carriers whose tracking-number format (and check digit) fits NUMBER.
    Detect { number: String },
    /// Print what a carrier adapter makes of one raw body (signatures are not checked).
    Normalize {
        /// The adapter kind (sandbox, kuaidi100, ...).
        #[arg(long)]
        carrier: String,
        /// Which parser to use; by default the webhook parser if the carrier sends webhooks.
        #[arg(long, value_enum)]
        source: Option<trackgate::normalize::BodySource>,
        /// The body exactly as the carrier sends it; `-` reads standard input.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print its token (shown only this once).
    Create {
        #[arg(long, value_parser = ["mall", "support", "admin"])]
        scope: String,
        #[arg(long)]
        name: Option<String>,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    List {
        /// Include dead letters already replayed.
        #[arg(long)]
        all: bool,
    },
    Replay {
        id: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trackgate: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Demo => return trackgate::demo::run().await,
        Command::Normalize {
            carrier,
            source,
            file,
        } => return normalize(carrier, *source, file),
        Command::Detect { number } => return detect(number),
        _ => {}
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    trackgate::telemetry::init(&settings.log);
    install_crypto_provider();
    match cli.command {
        Command::Serve { no_migrate } => {
            if no_migrate {
                settings.database.migrate_on_start = false;
            }
            let signals = ShutdownSignals::install()?;
            let app = Application::build(settings).await?;
            eprintln!("trackgate listening on port {}", app.port());
            app.start().await?.until(signals).await;
        }
        Command::Migrate => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            println!("migrations applied");
        }
        Command::CheckConfig => {
            trackgate::registry::Registry::build(&settings.carriers, settings.poll.schedule)?;
            println!("{}", settings.redacted_toml());
        }
        Command::Keys { command } => {
            let store = Store::connect(&settings.database).await?;
            store.migrate().await?;
            match command {
                KeysCommand::Create { scope, name } => {
                    let scope = Scope::parse(&scope).expect("clap restricts the scope");
                    let key = store.create_api_key(scope, name).await?;
                    eprintln!(
                        "created {} key {} (the token is shown only now):",
                        key.scope.as_str(),
                        key.id
                    );
                    println!("{}", key.token);
                }
                KeysCommand::List => {
                    for key in store.api_keys().await? {
                        let state = if key.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!(
                            "{}\t{}\t{}…\t{}\t{}",
                            key.id,
                            key.scope,
                            key.prefix,
                            state,
                            key.name.unwrap_or_default()
                        );
                    }
                }
                KeysCommand::Revoke { id } => {
                    anyhow::ensure!(store.revoke_api_key(&id).await?, "no API key `{id}`");
                    println!("revoked {id}");
                }
            }
        }
        Command::Reprocess {
            id,
            include_partial,
        } => {
            let gateway = Gateway::connect(settings).await?;
            let summary = trackgate::inbound::reprocess(&gateway, id, include_partial).await?;
            println!("{summary}");
        }
        Command::DeadLetters { command } => {
            let gateway = Gateway::connect(settings).await?;
            match command {
                DeadLettersCommand::List { all } => {
                    for letter in gateway.store.dead_letters(all, 1000).await? {
                        println!(
                            "{}",
                            serde_json::to_string(&trackgate::dead_letters::DeadLetterOut::from(
                                letter
                            ))?
                        );
                    }
                }
                DeadLettersCommand::Replay { id } => {
                    let letter = trackgate::dead_letters::replay(&gateway, id).await?;
                    println!("replayed: {}", serde_json::to_string(&letter)?);
                }
            }
        }
        Command::Demo | Command::Normalize { .. } | Command::Detect { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

/// `trackgate normalize`: no config, no database, no network.
fn normalize(
    kind: &str,
    source: Option<trackgate::normalize::BodySource>,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let adapter = trackgate::registry::build_adapter(kind, &serde_json::Map::new())
        .map_err(|err| anyhow::anyhow!("--carrier: {err}"))?;
    let body = if file.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer)?;
        buffer
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let normalized = trackgate::normalize::normalize(adapter.as_ref(), source, &body)
        .with_context(|| format!("{} is not a {kind} body", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&normalized)?);
    Ok(())
}

/// `trackgate detect`: candidates by format, most confident first; exit 1 when none fits.
fn detect(number: &str) -> anyhow::Result<()> {
    let candidates = trackgate::carriers::detect::detect(number);
    let printed = serde_json::json!({
        "number": trackgate::carriers::detect::canonical(number),
        "candidates": candidates,
    });
    println!("{}", serde_json::to_string_pretty(&printed)?);
    anyhow::ensure!(
        !candidates.is_empty(),
        "no known carrier uses the format of `{number}`"
    );
    Ok(())
}
