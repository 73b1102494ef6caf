//! Statements per webhook, from PostgreSQL's `pg_stat_statements`: what the gateway asked of
//! the database during a run, divided by what it did.
//!
//! The counters are reset just before the first send and read right after the drain, for the
//! scratch database only. The load generator's own queries (the drain's polling) carry a
//! `/* loadgen */` comment and are left out. Needs `shared_preload_libraries =
//! 'pg_stat_statements'` (`scripts/bench.sh` sets it and restarts PostgreSQL once); without it
//! the report says so and the run goes on.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// The marker the load generator's own statements start with.
pub const OWN: &str = "/* loadgen */";

/// Reset the counters; `false` (with the reason printed later) when the extension is missing.
pub async fn reset(db: &DatabaseConnection) -> Result<(), String> {
    let run = |sql: &'static str| async move {
        db.execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    };
    run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
    run("SELECT pg_stat_statements_reset()").await
}

/// Calls by statement in this database since the reset: (calls, the statement's text), most
/// called first, the load generator's own and the extension's left out.
pub async fn read(db: &DatabaseConnection) -> anyhow::Result<Vec<(i64, String)>> {
    let sql = format!(
        "{OWN} SELECT calls, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query NOT LIKE '{OWN}%' AND query NOT LIKE '%pg_stat_statements%' \
         ORDER BY calls DESC"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// Print the statements per acknowledged webhook and per webhook that changed a shipment (a
/// push-outbox row written), with and without `BEGIN`/`COMMIT`, and the most called ones.
pub fn print(calls: &[(i64, String)], webhooks: u64, changed: i64) {
    let total: i64 = calls.iter().map(|(n, _)| n).sum();
    let transaction_control: i64 = calls
        .iter()
        .filter(|(_, q)| {
            let q = q.trim().to_ascii_uppercase();
            q == "BEGIN" || q == "COMMIT" || q == "ROLLBACK" || q.starts_with("SET TRANSACTION")
        })
        .map(|(n, _)| n)
        .sum();
    let work = total - transaction_control;
    let per = |n: i64, d: f64| n as f64 / d.max(1.0);
    println!(
        "| statements (pg_stat_statements) / acknowledged webhook | **{:.2}** ({:.2} with BEGIN/COMMIT) |",
        per(work, webhooks as f64),
        per(total, webhooks as f64)
    );
    println!(
        "| statements / status-changing webhook ({changed} pushes written) | **{:.2}** ({:.2} with BEGIN/COMMIT) |",
        per(work, changed as f64),
        per(total, changed as f64)
    );
    println!("\nmost called statements (calls per acknowledged webhook):\n");
    for (n, query) in calls.iter().take(12) {
        let text: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let text: String = text.chars().take(110).collect();
        println!("- {:.3} `{}`", per(*n, webhooks as f64), text);
    }
}
