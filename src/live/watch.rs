//! What one stream watches and how far it has got: the transport-free core every stream (the
//! WebSocket, SSE, the console and customer pages) runs on.
//!
//! A watch holds, per shipment, the last push sequence its client has been sent (the cursor).
//! Hearing of a shipment, it reads that shipment's pushes after the cursor from the store and
//! advances; so updates go out in sequence, each once, and a client that reconnects with its
//! cursor (SSE `Last-Event-ID`, a WebSocket `resume`) continues without a gap. A watch on an
//! order also picks up shipments registered under the order later.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::Note;
use crate::domain::time;
use crate::store::entities::shipment;
use crate::store::{Store, StoreError};

/// Pushes read per query while catching up.
const PAGE: u64 = 100;
/// Pages read per shipment per catch-up; the rest follows at the next signal or heartbeat.
const MAX_PAGES: usize = 5;

/// What a client asks to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchRequest {
    pub shipments: Vec<String>,
    pub orders: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("nothing to watch: name shipments or orders")]
    Empty,
    #[error("no shipment `{0}`")]
    NotFound(String),
    #[error("a stream may watch at most {0} shipments")]
    TooMany(usize),
    #[error("the cursor is not one this gateway wrote")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The last sequence sent, per shipment: `shp_a:3,shp_b:12`. The SSE event id and the
/// WebSocket `cursor` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub BTreeMap<String, i64>);

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, WatchError> {
        let mut map = BTreeMap::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (id, seq) = part.rsplit_once(':').ok_or(WatchError::BadCursor)?;
            let seq: i64 = seq.parse().map_err(|_| WatchError::BadCursor)?;
            if id.is_empty() || seq < 0 || id.len() > 100 || map.len() >= 1000 {
                return Err(WatchError::BadCursor);
            }
            map.insert(id.to_owned(), seq);
        }
        Ok(Cursor(map))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (id, seq)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{id}:{seq}")?;
        }
        Ok(())
    }
}

/// One message to a stream client.
#[derive(Debug, Clone, Serialize)]
pub struct StreamMessage {
    /// `update`: a push (its payload in `data`); `snapshot`: the shipment as it stands, sent
    /// when a watch starts without a cursor.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub shipment_id: String,
    pub order_id: Option<String>,
    pub sequence: i64,
    /// Resume from here after a reconnect.
    pub cursor: String,
    pub data: serde_json::Value,
}

#[derive(Debug)]
pub struct Watch {
    cursors: BTreeMap<String, i64>,
    order_of: BTreeMap<String, Option<String>>,
    orders: BTreeSet<String>,
    max_shipments: usize,
}

impl Watch {
    /// Start watching. Without `resume`, each shipment starts at its current sequence with a
    /// snapshot message; with it, at the cursor's sequence (0 for a shipment it does not name:
    /// one that joined an order meanwhile), and the pushes missed are returned to send first.
    pub async fn open(
        store: &Store,
        request: &WatchRequest,
        resume: Option<&Cursor>,
        max_shipments: usize,
    ) -> Result<(Watch, Vec<StreamMessage>), WatchError> {
        if request.shipments.is_empty() && request.orders.is_empty() {
            return Err(WatchError::Empty);
        }
        let mut found: Vec<shipment::Model> = Vec::new();
        for id in &request.shipments {
            let shipment = store
                .get_shipment(id)
                .await?
                .ok_or_else(|| WatchError::NotFound(id.clone()))?;
            found.push(shipment);
        }
        for order in &request.orders {
            found.extend(store.shipments_by_order(order).await?);
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.dedup_by(|a, b| a.id == b.id);
        if found.len() > max_shipments {
            return Err(WatchError::TooMany(max_shipments));
        }
        let mut watch = Watch {
            cursors: BTreeMap::new(),
            order_of: BTreeMap::new(),
            orders: request.orders.iter().cloned().collect(),
            max_shipments,
        };
        let mut messages = Vec::new();
        for shipment in &found {
            watch
                .order_of
                .insert(shipment.id.clone(), shipment.order_id.clone());
            let start = match resume {
                Some(cursor) => cursor.0.get(&shipment.id).copied().unwrap_or(0),
                None => shipment.push_seq,
            };
            watch.cursors.insert(shipment.id.clone(), start);
        }
        match resume {
            Some(_) => messages = watch.catch_up(store, None).await?,
            None => {
                for shipment in &found {
                    messages.push(watch.snapshot(shipment));
                }
            }
        }
        Ok((watch, messages))
    }

    pub fn cursor(&self) -> Cursor {
        Cursor(self.cursors.clone())
    }

    pub fn shipment_count(&self) -> usize {
        self.cursors.len()
    }

    /// Whether the note concerns this watch; a new shipment of a watched order joins it.
    pub fn interested(&mut self, note: &Note) -> bool {
        if self.cursors.contains_key(&note.shipment_id) {
            return true;
        }
        let joins = note
            .order_id
            .as_ref()
            .is_some_and(|order| self.orders.contains(order));
        if joins && self.cursors.len() < self.max_shipments {
            self.cursors.insert(note.shipment_id.clone(), 0);
            self.order_of
                .insert(note.shipment_id.clone(), note.order_id.clone());
            return true;
        }
        false
    }

    /// The pushes after the cursor of `only` (or of every shipment), in sequence, advancing.
    pub async fn catch_up(
        &mut self,
        store: &Store,
        only: Option<&str>,
    ) -> Result<Vec<StreamMessage>, StoreError> {
        let ids: Vec<String> = match only {
            Some(id) => vec![id.to_owned()],
            None => self.cursors.keys().cloned().collect(),
        };
        let mut messages = Vec::new();
        for id in ids {
            for _ in 0..MAX_PAGES {
                let after = self.cursors.get(&id).copied().unwrap_or(0);
                let pushes = store.pushes_after(&id, after, PAGE).await?;
                let full = pushes.len() as u64 == PAGE;
                for push in pushes {
                    self.cursors.insert(id.clone(), push.sequence);
                    let data = serde_json::from_str(&push.payload)
                        .unwrap_or(serde_json::Value::String(push.payload));
                    messages.push(StreamMessage {
                        kind: "update",
                        shipment_id: id.clone(),
                        order_id: self.order_of.get(&id).cloned().flatten(),
                        sequence: push.sequence,
                        cursor: self.cursor().to_string(),
                        data,
                    });
                }
                if !full {
                    break;
                }
            }
        }
        Ok(messages)
    }

    fn snapshot(&self, shipment: &shipment::Model) -> StreamMessage {
        StreamMessage {
            kind: "snapshot",
            shipment_id: shipment.id.clone(),
            order_id: shipment.order_id.clone(),
            sequence: shipment.push_seq,
            cursor: self.cursor().to_string(),
            data: serde_json::json!({
                "shipment_id": shipment.id,
                "order_id": shipment.order_id,
                "carrier": shipment.carrier_id,
                "carrier_kind": shipment.carrier_kind,
                "tracking_number": shipment.tracking_number,
                "status": shipment.status.0,
                "sub_status": shipment.sub_status,
                "raw_code": shipment.status_raw_code,
                "last_event_at": shipment.last_event_at.as_ref().map(time::format),
                "delivered_at": shipment.delivered_at.as_ref().map(time::format),
                "estimated_delivery": shipment.estimated_delivery.as_ref().map(time::format),
                "tracking": shipment.tracking,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = Cursor::parse("shp_a:3,shp_b:12").unwrap();
        assert_eq!(cursor.0["shp_b"], 12);
        assert_eq!(cursor.to_string(), "shp_a:3,shp_b:12");
        assert_eq!(Cursor::parse("").unwrap(), Cursor::default());
        for junk in ["a", "a:b", ":3", "a:-1", "a:1,b"] {
            assert!(Cursor::parse(junk).is_err(), "{junk}");
        }
    }
}
