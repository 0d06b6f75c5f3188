//! The `compute_*` methods: the real runtime's queries over an in-memory state (a
//! provider, an open order with a bid, a lease, a challenge) rendered to JSON, and their
//! parameter checks.
#![allow(clippy::unwrap_used)]

mod fixture;

use fixture::runtime::{http, rpc_err, serve_runtime, set_block, Chain};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use menara_primitives::{AccountId, H256, MEN};
use menara_rpc::types::{ChallengeJson, LeaseJson, OrderJson, ProviderJson};
use menara_rpc::RpcMethods;
use menara_runtime::{Compute, RuntimeCall};
use menara_support::Origin;
use pallet_compute::{Call, GpuClass, Resources};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);

fn dispatch(who: AccountId, call: Call) {
    menara_runtime::executive::dispatch(Origin::Signed(who), RuntimeCall::Compute(call)).unwrap();
}

fn h100(count: u32, vram: u32, region: &str) -> Resources {
    Resources {
        gpu: GpuClass::H100,
        gpu_count: count,
        vram_gib: vram,
        region: region.as_bytes().to_vec(),
    }
}

fn order_call() -> Call {
    Call::Order {
        resources: h100(1, 40, ""),
        model: None,
        max_price_per_block: MEN.into(),
        duration: 100,
        escrow: (60 * MEN).into(),
        auto_match: false,
    }
}

/// A market with //Bob's offer of 8 H100s, a lease of one of them to //Charlie (started at
/// block 5, half a MEN per block), an open order with a bid, and an answered challenge.
fn market() -> Arc<Mutex<Chain>> {
    let rt = Arc::new(Mutex::new(Chain::default()));
    rt.lock().unwrap().exec(|| {
        menara_runtime::Balances::build_genesis(&menara_runtime::pallet_balances::GenesisConfig {
            balances: vec![(BOB, 1_000_000 * MEN), (CHARLIE, 1_000_000 * MEN)],
        })
        .unwrap();
        Compute::build_genesis(&pallet_compute::GenesisConfig {
            test_challenges: true,
        });
        set_block(3);
        dispatch(
            BOB,
            Call::Register {
                offer: h100(8, 80, "eu"),
                models: vec![],
                price_per_block: MEN.into(),
                collateral: (3_300 * MEN).into(),
            },
        );
        set_block(5);
        dispatch(CHARLIE, order_call());
        dispatch(
            BOB,
            Call::Bid {
                order: 0,
                price_per_block: (MEN / 2).into(),
            },
        );
        dispatch(CHARLIE, Call::Accept { order: 0, bid: 0 });
        dispatch(CHARLIE, order_call());
        dispatch(
            BOB,
            Call::Bid {
                order: 1,
                price_per_block: (MEN / 4).into(),
            },
        );
        pallet_compute::storage::Challenges::insert(
            &0,
            &pallet_compute::Challenge {
                lease: 0,
                provider: BOB,
                seed: H256([9; 32]),
                shape: Compute::challenge_shape(GpuClass::H100),
                issued_at: 6,
                answer_by: 16,
                state: pallet_compute::ChallengeState::Answered {
                    root: H256([4; 32]),
                    answered_at: 7,
                    reveal_by: 18,
                },
            },
        );
        pallet_compute::storage::ProviderChallenges::insert(&BOB, &vec![0]);
        set_block(8);
    });
    rt
}

#[tokio::test]
async fn compute_queries_render_the_runtime_views() {
    let rt = market();
    let (h, _node) = serve_runtime(rt.clone(), RpcMethods::Safe).await;
    let c = http(&h);

    // Providers.
    let providers: Value = c.request("compute_providers", rpc_params![]).await.unwrap();
    assert_eq!(
        providers,
        json!([{
            "account": BOB.to_string(),
            "offer": {"gpu": "H100", "gpuCount": 8, "vramGib": 80, "region": "eu"},
            "models": [],
            "pricePerBlock": MEN.to_string(),
            "collateral": (3_300 * MEN).to_string(),
            "requiredCollateral": (3_200 * MEN).to_string(),
            "earnings": "0",
            "gpusLeased": 1,
            "leases": [0],
            "status": "Active",
            "jailedUntil": null,
            "leavingSince": null,
            "record": {"leasesCompleted": 0, "leasesFailed": 0, "challengesPassed": 0, "slashed": "0"},
            "registeredAt": 3,
        }])
    );
    let one: ProviderJson = c
        .request("compute_provider", rpc_params![BOB])
        .await
        .unwrap();
    assert_eq!(json!(one), providers[0]);
    let next: Vec<Value> = c
        .request("compute_providers", rpc_params![BOB, 10])
        .await
        .unwrap();
    assert!(next.is_empty());
    let none: Option<Value> = c
        .request("compute_provider", rpc_params![CHARLIE])
        .await
        .unwrap();
    assert_eq!(none, None);

    // Orders: the matched one is gone, the open one shows its bid.
    let orders: Vec<OrderJson> = c.request("compute_orders", rpc_params![]).await.unwrap();
    assert_eq!(orders.len(), 1);
    let order: Value = c.request("compute_order", rpc_params![1]).await.unwrap();
    assert_eq!(json!(orders[0]), order);
    assert_eq!(order["tenant"], CHARLIE.to_string());
    assert_eq!(order["resources"]["region"], "");
    assert_eq!(order["maxPricePerBlock"], MEN.to_string());
    assert_eq!(order["escrow"], (60 * MEN).to_string());
    assert_eq!(order["model"], Value::Null);
    assert_eq!(
        order["bids"],
        json!([{"id": 1, "provider": BOB.to_string(), "pricePerBlock": (MEN / 4).to_string(), "deposit": MEN.to_string(), "placedAt": 5}])
    );
    let after: Vec<Value> = c
        .request("compute_orders", rpc_params![1, 5])
        .await
        .unwrap();
    assert!(after.is_empty());
    let gone: Option<Value> = c.request("compute_order", rpc_params![0]).await.unwrap();
    assert_eq!(gone, None);

    // The lease, settled as of block 8: three blocks at half a MEN.
    let lease: LeaseJson = c.request("compute_lease", rpc_params![0]).await.unwrap();
    assert_eq!((lease.tenant, lease.provider), (CHARLIE, BOB));
    assert_eq!(lease.resources.gpu, "H100");
    assert_eq!((lease.start, lease.end, lease.dry_at), (5, 105, 105));
    assert_eq!(lease.paid, 3 * MEN / 2);
    assert_eq!(lease.escrow, 60 * MEN - 3 * MEN / 2);
    assert_eq!(lease.settled_at, 8);
    assert_eq!(lease.state, "Active");
    assert_eq!(
        (lease.closed_at, lease.close_reason.as_deref()),
        (None, None)
    );
    let raw: Value = c.request("compute_lease", rpc_params![0]).await.unwrap();
    assert_eq!(raw["paid"], (3 * MEN / 2).to_string());
    assert_eq!(raw["closeReason"], Value::Null);
    let of_bob: Vec<LeaseJson> = c.request("compute_leases", rpc_params![BOB]).await.unwrap();
    let of_charlie: Vec<LeaseJson> = c
        .request("compute_leases", rpc_params![CHARLIE, 1])
        .await
        .unwrap();
    assert_eq!(of_bob, vec![lease.clone()]);
    assert_eq!(of_charlie, vec![lease]);

    // The challenge.
    let challenges: Vec<ChallengeJson> = c
        .request("compute_challenges", rpc_params![BOB])
        .await
        .unwrap();
    assert_eq!(challenges.len(), 1);
    let challenge: Value = c
        .request("compute_challenge", rpc_params![0])
        .await
        .unwrap();
    assert_eq!(json!(challenges[0]), challenge);
    assert_eq!(challenge["state"], "Answered");
    assert_eq!(challenge["root"], H256([4; 32]).to_string());
    assert_eq!(challenge["seed"], H256([9; 32]).to_string());
    assert_eq!(
        (
            &challenge["answeredAt"],
            &challenge["revealBy"],
            &challenge["failReason"]
        ),
        (&json!(7), &json!(18), &Value::Null)
    );
    let shape = rt
        .lock()
        .unwrap()
        .exec(|| Compute::challenge_shape(GpuClass::H100));
    assert_eq!(
        challenge["shape"],
        json!({"seq": shape.seq, "width": shape.width, "depth": shape.depth})
    );
    let none: Option<Value> = c
        .request("compute_challenge", rpc_params![7])
        .await
        .unwrap();
    assert_eq!(none, None);

    // Totals.
    let summary: Value = c.request("compute_summary", rpc_params![]).await.unwrap();
    let held = rt.lock().unwrap().exec(Compute::total_held);
    assert_eq!(
        summary,
        json!({"activeLeases": 1, "totalHeld": held.to_string(), "totalBurned": "0"})
    );
    let pending: String = c
        .request("compute_pending", rpc_params![CHARLIE])
        .await
        .unwrap();
    assert_eq!(pending, "0");

    // The tenant closes the lease at block 10: its state and reason read as names.
    rt.lock().unwrap().exec(|| {
        set_block(10);
        dispatch(CHARLIE, Call::Close { lease: 0 });
    });
    let lease: Value = c.request("compute_lease", rpc_params![0]).await.unwrap();
    assert_eq!(lease["state"], "Closed");
    assert_eq!(lease["closedAt"], 10);
    assert_eq!(lease["closeReason"], "ClosedByTenant");
    assert_eq!(lease["paid"], (5 * MEN / 2).to_string());
    assert_eq!(lease["escrow"], "0");
    let provider: Value = c
        .request("compute_provider", rpc_params![BOB])
        .await
        .unwrap();
    assert_eq!(provider["gpusLeased"], 0);
    assert_eq!(provider["earnings"], (5 * MEN / 2).to_string());
    assert_eq!(provider["record"]["leasesCompleted"], 1);
    h.stop();
}

#[tokio::test]
async fn compute_methods_are_listed_safe_and_check_their_parameters() {
    let (h, _node) = serve_runtime(market(), RpcMethods::Safe).await;
    let c = http(&h);
    #[derive(serde::Deserialize)]
    struct Methods {
        methods: Vec<String>,
    }
    let listed: Methods = c.request("rpc_methods", rpc_params![]).await.unwrap();
    for name in [
        "compute_providers",
        "compute_provider",
        "compute_orders",
        "compute_order",
        "compute_leases",
        "compute_lease",
        "compute_challenges",
        "compute_challenge",
        "compute_summary",
        "compute_pending",
    ] {
        assert!(listed.methods.iter().any(|m| m == name), "{name} missing");
        assert!(!menara_rpc::UNSAFE_METHODS.contains(&name), "{name}");
    }

    let cases: Vec<(&str, jsonrpsee::core::params::ArrayParams, &str)> = vec![
        ("compute_lease", rpc_params![], "missing parameter `id`"),
        (
            "compute_lease",
            rpc_params!["0x01"],
            "invalid parameter `id`: expected an id",
        ),
        (
            "compute_order",
            rpc_params![-1],
            "invalid parameter `id`: expected an id",
        ),
        (
            "compute_challenge",
            rpc_params![1.5],
            "invalid parameter `id`: expected an id",
        ),
        (
            "compute_provider",
            rpc_params!["0x1234"],
            "wrong length for parameter `account`: an account id is 32 bytes",
        ),
        (
            "compute_challenges",
            rpc_params![],
            "missing parameter `account`",
        ),
        (
            "compute_providers",
            rpc_params!["0x12"],
            "wrong length for parameter `startAfter`: an account id",
        ),
        (
            "compute_providers",
            rpc_params![Value::Null, 101],
            "invalid parameter `limit`: expected 1 to 100, got 101",
        ),
        (
            "compute_orders",
            rpc_params!["first"],
            "invalid parameter `startAfter`: expected an id",
        ),
        (
            "compute_orders",
            rpc_params![Value::Null, 0],
            "invalid parameter `limit`: expected 1 to 100, got 0",
        ),
        (
            "compute_leases",
            rpc_params![BOB, 0],
            "invalid parameter `limit`: expected 1 to 100, got 0",
        ),
        (
            "compute_leases",
            rpc_params!["//Bob"],
            "invalid hex in parameter `account`",
        ),
        ("compute_summary", rpc_params![1], "too many parameters"),
        (
            "compute_pending",
            rpc_params![BOB, 1],
            "too many parameters",
        ),
    ];
    for (method, params, expected) in cases {
        let (code, msg) = rpc_err(c.request::<Value, _>(method, params).await);
        assert_eq!(code, -32602, "{method}: {msg}");
        assert!(msg.starts_with(expected), "{method}: {msg}");
    }
    // Named parameters work too.
    let mut named = jsonrpsee::core::params::ObjectParams::new();
    named.insert("account", CHARLIE).unwrap();
    named.insert("limit", 1).unwrap();
    let lease: Value = c.request("compute_leases", named).await.unwrap();
    assert_eq!(lease.as_array().unwrap().len(), 1);
    h.stop();
}
