//! Parser micro-benchmarks (criterion): every fixture payload through its carrier's parser
//! next to the cost of merely reading the same bytes (serde_json into `IgnoredAny`; for
//! Kuaidi100's form, decoding the form and reading its JSON `param`), plus signature checks and
//! dedupe-key computation. `cargo bench -p trackgate-carriers --bench parsers`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::de::IgnoredAny;
use std::hint::black_box;
use trackgate_carriers::{
    CarrierAdapter, Inbound, dedupe_key, kuaidi100, sandbox, seventeen_track,
};

fn fixtures() -> Vec<(String, String, support::Sample)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/carriers");
    let mut out = Vec::new();
    for kind in std::fs::read_dir(&root).unwrap().flatten() {
        let kind_name = kind.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(kind.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".expected.json") {
                continue;
            }
            let body = std::fs::read(file.path()).unwrap();
            let sample = support::Sample::fixture(&kind_name, &name, body);
            if sample.parse().is_ok() {
                out.push((kind_name.clone(), name, sample));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// Reading the bytes and nothing more: the floor a parser cannot go under.
fn read_only(body: &[u8]) {
    if body.first() == Some(&b'{') || body.first() == Some(&b'[') {
        let _: IgnoredAny = serde_json::from_slice(body).unwrap();
    } else {
        for (key, value) in form_urlencoded::parse(body) {
            if key == "param" {
                let _: IgnoredAny = serde_json::from_str(&value).unwrap();
            }
        }
    }
}

fn normalize(c: &mut Criterion) {
    for (kind, name, sample) in fixtures() {
        let mut group = c.benchmark_group(format!("normalize/{kind}/{name}"));
        group.throughput(Throughput::Bytes(sample.body().len() as u64));
        group.bench_function("parse", |b| b.iter(|| black_box(&sample).parse()));
        group.bench_function("read_only", |b| {
            b.iter(|| read_only(black_box(sample.body())))
        });
        group.finish();
    }
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/carriers");
    let callback =
        std::fs::read(root.join("kuaidi100/callback-in-transit-advanced-codes.txt")).unwrap();
    let adapter = kuaidi100::Kuaidi100Adapter::new(kuaidi100::Kuaidi100Config {
        salt: Some("fixture-salt".into()),
        ..Default::default()
    });
    group.throughput(Throughput::Bytes(callback.len() as u64));
    group.bench_function("kuaidi100 verify (form + MD5)", |b| {
        b.iter(|| {
            adapter
                .verify_webhook(Inbound::new(Vec::new(), black_box(callback.clone())))
                .unwrap()
        })
    });
    let push =
        std::fs::read(root.join("17track/push-tracking-updated-two-providers.json")).unwrap();
    group.throughput(Throughput::Bytes(push.len() as u64));
    group.bench_function("17track sign (SHA-256)", |b| {
        b.iter(|| seventeen_track::sign("17track-key", black_box(&push)))
    });
    group.bench_function("sandbox sign (HMAC-SHA-256)", |b| {
        b.iter(|| sandbox::sign("sandbox-secret", black_box(&push)))
    });
    group.finish();
}

fn dedupe(c: &mut Criterion) {
    c.bench_function("dedupe_key (5 parts)", |b| {
        b.iter(|| {
            dedupe_key(black_box(&[
                "2026-11-21T03:45:09Z",
                "签收",
                "【北京市】 快件已在 【朝阳望京】 代签收",
                "北京市,朝阳区",
                "78412345678901",
            ]))
        })
    });
}

criterion_group!(benches, normalize, signatures, dedupe);
criterion_main!(benches);
