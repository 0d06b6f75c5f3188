//! File and JSON edges (std only): loading model files, job inputs and commitments.
//!
//! Input file (JSON), one of:
//! * `{"tokens": [[101, 7592, 102], ...]}`: token-id sequences for an encoder;
//! * `{"text": ["some text", ...]}`: sentences, tokenised with the model's own vocabulary
//!   (an error if a sentence exceeds the model's maximum length);
//! * `{"rows": [[1, -2, 3, ...], ...]}`: int8 rows for an MLP.
//!
//! Commitment file (JSON): `{"root": "<hex>", "leaves": ["<hex>", ...]}`.
use std::path::Path;

use serde_json::{json, Value};

use crate::commit::{Commitment, Hash};
use crate::engine::{ActData, Activation};
use crate::error::Error;
use crate::format::{ModelFile, MAX_FILE_BYTES};
use crate::model::Model;
use crate::tokenizer::Tokenizer;

/// Reads, parses and checks a model file (size checked before reading).
pub fn load_model(path: &Path) -> Result<(ModelFile, Model), Error> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            what: "file bytes",
            value: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let file = ModelFile::from_bytes(&bytes)?;
    let model = Model::from_file(&file)?;
    Ok((file, model))
}

/// Writes a model file.
pub fn save_model(path: &Path, model: &Model) -> Result<ModelFile, Error> {
    let file = model.to_file()?;
    std::fs::write(path, file.to_bytes())
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    Ok(file)
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses a 32-byte hex hash.
pub fn parse_hash(s: &str) -> Result<Hash, Error> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return Err(Error::Proof(format!(
            "hash must be 64 hex digits, got `{s}`"
        )));
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .map_err(|_| Error::Proof(format!("bad hex in `{s}`")))?;
    }
    Ok(out)
}

fn int_rows(v: &Value, what: &str, lo: i64, hi: i64) -> Result<Vec<Vec<i64>>, Error> {
    let arr = v
        .as_array()
        .ok_or_else(|| Error::Input(format!("`{what}` must be an array of arrays")))?;
    arr.iter()
        .map(|row| {
            row.as_array()
                .ok_or_else(|| Error::Input(format!("`{what}` must be an array of arrays")))?
                .iter()
                .map(|x| {
                    x.as_i64().filter(|x| (lo..=hi).contains(x)).ok_or_else(|| {
                        Error::Input(format!("`{what}`: {x} is not an integer in [{lo}, {hi}]"))
                    })
                })
                .collect()
        })
        .collect()
}

/// Parses a job input file for `model`.
pub fn parse_input(text: &str, model: &Model) -> Result<Activation, Error> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| Error::Input(format!("input JSON: {e}")))?;
    let a = if let Some(t) = v.get("tokens") {
        let seqs = int_rows(t, "tokens", 0, u32::MAX as i64)?;
        Activation::tokens(
            &seqs
                .into_iter()
                .map(|s| s.into_iter().map(|x| x as u32).collect())
                .collect::<Vec<_>>(),
        )
    } else if let Some(t) = v.get("text") {
        let enc = match model {
            Model::Encoder(e) => e,
            Model::Mlp(_) => {
                return Err(Error::Input("`text` input needs an encoder model".into()))
            }
        };
        let tok = Tokenizer::from_encoder(enc)?;
        let texts = t
            .as_array()
            .ok_or_else(|| Error::Input("`text` must be an array of strings".into()))?;
        let mut seqs = Vec::new();
        for s in texts {
            let s = s
                .as_str()
                .ok_or_else(|| Error::Input("`text` must be an array of strings".into()))?;
            seqs.push(tok.encode(s, usize::MAX)?);
        }
        Activation::tokens(&seqs)
    } else if let Some(r) = v.get("rows") {
        let rows = int_rows(r, "rows", -127, 127)?;
        let cols = rows.first().map(|r| r.len()).unwrap_or(0);
        if rows.iter().any(|r| r.len() != cols) {
            return Err(Error::Input("all `rows` must have the same length".into()));
        }
        Activation::rows_i8(
            &rows
                .into_iter()
                .map(|r| r.into_iter().map(|x| x as i8).collect())
                .collect::<Vec<_>>(),
        )
    } else {
        return Err(Error::Input(
            "input JSON needs `tokens`, `text` or `rows`".into(),
        ));
    };
    a.check_shape()?;
    Ok(a)
}

/// JSON form of a commitment.
pub fn commitment_json(c: &Commitment) -> Value {
    json!({
        "root": hex(&c.root()),
        "leaves": c.leaves.iter().map(|l| hex(l)).collect::<Vec<_>>(),
    })
}

/// Parses a commitment file and checks that its root matches its leaves.
pub fn parse_commitment(text: &str) -> Result<Commitment, Error> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| Error::Proof(format!("commitment JSON: {e}")))?;
    let leaves = v
        .get("leaves")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Proof("commitment needs `leaves`".into()))?
        .iter()
        .map(|l| parse_hash(l.as_str().unwrap_or("")))
        .collect::<Result<Vec<_>, _>>()?;
    let c = Commitment { leaves };
    if let Some(root) = v.get("root").and_then(Value::as_str) {
        if parse_hash(root)? != c.root() {
            return Err(Error::Proof(
                "commitment root does not match its leaves".into(),
            ));
        }
    }
    Ok(c)
}

/// JSON form of a final output (embeddings in Q15 plus their real values, or int8 rows).
pub fn output_json(a: &Activation) -> Value {
    let cols = a.cols.max(1) as usize;
    match &a.data {
        ActData::I16(v) => json!({
            "embedding_q15": v.chunks(cols).map(|r| r.to_vec()).collect::<Vec<_>>(),
            "embedding": v.chunks(cols).map(|r| r.iter().map(|&x| x as f64 / 32768.0).collect::<Vec<_>>()).collect::<Vec<_>>(),
        }),
        ActData::I8(v) => json!({ "rows": v.chunks(cols).map(|r| r.to_vec()).collect::<Vec<_>>() }),
        ActData::Tokens(v) => json!({ "tokens": v }),
    }
}
