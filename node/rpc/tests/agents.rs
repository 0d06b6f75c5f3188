//! The `agents_*` methods: the real runtime's queries over an in-memory state (two agents,
//! grants with and without lists, acts logged under a grant, one citing a verified job,
//! an open and an accepted order) rendered to JSON, and their parameter checks.
#![allow(clippy::unwrap_used)]

mod fixture;

use fixture::runtime::{http, rpc_err, serve_runtime, set_block, Chain};
use gpu_verify::engine::Activation;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use menara_primitives::{AccountId, H256, MEN};
use menara_rpc::types::{AgentJson, AgentOrderJson, GrantJson, SpendJson};
use menara_rpc::RpcMethods;
use menara_runtime::{calls, RuntimeCall};
use menara_support::Origin;
use pallet_agents::Call;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);
const DAVE: AccountId = AccountId([4; 32]);
const EVE: AccountId = AccountId([5; 32]);
const FERDIE: AccountId = AccountId([6; 32]);

/// The verified job //Dave's third act cites.
const JOB: u64 = 7;

fn dispatch(who: AccountId, call: RuntimeCall) {
    menara_runtime::executive::dispatch(Origin::Signed(who), call).unwrap();
}

fn agents(who: AccountId, call: Call) {
    dispatch(who, RuntimeCall::Agents(call));
}

/// `agent` makes `call` as `owner`, citing `job`.
fn act(agent: AccountId, owner: AccountId, call: RuntimeCall, job: Option<u64>) {
    agents(
        agent,
        Call::Act {
            owner,
            call: call.encode(),
            job,
        },
    );
}

fn transfer(dest: AccountId, value: u128) -> RuntimeCall {
    RuntimeCall::Balances(menara_runtime::pallet_balances::Call::Transfer {
        dest,
        value: value.into(),
    })
}

fn kind(name: &str) -> pallet_agents::CallKind {
    calls::kind_by_name(name).unwrap()
}

/// A final inference job, written straight into storage (its input and output are what a
/// citation hashes).
fn verified_job(input: &Activation, output: &Activation) {
    pallet_inference::storage::Jobs::insert(
        &JOB,
        &pallet_inference::Job {
            client: ALICE,
            provider: FERDIE,
            model: H256([7; 32]),
            input: input.clone(),
            fee: MEN,
            royalty: 0,
            verification_fee: 0,
            submitted_at: 1,
            commit_by: 21,
            state: pallet_inference::JobState::Final,
            commitment: vec![],
            root: H256::zero(),
            output: Some(output.clone()),
            committed_at: 2,
            window_ends: 3,
            checks: vec![],
            challenges_rejected: 0,
            outcome: None,
            closed_at: 3,
        },
    );
}

/// //Alice registered //Dave (100 MEN bond, 5% commission) and //Bob registered //Eve
/// (20 MEN, 10%); //Charlie delegated 50 MEN to //Dave. //Alice granted //Dave 10 MEN per
/// 100 blocks, 5 MEN a call, to //Ferdie only, for transfers and remarks, until block 1000;
/// //Bob granted //Dave 1 MEN per 10 blocks without lists. //Dave paid //Ferdie 2 MEN at
/// block 4 and 3 MEN at block 5, and remarked at block 6 citing job 7. //Charlie ordered
/// work from //Dave at block 7 (order 0, open); //Ferdie at block 8 (order 1, accepted at 8
/// with 10 blocks to deliver).
fn agents_state() -> (Arc<Mutex<Chain>>, Activation, Activation) {
    let rt = Arc::new(Mutex::new(Chain::default()));
    let input = Activation::tokens(&[vec![1, 4, 2]]);
    let output = Activation::rows_i8(&[vec![3, -4]]);
    rt.lock().unwrap().exec(|| {
        menara_runtime::Balances::build_genesis(&menara_runtime::pallet_balances::GenesisConfig {
            balances: [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE]
                .iter()
                .map(|a| (*a, 1_000 * MEN))
                .collect(),
        })
        .unwrap();
        set_block(2);
        agents(
            ALICE,
            Call::Register {
                agent: DAVE,
                name: b"dave-bot".to_vec(),
                model: None,
                endpoint: b"https://dave.example/agent".to_vec(),
                self_bond: (100 * MEN).into(),
                commission_per_mill: 50,
            },
        );
        agents(
            BOB,
            Call::Register {
                agent: EVE,
                name: b"eve".to_vec(),
                model: None,
                endpoint: vec![],
                self_bond: (20 * MEN).into(),
                commission_per_mill: 100,
            },
        );
        agents(
            CHARLIE,
            Call::Delegate {
                agent: DAVE,
                amount: (50 * MEN).into(),
            },
        );
        set_block(3);
        agents(
            ALICE,
            Call::Grant {
                agent: DAVE,
                budget: (10 * MEN).into(),
                per: 100,
                max_per_call: (5 * MEN).into(),
                recipients: vec![FERDIE],
                calls: vec![kind("system.remark"), kind("balances.transfer")],
                expires: Some(1000),
            },
        );
        agents(
            BOB,
            Call::Grant {
                agent: DAVE,
                budget: MEN.into(),
                per: 10,
                max_per_call: MEN.into(),
                recipients: vec![],
                calls: vec![],
                expires: None,
            },
        );
        set_block(4);
        act(DAVE, ALICE, transfer(FERDIE, 2 * MEN), None);
        set_block(5);
        act(DAVE, ALICE, transfer(FERDIE, 3 * MEN), None);
        set_block(6);
        verified_job(&input, &output);
        let remark = RuntimeCall::System(menara_runtime::pallet_system::Call::Remark {
            remark: b"done".to_vec(),
        });
        act(DAVE, ALICE, remark, Some(JOB));
        set_block(7);
        agents(
            CHARLIE,
            Call::PlaceOrder {
                agent: DAVE,
                payment: (5 * MEN).into(),
                request: H256([9; 32]),
                deadline_blocks: 10,
            },
        );
        set_block(8);
        agents(
            FERDIE,
            Call::PlaceOrder {
                agent: DAVE,
                payment: MEN.into(),
                request: H256([10; 32]),
                deadline_blocks: 10,
            },
        );
        agents(DAVE, Call::AcceptOrder { order: 1 });
    });
    (rt, input, output)
}

fn indexes(spends: &Value) -> Vec<u64> {
    spends
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn agents_queries_render_the_runtime_views() {
    let (rt, input, output) = agents_state();
    let (h, _node) = serve_runtime(rt.clone(), RpcMethods::Safe).await;
    let c = http(&h);

    // //Dave: the owner's bond and //Charlie's delegation, three acts, two orders.
    let dave: Value = c.request("agents_agent", rpc_params![DAVE]).await.unwrap();
    let dave_json = json!({
        "account": DAVE.to_string(),
        "owner": ALICE.to_string(),
        "name": "dave-bot",
        "model": null,
        "endpoint": "https://dave.example/agent",
        "registeredAt": 2,
        "slashes": 0,
        "retired": false,
        "commissionPerMill": 50,
        "totalStake": (150 * MEN).to_string(),
        "ownerBond": (100 * MEN).to_string(),
        "spends": 3,
        "openOrders": 2,
    });
    assert_eq!(dave, dave_json);
    let typed: AgentJson = serde_json::from_value(dave).unwrap();
    assert_eq!((typed.account, typed.total_stake), (DAVE, 150 * MEN));
    let none: Option<Value> = c.request("agents_agent", rpc_params![ALICE]).await.unwrap();
    assert_eq!(none, None);

    // Every agent, by account.
    let all: Value = c.request("agents_list", rpc_params![]).await.unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], dave_json);
    assert_eq!(
        all[1],
        json!({
            "account": EVE.to_string(),
            "owner": BOB.to_string(),
            "name": "eve",
            "model": null,
            "endpoint": "",
            "registeredAt": 2,
            "slashes": 0,
            "retired": false,
            "commissionPerMill": 100,
            "totalStake": (20 * MEN).to_string(),
            "ownerBond": (20 * MEN).to_string(),
            "spends": 0,
            "openOrders": 0,
        })
    );

    // //Dave's grants, by owner: call kinds by name (sorted by kind), what the window left.
    let grants: Value = c.request("agents_grants", rpc_params![DAVE]).await.unwrap();
    assert_eq!(
        grants,
        json!([
            {
                "agent": DAVE.to_string(),
                "owner": ALICE.to_string(),
                "id": 0,
                "budget": (10 * MEN).to_string(),
                "per": 100,
                "maxPerCall": (5 * MEN).to_string(),
                "recipients": [FERDIE.to_string()],
                "calls": ["system.remark", "balances.transfer"],
                "expires": 1000,
                "grantedAt": 3,
                "confirmedSlashes": 0,
                "spentInWindow": (5 * MEN).to_string(),
                "remaining": (5 * MEN).to_string(),
                "frozen": false,
            },
            {
                "agent": DAVE.to_string(),
                "owner": BOB.to_string(),
                "id": 1,
                "budget": MEN.to_string(),
                "per": 10,
                "maxPerCall": MEN.to_string(),
                "recipients": [],
                "calls": [],
                "expires": null,
                "grantedAt": 3,
                "confirmedSlashes": 0,
                "spentInWindow": "0",
                "remaining": MEN.to_string(),
                "frozen": false,
            },
        ])
    );
    let typed: Vec<GrantJson> = serde_json::from_value(grants).unwrap();
    assert_eq!(typed[0].calls, ["system.remark", "balances.transfer"]);
    let none: Value = c.request("agents_grants", rpc_params![EVE]).await.unwrap();
    assert_eq!(none, json!([]));

    // //Dave's acts, newest first; the remark cites the verified job.
    let spends: Value = c.request("agents_spends", rpc_params![DAVE]).await.unwrap();
    let hash = |a: &Activation| H256(gpu_verify::commit::activation_hash(a)).to_string();
    assert_eq!(
        spends,
        json!([
            {
                "index": 2,
                "owner": ALICE.to_string(),
                "grant": 0,
                "call": "system.remark",
                "recipient": null,
                "amount": "0",
                "fee": "0",
                "block": 6,
                "job": {
                    "job": JOB,
                    "model": H256([7; 32]).to_string(),
                    "inputHash": hash(&input),
                    "outputHash": hash(&output),
                },
            },
            {
                "index": 1,
                "owner": ALICE.to_string(),
                "grant": 0,
                "call": "balances.transfer",
                "recipient": FERDIE.to_string(),
                "amount": (3 * MEN).to_string(),
                "fee": "0",
                "block": 5,
                "job": null,
            },
            {
                "index": 0,
                "owner": ALICE.to_string(),
                "grant": 0,
                "call": "balances.transfer",
                "recipient": FERDIE.to_string(),
                "amount": (2 * MEN).to_string(),
                "fee": "0",
                "block": 4,
                "job": null,
            },
        ])
    );
    let typed: Vec<SpendJson> = serde_json::from_value(spends).unwrap();
    assert_eq!(typed[0].job.as_ref().unwrap().job, JOB);
    // Pages: before an index, at most `limit`.
    let page: Value = c
        .request("agents_spends", rpc_params![DAVE, 2, 1])
        .await
        .unwrap();
    assert_eq!(indexes(&page), vec![1]);
    let page: Value = c
        .request("agents_spends", rpc_params![DAVE, None::<u64>, 2])
        .await
        .unwrap();
    assert_eq!(indexes(&page), vec![2, 1]);
    let page: Value = c
        .request("agents_spends", rpc_params![DAVE, 1])
        .await
        .unwrap();
    assert_eq!(indexes(&page), vec![0]);
    let none: Value = c.request("agents_spends", rpc_params![EVE]).await.unwrap();
    assert_eq!(none, json!([]));

    // Orders: one open, one accepted with its deadline.
    let open = json!({
        "id": 0,
        "client": CHARLIE.to_string(),
        "agent": DAVE.to_string(),
        "payment": (5 * MEN).to_string(),
        "request": H256([9; 32]).to_string(),
        "deadlineBlocks": 10,
        "placedAt": 7,
        "state": "open",
        "deadline": null,
    });
    let accepted = json!({
        "id": 1,
        "client": FERDIE.to_string(),
        "agent": DAVE.to_string(),
        "payment": MEN.to_string(),
        "request": H256([10; 32]).to_string(),
        "deadlineBlocks": 10,
        "placedAt": 8,
        "state": "accepted",
        "deadline": 18,
    });
    let orders: Value = c.request("agents_orders", rpc_params![DAVE]).await.unwrap();
    assert_eq!(orders, json!([open, accepted]));
    let order: Value = c.request("agents_order", rpc_params![1]).await.unwrap();
    assert_eq!(order, accepted);
    let typed: AgentOrderJson = serde_json::from_value(order).unwrap();
    assert_eq!(
        (typed.state.as_str(), typed.deadline),
        ("accepted", Some(18))
    );
    let none: Option<Value> = c.request("agents_order", rpc_params![99]).await.unwrap();
    assert_eq!(none, None);
    let none: Value = c.request("agents_orders", rpc_params![EVE]).await.unwrap();
    assert_eq!(none, json!([]));

    // A call kind this node has no name for reads as `pallet#call`.
    assert_eq!(
        menara_rpc::types::call_name(pallet_agents::CallKind {
            pallet: 200,
            call: 3
        }),
        "200#3"
    );

    // //Alice revokes: the grant is gone, the log stays.
    rt.lock().unwrap().exec(|| {
        set_block(9);
        agents(ALICE, Call::Revoke { agent: DAVE });
    });
    let grants: Vec<GrantJson> = c.request("agents_grants", rpc_params![DAVE]).await.unwrap();
    assert_eq!(
        grants.iter().map(|g| g.owner).collect::<Vec<_>>(),
        vec![BOB]
    );
    let spends: Value = c.request("agents_spends", rpc_params![DAVE]).await.unwrap();
    assert_eq!(indexes(&spends), vec![2, 1, 0]);
    h.stop();
}

#[tokio::test]
async fn agents_methods_are_listed_safe_and_check_their_parameters() {
    let (rt, _, _) = agents_state();
    let (h, _node) = serve_runtime(rt, RpcMethods::Safe).await;
    let c = http(&h);
    #[derive(serde::Deserialize)]
    struct Methods {
        methods: Vec<String>,
    }
    let listed: Methods = c.request("rpc_methods", rpc_params![]).await.unwrap();
    for name in [
        "agents_agent",
        "agents_list",
        "agents_grants",
        "agents_spends",
        "agents_orders",
        "agents_order",
    ] {
        assert!(listed.methods.iter().any(|m| m == name), "{name} missing");
        assert!(!menara_rpc::UNSAFE_METHODS.contains(&name), "{name}");
    }

    let cases: Vec<(&str, jsonrpsee::core::params::ArrayParams, &str)> = vec![
        ("agents_agent", rpc_params![], "missing parameter `account`"),
        (
            "agents_agent",
            rpc_params!["//Dave"],
            "invalid hex in parameter `account`",
        ),
        (
            "agents_agent",
            rpc_params!["0x1234"],
            "wrong length for parameter `account`: an account id is 32 bytes",
        ),
        ("agents_list", rpc_params![1], "too many parameters"),
        ("agents_grants", rpc_params![], "missing parameter `agent`"),
        (
            "agents_grants",
            rpc_params![7],
            "invalid parameter `agent`: expected a 0x-prefixed hex string, got a number",
        ),
        ("agents_spends", rpc_params![], "missing parameter `agent`"),
        (
            "agents_spends",
            rpc_params![DAVE, "3"],
            "invalid parameter `before`: expected an id",
        ),
        (
            "agents_spends",
            rpc_params![DAVE, None::<u64>, 0],
            "invalid parameter `limit`: expected 1 to 100, got 0",
        ),
        (
            "agents_spends",
            rpc_params![DAVE, None::<u64>, 101],
            "invalid parameter `limit`: expected 1 to 100, got 101",
        ),
        (
            "agents_spends",
            rpc_params![DAVE, None::<u64>, 1, 2],
            "too many parameters",
        ),
        (
            "agents_orders",
            rpc_params!["0x12"],
            "wrong length for parameter `agent`",
        ),
        ("agents_order", rpc_params![], "missing parameter `id`"),
        (
            "agents_order",
            rpc_params![-1],
            "invalid parameter `id`: expected an id",
        ),
    ];
    for (method, params, expected) in cases {
        let (code, msg) = rpc_err(c.request::<Value, _>(method, params).await);
        assert_eq!(code, -32602, "{method}: {msg}");
        assert!(msg.starts_with(expected), "{method}: {msg}");
    }
    // Named parameters work too.
    let mut named = jsonrpsee::core::params::ObjectParams::new();
    named.insert("agent", DAVE).unwrap();
    named.insert("limit", 1).unwrap();
    let spends: Value = c.request("agents_spends", named).await.unwrap();
    assert_eq!(indexes(&spends), vec![2]);
    h.stop();
}
