//! MySQL/MariaDB only: column types the portable schema helpers get wrong there. Every other
//! backend is left untouched (this migration does nothing on SQLite and PostgreSQL).
//!
//! * `timestamp` columns become `DATETIME(6)`: MySQL's `TIMESTAMP` stops in 2038 and keeps no
//!   fraction of a second; the gateway writes UTC (the connection's time zone is `+00:00`).
//! * the raw webhook body becomes `LONGBLOB` (the portable `binary` is `BINARY(1)` there), and
//!   the long texts (`headers`, push `payload`s, event `description`s) `MEDIUMTEXT`/`LONGTEXT`,
//!   past `TEXT`'s 64 KiB.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        let db = manager.get_connection();
        let timestamps = db
            .query_all_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT table_name AS t, column_name AS c, is_nullable AS n \
                 FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND data_type = 'timestamp'",
            ))
            .await?;
        for row in timestamps {
            let table: String = row.try_get("", "t")?;
            let column: String = row.try_get("", "c")?;
            let nullable: String = row.try_get("", "n")?;
            let null = if nullable == "YES" {
                "NULL"
            } else {
                "NOT NULL"
            };
            db.execute_unprepared(&format!(
                "ALTER TABLE `{table}` MODIFY `{column}` DATETIME(6) {null}"
            ))
            .await?;
        }
        for statement in [
            "ALTER TABLE `inbound_webhooks` MODIFY `body` LONGBLOB NOT NULL",
            "ALTER TABLE `inbound_webhooks` MODIFY `headers` MEDIUMTEXT NOT NULL",
            "ALTER TABLE `push_outbox` MODIFY `payload` LONGTEXT NOT NULL",
            "ALTER TABLE `tracking_events` MODIFY `description` MEDIUMTEXT NOT NULL",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Narrowing the types again could lose data; this migration is not reversed.
        Ok(())
    }
}
