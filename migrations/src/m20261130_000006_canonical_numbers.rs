//! Canonical tracking numbers: every shipment's number in its carrier kind's canonical spelling
//! (`trackgate_carriers::numbers`: upper-case, no whitespace, no dashes where the carrier's
//! numbers have none), and the number as the mall sent it kept in `tracking_number_as_sent`.
//!
//! Two rows that would become one (`sf1400…` and `SF1400…` registered for the same carrier
//! instance) are not merged: both keep their number as it was, each is named in a warning
//! (`trackgate migrate`'s log), and `trackgate numbers check` lists them until an operator
//! stops one. Everything else is rewritten in pages of 5,000 rows.

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult};
use trackgate_carriers::catalog;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    Id,
    CarrierId,
    CarrierKind,
    TrackingNumber,
    TrackingNumberAsSent,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    id: String,
    carrier_id: String,
    carrier_kind: String,
    tracking_number: String,
}

const PAGE: u64 = 5000;

/// The other shipment of `carrier_id` that already has `number`, if one does.
async fn holder<C: ConnectionTrait>(
    db: &C,
    carrier_id: &str,
    number: &str,
    id: &str,
) -> Result<Option<String>, DbErr> {
    let found = db
        .query_one(
            Query::select()
                .column(Shipments::Id)
                .from(Shipments::Table)
                .and_where(Expr::col(Shipments::CarrierId).eq(carrier_id))
                .and_where(Expr::col(Shipments::TrackingNumber).eq(number))
                .and_where(Expr::col(Shipments::Id).ne(id))
                .limit(1),
        )
        .await?;
    found.map(|row| row.try_get("", "id")).transpose()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .add_column(string_null(Shipments::TrackingNumberAsSent))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        db.execute(
            &Query::update()
                .table(Shipments::Table)
                .value(
                    Shipments::TrackingNumberAsSent,
                    Expr::col(Shipments::TrackingNumber),
                )
                .to_owned(),
        )
        .await?;
        // Every (carrier instance, canonical number) and the rows that would take it.
        let mut targets: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
        let mut after = String::new();
        loop {
            let page = Row::find_by_statement(
                backend.build(
                    Query::select()
                        .columns([
                            Shipments::Id,
                            Shipments::CarrierId,
                            Shipments::CarrierKind,
                            Shipments::TrackingNumber,
                        ])
                        .from(Shipments::Table)
                        .and_where(Expr::col(Shipments::Id).gt(after.clone()))
                        .order_by(Shipments::Id, Order::Asc)
                        .limit(PAGE),
                ),
            )
            .all(db)
            .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let full = page.len() as u64 == PAGE;
            for row in page {
                let canonical =
                    catalog::number_rule(&row.carrier_kind).canonical(&row.tracking_number);
                targets
                    .entry((row.carrier_id.clone(), canonical))
                    .or_default()
                    .push(row);
            }
            // Rows already canonical and alone in their target need nothing: drop them now so
            // a large table is not held in memory (a later row taking the same number is
            // caught by `holder`).
            targets.retain(|(_, canonical), rows| {
                rows.len() > 1 || rows[0].tracking_number != *canonical
            });
            if !full {
                break;
            }
        }
        let mut collisions = 0;
        for ((carrier_id, canonical), rows) in targets {
            let holder = match rows.as_slice() {
                [row] => holder(db, &carrier_id, &canonical, &row.id).await?,
                _ => None,
            };
            if let ([row], None) = (rows.as_slice(), &holder) {
                db.execute(
                    &Query::update()
                        .table(Shipments::Table)
                        .value(Shipments::TrackingNumber, canonical)
                        .and_where(Expr::col(Shipments::Id).eq(row.id.clone()))
                        .to_owned(),
                )
                .await?;
                continue;
            }
            collisions += 1;
            let mut spellings: Vec<String> = rows
                .iter()
                .map(|r| format!("{} `{}`", r.id, r.tracking_number))
                .collect();
            spellings.extend(holder.map(|id| format!("{id} `{canonical}`")));
            tracing::warn!(
                carrier = %carrier_id,
                canonical = %canonical,
                shipments = %spellings.join(", "),
                "shipments that are one number spelled differently; left as they were, not merged \
                 (stop the one that is wrong: DELETE /v1/shipments/{{id}})"
            );
        }
        if collisions > 0 {
            tracing::warn!(
                collisions,
                "tracking numbers not canonicalized because two shipments would become one; \
                 `trackgate numbers check` lists them"
            );
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The original spellings are put back; the column goes.
        let db = manager.get_connection();
        db.execute(
            &Query::update()
                .table(Shipments::Table)
                .value(
                    Shipments::TrackingNumber,
                    Expr::col(Shipments::TrackingNumberAsSent),
                )
                .and_where(Expr::col(Shipments::TrackingNumberAsSent).is_not_null())
                .to_owned(),
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .drop_column(Shipments::TrackingNumberAsSent)
                    .to_owned(),
            )
            .await
    }
}
