//! Tests of the contracts pallet against real wasm run by the real engine: uploads and the
//! code check (every hostile module the ABI refuses), instantiation, calls, storage
//! deposits, events, reverts and traps (nothing survives, the whole fuel limit is charged),
//! cross-contract calls and reentrancy, termination, migration, dry runs, and two
//! properties: the money adds up, and fuel is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use menara_primitives::BlockNumber;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use proptest::prelude::*;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Test {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl Config for Test {
    const PALLET_INDEX: u8 = CONTRACTS;
    const CODE_DEPOSIT_BASE: Balance = 1_000;
    const CODE_DEPOSIT_PER_BYTE: Balance = 1;
    const ITEM_DEPOSIT: Balance = 100;
    const BYTE_DEPOSIT: Balance = 1;
    const MAX_FUEL_PER_CALL: u64 = FUEL;
    const MAX_FUEL_PER_BLOCK: u64 = 4 * FUEL;
    const FUEL_PRICE: Balance = 1;
    const MAX_CALLBACK_FUEL: u64 = 1_000_000;
    const MAX_CALLBACKS_PER_BLOCK: u32 = 2;
    const MAX_PENDING_CALLBACKS: u32 = 3;
    type Ai = TestAi;
}

/// A stand-in for the runtime's AI modules: jobs kept in test storage, their fee moved to
/// account 5 at submission; the model `[0xEE; 32]` is unknown.
struct TestAi;
menara_support::storage_item!(TestJobsPrefix: "TestAi" / "Jobs");
menara_support::storage_item!(TestNextJobPrefix: "TestAi" / "NextJob");
type TestJobs = StorageMap<TestJobsPrefix, u64, abi::AiJob>;
type TestNextJob = StorageValue<TestNextJobPrefix, u64>;

impl AiHost for TestAi {
    fn model(id: [u8; 32]) -> Option<abi::AiModel> {
        (id != [0xEE; 32]).then_some(abi::AiModel {
            owner: [1; 32],
            kind: 1,
            royalty_per_inference: 5,
            deprecated: false,
            numerics_version: 2,
            next: None,
        })
    }
    fn submit(payer: &AccountId, request: &abi::AiRequest) -> Result<u64, DispatchError> {
        if request.model == [0xEE; 32] {
            return Err(DispatchError {
                pallet: 8,
                error: 0,
                message: "UnknownModel".into(),
            });
        }
        Bal::transfer(payer, &acc(5), request.max_fee).map_err(|e| DispatchError {
            pallet: 1,
            error: 0,
            message: format!("{e:?}"),
        })?;
        let id = TestNextJob::get_or_default();
        TestNextJob::put(&(id + 1));
        TestJobs::insert(
            &id,
            &abi::AiJob {
                client: payer.0,
                provider: [3; 32],
                model: request.model,
                fee: request.max_fee,
                state: abi::job_state::PENDING,
                output: None,
            },
        );
        Ok(id)
    }
    fn job(id: u64) -> Option<abi::AiJob> {
        TestJobs::get(&id)
    }
    fn lease(id: u64) -> Option<abi::AiLease> {
        (id == 7).then_some(abi::AiLease {
            tenant: [1; 32],
            provider: [2; 32],
            gpus: 8,
            price_per_block: 10,
            start: 1,
            end: 100,
            escrow: 990,
        })
    }
}

const CONTRACTS: u8 = 11;
const FUEL: u64 = 20_000_000;
const FUNDS: Balance = 10_000_000;
type Con = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;
type Sys = pallet_system::Pallet<Test>;

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn run<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: (1..=5).map(|i| (acc(i), FUNDS)).collect(),
        })
        .unwrap();
        set_block(1);
        f()
    })
}

fn set_block(n: BlockNumber) {
    let g = H256([1; 32]);
    Sys::initialize(&menara_primitives::BlockContext {
        number: n,
        parent_hash: if n == 1 { g } else { H256([2; 32]) },
        timestamp: n * 1000,
        author: acc(1),
        genesis_hash: g,
        beacon: Default::default(),
    })
    .unwrap();
}

/// Everything that exists: free balances of the test accounts and contracts, plus deposits.
fn books_balance(contracts: &[AccountId]) {
    let free: Balance = (1..=5)
        .map(|i| Bal::free_balance(&acc(i)))
        .chain(contracts.iter().map(Bal::free_balance))
        .sum();
    assert_eq!(
        Bal::total_issuance(),
        free + Con::total_held(),
        "issuance = free + held"
    );
}

/// The test contract: `call` does what the input's first byte says (see each arm);
/// `deploy` stores key `i`. `extra` adds exports (`allow_reentry`, `migrate`).
fn test_contract(extra: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "menara_v1" "input" (func $input (param i32 i32)))
  (import "menara_v1" "return_value" (func $return (param i32 i32 i32)))
  (import "menara_v1" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "menara_v1" "storage_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "menara_v1" "storage_clear" (func $clear (param i32 i32) (result i32)))
  (import "menara_v1" "call" (func $call (param i32 i32 i32 i32 i64 i32 i32) (result i32)))
  (import "menara_v1" "deposit_event" (func $event (param i32 i32 i32 i32)))
  (import "menara_v1" "debug_message" (func $debug (param i32 i32)))
  (import "menara_v1" "terminate" (func $terminate (param i32)))
  (import "menara_v1" "transfer" (func $transfer (param i32 i32) (result i32)))
  (import "menara_v1" "value_transferred" (func $value (param i32)))
  (memory (export "memory") 2 16)
  (data (i32.const 70000) "hello")
  (data (i32.const 70010) "c")
  (data (i32.const 70020) "m")
  (data (i32.const 70030) "\05")
  (func $rec (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1))))
  (func (export "deploy")
    (i32.store8 (i32.const 20) (i32.const 105))
    (drop (call $set (i32.const 20) (i32.const 1) (i32.const 32768) (i32.const 1))))
  (func (export "call") (local $op i32) (local $len i32)
    (i32.store (i32.const 0) (i32.const 32000))
    (call $input (i32.const 16) (i32.const 0))
    (local.set $len (i32.load (i32.const 0)))
    (local.set $op (i32.load8_u (i32.const 16)))
    ;; 0: set key input[1..1+input[4]] to input[2..4] (u16) zero bytes
    (if (i32.eq (local.get $op) (i32.const 0)) (then
      (drop (call $set (i32.const 17) (i32.load8_u (i32.const 20)) (i32.const 32768) (i32.load16_u (i32.const 18))))
      (return)))
    ;; 1: clear key input[1]
    (if (i32.eq (local.get $op) (i32.const 1)) (then
      (drop (call $clear (i32.const 17) (i32.const 1)))
      (return)))
    ;; 2: set key input[1], then revert with input[1..4]
    (if (i32.eq (local.get $op) (i32.const 2)) (then
      (drop (call $set (i32.const 17) (i32.const 1) (i32.const 32768) (i32.const 4)))
      (call $return (i32.const 1) (i32.const 17) (i32.const 3))))
    ;; 3: loop forever
    (if (i32.eq (local.get $op) (i32.const 3)) (then (loop $l (br $l))))
    ;; 4: grow memory until refused, return the pages it has
    (if (i32.eq (local.get $op) (i32.const 4)) (then
      (loop $g (br_if $g (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (i32.store (i32.const 65600) (memory.size))
      (call $return (i32.const 0) (i32.const 65600) (i32.const 4))))
    ;; 5: recurse forever
    (if (i32.eq (local.get $op) (i32.const 5)) (then (drop (call $rec (i32.const 0)))))
    ;; 6: set key `c`, call the contract at input[1..33] with input[33..], return its code
    (if (i32.eq (local.get $op) (i32.const 6)) (then
      (drop (call $set (i32.const 70010) (i32.const 1) (i32.const 32768) (i32.const 1)))
      (i32.store (i32.const 49200) (i32.const 16384))
      (i32.store (i32.const 65600)
        (call $call (i32.const 17) (i32.const 49152) (i32.const 49)
          (i32.sub (local.get $len) (i32.const 33)) (i64.const 0) (i32.const 49216) (i32.const 49200)))
      (call $return (i32.const 0) (i32.const 65600) (i32.const 4))))
    ;; 7: terminate, balance to input[1..33]
    (if (i32.eq (local.get $op) (i32.const 7)) (then (call $terminate (i32.const 17))))
    ;; 8: event with input[1] topics from input[4..] and input[2..4] (u16) bytes of data
    (if (i32.eq (local.get $op) (i32.const 8)) (then
      (call $event (i32.const 20) (i32.load8_u (i32.const 17)) (i32.const 32768) (i32.load16_u (i32.const 18)))
      (return)))
    ;; 9: return the value of key input[1]; revert (empty) when absent
    (if (i32.eq (local.get $op) (i32.const 9)) (then
      (i32.store (i32.const 49200) (i32.const 16384))
      (if (i32.eqz (call $get (i32.const 17) (i32.const 1) (i32.const 49216) (i32.const 49200)))
        (then (call $return (i32.const 0) (i32.const 49216) (i32.load (i32.const 49200)))))
      (call $return (i32.const 1) (i32.const 0) (i32.const 0))))
    ;; 10: debug "hello", return the rest of the input
    (if (i32.eq (local.get $op) (i32.const 10)) (then
      (call $debug (i32.const 70000) (i32.const 5))
      (call $return (i32.const 0) (i32.const 17) (i32.sub (local.get $len) (i32.const 1)))))
    ;; 11: transfer 5 to input[1..33], return the code
    (if (i32.eq (local.get $op) (i32.const 11)) (then
      (i32.store8 (i32.const 49300) (i32.const 5))
      (i32.store (i32.const 65600) (call $transfer (i32.const 17) (i32.const 49300)))
      (call $return (i32.const 0) (i32.const 65600) (i32.const 4))))
    ;; 12: return the value sent
    (if (i32.eq (local.get $op) (i32.const 12)) (then
      (call $value (i32.const 49400))
      (call $return (i32.const 0) (i32.const 49400) (i32.const 16))))
  )
  {extra}
)"#
    );
    wat::parse_str(wat).unwrap()
}

fn input_set(key: u8, len: u16) -> Vec<u8> {
    let l = len.to_le_bytes();
    vec![0, key, l[0], l[1], 1]
}

fn deploy(who: &AccountId, code: Vec<u8>, salt: &[u8]) -> AccountId {
    let outcome = Con::instantiate(
        who,
        CodeSource::Upload(code),
        0,
        FUEL,
        None,
        salt,
        vec![],
        false,
        false,
    );
    assert_eq!(
        outcome.result,
        Ok(ExecReturn {
            reverted: false,
            data: vec![]
        }),
        "{:?}",
        outcome.result
    );
    outcome.address.unwrap()
}

fn call(who: &AccountId, contract: &AccountId, input: Vec<u8>) -> ExecOutcome {
    Con::call(who, contract, 0, FUEL, None, input, false)
}

fn error_of(outcome: &ExecOutcome) -> Error {
    let e = outcome.result.clone().expect_err("should fail");
    assert_eq!(e.pallet, CONTRACTS, "{e:?}");
    let errors = [
        Error::CodeTooLarge,
        Error::InvalidCode,
        Error::CodeNotFound,
        Error::CodeInUse,
        Error::NotCodeOwner,
        Error::ContractNotFound,
        Error::ContractExists,
        Error::NotAdmin,
        Error::ContractTrapped,
        Error::OutOfFuel,
        Error::ContractReverted,
        Error::ReentranceDenied,
        Error::MaxCallDepth,
        Error::StackOverflow,
        Error::MemoryLimit,
        Error::StorageDepositLimitExhausted,
        Error::InsufficientBalance,
        Error::KeyTooLong,
        Error::ValueTooLarge,
        Error::EventTooLarge,
        Error::InputTooLarge,
        Error::OutputBufferTooSmall,
        Error::OutOfBounds,
        Error::TransferFailed,
        Error::FuelLimitTooHigh,
        Error::TerminatedWhileReentrant,
        Error::InvalidRequest,
        Error::JobRefused,
        Error::CallbackFuelTooHigh,
        Error::TooManyCallbacks,
    ];
    errors[e.error as usize]
}

fn contract_events() -> Vec<Event> {
    Sys::events()
        .into_iter()
        .filter(|r| r.pallet == CONTRACTS)
        .map(|r| Event::decode(&mut &r.event[..]).unwrap())
        .collect()
}

fn invalid(code: &[u8]) -> String {
    match validate_code(code) {
        Err((Error::InvalidCode, detail)) => detail,
        other => panic!("expected InvalidCode, got {other:?}"),
    }
}

#[test]
fn upload_holds_a_deposit_once_and_removal_returns_it() {
    run(|| {
        let code = test_contract("");
        let deposit = 1_000 + code.len() as Balance;
        let hash = Con::upload_code(&acc(1), code.clone()).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS - deposit);
        assert_eq!(Con::code(&hash), Some(code.clone()));
        assert_eq!(
            contract_events(),
            vec![Event::CodeStored {
                code_hash: hash,
                owner: acc(1),
                deposit
            }]
        );
        // The same code again: nothing more is held.
        assert_eq!(Con::upload_code(&acc(2), code), Ok(hash));
        assert_eq!(Bal::free_balance(&acc(2)), FUNDS);
        assert_eq!(
            Con::remove_code(&acc(2), &hash).unwrap_err().error,
            Error::NotCodeOwner as u8
        );
        Con::remove_code(&acc(1), &hash).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        assert_eq!(Con::code(&hash), None);
        assert_eq!(Con::total_held(), 0);
        books_balance(&[]);
    });
}

#[test]
fn hostile_modules_are_refused_at_upload_with_the_reason() {
    // Garbage bytes.
    assert!(invalid(b"\x00asm garbage").len() > 3);
    assert!(invalid(&[0xff; 100]).len() > 3);
    // Floats.
    let floats = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call"))
            (func (result f32) (f32.const 1.5)))"#,
    )
    .unwrap();
    assert!(invalid(&floats).contains("float"), "{}", invalid(&floats));
    // An import the host does not offer, and one from another module.
    let unknown = wat::parse_str(
        r#"(module (import "menara_v1" "steal_keys" (func)) (memory (export "memory") 1)
            (func (export "deploy")) (func (export "call")))"#,
    )
    .unwrap();
    assert!(
        invalid(&unknown).contains("steal_keys"),
        "{}",
        invalid(&unknown)
    );
    let other = wat::parse_str(
        r#"(module (import "env" "seal_call" (func)) (memory (export "memory") 1)
            (func (export "deploy")) (func (export "call")))"#,
    )
    .unwrap();
    assert!(
        invalid(&other).contains("only `menara_v1`"),
        "{}",
        invalid(&other)
    );
    // Memory past the limit, imported memory, no memory.
    let big = wat::parse_str(
        r#"(module (memory (export "memory") 17) (func (export "deploy")) (func (export "call")))"#,
    )
    .unwrap();
    assert!(invalid(&big).contains("17 pages"), "{}", invalid(&big));
    let unbounded_max = wat::parse_str(r#"(module (memory (export "memory") 1 100) (func (export "deploy")) (func (export "call")))"#).unwrap();
    assert!(invalid(&unbounded_max).contains("100 pages"));
    let imported = wat::parse_str(r#"(module (import "menara_v1" "memory" (memory 1)) (func (export "deploy")) (func (export "call")))"#).unwrap();
    assert!(invalid(&imported).contains("not a function"));
    // A huge table; many functions.
    let table = wat::parse_str(r#"(module (memory (export "memory") 1) (table 100000 funcref) (func (export "deploy")) (func (export "call")))"#).unwrap();
    assert!(
        invalid(&table).contains("100000 elements"),
        "{}",
        invalid(&table)
    );
    let many: String = (0..5_000).map(|_| "(func)").collect();
    let many = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")) {many})"#
    ))
    .unwrap();
    assert!(invalid(&many).contains("functions"), "{}", invalid(&many));
    // A start function; missing or mistyped exports.
    let start = wat::parse_str(r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "deploy")) (func (export "call")))"#).unwrap();
    assert!(invalid(&start).contains("start"));
    let no_call =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "deploy")))"#)
            .unwrap();
    assert!(invalid(&no_call).contains("`call`"));
    let typed = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call") (param i32)))"#).unwrap();
    assert!(invalid(&typed).contains("`call`"));
    // SIMD and reference types.
    let simd = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")) (func (drop (v128.const i64x2 0 0))))"#).unwrap();
    invalid(&simd);
    let refs = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")) (func (drop (ref.null func))))"#).unwrap();
    invalid(&refs);
    // Too large.
    assert_eq!(
        validate_code(&vec![0u8; limits::CODE_SIZE as usize + 1])
            .unwrap_err()
            .0,
        Error::CodeTooLarge
    );
    // And the pallet says the same, keeping nothing.
    run(|| {
        let e = Con::upload_code(&acc(1), floats).unwrap_err();
        assert_eq!(e.error, Error::InvalidCode as u8);
        assert!(e.message.starts_with("InvalidCode: "), "{}", e.message);
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
    });
    // Imports from the AI module: known functions pass, unknown ones do not.
    let ai = wat::parse_str(
        r#"(module (import "menara_ai_v1" "predict_lottery" (func)) (memory (export "memory") 1)
            (func (export "deploy")) (func (export "call")))"#,
    )
    .unwrap();
    assert!(invalid(&ai).contains("predict_lottery"), "{}", invalid(&ai));
    validate_code(&ai_contract(&request([7; 32], 1))).unwrap();
    // The test contract passes.
    let summary = validate_code(&test_contract("")).unwrap();
    assert!(!summary.reentrant && !summary.migrate);
    assert_eq!(summary.memory_pages, 2);
}

#[test]
fn instantiate_runs_deploy_and_calls_keep_storage_with_deposits() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"one");
        let info = Con::contract(&contract).unwrap();
        assert_eq!(info.info.deployer, acc(1));
        assert_eq!(info.info.admin, Some(acc(1)));
        // `deploy` stored one 1-byte item: 100 + 33.
        assert_eq!(info.info.items, 1);
        assert_eq!(info.info.storage_deposit, 133);
        assert_eq!(Con::storage_value(&contract, b"i"), Some(vec![0]));
        // The same salt again is refused; another salt is another contract.
        let again = Con::instantiate(
            &acc(1),
            CodeSource::Existing(info.info.code_hash),
            0,
            FUEL,
            None,
            b"one",
            vec![],
            false,
            false,
        );
        assert_eq!(error_of(&again), Error::ContractExists);
        assert_eq!(again.fuel_used, 0);
        let other = deploy(&acc(1), test_contract(""), b"two");
        assert_ne!(other, contract);
        assert_eq!(Con::code_info(&info.info.code_hash).unwrap().refcount, 2);

        // A 100-byte item paid by account 2.
        let before = Bal::free_balance(&acc(2));
        let outcome = call(&acc(2), &contract, input_set(7, 100));
        assert_eq!(
            outcome.result,
            Ok(ExecReturn {
                reverted: false,
                data: vec![]
            })
        );
        assert_eq!(outcome.storage_deposit, 100 + 132);
        assert!(outcome.fuel_used > 0 && outcome.fuel_used < FUEL);
        assert_eq!(Bal::free_balance(&acc(2)), before - 232);
        assert_eq!(Con::storage_value(&contract, &[7]), Some(vec![0; 100]));
        // Account 3 shrinks it to 10 bytes: account 2 gets its deposit back, 3 pays 142.
        let outcome = call(&acc(3), &contract, input_set(7, 10));
        assert_eq!(outcome.storage_deposit, 142);
        assert_eq!(Bal::free_balance(&acc(2)), before);
        assert_eq!(Bal::free_balance(&acc(3)), FUNDS - 142);
        // Account 3 clears it: refunded, net -142.
        let outcome = call(&acc(3), &contract, vec![1, 7]);
        assert_eq!(outcome.storage_deposit, -142);
        assert_eq!(Bal::free_balance(&acc(3)), FUNDS);
        assert_eq!(Con::storage_value(&contract, &[7]), None);
        // Reading back a value.
        call(&acc(2), &contract, input_set(9, 3));
        let outcome = call(&acc(4), &contract, vec![9, 9]);
        assert_eq!(
            outcome.result,
            Ok(ExecReturn {
                reverted: false,
                data: vec![0, 0, 0]
            })
        );
        books_balance(&[contract, other]);
    });
}

#[test]
fn a_revert_undoes_its_changes_and_returns_the_contracts_error() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let outcome = call(&acc(2), &contract, vec![2, 0xAB, 0xCD, 0xEF]);
        assert_eq!(
            outcome.result,
            Ok(ExecReturn {
                reverted: true,
                data: vec![0xAB, 0xCD, 0xEF]
            })
        );
        assert_eq!(outcome.storage_deposit, 0);
        assert!(outcome.fuel_used < FUEL, "a revert pays for what it used");
        assert_eq!(Con::storage_value(&contract, &[0xAB]), None);
        assert_eq!(Bal::free_balance(&acc(2)), FUNDS);
        // As a transaction: an error carrying the bytes.
        let (result, used) = Con::dispatch_metered(
            Origin::Signed(acc(2)),
            Call::Call {
                contract,
                value: Compact(0),
                fuel_limit: FUEL,
                storage_deposit_limit: None,
                input: vec![2, 1, 2, 3],
            },
        );
        let e = result.unwrap_err();
        assert_eq!(e.error, Error::ContractReverted as u8);
        assert_eq!(e.message, "ContractReverted: 0x010203");
        assert!(used < FUEL);
    });
}

#[test]
fn traps_keep_nothing_and_charge_the_whole_limit() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let items_before = Con::contract(&contract).unwrap().info.items;
        for (input, expected) in [
            (vec![3], Error::OutOfFuel),
            (vec![5], Error::StackOverflow),
            // A key past 128 bytes, a value past 16 KiB.
            (vec![0, 1, 1, 0, 200], Error::KeyTooLong),
            (input_set(1, 20_000), Error::ValueTooLarge),
            // Five topics; 2 KiB of event data.
            (vec![8, 5, 0, 0], Error::EventTooLarge),
            (vec![8, 1, 0, 8], Error::EventTooLarge),
        ] {
            let outcome = call(&acc(2), &contract, input.clone());
            assert_eq!(
                error_of(&outcome),
                expected,
                "{input:?}: {:?}",
                outcome.result
            );
            let message = outcome.result.unwrap_err().message;
            assert!(
                message.contains(&format!("contract {contract} in `call`")),
                "{message}"
            );
            if expected == Error::KeyTooLong {
                assert!(
                    message.contains("host function `storage_set`: 200 bytes"),
                    "{message}"
                );
            }
            assert_eq!(outcome.fuel_used, FUEL, "{input:?}");
            assert_eq!(Bal::free_balance(&acc(2)), FUNDS);
            assert_eq!(Con::contract(&contract).unwrap().info.items, items_before);
        }
        // Memory grows to its declared maximum of 16 pages and no further; a module that
        // declares no maximum is stopped by the limit instead.
        let outcome = call(&acc(2), &contract, vec![4]);
        assert_eq!(outcome.result.unwrap().data, 16u32.to_le_bytes());
        let bomb = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "deploy"))
                (func (export "call") (loop $g (drop (memory.grow (i32.const 1))) (br $g))))"#,
        )
        .unwrap();
        let bomb = deploy(&acc(1), bomb, b"bomb");
        let outcome = call(&acc(2), &bomb, vec![]);
        assert_eq!(
            error_of(&outcome),
            Error::MemoryLimit,
            "{:?}",
            outcome.result
        );
        assert_eq!(outcome.fuel_used, FUEL);
        // Too little fuel to even load the code.
        let outcome = Con::call(&acc(2), &contract, 0, 1_000, None, vec![9, 1], false);
        assert_eq!(error_of(&outcome), Error::OutOfFuel);
        assert_eq!(outcome.fuel_used, 1_000);
        // A fuel limit above the maximum, a multi-megabyte input, an unknown contract:
        // refused before running, no fuel used.
        let outcome = Con::call(&acc(2), &contract, 0, FUEL + 1, None, vec![], false);
        assert_eq!(
            (error_of(&outcome), outcome.fuel_used),
            (Error::FuelLimitTooHigh, 0)
        );
        let outcome = call(&acc(2), &contract, vec![0; 3 << 20]);
        assert_eq!(
            (error_of(&outcome), outcome.fuel_used),
            (Error::InputTooLarge, 0)
        );
        let outcome = call(&acc(2), &acc(9), vec![]);
        assert_eq!(
            (error_of(&outcome), outcome.fuel_used),
            (Error::ContractNotFound, 0)
        );
        books_balance(&[contract]);
    });
}

#[test]
fn the_storage_deposit_limit_and_the_signers_balance_bound_what_a_call_stores() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let outcome = Con::call(
            &acc(2),
            &contract,
            0,
            FUEL,
            Some(231),
            input_set(7, 100),
            false,
        );
        assert_eq!(error_of(&outcome), Error::StorageDepositLimitExhausted);
        assert_eq!(Con::storage_value(&contract, &[7]), None);
        let outcome = Con::call(
            &acc(2),
            &contract,
            0,
            FUEL,
            Some(232),
            input_set(7, 100),
            false,
        );
        assert!(outcome.result.is_ok());
        // An account that cannot pay the deposit.
        Bal::transfer(&acc(5), &acc(4), FUNDS - 50).unwrap();
        let outcome = call(&acc(5), &contract, input_set(8, 100));
        assert_eq!(error_of(&outcome), Error::InsufficientBalance);
        assert_eq!(Bal::free_balance(&acc(5)), 50);
        books_balance(&[contract]);
    });
}

#[test]
fn events_carry_topics_and_data() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let mut input = vec![8, 2, 3, 0];
        input.extend([0x11; 64]);
        let outcome = call(&acc(2), &contract, input);
        assert!(outcome.result.is_ok());
        let emitted = contract_events().into_iter().find_map(|e| match e {
            Event::ContractEmitted {
                contract: c,
                topics,
                data,
            } => Some((c, topics, data)),
            _ => None,
        });
        assert_eq!(
            emitted,
            Some((
                contract,
                vec![H256([0x11; 32]), H256([0x11; 32])],
                vec![0, 0, 0]
            ))
        );
    });
}

#[test]
fn cross_contract_calls_roll_back_the_callee_alone_and_refuse_reentry() {
    run(|| {
        let a = deploy(&acc(1), test_contract(""), b"a");
        let b = deploy(&acc(1), test_contract(""), b"b");
        let call_via = |from: &AccountId, to: &AccountId, inner: &[u8]| {
            let mut input = vec![6];
            input.extend(to.0);
            input.extend(inner);
            call(&acc(2), from, input)
        };
        // B stores a value: code 0, both changes kept.
        let outcome = call_via(&a, &b, &input_set(7, 5));
        assert_eq!(outcome.result.unwrap().data, 0u32.to_le_bytes());
        assert_eq!(Con::storage_value(&a, b"c"), Some(vec![0]));
        assert_eq!(Con::storage_value(&b, &[7]), Some(vec![0; 5]));
        assert_eq!(Con::storage_value(&b, b"c"), None);
        // B reverts: code 1, B's write undone, A's kept.
        call(&acc(2), &a, vec![1, b'c']);
        let outcome = call_via(&a, &b, &[2, 9, 9, 9]);
        assert_eq!(outcome.result.unwrap().data, 1u32.to_le_bytes());
        assert_eq!(Con::storage_value(&b, &[9]), None);
        assert_eq!(Con::storage_value(&a, b"c"), Some(vec![0]));
        // B traps (loops until its fuel is gone): code 2. B burned all it was lent (63/64
        // of what A had), A used a little more and returned.
        let outcome = call_via(&a, &b, &[3]);
        let (result, used) = (outcome.result.unwrap(), outcome.fuel_used);
        assert_eq!(result.data, 2u32.to_le_bytes());
        assert!(used > FUEL / 64 * 63 && used < FUEL, "{used}");
        // Not a contract: code 6.
        let outcome = call_via(&a, &acc(3), &[]);
        assert_eq!(outcome.result.unwrap().data, 6u32.to_le_bytes());
        // A calls itself: refused, A traps.
        let outcome = call_via(&a, &a, &[9, 1]);
        assert_eq!(error_of(&outcome), Error::ReentranceDenied);
        // A → B → A: B traps on reentry, A sees code 2.
        let mut back = vec![6];
        back.extend(a.0);
        back.extend([9, 1]);
        let outcome = call_via(&a, &b, &back);
        assert_eq!(outcome.result.unwrap().data, 2u32.to_le_bytes());
        // A contract that allows reentry may call itself, until the depth limit.
        let r = deploy(
            &acc(1),
            test_contract(r#"(func (export "allow_reentry"))"#),
            b"r",
        );
        let outcome = call_via(&r, &r, &[9, b'c']);
        assert_eq!(outcome.result.unwrap().data, 0u32.to_le_bytes());
        // A chain of calls as deep as allowed reaches its end (the innermost call writes
        // key `z`); one deeper stops at the limit (the deepest caller traps with
        // `MaxCallDepth`, its caller sees code 2), and the innermost write never happens.
        let chain = |calls: u32| {
            let mut nested = input_set(b'z', 1);
            for _ in 0..calls {
                let mut outer = vec![6];
                outer.extend(r.0);
                outer.extend(nested);
                nested = outer;
            }
            nested
        };
        let outcome = call(&acc(2), &r, chain(limits::CALL_DEPTH));
        assert_eq!(outcome.result.unwrap().data, 0u32.to_le_bytes());
        assert_eq!(Con::storage_value(&r, b"z"), None);
        let outcome = call(&acc(2), &r, chain(limits::CALL_DEPTH - 1));
        assert_eq!(outcome.result.unwrap().data, 0u32.to_le_bytes());
        assert_eq!(Con::storage_value(&r, b"z"), Some(vec![0]));
        books_balance(&[a, b, r]);
    });
}

#[test]
fn value_moves_with_calls_and_transfers() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let outcome = Con::call(&acc(2), &contract, 1_000, FUEL, None, vec![12], false);
        assert_eq!(outcome.result.unwrap().data, 1_000u128.to_le_bytes());
        assert_eq!(Bal::free_balance(&contract), 1_000);
        let mut input = vec![11];
        input.extend(acc(3).0);
        assert_eq!(
            call(&acc(2), &contract, input).result.unwrap().data,
            0u32.to_le_bytes()
        );
        assert_eq!(Bal::free_balance(&acc(3)), FUNDS + 5);
        // To an empty account 5 is below the existential deposit: code 5.
        let mut input = vec![11];
        input.extend(acc(9).0);
        assert_eq!(
            call(&acc(2), &contract, input).result.unwrap().data,
            5u32.to_le_bytes()
        );
        // More than the caller has.
        let outcome = Con::call(&acc(2), &contract, 0, FUEL, None, vec![12], false);
        assert!(outcome.result.is_ok());
        let outcome = Con::call(&acc(2), &contract, FUNDS * 2, FUEL, None, vec![12], false);
        assert_eq!(error_of(&outcome), Error::TransferFailed);
        books_balance(&[contract]);
    });
}

#[test]
fn terminate_refunds_every_deposit_and_frees_the_code() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let hash = Con::contract(&contract).unwrap().info.code_hash;
        call(&acc(2), &contract, input_set(7, 50));
        call(&acc(3), &contract, input_set(8, 60));
        Con::call(&acc(4), &contract, 500, FUEL, None, vec![12], false);
        assert_eq!(
            Con::remove_code(&acc(1), &hash).unwrap_err().error,
            Error::CodeInUse as u8
        );
        let mut input = vec![7];
        input.extend(acc(5).0);
        let outcome = call(&acc(4), &contract, input);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(Con::contract(&contract), None);
        assert_eq!(Con::storage_value(&contract, &[7]), None);
        assert_eq!(Bal::free_balance(&acc(2)), FUNDS);
        assert_eq!(Bal::free_balance(&acc(3)), FUNDS);
        assert_eq!(Bal::free_balance(&acc(5)), FUNDS + 500);
        assert_eq!(Bal::free_balance(&contract), 0);
        assert!(contract_events().contains(&Event::Terminated {
            contract,
            beneficiary: acc(5)
        }));
        Con::remove_code(&acc(1), &hash).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        assert_eq!(Con::total_held(), 0);
        books_balance(&[contract]);
    });
}

#[test]
fn the_admin_migrates_and_an_immutable_contract_stays() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let old = Con::contract(&contract).unwrap().info.code_hash;
        let new_code = test_contract(
            r#"(func (export "migrate") (drop (call $set (i32.const 70020) (i32.const 1) (i32.const 32768) (i32.const 2))))"#,
        );
        let new = Con::upload_code(&acc(1), new_code).unwrap();
        let outcome = Con::migrate(&acc(2), &contract, new, FUEL, None, vec![]);
        assert_eq!(error_of(&outcome), Error::NotAdmin);
        let outcome = Con::migrate(&acc(1), &contract, new, FUEL, None, vec![]);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(Con::contract(&contract).unwrap().info.code_hash, new);
        assert_eq!(Con::storage_value(&contract, b"m"), Some(vec![0, 0]));
        assert_eq!(Con::code_info(&old).unwrap().refcount, 0);
        assert_eq!(Con::code_info(&new).unwrap().refcount, 1);
        // Handing the role on, then giving it up.
        assert_eq!(
            Con::set_admin(&acc(2), &contract, None).unwrap_err().error,
            Error::NotAdmin as u8
        );
        Con::set_admin(&acc(1), &contract, Some(acc(2))).unwrap();
        Con::set_admin(&acc(2), &contract, None).unwrap();
        assert_eq!(
            error_of(&Con::migrate(&acc(2), &contract, old, FUEL, None, vec![])),
            Error::NotAdmin
        );
        // Deployed immutable.
        let fixed = Con::instantiate(
            &acc(1),
            CodeSource::Existing(old),
            0,
            FUEL,
            None,
            b"x",
            vec![],
            true,
            false,
        );
        let fixed = fixed.address.unwrap();
        assert_eq!(Con::contract(&fixed).unwrap().info.admin, None);
        assert_eq!(
            error_of(&Con::migrate(&acc(1), &fixed, new, FUEL, None, vec![])),
            Error::NotAdmin
        );
    });
}

#[test]
fn a_dry_run_returns_output_debug_messages_and_events() {
    run(|| {
        let contract = deploy(&acc(1), test_contract(""), b"");
        let outcome = Con::dry_run_call(&acc(2), &contract, 0, None, None, vec![10, 1, 2, 3]);
        assert_eq!(
            outcome.result,
            Ok(ExecReturn {
                reverted: false,
                data: vec![1, 2, 3]
            })
        );
        assert_eq!(outcome.debug, "hello\n");
        // Not collected in a transaction.
        assert_eq!(call(&acc(2), &contract, vec![10]).debug, "");
        let mut input = vec![8, 1, 2, 0];
        input.extend([7; 32]);
        let outcome = Con::dry_run_call(&acc(2), &contract, 0, None, None, input);
        assert_eq!(
            outcome.events,
            vec![ContractEvent {
                contract,
                topics: vec![H256([7; 32])],
                data: vec![0, 0]
            }]
        );
        // A failed instantiation's dry run reports the address it would have had.
        let code = test_contract("");
        let outcome = Con::dry_run_instantiate(
            &acc(3),
            CodeSource::Upload(code),
            0,
            Some(10),
            None,
            b"",
            vec![],
            false,
        );
        assert_eq!(error_of(&outcome), Error::OutOfFuel);
        assert!(outcome.address.is_some());
    });
}

#[test]
fn block_fuel_is_bounded() {
    run(|| {
        Con::on_initialize();
        assert!(Con::fuel_fits(4 * FUEL));
        Con::reserve_fuel(3 * FUEL);
        assert!(Con::fuel_fits(FUEL));
        assert!(!Con::fuel_fits(FUEL + 1));
        Con::on_initialize();
        assert!(Con::fuel_fits(4 * FUEL));
    });
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        who: u8,
        contract: usize,
        key: u8,
        len: u16,
    },
    Clear {
        who: u8,
        contract: usize,
        key: u8,
    },
    Revert {
        who: u8,
        contract: usize,
    },
    Terminate {
        who: u8,
        contract: usize,
        beneficiary: u8,
    },
    Value {
        who: u8,
        contract: usize,
        value: Balance,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=5u8, 0..3usize, 0..6u8, 0..300u16).prop_map(|(who, contract, key, len)| Op::Set { who, contract, key, len }),
        2 => (1..=5u8, 0..3usize, 0..6u8).prop_map(|(who, contract, key)| Op::Clear { who, contract, key }),
        1 => (1..=5u8, 0..3usize).prop_map(|(who, contract)| Op::Revert { who, contract }),
        1 => (1..=5u8, 0..3usize, 1..=5u8).prop_map(|(who, contract, beneficiary)| Op::Terminate { who, contract, beneficiary }),
        1 => (1..=5u8, 0..3usize, 1..2_000u128).prop_map(|(who, contract, value)| Op::Value { who, contract, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever contracts store, clear, revert or terminate, and whoever pays: issuance =
    /// free balances + deposits held, and each contract's deposit equals its items'.
    #[test]
    fn money_adds_up(ops in prop::collection::vec(op(), 1..25)) {
        run(|| {
            let contracts: Vec<AccountId> =
                (0..3u8).map(|i| deploy(&acc(1), test_contract(""), &[i])).collect();
            for op in ops {
                let (who, contract, input, value) = match op {
                    Op::Set { who, contract, key, len } => (who, contract, input_set(key, len), 0),
                    Op::Clear { who, contract, key } => (who, contract, vec![1, key], 0),
                    Op::Revert { who, contract } => (who, contract, vec![2, 1, 2, 3], 0),
                    Op::Terminate { who, contract, beneficiary } => {
                        let mut input = vec![7];
                        input.extend(acc(beneficiary).0);
                        (who, contract, input, 0)
                    }
                    Op::Value { who, contract, value } => (who, contract, vec![12], value),
                };
                let _ = Con::call(&acc(who), &contracts[contract], value, FUEL, None, input, false);
                books_balance(&contracts);
                for c in &contracts {
                    if let Some(info) = Con::contract(c) {
                        let mut sum = 0;
                        let prefix = storage::contract_prefix(c);
                        let mut cursor = prefix.clone();
                        while let Some(k) = io::storage::next_key(&cursor) {
                            if !k.starts_with(&prefix) { break; }
                            let item = StoredItem::decode(&mut &io::storage::get(&k).unwrap()[..]).unwrap();
                            sum += item.deposit;
                            cursor = k;
                        }
                        prop_assert_eq!(info.info.storage_deposit, sum);
                    }
                }
            }
            Ok(())
        })?;
    }

    /// The same call on the same state uses the same fuel.
    #[test]
    fn fuel_is_deterministic(key in 0..6u8, len in 0..2_000u16, loops in 0..3u8) {
        run(|| {
            let contract = deploy(&acc(1), test_contract(""), b"");
            let mut input = input_set(key, len);
            if loops == 1 { input = vec![3] }
            if loops == 2 { input = vec![6]; input.extend(contract.0); input.extend([9, key]); }
            let mut used = Vec::new();
            for _ in 0..3 {
                io::storage::start_transaction();
                used.push(call(&acc(2), &contract, input.clone()).fuel_used);
                io::storage::rollback_transaction();
            }
            prop_assert!(used.iter().all(|u| *u == used[0]), "{:?}", used);
            Ok(())
        })?;
    }
}

const CALLBACK_SELECTOR: [u8; 4] = [0xCB, 0, 0, 0];

/// A contract using the AI host API: input `[1]` submits `request` (and stores the job id
/// under `j`), `[2]` stores the model `[7; 32]`'s record under `m`, `[3]` stores job 0's
/// record under `o`; any other input is taken as the callback: it stores its input under
/// `r` and its caller under `w`.
fn ai_contract(request: &abi::AiRequest) -> Vec<u8> {
    let bytes: String = request
        .encode()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let len = request.encode().len();
    wat::parse_str(format!(
        r#"(module
  (import "menara_v1" "input" (func $input (param i32 i32)))
  (import "menara_v1" "caller" (func $caller (param i32)))
  (import "menara_v1" "storage_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "menara_ai_v1" "submit" (func $submit (param i32 i32 i32) (result i32)))
  (import "menara_ai_v1" "model" (func $model (param i32 i32 i32) (result i32)))
  (import "menara_ai_v1" "job" (func $job (param i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1000) "{bytes}")
  (data (i32.const 900) "rwjmo")
  (data (i32.const 960) "\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07\07")
  (func (export "deploy"))
  (func (export "call") (local $op i32)
    (i32.store (i32.const 0) (i32.const 512))
    (call $input (i32.const 16) (i32.const 0))
    (local.set $op (i32.load8_u (i32.const 16)))
    (if (i32.eq (local.get $op) (i32.const 1)) (then
      (drop (call $submit (i32.const 1000) (i32.const {len}) (i32.const 800)))
      (drop (call $set (i32.const 902) (i32.const 1) (i32.const 800) (i32.const 8)))
      (return)))
    (if (i32.eq (local.get $op) (i32.const 2)) (then
      (i32.store (i32.const 4) (i32.const 2000))
      (drop (call $model (i32.const 960) (i32.const 4000) (i32.const 4)))
      (drop (call $set (i32.const 903) (i32.const 1) (i32.const 4000) (i32.load (i32.const 4))))
      (return)))
    (if (i32.eq (local.get $op) (i32.const 3)) (then
      (i32.store (i32.const 4) (i32.const 2000))
      (drop (call $job (i64.const 0) (i32.const 4000) (i32.const 4)))
      (drop (call $set (i32.const 904) (i32.const 1) (i32.const 4000) (i32.load (i32.const 4))))
      (return)))
    (call $caller (i32.const 700))
    (drop (call $set (i32.const 901) (i32.const 1) (i32.const 700) (i32.const 32)))
    (drop (call $set (i32.const 900) (i32.const 1) (i32.const 16) (i32.load (i32.const 0))))))"#
    ))
    .unwrap()
}

fn request(model: [u8; 32], fuel: u64) -> abi::AiRequest {
    abi::AiRequest {
        model,
        input: abi::AiInput::Tokens(vec![1, 5, 2]),
        max_fee: 1_000,
        provider: None,
        callback: Some(abi::Callback {
            selector: CALLBACK_SELECTOR,
            fuel,
        }),
    }
}

/// Ends a test job as the inference pallet would: its record, then the note.
fn finish_job(id: u64, state: u8, output: Option<Vec<i16>>) {
    let mut job = TestJobs::get(&id).unwrap();
    job.state = state;
    job.output = output;
    TestJobs::insert(&id, &job);
    Con::note_job_closed(id);
}

#[test]
fn contracts_submit_inference_jobs_and_are_called_back_with_the_verified_output() {
    run(|| {
        let contract = deploy(&acc(1), ai_contract(&request([7; 32], 300_000)), b"");
        // Reading a model record.
        call(&acc(2), &contract, vec![2]);
        let model = Con::storage_value(&contract, b"m").unwrap();
        assert_eq!(
            abi::AiModel::decode(&mut &model[..]).unwrap(),
            TestAi::model([7; 32]).unwrap()
        );
        // Submitting: paid from the contract's balance (the value sent with the call), the
        // callback's fuel held.
        let outcome = Con::call(&acc(2), &contract, 1_000_000, FUEL, None, vec![1], false);
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(
            Con::storage_value(&contract, b"j"),
            Some(0u64.to_le_bytes().to_vec())
        );
        assert_eq!(Bal::free_balance(&contract), 1_000_000 - 1_000 - 300_000);
        assert!(contract_events().contains(&Event::JobSubmitted {
            contract,
            job: 0,
            callback: true
        }));
        books_balance(&[contract]);
        // Reading the job.
        call(&acc(2), &contract, vec![3]);
        let job =
            abi::AiJob::decode(&mut &Con::storage_value(&contract, b"o").unwrap()[..]).unwrap();
        assert_eq!(
            (job.client, job.fee, job.state),
            (contract.0, 1_000, abi::job_state::PENDING)
        );
        // Not over yet: no callback.
        Con::on_finalize();
        assert_eq!(Con::storage_value(&contract, b"r"), None);
        // Final: the contract is called back with the job, its state and its output, by
        // the callback caller, and pays only the fuel it used.
        finish_job(0, abi::job_state::FINAL, Some(vec![1, -2, 3]));
        Con::on_finalize();
        let mut expected = CALLBACK_SELECTOR.to_vec();
        (0u64, abi::job_state::FINAL, Some(vec![1i16, -2, 3])).encode_to(&mut expected);
        assert_eq!(Con::storage_value(&contract, b"r"), Some(expected));
        assert_eq!(
            Con::storage_value(&contract, b"w"),
            Some(abi::CALLBACK_CALLER.to_vec())
        );
        let used = contract_events()
            .into_iter()
            .find_map(|e| match e {
                Event::CalledBack {
                    job: 0,
                    result: Ok(()),
                    fuel_used,
                    ..
                } => Some(fuel_used),
                _ => None,
            })
            .expect("called back");
        assert!(used > 0 && used < 300_000);
        // The callback's own storage writes (`r` and `w`) hold deposits from the contract.
        let written = (100 + 32 + 21) + (100 + 32 + 32);
        assert_eq!(
            Bal::free_balance(&contract),
            1_000_000 - 1_000 - used as Balance - written
        );
        assert_eq!(PendingCallbacks::get_or_default(), 0);
        assert_eq!(DueJobs::get_or_default(), Vec::<u64>::new());
        books_balance(&[contract]);
    });
}

#[test]
fn callbacks_are_bounded_and_bad_requests_trap_with_the_reason() {
    run(|| {
        let contract = deploy(&acc(1), ai_contract(&request([7; 32], 300_000)), b"");
        // At most three waiting.
        for _ in 0..3 {
            let outcome = Con::call(&acc(2), &contract, 400_000, FUEL, None, vec![1], false);
            assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        }
        assert_eq!(PendingCallbacks::get_or_default(), 3);
        let outcome = Con::call(&acc(2), &contract, 400_000, FUEL, None, vec![1], false);
        assert_eq!(error_of(&outcome), Error::TooManyCallbacks);
        assert!(outcome
            .result
            .unwrap_err()
            .message
            .contains("host function `submit`"));
        // All three end at once: two are called back now, the third in the next block.
        for id in 0..3 {
            finish_job(id, abi::job_state::EXPIRED, None);
        }
        Con::on_finalize();
        assert_eq!(DueJobs::get_or_default(), vec![2]);
        assert_eq!(PendingCallbacks::get_or_default(), 1);
        Con::on_finalize();
        assert_eq!(DueJobs::get_or_default(), Vec::<u64>::new());
        assert_eq!(PendingCallbacks::get_or_default(), 0);
        // An expired job's callback carries no output.
        let mut expected = CALLBACK_SELECTOR.to_vec();
        (2u64, abi::job_state::EXPIRED, None::<Vec<i16>>).encode_to(&mut expected);
        assert_eq!(Con::storage_value(&contract, b"r"), Some(expected));
        books_balance(&[contract]);
        // Too much callback fuel; an unknown model (the inference pallet's reason); a
        // contract that cannot pay. Nothing is kept.
        let greedy = deploy(&acc(1), ai_contract(&request([7; 32], 2_000_000)), b"g");
        let outcome = Con::call(&acc(2), &greedy, 400_000, FUEL, None, vec![1], false);
        assert_eq!(error_of(&outcome), Error::CallbackFuelTooHigh);
        let unknown = deploy(&acc(1), ai_contract(&request([0xEE; 32], 100)), b"u");
        let outcome = Con::call(&acc(2), &unknown, 400_000, FUEL, None, vec![1], false);
        assert_eq!(error_of(&outcome), Error::JobRefused);
        assert!(outcome.result.unwrap_err().message.contains("UnknownModel"));
        let poor = deploy(&acc(1), ai_contract(&request([7; 32], 300_000)), b"p");
        let outcome = call(&acc(2), &poor, vec![1]);
        assert_eq!(error_of(&outcome), Error::JobRefused);
        // What it sent, and the deposit of item `j` its calls wrote.
        assert_eq!(
            Bal::free_balance(&acc(2)),
            FUNDS - 3 * 400_000 - (100 + 32 + 8)
        );
        assert_eq!(PendingCallbacks::get_or_default(), 0);
        books_balance(&[contract, greedy, unknown, poor]);
    });
}

#[test]
fn a_callback_to_a_terminated_contract_burns_its_held_fuel() {
    run(|| {
        let contract = deploy(&acc(1), ai_contract(&request([7; 32], 300_000)), b"");
        Con::call(&acc(2), &contract, 1_000_000, FUEL, None, vec![1], false);
        // The contract is gone (as if it had terminated).
        Contracts::remove(&contract);
        finish_job(0, abi::job_state::FINAL, Some(vec![1]));
        let issuance = Bal::total_issuance();
        Con::on_finalize();
        assert_eq!(Bal::total_issuance(), issuance - 300_000);
        assert!(contract_events().contains(&Event::DepositBurned {
            who: contract,
            amount: 300_000
        }));
    });
}

#[test]
fn the_remaining_errors_are_named() {
    run(|| {
        // Instantiating code that is not on chain; removing it.
        let outcome = Con::instantiate(
            &acc(1),
            CodeSource::Existing(H256([9; 32])),
            0,
            FUEL,
            None,
            b"",
            vec![],
            false,
            false,
        );
        assert_eq!(
            (error_of(&outcome), outcome.fuel_used),
            (Error::CodeNotFound, 0)
        );
        assert_eq!(
            Con::remove_code(&acc(1), &H256([9; 32])).unwrap_err().error,
            Error::CodeNotFound as u8
        );
        // Memory outside the contract's own; an output buffer too small for the input.
        let module = |body: &str| {
            wat::parse_str(format!(
                r#"(module
                  (import "menara_v1" "input" (func $input (param i32 i32)))
                  (import "menara_v1" "storage_set" (func $set (param i32 i32 i32 i32) (result i32)))
                  (import "menara_ai_v1" "submit" (func $submit (param i32 i32 i32) (result i32)))
                  (memory (export "memory") 1) (func (export "deploy")) (func (export "call") {body}))"#
            ))
            .unwrap()
        };
        let outside = deploy(
            &acc(1),
            module(
                "(drop (call $set (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1)))",
            ),
            b"o",
        );
        let outcome = call(&acc(2), &outside, vec![]);
        assert_eq!(error_of(&outcome), Error::OutOfBounds);
        assert!(outcome
            .result
            .unwrap_err()
            .message
            .contains("100 bytes at 65530"));
        let small = deploy(
            &acc(1),
            module("(i32.store (i32.const 0) (i32.const 2)) (call $input (i32.const 16) (i32.const 0))"),
            b"s",
        );
        let outcome = call(&acc(2), &small, vec![1, 2, 3]);
        assert_eq!(error_of(&outcome), Error::OutputBufferTooSmall);
        assert!(outcome
            .result
            .unwrap_err()
            .message
            .contains("3 bytes for a buffer of 2"));
        // An AI request that does not decode.
        let garbage = deploy(
            &acc(1),
            module("(drop (call $submit (i32.const 0) (i32.const 7) (i32.const 100)))"),
            b"g",
        );
        let outcome = call(&acc(2), &garbage, vec![]);
        assert_eq!(error_of(&outcome), Error::InvalidRequest);
        // Terminating while running further up the stack: a reentrant contract calls
        // itself, and the inner call terminates.
        let r = deploy(
            &acc(1),
            test_contract(r#"(func (export "allow_reentry"))"#),
            b"r",
        );
        let mut inner = vec![7];
        inner.extend(acc(3).0);
        let mut input = vec![6];
        input.extend(r.0);
        input.extend(inner);
        let outcome = call(&acc(2), &r, input);
        // The inner call trapped (code 2); the contract is still there.
        assert_eq!(outcome.result.unwrap().data, 2u32.to_le_bytes());
        assert!(Con::contract(&r).is_some());
        // The inner frame's own error, run as a frame with `r` already on the stack.
        let mut terminate = vec![7];
        terminate.extend(acc(3).0);
        let code_hash = Con::contract(&r).unwrap().info.code_hash;
        let inner = exec::run_nested::<Test>(&acc(2), &r, code_hash, terminate, FUEL);
        let e = inner.unwrap_err();
        assert_eq!(e.error, Error::TerminatedWhileReentrant as u8, "{e:?}");
        assert!(
            e.message.contains("host function `terminate`"),
            "{}",
            e.message
        );
    });
}
