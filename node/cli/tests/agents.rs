//! End-to-end: AI agents through the real `menara` binary on one dev chain. //Alice
//! registers //Dave as her agent and grants it a budget for transfers; //Dave pays //Ferdie
//! from //Alice's funds until the grant's window, per-call cap and call list refuse it,
//! and //Alice revokes. //Bob delegates to //Dave's pool; //Dave signs two different answers
//! to one request, //Charlie reports the equivocation, the deferred slash lands two epochs
//! later (5% of the pool, //Bob's delegation included; 10% of it to //Charlie) and //Dave's
//! grant stays frozen until //Alice confirms it. //Dave pays for inference jobs on //Bob's
//! behalf (the node's provider worker runs them as //Alice) within a budget of exactly two
//! jobs, is refused the third, and cites a final job in a later act. Then orders
//! (delivered, cancelled, missed), rewards, unbonding, and retirement.
#![allow(clippy::unwrap_used)]
mod support;

use gpu_verify::engine::Activation;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_primitives::{AccountId, Balance, H256, MEN};
use menara_rpc::client;
use menara_runtime::RuntimeCall;
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

impl Node {
    /// //Dave acts for //Alice with `call`; returns what it printed.
    fn act(&self, call: &str) -> String {
        self.ok(&[
            "tx", "agents", "act", "--owner", "//Alice", "--call", call, "--from", "//Dave",
        ])
    }

    /// //Dave's act `call` for //Alice, which the runtime must refuse with `error`.
    fn act_refused(&self, call: &str, error: &str) {
        self.refused(
            &[
                "tx", "agents", "act", "--owner", "//Alice", "--call", call, "--from", "//Dave",
            ],
            error,
        );
    }

    /// //Alice grants //Dave 5 MEN per 1000 blocks, 3 MEN a call, for transfers only.
    fn grant(&self) -> String {
        self.ok(&[
            "tx",
            "agents",
            "grant",
            "--agent",
            "//Dave",
            "--budget",
            "5",
            "--per",
            "1000",
            "--max-per-call",
            "3",
            "--calls",
            "balances.transfer",
            "--from",
            "//Alice",
        ])
    }
}

async fn free(c: &WsClient, who: &AccountId) -> Balance {
    client::account(c, who).await.unwrap().free
}

/// A decimal amount in a JSON answer.
fn units(v: &Value) -> Balance {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {v}"))
        .parse()
        .unwrap()
}

async fn best_block(c: &WsClient) -> u64 {
    client::header(c, None).await.unwrap().unwrap().number
}

/// An amount in MEN as the CLI writes it, without the unit: up to 12 decimals.
fn men(units: Balance) -> String {
    let (whole, frac) = (units / MEN, units % MEN);
    if frac == 0 {
        return whole.to_string();
    }
    format!("{whole}.{}", format!("{frac:012}").trim_end_matches('0'))
}

/// The token ids of "hello world" in the test model's vocabulary.
fn hello_world() -> Vec<u32> {
    vec![1, word("hello"), word("world"), 2]
}

/// The arguments of //Dave's act for //Bob with `call`, then `extra`.
fn bob_act<'a>(call: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "tx", "agents", "act", "--owner", "//Bob", "--call", call, "--from", "//Dave",
    ];
    args.extend_from_slice(extra);
    args
}

/// The fee of //Dave's act for `owner` submitting "hello world" to `model` for at most
/// 1 MEN, as the chain's runtime computes it (its `fee` query): from the transaction's
/// length, which neither the nonce (fixed width) nor the signature changes.
async fn submit_act_fee(c: &WsClient, owner: AccountId, model: H256) -> Balance {
    let genesis = &client::genesis_hash(c).await.unwrap();
    use menara_runtime::{pallet_agents, pallet_inference};
    let submit = RuntimeCall::Inference(pallet_inference::Call::Submit {
        model,
        input: Activation::tokens(&[hello_world()]),
        max_fee: MEN.into(),
        provider: None,
    });
    let act = RuntimeCall::Agents(pallet_agents::Call::Act {
        owner,
        call: submit.encode(),
        job: None,
    });
    let tx = keyring::sign(&keyring::dev_signing_key("Dave"), genesis, 0, 0, act);
    let method = std::str::from_utf8(menara_primitives::queries::FEE).unwrap();
    let raw = client::query(c, method, &tx.encode(), None).await.unwrap();
    Balance::decode(&mut &raw[..]).unwrap()
}

/// The job id an act's `inference.submit` printed (`job <id>`).
fn submitted_job(out: &str) -> String {
    let ids: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("job ")).collect();
    assert!(
        ids.len() == 1 && ids[0].parse::<u64>().is_ok(),
        "expected one `job <id>` line, got:\n{out}"
    );
    ids[0].to_string()
}

/// Polls `inference_job` until job `id` is final, for at most 60 s; returns its JSON.
async fn wait_for_final(c: &WsClient, node: &Node, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = c
            .request("inference_job", rpc_params![id.parse::<u64>().unwrap()])
            .await
            .unwrap();
        if v["state"] == "final" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} not final within 60 s at block #{}: {v}\n{}",
            best_block(c).await,
            node.node_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `agents_agent` until `done` holds for the agent's JSON, for at most `secs`.
async fn wait_for_agent(
    c: &WsClient,
    node: &Node,
    agent: &AccountId,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v: Value = c.request("agents_agent", rpc_params![agent]).await.unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s at block #{}; the agent: {v}\n{}",
            best_block(c).await,
            node.node_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Mistakes are refused before anything is sent (the RPC address is unreachable: the
/// errors must be about the arguments, not the connection).
#[test]
fn bad_agent_commands_are_refused_before_sending() {
    let rpc = ["--rpc", "ws://127.0.0.1:1"];
    let fails = |args: &[&str], expected: &[&str]| {
        let mut all = args.to_vec();
        all.extend(rpc);
        let out = menara(&all);
        assert!(!out.status.success(), "{}", stdout(&out));
        let err = stderr(&out);
        for e in expected {
            assert!(
                err.contains(e),
                "`{}`: expected {e:?} in:\n{err}",
                args.join(" ")
            );
        }
    };
    let act = |what: &[&str], expected: &[&str]| {
        let mut args = vec![
            "tx", "agents", "act", "--owner", "//Alice", "--from", "//Dave",
        ];
        args.extend_from_slice(what);
        fails(&args, expected);
    };
    act(
        &["--call", "balances.send //Bob 1"],
        &["unknown call \"balances.send\"", "menara agents calls"],
    );
    act(
        &["--call", "staking.chill"],
        &["cannot be written as text", "--call-hex"],
    );
    act(&["--call", "agents.revoke //Bob"], &["agents pallet"]);
    act(
        &["--call", "balances.transfer //Bob"],
        &["expected 2 argument(s), got 1"],
    );
    act(
        &["--call", "balances.transfer //Bob -1"],
        &["not an amount of MEN"],
    );
    act(&["--call-hex", "0x0102ff"], &["--call-hex does not decode"]);
    act(&[], &["--call"]);
    act(
        &["--call", "balances.transfer //Bob 1", "--provider", "//Bob"],
        &["--provider is only for"],
    );
    fails(
        &[
            "tx",
            "agents",
            "grant",
            "--agent",
            "//Dave",
            "--budget",
            "5",
            "--per",
            "10",
            "--max-per-call",
            "1",
            "--calls",
            "balances.transfer,balances.pay",
            "--from",
            "//Alice",
        ],
        &[
            "--calls: unknown call \"balances.pay\"",
            "menara agents calls",
        ],
    );
    fails(
        &[
            "tx",
            "agents",
            "grant",
            "--agent",
            "//Dave",
            "--budget",
            "1",
            "--per",
            "10",
            "--max-per-call",
            "2",
            "--from",
            "//Alice",
        ],
        &["--max-per-call must be at most --budget"],
    );
    fails(
        &[
            "tx",
            "agents",
            "register",
            "--agent",
            "//Dave",
            "--name",
            "d",
            "--self-bond",
            "1",
            "--commission-per-mill",
            "0",
            "--from",
            "//Alice",
        ],
        &["--self-bond must be at least 10 MEN"],
    );
    fails(
        &[
            "tx",
            "agents",
            "order",
            "--agent",
            "//Dave",
            "--payment",
            "1",
            "--request",
            "0x1234",
            "--deadline",
            "5",
            "--from",
            "//Bob",
        ],
        &["--request", "not a hash"],
    );
    fails(
        &[
            "tx",
            "agents",
            "report-equivocation",
            "--agent",
            "//Dave",
            "--request",
            "q",
            "--first-output",
            &H256([1; 32]).to_string(),
            "--first-signature",
            "0x12",
            "--second-output",
            &H256([2; 32]).to_string(),
            "--second-signature",
            "0x12",
            "--from",
            "//Bob",
        ],
        &["--first-signature: a signature is 64 bytes"],
    );
    fails(
        &[
            "agents",
            "sign-answer",
            "--request",
            "q",
            "--output",
            "0x12",
            "--key",
            "//Dave",
        ],
        &["--output", "not a hash"],
    );
    // inference.submit's text is tokenised with the model file, found before anything
    // is sent.
    let empty = tempfile::tempdir().unwrap();
    let model = H256([1; 32]).to_string();
    let submit = format!("inference.submit {model} 1 hello world");
    act(
        &["--call", &submit, "-d", empty.path().to_str().unwrap()],
        &[
            "the text of --call \"inference.submit ...\" needs model",
            "does not hold it: pass --model-file PATH",
        ],
    );
    fails(&["query", "agents", "spends", "bob"], &["not an account"]);
    fails(
        &["query", "agents", "spends", "//Dave", "--limit", "101"],
        &["--limit", "1..=100"],
    );
    // The call names grants use.
    let out = menara(&["agents", "calls"]);
    assert!(out.status.success());
    let names = stdout(&out);
    assert!(names.contains("balances.transfer (1#0)"), "{names}");
    assert!(names.contains("inference.submit (8#1)"), "{names}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_act_under_grants_and_are_slashed_on_a_dev_chain() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("node");
    std::fs::create_dir_all(&base).unwrap();
    // Short blocks: an epoch (50 blocks) every 10 seconds. The provider worker runs the
    // inference jobs assigned to the node's key, //Alice's.
    let mut node = Node::start_with(&base, 200, &["--provider"]);
    let c = node.connect().await;
    let alice = keyring::dev_account("Alice");
    let charlie = keyring::dev_account("Charlie");
    let dave = keyring::dev_account("Dave");
    let ferdie = keyring::dev_account("Ferdie");

    // (a) //Alice registers //Dave, bonding 10 MEN, and grants it 5 MEN per 1000 blocks.
    let out = node.ok(&[
        "tx",
        "agents",
        "register",
        "--agent",
        "//Dave",
        "--name",
        "dave-bot",
        "--endpoint",
        "https://dave.example",
        "--self-bond",
        "10",
        "--commission-per-mill",
        "50",
        "--from",
        "//Alice",
    ]);
    assert!(
        out.contains(&format!(
            "agent {dave} registered, owner {alice}, bond 10 MEN"
        )),
        "{out}"
    );
    let out = node.grant();
    assert!(
        out.contains(&format!(
            "grant 0: agent {dave} may spend 5 MEN of {alice}'s funds per 1000 blocks"
        )),
        "{out}"
    );
    let grants = node.json(&["agents", "grants", "//Dave"]);
    assert_eq!(grants[0]["calls"], json!(["balances.transfer"]));
    assert_eq!(grants[0]["maxPerCall"], (3 * MEN).to_string());
    assert_eq!(grants[0]["frozen"], false);

    // Two transfers of 2 MEN to //Ferdie from //Alice's funds; //Alice pays the fees.
    let (alice_0, dave_0, ferdie_0) = (
        free(&c, &alice).await,
        free(&c, &dave).await,
        free(&c, &ferdie).await,
    );
    for index in 0..2 {
        let out = node.act("balances.transfer //Ferdie 2");
        assert!(
            out.contains(&format!(
                "spent 2 MEN of {alice}'s funds to {ferdie} (balances.transfer) under grant 0, fee "
            )),
            "{out}"
        );
        assert!(out.contains("paid by the owner"), "{out}");
        assert!(out.contains(&format!("log index {index}")), "{out}");
    }
    // A third would pass the budget; 4 MEN passes the per-call cap (calls the grant allows:
    // //Alice pays their fees too).
    node.act_refused("balances.transfer //Ferdie 2", "OverBudget");
    node.act_refused("balances.transfer //Ferdie 4", "OverPerCallCap");
    assert_eq!(free(&c, &dave).await, dave_0);
    // A remark is no transfer: refused, and //Dave pays for it.
    node.act_refused("system.remark hello", "CallNotAllowed");
    let dave_1 = free(&c, &dave).await;
    assert!(dave_1 < dave_0);

    // The log, newest first.
    let spends = node.json(&["agents", "spends", "//Dave"]);
    let spends = spends.as_array().unwrap();
    assert_eq!(spends.len(), 2, "{spends:?}");
    let mut fees = 0;
    for (s, index) in spends.iter().zip([1, 0]) {
        assert_eq!(s["index"], index);
        assert_eq!(s["owner"], alice.to_string());
        assert_eq!(s["grant"], 0);
        assert_eq!(s["call"], "balances.transfer");
        assert_eq!(s["recipient"], ferdie.to_string());
        assert_eq!(s["amount"], (2 * MEN).to_string());
        assert!(units(&s["fee"]) > 0, "{s}");
        assert_eq!(s["job"], Value::Null);
        fees += units(&s["fee"]);
    }
    assert!(
        spends[0]["block"].as_u64().unwrap() > spends[1]["block"].as_u64().unwrap(),
        "{spends:?}"
    );
    let page = node.json(&[
        "agents", "spends", "//Dave", "--before", "1", "--limit", "5",
    ]);
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["index"], 0);
    let lines = node.ok(&["query", "agents", "spends", "//Dave"]);
    assert!(
        lines.contains(&format!(
            "#1 block #{}: balances.transfer 2 MEN to {ferdie} for {alice} under grant 0, fee",
            spends[0]["block"]
        )),
        "{lines}"
    );

    // The fees //Alice paid counted against the window, those of the allowed calls refused
    // for what they spent too; //Alice paid exactly that, //Ferdie got 4 MEN.
    let grants = node.json(&["agents", "grants", "//Dave"]);
    let spent = units(&grants[0]["spentInWindow"]);
    assert!(spent > 4 * MEN + fees, "{grants}");
    assert_eq!(units(&grants[0]["remaining"]), 5 * MEN - spent);
    assert_eq!(alice_0 - free(&c, &alice).await, spent);
    assert_eq!(free(&c, &ferdie).await, ferdie_0 + 4 * MEN);

    // Revoked: no grant (//Dave pays its own fee now).
    let out = node.ok(&[
        "tx", "agents", "revoke", "--agent", "//Dave", "--from", "//Alice",
    ]);
    assert!(
        out.contains(&format!("grant of {alice} to agent {dave} revoked")),
        "{out}"
    );
    node.act_refused("balances.transfer //Ferdie 1", "NoGrant");
    assert!(free(&c, &dave).await < dave_1);
    assert_eq!(free(&c, &ferdie).await, ferdie_0 + 4 * MEN);
    assert_eq!(node.json(&["agents", "grants", "//Dave"]), json!([]));

    // (b) A new grant; //Bob delegates 100 MEN to //Dave's pool.
    let out = node.grant();
    assert!(out.contains("grant 1: "), "{out}");
    let out = node.ok(&[
        "tx", "agents", "delegate", "--agent", "//Dave", "--amount", "100", "--from", "//Bob",
    ]);
    assert!(
        out.contains(&format!("bonded 100 MEN to agent {dave}")),
        "{out}"
    );
    let agent = node.json(&["agents", "agent", "//Dave"]);
    assert_eq!(agent["totalStake"], (110 * MEN).to_string());
    assert_eq!(agent["ownerBond"], (10 * MEN).to_string());
    assert_eq!(agent["spends"], 2);
    assert_eq!(agent["slashes"], 0);

    // //Dave answers one request twice, differently.
    let request = "what is the answer?";
    let (output_1, output_2) = (H256([0x11; 32]).to_string(), H256([0x22; 32]).to_string());
    let sign = |output: &str| {
        let out = node.ok(&[
            "agents",
            "sign-answer",
            "--request",
            request,
            "--output",
            output,
            "--key",
            "//Dave",
        ]);
        let sig = out.trim().to_string();
        assert!(sig.starts_with("0x") && sig.len() == 130, "{out}");
        sig
    };
    let (sig_1, sig_2) = (sign(&output_1), sign(&output_2));
    assert_ne!(sig_1, sig_2);
    // A signature over the other output does not prove anything.
    node.refused(
        &[
            "tx",
            "agents",
            "report-equivocation",
            "--agent",
            "//Dave",
            "--request",
            request,
            "--first-output",
            &output_1,
            "--first-signature",
            &sig_2,
            "--second-output",
            &output_2,
            "--second-signature",
            &sig_2,
            "--from",
            "//Charlie",
        ],
        "BadSignature",
    );
    let out = node.ok(&[
        "tx",
        "agents",
        "report-equivocation",
        "--agent",
        "//Dave",
        "--request",
        request,
        "--first-output",
        &output_1,
        "--first-signature",
        &sig_1,
        "--second-output",
        &output_2,
        "--second-signature",
        &sig_2,
        "--from",
        "//Charlie",
    ]);
    assert!(
        out.contains(&format!(
            "offence AgentEquivocation of agent {dave} reported"
        )),
        "{out}"
    );
    let charlie_reported = free(&c, &charlie).await;
    let agent = node.json(&["agents", "agent", "//Dave"]);
    assert_eq!(agent["slashes"], 1);
    assert_eq!(agent["totalStake"], (110 * MEN).to_string());

    // The grant is frozen until //Alice confirms it.
    let grants = node.json(&["agents", "grants", "//Dave"]);
    assert_eq!(grants[0]["frozen"], true);
    let lines = node.ok(&["query", "agents", "grants", "//Dave"]);
    assert!(lines.contains("frozen by a slash"), "{lines}");
    node.act_refused("balances.transfer //Ferdie 1", "GrantFrozen");

    // The slash lands at the end of the second epoch after the report: 5% of the pool,
    // every share alike; 10% of it to //Charlie.
    let slashed = 110 * MEN / 20;
    // Meanwhile //Alice publishes a tiny model and serves it at 1 MEN a job, for the
    // inference below.
    let (_, bytes, model) = tiny_encoder(3);
    let model_file = dir.path().join("tiny.mvm");
    std::fs::write(&model_file, &bytes).unwrap();
    let out = node.ok(&[
        "model",
        "publish",
        "--file",
        model_file.to_str().unwrap(),
        "--name",
        "agent-encoder",
        "--version",
        "1.0.0",
        "--from",
        "//Alice",
    ]);
    assert!(out.contains(&format!("model {model}")), "{out}");
    node.serve(&model.to_string(), "//Alice");
    let agent = wait_for_agent(&c, &node, &dave, 120, "the deferred slash", |a| {
        a["totalStake"] != json!((110 * MEN).to_string())
    })
    .await;
    assert_eq!(agent["totalStake"], (110 * MEN - slashed).to_string());
    assert_eq!(agent["ownerBond"], (10 * MEN * 19 / 20).to_string());
    let delegations: Value =
        serde_json::from_str(&node.ok(&["query", "staking", "delegations", "//Bob"])).unwrap();
    let to_dave: Vec<&Value> = delegations["delegations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["validator"] == json!(dave.to_string()))
        .collect();
    assert_eq!(to_dave.len(), 1, "{delegations}");
    assert_eq!(to_dave[0]["value"], (95 * MEN).to_string());
    assert_eq!(free(&c, &charlie).await - charlie_reported, slashed / 10);
    let slashes: Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
    assert_eq!(slashes["deferredSlashes"], json!([]), "{slashes}");

    // Still frozen until //Alice confirms; then //Dave may act again (here with a call
    // given encoded).
    node.act_refused("balances.transfer //Ferdie 1", "GrantFrozen");
    let out = node.ok(&[
        "tx", "agents", "confirm", "--agent", "//Dave", "--from", "//Alice",
    ]);
    assert!(
        out.contains(&format!(
            "grant of {alice} to agent {dave} confirmed: usable again"
        )),
        "{out}"
    );
    let out = node.act("balances.transfer //Ferdie 1");
    assert!(out.contains("under grant 1, fee"), "{out}");
    assert!(out.contains("log index 2"), "{out}");
    let call = RuntimeCall::Balances(menara_runtime::pallet_balances::Call::Transfer {
        dest: ferdie,
        value: (MEN / 2).into(),
    });
    let hex = format!("0x{}", hex::encode(call.encode()));
    let out = node.ok(&[
        "tx",
        "agents",
        "act",
        "--owner",
        "//Alice",
        "--call-hex",
        &hex,
        "--from",
        "//Dave",
    ]);
    assert!(
        out.contains(&format!(
            "spent 0.5 MEN of {alice}'s funds to {ferdie} (balances.transfer) under grant 1"
        )),
        "{out}"
    );
    assert_eq!(free(&c, &ferdie).await, ferdie_0 + 4 * MEN + MEN + MEN / 2);
    let agent = node.json(&["agents", "agent", "//Dave"]);
    assert_eq!(agent["spends"], 4);

    // Inference on //Bob's behalf: //Bob grants //Dave jobs and remarks, with a budget of
    // exactly two jobs at //Alice's price, the fees //Bob pays for them included (the
    // fee of an act depends only on its length, the same for both).
    let bob = keyring::dev_account("Bob");
    let fee = submit_act_fee(&c, bob, model).await;
    let budget = 2 * (MEN + fee);
    let out = node.ok(&[
        "tx",
        "agents",
        "grant",
        "--agent",
        "//Dave",
        "--budget",
        &men(budget),
        "--per",
        "1000",
        "--max-per-call",
        "1.5",
        "--calls",
        "inference.submit,system.remark",
        "--from",
        "//Bob",
    ]);
    assert!(
        out.contains(&format!(
            "grant 2: agent {dave} may spend {} MEN of {bob}'s funds per 1000 blocks",
            men(budget)
        )),
        "{out}"
    );
    // The text is tokenised with the model file in the node's store.
    let submit = format!("inference.submit {model} 1 hello world");
    let submit = bob_act(&submit, &["--base-path", base.to_str().unwrap()]);
    let bob_0 = free(&c, &bob).await;
    let mut jobs = Vec::new();
    for index in [4, 5] {
        let out = node.ok(&submit);
        assert!(
            out.contains(&format!(
                "spent 1 MEN of {bob}'s funds (inference.submit) under grant 2, fee {} MEN paid by the owner; log index {index}",
                men(fee)
            )),
            "{out}"
        );
        jobs.push(submitted_job(&out));
    }
    assert_eq!(bob_0 - free(&c, &bob).await, budget);
    // The jobs are //Bob's, newest first.
    let listed = node.json(&["inference", "jobs", "//Bob"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (job, id) in listed.iter().zip(jobs.iter().rev()) {
        assert_eq!(job["id"].to_string(), *id);
        assert_eq!(job["client"], bob.to_string());
        assert_eq!(job["provider"], alice.to_string());
        assert_eq!(job["model"], model.to_string());
        assert_eq!(job["fee"], MEN.to_string());
        assert_eq!(job["input"]["values"], json!(hello_world()));
    }
    let grants = node.json(&["agents", "grants", "//Dave"]);
    let grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["owner"] == json!(bob.to_string()))
        .unwrap();
    assert_eq!(grant["spentInWindow"], budget.to_string());
    assert_eq!(grant["remaining"], "0");
    // A third job passes the budget: refused, and since the window cannot take even its
    // fee, //Dave pays that, not //Bob.
    let dave_2 = free(&c, &dave).await;
    node.refused(&submit, "OverBudget");
    assert_eq!(free(&c, &bob).await, bob_0 - budget);
    assert_eq!(dave_2 - free(&c, &dave).await, fee);
    let spends = node.json(&["agents", "spends", "//Dave", "--limit", "2"]);
    let spends = spends.as_array().unwrap();
    assert_eq!(spends.len(), 2, "{spends:?}");
    for (s, index) in spends.iter().zip([5, 4]) {
        assert_eq!(s["index"], index);
        assert_eq!(s["owner"], bob.to_string());
        assert_eq!(s["grant"], 2);
        assert_eq!(s["call"], "inference.submit");
        assert_eq!(s["recipient"], Value::Null);
        assert_eq!(s["amount"], MEN.to_string());
        assert_eq!(s["fee"], fee.to_string());
        assert_eq!(s["job"], Value::Null);
    }

    // Orders: //Charlie orders with a text request (its BLAKE3 hash is recorded), //Dave
    // accepts and delivers, and is paid into its pool.
    let out = node.ok(&[
        "tx",
        "agents",
        "order",
        "--agent",
        "//Dave",
        "--payment",
        "1",
        "--request",
        "summarise block 1",
        "--deadline",
        "50",
        "--from",
        "//Charlie",
    ]);
    let hashed = menara_primitives::blake3_256(b"summarise block 1");
    assert!(
        out.contains(&format!("request {hashed} (BLAKE3 of the text)")),
        "{out}"
    );
    let order = id_after(&out, "order");
    let view = node.json(&["agents", "order", &order]);
    assert_eq!(view["state"], "open");
    assert_eq!(view["request"], hashed.to_string());
    assert_eq!(view["client"], charlie.to_string());
    assert_eq!(view["payment"], MEN.to_string());
    let out = node.ok(&["tx", "agents", "accept-order", &order, "--from", "//Dave"]);
    assert!(
        out.contains(&format!("order {order} accepted: due by block #")),
        "{out}"
    );
    assert_eq!(node.json(&["agents", "order", &order])["state"], "accepted");
    let out = node.ok(&[
        "tx", "agents", "deliver", &order, "--output", &output_1, "--from", "//Dave",
    ]);
    assert!(
        out.contains(&format!(
            "order {order} delivered (output {output_1}): 1 MEN paid into agent {dave}'s pool"
        )),
        "{out}"
    );
    node.fails(&["query", "agents", "order", &order], "is not open");

    // //Bob claims his share of the payment, and starts unbonding 10 MEN.
    let out = node.ok(&[
        "tx", "agents", "claim", "--agent", "//Dave", "--from", "//Bob",
    ]);
    assert!(out.contains(&format!("from {dave}")), "{out}");
    let out = node.ok(&[
        "tx",
        "agents",
        "undelegate",
        "--agent",
        "//Dave",
        "--amount",
        "10",
        "--from",
        "//Bob",
    ]);
    assert!(
        out.contains(&format!("unbonding 10 MEN from agent {dave}")),
        "{out}"
    );
    node.refused(
        &["tx", "agents", "withdraw", "--from", "//Bob"],
        "StillUnbonding",
    );

    // An order cancelled before it is accepted; one accepted and missed: refunded, and
    // //Dave slashed again.
    let place = || {
        let out = node.ok(&[
            "tx",
            "agents",
            "order",
            "--agent",
            "//Dave",
            "--payment",
            "1",
            "--request",
            &H256([0x44; 32]).to_string(),
            "--deadline",
            "1",
            "--from",
            "//Charlie",
        ]);
        assert!(!out.contains("BLAKE3"), "{out}");
        id_after(&out, "order")
    };
    let cancelled = place();
    let out = node.ok(&[
        "tx",
        "agents",
        "cancel-order",
        &cancelled,
        "--from",
        "//Charlie",
    ]);
    assert!(
        out.contains(&format!("order {cancelled} cancelled, payment refunded")),
        "{out}"
    );
    let missed = place();
    let lines = node.ok(&["query", "agents", "orders", "//Dave"]);
    assert!(lines.contains(&format!("order {missed}: open")), "{lines}");
    node.ok(&["tx", "agents", "accept-order", &missed, "--from", "//Dave"]);
    let deadline = node.json(&["agents", "order", &missed])["deadline"]
        .as_u64()
        .unwrap();
    while best_block(&c).await <= deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = node.ok(&["tx", "agents", "report-missed", &missed, "--from", "//Eve"]);
    assert!(
        out.contains(&format!(
            "order {missed} missed its deadline: 1 MEN refunded to the client"
        )),
        "{out}"
    );
    assert!(out.contains("offence AgentMissedDeadline"), "{out}");
    assert_eq!(node.json(&["agents", "orders", "//Dave"]), json!([]));
    node.refused(
        &[
            "tx",
            "agents",
            "report-wrong-output",
            "--job",
            "99",
            "--from",
            "//Eve",
        ],
        "UnknownJob",
    );

    // Both jobs become final when their windows close. The missed order froze //Bob's
    // grant too; once //Bob confirms it, //Dave cites the first job in a remark, which
    // spends nothing (//Dave pays its fee: the window is full).
    let mut finals = Vec::new();
    for job in &jobs {
        finals.push(wait_for_final(&c, &node, job).await);
    }
    let remark = "system.remark answered with a verified embedding";
    let cite = bob_act(remark, &["--job", &jobs[0]]);
    node.refused(&cite, "GrantFrozen");
    node.ok(&[
        "tx", "agents", "confirm", "--agent", "//Dave", "--from", "//Bob",
    ]);
    let bob_cited = free(&c, &bob).await;
    let out = node.ok(&cite);
    assert!(
        out.contains(&format!(
            "spent 0 MEN of {bob}'s funds (system.remark) under grant 2, the agent paid the fee, citing job {}; log index 6",
            jobs[0]
        )),
        "{out}"
    );
    assert_eq!(free(&c, &bob).await, bob_cited);
    let spends = node.json(&["agents", "spends", "//Dave", "--limit", "1"]);
    assert_eq!(spends[0]["call"], "system.remark");
    assert_eq!(spends[0]["amount"], "0");
    assert_eq!(spends[0]["fee"], "0");
    // The citation: the job, its model, and the hashes of its input and output (the first
    // and last of its provider's commitment).
    let cited = &spends[0]["job"];
    assert_eq!(cited["job"].to_string(), jobs[0], "{cited}");
    assert_eq!(cited["model"], model.to_string());
    let commitment = finals[0]["commitment"].as_array().unwrap();
    assert_eq!(cited["inputHash"], commitment[0], "{cited}");
    assert_eq!(cited["outputHash"], *commitment.last().unwrap(), "{cited}");
    for hash in [&cited["inputHash"], &cited["outputHash"]] {
        let hash = hash.as_str().unwrap();
        assert!(
            hash.len() == 66
                && hash.starts_with("0x")
                && hash[2..].chars().all(|c| c.is_ascii_hexdigit()),
            "{cited}"
        );
    }

    // //Alice retires //Dave: no more acts.
    let out = node.ok(&[
        "tx", "agents", "retire", "--agent", "//Dave", "--from", "//Alice",
    ]);
    assert!(out.contains(&format!("agent {dave} retired")), "{out}");
    let lines = node.ok(&["query", "agents", "list"]);
    assert!(
        lines.contains(&format!("agent {dave}: dave-bot (retired)")),
        "{lines}"
    );
    assert!(
        lines.contains("endpoint:    https://dave.example"),
        "{lines}"
    );
    let list = node.json(&["agents", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["slashes"], 2);
    node.act_refused("balances.transfer //Ferdie 1", "Retired");
    eprintln!("agents end-to-end took {:?}", started.elapsed());
}
