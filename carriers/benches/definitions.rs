//! Declarative against hand-written (criterion, side by side): every payload of the three
//! built-in adapters re-expressed as definitions (La Poste, Australia Post, the sandbox), read
//! by the Rust adapter and by its definition in the same run; and what loading costs (every
//! shipped definition parsed and checked from its text).
//! `cargo bench -p trackgate-carriers --bench definitions`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trackgate_carriers::catalog::{self, BodySource};
use trackgate_carriers::definition::Definition;

/// (label, body, source) for every payload a re-expressed kind is checked on.
fn payloads(original: &str, karrio: &[String]) -> Vec<(String, Vec<u8>, BodySource)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for file in std::fs::read_dir(root.join("fixtures/carriers").join(original))
        .unwrap()
        .flatten()
    {
        let name = file.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".expected.json") {
            out.push((
                name.clone(),
                std::fs::read(file.path()).unwrap(),
                support::source_of(&name),
            ));
        }
    }
    for carrier in karrio {
        let dir = root.join("fixtures/conformance/karrio").join(carrier);
        for case in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let response: PathBuf = case.path().join("response.json");
            if response.exists() {
                let label = format!("karrio-{carrier}-{}", case.file_name().to_string_lossy());
                out.push((label, std::fs::read(response).unwrap(), BodySource::Poll));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn side_by_side(c: &mut Criterion) {
    for kind in catalog::all() {
        let Some(definition) = kind.definition() else {
            continue;
        };
        let Some(original) = definition.replicates.as_deref() else {
            continue;
        };
        let rust = catalog::find(original).unwrap();
        for (label, body, source) in payloads(original, &definition.karrio) {
            let by_rust = support::Sample::new(rust, source, body.clone());
            let by_definition = support::Sample::new(kind, source, body);
            if by_rust.parse().is_err() {
                continue;
            }
            let mut group = c.benchmark_group(format!("declarative/{original}/{label}"));
            group.throughput(Throughput::Bytes(by_rust.body().len() as u64));
            group.bench_function("rust", |b| b.iter(|| black_box(&by_rust).parse()));
            group.bench_function("definition", |b| {
                b.iter(|| black_box(&by_definition).parse())
            });
            group.finish();
        }
    }
}

fn loading(c: &mut Criterion) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("definitions");
    let texts: Vec<(String, String)> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|f| {
            (
                f.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(f.path()).unwrap(),
            )
        })
        .collect();
    let mut group = c.benchmark_group("declarative/load");
    group.bench_function(format!("all {} shipped definitions", texts.len()), |b| {
        b.iter(|| {
            for (name, text) in &texts {
                black_box(Definition::load(text, name).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, side_by_side, loading);
criterion_main!(benches);
