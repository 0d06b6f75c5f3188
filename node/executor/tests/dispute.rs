//! The one-step dispute on a MiniLM-shaped random encoder (block 0's feed-forward layer,
//! 128 tokens) settles the same way in the wasm runtime and natively: the cheating
//! provider is slashed, and a wrong challenger loses its bond.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "fixture/dispute.rs"]
mod fixture;

use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::{methods, queries, ApplyExtrinsicResult, EventRecord, QueryError};
use menara_runtime::{pallet_inference, RuntimeEvent, WASM_BINARY};
use menara_state_machine::{Ext, OverlayedChanges};
use parity_scale_codec::{Decode, Encode};

fn events_query() -> (Vec<u8>, Vec<u8>) {
    (queries::EVENTS.to_vec(), Vec::new())
}

fn wasm_run(exec: &Executor, f: &fixture::Fixture) -> (ApplyExtrinsicResult, Vec<EventRecord>) {
    let mut inst = exec
        .instantiate(
            WASM_BINARY.unwrap(),
            f.state.clone(),
            OverlayedChanges::new(),
        )
        .unwrap();
    let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &f.ctx).unwrap();
    r.unwrap();
    let out = inst.call(methods::APPLY_EXTRINSIC, &f.challenge).unwrap();
    let result = ApplyExtrinsicResult::decode(&mut &out[..]).unwrap();
    let q: Result<Vec<u8>, QueryError> = inst.call_decode(methods::QUERY, &events_query()).unwrap();
    (result, Decode::decode(&mut &q.unwrap()[..]).unwrap())
}

fn native_run(f: &fixture::Fixture) -> (ApplyExtrinsicResult, Vec<EventRecord>) {
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(f.state.as_ref(), &mut overlay), || {
        menara_runtime::api::call(methods::INITIALIZE_BLOCK, &f.ctx.encode()).unwrap();
        let out = menara_runtime::api::call(methods::APPLY_EXTRINSIC, &f.challenge).unwrap();
        let result = ApplyExtrinsicResult::decode(&mut &out[..]).unwrap();
        let q = menara_runtime::api::call(methods::QUERY, &events_query().encode()).unwrap();
        let q = Result::<Vec<u8>, QueryError>::decode(&mut &q[..]).unwrap();
        (result, Decode::decode(&mut &q.unwrap()[..]).unwrap())
    })
}

fn inference_events(events: &[EventRecord]) -> Vec<pallet_inference::Event> {
    events
        .iter()
        .filter_map(|r| match RuntimeEvent::from_record(r) {
            Some(RuntimeEvent::Inference(e)) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn wasm_and_native_settle_a_minilm_layer_dispute_alike() {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    for provider_cheats in [true, false] {
        let f = fixture::build(&exec, provider_cheats);
        assert!(
            f.challenge.len() > 64 * 1024 && f.challenge.len() < 3 * 1024 * 1024,
            "a large-class transaction: {} bytes",
            f.challenge.len()
        );
        let (wasm_result, wasm_events) = wasm_run(&exec, &f);
        let (native_result, native_events) = native_run(&f);
        assert_eq!(wasm_result, Ok(Ok(())), "cheats: {provider_cheats}");
        assert_eq!(wasm_result, native_result);
        assert_eq!(wasm_events, native_events, "same events, same order");
        let events = inference_events(&wasm_events);
        if provider_cheats {
            assert!(
                events.iter().any(|e| matches!(
                    e,
                    pallet_inference::Event::ProviderSlashed { layer, amount, .. }
                        if *layer == fixture::LAYER as u32 && *amount > 0
                )),
                "{events:?}"
            );
        } else {
            assert!(
                events.iter().any(|e| matches!(
                    e,
                    pallet_inference::Event::ChallengeRejected { layer, .. }
                        if *layer == fixture::LAYER as u32
                )),
                "{events:?}"
            );
        }
    }
}

fn success_fee(events: &[EventRecord]) -> Option<menara_primitives::Balance> {
    events
        .iter()
        .find_map(|r| match RuntimeEvent::from_record(r) {
            Some(RuntimeEvent::System(
                menara_runtime::pallet_system::Event::ExtrinsicSuccess { fee },
            )) => Some(fee),
            _ => None,
        })
}

/// Disputes are the large transaction class and pay for their work; a block takes only so
/// much dispute work (the rest waits in the pool), and other calls stay under 64 KiB.
#[test]
fn disputes_pay_for_bytes_and_work_and_a_block_bounds_their_work() {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let f = fixture::build(&exec, true);
    let (_, events) = wasm_run(&exec, &f);
    let work = f.weights.work(fixture::LAYER, &f.input.lens);
    // The runtime API takes the transaction SCALE-wrapped as bytes.
    let tx_len = Vec::<u8>::decode(&mut &f.challenge[..]).unwrap().len();
    // The fee at the runtime's default fee parameters (governance changed none).
    let state = menara_state_machine::InMemoryState::default();
    let mut overlay = menara_state_machine::OverlayedChanges::new();
    let expected = menara_support::io::with_externalities(
        &mut menara_state_machine::Ext::new(&state, &mut overlay),
        || menara_runtime::executive::fee_with_work(tx_len, 0, work),
    );
    assert_eq!(success_fee(&events), Some(expected));
    assert!(work > 100_000_000, "the largest MiniLM layer: {work} units");

    // The same dispute again and again in one block (later ones fail in the pallet, the
    // job being settled, but their work was reserved): the block's budget runs out.
    let budget = <menara_runtime::Runtime as pallet_inference::Config>::MAX_DISPUTE_WORK_PER_BLOCK;
    let fits = budget / work;
    let mut inst = exec
        .instantiate(
            WASM_BINARY.unwrap(),
            f.state.clone(),
            OverlayedChanges::new(),
        )
        .unwrap();
    let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &f.ctx).unwrap();
    r.unwrap();
    for nonce in 0..fits {
        let out = inst
            .call(methods::APPLY_EXTRINSIC, &fixture::sign(&f.call, nonce))
            .unwrap();
        assert!(
            ApplyExtrinsicResult::decode(&mut &out[..]).unwrap().is_ok(),
            "dispute {nonce} fits"
        );
    }
    let out = inst
        .call(methods::APPLY_EXTRINSIC, &fixture::sign(&f.call, fits))
        .unwrap();
    assert_eq!(
        ApplyExtrinsicResult::decode(&mut &out[..]).unwrap(),
        Err(menara_primitives::InvalidTransaction::BlockFull)
    );

    // A remark of 70 KiB is refused outright; the dispute of 1.9 MB was not.
    let remark = fixture::sign(
        &menara_runtime::RuntimeCall::System(menara_runtime::pallet_system::Call::Remark {
            remark: vec![7; 70 * 1024],
        }),
        fits,
    );
    let out = inst.call(methods::APPLY_EXTRINSIC, &remark).unwrap();
    assert_eq!(
        ApplyExtrinsicResult::decode(&mut &out[..]).unwrap(),
        Err(menara_primitives::InvalidTransaction::ExhaustsResources)
    );
}
