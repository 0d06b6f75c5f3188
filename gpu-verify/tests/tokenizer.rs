//! gpu-verify's tokenizer against the reference implementation: token ids identical to the
//! Python `tokenizers` package (`tests/data/tokenizer-reference.json`, written by
//! `scripts/tokenizer-reference.py` from all-MiniLM-L6-v2's published `tokenizer.json`) on
//! sentences in many scripts. Runs when `MINILM_DIR` points at the folder printed by
//! `scripts/fetch-minilm.sh` (CI sets it); prints `skipped:` otherwise.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use gpu_verify::tokenizer::Tokenizer;

struct Case {
    category: String,
    text: String,
    ids: Vec<u32>,
}

fn reference() -> (usize, Vec<Case>) {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("data/tokenizer-reference.json")).unwrap();
    let cases = v["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            category: c["category"].as_str().unwrap().to_owned(),
            text: c["text"].as_str().unwrap().to_owned(),
            ids: c["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as u32)
                .collect(),
        })
        .collect();
    (v["max_len"].as_u64().unwrap() as usize, cases)
}

/// Per-category count of sentences whose ids differ; panics naming the first difference.
fn check(name: &str, tok: &Tokenizer) {
    let (max_len, cases) = reference();
    let mut per_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut first_bad = None;
    for c in &cases {
        let got = tok.encode(&c.text, max_len).unwrap();
        let e = per_category.entry(&c.category).or_default();
        e.0 += 1;
        if got != c.ids {
            e.1 += 1;
            first_bad.get_or_insert_with(|| {
                format!("{:?}: ours {got:?}, reference {:?}", c.text, c.ids)
            });
        }
    }
    for (cat, (n, bad)) in &per_category {
        eprintln!("{name}: {cat:<17} {}/{n} identical", n - bad);
    }
    if let Some(b) = first_bad {
        panic!("{name}: token ids differ from the reference: {b}");
    }
}

fn minilm_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MINILM_DIR");
    if dir.is_none() {
        eprintln!("skipped: MINILM_DIR not set (run scripts/fetch-minilm.sh)");
    }
    dir.map(Into::into)
}

#[test]
fn the_published_tokenizer_json_gives_the_reference_ids_in_every_script() {
    let Some(dir) = minilm_dir() else { return };
    let json = std::fs::read(dir.join("tokenizer.json")).unwrap();
    check("tokenizer.json", &Tokenizer::from_json(&json).unwrap());
}

#[test]
fn a_model_with_only_a_vocabulary_gets_the_same_ids_from_bert_s_pipeline() {
    let Some(dir) = minilm_dir() else { return };
    let vocab = std::fs::read(dir.join("vocab.txt")).unwrap();
    check(
        "vocab.txt",
        &Tokenizer::from_vocab_text(&vocab, 101, 102, 100).unwrap(),
    );
}
