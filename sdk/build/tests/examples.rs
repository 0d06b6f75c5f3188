//! Builds the example contracts and checks the modules the way the chain does.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use menara_contract::metadata::Metadata;
use menara_contract::{DispatchError, Encode};
use menara_contract_build::{build, BuildOptions, BuiltContract, HOST_MODULE};
use support::{Account, Chain, Outcome};
use wasmparser::{ExternalKind, Payload, TypeRef, Validator, WasmFeatures};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Both examples, built once per test run into cargo's scratch directory for tests.
fn built() -> &'static (BuiltContract, BuiltContract) {
    static BUILT: OnceLock<(BuiltContract, BuiltContract)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-examples");
        (
            build_example("token", &target),
            build_example("escrow", &target),
        )
    })
}

/// The test contract in `tests/fixtures/kitchen`, built once per test run.
fn kitchen() -> &'static BuiltContract {
    static BUILT: OnceLock<BuiltContract> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-examples");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kitchen");
        build_dir(&dir, &target)
    })
}

fn build_example(name: &str, target: &Path) -> BuiltContract {
    build_dir(&examples_dir().join(name), target)
}

fn build_dir(dir: &Path, target: &Path) -> BuiltContract {
    let name = dir.display();
    let opts = BuildOptions {
        target_dir: Some(target.to_owned()),
        ..BuildOptions::default()
    };
    match build(dir, &opts) {
        Ok(built) => built,
        Err(e) => panic!("building {name} failed: {e}"),
    }
}

/// Everything the chain requires of a module, checked independently of `check_abi`.
fn assert_chain_valid(built: &BuiltContract) {
    let wasm = std::fs::read(&built.wasm_path).expect("read the built module");
    assert_eq!(wasm.len(), built.size);
    assert_eq!(*blake3::hash(&wasm).as_bytes(), built.code_hash);

    // The feature set: no floats, SIMD, reference types, threads, tail calls, memory64,
    // multi-memory.
    let features = WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY;
    if let Err(e) = Validator::new_with_features(features).validate_all(&wasm) {
        panic!("{} does not validate without floats etc.: {e}", built.name);
    }

    let mut custom_sections = Vec::new();
    let mut exports = Vec::new();
    let mut memory_pages = None;
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        match payload.expect("parses") {
            Payload::CustomSection(section) => custom_sections.push(section.name().to_owned()),
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.expect("import");
                    assert_eq!(import.module, HOST_MODULE, "import {}", import.name);
                    assert!(matches!(import.ty, TypeRef::Func(_)));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.expect("export");
                    exports.push((export.name.to_owned(), export.kind));
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.expect("memory");
                    memory_pages = Some((memory.initial, memory.maximum));
                }
            }
            _ => {}
        }
    }
    assert_eq!(custom_sections, ["menara:metadata"]);
    for (name, kind) in [
        ("deploy", ExternalKind::Func),
        ("call", ExternalKind::Func),
        ("memory", ExternalKind::Memory),
    ] {
        assert!(
            exports.iter().any(|(n, k)| n == name && *k == kind),
            "{} lacks export {name}: {exports:?}",
            built.name
        );
    }
    let (initial, maximum) = memory_pages.expect("a memory");
    assert!(initial <= 16, "initial pages {initial}");
    assert_eq!(maximum, Some(16));

    // The metadata file beside the module says the same as the section.
    let json = std::fs::read_to_string(&built.metadata_path).expect("metadata file");
    let from_file =
        menara_contract::metadata::Metadata::from_json(&json).expect("metadata file parses");
    assert_eq!(from_file, built.metadata);
    assert_eq!(
        menara_contract::metadata::Metadata::from_wasm(&wasm).expect("section parses"),
        built.metadata
    );
    assert_eq!(
        built.wasm_path.parent().and_then(|p| p.file_name()),
        Some("menara".as_ref())
    );
    println!("{}: {} bytes", built.name, built.size);
}

#[test]
fn examples_build_into_chain_valid_modules() {
    let (token, escrow) = built();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-examples");
    assert_eq!(token.name, "token");
    assert_eq!(token.wasm_path, target.join("menara/token.wasm"));
    assert_eq!(token.metadata_path, target.join("menara/token.json"));
    assert_chain_valid(token);
    assert!(token.size < 50 * 1024, "token is {} bytes", token.size);

    let m = &token.metadata;
    assert_eq!(m.name, "token");
    assert_eq!(m.error_type.as_deref(), Some("Error"));
    assert_eq!(m.errors, ["InsufficientBalance", "InsufficientAllowance"]);
    let names: Vec<&str> = m.messages.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "transfer",
            "approve",
            "transfer_from",
            "balance_of",
            "allowance",
            "total_supply"
        ]
    );
    let transfer = m.message("transfer").expect("transfer");
    assert_eq!(transfer.returns, "Result<(),Error>");
    assert!(transfer.mutates && !transfer.payable);
    assert!(!m.message("balance_of").expect("balance_of").mutates);
    let transfer_event = &m.events[0];
    assert_eq!(transfer_event.name, "Transfer");
    assert!(transfer_event.args[0].topic && transfer_event.args[1].topic);
    assert!(!transfer_event.args[2].topic);

    assert_chain_valid(escrow);
    let m = &escrow.metadata;
    assert!(m.constructor("new").expect("new").payable);
    assert_eq!(
        m.errors,
        ["NotArbiter", "TooEarly", "AlreadySettled", "TransferFailed"]
    );
}

const ALICE: Account = [0xA1; 32];
const BOB: Account = [0xB0; 32];
const CAROL: Account = [0xCA; 32];

fn hex_account(a: &Account) -> String {
    format!(
        "0x{}",
        a.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Calls message `name` with command-line style `args` and returns the outcome.
fn call(
    chain: &mut Chain,
    m: &Metadata,
    from: Account,
    value: u128,
    name: &str,
    args: &[&str],
) -> Outcome {
    let input = m.encode_message_input(name, args).expect("message input");
    chain.execute("call", from, value, input)
}

/// Calls a message that must succeed and decodes its output.
fn query(chain: &mut Chain, m: &Metadata, name: &str, args: &[&str]) -> serde_json::Value {
    match call(chain, m, ALICE, 0, name, args) {
        Outcome::Success(out) => m.decode_output(name, &out).expect("output decodes"),
        other => panic!("{name} failed: {other:?} ({:?})", chain.debug),
    }
}

fn reverted_with(outcome: Outcome, m: &Metadata, name: &str) -> String {
    match outcome {
        Outcome::Reverted(data) => m.decode_revert(name, &data),
        other => panic!("{name} did not revert: {other:?}"),
    }
}

#[test]
fn token_runs_against_the_host_abi() {
    let (token, _) = built();
    let m = &token.metadata;
    let wasm = std::fs::read(&token.wasm_path).expect("module");
    let mut chain = Chain::new(&wasm, &[ALICE, BOB, CAROL]);
    let (alice, bob, carol) = (hex_account(&ALICE), hex_account(&BOB), hex_account(&CAROL));

    // The constructor is not payable.
    let input = m
        .encode_constructor_input("new", &["1000000"])
        .expect("input");
    let outcome = chain.execute("deploy", ALICE, 5, input.clone());
    assert_eq!(
        outcome,
        Outcome::Reverted(DispatchError::NotPayable.encode().to_vec())
    );
    assert_eq!(
        chain.execute("deploy", ALICE, 0, input),
        Outcome::Success(vec![])
    );

    // The mint is a Transfer from the zero account.
    let mint = m
        .decode_event(&chain.events()[0].topics, &chain.events()[0].data)
        .expect("decodes")
        .expect("known event");
    assert_eq!(mint.name, "Transfer");
    assert_eq!(mint.fields[1], ("to".to_owned(), serde_json::json!(alice)));
    assert_eq!(
        mint.fields[2],
        ("amount".to_owned(), serde_json::json!("1000000"))
    );

    assert_eq!(
        query(&mut chain, m, "total_supply", &[]),
        serde_json::json!("1000000")
    );
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&alice]),
        serde_json::json!("1000000")
    );

    // A transfer moves balances and emits an event with both accounts as topics.
    assert_eq!(
        call(&mut chain, m, ALICE, 0, "transfer", &[&bob, "250"]),
        Outcome::Success(vec![])
    );
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&alice]),
        serde_json::json!("999750")
    );
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&bob]),
        serde_json::json!("250")
    );
    let event = chain.events().last().expect("event").clone();
    assert_eq!(event.topics.len(), 3);
    assert_eq!(
        event.topics[0],
        menara_contract::event_signature("Transfer")
    );
    assert_eq!(event.topics[1], ALICE);
    assert_eq!(event.topics[2], BOB);
    assert_eq!(event.data, (ALICE, BOB, 250u128).encode());

    // Errors revert with the variant and leave state alone.
    let events_before = chain.events().len();
    let outcome = call(&mut chain, m, BOB, 0, "transfer", &[&carol, "251"]);
    assert_eq!(reverted_with(outcome, m, "transfer"), "InsufficientBalance");
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&bob]),
        serde_json::json!("250")
    );
    assert_eq!(chain.events().len(), events_before);

    // Allowances.
    let outcome = call(
        &mut chain,
        m,
        BOB,
        0,
        "transfer_from",
        &[&alice, &carol, "1"],
    );
    assert_eq!(
        reverted_with(outcome, m, "transfer_from"),
        "InsufficientAllowance"
    );
    assert_eq!(
        call(&mut chain, m, ALICE, 0, "approve", &[&bob, "100"]),
        Outcome::Success(vec![])
    );
    assert_eq!(
        query(&mut chain, m, "allowance", &[&alice, &bob]),
        serde_json::json!("100")
    );
    assert_eq!(
        call(
            &mut chain,
            m,
            BOB,
            0,
            "transfer_from",
            &[&alice, &carol, "60"]
        ),
        Outcome::Success(vec![])
    );
    assert_eq!(
        query(&mut chain, m, "allowance", &[&alice, &bob]),
        serde_json::json!("40")
    );
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&carol]),
        serde_json::json!("60")
    );
    assert_eq!(
        query(&mut chain, m, "balance_of", &[&alice]),
        serde_json::json!("999690")
    );
    let outcome = call(
        &mut chain,
        m,
        BOB,
        0,
        "transfer_from",
        &[&alice, &carol, "41"],
    );
    assert_eq!(
        reverted_with(outcome, m, "transfer_from"),
        "InsufficientAllowance"
    );

    // The SDK's dispatch errors.
    let outcome = call(&mut chain, m, ALICE, 1, "transfer", &[&bob, "1"]);
    assert!(reverted_with(outcome, m, "transfer").starts_with("NotPayable"));
    let outcome = chain.execute("call", ALICE, 0, b"nope".to_vec());
    assert!(reverted_with(outcome, m, "transfer").starts_with("UnknownSelector"));
    let outcome = chain.execute("call", ALICE, 0, vec![1]);
    assert!(reverted_with(outcome, m, "transfer").starts_with("UnknownSelector"));
    let mut short = m
        .encode_message_input("balance_of", &[&bob])
        .expect("input");
    short.pop();
    let outcome = chain.execute("call", ALICE, 0, short);
    assert!(reverted_with(outcome, m, "balance_of").starts_with("InvalidArguments"));
    let mut long = m.encode_message_input("total_supply", &[]).expect("input");
    long.push(0);
    let outcome = chain.execute("call", ALICE, 0, long);
    assert!(reverted_with(outcome, m, "total_supply").starts_with("InvalidArguments"));
    // Deploy-time selectors are the constructors', not the messages'.
    let input = m.encode_message_input("total_supply", &[]).expect("input");
    let outcome = chain.execute("deploy", ALICE, 0, input);
    assert!(reverted_with(outcome, m, "new").starts_with("UnknownSelector"));
}

#[test]
fn escrow_runs_against_the_host_abi() {
    let (_, escrow) = built();
    let m = &escrow.metadata;
    let wasm = std::fs::read(&escrow.wasm_path).expect("module");
    let (bob, carol) = (hex_account(&BOB), hex_account(&CAROL));

    // Alice locks 500 for Bob, Carol arbitrates, deadline block 10.
    let mut chain = Chain::new(&wasm, &[ALICE, BOB, CAROL]);
    let input = m
        .encode_constructor_input("new", &[&bob, &carol, "10"])
        .expect("input");
    assert_eq!(
        chain.execute("deploy", ALICE, 500, input.clone()),
        Outcome::Success(vec![])
    );
    assert_eq!(chain.balance(&chain.address.clone()), 500);
    assert_eq!(
        query(&mut chain, m, "state", &[]),
        serde_json::json!("pending")
    );
    assert_eq!(query(&mut chain, m, "held", &[]), serde_json::json!("500"));
    assert_eq!(
        query(&mut chain, m, "parties", &[]),
        serde_json::json!([hex_account(&ALICE), bob, carol, 10])
    );

    let outcome = call(&mut chain, m, BOB, 0, "release", &[]);
    assert_eq!(reverted_with(outcome, m, "release"), "NotArbiter");
    chain.block = 10;
    let outcome = call(&mut chain, m, ALICE, 0, "refund", &[]);
    assert_eq!(reverted_with(outcome, m, "refund"), "TooEarly");

    assert_eq!(
        call(&mut chain, m, CAROL, 0, "release", &[]),
        Outcome::Success(vec![])
    );
    assert_eq!(chain.balance(&BOB), 1_000_500);
    assert_eq!(chain.balance(&chain.address.clone()), 0);
    assert_eq!(
        query(&mut chain, m, "state", &[]),
        serde_json::json!("released")
    );
    let event = chain.events().last().expect("event").clone();
    let decoded = m
        .decode_event(&event.topics, &event.data)
        .expect("decodes")
        .expect("known");
    assert_eq!(decoded.name, "Released");
    assert_eq!(decoded.fields[1].1, serde_json::json!("500"));

    chain.block = 11;
    let outcome = call(&mut chain, m, ALICE, 0, "refund", &[]);
    assert_eq!(reverted_with(outcome, m, "refund"), "AlreadySettled");
    let outcome = call(&mut chain, m, CAROL, 0, "release", &[]);
    assert_eq!(reverted_with(outcome, m, "release"), "AlreadySettled");

    // A second escrow, refunded after the deadline by anyone.
    let mut chain = Chain::new(&wasm, &[ALICE, BOB, CAROL]);
    assert_eq!(
        chain.execute("deploy", ALICE, 300, input),
        Outcome::Success(vec![])
    );
    chain.block = 11;
    assert_eq!(
        call(&mut chain, m, BOB, 0, "refund", &[]),
        Outcome::Success(vec![])
    );
    assert_eq!(chain.balance(&ALICE), 1_000_000);
    assert_eq!(
        query(&mut chain, m, "state", &[]),
        serde_json::json!("refunded")
    );
    let event = chain.events().last().expect("event").clone();
    assert_eq!(
        event.topics[0],
        menara_contract::event_signature("Refunded")
    );
    assert_eq!(event.topics[1], ALICE);
}

#[test]
fn less_common_features_work() {
    let built = kitchen();
    assert_chain_valid(built);
    let m = &built.metadata;
    let wasm = std::fs::read(&built.wasm_path).expect("module");

    // Opt-in exports.
    let mut exports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
        if let Payload::ExportSection(reader) = payload.expect("parses") {
            for export in reader {
                exports.push(export.expect("export").name.to_owned());
            }
        }
    }
    assert!(exports.iter().any(|e| e == "allow_reentry"), "{exports:?}");
    assert!(exports.iter().any(|e| e == "migrate"), "{exports:?}");
    assert_eq!(m.error_type, None);
    assert!(m.errors.is_empty());
    let ctor = m.constructor("with_start").expect("with_start");
    assert!(ctor.payable);
    assert_eq!(ctor.returns, "Result<(),String>");
    assert_eq!(m.constructor("default").expect("default").returns, "()");

    let mut chain = Chain::new(&wasm, &[ALICE, BOB]);
    // Result<(), String> constructors revert with the encoded string.
    let input = m
        .encode_constructor_input("with_start", &["0"])
        .expect("input");
    let outcome = chain.execute("deploy", ALICE, 7, input);
    assert_eq!(
        reverted_with(outcome, m, "with_start"),
        "start must not be zero"
    );
    let input = m
        .encode_constructor_input("with_start", &["5"])
        .expect("input");
    assert_eq!(
        chain.execute("deploy", ALICE, 7, input),
        Outcome::Success(vec![])
    );
    assert_eq!(query(&mut chain, m, "counter", &[]), serde_json::json!(5));

    // Migration runs its hook.
    assert_eq!(
        chain.execute("migrate", ALICE, 0, vec![]),
        Outcome::Success(vec![])
    );
    assert_eq!(
        query(&mut chain, m, "counter", &[]),
        serde_json::json!(1000)
    );

    // Long mapping keys are hashed; long topics too.
    let long_key = format!("0x{}", "ab".repeat(200));
    assert_eq!(
        query(&mut chain, m, "note", &[&long_key, "0x0102"]),
        serde_json::Value::Null
    );
    assert_eq!(
        query(&mut chain, m, "note", &[&long_key, "0x010203"]),
        serde_json::json!(2)
    );
    assert_eq!(
        query(&mut chain, m, "read", &[&long_key]),
        serde_json::json!("0x010203")
    );
    let event = chain.events().last().expect("event").clone();
    assert_eq!(
        event.topics[1],
        *blake3::hash(&vec![0xABu8; 200].encode()).as_bytes()
    );
    let decoded = m
        .decode_event(&event.topics, &event.data)
        .expect("decodes")
        .expect("known");
    assert_eq!(decoded.fields[1].1, serde_json::json!(3));
    assert_eq!(
        query(&mut chain, m, "forget", &[&long_key]),
        serde_json::json!(true)
    );
    assert_eq!(
        query(&mut chain, m, "forget", &[&long_key]),
        serde_json::json!(false)
    );
    assert_eq!(
        query(&mut chain, m, "read", &[&long_key]),
        serde_json::Value::Null
    );
    assert_eq!(
        query(&mut chain, m, "note", &["0x", "0x"]),
        serde_json::Value::Null
    );
    assert_eq!(
        query(&mut chain, m, "read", &["0x"]),
        serde_json::json!("0x")
    );

    chain.block = 42;
    assert_eq!(
        query(&mut chain, m, "whoami", &[]),
        serde_json::json!([hex_account(&ALICE), hex_account(&chain.address), 42])
    );
    assert_eq!(
        query(&mut chain, m, "hash", &["0x616263"]),
        serde_json::json!(format!("0x{}", blake3::hash(b"abc").to_hex()))
    );
    assert_eq!(
        query(&mut chain, m, "call_other", &[&hex_account(&BOB)]),
        serde_json::json!(true)
    );

    // Panics trap, after sending their message.
    match call(&mut chain, m, ALICE, 0, "boom", &["kaput"]) {
        Outcome::Trapped(_) => {}
        other => panic!("boom did not trap: {other:?}"),
    }
    assert_eq!(chain.debug.len(), 1);
    assert!(
        chain.debug[0].starts_with("panicked at "),
        "{:?}",
        chain.debug
    );
    assert!(
        chain.debug[0].ends_with(": boom: kaput"),
        "{:?}",
        chain.debug
    );

    // The heap grows up to the 16-page limit, then the contract traps.
    assert_eq!(
        query(&mut chain, m, "allocate", &["600000"]),
        serde_json::json!(600_000)
    );
    match call(&mut chain, m, ALICE, 0, "allocate", &["2000000"]) {
        Outcome::Trapped(_) => {}
        other => panic!("allocating 2 MB did not trap: {other:?}"),
    }
    assert_eq!(chain.debug, ["menara-contract: out of memory"]);
}

#[test]
fn a_missing_manifest_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = build(dir.path(), &BuildOptions::default()).expect_err("no manifest");
    assert!(matches!(
        err,
        menara_contract_build::BuildError::ManifestNotFound(_)
    ));
}
