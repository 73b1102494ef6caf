//! One function per `trackgate` command.

use std::path::Path;

use anyhow::Context as _;
use trackgate_carriers::{BodySource, catalog};

use super::{DeadLettersCommand, KeysCommand, Source};
use crate::api::wire::DeadLetterOut;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::startup::{Application, ShutdownSignals};
use crate::store::states::{Scope, from_label, label};

/// `--scope`: the column text of a [`Scope`], the one spelling there is.
pub(super) fn parse_scope(text: &str) -> Result<Scope, String> {
    from_label(text).ok_or_else(|| {
        let valid: Vec<String> = <Scope as sea_orm::Iterable>::iter().map(label).collect();
        format!("`{text}` is not a scope; use one of: {}", valid.join(", "))
    })
}

pub(super) async fn serve(mut settings: Settings, no_migrate: bool) -> anyhow::Result<()> {
    if no_migrate {
        settings.database.migrate_on_start = false;
    }
    settings.validate_for_serve()?;
    let signals = ShutdownSignals::install()?;
    let app = Application::build(settings).await?;
    let address = std::net::SocketAddr::new(app.settings().server.listen.ip(), app.port());
    // Through tracing, so that in `log.format = "json"` this line is JSON like every other.
    tracing::info!(%address, "listening on http://{address}");
    app.start().await?.until(signals).await;
    Ok(())
}

/// `trackgate openapi`: the contract documents, as committed under `docs/`.
pub fn contract(push_schema: bool, sub_statuses: bool) -> String {
    if sub_statuses {
        return trackgate_carriers::sub_status::markdown();
    }
    let document = if push_schema {
        crate::api::openapi::push_schema()
    } else {
        crate::api::openapi::document().clone()
    };
    serde_json::to_string_pretty(&document).expect("JSON serializes") + "\n"
}

pub(super) async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = crate::gateway::connect_store(&settings.database).await?;
    store.migrate().await?;
    println!("migrations applied");
    Ok(())
}

pub(super) fn check_config(settings: Settings) -> anyhow::Result<()> {
    crate::registry::Registry::build(&settings.carriers, settings.poll.schedule)?;
    settings.validate_for_serve()?;
    println!("{}", settings.redacted_toml());
    Ok(())
}

/// Print `rows` under `headers`, each column as wide as its widest cell.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub(super) async fn keys(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    // The database only: managing keys never needs the broker.
    let store = crate::gateway::connect_store(&settings.database).await?;
    store.migrate().await?;
    match command {
        KeysCommand::Create { scope, name } => {
            let key = store.create_api_key(scope, name).await?;
            eprintln!(
                "created {} key {} (the token is shown only now):",
                label(key.scope),
                key.id
            );
            println!("{}", key.token);
        }
        KeysCommand::List { json } => {
            let keys = store.api_keys().await?;
            let state = |key: &crate::store::entities::api_key::Model| match key.revoked_at {
                Some(_) => "revoked",
                None => "active",
            };
            if json {
                let listed: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|key| {
                        serde_json::json!({
                            "id": key.id,
                            "scope": label(key.scope),
                            "prefix": key.prefix,
                            "state": state(key),
                            "name": key.name,
                            "created_at": crate::domain::time::format(&key.created_at),
                            "revoked_at": key.revoked_at.as_ref().map(crate::domain::time::format),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|key| {
                    vec![
                        key.id.clone(),
                        label(key.scope),
                        format!("{}…", key.prefix),
                        state(key).to_owned(),
                        key.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        key.name.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "SCOPE", "TOKEN", "STATE", "CREATED (UTC)", "NAME"],
                &rows,
            );
        }
        KeysCommand::Revoke { id } => {
            anyhow::ensure!(store.revoke_api_key(&id).await?, "no API key `{id}`");
            println!("revoked {id}");
        }
    }
    Ok(())
}

pub(super) async fn reprocess(
    settings: Settings,
    id: Option<i64>,
    include_partial: bool,
) -> anyhow::Result<()> {
    let gateway = Gateway::connect(settings).await?;
    let summary = gateway.intake.reprocess(id, include_partial).await?;
    println!("{summary}");
    Ok(())
}

pub(super) async fn dead_letters(
    settings: Settings,
    command: DeadLettersCommand,
) -> anyhow::Result<()> {
    match command {
        DeadLettersCommand::List { all, json } => {
            // Read-only: the database, not the broker.
            let store = crate::gateway::connect_store(&settings.database).await?;
            store.migrate().await?;
            let letters: Vec<DeadLetterOut> = store
                .dead_letters(all, 1000)
                .await?
                .into_iter()
                .map(DeadLetterOut::from)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = letters
                .iter()
                .map(|letter| {
                    vec![
                        letter.id.to_string(),
                        label(letter.kind),
                        letter.ref_id.clone(),
                        letter.attempts.to_string(),
                        letter.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        letter
                            .replayed_at
                            .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "-".into()),
                        letter
                            .last_error
                            .as_deref()
                            .unwrap_or("")
                            .chars()
                            .take(60)
                            .collect(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "KIND",
                    "REF",
                    "ATTEMPTS",
                    "CREATED (UTC)",
                    "REPLAYED",
                    "LAST ERROR",
                ],
                &rows,
            );
            if letters.is_empty() {
                eprintln!(
                    "no dead letters{}",
                    if all { "" } else { " waiting for replay" }
                );
            }
        }
        DeadLettersCommand::Replay { id } => {
            let gateway = Gateway::connect(settings).await?;
            let letter =
                crate::push::dead_letters::replay(&gateway.store, &gateway.queue, id).await?;
            let shown = DeadLetterOut::from(letter);
            println!("replayed: {}", serde_json::to_string(&shown)?);
        }
    }
    Ok(())
}

/// `trackgate carriers list`: each built-in kind, what it offers, and its configured instances
/// (marked `polling` when their credentials let them poll).
pub(super) async fn subscriptions_resync(
    settings: Settings,
    carrier: Option<String>,
) -> anyhow::Result<()> {
    if let Some(id) = &carrier
        && !settings.carriers.contains_key(id)
    {
        anyhow::bail!("--carrier: no carrier instance `{id}` is configured");
    }
    let store = crate::gateway::connect_store(&settings.database).await?;
    store.migrate().await?;
    let count = store.resync_subscriptions(carrier.as_deref()).await?;
    println!(
        "{count} subscription(s) to be made again; a running gateway queues them within seconds"
    );
    Ok(())
}

pub(super) async fn numbers_check(settings: Settings) -> anyhow::Result<()> {
    let store = crate::gateway::connect_store(&settings.database).await?;
    store.migrate().await?;
    let found = store.noncanonical_numbers().await?;
    for (shipment, canonical) in &found {
        let holder = store
            .find_shipment(&shipment.carrier_id, canonical)
            .await?
            .map_or_else(
                || "no shipment (its other spellings are listed here)".to_owned(),
                |other| other.id,
            );
        println!(
            "{}\t{}\t`{}`\tcanonical `{}` is held by {}",
            shipment.id, shipment.carrier_id, shipment.tracking_number, canonical, holder
        );
    }
    if found.is_empty() {
        println!("every tracking number is in its canonical spelling");
        return Ok(());
    }
    anyhow::bail!(
        "{} shipment(s) keep a non-canonical number because another shipment has the canonical one; \
         stop the wrong one (DELETE /v1/shipments/{{id}})",
        found.len()
    )
}

pub(super) fn carriers_list(settings: &Settings) -> anyhow::Result<()> {
    let registry = crate::registry::Registry::build(&settings.carriers, settings.poll.schedule)?;
    println!("kind\twebhooks\tpolls\tconfigured instances\tcarrier\tsource");
    for kind in catalog::all() {
        let instances: Vec<String> = registry
            .all()
            .filter(|instance| instance.adapter.kind() == kind.kind)
            .map(|instance| match instance.adapter.capabilities().poll {
                true => format!("{} (polling)", instance.id),
                false => instance.id.clone(),
            })
            .collect();
        let instances = match instances.is_empty() {
            true => "-".to_owned(),
            false => instances.join(", "),
        };
        println!(
            "{}\t{}\t{}\t{instances}\t{}\t{}",
            kind.kind,
            yes_no(kind.webhook.is_some()),
            yes_no(kind.poll.is_some()),
            kind.name,
            kind.source()
        );
    }
    Ok(())
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

/// `trackgate carriers lint FILE...`: every finding on its own line, `file: key: what`.
pub(super) fn carriers_lint(files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let mut findings = 0;
    for file in files {
        let found = trackgate_carriers::definition::lint::lint_file(file);
        if found.is_empty() {
            println!("{}: ok", file.display());
        }
        for finding in &found {
            println!("{finding}");
        }
        findings += found.len();
    }
    if findings > 0 {
        anyhow::bail!("{findings} problem(s) in {} file(s)", files.len());
    }
    Ok(())
}

/// `trackgate normalize`: no config, no database, no network.
pub(super) fn normalize(
    kind: &str,
    source: Option<Source>,
    file: &Path,
    definitions: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    for folder in definitions {
        trackgate_carriers::definition::registry::load_folder(folder).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("--definitions: {}", lines.join("\n"))
        })?;
    }
    let entry = catalog::find(kind).ok_or_else(|| {
        anyhow::anyhow!(
            "--carrier: unknown kind `{kind}`; valid kinds are: {}",
            catalog::kind_names()
        )
    })?;
    let body = if file.as_os_str() == "-" {
        let mut buffer = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buffer)?;
        buffer
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let source = source.map(|source| match source {
        Source::Poll => BodySource::Poll,
        Source::Webhook => BodySource::Webhook,
    });
    let normalized = crate::normalize::normalize(entry, source, &body)
        .with_context(|| format!("{} is not a {kind} body", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&normalized)?);
    Ok(())
}

/// `trackgate detect`: candidates by format, most confident first; exit 1 when none fits.
pub(super) fn detect(number: &str) -> anyhow::Result<()> {
    let candidates = trackgate_carriers::detect::detect(number);
    let printed = serde_json::json!({
        "number": trackgate_carriers::detect::canonical(number),
        "candidates": candidates,
    });
    println!("{}", serde_json::to_string_pretty(&printed)?);
    anyhow::ensure!(
        !candidates.is_empty(),
        "no known carrier uses the format of `{number}`"
    );
    Ok(())
}
