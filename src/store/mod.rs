//! The store: a sea-orm connection to SQLite (embedded default), PostgreSQL or MySQL, the schema
//! migrations, the states it persists ([`states`]) and the queries the gateway needs, grouped by
//! table. It is a port: it imports the domain and the config, never the pipeline above it.
//!
//! SQLite gets a single pooled connection: SQLite allows one writer at a time, and a deferred
//! transaction that reads and then writes fails at once (not after the busy timeout) when
//! another connection wrote in between. One connection serializes writers without that failure.
//! Code must therefore never hold a transaction while awaiting another query on the pool.

pub mod alerts;
pub mod attempts;
pub mod batch;
pub mod console;
pub mod entities;
pub mod keys;
pub mod known_events;
pub mod lanes;
pub mod marks;
pub mod outbox;
pub mod scheduling;
pub mod sessions;
pub mod shipments;
pub mod states;
pub mod stream;
pub mod subscriptions;
pub mod timelines;
pub mod webhooks;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgSslMode};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, Statement, TransactionTrait,
};

use crate::config::DatabaseSettings;

/// Storage failures, as one boundary error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("could not encode {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The database refused this data (a value it cannot hold, a constraint, a trigger that
    /// raised): writing the same data again fails the same way. Connection losses, restarts,
    /// deadlocks and timeouts are not permanent.
    pub fn is_permanent(&self) -> bool {
        let db = match self {
            StoreError::Corrupt(_) | StoreError::Encode { .. } => return true,
            StoreError::Db(db) => db,
        };
        let (DbErr::Exec(runtime) | DbErr::Query(runtime)) = db else {
            return false;
        };
        let sea_orm::RuntimeErr::SqlxError(sqlx) = runtime else {
            return false;
        };
        sqlx.as_database_error()
            .and_then(|err| err.code())
            .is_some_and(|code| permanent_code(&code))
    }

    /// The database could not be reached or handed out no connection in time: waiting and
    /// trying again is the right reaction (an API answers 503 with `Retry-After`).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
        )
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// PostgreSQL connections the support lookups keep ([`lanes`]); `None` on other stores.
    lanes: Option<std::sync::Arc<lanes::Lanes>>,
    /// Where published pushes wait for their "enqueued" mark ([`marks`]).
    marks: marks::Marks,
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let is_sqlite = settings.url.starts_with("sqlite:");
        let mut options = ConnectOptions::new(settings.url.clone());
        options
            .max_connections(if is_sqlite {
                1
            } else {
                settings.max_connections
            })
            .min_connections(if is_sqlite { 1 } else { 0 })
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // sqlx pings a pooled connection on every acquire by default: one extra round trip
            // per query (measured: a third of a support lookup's time). Only connections idle
            // for a while are checked; a dead one still fails its query, which callers retry.
            .test_before_acquire_if_idle_for(Duration::from_secs(30))
            .map_sqlx_postgres_opts({
                let capacity = settings.statement_cache;
                move |o| plain_on_loopback(o.statement_cache_capacity(capacity))
            })
            .map_sqlx_mysql_opts({
                let capacity = settings.statement_cache;
                move |o| o.statement_cache_capacity(capacity)
            });
        let db = Database::connect(options).await?;
        if is_sqlite {
            // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
            for pragma in [
                "PRAGMA journal_mode=WAL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA synchronous=NORMAL",
            ] {
                db.execute_unprepared(pragma).await?;
            }
        }
        // Lanes keep at most half the pool's connections: the rest is for everything else.
        let read_lanes = settings
            .read_lanes
            .min(settings.max_connections as usize / 2);
        let lanes =
            (db.get_database_backend() == DbBackend::Postgres && read_lanes > 0).then(|| {
                std::sync::Arc::new(lanes::Lanes::new(
                    db.get_postgres_connection_pool().clone(),
                    read_lanes,
                ))
            });
        let mut store = Store {
            db,
            lanes,
            marks: marks::Marks::default(),
        };
        store.marks = marks::Marks::start(store.clone());
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Fails unless the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        self.db
            .query_one_raw(Statement::from_string(backend, "SELECT 1"))
            .await?;
        Ok(())
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A free read lane for a lookup's query, if this store has lanes and one is free; the
    /// caller otherwise queries through [`Self::conn`].
    pub async fn lane(&self) -> Option<lanes::Lane<'_>> {
        self.lanes.as_ref()?.take().await
    }

    /// A transaction for the write path. On MySQL/MariaDB it reads committed data: under
    /// InnoDB's default REPEATABLE READ, a batch reads every shipment's events from the snapshot
    /// taken at its first read, so it would miss events another batch committed since and
    /// derive a status from a stale set. PostgreSQL reads committed data by default.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        Ok(if self.backend() == DbBackend::MySql {
            self.db
                .begin_with_config(Some(IsolationLevel::ReadCommitted), None)
                .await?
        } else {
            self.db.begin().await?
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }
}

/// `sslmode=prefer` (sqlx's default when the URL names none) and `allow` accept a connection
/// without TLS; to a loopback host one is made without it. TLS there protects nothing (the bytes
/// never leave the kernel) and costs more than its CPU: rustls writes a message over 16 KiB
/// (a batch's combined write) as several records, and on loopback, whose segments may be 64 KiB,
/// each record after the first waits for PostgreSQL's delayed ACK, 40 ms (measured at 720
/// webhooks/s: end-to-end p99 314–399 ms with TLS, 95–112 ms without; BENCHMARKS.md).
/// `require` and the `verify-*` modes are kept as given, as is a Unix socket (never TLS).
fn plain_on_loopback(options: PgConnectOptions) -> PgConnectOptions {
    let on_loopback = options.get_socket().is_none() && is_loopback(options.get_host());
    if on_loopback && matches!(options.get_ssl_mode(), PgSslMode::Prefer | PgSslMode::Allow) {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a database error code means the data was refused. SQLSTATE classes (PostgreSQL and
/// MySQL): 22 data exception (U+0000, a date out of range), 23 integrity constraint, 44 check
/// option, 45 a MySQL `SIGNAL`, P0 a PL/pgSQL `RAISE`. SQLite result codes: TOOBIG, CONSTRAINT
/// (with its extended codes, a trigger's `RAISE(ABORT)` included) and MISMATCH.
fn permanent_code(code: &str) -> bool {
    if ["22", "23", "44", "45", "P0"]
        .iter()
        .any(|class| code.starts_with(class))
    {
        return true;
    }
    code.len() <= 4
        && code
            .parse::<u32>()
            .is_ok_and(|n| matches!(n & 0xff, 18..=20))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn mode(url: &str) -> PgSslMode {
        plain_on_loopback(PgConnectOptions::from_str(url).unwrap()).get_ssl_mode()
    }

    #[test]
    fn loopback_goes_without_tls_unless_tls_is_required() {
        for url in [
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@localhost/db",
            "postgres://u@[::1]:5432/db",
            "postgres://u@127.0.0.2/db?sslmode=prefer",
            "postgres://u@localhost/db?sslmode=allow",
        ] {
            assert!(matches!(mode(url), PgSslMode::Disable), "{url}");
        }
        for (url, kept) in [
            ("postgres://u@127.0.0.1/db?sslmode=require", "Require"),
            (
                "postgres://u@localhost/db?sslmode=verify-full",
                "VerifyFull",
            ),
            ("postgres://u@db.example.com/db", "Prefer"),
            ("postgres://u@10.0.0.5/db", "Prefer"),
        ] {
            assert_eq!(format!("{:?}", mode(url)), kept, "{url}");
        }
    }
}
