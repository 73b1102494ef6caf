//! Normalization speed against the peer, side by side in one run: our parsers and karrio's own
//! parsers on the same payloads (the karrio conformance corpus of the carriers we support), and
//! the floor of merely reading the same bytes (serde_json into `IgnoredAny`).
//!
//! ```sh
//! bash ../shared/peer/setup.sh                    # once: karrio from PyPI into /tmp/karrio-venv
//! cargo bench -p trackgate-carriers --bench versus_karrio
//! ```
//! `KARRIO_PYTHON` names the venv's python (default /tmp/karrio-venv/bin/python) and
//! `KARRIO_BENCH` the peer script (default ../shared/peer/karrio_parse_bench.py). Both sides use
//! one core and the fastest of several rounds; every case counts equally in the totals
//! (total iterations / total time), as in the peer script.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

const ROUNDS: usize = 5;

struct Case {
    carrier: String,
    sample: support::Sample,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance/karrio")
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for carrier in std::fs::read_dir(corpus()).unwrap().flatten() {
        let name = carrier.file_name().to_string_lossy().into_owned();
        let Some(kind) = trackgate_carriers::catalog::by_karrio_name(&name) else {
            continue;
        };
        for case in std::fs::read_dir(carrier.path()).unwrap().flatten() {
            let body = case.path().join("response.json");
            if let Ok(body) = std::fs::read(body) {
                cases.push(Case {
                    carrier: name.clone(),
                    sample: support::Sample::new(kind, trackgate_carriers::BodySource::Poll, body),
                });
            }
        }
    }
    cases
}

/// Fastest of `ROUNDS` rounds of `n` calls.
fn best(n: usize, mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                f();
            }
            started.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let cases = cases();
    let n = 2000;
    // carrier → (cases, bytes, parse time, read-only time) for n iterations per case
    let mut ours: BTreeMap<String, (usize, usize, Duration, Duration)> = BTreeMap::new();
    for case in &cases {
        let parse = best(n, || {
            let _ = black_box(black_box(&case.sample).parse());
        });
        let read = best(n, || {
            let _: Result<IgnoredAny, _> = serde_json::from_slice(black_box(case.sample.body()));
        });
        let entry = ours.entry(case.carrier.clone()).or_default();
        entry.0 += 1;
        entry.1 += case.sample.body().len();
        entry.2 += parse;
        entry.3 += read;
    }
    let peer = run_peer(&ours.keys().cloned().collect::<Vec<_>>());
    println!(
        "# Normalization: trackgate vs karrio on karrio's corpus, {}",
        machine()
    );
    println!(
        "trackgate: fastest of {ROUNDS} rounds of {n} parses per case; karrio: its own script, same corpus\n"
    );
    println!(
        "| carrier | cases | KiB/case | trackgate payloads/s | MB/s | read-only payloads/s | parse / read-only | karrio parse/s | trackgate / karrio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut all_cases, mut all_bytes, mut all_parse, mut all_read) =
        (0, 0, Duration::ZERO, Duration::ZERO);
    for (carrier, (count, bytes, parse, read)) in &ours {
        let rate = (*count * n) as f64 / parse.as_secs_f64();
        let read_rate = (*count * n) as f64 / read.as_secs_f64();
        let mbps = (*bytes * n) as f64 / parse.as_secs_f64() / 1e6;
        let karrio = peer.get(carrier).copied();
        println!(
            "| {carrier} | {count} | {:.1} | {rate:.0} | {mbps:.0} | {read_rate:.0} | {:.0}% | {} | {} |",
            *bytes as f64 / *count as f64 / 1024.0,
            rate / read_rate * 100.0,
            karrio.map_or("—".into(), |k| format!("{k:.0}")),
            karrio.map_or("—".into(), |k| format!("**{:.0}×**", rate / k)),
        );
        all_cases += count;
        all_bytes += bytes;
        all_parse += *parse;
        all_read += *read;
    }
    let rate = (all_cases * n) as f64 / all_parse.as_secs_f64();
    let read_rate = (all_cases * n) as f64 / all_read.as_secs_f64();
    let karrio = peer.get("ALL").copied();
    println!(
        "| **all** | {all_cases} | {:.1} | **{rate:.0}** | {:.0} | {read_rate:.0} | **{:.0}%** | {} | {} |",
        all_bytes as f64 / all_cases as f64 / 1024.0,
        (all_bytes * n) as f64 / all_parse.as_secs_f64() / 1e6,
        rate / read_rate * 100.0,
        karrio.map_or("—".into(), |k| format!("{k:.0}")),
        karrio.map_or("karrio not run (see the header)".into(), |k| format!(
            "**{:.0}×**",
            rate / k
        )),
    );
}

/// karrio's parse/s per carrier and overall ("ALL"), from its own benchmark script.
fn run_peer(carriers: &[String]) -> BTreeMap<String, f64> {
    let python =
        std::env::var("KARRIO_PYTHON").unwrap_or_else(|_| "/tmp/karrio-venv/bin/python".into());
    let script = std::env::var("KARRIO_BENCH").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/peer/karrio_parse_bench.py")
            .display()
            .to_string()
    });
    let out = std::env::temp_dir().join(format!("karrio-{}.json", std::process::id()));
    let status = Command::new(&python)
        .arg(&script)
        .args(["-n", "200", "-r", "5", "--json"])
        .arg(&out)
        .arg("--only")
        .args(carriers)
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!(
            "karrio peer did not run ({python} {script}); run `bash ../shared/peer/setup.sh` first"
        );
        return BTreeMap::new();
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    let mut rates = BTreeMap::new();
    // The script's JSON holds one record per case with parse_s for its iterations.
    let iterations = json["iterations"].as_f64().unwrap_or(200.0);
    let mut per: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for case in json["results"].as_array().into_iter().flatten() {
        let (Some(carrier), Some(seconds)) = (case["carrier"].as_str(), case["parse_s"].as_f64())
        else {
            continue;
        };
        let entry = per.entry(carrier.to_owned()).or_default();
        entry.0 += iterations;
        entry.1 += seconds;
        let all = per.entry("ALL".into()).or_default();
        all.0 += iterations;
        all.1 += seconds;
    }
    for (carrier, (count, seconds)) in per {
        rates.insert(carrier, count / seconds);
    }
    rates
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!(
        "{} cores ({cpu})",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}
