#![allow(clippy::unwrap_used)]
use super::*;
use menara_chain_spec::keyring;
use menara_primitives::{
    methods, AccountInfo, ApplyExtrinsicResult, BlockContext, InvalidTransaction, RuntimeVersion,
};
use menara_runtime::{GenesisConfig, RuntimeCall, WASM_BINARY};
use menara_state_machine::{InMemoryState, StateReader};

fn runtime() -> &'static [u8] {
    WASM_BINARY.unwrap()
}

fn executor() -> Executor {
    Executor::new(ExecutorConfig::default()).unwrap()
}

fn genesis_state(exec: &Executor) -> InMemoryState {
    let config = GenesisConfig {
        balances: pallet_balances_config(&[(
            keyring::dev_account("Alice"),
            1_000 * menara_primitives::MEN,
        )]),
    };
    let (out, overlay) = exec
        .call_once(
            runtime(),
            Arc::new(InMemoryState::default()),
            methods::BUILD_GENESIS,
            &config.encode(),
        )
        .unwrap();
    assert_eq!(Result::<(), String>::decode(&mut &out[..]).unwrap(), Ok(()));
    let mut state = InMemoryState::default();
    state.apply(overlay.into_changes());
    state
}

fn pallet_balances_config(
    b: &[(menara_primitives::AccountId, u128)],
) -> pallet_balances::GenesisConfig {
    pallet_balances::GenesisConfig {
        balances: b.to_vec(),
    }
}

fn wat(src: &str) -> Vec<u8> {
    wat::parse_str(src).unwrap()
}

#[test]
fn runtime_reports_its_version() {
    let (out, _) = executor()
        .call_once(
            runtime(),
            Arc::new(InMemoryState::default()),
            methods::VERSION,
            &[],
        )
        .unwrap();
    let v = RuntimeVersion::decode(&mut &out[..]).unwrap();
    assert_eq!(v.spec_name, "menara");
}

#[test]
fn transfers_in_wasm_change_balances_and_bad_transactions_change_nothing() {
    let exec = executor();
    let state = Arc::new(genesis_state(&exec));
    let genesis = menara_primitives::H256([42; 32]);
    let alice = keyring::dev_signing_key("Alice");
    let bob = keyring::dev_account("Bob");
    let mut inst = exec
        .instantiate(runtime(), state.clone(), OverlayedChanges::new())
        .unwrap();
    let ctx = BlockContext {
        number: 1,
        parent_hash: genesis,
        timestamp: 1,
        author: bob,
        genesis_hash: genesis,
    };
    let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &ctx).unwrap();
    r.unwrap();
    let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest: bob,
        value: (10 * menara_primitives::MEN).into(),
    });
    let good = keyring::sign(&alice, &genesis, 0, 0, call.clone());
    let r: ApplyExtrinsicResult = inst.call_decode(methods::APPLY_EXTRINSIC, &good).unwrap();
    assert_eq!(r, Ok(Ok(())));
    // Replay, wrong chain, future nonce, garbage: refused, nothing changes.
    let before = inst.overlay().clone().into_changes();
    for (bad, expected) in [
        (good.clone(), InvalidTransaction::Stale),
        (
            keyring::sign(
                &alice,
                &menara_primitives::H256([1; 32]),
                1,
                0,
                call.clone(),
            ),
            InvalidTransaction::BadSignature,
        ),
        (
            keyring::sign(&alice, &genesis, 5, 0, call.clone()),
            InvalidTransaction::Future,
        ),
        (vec![1, 2, 3], InvalidTransaction::Malformed),
        (
            keyring::sign(
                &keyring::dev_signing_key("Dave"),
                &genesis,
                0,
                0,
                call.clone(),
            ),
            InvalidTransaction::CannotPayFees,
        ),
    ] {
        let r: ApplyExtrinsicResult = inst.call_decode(methods::APPLY_EXTRINSIC, &bad).unwrap();
        assert_eq!(r, Err(expected));
    }
    assert_eq!(inst.overlay().clone().into_changes(), before);
    // A failing call is included: fee paid, nonce used, transfer rolled back.
    let too_much = RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest: bob,
        value: (10_000 * menara_primitives::MEN).into(),
    });
    let r: ApplyExtrinsicResult = inst
        .call_decode(
            methods::APPLY_EXTRINSIC,
            &keyring::sign(&alice, &genesis, 1, 0, too_much),
        )
        .unwrap();
    assert_eq!(r.unwrap().unwrap_err().message, "InsufficientBalance");
    let q = (menara_primitives::queries::ACCOUNT.to_vec(), bob.encode());
    let info: Result<Vec<u8>, menara_primitives::QueryError> =
        inst.call_decode(methods::QUERY, &q).unwrap();
    let info = AccountInfo::decode(&mut &info.unwrap()[..]).unwrap();
    assert_eq!(info.free, 10 * menara_primitives::MEN);
    let q = (
        menara_primitives::queries::ACCOUNT.to_vec(),
        keyring::dev_account("Alice").encode(),
    );
    let info: Result<Vec<u8>, menara_primitives::QueryError> =
        inst.call_decode(methods::QUERY, &q).unwrap();
    let info = AccountInfo::decode(&mut &info.unwrap()[..]).unwrap();
    assert_eq!(info.nonce, 2);
    assert!(info.free < 990 * menara_primitives::MEN, "fees were paid");
}

#[test]
fn wasm_and_native_runtime_make_identical_changes() {
    let exec = executor();
    let state = genesis_state(&exec);
    let genesis = menara_primitives::H256([42; 32]);
    let alice = keyring::dev_signing_key("Alice");
    let ctx = BlockContext {
        number: 1,
        parent_hash: genesis,
        timestamp: 1,
        author: keyring::dev_account("Bob"),
        genesis_hash: genesis,
    };
    let txs: Vec<Vec<u8>> = (0..20u64)
        .map(|n| {
            let dest = keyring::dev_account(&format!("user{n}"));
            keyring::sign(
                &alice,
                &genesis,
                n,
                0,
                RuntimeCall::Balances(pallet_balances::Call::Transfer {
                    dest,
                    value: menara_primitives::MEN.into(),
                }),
            )
        })
        .collect();
    let mut inst = exec
        .instantiate(runtime(), Arc::new(state.clone()), OverlayedChanges::new())
        .unwrap();
    inst.call(methods::INITIALIZE_BLOCK, &ctx.encode()).unwrap();
    for tx in &txs {
        inst.call(methods::APPLY_EXTRINSIC, &tx.encode()).unwrap();
    }
    inst.call(methods::FINALIZE_BLOCK, &[]).unwrap();
    let wasm_changes = inst.into_overlay().into_changes();

    let mut overlay = OverlayedChanges::new();
    let mut ext = menara_state_machine::Ext::new(&state, &mut overlay);
    menara_support::io::with_externalities(&mut ext, || {
        menara_runtime::api::call(methods::INITIALIZE_BLOCK, &ctx.encode()).unwrap();
        for tx in &txs {
            menara_runtime::api::call(methods::APPLY_EXTRINSIC, &tx.encode()).unwrap();
        }
        menara_runtime::api::call(methods::FINALIZE_BLOCK, &[]).unwrap();
    });
    assert_eq!(wasm_changes, overlay.into_changes());
}

#[test]
fn garbage_code_is_an_error_not_a_panic() {
    let exec = executor();
    let err = exec
        .call_once(
            b"not wasm at all",
            Arc::new(InMemoryState::default()),
            "x",
            &[],
        )
        .err()
        .unwrap();
    assert!(matches!(err, ExecutorError::InvalidCode(_)), "{err}");
    // Valid wasm that imports something the host does not offer.
    let bad_import = wat(
        r#"(module (import "env" "ext_clock_now" (func (result i64))) (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) i32.const 0) (func (export "dealloc") (param i32 i32)))"#,
    );
    assert!(matches!(
        exec.call_once(&bad_import, Arc::new(InMemoryState::default()), "x", &[]),
        Err(ExecutorError::InvalidCode(_))
    ));
    let no_alloc = wat(r#"(module (memory (export "memory") 1))"#);
    assert!(matches!(
        exec.call_once(&no_alloc, Arc::new(InMemoryState::default()), "x", &[]),
        Err(ExecutorError::InvalidCode(_))
    ));
}

const PRELUDE: &str = r#"
    (import "env" "ext_storage_set" (func $set (param i32 i32 i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "key")
    (func (export "alloc") (param i32) (result i32) i32.const 1024)
    (func (export "dealloc") (param i32 i32))
"#;

#[test]
fn traps_roll_back_the_call_and_poison_the_instance() {
    let code = wat(&format!(
        r#"(module {PRELUDE}
            (func (export "write_then_trap") (param i32 i32) (result i64)
                (call $set (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 3))
                unreachable)
            (func $recurse (export "recurse") (param i32 i32) (result i64)
                (call $recurse (local.get 0) (local.get 1)))
            (func (export "grow") (param i32 i32) (result i64)
                (drop (memory.grow (i32.const 65535))) (i64.const 0))
            (func (export "bad_output") (param i32 i32) (result i64)
                (i64.const 0xffff000000000010))
            (func (export "bad_host_ptr") (param i32 i32) (result i64)
                (call $set (i32.const 0x7fffffff) (i32.const 3) (i32.const 0) (i32.const 3)) (i64.const 0))
        )"#
    ));
    let exec = executor();
    let state: Arc<dyn StateReader> = Arc::new(InMemoryState::default());
    for method in [
        "write_then_trap",
        "recurse",
        "grow",
        "bad_output",
        "bad_host_ptr",
    ] {
        let mut inst = exec
            .instantiate(&code, state.clone(), OverlayedChanges::new())
            .unwrap();
        let err = inst.call(method, b"input").unwrap_err();
        assert!(matches!(err, ExecutorError::Trap { .. }), "{method}: {err}");
        assert!(inst.overlay().is_empty(), "{method} left changes behind");
        assert!(matches!(
            inst.call(method, b""),
            Err(ExecutorError::Poisoned)
        ));
    }
    let mut inst = exec
        .instantiate(&code, state, OverlayedChanges::new())
        .unwrap();
    assert!(matches!(
        inst.call("no_such_fn", b""),
        Err(ExecutorError::MissingExport(_))
    ));
}

#[test]
fn compiled_runtime_is_cached_on_disk_and_corrupt_cache_is_ignored() {
    let dir = tempfile_dir();
    let config = ExecutorConfig {
        disk_cache: Some(dir.clone()),
        ..Default::default()
    };
    let exec = Executor::new(config.clone()).unwrap();
    exec.call_once(
        runtime(),
        Arc::new(InMemoryState::default()),
        methods::VERSION,
        &[],
    )
    .unwrap();
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1);
    // A fresh executor uses the cached artifact.
    let exec2 = Executor::new(config.clone()).unwrap();
    exec2
        .call_once(
            runtime(),
            Arc::new(InMemoryState::default()),
            methods::VERSION,
            &[],
        )
        .unwrap();
    // Corrupt it: the executor recompiles instead of trusting it.
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entries[0], &bytes).unwrap();
    let exec3 = Executor::new(config).unwrap();
    let (out, _) = exec3
        .call_once(
            runtime(),
            Arc::new(InMemoryState::default()),
            methods::VERSION,
            &[],
        )
        .unwrap();
    assert!(RuntimeVersion::decode(&mut &out[..]).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "menara-exec-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
