//! The `trackgate` command line, an entry point: serve, migrate, check-config, keys, reprocess,
//! dead-letters, carriers, demo, detect, normalize.
//!
//! Parsing is clap's; each command is one function in [`commands`]. Errors print as one line
//! naming what is wrong and exit 1.

pub mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::store::states::Scope;

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
    /// Validate the configuration as `serve` would and print every section with secrets
    /// redacted; exit 1 naming the key that is wrong.
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
    /// Subscriptions with carriers (Kuaidi100, AfterShip, EasyPost, Shippo, 17TRACK).
    Subscriptions {
        #[command(subcommand)]
        command: SubscriptionsCommand,
    },
    /// Tracking numbers in the store.
    Numbers {
        #[command(subcommand)]
        command: NumbersCommand,
    },
    /// The built-in carrier kinds and the configured instances.
    Carriers {
        #[command(subcommand)]
        command: CarriersCommand,
    },
    /// Print the API's OpenAPI 3.1 document (as served at /openapi.json), or the push's JSON
    /// Schema, or the sub-status vocabulary.
    Openapi {
        /// Print the JSON Schema of the push body instead (docs/push.schema.json).
        #[arg(long, conflicts_with = "sub_statuses")]
        push_schema: bool,
        /// Print the sub-status vocabulary as Markdown instead (docs/sub-statuses.md).
        #[arg(long)]
        sub_statuses: bool,
    },
    /// Run a self-contained demo on embedded defaults: gateway, sandbox carrier and mall.
    Demo,
    /// List the carriers whose tracking-number format (and check digit) fits NUMBER.
    Detect {
        /// A tracking number, in any spelling (spaces, dashes, case).
        number: String,
    },
    /// Print what a carrier adapter makes of one raw body (signatures are not checked).
    Normalize {
        /// The adapter kind (sandbox, kuaidi100, ...; see `trackgate carriers list`).
        #[arg(long)]
        carrier: String,
        /// Which parser to use; by default the webhook parser if the carrier sends webhooks.
        #[arg(long, value_enum)]
        source: Option<Source>,
        /// The body exactly as the carrier sends it; `-` reads standard input.
        file: PathBuf,
        /// A folder of carrier definitions to load first (for a kind defined by the operator).
        #[arg(long = "definitions", value_name = "FOLDER")]
        definitions: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print its token (shown only this once).
    Create {
        /// mall (register and read shipments), support (lookups, console) or admin (all).
        #[arg(long, value_parser = commands::parse_scope)]
        scope: Scope,
        /// A label for people: who or what uses the key.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys: id, scope, the token's first characters, state, created, name.
    List {
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: requests with it are refused within `server.api_key_cache_secs`.
    Revoke {
        /// The key's id (`trackgate keys list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// List dead letters, newest first (read-only: needs the database, not the broker).
    List {
        /// Include dead letters already replayed.
        #[arg(long)]
        all: bool,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a dead letter's call again (a push, or a poll) and mark it replayed.
    Replay {
        /// The dead letter's id (`trackgate dead-letters list`).
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum SubscriptionsCommand {
    /// Make every subscription the store has as active again (after the carrier lost them):
    /// the running gateway queues them within seconds, at the carrier's configured rate.
    Resync {
        /// Only this carrier instance.
        #[arg(long)]
        carrier: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum NumbersCommand {
    /// List shipments whose tracking number is not in its canonical spelling because another
    /// shipment of the same carrier has that spelling (left unmerged by the upgrade); exits 1
    /// when there are any.
    Check,
}

#[derive(Debug, Subcommand)]
enum CarriersCommand {
    /// Every kind (built in or defined by a file), what it offers, where it comes from, and
    /// the configured instances of each.
    List {
        /// Print every kind as Markdown instead (docs/carriers.md has the built-in ones).
        #[arg(long)]
        markdown: bool,
    },
    /// Check carrier definition files: everything loading checks, plus every path against the
    /// samples the file lists. Each finding names the file and the key path; exit 1 if any.
    Lint {
        /// Definition files (`*.toml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Which of an adapter's parsers reads the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Source {
    Poll,
    Webhook,
}

/// The command line's definition (for its tests: every command and argument has help).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parse the command line, run the command, and turn its error into one line and exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("trackgate: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trackgate: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Commands that need no configuration.
    match cli.command {
        Command::Demo => return crate::demo::run().await,
        Command::Normalize {
            carrier,
            source,
            file,
            definitions,
        } => return commands::normalize(&carrier, source, &file, &definitions),
        Command::Carriers {
            command: CarriersCommand::Lint { files },
        } => return commands::carriers_lint(&files),
        Command::Detect { number } => return commands::detect(&number),
        Command::Openapi {
            push_schema,
            sub_statuses,
        } => {
            print!("{}", commands::contract(push_schema, sub_statuses));
            return Ok(());
        }
        Command::Carriers {
            command: CarriersCommand::List { markdown: true },
        } => {
            print!(
                "{}",
                trackgate_carriers::catalog::markdown_with_definitions()
            );
            return Ok(());
        }
        _ => {}
    }
    let settings = crate::config::Settings::load(cli.config.as_deref())?;
    crate::telemetry::init(&settings.log);
    crate::startup::install_crypto_provider();
    match cli.command {
        Command::Serve { no_migrate } => commands::serve(settings, no_migrate).await,
        Command::Migrate => commands::migrate(settings).await,
        Command::CheckConfig => commands::check_config(settings),
        Command::Keys { command } => commands::keys(settings, command).await,
        Command::Reprocess {
            id,
            include_partial,
        } => commands::reprocess(settings, id, include_partial).await,
        Command::DeadLetters { command } => commands::dead_letters(settings, command).await,
        Command::Numbers {
            command: NumbersCommand::Check,
        } => commands::numbers_check(settings).await,
        Command::Subscriptions {
            command: SubscriptionsCommand::Resync { carrier },
        } => commands::subscriptions_resync(settings, carrier).await,
        Command::Carriers {
            command: CarriersCommand::List { .. },
        } => commands::carriers_list(&settings),
        Command::Carriers {
            command: CarriersCommand::Lint { .. },
        } => unreachable!("handled above"),
        Command::Demo
        | Command::Normalize { .. }
        | Command::Detect { .. }
        | Command::Openapi { .. } => {
            unreachable!("handled above")
        }
    }
}
