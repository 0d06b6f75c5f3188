//! # gpu-verify-core
//!
//! The `no_std` (core + alloc) heart of gpu-verify: everything a verdict depends on, and
//! nothing that touches a file, a thread or a GPU. The chain runtime links it into wasm to
//! audit challenges and settle disputes; the node's engines, the importer and the
//! `gpu-verify` CLI build on it (crate `gpu-verify`, which re-exports these modules).
//!
//! * [`numerics`]: the integer kernels (requantisation, i-exp, softmax, i-GELU, i-sqrt,
//!   layer norm).
//! * [`format`]: the `.mvm` model file (magic, header, named tensors) and its content hash.
//! * [`model`]: the typed models (BERT-style encoder, plain MLP) checked against the file.
//! * [`engine`]: layer-by-layer execution over a pluggable [`engine::Gemm`] backend, with
//!   the single-threaded reference backend [`engine::RefGemm`].
//! * [`commit`]: per-layer output hashes, Merkle root, proofs and one-layer re-execution.
//! * [`layer`]: one layer of a registered model opened against its content id, and the
//!   one-step dispute that re-executes it.
//! * [`challenge`]: the GPU availability challenge (seeded sequential int8 workload, Merkle
//!   root over per-step activation hashes, one-step audit for the chain).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod challenge;
pub mod commit;
pub mod engine;
pub mod error;
pub mod format;
pub mod layer;
pub mod model;
pub mod numerics;

pub use error::Error;
