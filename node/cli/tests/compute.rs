//! End-to-end: the compute market through the real `menara` binary on a dev chain. //Bob
//! registers as a provider, //Charlie orders, //Bob bids, refused calls print the pallet's
//! error, //Charlie accepts, tops up and closes the lease, //Bob withdraws his earnings.
//!
//! The dev chain challenges every lease about every 10 blocks, and this node runs no
//! provider worker, so an unanswered challenge would close the lease 10 blocks after it was
//! issued: the lease here lives a few blocks (accept, top-up, close).
#![allow(clippy::unwrap_used)]
mod support;

use menara_chain_spec::keyring;
use menara_primitives::MEN;
use menara_rpc::client;
use std::time::{Duration, Instant};
use support::*;

/// Bad input is refused before anything is sent (no node needed: the RPC address is
/// unreachable, and the error must be about the input, not the connection).
#[test]
fn bad_compute_input_is_refused_before_sending() {
    let rpc = ["--rpc", "ws://127.0.0.1:1"];
    let register = |gpu: &str, count: &str, collateral: &str| {
        let mut args = vec![
            "tx",
            "compute",
            "register",
            "--gpu",
            gpu,
            "--gpu-count",
            count,
            "--vram-gib",
            "80",
            "--region",
            "eu",
            "--price-per-block",
            "1",
            "--collateral",
            collateral,
            "--from",
            "//Bob",
        ];
        args.extend(rpc);
        menara(&args)
    };
    let out = register("X100", "1", "400");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("X100") && err.contains("H100, H200, A100, L40S, RTX4090"),
        "{err}"
    );
    let out = register("h100", "0", "400");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--gpu-count"), "{}", stderr(&out));
    let out = register("H100", "1", "4.0.0");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--collateral"), "{}", stderr(&out));

    let mut args = vec![
        "tx",
        "compute",
        "bid",
        "--order",
        "x1",
        "--price-per-block",
        "1",
        "--from",
        "//Bob",
    ];
    args.extend(rpc);
    let out = menara(&args);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--order"), "{}", stderr(&out));

    let mut args = vec![
        "tx",
        "compute",
        "order",
        "--gpu",
        "H100",
        "--gpu-count",
        "1",
        "--vram-gib",
        "40",
        "--model",
        "0x1234",
        "--max-price-per-block",
        "1",
        "--duration",
        "10",
        "--escrow",
        "10",
        "--from",
        "//Charlie",
    ];
    args.extend(rpc);
    let out = menara(&args);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--model") && stderr(&out).contains("not a model id"),
        "{}",
        stderr(&out)
    );
    let out = menara(&["tx", "compute", "cancel-order", "--from", "//Charlie"]);
    assert!(!out.status.success(), "an order id is required");
    let mut args = vec!["query", "compute", "lease", "-1"];
    args.extend(rpc);
    assert!(!menara(&args).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_and_tenant_lease_gpus_on_a_dev_chain() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), 500);
    let c = node.connect().await;
    wait_for_block(&c, 1).await;
    let bob = keyring::dev_account("Bob");
    let charlie = keyring::dev_account("Charlie").to_string();

    // //Bob offers two H100s; the collateral they require is 2 x 4 x 100 MEN.
    let out = node.ok(&[
        "tx",
        "compute",
        "register",
        "--gpu",
        "H100",
        "--gpu-count",
        "2",
        "--vram-gib",
        "80",
        "--region",
        "eu",
        "--price-per-block",
        "0.5",
        "--collateral",
        "800",
        "--from",
        "//Bob",
    ]);
    assert!(out.contains("registered, collateral 800 MEN"), "{out}");
    let out = node.ok(&["query", "compute", "provider", "//Bob"]);
    assert!(out.contains(&format!("provider {bob}: Active")), "{out}");
    assert!(
        out.contains("collateral:  800 MEN (required 800 MEN)"),
        "{out}"
    );
    assert!(out.contains("2 offered, 0 leased"), "{out}");
    assert!(out.contains("2 x H100, 80 GiB each, region eu"), "{out}");
    let providers = node.json(&["compute", "providers"]);
    assert_eq!(providers[0]["account"], bob.to_string());
    assert_eq!(providers[0]["collateral"], (800 * MEN).to_string());
    assert_eq!(providers[0]["offer"]["gpu"], "H100");

    // //Charlie opens two orders: one H100 at up to 1 MEN per block for 200 blocks, the
    // escrow covering the minimum 60 blocks at that price.
    let order = |region: &str| {
        node.ok(&[
            "tx",
            "compute",
            "order",
            "--gpu",
            "h100",
            "--gpu-count",
            "1",
            "--vram-gib",
            "40",
            "--region",
            region,
            "--max-price-per-block",
            "1",
            "--duration",
            "200",
            "--escrow",
            "60",
            "--from",
            "//Charlie",
        ])
    };
    let order_a = id_after(&order("eu"), "order");
    let order_b = id_after(&order("eu"), "order");
    assert_ne!(order_a, order_b);
    let orders = node.json(&["compute", "orders"]);
    assert_eq!(orders.as_array().unwrap().len(), 2, "{orders}");

    // //Bob bids: above the maximum price is refused, at half of it accepted.
    node.refused(
        &[
            "tx",
            "compute",
            "bid",
            "--order",
            &order_a,
            "--price-per-block",
            "1.5",
            "--from",
            "//Bob",
        ],
        "BidAboveMaxPrice",
    );
    let bid = id_after(
        &node.ok(&[
            "tx",
            "compute",
            "bid",
            "--order",
            &order_a,
            "--price-per-block",
            "0.5",
            "--from",
            "//Bob",
        ]),
        "bid",
    );
    let out = node.ok(&["query", "compute", "order", &order_a]);
    assert!(
        out.contains(&format!("bid {bid}:")) && out.contains("at 0.5 MEN per block"),
        "{out}"
    );

    // A bid of one order cannot start a lease of another.
    node.refused(
        &[
            "tx",
            "compute",
            "accept",
            "--order",
            &order_b,
            "--bid",
            &bid,
            "--from",
            "//Charlie",
        ],
        "BidOfAnotherOrder",
    );
    let lease = id_after(
        &node.ok(&[
            "tx",
            "compute",
            "accept",
            "--order",
            &order_a,
            "--bid",
            &bid,
            "--from",
            "//Charlie",
        ]),
        "lease",
    );
    let out = node.ok(&["query", "compute", "lease", &lease]);
    assert!(out.contains(": Active"), "{out}");
    assert!(out.contains(&format!("tenant:      {charlie}")), "{out}");
    assert!(out.contains(&format!("provider:    {bob}")), "{out}");
    assert!(out.contains("price:       0.5 MEN per block"), "{out}");
    let out = node.ok(&["query", "compute", "provider", "//Bob"]);
    assert!(out.contains("2 offered, 1 leased"), "{out}");

    // Top-up: the escrow and the block it lasts to grow (60 MEN at 0.5 MEN per block
    // last 120 of the 200 blocks).
    let before = node.json(&["compute", "lease", &lease]);
    let out = node.ok(&[
        "tx",
        "compute",
        "top-up",
        "--lease",
        &lease,
        "--amount",
        "10",
        "--from",
        "//Charlie",
    ]);
    assert!(
        out.contains(&format!("lease {lease}: 10 MEN added")),
        "{out}"
    );
    let after = node.json(&["compute", "lease", &lease]);
    assert_eq!(after["state"], "Active", "{after}");
    assert_eq!(after["deposited"], (70 * MEN).to_string());
    assert!(
        after["dryAt"].as_u64() > before["dryAt"].as_u64(),
        "{after}"
    );

    // //Charlie closes it: settled, the rest of the escrow refunded.
    let out = node.ok(&[
        "tx",
        "compute",
        "close",
        "--lease",
        &lease,
        "--from",
        "//Charlie",
    ]);
    assert!(out.contains("(ClosedByTenant)"), "{out}");
    let out = node.ok(&["query", "compute", "lease", &lease]);
    assert!(
        out.contains("Closed at block #") && out.contains("(ClosedByTenant)"),
        "{out}"
    );
    let closed = node.json(&["compute", "lease", &lease]);
    assert_eq!(closed["closeReason"], "ClosedByTenant");
    assert_eq!(closed["escrow"], "0");
    let paid: u128 = closed["paid"].as_str().unwrap().parse().unwrap();
    assert!(paid > 0 && paid.is_multiple_of(MEN / 2), "paid {paid}");
    let provider = node.json(&["compute", "provider", "//Bob"]);
    assert_eq!(provider["gpusLeased"], 0);
    assert_eq!(provider["record"]["leasesCompleted"], 1);
    assert_eq!(provider["earnings"], paid.to_string());
    let leases = node.json(&["compute", "leases", "//Charlie"]);
    assert_eq!(leases[0]["id"].to_string(), lease);

    // //Bob withdraws what the lease paid him.
    let free_before = client::account(&c, &bob).await.unwrap().free;
    let out = node.ok(&["tx", "compute", "withdraw", "--from", "//Bob"]);
    assert!(out.contains("withdrew"), "{out}");
    let free_after = client::account(&c, &bob).await.unwrap().free;
    assert!(
        free_after > free_before && free_after - free_before < paid,
        "{free_before} -> {free_after} (earned {paid}, less the fee)"
    );
    node.refused(
        &["tx", "compute", "withdraw", "--from", "//Bob"],
        "NothingToWithdraw",
    );

    // The other order is cancelled (id given positionally); the market is empty again.
    let out = node.ok(&[
        "tx",
        "compute",
        "cancel-order",
        &order_b,
        "--from",
        "//Charlie",
    ]);
    assert!(out.contains(&format!("order {order_b} closed")), "{out}");
    let out = node.ok(&["query", "compute", "orders"]);
    assert_eq!(out.trim(), "no open orders");
    let summary = node.json(&["compute", "summary"]);
    assert_eq!(summary["activeLeases"], 0);
    let out = node.ok(&["query", "compute", "summary"]);
    assert!(out.contains("active leases: 0"), "{out}");
    node.ok(&["query", "compute", "challenges", "//Bob"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
