//! What the demo prints at the end: every timeline as support sees it, and every push the mall
//! received with its signature check.

use anyhow::bail;
use serde_json::Value;

use super::{Demo, PARCELS};

/// `GET /v1/track/{tracking_number}` with the support key, for each parcel.
pub(super) async fn timelines(demo: &Demo) -> anyhow::Result<()> {
    println!("\n=== timelines (GET /v1/track/{{tracking_number}}, support key) ===");
    for (number, _) in PARCELS {
        let body: Value = demo
            .http
            .get(format!("{}/v1/track/{number}", demo.base))
            .bearer_auth(&demo.support_key)
            .send()
            .await?
            .json()
            .await?;
        let shipment = &body["shipments"][0];
        println!(
            "\n{number}  status={}  sub_status={}  delivered_at={}",
            shipment["status"], shipment["sub_status"], shipment["delivered_at"]
        );
        for event in shipment["events"].as_array().into_iter().flatten() {
            println!(
                "  {}  {:<20} {:<24} raw={:<3} {} — {}",
                event["local_time"].as_str().unwrap_or("?"),
                event["status"].as_str().unwrap_or("?"),
                event["sub_status"].as_str().unwrap_or("-"),
                event["raw_code"].as_str().unwrap_or("?"),
                event["description"].as_str().unwrap_or(""),
                event["location"].as_str().unwrap_or(""),
            );
        }
    }
    Ok(())
}

/// Every push the mall received; fails if any signature did not verify.
pub(super) fn pushes(demo: &Demo) -> anyhow::Result<()> {
    println!("\n=== pushes the mall received (Standard Webhooks signatures verified) ===");
    let receipts = demo.mall.receipts();
    for receipt in &receipts {
        println!(
            "  {} seq={} {:<20} {} signature={} answered={}",
            receipt.webhook_id,
            receipt.sequence,
            receipt.status,
            receipt.tracking_number,
            if receipt.signature_ok {
                "valid"
            } else {
                "INVALID"
            },
            receipt.answered
        );
    }
    let retried = receipts.iter().filter(|r| r.answered == 500).count();
    let accepted: std::collections::BTreeSet<_> = receipts
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.webhook_id.clone())
        .collect();
    println!(
        "\n{} pushes accepted by the mall; {retried} failed call(s) were retried with backoff.",
        accepted.len()
    );
    if receipts.iter().any(|r| !r.signature_ok) {
        bail!("a push arrived with an invalid signature");
    }
    Ok(())
}
