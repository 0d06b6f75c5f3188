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
        session: session_config(&["Alice", "Bob"]),
        staking: Default::default(),
        compute: Default::default(),
        inference: Default::default(),
        governance: Default::default(),
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

fn session_config(validators: &[&str]) -> pallet_session::GenesisConfig {
    pallet_session::GenesisConfig {
        validators: validators
            .iter()
            .map(|n| {
                keyring::dev_genesis_validator(n, 1_000 * menara_primitives::MEN)
                    .record()
                    .unwrap()
            })
            .collect(),
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
    assert_eq!(v.spec_version, menara_runtime::SPEC_VERSION);
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
        beacon: keyring::dev_beacon("Bob", &genesis, 1),
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
        beacon: keyring::dev_beacon("Bob", &genesis, 1),
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

/// A module whose `Core_version` runs `body` (which leaves an `i64` packed pointer and
/// length), with `data` at address 0.
fn version_module(body: &str, data: &[u8]) -> Vec<u8> {
    wat(&format!(
        r#"(module
        (import "env" "ext_misc_runtime_version" (func $version (param i32 i32) (result i64)))
        (memory (export "memory") 1)
        (data (i32.const 0) "{}")
        (func (export "alloc") (param i32) (result i32) i32.const 4096)
        (func (export "dealloc") (param i32 i32))
        (func (export "Core_version") (param i32 i32) (result i64) {body}))"#,
        wat_bytes(data)
    ))
}

#[test]
fn proposed_code_is_inspected_deterministically_and_compiled_ahead() {
    let exec = executor();
    // Our runtime answers its version, and is then compiled in the background for the
    // switch to it.
    assert_eq!(
        exec.runtime_version(runtime()),
        Some(menara_runtime::version())
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !exec.is_compiled(runtime()) {
        assert!(std::time::Instant::now() < deadline, "never compiled");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Any module that answers a version is a runtime to this question.
    let other = RuntimeVersion {
        spec_name: "other".into(),
        spec_version: 3,
        impl_version: 1,
        transaction_version: 1,
    };
    let encoded = other.encode();
    let answers = version_module(&format!("i64.const {}", encoded.len()), &encoded);
    assert_eq!(exec.runtime_version(&answers), Some(other));
    // What is not a runtime, or does not answer, is `None`, never a hang or a panic.
    assert_eq!(exec.runtime_version(b"not wasm"), None);
    let bad_import = wat(
        r#"(module (import "env" "ext_clock_now" (func (result i64))) (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) i32.const 0) (func (export "dealloc") (param i32 i32))
        (func (export "Core_version") (param i32 i32) (result i64) i64.const 0))"#,
    );
    assert_eq!(exec.runtime_version(&bad_import), None);
    let no_version = wat(r#"(module (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) i32.const 0) (func (export "dealloc") (param i32 i32)))"#);
    assert_eq!(exec.runtime_version(&no_version), None);
    let garbage_answer = version_module("i64.const 3", b"\xff\xff\xff");
    assert_eq!(exec.runtime_version(&garbage_answer), None);
    // An endless loop runs out of fuel.
    let started = std::time::Instant::now();
    let spins = version_module("(loop $l (br $l)) i64.const 0", &[]);
    assert_eq!(exec.runtime_version(&spins), None);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Asking about code from inside the question gets no answer (no nesting), so a module
    // that answers with the answer about itself is not a runtime.
    let nested = version_module("i32.const 0 i32.const 0 call $version", &[]);
    assert_eq!(exec.runtime_version(&nested), None);
    // None of these entered the cache of runtimes to execute.
    assert!(!exec.is_compiled(&spins));
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

/// `data` as a wat string literal.
fn wat_bytes(data: &[u8]) -> String {
    data.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A module that calls the BLS host functions on `pk` (at 0), `sig` (at 64), `pop` (at 256)
/// and `msg` (at 512), returning the host's answer as one output byte.
fn bls_module(pk: &[u8; 48], sig: &[u8; 96], pop: &[u8; 96], msg: &[u8]) -> Vec<u8> {
    let (pk, sig, pop, msg_len, msg) = (
        wat_bytes(pk),
        wat_bytes(sig),
        wat_bytes(pop),
        msg.len(),
        wat_bytes(msg),
    );
    wat(&format!(
        r#"(module
            (import "env" "ext_crypto_bls12381_verify" (func $verify (param i32 i32 i32 i32) (result i32)))
            (import "env" "ext_crypto_bls12381_verify_pop" (func $pop (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "{pk}")
            (data (i32.const 64) "{sig}")
            (data (i32.const 256) "{pop}")
            (data (i32.const 512) "{msg}")
            (func (export "alloc") (param i32) (result i32) i32.const 8192)
            (func (export "dealloc") (param i32 i32))
            (func $out (param i32) (result i64)
                (i32.store8 (i32.const 4096) (local.get 0))
                (i64.const 0x0000100000000001))
            (func (export "verify") (param i32 i32) (result i64)
                (call $out (call $verify (i32.const 0) (i32.const 512) (i32.const {msg_len}) (i32.const 64))))
            (func (export "verify_other_msg") (param i32 i32) (result i64)
                (call $out (call $verify (i32.const 0) (i32.const 513) (i32.const 3) (i32.const 64))))
            (func (export "verify_pop") (param i32 i32) (result i64)
                (call $out (call $pop (i32.const 0) (i32.const 256))))
            (func (export "verify_sig_as_pop") (param i32 i32) (result i64)
                (call $out (call $pop (i32.const 0) (i32.const 64))))
            (func (export "verify_bad_key_ptr") (param i32 i32) (result i64)
                (call $out (call $verify (i32.const 65520) (i32.const 512) (i32.const {msg_len}) (i32.const 64))))
            (func (export "verify_bad_msg_ptr") (param i32 i32) (result i64)
                (call $out (call $verify (i32.const 0) (i32.const 512) (i32.const 0x7fffffff) (i32.const 64))))
            (func (export "verify_bad_sig_ptr") (param i32 i32) (result i64)
                (call $out (call $verify (i32.const 0) (i32.const 512) (i32.const {msg_len}) (i32.const -1))))
            (func (export "pop_bad_ptr") (param i32 i32) (result i64)
                (call $out (call $pop (i32.const 0) (i32.const 65500))))
        )"#
    ))
}

#[test]
fn bls_host_functions_verify_signatures_and_proofs_of_possession() {
    let sk = keyring::dev_bls_secret("Alice");
    let pk = sk.public_key().to_bytes();
    let msg = b"menara bls host test";
    let sig = sk.sign(msg).to_bytes();
    let pop = sk.prove_possession().0.to_bytes();
    let other = keyring::dev_bls_secret("Bob");
    let exec = executor();
    let state: Arc<dyn StateReader> = Arc::new(InMemoryState::default());
    let run = |code: &[u8], method: &str| -> Result<Vec<u8>, ExecutorError> {
        exec.instantiate(code, state.clone(), OverlayedChanges::new())
            .unwrap()
            .call(method, b"")
    };
    let good = bls_module(&pk, &sig, &pop, msg);
    assert_eq!(run(&good, "verify").unwrap(), vec![1]);
    assert_eq!(run(&good, "verify_pop").unwrap(), vec![1]);
    // Another message, a signature used as a proof (wrong domain tag).
    assert_eq!(run(&good, "verify_other_msg").unwrap(), vec![0]);
    assert_eq!(run(&good, "verify_sig_as_pop").unwrap(), vec![0]);
    // Another key's signature and proof.
    let wrong_signer = bls_module(
        &pk,
        &other.sign(msg).to_bytes(),
        &other.prove_possession().0.to_bytes(),
        msg,
    );
    assert_eq!(run(&wrong_signer, "verify").unwrap(), vec![0]);
    assert_eq!(run(&wrong_signer, "verify_pop").unwrap(), vec![0]);
    // Undecodable or invalid keys and signatures are 0, not errors.
    for (pk, sig, pop) in [
        ([0u8; 48], sig, pop),
        ([0xff; 48], sig, pop),
        (pk, [0u8; 96], [0u8; 96]),
        (pk, [0xff; 96], [0xff; 96]),
    ] {
        let code = bls_module(&pk, &sig, &pop, msg);
        assert_eq!(run(&code, "verify").unwrap(), vec![0]);
        assert_eq!(run(&code, "verify_pop").unwrap(), vec![0]);
    }
    // The identity (point at infinity) as key: refused.
    let mut identity = [0u8; 48];
    identity[0] = 0xc0;
    let code = bls_module(&identity, &sig, &pop, msg);
    assert_eq!(run(&code, "verify").unwrap(), vec![0]);
    assert_eq!(run(&code, "verify_pop").unwrap(), vec![0]);
    // Bad pointers are a trap for that call, never a panic.
    for method in [
        "verify_bad_key_ptr",
        "verify_bad_msg_ptr",
        "verify_bad_sig_ptr",
        "pop_bad_ptr",
    ] {
        let err = run(&good, method).unwrap_err();
        assert!(matches!(err, ExecutorError::Trap { .. }), "{method}: {err}");
    }
    // The host's check is the native one the runtime uses in tests.
    assert!(host::bls12381_verify(&pk, msg, &sig));
    assert!(host::bls12381_verify_pop(&pk, &pop));
    assert!(menara_support::io::bls12381_verify(&pk, msg, &sig));
    assert!(menara_support::io::bls12381_verify_pop(&pk, &pop));
    assert!(!host::bls12381_verify(&pk[..47], msg, &sig));
    assert!(!host::bls12381_verify_pop(&pk, &pop[..95]));
}

fn build_genesis(exec: &Executor, config: &GenesisConfig) -> Result<InMemoryState, String> {
    let (out, overlay) = exec
        .call_once(
            runtime(),
            Arc::new(InMemoryState::default()),
            methods::BUILD_GENESIS,
            &config.encode(),
        )
        .unwrap();
    Result::<(), String>::decode(&mut &out[..]).unwrap()?;
    let mut state = InMemoryState::default();
    state.apply(overlay.into_changes());
    Ok(state)
}

#[test]
fn wasm_genesis_refuses_bad_validator_sets_with_a_clear_message() {
    let exec = executor();
    let balances =
        pallet_balances_config(&[(keyring::dev_account("Alice"), menara_primitives::MEN)]);
    let mut config = GenesisConfig {
        balances: balances.clone(),
        session: pallet_session::GenesisConfig::default(),
        staking: Default::default(),
        compute: Default::default(),
        inference: Default::default(),
        governance: Default::default(),
    };
    let err = build_genesis(&exec, &config).err().unwrap();
    assert!(err.contains("validator set is empty"), "{err}");
    config.session = session_config(&["Alice", "Bob"]);
    config.session.validators[1].1 = config.session.validators[0].1;
    let err = build_genesis(&exec, &config).err().unwrap();
    assert!(err.contains("proof of possession"), "{err}");
    assert!(
        err.contains(&keyring::dev_account("Bob").to_string()),
        "{err}"
    );
    config.session = session_config(&["Alice"]);
    config.session.validators[0].0.stake = 0;
    let err = build_genesis(&exec, &config).err().unwrap();
    assert!(err.contains("zero stake"), "{err}");
    config.session = session_config(&["Alice", "Alice"]);
    let err = build_genesis(&exec, &config).err().unwrap();
    assert!(err.contains("more than once"), "{err}");
    // The built-in specs build.
    for name in ["dev", "local"] {
        let spec = menara_chain_spec::ChainSpec::load(name).unwrap();
        build_genesis(&exec, &spec.runtime_genesis_config().unwrap()).unwrap();
    }
}

fn query<R: Decode>(inst: &mut RuntimeInstance, name: &[u8], args: Vec<u8>) -> R {
    let out: Result<Vec<u8>, menara_primitives::QueryError> = inst
        .call_decode(methods::QUERY, &(name.to_vec(), args))
        .unwrap();
    R::decode_all(&mut &out.unwrap()[..]).unwrap()
}

fn conflicting_prevotes(
    signer: &str,
    genesis: menara_primitives::H256,
    height: u64,
) -> menara_primitives::EquivocationProof {
    use menara_consensus::{BlsCrypto, SignedVote, Vote, VoteKind};
    let sk = keyring::dev_bls_secret(signer);
    let message = |block: [u8; 32]| {
        let vote = Vote {
            height,
            round: 0,
            kind: VoteKind::Prevote,
            block: Some(menara_primitives::H256(block)),
            validator: 0,
        };
        let signed = SignedVote::<BlsCrypto>::sign(&genesis.0, vote, &sk);
        menara_primitives::SignedConsensusMessage {
            signing_bytes: vote.signing_bytes(&genesis.0),
            signature: signed.signature.to_bytes(),
        }
    };
    menara_primitives::EquivocationProof {
        offender: sk.public_key().to_bytes(),
        first: message([1; 32]),
        second: message([2; 32]),
    }
}

#[test]
fn validators_query_and_equivocation_reports_work_in_wasm_as_natively() {
    use pallet_offences::{OffenceRecord, OffenceSlot, Step};
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
        beacon: keyring::dev_beacon("Bob", &genesis, 1),
    };
    let report = |nonce, proof| {
        keyring::sign(
            &alice,
            &genesis,
            nonce,
            0,
            RuntimeCall::report_equivocation(proof),
        )
    };
    let mut on_other_chain = conflicting_prevotes("Bob", menara_primitives::H256([1; 32]), 3);
    on_other_chain.offender = keyring::dev_bls_secret("Bob").public_key().to_bytes();
    let txs = vec![
        report(0, conflicting_prevotes("Bob", genesis, 3)),
        report(1, conflicting_prevotes("Bob", genesis, 3)),
        report(2, conflicting_prevotes("Charlie", genesis, 3)),
        report(3, on_other_chain),
    ];
    let mut inst = exec
        .instantiate(runtime(), Arc::new(state.clone()), OverlayedChanges::new())
        .unwrap();
    let validators: Vec<menara_primitives::ValidatorRecord> = query(
        &mut inst,
        menara_primitives::queries::VALIDATORS,
        Vec::new(),
    );
    assert_eq!(
        validators,
        session_config(&["Alice", "Bob"])
            .validators
            .into_iter()
            .map(|(r, _)| r)
            .collect::<Vec<_>>()
    );
    let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &ctx).unwrap();
    r.unwrap();
    let mut outcomes = Vec::new();
    for tx in &txs {
        let r: ApplyExtrinsicResult = inst.call_decode(methods::APPLY_EXTRINSIC, tx).unwrap();
        outcomes.push(r.unwrap().map_err(|e| (e.pallet, e.message)));
    }
    assert_eq!(
        outcomes,
        vec![
            Ok(()),
            Err((3, "DuplicateReport".to_string())),
            Err((3, "UnknownOffender".to_string())),
            Err((3, "DifferentChain".to_string())),
        ]
    );
    let offences: Vec<(OffenceSlot, OffenceRecord)> =
        query(&mut inst, menara_runtime::api::OFFENCES_QUERY, Vec::new());
    assert_eq!(
        offences,
        vec![(
            OffenceSlot {
                offender: keyring::dev_account("Bob"),
                height: 3,
                round: 0,
                step: Step::Prevote,
            },
            OffenceRecord {
                offender: keyring::dev_account("Bob"),
                reporter: keyring::dev_account("Alice"),
                reported_in: 1,
            }
        )]
    );
    let events: Vec<menara_primitives::EventRecord> =
        query(&mut inst, menara_primitives::queries::EVENTS, Vec::new());
    let reported: Vec<_> = events
        .iter()
        .filter_map(|e| match menara_runtime::RuntimeEvent::from_record(e) {
            Some(menara_runtime::RuntimeEvent::Offences(ev)) => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        vec![pallet_offences::Event::EquivocationReported {
            offender: keyring::dev_account("Bob"),
            height: 3,
            round: 0,
            reporter: keyring::dev_account("Alice"),
        }]
    );
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
