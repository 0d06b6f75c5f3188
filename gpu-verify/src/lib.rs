//! # gpu-verify
//!
//! Deterministic integer inference for Menara's verified-inference market.
//!
//! A verifier re-executes a sampled inference job and compares its output with the
//! provider's commitment. Everything on the run-time path is integer arithmetic
//! ("numerics v1", see `README.md`), so every CPU and every GPU produce the same bytes and a
//! verdict is a comparison of hashes.
//!
//! * [`numerics`]: the integer kernels (requantisation, i-exp, softmax, i-GELU, i-sqrt,
//!   layer norm).
//! * [`format`]: the `.mvm` model file (magic, header, named tensors) and its content hash.
//! * [`model`]: the typed models (BERT-style encoder, plain MLP) checked against the file.
//! * [`engine`]: layer-by-layer execution over a pluggable [`engine::Gemm`] backend.
//! * [`commit`]: per-layer output hashes, Merkle root, proofs and one-layer re-execution.
//! * [`challenge`]: the GPU availability challenge (seeded sequential int8 workload, Merkle
//!   root over per-step activation hashes, one-step audit for the chain).
//!
//! These six modules live in the `no_std` crate `gpu-verify-core` (what the chain runtime
//! links into wasm) and are re-exported here. This crate adds, with the `std` feature, the
//! threaded CPU engine, file I/O, the MiniLM importer, random test models and the CLI;
//! `cuda` adds the CUDA engine (driver and NVRTC loaded at run time). [`device`] runs whole
//! layers on an accelerator (the CUDA engine, or in tests its kernels built for the host).
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub use gpu_verify_core::{challenge, commit, engine, error, format, layer, model, numerics};

#[cfg(feature = "std")]
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "std")]
pub mod device;
#[cfg(feature = "std")]
pub mod import;
#[cfg(feature = "std")]
pub mod io;
#[cfg(feature = "std")]
pub mod random;
#[cfg(feature = "std")]
pub mod tokenizer;

pub use error::Error;
