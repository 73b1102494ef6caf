//! What the load generator sends: realistic Kuaidi100 callbacks built from a fixture, one
//! shipment's history growing by one event per callback, with duplicates and out-of-order
//! deliveries mixed in, and the bookkeeping to check afterwards that nothing was lost.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::Value;

/// Numbers look like `LG` + 12 digits; the templates carry this placeholder instead.
const PLACEHOLDER: &str = "LG000000000000";

pub fn number(shipment: usize) -> String {
    format!("LG{:012}", 100_000_000_000u64 + shipment as u64)
}

/// One callback body per step of the fixture's history (step k = the oldest k events), with
/// the number as a placeholder, already form-encoded, plus the raw `param` for the signature.
pub struct Templates {
    steps: Vec<(String, String)>,
    pub salt: String,
}

impl Templates {
    /// From `fixtures/carriers/kuaidi100/callback-delivered-state-names.txt`: `lastResult.data`
    /// is newest first; each step keeps the oldest k entries and sets `state` to the state of
    /// the newest one, as Kuaidi100 does.
    pub fn kuaidi100(fixture: &[u8], salt: &str) -> Templates {
        let form: Vec<(String, String)> = form_urlencoded::parse(fixture).into_owned().collect();
        let param = &form.iter().find(|(k, _)| k == "param").expect("param").1;
        let param: Value = serde_json::from_str(param).expect("fixture param is JSON");
        let data = param["lastResult"]["data"]
            .as_array()
            .expect("data")
            .clone();
        let mut steps = Vec::new();
        for k in 1..=data.len() {
            let mut step = param.clone();
            let kept: Vec<Value> = data[data.len() - k..].to_vec();
            let newest = kept[0]["status"].as_str().unwrap_or("在途");
            let state = match newest {
                "揽收" => "1",
                "派件" => "5",
                "签收" => "3",
                _ => "0",
            };
            step["lastResult"]["data"] = Value::Array(kept);
            step["lastResult"]["state"] = Value::String(state.into());
            step["lastResult"]["nu"] = Value::String(PLACEHOLDER.into());
            step["lastResult"]["ischeck"] =
                Value::String(if state == "3" { "1" } else { "0" }.into());
            step["status"] =
                Value::String(if state == "3" { "shutdown" } else { "polling" }.into());
            let raw = step.to_string();
            let encoded: String = form_urlencoded::byte_serialize(raw.as_bytes()).collect();
            steps.push((raw, encoded));
        }
        Templates {
            steps,
            salt: salt.to_owned(),
        }
    }

    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// The signed form body of `step` (1-based) for `shipment`.
    pub fn body(&self, shipment: usize, step: usize) -> Vec<u8> {
        let (raw, encoded) = &self.steps[step - 1];
        let number = number(shipment);
        let raw = raw.replace(PLACEHOLDER, &number);
        let sign = trackgate::carriers::kuaidi100::sign(&raw, &self.salt);
        format!(
            "param={}&sign={sign}",
            encoded.replace(PLACEHOLDER, &number)
        )
        .into_bytes()
    }

    pub fn mean_body_len(&self) -> usize {
        (1..=self.steps.len())
            .map(|s| self.body(0, s).len())
            .sum::<usize>()
            / self.steps.len()
    }
}

/// The send order: round r carries step r of every shipment, so a shipment's callbacks are far
/// apart in time, as with real carriers. A share of them is swapped with the next step
/// (out of order) and a share is sent twice (duplicates).
pub fn plan(shipments: usize, steps: usize, duplicates: f64, out_of_order: f64) -> Vec<(u32, u8)> {
    let mut rng = rand::rng();
    let mut rounds: Vec<Vec<(u32, u8)>> = vec![Vec::with_capacity(shipments); steps];
    for shipment in 0..shipments {
        let mut order: Vec<u8> = (1..=steps as u8).collect();
        for step in 0..steps - 1 {
            if rng.random_bool(out_of_order) {
                order.swap(step, step + 1);
            }
        }
        for (round, step) in rounds.iter_mut().zip(order) {
            round.push((shipment as u32, step));
        }
    }
    let mut sends = Vec::with_capacity(shipments * steps * 2);
    for round in rounds.iter_mut() {
        round.shuffle(&mut rng);
        let mut again = Vec::new();
        for &send in round.iter() {
            sends.push(send);
            if rng.random_bool(duplicates) {
                again.push(send);
            }
        }
        sends.extend(again);
    }
    sends
}

/// When each (shipment, step) was first sent, in µs since the run started (u64::MAX: never).
pub struct SendTimes {
    steps: usize,
    first: Vec<AtomicU64>,
}

impl SendTimes {
    pub fn new(shipments: usize, steps: usize) -> SendTimes {
        SendTimes {
            steps,
            first: (0..shipments * steps)
                .map(|_| AtomicU64::new(u64::MAX))
                .collect(),
        }
    }

    pub fn record(&self, shipment: usize, step: usize, micros: u64) {
        self.first[shipment * self.steps + step - 1].fetch_min(micros, Ordering::Relaxed);
    }

    /// The first time an event of `step` left the load generator: the earliest send of any
    /// callback holding it (step k's event is in every callback of step ≥ k).
    pub fn first_carrying(&self, shipment: usize, step: usize) -> u64 {
        (step..=self.steps)
            .map(|s| self.first[shipment * self.steps + s - 1].load(Ordering::Relaxed))
            .min()
            .unwrap_or(u64::MAX)
    }
}
