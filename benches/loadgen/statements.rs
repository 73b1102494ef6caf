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

/// One statement's counters since the reset.
pub struct Calls {
    pub calls: i64,
    pub query: String,
    /// Time PostgreSQL spent executing it, in all its calls (ms).
    pub exec_ms: f64,
    /// WAL it wrote, in all its calls.
    pub wal_bytes: f64,
    /// Time spent planning it (ms; 0 unless `pg_stat_statements.track_planning` is on).
    pub plan_ms: f64,
}

/// Counters by statement in this database since the reset, most called first, the load
/// generator's own and the extension's left out.
pub async fn read(db: &DatabaseConnection) -> anyhow::Result<Vec<Calls>> {
    let sql = format!(
        "{OWN} SELECT calls, query, total_exec_time, wal_bytes::float8, total_plan_time \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query NOT LIKE '{OWN}%' AND query NOT LIKE '%pg_stat_statements%' \
         ORDER BY calls DESC"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Calls {
                calls: row.try_get_by_index(0)?,
                query: row.try_get_by_index(1)?,
                exec_ms: row.try_get_by_index(2)?,
                wal_bytes: row.try_get_by_index(3)?,
                plan_ms: row.try_get_by_index(4)?,
            })
        })
        .collect()
}

/// The variants of one statement (a multi-row form per batch size) counted together.
struct Shape {
    text: String,
    calls: i64,
    exec_ms: f64,
    plan_ms: f64,
    wal_bytes: f64,
    variants: usize,
}

/// A statement's text on one line, cut to `width` characters.
fn one_line(query: &str, width: usize) -> String {
    let text: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(width).collect()
}

/// Print the statements per acknowledged webhook and per webhook that changed a shipment (a
/// push-outbox row written), with and without `BEGIN`/`COMMIT`, and the most called ones.
pub fn print(calls: &[Calls], webhooks: u64, changed: i64) {
    let total: i64 = calls.iter().map(|c| c.calls).sum();
    let transaction_control: i64 = calls
        .iter()
        .filter(|c| {
            let q = c.query.trim().to_ascii_uppercase();
            q == "BEGIN" || q == "COMMIT" || q == "ROLLBACK" || q.starts_with("SET TRANSACTION")
        })
        .map(|c| c.calls)
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
    for c in calls.iter().take(12) {
        println!(
            "- {:.3} `{}`",
            per(c.calls, webhooks as f64),
            one_line(&c.query, 110)
        );
    }
    // Where PostgreSQL's time and WAL went: a statement's cost is not its call count (a
    // multi-row INSERT is one call), so the heaviest are listed by execution plus planning
    // time, the variants of one statement (a multi-row form per batch size) counted together:
    // every variant is parsed and planned anew on each connection.
    let exec_ms: f64 = calls.iter().map(|c| c.exec_ms).sum();
    let wal: f64 = calls.iter().map(|c| c.wal_bytes).sum();
    let plan_ms: f64 = calls.iter().map(|c| c.plan_ms).sum();
    let webhooks = webhooks.max(1) as f64;
    println!(
        "\nexecution time, planning time (when `pg_stat_statements.track_planning` is on) and WAL per acknowledged webhook: {:.0} µs, {:.0} µs, {:.0} B; the heaviest statements (variants together):\n",
        1000.0 * exec_ms / webhooks,
        1000.0 * plan_ms / webhooks,
        wal / webhooks
    );
    let mut shapes: Vec<Shape> = Vec::new();
    for c in calls {
        let text = one_line(&c.query, 90);
        match shapes.iter_mut().find(|s| s.text == text) {
            Some(shape) => {
                shape.calls += c.calls;
                shape.exec_ms += c.exec_ms;
                shape.plan_ms += c.plan_ms;
                shape.wal_bytes += c.wal_bytes;
                shape.variants += 1;
            }
            None => shapes.push(Shape {
                text,
                calls: c.calls,
                exec_ms: c.exec_ms,
                plan_ms: c.plan_ms,
                wal_bytes: c.wal_bytes,
                variants: 1,
            }),
        }
    }
    shapes.sort_by(|a, b| (b.exec_ms + b.plan_ms).total_cmp(&(a.exec_ms + a.plan_ms)));
    for shape in shapes.into_iter().take(8) {
        println!(
            "- {:.0} µs (+ {:.0} µs planning), {:.0} B WAL, {:.1} ms a call ({:.0} % of the execution time), {} variant(s) `{}`",
            1000.0 * shape.exec_ms / webhooks,
            1000.0 * shape.plan_ms / webhooks,
            shape.wal_bytes / webhooks,
            shape.exec_ms / shape.calls.max(1) as f64,
            100.0 * shape.exec_ms / exec_ms.max(f64::MIN_POSITIVE),
            shape.variants,
            shape.text,
        );
    }
}
