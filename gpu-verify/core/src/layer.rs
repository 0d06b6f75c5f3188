//! One layer of a registered model, opened against its content id, and the one-step
//! dispute that re-executes it.
//!
//! The chain never holds a whole model. To settle a dispute over layer `i` of a job, a
//! challenger sends [`LayerWeights`]: the model header (kind and parameters) and exactly
//! the tensors layer `i` reads, each with a Merkle proof against the model's content id
//! (see [`crate::format::ModelFile::content_hash`]: leaf 0 is the header, leaf `j + 1` the
//! `j`-th tensor in name order). With the layer's agreed input activation, that is enough
//! to re-run the layer bit for bit ([`settle_dispute`]).
//!
//! Which tensors a layer reads:
//! * encoder layer 0 (embeddings): the 12 `emb.*` tensors;
//! * encoder layers `2b + 1` (attention) and `2b + 2` (feed-forward): the 29 tensors of
//!   block `b` (`l{b:03}.*`);
//! * encoder layer `2L + 1` (pooling): none;
//! * MLP layer `l`: `mlp{l:03}.{b,m,s,w}`.
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use blake3::hazmat::HasherExt;
use parity_scale_codec::{Decode, Encode};

use crate::commit::{activation_hash, Hash, MerkleProof};
use crate::engine::{encoder_step, mlp_step, ActData, Activation, EncoderStep, Gemm};
use crate::error::Error;
use crate::format::{header_leaf, DType, ModelFile, Tensor, MAX_NDIM, N_PARAMS};
use crate::model::{
    block_tensor_names, embedding_tensor_names, Block, Embedding, Embeddings, Encoder,
    EncoderConfig, Linear, KIND_ENCODER, KIND_MLP,
};

/// Most leaves a job commitment may have (input plus one per layer): enough for an
/// encoder of 48 blocks or an MLP of 127 layers.
pub const MAX_COMMIT_LEAVES: usize = 128;

/// Number of committed layers of a model with this header.
pub fn layer_count(kind: u32, params: &[u32; N_PARAMS]) -> Result<usize, Error> {
    match kind {
        KIND_ENCODER => Ok(2 * EncoderConfig::from_params(params)?.layers + 2),
        KIND_MLP => {
            let n = params[0] as usize;
            if n == 0 || n > 999 || params[2] == 0 || params[3..].iter().any(|&x| x != 0) {
                return Err(Error::Invalid(
                    "MLP header: bad layer count, max_rows or reserved field".into(),
                ));
            }
            Ok(n)
        }
        k => Err(Error::Invalid(format!("unknown model kind {k}"))),
    }
}

/// Names of the tensors layer `layer` reads, sorted.
pub fn layer_tensor_names(
    numerics: u32,
    kind: u32,
    params: &[u32; N_PARAMS],
    layer: usize,
) -> Result<Vec<String>, Error> {
    let n = layer_count(kind, params)?;
    if layer >= n {
        return Err(Error::Input(format!(
            "layer {layer} out of range (model has {n})"
        )));
    }
    Ok(match kind {
        KIND_ENCODER if layer == 0 => embedding_tensor_names(),
        KIND_ENCODER if layer + 1 == n => Vec::new(),
        KIND_ENCODER => block_tensor_names(numerics, (layer - 1) / 2),
        _ => ["b", "m", "s", "w"]
            .iter()
            .map(|s| format!("mlp{layer:03}.{s}"))
            .collect(),
    })
}

/// A tensor of a model with its Merkle proof against the content id.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OpenedTensor {
    /// Name (UTF-8).
    pub name: Vec<u8>,
    /// Element type code ([`DType`]).
    pub dtype: u8,
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// Raw little-endian element bytes.
    pub data: Vec<u8>,
    /// Proof of the tensor's leaf.
    pub proof: MerkleProof,
}

impl OpenedTensor {
    /// Checks the descriptor and turns it into a [`Tensor`].
    fn to_tensor(&self) -> Result<Tensor, Error> {
        let name = String::from_utf8(self.name.clone())
            .map_err(|_| Error::Invalid("tensor name is not UTF-8".into()))?;
        let dtype = DType::from_u8(self.dtype)
            .ok_or_else(|| Error::Invalid(format!("`{name}`: unknown dtype {}", self.dtype)))?;
        if self.shape.len() as u64 > MAX_NDIM {
            return Err(Error::Invalid(format!("`{name}`: too many dimensions")));
        }
        let numel = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bytes = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
        if bytes != Some(self.data.len() as u64) {
            return Err(Error::Invalid(format!(
                "`{name}`: {} data bytes do not match its shape",
                self.data.len()
            )));
        }
        Ok(Tensor {
            name,
            dtype,
            shape: self.shape.clone(),
            data: self.data.clone(),
        })
    }
}

/// Name of the one tensor opened by rows rather than whole: the word-embedding table,
/// which for real vocabularies (MiniLM: 30,522 x 384) is too large for a transaction, while
/// a job reads only the rows of its tokens.
pub const SLICED_TENSOR: &str = "emb.word.q";

/// A tensor opened at some rows only, proven against its leaf hash through the BLAKE3 tree
/// of its hash input ([`crate::format::tensor_hash_prefix`] followed by the data): the
/// 1 KiB chunks that hold the rows, and the chaining value of every maximal subtree that
/// holds none of them, left to right (what BLAKE3 verified streaming sends).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SlicedTensor {
    /// Name (UTF-8).
    pub name: Vec<u8>,
    /// Element type code ([`DType`]).
    pub dtype: u8,
    /// Dimensions, outermost first (rows first).
    pub shape: Vec<u32>,
    /// Opened chunks of the hash input: (chunk index, its bytes), increasing.
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// Chaining values of the subtrees without an opened chunk, left to right.
    pub subtrees: Vec<[u8; 32]>,
    /// Proof of the tensor's leaf.
    pub proof: MerkleProof,
}

const CHUNK: u64 = blake3::CHUNK_LEN as u64;

enum TreeNode {
    Cv([u8; 32]),
    Root(Hash),
}

impl SlicedTensor {
    fn geometry(&self) -> Result<(u64, u64, u64), Error> {
        let dtype = DType::from_u8(self.dtype)
            .ok_or_else(|| Error::Invalid(format!("unknown dtype {}", self.dtype)))?;
        if self.shape.is_empty() || self.shape.len() as u64 > MAX_NDIM {
            return Err(Error::Invalid(
                "a sliced tensor needs 1..=4 dimensions".into(),
            ));
        }
        let numel = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| Error::Invalid("tensor size overflows".into()))?;
        let data_len = numel
            .checked_mul(dtype.size() as u64)
            .ok_or_else(|| Error::Invalid("tensor size overflows".into()))?;
        let row_bytes = data_len / self.shape[0].max(1) as u64;
        let prefix =
            crate::format::tensor_hash_prefix(&self.name, self.dtype, &self.shape, data_len).len()
                as u64;
        Ok((prefix, data_len, row_bytes))
    }

    /// Opens rows `rows` of `t` (with `proof` for its leaf).
    pub fn open(t: &Tensor, rows: &[u32], proof: MerkleProof) -> Result<Self, Error> {
        let mut input = crate::format::tensor_hash_prefix(
            t.name.as_bytes(),
            t.dtype as u8,
            &t.shape,
            t.data.len() as u64,
        );
        let prefix = input.len() as u64;
        input.extend_from_slice(&t.data);
        let n_rows = *t
            .shape
            .first()
            .ok_or_else(|| Error::Invalid("cannot slice a scalar".into()))?;
        let row_bytes = t.data.len() as u64 / n_rows.max(1) as u64;
        let mut wanted: Vec<u64> = Vec::new();
        for &r in rows {
            if r >= n_rows {
                return Err(Error::Input(format!(
                    "row {r} out of range ({n_rows} rows)"
                )));
            }
            let start = prefix + r as u64 * row_bytes;
            let end = start + row_bytes;
            wanted.extend(start / CHUNK..=(end.max(start + 1) - 1) / CHUNK);
        }
        if wanted.is_empty() {
            return Err(Error::Input("no rows to open".into()));
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut out = SlicedTensor {
            name: t.name.as_bytes().to_vec(),
            dtype: t.dtype as u8,
            shape: t.shape.clone(),
            chunks: Vec::new(),
            subtrees: Vec::new(),
            proof,
        };
        out.collect(&input, 0, input.len() as u64, &wanted);
        Ok(out)
    }

    fn collect(&mut self, input: &[u8], offset: u64, len: u64, wanted: &[u64]) {
        let (first, last) = (offset / CHUNK, (offset + len - 1) / CHUNK);
        let any = wanted.iter().any(|&c| c >= first && c <= last);
        let bytes = &input[offset as usize..(offset + len) as usize];
        if !any {
            // A subtree without a wanted chunk (never the root: `open` wants a row).
            let mut h = blake3::Hasher::new();
            h.set_input_offset(offset);
            h.update(bytes);
            self.subtrees.push(h.finalize_non_root());
        } else if len <= CHUNK {
            self.chunks.push((first, bytes.to_vec()));
        } else {
            let left = blake3::hazmat::left_subtree_len(len);
            self.collect(input, offset, left, wanted);
            self.collect(input, offset + left, len - left, wanted);
        }
    }

    fn rebuild(
        &self,
        offset: u64,
        len: u64,
        root: bool,
        next_chunk: &mut usize,
        next_subtree: &mut usize,
    ) -> Result<TreeNode, Error> {
        let bad = |m: &str| Error::Proof(format!("sliced tensor: {m}"));
        let has_chunk = self
            .chunks
            .get(*next_chunk)
            .is_some_and(|(c, _)| c.saturating_mul(CHUNK) < offset + len);
        if let Some((c, _)) = self.chunks.get(*next_chunk) {
            if c.saturating_mul(CHUNK) < offset {
                return Err(bad("chunks out of order"));
            }
        }
        if !has_chunk {
            if root {
                return Err(bad("no chunk opened"));
            }
            let cv = *self
                .subtrees
                .get(*next_subtree)
                .ok_or_else(|| bad("too few subtree values"))?;
            *next_subtree += 1;
            return Ok(TreeNode::Cv(cv));
        }
        if len <= CHUNK {
            let (c, bytes) = &self.chunks[*next_chunk];
            if c.checked_mul(CHUNK) != Some(offset) || bytes.len() as u64 != len {
                return Err(bad("a chunk has the wrong place or length"));
            }
            *next_chunk += 1;
            if root {
                return Ok(TreeNode::Root(*blake3::hash(bytes).as_bytes()));
            }
            let mut h = blake3::Hasher::new();
            h.set_input_offset(offset);
            h.update(bytes);
            return Ok(TreeNode::Cv(h.finalize_non_root()));
        }
        let left = blake3::hazmat::left_subtree_len(len);
        let l = self.rebuild(offset, left, false, next_chunk, next_subtree)?;
        let r = self.rebuild(offset + left, len - left, false, next_chunk, next_subtree)?;
        let (TreeNode::Cv(l), TreeNode::Cv(r)) = (l, r) else {
            return Err(bad("inner node"));
        };
        Ok(if root {
            TreeNode::Root(
                *blake3::hazmat::merge_subtrees_root(&l, &r, blake3::hazmat::Mode::Hash).as_bytes(),
            )
        } else {
            TreeNode::Cv(blake3::hazmat::merge_subtrees_non_root(
                &l,
                &r,
                blake3::hazmat::Mode::Hash,
            ))
        })
    }

    /// Recomputes the tensor's leaf hash from the opened chunks and subtree values.
    pub fn leaf_hash(&self) -> Result<Hash, Error> {
        let (prefix, data_len, _) = self.geometry()?;
        let total = prefix
            .checked_add(data_len)
            .ok_or_else(|| Error::Invalid("tensor size overflows".into()))?;
        let (mut c, mut t) = (0, 0);
        let TreeNode::Root(h) = self.rebuild(0, total, true, &mut c, &mut t)? else {
            return Err(Error::Proof("sliced tensor: no root".into()));
        };
        if c != self.chunks.len() || t != self.subtrees.len() {
            return Err(Error::Proof(
                "sliced tensor: unused chunks or subtree values".into(),
            ));
        }
        Ok(h)
    }

    /// The bytes of row `r`, if its chunks were opened.
    pub fn row(&self, r: u32) -> Option<Vec<u8>> {
        let (prefix, _, row_bytes) = self.geometry().ok()?;
        if r >= *self.shape.first()? {
            return None;
        }
        let start = prefix + r as u64 * row_bytes;
        let mut out = Vec::with_capacity(row_bytes as usize);
        let mut pos = start;
        while pos < start + row_bytes {
            let ci = pos / CHUNK;
            let i = self.chunks.binary_search_by_key(&ci, |(c, _)| *c).ok()?;
            let bytes = &self.chunks[i].1;
            let from = (pos - ci * CHUNK) as usize;
            let to = ((start + row_bytes).min((ci + 1) * CHUNK) - ci * CHUNK) as usize;
            out.extend_from_slice(bytes.get(from..to)?);
            pos = ci * CHUNK + to as u64;
        }
        Some(out)
    }
}

/// The header and the tensors one layer reads, each proven against the model's content id.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LayerWeights {
    /// Architecture kind.
    pub kind: u32,
    /// Architecture parameters.
    pub params: [u32; N_PARAMS],
    /// Proof of the header leaf (index 0).
    pub header_proof: MerkleProof,
    /// The layer's tensors in name order (all but the sliced ones).
    pub tensors: Vec<OpenedTensor>,
    /// Tensors opened at the rows the input reads ([`SLICED_TENSOR`] of layer 0, when
    /// opened with [`LayerWeights::open_for_input`]).
    pub slices: Vec<SlicedTensor>,
    /// Numerics version (part of the header leaf).
    pub numerics: u32,
}

impl LayerWeights {
    /// Cuts the weights of `layer` out of a whole model file, with proofs.
    pub fn open(file: &ModelFile, layer: usize) -> Result<Self, Error> {
        let names = layer_tensor_names(file.numerics, file.kind, &file.params, layer)?;
        let mut leaves = Vec::with_capacity(file.tensors.len() + 1);
        leaves.push(header_leaf(file.numerics, file.kind, &file.params));
        leaves.extend(file.tensors.iter().map(Tensor::hash));
        let mut tensors = Vec::with_capacity(names.len());
        for name in &names {
            let j = file
                .tensors
                .binary_search_by(|t| t.name.as_bytes().cmp(name.as_bytes()))
                .map_err(|_| Error::MissingTensor(name.clone()))?;
            let t = &file.tensors[j];
            tensors.push(OpenedTensor {
                name: t.name.as_bytes().to_vec(),
                dtype: t.dtype as u8,
                shape: t.shape.clone(),
                data: t.data.clone(),
                proof: crate::commit::merkle_proof(&leaves, j + 1)?,
            });
        }
        Ok(LayerWeights {
            kind: file.kind,
            params: file.params,
            header_proof: crate::commit::merkle_proof(&leaves, 0)?,
            tensors,
            slices: Vec::new(),
            numerics: file.numerics,
        })
    }

    /// [`LayerWeights::open`] for re-running `layer` on `input`: the word-embedding table
    /// of an encoder's layer 0 is opened at the input's token rows only, which keeps the
    /// opening small whatever the vocabulary.
    pub fn open_for_input(
        file: &ModelFile,
        layer: usize,
        input: &Activation,
    ) -> Result<Self, Error> {
        let mut w = Self::open(file, layer)?;
        let ActData::Tokens(ids) = &input.data else {
            return Ok(w);
        };
        let Some(i) = w
            .tensors
            .iter()
            .position(|t| t.name == SLICED_TENSOR.as_bytes())
        else {
            return Ok(w);
        };
        let proof = w.tensors.remove(i).proof;
        let t = file
            .get(SLICED_TENSOR)
            .ok_or_else(|| Error::MissingTensor(SLICED_TENSOR.into()))?;
        let mut rows = ids.clone();
        rows.sort_unstable();
        rows.dedup();
        w.slices.push(SlicedTensor::open(t, &rows, proof)?);
        Ok(w)
    }

    /// Bytes of tensor data carried (whole tensors and opened chunks).
    pub fn data_bytes(&self) -> u64 {
        let whole: u64 = self.tensors.iter().map(|t| t.data.len() as u64).sum();
        let sliced: u64 = self
            .slices
            .iter()
            .flat_map(|s| s.chunks.iter().map(|(_, b)| b.len() as u64))
            .sum();
        whole.saturating_add(sliced)
    }

    /// Number of committed layers of the model these weights belong to.
    pub fn layer_count(&self) -> Result<usize, Error> {
        layer_count(self.kind, &self.params)
    }

    /// Checks that these are exactly the tensors of `layer` of model `model_id` and returns
    /// them as a partial model file (header plus the layer's tensors).
    pub fn verify(&self, model_id: &Hash, layer: usize) -> Result<ModelFile, Error> {
        let leaf_count = self.header_proof.leaf_count;
        if self.header_proof.index != 0
            || !self.header_proof.verify(
                model_id,
                &header_leaf(self.numerics, self.kind, &self.params),
            )
        {
            return Err(Error::Proof(
                "the header is not the registered model's".into(),
            ));
        }
        let names = layer_tensor_names(self.numerics, self.kind, &self.params, layer)?;
        // Whole tensors and sliced ones together are exactly the layer's; only the
        // word-embedding table of layer 0 may be sliced.
        let mut opened: Vec<&[u8]> = self.tensors.iter().map(|t| t.name.as_slice()).collect();
        for sl in &self.slices {
            if sl.name != SLICED_TENSOR.as_bytes() || layer != 0 || self.slices.len() > 1 {
                return Err(Error::Proof(
                    "only layer 0's word embeddings may be opened by rows".into(),
                ));
            }
            opened.push(&sl.name);
        }
        opened.sort_unstable();
        if opened.len() != names.len() || opened.iter().zip(&names).any(|(a, n)| *a != n.as_bytes())
        {
            return Err(Error::Proof(format!(
                "layer {layer} reads {} tensors ({}...), the opening has {}",
                names.len(),
                names.first().map(String::as_str).unwrap_or(""),
                opened.len()
            )));
        }
        for sl in &self.slices {
            if sl.proof.leaf_count != leaf_count
                || sl.proof.index == 0
                || !sl.proof.verify(model_id, &sl.leaf_hash()?)
            {
                return Err(Error::Proof(
                    "sliced tensor is not the registered model's".into(),
                ));
            }
        }
        let mut tensors = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let tensor = t.to_tensor()?;
            if t.proof.leaf_count != leaf_count
                || t.proof.index == 0
                || !t.proof.verify(model_id, &tensor.hash())
            {
                return Err(Error::Proof(format!(
                    "tensor `{}` is not the registered model's",
                    tensor.name
                )));
            }
            tensors.push(tensor);
        }
        ModelFile::new(self.kind, self.params, tensors)?.with_numerics(self.numerics)
    }

    /// Verifies the weights against `model_id` and runs `layer` on `input`.
    pub fn run(
        &self,
        model_id: &Hash,
        layer: usize,
        input: &Activation,
        gemm: &dyn Gemm,
    ) -> Result<Activation, Error> {
        let part = self.verify(model_id, layer)?;
        self.run_verified(&part, layer, input, gemm)
    }

    /// Runs `layer` on `input` from the partial file [`LayerWeights::verify`] returned.
    fn run_verified(
        &self,
        part: &ModelFile,
        layer: usize,
        input: &Activation,
        gemm: &dyn Gemm,
    ) -> Result<Activation, Error> {
        let n = self.layer_count()?;
        match self.kind {
            KIND_ENCODER => {
                let cfg = EncoderConfig::from_params(&self.params)?;
                let mut enc = Encoder {
                    numerics: self.numerics,
                    cfg,
                    word: empty_embedding(),
                    pos: empty_embedding(),
                    typ: empty_embedding(),
                    emb_ln: crate::model::LayerNorm {
                        g: Vec::new(),
                        b: Vec::new(),
                        eps: 0,
                        shift: 0,
                    },
                    blocks: Vec::new(),
                    vocab_text: None,
                    tokenizer_json: None,
                };
                if layer == 0 {
                    if let Some(slice) = self.slices.first() {
                        let (compact, cfg, input) = compact_embeddings(part, slice, &cfg, input)?;
                        enc.cfg = cfg;
                        let e = Embeddings::load(&compact, &cfg)?;
                        enc.word = e.word;
                        enc.pos = e.pos;
                        enc.typ = e.typ;
                        enc.emb_ln = e.emb_ln;
                        return encoder_step(&enc, EncoderStep::Embed, &input, gemm);
                    }
                    let e = Embeddings::load(part, &cfg)?;
                    enc.word = e.word;
                    enc.pos = e.pos;
                    enc.typ = e.typ;
                    enc.emb_ln = e.emb_ln;
                    encoder_step(&enc, EncoderStep::Embed, input, gemm)
                } else if layer + 1 == n {
                    encoder_step(&enc, EncoderStep::Pool, input, gemm)
                } else {
                    let block = Block::load(part, (layer - 1) / 2, &cfg)?;
                    let step = if layer % 2 == 1 {
                        EncoderStep::Attention(&block)
                    } else {
                        EncoderStep::Ffn(&block)
                    };
                    encoder_step(&enc, step, input, gemm)
                }
            }
            _ => {
                let p = format!("mlp{layer:03}");
                let w = part
                    .get(&format!("{p}.w"))
                    .ok_or_else(|| Error::MissingTensor(format!("{p}.w")))?;
                let (rows, cols) = match w.shape.as_slice() {
                    [r, c] => (*r as usize, *c as usize),
                    _ => return Err(Error::Invalid(format!("`{p}.w` is not a matrix"))),
                };
                let lin = Linear::load(part, &p, rows, cols)?;
                let relu = layer + 1 < n;
                mlp_step(&lin, relu, self.params[2] as usize, layer, input, gemm)
            }
        }
    }
}

/// The embedding tables cut down to the rows `input` reads, and `input` renumbered to
/// them: the embedding layer only looks rows up, so its output is the same.
fn compact_embeddings(
    part: &ModelFile,
    slice: &SlicedTensor,
    cfg: &EncoderConfig,
    input: &Activation,
) -> Result<(ModelFile, EncoderConfig, Activation), Error> {
    let ActData::Tokens(ids) = &input.data else {
        return Err(Error::Input(
            "the encoder's first layer expects token ids".into(),
        ));
    };
    if let Some(&bad) = ids.iter().find(|&&t| t as usize >= cfg.vocab) {
        return Err(Error::Input(format!(
            "token id {bad} >= vocabulary size {}",
            cfg.vocab
        )));
    }
    let mut rows = ids.clone();
    rows.sort_unstable();
    rows.dedup();
    let h = cfg.hidden;
    let get = |name: &str| {
        part.get(name)
            .ok_or_else(|| Error::MissingTensor(name.into()))
    };
    let (m, sh) = (get("emb.word.m")?, get("emb.word.s")?);
    let (m_all, s_all) = (m.to_i32(), &sh.data);
    if m_all.len() != cfg.vocab || s_all.len() != cfg.vocab {
        return Err(Error::Invalid(
            "word-embedding factors do not match the vocabulary".into(),
        ));
    }
    let mut q = Vec::with_capacity(rows.len() * h);
    let (mut mc, mut sc) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for &r in &rows {
        let row = slice
            .row(r)
            .ok_or_else(|| Error::Proof(format!("row {r} of the word embeddings is not opened")))?;
        if row.len() != h {
            return Err(Error::Proof(
                "word-embedding rows have the wrong width".into(),
            ));
        }
        q.extend(row.iter().map(|&b| b as i8));
        mc.push(m_all[r as usize]);
        sc.push(s_all[r as usize]);
    }
    let k = rows.len() as u32;
    let mut tensors: Vec<Tensor> = part
        .tensors
        .iter()
        .filter(|t| !t.name.starts_with("emb.word."))
        .cloned()
        .collect();
    tensors.push(Tensor::from_i8("emb.word.q", &[k, h as u32], &q));
    tensors.push(Tensor::from_i32("emb.word.m", &[k], &mc));
    tensors.push(Tensor::from_u8("emb.word.s", &[k], &sc));
    let compact = ModelFile::new(part.kind, part.params, tensors)?.with_numerics(part.numerics)?;
    let mut cfg = *cfg;
    cfg.vocab = rows.len();
    let renumbered: Vec<u32> = ids
        .iter()
        .map(|t| rows.binary_search(t).unwrap_or(0) as u32)
        .collect();
    let input = Activation {
        lens: input.lens.clone(),
        cols: input.cols,
        data: ActData::Tokens(renumbered),
    };
    Ok((compact, cfg, input))
}

fn empty_embedding() -> Embedding {
    Embedding {
        rows: 0,
        cols: 0,
        q: Vec::new(),
        rq: Vec::new(),
    }
}

/// The first layer whose committed output differs between two commitments (leaf 0 is the
/// input hash, leaf `i + 1` layer `i`'s output). Errors if the lengths or inputs differ or
/// if they agree everywhere.
pub fn first_disagreement(provider: &[Hash], challenger: &[Hash]) -> Result<usize, Error> {
    if provider.len() != challenger.len() {
        return Err(Error::Proof(format!(
            "commitments have {} and {} leaves",
            provider.len(),
            challenger.len()
        )));
    }
    if provider.first() != challenger.first() {
        return Err(Error::Proof("commitments are for different inputs".into()));
    }
    provider
        .iter()
        .zip(challenger)
        .skip(1)
        .position(|(a, b)| a != b)
        .ok_or_else(|| Error::Proof("the commitments agree on every layer".into()))
}

/// What re-executing the first disputed layer found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisputeVerdict {
    /// The layer re-executed (its input is agreed by both sides).
    pub layer: u32,
    /// Hash of the correct output of that layer.
    pub recomputed: Hash,
    /// Whether the provider's committed output hash is the correct one.
    pub provider_right: bool,
    /// Whether the challenger's committed output hash is the correct one.
    pub challenger_right: bool,
}

/// Why a dispute could not be settled: each names the side of the challenge at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisputeError {
    /// The commitments have other lengths than the model needs, other inputs, or agree.
    Commitment(Error),
    /// The layer named is not the first where the commitments differ (that one is given).
    WrongLayer {
        /// The first differing layer.
        first: u32,
    },
    /// The input activation is not the agreed input of the layer.
    Activation,
    /// The weights are not that layer's tensors of the model (header or proofs fail).
    Weights(Error),
    /// The layer could not run on the opened data.
    Execution(Error),
}

/// Settles a dispute in one step: finds the first layer where the two commitments differ
/// (it must be `layer`, the one the challenger opened), checks that `input` is the
/// activation both committed as that layer's input and that `weights` are that layer's
/// tensors of model `model_id`, re-executes the layer and says whose output hash is
/// right. Every malformed piece is an error, never a verdict.
pub fn settle_dispute(
    model_id: &Hash,
    provider: &[Hash],
    challenger: &[Hash],
    layer: u32,
    input: &Activation,
    weights: &LayerWeights,
    gemm: &dyn Gemm,
) -> Result<DisputeVerdict, DisputeError> {
    let n = weights.layer_count().map_err(DisputeError::Weights)?;
    if provider.len() != n + 1 {
        return Err(DisputeError::Commitment(Error::Proof(format!(
            "commitment has {} leaves, the model needs {}",
            provider.len(),
            n + 1
        ))));
    }
    let first = first_disagreement(provider, challenger).map_err(DisputeError::Commitment)?;
    if first != layer as usize {
        return Err(DisputeError::WrongLayer {
            first: first as u32,
        });
    }
    if activation_hash(input) != provider[first] {
        return Err(DisputeError::Activation);
    }
    let part = weights
        .verify(model_id, first)
        .map_err(DisputeError::Weights)?;
    let out = weights
        .run_verified(&part, first, input, gemm)
        .map_err(DisputeError::Execution)?;
    let recomputed = activation_hash(&out);
    Ok(DisputeVerdict {
        layer,
        recomputed,
        provider_right: recomputed == provider[first + 1],
        challenger_right: recomputed == challenger[first + 1],
    })
}

impl LayerWeights {
    /// Multiply-accumulates re-executing `layer` on an input of sequences `lens` costs,
    /// plus one per byte of tensor data hashed: the work the runtime prices a dispute by.
    /// Numerics v2 runs every encoder GEMM on twice the rows (the high and low halves).
    /// Saturates rather than failing: a malformed opening is refused later anyway.
    pub fn work(&self, layer: usize, lens: &[u32]) -> u64 {
        let rows: u64 = lens.iter().map(|&l| l as u64).sum();
        let gemm_rows = if self.numerics == crate::numerics::NUMERICS_V1 {
            rows
        } else {
            rows.saturating_mul(2)
        };
        let hashed = self.data_bytes();
        let macs = match (self.kind, EncoderConfig::from_params(&self.params)) {
            (KIND_ENCODER, Ok(cfg)) => {
                let (h, i) = (cfg.hidden as u64, cfg.intermediate as u64);
                let last = 2 * cfg.layers + 1;
                if layer == 0 || layer >= last {
                    rows.saturating_mul(h)
                } else if layer % 2 == 1 {
                    let attn = lens.iter().fold(0u64, |acc, &l| {
                        acc.saturating_add(
                            (l as u64).saturating_mul(l as u64).saturating_mul(2 * h),
                        )
                    });
                    gemm_rows.saturating_mul(4 * h * h).saturating_add(attn)
                } else {
                    gemm_rows.saturating_mul(2 * h * i)
                }
            }
            // An MLP layer multiplies every row by its weight matrix.
            _ => rows.saturating_mul(hashed),
        };
        macs.saturating_add(hashed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::engine::{run, RefGemm};
    use crate::format::ModelFile;
    use crate::model::Model;
    use alloc::vec;

    /// A small random-ish encoder built from the file format (no std helpers here).
    pub(crate) fn tiny_mlp() -> ModelFile {
        let mut t = Vec::new();
        let dims = [(6u32, 4u32), (5, 6), (3, 5)];
        for (l, (n, k)) in dims.iter().enumerate() {
            let w: Vec<i8> = (0..n * k)
                .map(|x| ((x * 7 + l as u32) % 11) as i8 - 5)
                .collect();
            t.push(Tensor::from_i8(&format!("mlp{l:03}.w"), &[*n, *k], &w));
            t.push(Tensor::from_i32(
                &format!("mlp{l:03}.b"),
                &[*n],
                &vec![3; *n as usize],
            ));
            t.push(Tensor::from_i32(
                &format!("mlp{l:03}.m"),
                &[*n],
                &vec![1 << 20; *n as usize],
            ));
            t.push(Tensor::from_u8(
                &format!("mlp{l:03}.s"),
                &[*n],
                &vec![22; *n as usize],
            ));
        }
        let mut params = [0u32; N_PARAMS];
        params[0] = 3;
        params[1] = 4;
        params[2] = 16;
        ModelFile::new(KIND_MLP, params, t).unwrap()
    }

    #[test]
    fn every_layer_reruns_from_its_opening_alone() {
        let f = tiny_mlp();
        let id = f.content_hash();
        let m = Model::from_file(&f).unwrap();
        let input = Activation::rows_i8(&[vec![1, -2, 3, 4], vec![5, 6, -7, 8]]);
        let trace = run(&m, &input, &RefGemm).unwrap();
        for layer in 0..3 {
            let w = LayerWeights::open(&f, layer).unwrap();
            let w = LayerWeights::decode(&mut &w.encode()[..]).unwrap();
            let inp = if layer == 0 {
                &input
            } else {
                &trace.outputs[layer - 1]
            };
            let out = w.run(&id, layer, inp, &RefGemm).unwrap();
            assert_eq!(out, trace.outputs[layer]);
            // The opening of another layer, or against another model, is refused.
            assert!(w.run(&id, (layer + 1) % 3, inp, &RefGemm).is_err());
            assert!(w.run(&[0; 32], layer, inp, &RefGemm).is_err());
        }
    }

    #[test]
    fn a_dispute_blames_whoever_committed_the_wrong_layer() {
        let f = tiny_mlp();
        let id = f.content_hash();
        let m = Model::from_file(&f).unwrap();
        let input = Activation::rows_i8(&[vec![1, -2, 3, 4]]);
        let honest = run(&m, &input, &RefGemm).unwrap().commitment.leaves;
        let mut cheat = honest.clone();
        cheat[2] = [7; 32];
        cheat[3] = [8; 32];
        let trace = run(&m, &input, &RefGemm).unwrap();
        let w = LayerWeights::open(&f, 1).unwrap();
        let v = settle_dispute(&id, &cheat, &honest, 1, &trace.outputs[0], &w, &RefGemm).unwrap();
        assert_eq!(v.layer, 1);
        assert!(!v.provider_right && v.challenger_right);
        let v = settle_dispute(&id, &honest, &cheat, 1, &trace.outputs[0], &w, &RefGemm).unwrap();
        assert!(v.provider_right && !v.challenger_right);
        // Wrong input, wrong layer's weights, agreeing commitments: errors.
        let x = &trace.outputs[0];
        assert_eq!(
            settle_dispute(&id, &cheat, &honest, 1, &input, &w, &RefGemm),
            Err(DisputeError::Activation)
        );
        assert_eq!(
            settle_dispute(&id, &cheat, &honest, 2, x, &w, &RefGemm),
            Err(DisputeError::WrongLayer { first: 1 })
        );
        let w0 = LayerWeights::open(&f, 0).unwrap();
        assert!(matches!(
            settle_dispute(&id, &cheat, &honest, 1, x, &w0, &RefGemm),
            Err(DisputeError::Weights(_))
        ));
        assert!(matches!(
            settle_dispute(&id, &honest, &honest, 1, x, &w, &RefGemm),
            Err(DisputeError::Commitment(_))
        ));
        // A tampered tensor no longer hashes to the model id.
        let mut bad = w.clone();
        bad.tensors[3].data[0] ^= 1;
        assert!(matches!(
            settle_dispute(&id, &cheat, &honest, 1, x, &bad, &RefGemm),
            Err(DisputeError::Weights(Error::Proof(_)))
        ));
    }
}

#[cfg(test)]
mod slice_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    #[test]
    fn sliced_leaf_hash_matches_the_tensor_hash() {
        for (rows, cols) in [
            (3u32, 5u32),
            (40, 384),
            (300, 384),
            (3000, 384),
            (30522, 38),
            (30522, 384),
        ] {
            let data: Vec<i8> = (0..rows * cols).map(|i| (i % 251) as i8).collect();
            let t = Tensor::from_i8("emb.word.q", &[rows, cols], &data);
            let spread: Vec<u32> = (0..128u32)
                .map(|i| i.wrapping_mul(2654435761) % rows)
                .collect();
            for want in [
                vec![0u32],
                vec![5],
                vec![rows - 1],
                vec![1, rows / 2, rows - 2],
                spread,
            ] {
                let mut want: Vec<u32> = want.into_iter().filter(|&r| r < rows).collect();
                want.sort_unstable();
                want.dedup();
                if want.is_empty() {
                    continue;
                }
                let p = MerkleProof {
                    index: 1,
                    leaf_count: 2,
                    siblings: vec![],
                };
                let s = SlicedTensor::open(&t, &want, p).unwrap();
                assert_eq!(s.leaf_hash().unwrap(), t.hash(), "{rows}x{cols} {want:?}");
                for &r in &want {
                    let row = s.row(r).unwrap();
                    let expect: Vec<u8> = data[(r * cols) as usize..((r + 1) * cols) as usize]
                        .iter()
                        .map(|&x| x as u8)
                        .collect();
                    assert_eq!(row, expect);
                }
            }
        }
    }
}
