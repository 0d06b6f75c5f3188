//! Compute market commands: provider and tenant transactions (the ids of what they create
//! are read from the transaction's events) and queries, as lines or as the RPC's JSON.
use crate::cli::{ComputeQuery, ComputeTx};
use crate::show::{decode, print_json, request, show, show_list};
use crate::units::{format_amount, parse_amount};
use crate::wallet::{no_event, parse_account, submit_for_events};
use anyhow::{anyhow, bail, Context};
use jsonrpsee::rpc_params;
use menara_primitives::{Balance, BlockNumber, H256};
use menara_rpc::types::{
    ChallengeJson, ComputeSummaryJson, LeaseJson, OrderJson, ProviderJson, ResourcesJson,
};
use menara_runtime::{RuntimeCall, RuntimeEvent};
use pallet_compute::{
    Call, Event, GpuClass, ModelId, Resources, MAX_GPU_COUNT, MAX_MODELS, MAX_REGION_LEN,
    MAX_VRAM_GIB,
};

fn known_classes() -> String {
    GpuClass::ALL
        .iter()
        .map(GpuClass::name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_gpu(s: &str) -> anyhow::Result<GpuClass> {
    GpuClass::from_name(s.trim()).ok_or_else(|| {
        anyhow!(
            "--gpu {s:?} is not a GPU class the chain knows: {}",
            known_classes()
        )
    })
}

/// The resources of an offer (`order` false: the region is required) or of an order,
/// checked as the runtime checks them.
fn resources(
    gpu: &str,
    gpu_count: u32,
    vram_gib: u32,
    region: Option<&str>,
    order: bool,
) -> anyhow::Result<Resources> {
    let gpu = parse_gpu(gpu)?;
    if !(1..=MAX_GPU_COUNT).contains(&gpu_count) {
        bail!("--gpu-count must be from 1 to {MAX_GPU_COUNT}, got {gpu_count}");
    }
    if !(1..=MAX_VRAM_GIB).contains(&vram_gib) {
        bail!("--vram-gib must be from 1 to {MAX_VRAM_GIB}, got {vram_gib}");
    }
    let region = region.unwrap_or("").trim();
    if region.is_empty() && !order {
        bail!("--region must not be empty");
    }
    if region.len() > MAX_REGION_LEN
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        bail!(
            "--region {region:?} must be letters, digits and '-', at most {MAX_REGION_LEN} of them"
        );
    }
    Ok(Resources {
        gpu,
        gpu_count,
        vram_gib,
        region: region.as_bytes().to_vec(),
    })
}

/// An amount of MEN that must be more than zero.
fn positive(s: &str, flag: &str) -> anyhow::Result<Balance> {
    let v = parse_amount(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    if v == 0 {
        bail!("{flag} must be more than 0");
    }
    Ok(v)
}

fn model_id(s: &str, flag: &str) -> anyhow::Result<ModelId> {
    s.trim()
        .parse()
        .map_err(|e| anyhow!("{flag} {s:?} is not a model id (0x + 64 hex digits): {e}"))
}

/// What to print once a call is final.
enum Report {
    /// `order <id>` from `OrderOpened`.
    Order,
    /// `bid <id>` from `BidPlaced`.
    Bid,
    /// `lease <id>` from `LeaseStarted`.
    Lease,
    /// A line per compute event.
    Events,
}

pub async fn tx(cmd: ComputeTx) -> anyhow::Result<()> {
    let (from, rpc, call, report) = match cmd {
        ComputeTx::Register {
            gpu,
            gpu_count,
            vram_gib,
            region,
            models,
            price_per_block,
            collateral,
            from,
            rpc,
        } => {
            let offer = resources(&gpu, gpu_count, vram_gib, Some(&region), false)?;
            let models = models
                .iter()
                .filter(|m| !m.trim().is_empty())
                .map(|m| model_id(m, "--models"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if models.len() > MAX_MODELS {
                bail!(
                    "--models: at most {MAX_MODELS} models, got {}",
                    models.len()
                );
            }
            let call = Call::Register {
                offer,
                models,
                price_per_block: positive(&price_per_block, "--price-per-block")?.into(),
                collateral: positive(&collateral, "--collateral")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        ComputeTx::AddCollateral { amount, from, rpc } => {
            let call = Call::AddCollateral {
                amount: positive(&amount, "--amount")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        ComputeTx::Leave { from, rpc } => (from, rpc, Call::Leave, Report::Events),
        ComputeTx::WithdrawCollateral { from, rpc } => {
            (from, rpc, Call::WithdrawCollateral, Report::Events)
        }
        ComputeTx::Order {
            gpu,
            gpu_count,
            vram_gib,
            region,
            model,
            max_price_per_block,
            duration,
            escrow,
            auto_match,
            from,
            rpc,
        } => {
            let resources = resources(&gpu, gpu_count, vram_gib, region.as_deref(), true)?;
            let model = model.map(|m| model_id(&m, "--model")).transpose()?;
            if duration == 0 {
                bail!("--duration must be at least 1 block");
            }
            let call = Call::Order {
                resources,
                model,
                max_price_per_block: positive(&max_price_per_block, "--max-price-per-block")?
                    .into(),
                duration,
                escrow: positive(&escrow, "--escrow")?.into(),
                auto_match,
            };
            (from, rpc, call, Report::Order)
        }
        ComputeTx::CancelOrder {
            id,
            order,
            from,
            rpc,
        } => {
            let order = id
                .or(order)
                .ok_or_else(|| anyhow!("which order? give its id"))?;
            (from, rpc, Call::CancelOrder { order }, Report::Events)
        }
        ComputeTx::Bid {
            order,
            price_per_block,
            from,
            rpc,
        } => {
            let call = Call::Bid {
                order,
                price_per_block: positive(&price_per_block, "--price-per-block")?.into(),
            };
            (from, rpc, call, Report::Bid)
        }
        ComputeTx::Accept {
            order,
            bid,
            from,
            rpc,
        } => (from, rpc, Call::Accept { order, bid }, Report::Lease),
        ComputeTx::TopUp {
            lease,
            amount,
            from,
            rpc,
        } => {
            let call = Call::TopUp {
                lease,
                amount: positive(&amount, "--amount")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        ComputeTx::Close { lease, from, rpc } => (from, rpc, Call::Close { lease }, Report::Events),
        ComputeTx::Settle { lease, from, rpc } => {
            (from, rpc, Call::Settle { lease }, Report::Events)
        }
        ComputeTx::Withdraw { from, rpc } => (from, rpc, Call::Withdraw, Report::Events),
    };
    let events: Vec<Event> =
        submit_for_events(&rpc.rpc, &from, RuntimeCall::Compute(call), |e| match e {
            RuntimeEvent::Compute(e) => Some(e),
            _ => None,
        })
        .await?;
    match report {
        Report::Order => {
            let id = events
                .iter()
                .find_map(|e| match e {
                    Event::OrderOpened { order, .. } => Some(*order),
                    _ => None,
                })
                .ok_or_else(|| no_event("OrderOpened"))?;
            println!("order {id}");
        }
        Report::Bid => {
            let id = events
                .iter()
                .find_map(|e| match e {
                    Event::BidPlaced { bid, .. } => Some(*bid),
                    _ => None,
                })
                .ok_or_else(|| no_event("BidPlaced"))?;
            println!("bid {id}");
        }
        Report::Lease => {
            let id = events
                .iter()
                .find_map(|e| match e {
                    Event::LeaseStarted { lease, .. } => Some(*lease),
                    _ => None,
                })
                .ok_or_else(|| no_event("LeaseStarted"))?;
            println!("lease {id}");
        }
        Report::Events => {
            for e in &events {
                if let Some(line) = describe(e) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}

/// A line about an event of a provider or tenant call.
fn describe(e: &Event) -> Option<String> {
    Some(match e {
        Event::ProviderRegistered {
            provider,
            collateral,
        } => format!(
            "provider {provider} registered, collateral {}",
            format_amount(*collateral)
        ),
        Event::CollateralAdded { amount, .. } => {
            format!("collateral added: {}", format_amount(*amount))
        }
        Event::ProviderLeaving { unbonded_at, .. } => format!(
            "leaving: the collateral can be withdrawn from block #{unbonded_at}, once every lease closed"
        ),
        Event::ProviderRemoved { amount, .. } => {
            format!("provider removed, {} returned", format_amount(*amount))
        }
        Event::OrderClosed { order, .. } => {
            format!("order {order} closed, escrow and bid deposits refunded")
        }
        Event::LeaseSettled { lease, paid, until } => format!(
            "lease {lease}: {} paid, settled up to block #{until}",
            format_amount(*paid)
        ),
        Event::LeaseToppedUp {
            lease,
            amount,
            dry_at,
        } => format!(
            "lease {lease}: {} added, escrow lasts until block #{dry_at}",
            format_amount(*amount)
        ),
        Event::LeaseNotice { lease, end } => {
            format!("lease {lease}: notice given, it ends at block #{end}")
        }
        Event::LeaseClosed {
            lease,
            reason,
            refunded,
        } => format!(
            "lease {lease} closed ({reason:?}), {} refunded to the tenant",
            format_amount(*refunded)
        ),
        Event::Withdrawn { amount, .. } => format!("withdrew {}", format_amount(*amount)),
        _ => return None,
    })
}

pub async fn query(cmd: ComputeQuery) -> anyhow::Result<()> {
    match cmd {
        ComputeQuery::Providers {
            start_after,
            limit,
            json,
            rpc,
        } => {
            let start_after = start_after
                .map(|s| parse_account(&s).context("--start-after"))
                .transpose()?;
            let v = request(
                &rpc.rpc,
                "compute_providers",
                rpc_params![start_after, limit],
            )
            .await?;
            show_list::<ProviderJson>(v, json, "providers", "no providers", print_provider)?;
        }
        ComputeQuery::Provider { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "compute_provider", rpc_params![who]).await?;
            if v.is_null() {
                bail!("{who} is not a registered provider");
            }
            show(v, json, "provider", print_provider)?;
        }
        ComputeQuery::Orders {
            start_after,
            limit,
            json,
            rpc,
        } => {
            let v = request(&rpc.rpc, "compute_orders", rpc_params![start_after, limit]).await?;
            show_list::<OrderJson>(v, json, "orders", "no open orders", print_order)?;
        }
        ComputeQuery::Order { id, json, rpc } => {
            let v = request(&rpc.rpc, "compute_order", rpc_params![id]).await?;
            if v.is_null() {
                bail!("order {id} is not open (never opened, or already matched, cancelled or expired)");
            }
            show(v, json, "order", print_order)?;
        }
        ComputeQuery::Leases {
            account,
            limit,
            json,
            rpc,
        } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "compute_leases", rpc_params![who, limit]).await?;
            show_list::<LeaseJson>(
                v,
                json,
                "leases",
                &format!("no leases of {who}"),
                print_lease,
            )?;
        }
        ComputeQuery::Lease { id, json, rpc } => {
            let v = request(&rpc.rpc, "compute_lease", rpc_params![id]).await?;
            if v.is_null() {
                bail!("there is no lease {id}");
            }
            show(v, json, "lease", print_lease)?;
        }
        ComputeQuery::Challenges { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "compute_challenges", rpc_params![who]).await?;
            if json {
                return print_json(&v);
            }
            let list: Vec<ChallengeJson> = decode(v, "challenges")?;
            if list.is_empty() {
                println!("no open challenges for {who}");
            }
            for c in &list {
                print_challenge(c);
            }
        }
        ComputeQuery::Challenge { id, json, rpc } => {
            let v = request(&rpc.rpc, "compute_challenge", rpc_params![id]).await?;
            if v.is_null() {
                bail!("there is no challenge {id}");
            }
            show(v, json, "challenge", print_challenge)?;
        }
        ComputeQuery::Summary { json, rpc } => {
            let v = request(&rpc.rpc, "compute_summary", rpc_params![]).await?;
            if json {
                return print_json(&v);
            }
            let s: ComputeSummaryJson = decode(v, "summary")?;
            println!("active leases: {}", s.active_leases);
            println!("held:          {}", format_amount(s.total_held));
            println!("burned:        {}", format_amount(s.total_burned));
        }
    }
    Ok(())
}

/// `8 x H100, 80 GiB each, region eu` (an order's memory is a minimum, its region optional).
fn describe_resources(r: &ResourcesJson, order: bool) -> String {
    let least = if order { "at least " } else { "" };
    let region = if r.region.is_empty() {
        "any region".to_string()
    } else {
        format!("region {}", r.region)
    };
    format!(
        "{} x {}, {least}{} GiB each, {region}",
        r.gpu_count, r.gpu, r.vram_gib
    )
}

/// `running: 0, 3` or `none running`.
fn running(list: &[u64]) -> String {
    if list.is_empty() {
        return "none running".into();
    }
    let ids: Vec<String> = list.iter().map(u64::to_string).collect();
    format!("running: {}", ids.join(", "))
}

fn print_provider(p: &ProviderJson) {
    let status = match (p.status.as_str(), p.jailed_until, p.leaving_since) {
        ("Jailed", Some(until), _) => format!("Jailed (no bids before block #{until})"),
        ("Leaving", _, Some(since)) => format!("Leaving (since block #{since})"),
        (other, _, _) => other.to_string(),
    };
    println!("provider {}: {status}", p.account);
    println!("  offer:       {}", describe_resources(&p.offer, false));
    if !p.models.is_empty() {
        let models: Vec<String> = p.models.iter().map(H256::to_string).collect();
        println!("  models:      {}", models.join(", "));
    }
    println!(
        "  asking:      {} per block",
        format_amount(p.price_per_block)
    );
    println!(
        "  collateral:  {} (required {})",
        format_amount(p.collateral),
        format_amount(p.required_collateral)
    );
    println!(
        "  GPUs:        {} offered, {} leased",
        p.offer.gpu_count, p.gpus_leased
    );
    println!("  leases:      {}", running(&p.leases));
    println!("  earnings:    {}", format_amount(p.earnings));
    println!(
        "  record:      {} leases completed, {} failed, {} challenges passed, {} slashed",
        p.record.leases_completed,
        p.record.leases_failed,
        p.record.challenges_passed,
        format_amount(p.record.slashed)
    );
    println!("  registered:  block #{}", p.registered_at);
}

fn print_order(o: &OrderJson) {
    println!("order {}: {}", o.id, describe_resources(&o.resources, true));
    println!("  tenant:      {}", o.tenant);
    if let Some(m) = &o.model {
        println!("  model:       {m}");
    }
    println!(
        "  max price:   {} per block, for {} blocks",
        format_amount(o.max_price_per_block),
        o.duration
    );
    println!("  escrow:      {}", format_amount(o.escrow));
    println!(
        "  opened:      block #{}{}",
        o.opened_at,
        if o.auto_match {
            ", matched to the cheapest bid automatically"
        } else {
            ""
        }
    );
    if o.bids.is_empty() {
        println!("  bids:        none");
    }
    for b in &o.bids {
        println!(
            "  bid {}:       {} at {} per block (block #{})",
            b.id,
            b.provider,
            format_amount(b.price_per_block),
            b.placed_at
        );
    }
}

fn lease_state(l: &LeaseJson) -> String {
    match (&l.closed_at, &l.close_reason) {
        (Some(at), Some(reason)) => format!("{} at block #{at} ({reason})", l.state),
        _ => l.state.clone(),
    }
}

fn print_lease(l: &LeaseJson) {
    println!("lease {} (order {}): {}", l.id, l.order, lease_state(l));
    println!("  tenant:      {}", l.tenant);
    println!("  provider:    {}", l.provider);
    println!("  resources:   {}", describe_resources(&l.resources, true));
    println!(
        "  price:       {} per block, {} blocks contracted",
        format_amount(l.price_per_block),
        l.duration
    );
    println!(
        "  blocks:      start #{}, end #{}, dry at #{}, settled to #{}",
        l.start, l.end, l.dry_at, l.settled_at
    );
    println!(
        "  escrow left: {} (deposited {})",
        format_amount(l.escrow),
        format_amount(l.deposited)
    );
    println!("  paid:        {}", format_amount(l.paid));
    if let Some(c) = l.open_challenge {
        println!("  challenge:   {c} open");
    }
}

fn print_challenge(c: &ChallengeJson) {
    let state = match c.state.as_str() {
        "Issued" => format!("Issued, answer by block #{}", c.answer_by),
        "Answered" => {
            let step = c
                .audit_step
                .map_or("the audited step (not drawn yet)".to_string(), |s| {
                    format!("step {s}")
                });
            format!(
                "Answered at block #{}, reveal {step} by block #{}",
                opt_block(c.answered_at),
                opt_block(c.reveal_by)
            )
        }
        "Failed" => format!(
            "Failed ({})",
            c.fail_reason.as_deref().unwrap_or("unknown reason")
        ),
        other => other.to_string(),
    };
    println!(
        "challenge {} (lease {}, provider {}): {state}",
        c.id, c.lease, c.provider
    );
    println!(
        "  workload:    seed {}, {} steps of {} x {}, issued at block #{}",
        c.seed, c.shape.depth, c.shape.seq, c.shape.width, c.issued_at
    );
}

fn opt_block(b: Option<BlockNumber>) -> String {
    b.map_or("?".to_string(), |b| b.to_string())
}
