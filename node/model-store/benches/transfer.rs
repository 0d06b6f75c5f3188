//! Criterion benchmarks: throughput of a complete in-process transfer of a ~64 MB random
//! model (serving verified slices from one store, SCALE round trip, verifying and writing
//! them in a `Download`, `finish` with re-parse, content-hash check, outboard, fsync and
//! rename into another store), its parts, and `std::fs::copy` of the same file for scale.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu_verify::random::random_mlp;
use menara_model_store::{verify_slice, ChunkResponse, ModelStore};
use parity_scale_codec::Encode;

/// A random MLP of 4 layers of 4096 x 4096 int8 weights: about 64 MiB.
fn model_bytes() -> Vec<u8> {
    random_mlp(42, &[4096; 5], 64)
        .unwrap()
        .to_file()
        .unwrap()
        .to_bytes()
}

fn transfer(c: &mut Criterion) {
    let bytes = model_bytes();
    let tmp = tempfile::tempdir().unwrap();
    let src = ModelStore::open(tmp.path().join("src")).unwrap();
    let dst = ModelStore::open(tmp.path().join("dst")).unwrap();
    let stored = src.import_bytes(&bytes, None).unwrap();
    let meta = stored.meta;
    let id = meta.id;
    let src_path = stored.path.clone();
    let copy_path = tmp.path().join("copy.mvm");
    let name = format!("{}MiB", bytes.len() >> 20);

    // All 1 MiB requests of a download, and their encoded slices.
    let reqs: Vec<_> = {
        let mut dl = dst.download(meta, u64::MAX).unwrap();
        std::iter::from_fn(|| dl.next_request()).collect()
    };
    let slices: Vec<Vec<u8>> = reqs
        .iter()
        .map(|r| src.read_slice(&r.id, r.offset, r.len).unwrap())
        .collect();

    let mut g = c.benchmark_group("model_transfer");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes.len() as u64));

    g.bench_with_input(BenchmarkId::new("fs_copy", &name), &(), |b, _| {
        b.iter(|| std::fs::copy(&src_path, &copy_path).unwrap())
    });
    g.bench_with_input(BenchmarkId::new("fs_copy_fsync", &name), &(), |b, _| {
        b.iter(|| {
            std::fs::copy(&src_path, &copy_path).unwrap();
            sync(&copy_path);
        })
    });
    g.bench_with_input(BenchmarkId::new("serve_slices", &name), &(), |b, _| {
        b.iter(|| {
            for r in &reqs {
                let s = src.read_slice(&r.id, r.offset, r.len).unwrap();
                criterion::black_box(s);
            }
        })
    });
    g.bench_with_input(BenchmarkId::new("verify_slices", &name), &(), |b, _| {
        b.iter(|| {
            for (r, s) in reqs.iter().zip(&slices) {
                let d = verify_slice(&meta.file_root, meta.size, r.offset, r.len, s).unwrap();
                criterion::black_box(d);
            }
        })
    });
    g.bench_with_input(BenchmarkId::new("import_bytes", &name), &(), |b, _| {
        b.iter(|| {
            dst.import_bytes(&bytes, Some(&meta)).unwrap();
            dst.remove(&id).unwrap();
        })
    });
    g.bench_with_input(BenchmarkId::new("full_transfer", &name), &(), |b, _| {
        b.iter(|| {
            let mut dl = dst.download(meta, u64::MAX).unwrap();
            while let Some(req) = dl.next_request() {
                let wire = src.serve(&req).encode();
                let ChunkResponse::Slice(s) = ChunkResponse::decode_limited(&wire).unwrap() else {
                    panic!("peer refused")
                };
                dl.accept(&req, &s).unwrap();
            }
            dl.finish().unwrap();
            dst.remove(&id).unwrap();
        })
    });
    g.finish();
}

fn sync(path: &Path) {
    std::fs::File::open(path).unwrap().sync_all().unwrap();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
