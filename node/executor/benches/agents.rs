//! What the agents' authority costs, measured in one run so the ratios hold on a noisy
//! machine. Run: `cargo bench -p menara-executor --bench agents`.
//!
//! * `agent_call_vs_transfer`: a block of 1,000 signed transfers against a block of 1,000
//!   signed agent acts carrying the same transfers (grant check, the owner paying the fee,
//!   the measured spend, the window and the audit log), both in the wasm runtime.
//! * `agent_slash`: reporting an agent's equivocation and applying its deferred slash at
//!   the epoch end, with 10 and with 10,000 delegators in its pool (O(1) in delegators).
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::Signer;
use menara_chain_spec::keyring;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::{AccountId, H256, MEN};
use menara_runtime::{pallet_agents, RuntimeCall, WASM_BINARY};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use parity_scale_codec::Encode;
use std::sync::Arc;

#[path = "../tests/fixture/chain.rs"]
mod chain;
use chain::{apply, context, genesis, query_native as query, GENESIS};

const CALLS: u64 = 1_000;

fn transfer(n: u64) -> RuntimeCall {
    RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest: keyring::dev_account(&format!("user{n}")),
        value: MEN.into(),
    })
}

fn agent_call_vs_transfer(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let owner = keyring::dev_signing_key("Bob");
    let agent = keyring::dev_signing_key("Dave");
    let (owner_id, agent_id) = (keyring::account_of(&owner), keyring::account_of(&agent));
    let state = genesis(
        &exec,
        code,
        &[keyring::dev_account("Alice"), owner_id, agent_id],
    );
    // Block 1: the owner registers the agent and grants it a budget no test run exhausts.
    let setup = [
        RuntimeCall::Agents(pallet_agents::Call::Register {
            agent: agent_id,
            name: b"bench".to_vec(),
            model: None,
            endpoint: Vec::new(),
            self_bond: (100 * MEN).into(),
            commission_per_mill: 100,
        }),
        RuntimeCall::Agents(pallet_agents::Call::Grant {
            agent: agent_id,
            budget: (100_000 * MEN).into(),
            per: 1_000,
            max_per_call: (10 * MEN).into(),
            recipients: Vec::new(),
            calls: Vec::new(),
            expires: None,
        }),
    ];
    let txs: Vec<Vec<u8>> = setup
        .into_iter()
        .enumerate()
        .map(|(n, call)| keyring::sign(&owner, &GENESIS, n as u64, 0, call).encode())
        .collect();
    let state = Arc::new(apply(&exec, code, Arc::new(state), &context(1), &txs));
    let ctx = context(2);
    let transfers: Vec<Vec<u8>> = (0..CALLS)
        .map(|n| keyring::sign(&owner, &GENESIS, n + 2, 0, transfer(n)).encode())
        .collect();
    let acts: Vec<Vec<u8>> = (0..CALLS)
        .map(|n| {
            let call = RuntimeCall::Agents(pallet_agents::Call::Act {
                owner: owner_id,
                call: transfer(n).encode(),
                job: None,
            });
            keyring::sign(&agent, &GENESIS, n, 0, call).encode()
        })
        .collect();
    // Both blocks really do what they claim before they are timed.
    let after = apply(&exec, code, state.clone(), &ctx, &acts);

    let spends = query(
        &after,
        b"agents_spends",
        &(agent_id, None::<u64>, 1u32).encode(),
    );
    let spends: Vec<pallet_agents::Spend> =
        parity_scale_codec::Decode::decode(&mut &spends[..]).unwrap();
    assert_eq!(spends[0].index, CALLS - 1);
    assert!(spends[0].fee > 0, "the owner paid the agent's fee");

    let mut group = c.benchmark_group("agent_call_vs_transfer");
    group.throughput(Throughput::Elements(CALLS));
    group.sample_size(10);
    for (name, block) in [("transfer", &transfers), ("agent_act", &acts)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || state.clone(),
                |state| apply(&exec, code, state, &ctx, block),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// A state with an agent whose pool has `delegators` delegations, natively.
fn pool_with(delegators: u32) -> (InMemoryState, ed25519_dalek::SigningKey) {
    use menara_runtime::{Agents, Balances};
    let agent = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let agent_id = AccountId(agent.verifying_key().to_bytes());
    let owner = AccountId([1; 32]);
    let accounts: Vec<AccountId> = (0..delegators)
        .map(|i| {
            let mut a = [0xd0u8; 32];
            a[..4].copy_from_slice(&i.to_le_bytes());
            AccountId(a)
        })
        .collect();
    let mut state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    {
        let mut ext = Ext::new(&state, &mut overlay);
        menara_support::io::with_externalities(&mut ext, || {
            let mut funded: Vec<(AccountId, u128)> =
                accounts.iter().map(|a| (*a, 10 * MEN)).collect();
            funded.push((owner, 1_000 * MEN));
            Balances::build_genesis(&pallet_balances::GenesisConfig { balances: funded }).unwrap();
            Agents::register(
                &owner,
                &agent_id,
                b"a".to_vec(),
                None,
                Vec::new(),
                100 * MEN,
                0,
            )
            .unwrap();
            for a in &accounts {
                Agents::delegate(a, &agent_id, 5 * MEN).unwrap();
            }
        });
    }
    state.apply(overlay.into_changes());
    (state, agent)
}

fn agent_slash(c: &mut Criterion) {
    use menara_runtime::{pallet_staking, Agents, Staking};
    let mut group = c.benchmark_group("agent_slash");
    group.sample_size(10);
    for delegators in [10u32, 10_000] {
        let (state, agent) = pool_with(delegators);
        let agent_id = AccountId(agent.verifying_key().to_bytes());
        let request = H256([5; 32]);
        let answer = |output: H256| pallet_agents::SignedAnswer {
            output,
            signature: agent
                .sign(&pallet_agents::answer_payload(
                    &H256::default(),
                    &request,
                    &output,
                ))
                .to_bytes(),
        };
        let (first, second) = (answer(H256([1; 32])), answer(H256([2; 32])));
        group.bench_function(format!("{delegators}_delegators"), |b| {
            b.iter(|| {
                let mut overlay = OverlayedChanges::new();
                let mut ext = Ext::new(&state, &mut overlay);
                menara_support::io::with_externalities(&mut ext, || {
                    let before = Staking::pool_info(&agent_id).unwrap().total_stake;
                    Agents::report_equivocation(
                        &AccountId([7; 32]),
                        &agent_id,
                        &request,
                        &first,
                        &second,
                    )
                    .unwrap();
                    let defer =
                        <menara_runtime::Runtime as pallet_staking::Config>::SLASH_DEFER_EPOCHS;
                    for _ in 0..=defer {
                        Staking::on_epoch_end(0);
                    }
                    let after = Staking::pool_info(&agent_id).unwrap().total_stake;
                    assert!(after < before);
                });
                overlay
            })
        });
    }
    group.finish();
}

criterion_group!(benches, agent_call_vs_transfer, agent_slash);
criterion_main!(benches);
