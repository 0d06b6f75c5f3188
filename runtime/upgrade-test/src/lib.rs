//! The Menara runtime built with its `upgrade-test` feature: spec version one above the
//! runtime this tree embeds, with a storage migration that counts its runs (key:
//! `menara_runtime::migrations::upgrade_test_runs_key`). Tests propose it through
//! governance to upgrade a live chain without a fork. Never for a real chain.

include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));
