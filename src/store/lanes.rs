//! Read lanes: a few PostgreSQL connections kept out of the pool for the one-statement hot
//! paths, the support lookups and the intake's group commit, instead of one taken from the
//! pool and given back for every statement.
//!
//! Why: sqlx pings every connection given back to its pool (a `Sync` message and the backend's
//! `ReadyForQuery`), so a one-query lookup costs two round trips, and on a busy box every round
//! trip is a wake-up of a PostgreSQL backend and of a gateway thread. `strace` of the lookup
//! run showed the ping's 27-byte TLS record after every query. A lane is taken from the pool
//! once and kept; a statement runs on a free lane, or on a pooled connection as before when
//! every lane is busy, so lanes never make anything wait. (Transactions keep the pool: their
//! ping is one per batch.)
//!
//! Health stays as the pool keeps it: a lane takes an idle pooled connection and pings it once,
//! a lane idle for [`IDLE_CHECK`] goes back to the pool, and a lane whose statement failed is
//! dropped (back to the pool, which pings it and closes it if broken), so a PostgreSQL restart
//! costs each lane one failed statement at most, as it costs each pooled connection
//! (`healing::lanes_heal_after_postgres_…`). A statement cancelled half-way (the client went
//! away) leaves nothing behind: sqlx reads what the backend still owes before the next one.
//!
//! PostgreSQL only: SQLite has one connection and no ping, and MySQL keeps the pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgArguments, PgRow};
use sea_orm::sqlx::{self, PgPool, Postgres};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard};

/// A lane idle this long is given back to the pool, which checks it before it is used again:
/// the same threshold the pool uses (`test_before_acquire_if_idle_for`).
pub const IDLE_CHECK: Duration = Duration::from_secs(30);

/// The lanes of one store.
#[derive(Debug)]
pub struct Lanes {
    pool: PgPool,
    slots: Box<[Mutex<Slot>]>,
    /// Where the next search for a free lane starts, so load spreads over every lane.
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Slot {
    held: Option<(PoolConnection<Postgres>, Instant)>,
}

impl Lanes {
    pub fn new(pool: PgPool, lanes: usize) -> Lanes {
        Lanes {
            pool,
            slots: (0..lanes).map(|_| Mutex::new(Slot::default())).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A free lane with its connection, or `None` when every lane is busy or has no
    /// connection to hand (the caller then uses the pool, which waits for a connection and
    /// reports a database that is down the usual way: a lane never adds a wait).
    pub async fn take(&self) -> Option<Lane<'_>> {
        let count = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut slot = (0..count).find_map(|i| self.slots[(start + i) % count].try_lock().ok())?;
        let conn = match slot.held.take() {
            Some((conn, used_at)) if used_at.elapsed() < IDLE_CHECK => conn,
            // None yet, or idle too long (dropped: back to the pool). A lane takes only an idle
            // pooled connection, and checks it once: the pool does not when handing it this way.
            _ => {
                let mut conn = self.pool.try_acquire()?;
                sqlx::Connection::ping(&mut *conn).await.ok()?;
                conn
            }
        };
        Some(Lane {
            slot,
            conn: OnLane {
                conn: Mutex::new(Some(conn)),
                failed: AtomicBool::new(false),
            },
        })
    }
}

/// A lane in use. Dropped, it keeps its connection for the next query, unless a query on it
/// failed: that connection goes back to the pool, which pings it and closes it if broken.
#[derive(Debug)]
pub struct Lane<'a> {
    slot: MutexGuard<'a, Slot>,
    conn: OnLane,
}

impl Lane<'_> {
    /// The lane's connection, for sea-orm queries (one at a time).
    pub fn conn(&self) -> &OnLane {
        &self.conn
    }
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        if !self.conn.failed.load(Ordering::Relaxed) {
            self.slot.held = self
                .conn
                .conn
                .get_mut()
                .take()
                .map(|conn| (conn, Instant::now()));
        }
    }
}

/// One lane's connection as sea-orm sees it.
#[derive(Debug)]
pub struct OnLane {
    conn: Mutex<Option<PoolConnection<Postgres>>>,
    failed: AtomicBool,
}

impl OnLane {
    fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
        let values = stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
        sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
    }

    async fn connection(&self) -> MutexGuard<'_, Option<PoolConnection<Postgres>>> {
        self.conn.lock().await
    }

    fn fail(&self, err: sqlx::Error) -> RuntimeErr {
        self.failed.store(true, Ordering::Relaxed);
        RuntimeErr::SqlxError(Arc::new(err))
    }

    /// Run a query built with sqlx's own binds, whose typed arrays go in PostgreSQL's binary
    /// format (a `bytea[]` as raw bytes: no hex to encode and decode, no literal to parse),
    /// where sea-orm's values would carry them as text.
    pub async fn fetch_all<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, DbErr> {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        query
            .fetch_all(conn)
            .await
            .map_err(|err| DbErr::Query(self.fail(err)))
    }

    /// Give back what the connection's buffers grew to beyond their usual size (sqlx keeps
    /// them at the largest message they held, for the connection's life).
    pub async fn shrink_buffers(&self) {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        sqlx::Connection::shrink_buffers(conn);
    }
}

/// The connection is only taken out of its lock when the lane is dropped.
const HELD: &str = "a lane holds its connection while in use";

#[async_trait::async_trait]
impl ConnectionTrait for OnLane {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        Self::query(&stmt)
            .execute(conn)
            .await
            .map(ExecResult::from)
            .map_err(|err| DbErr::Exec(self.fail(err)))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(conn)
            .await
            .map(ExecResult::from)
            .map_err(|err| DbErr::Exec(self.fail(err)))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        Self::query(&stmt)
            .fetch_optional(conn)
            .await
            .map(|row| row.map(QueryResult::from))
            .map_err(|err| DbErr::Query(self.fail(err)))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut conn = self.connection().await;
        let conn: &mut sqlx::PgConnection = conn.as_mut().expect(HELD);
        Self::query(&stmt)
            .fetch_all(conn)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(|err| DbErr::Query(self.fail(err)))
    }
}
