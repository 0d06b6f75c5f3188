//! Accuracy of the imported all-MiniLM-L6-v2 against the float model, on text of every kind.
//!
//! The reference (`tests/data/minilm-reference.json`, written by `scripts/minilm-reference.py`)
//! holds 234 held-out texts in 19 categories (short, punctuation, code, numbers, capitals,
//! emoji, over-long, a dozen scripts, and the Universal Declaration of Human Rights in 40
//! languages) with the reference tokenizer's ids and the float64 embedding computed by numpy
//! from the published weights. The importer calibrates on other text. Runs when `MINILM_DIR`
//! points at the folder printed by `scripts/fetch-minilm.sh` (CI sets it); prints `skipped:`
//! otherwise. The same run checks the GPU's whole-layer path on the real model (its kernels
//! built for the host).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use gpu_verify::import::{cosine, int_embed, FloatBert};
use gpu_verify::model::Model;
use gpu_verify::tokenizer::Tokenizer;

/// Goal on the held-out set: mean and minimum cosine to the float model.
const GOAL_MEAN: f64 = 0.995;
const GOAL_MIN: f64 = 0.98;
/// Calibration texts the test imports with (the CLI's default).
const N_CALIB: usize = 300;

struct Case {
    category: String,
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f64>,
}

fn reference() -> (usize, Vec<Case>) {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("data/minilm-reference.json")).unwrap();
    let cases = v["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(c["embedding"].as_str().unwrap())
                .unwrap();
            Case {
                category: c["category"].as_str().unwrap().to_owned(),
                text: c["text"].as_str().unwrap().to_owned(),
                ids: c["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().unwrap() as u32)
                    .collect(),
                embedding: bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                    .collect(),
            }
        })
        .collect();
    (v["max_len"].as_u64().unwrap() as usize, cases)
}

#[derive(Default)]
struct Stats {
    n: usize,
    sum: f64,
    min: f64,
    worst: String,
}

impl Stats {
    fn add(&mut self, c: f64, text: &str) {
        if self.n == 0 || c < self.min {
            self.min = c;
            self.worst = text.chars().take(40).collect();
        }
        self.n += 1;
        self.sum += c;
    }
    fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }
}

#[test]
fn minilm_integer_matches_float_on_text_of_every_kind() {
    let Some(dir) = std::env::var_os("MINILM_DIR") else {
        eprintln!("skipped: MINILM_DIR not set (run scripts/fetch-minilm.sh)");
        return;
    };
    let dir = std::path::Path::new(&dir);
    let be = gpu_verify::cpu::CpuEngine::new(0).unwrap();
    let (model, rep) = gpu_verify::import::import_minilm(dir, N_CALIB, 20, &be).unwrap();
    eprintln!(
        "importer self-check: mean cosine {:.5} min {:.5} over {} English sentences",
        rep.mean_cosine, rep.min_cosine, rep.n_eval
    );
    let Model::Encoder(enc) = &model else {
        panic!("MiniLM imports as an encoder")
    };
    // The model file carries the published tokenizer (covered by its content id).
    assert!(enc.tokenizer_json.is_some());
    let tok = Tokenizer::from_encoder(enc).unwrap();
    let float = FloatBert::load(dir).unwrap();

    let (max_len, cases) = reference();
    assert!(cases.len() >= 200, "held-out set too small");
    let mut per_category: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut all = Stats::default();
    for c in &cases {
        // Token ids are the reference tokenizer's (also over-long text truncated the same way).
        assert_eq!(
            tok.encode(&c.text, max_len).unwrap(),
            c.ids,
            "token ids of {:?}",
            c.text
        );
        // The importer's float model is the published model: agrees with float64 numpy.
        let f: Vec<f64> = float
            .embed(&c.ids, None)
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let fc = cosine(&f, &c.embedding);
        assert!(fc > 0.9999, "float model vs reference {fc} on {:?}", c.text);
        let q = int_embed(&model, &c.ids, &be).unwrap();
        let cos = cosine(&q, &c.embedding);
        per_category
            .entry(&c.category)
            .or_default()
            .add(cos, &c.text);
        all.add(cos, &c.text);
    }
    let mut report = format!(
        "all-MiniLM-L6-v2, integer (numerics v{}) vs float64 reference, cosine\n\
         category           n   mean     min      worst\n",
        enc.numerics
    );
    for (cat, s) in per_category.iter().chain([(&"all", &all)]) {
        report += &format!(
            "{cat:<17} {:>3}  {:.5}  {:.5}  {:?}\n",
            s.n,
            s.mean(),
            s.min,
            s.worst
        );
    }
    eprint!("{report}");
    // Captured output is only shown for failing tests: the report also goes to a file that
    // `.ci/run` prints (target/tmp/minilm-accuracy.txt).
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-accuracy.txt");
    std::fs::write(&path, &report).unwrap();
    assert!(
        all.mean() >= GOAL_MEAN && all.min >= GOAL_MIN,
        "integer vs float: mean {:.5} (goal {GOAL_MEAN}), min {:.5} (goal {GOAL_MIN}) on {:?}",
        all.mean(),
        all.min,
        all.worst
    );

    // The GPU's whole-layer path (the CUDA layer kernels, built for the host here) gives the
    // CPU engine's bytes on the real model: one text of every category in one batch.
    let mut firsts: BTreeMap<&str, &[u32]> = BTreeMap::new();
    for c in &cases {
        firsts.entry(&c.category).or_insert(&c.ids);
    }
    let batch: Vec<Vec<u32>> = firsts.values().map(|ids| ids.to_vec()).collect();
    let input = gpu_verify::engine::Activation::tokens(&batch);
    let want = gpu_verify::engine::run(&model, &input, &be).unwrap();
    let dev = common::host_device::HostLayersEngine::default();
    let got = gpu_verify::engine::run(&model, &input, &dev).unwrap();
    assert!(dev.steps.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let differs = (0..want.outputs.len()).find(|&l| want.outputs.get(l) != got.outputs.get(l));
    assert_eq!(
        differs, None,
        "device layer path differs from the CPU first at this layer"
    );
    assert_eq!(want.commitment, got.commitment);
    eprintln!(
        "device layer path: {} texts ({} categories), {} layers identical to the CPU",
        batch.len(),
        firsts.len(),
        want.outputs.len()
    );
}
