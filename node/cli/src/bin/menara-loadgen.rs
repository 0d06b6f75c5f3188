//! Load generator: funds sender accounts, pre-signs transfers, submits them over
//! JSON-RPC as fast as the node takes them, and measures submit→finalised latency and
//! sustained TPS from the finalised blocks. Used by `scripts/bench-e2e.sh`.
use anyhow::{bail, Context};
use clap::Parser;
use jsonrpsee::core::client::SubscriptionClientT;
use jsonrpsee::rpc_params;
use menara_chain_spec::keyring;
use menara_primitives::{blake3_256, Header, H256, MEN};
use menara_rpc::client;
use menara_runtime::RuntimeCall;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Parser, Debug)]
#[command(about = "Submit pre-signed transfers to a menara node and measure TPS and latency")]
struct Args {
    /// Node WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:9944")]
    rpc: String,
    /// Sender accounts (each sends `per_sender` transfers with consecutive nonces).
    #[arg(long, default_value_t = 200)]
    senders: u32,
    /// Transfers per sender (at most 64: the pool keeps 64 future nonces per sender).
    #[arg(long, default_value_t = 50)]
    per_sender: u32,
    /// Concurrent RPC connections used to submit.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.per_sender > 64 {
        bail!("--per-sender must be at most 64");
    }
    let c = client::connect(&args.rpc).await?;
    let genesis = client::genesis_hash(&c).await?;
    let alice = keyring::dev_signing_key("Alice");

    // Fund the senders from //Alice and wait until they are funded.
    let senders: Vec<_> = (0..args.senders)
        .map(|i| keyring::dev_signing_key(&format!("loadgen-sender-{i}")))
        .collect();
    let mut nonce = client::account_next_index(&c, &keyring::account_of(&alice)).await?;
    eprintln!("funding {} senders...", senders.len());
    let mut last = None;
    for s in &senders {
        let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
            dest: keyring::account_of(s),
            value: (1_000 * MEN).into(),
        });
        last = Some(client::submit(&c, &keyring::sign(&alice, &genesis, nonce, 0, call)).await?);
        nonce += 1;
        if nonce % 60 == 0 {
            wait_nonce(&c, &keyring::account_of(&alice), nonce - 1).await?;
        }
    }
    if last.is_some() {
        wait_nonce(&c, &keyring::account_of(&alice), nonce).await?;
    }
    let last_sender = keyring::account_of(&senders[senders.len() - 1]);
    while client::account(&c, &last_sender).await?.free == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Senders keep their nonces from earlier runs on the same chain: start from each
    // one's next nonce, not from 0.
    let mut first_nonce = Vec::with_capacity(senders.len());
    for s in &senders {
        first_nonce.push(client::account_next_index(&c, &keyring::account_of(s)).await?);
    }

    // Pre-sign everything before the clock starts.
    let mut txs: Vec<Vec<u8>> = Vec::with_capacity((args.senders * args.per_sender) as usize);
    for n in 0..args.per_sender {
        for (i, s) in senders.iter().enumerate() {
            let dest = keyring::account_of(&senders[(i + 1) % senders.len()]);
            let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
                dest,
                value: (MEN / 1000).into(),
            });
            txs.push(keyring::sign(
                s,
                &genesis,
                first_nonce[i] + n as u64,
                0,
                call,
            ));
        }
    }
    let total = txs.len();
    eprintln!("pre-signed {total} transfers; submitting");

    // Watch finalised heads and match their transactions.
    let submitted: Arc<Mutex<HashMap<H256, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let watcher = client::connect(&args.rpc).await?;
    let mut heads = watcher
        .subscribe::<Header, _>(
            "chain_subscribeFinalizedHeads",
            rpc_params![],
            "chain_unsubscribeFinalizedHeads",
        )
        .await?;
    let start = Instant::now();
    let mut chunks: Vec<Vec<Vec<u8>>> = vec![Vec::new(); args.connections.max(1)];
    let n_chunks = chunks.len();
    for (i, tx) in txs.into_iter().enumerate() {
        chunks[i % n_chunks].push(tx);
    }
    let mut tasks = Vec::new();
    for chunk in chunks {
        let url = args.rpc.clone();
        let submitted = submitted.clone();
        tasks.push(tokio::spawn(async move {
            let c = client::connect(&url).await?;
            let mut rejected = 0usize;
            for tx in chunk {
                let hash = blake3_256(&tx);
                submitted.lock().await.insert(hash, Instant::now());
                if let Err(e) = client::submit(&c, &tx).await {
                    rejected += 1;
                    submitted.lock().await.remove(&hash);
                    if rejected < 5 {
                        eprintln!("rejected: {e}");
                    }
                }
            }
            anyhow::Ok(rejected)
        }));
    }

    let mut latencies: Vec<Duration> = Vec::with_capacity(total);
    let mut first_final: Option<Instant> = None;
    let mut last_final = start;
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let mut submit_done = false;
    let mut rejected = 0usize;
    while latencies.len() + rejected < total {
        if !submit_done && tasks.iter().all(|t| t.is_finished()) {
            for t in tasks.drain(..) {
                rejected += t.await.context("submit task")??;
            }
            submit_done = true;
            eprintln!(
                "all submitted after {:.2}s ({rejected} rejected)",
                start.elapsed().as_secs_f64()
            );
        }
        let next = tokio::time::timeout(Duration::from_secs(5), heads.next()).await;
        if Instant::now() > deadline {
            bail!("timed out with {} of {total} finalised", latencies.len());
        }
        let Ok(Some(Ok(header))) = next else { continue };
        let now = Instant::now();
        let block = client_block(&watcher, header.hash()).await?;
        let mut matched = 0;
        {
            let mut map = submitted.lock().await;
            for ext in &block {
                if let Some(t) = map.remove(&blake3_256(ext)) {
                    latencies.push(now - t);
                    matched += 1;
                }
            }
        }
        if matched > 0 {
            first_final.get_or_insert(now);
            last_final = now;
            eprintln!(
                "#{} finalised {matched} ({}/{total})",
                header.number,
                latencies.len()
            );
        }
    }
    let elapsed = last_final - start;
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
    };
    println!(
        "{{\"transactions\": {}, \"rejected\": {rejected}, \"seconds\": {:.3}, \"tps\": {:.1}, \"latency_ms_p50\": {:.1}, \"latency_ms_p99\": {:.1}, \"latency_ms_max\": {:.1}}}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    Ok(())
}

async fn wait_nonce(
    c: &jsonrpsee::ws_client::WsClient,
    who: &menara_primitives::AccountId,
    nonce: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client::account(c, who).await?.nonce < nonce {
        if Instant::now() > deadline {
            bail!("funding transactions not finalised in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn client_block(
    c: &jsonrpsee::ws_client::WsClient,
    hash: H256,
) -> anyhow::Result<Vec<Vec<u8>>> {
    use jsonrpsee::core::client::ClientT;
    let v: serde_json::Value = c.request("chain_getBlock", rpc_params![hash]).await?;
    let exts = v["block"]["extrinsics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    exts.iter()
        .map(|e| {
            let s = e.as_str().unwrap_or_default();
            hex::decode(s.trim_start_matches("0x")).context("extrinsic hex")
        })
        .collect()
}
