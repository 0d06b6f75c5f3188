//! Accuracy of the imported all-MiniLM-L6-v2 against the float reference.
//! Runs when `MINILM_DIR` points at the folder printed by `scripts/fetch-minilm.sh`.
#![allow(clippy::unwrap_used)]

#[test]
fn minilm_integer_matches_float() {
    let Some(dir) = std::env::var_os("MINILM_DIR") else {
        eprintln!("skipped: MINILM_DIR not set (run scripts/fetch-minilm.sh)");
        return;
    };
    let be = gpu_verify::cpu::CpuEngine::new(0).unwrap();
    let (model, rep) =
        gpu_verify::import::import_minilm(std::path::Path::new(&dir), 300, 100, &be).unwrap();
    eprintln!(
        "mean cosine {} min {} over {} held-out sentences",
        rep.mean_cosine, rep.min_cosine, rep.n_eval
    );
    assert!(rep.mean_cosine >= 0.99, "mean cosine {}", rep.mean_cosine);
    // The text path of the CLI gives the same embedding as the importer's check.
    let gpu_verify::model::Model::Encoder(e) = &model else {
        panic!()
    };
    let tok = gpu_verify::tokenizer::Tokenizer::from_encoder(e).unwrap();
    assert_eq!(
        tok.encode("Hello, world!", 256).unwrap(),
        vec![101, 7592, 1010, 2088, 999, 102]
    );
    // The imported model carries the published tokenizer.json (covered by its content id).
    assert!(e.tokenizer_json.is_some());
    assert_eq!(
        tok.encode("Où est la gare ? Tôi yêu tiếng Việt. Ёжик", 256)
            .unwrap(),
        gpu_verify::tokenizer::Tokenizer::from_json(
            &std::fs::read(std::path::Path::new(&dir).join("tokenizer.json")).unwrap()
        )
        .unwrap()
        .encode("Où est la gare ? Tôi yêu tiếng Việt. Ёжик", 256)
        .unwrap()
    );
}
