//! A pay-per-inference oracle: anyone pays the contract to embed a sentence with a
//! registered model. The contract submits a verified-inference job paid from what it was
//! sent, and the chain calls it back when the job is over; it stores the verified output
//! and emits `Embedded`.
//!
//! Sentences are tokenised off chain with the model's own tokenizer (`menara tx inference
//! submit` does the same); the oracle takes the token ids.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_contract::{
    ai::{self, AiInput, AiRequest, Callback},
    env, selector,
    storage::{Lazy, Mapping},
    AccountId, Hash,
};

/// The model every request runs on.
const MODEL: Lazy<Hash> = Lazy::new(b"m");
/// What a request costs the requester (pays the job's fee and the callback's fuel).
const PRICE: Lazy<u128> = Lazy::new(b"p");
/// The most a job may cost.
const MAX_FEE: Lazy<u128> = Lazy::new(b"f");
/// Who asked for each job.
const REQUESTER: Mapping<u64, AccountId> = Mapping::new(b"r");
/// Each finished job's verified output (Q15 embedding).
const OUTPUT: Mapping<u64, Vec<i16>> = Mapping::new(b"o");

/// Fuel the callback may use (storing a 384-value embedding and emitting an event).
const CALLBACK_FUEL: u64 = 2_000_000;

menara_contract::contract! {
    name = "inference-oracle";

    errors = Error {
        /// Less than the price was sent.
        Underpaid,
        /// Only the chain calls `on_result`.
        NotCallback,
        /// No such request.
        UnknownJob,
    };

    events = {
        /// `requester` asked for an embedding; job `job` runs it.
        Requested(#[topic] requester: AccountId, job: u64);
        /// Job `job` ended: `state` 5 is final (`output` verified); otherwise no output.
        Embedded(#[topic] requester: AccountId, job: u64, state: u8, output: Option<Vec<i16>>);
    };

    /// An oracle for `model`, charging `price` per request, each job costing at most
    /// `max_fee`.
    constructor new(model: Hash, price: u128, max_fee: u128) {
        MODEL.set(&model);
        PRICE.set(&price);
        MAX_FEE.set(&max_fee);
    }

    /// Embeds the token ids `tokens`; pay at least the price. Returns the job id.
    #[payable]
    message embed(tokens: Vec<u32>) -> Result<u64, Error> {
        if env::value_transferred() < PRICE.get_or_default() {
            return Err(Error::Underpaid);
        }
        let job = ai::submit(&AiRequest {
            model: MODEL.get_or_default().0,
            input: AiInput::Tokens(tokens),
            max_fee: MAX_FEE.get_or_default(),
            provider: None,
            callback: Some(Callback {
                selector: selector("on_result"),
                fuel: CALLBACK_FUEL,
            }),
        });
        let requester = env::caller();
        REQUESTER.insert(&job, &requester);
        Requested { requester, job }.emit();
        Ok(job)
    }

    /// The chain's callback when job `job` is over.
    message on_result(job: u64, state: u8, output: Option<Vec<i16>>) -> Result<(), Error> {
        if !ai::is_callback() {
            return Err(Error::NotCallback);
        }
        let requester = REQUESTER.get(&job).ok_or(Error::UnknownJob)?;
        if let Some(values) = &output {
            OUTPUT.insert(&job, values);
        }
        Embedded { requester, job, state, output }.emit();
        Ok(())
    }

    /// The verified embedding of job `job`, once it is final.
    #[view]
    message result(job: u64) -> Option<Vec<i16>> {
        OUTPUT.get(&job)
    }

    /// What a request costs.
    #[view]
    message price() -> u128 {
        PRICE.get_or_default()
    }
}
