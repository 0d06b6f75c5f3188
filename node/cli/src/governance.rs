//! Governance commands: proposing a referendum (a call run with Root origin if it passes,
//! or a runtime upgrade from a wasm file), voting with bonded stake, the validators'
//! emergency cancel, and queries of referenda, votes and parameters.
use crate::cli::RpcArgs;
use crate::show::{print_json, print_list, request};
use crate::units::{format_amount, parse_amount};
use crate::wallet::{no_event, parse_account, submit_for_events};
use anyhow::{anyhow, bail, Context};
use clap::{ArgGroup, Subcommand};
use jsonrpsee::rpc_params;
use menara_runtime::{RuntimeCall, RuntimeEvent};
use pallet_governance::{Call, Event, Parameter, ReferendumIndex};
use parity_scale_codec::Encode;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Governance transactions; each is signed locally by `--from` and waits for finality.
#[derive(Debug, Subcommand)]
pub enum GovernanceTx {
    /// Open a referendum on a call that runs with Root origin if it passes (needs stake
    /// bonded to a validator, and holds a deposit of 100 MEN plus 0.00001 MEN per byte of
    /// the call until the referendum ends). Prints `referendum <index>`.
    Propose {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// The call: `staking.cancel-deferred-slash <id>`,
        /// `inference.set-sampling <sample per mill> <double per mill>`,
        /// `governance.set-parameter <base-fee|byte-fee|work-fee> <MEN>`, or any runtime call
        /// as `0x<SCALE encoding>`.
        #[arg(long, required = true, num_args = 1.., value_name = "CALL")]
        call: Vec<String>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Open a referendum on a runtime upgrade (`system.set_code`): checked here first, then
    /// by the chain (same spec name, higher spec version, compiles, answers its version).
    /// Prints `referendum <index>`.
    ProposeUpgrade {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// The new runtime, a wasm file (e.g. `menara_runtime.wasm` from a build of this tree).
        #[arg(long, value_name = "FILE")]
        wasm: PathBuf,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Vote on an ongoing referendum with bonded stake (all of it unless `--stake`). A
    /// validator's vote carries its delegators' stake unless they vote themselves; voting
    /// again replaces the vote.
    #[command(group(ArgGroup::new("side").required(true).args(["aye", "nay"])))]
    Vote {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// The referendum's index.
        #[arg(long, value_name = "INDEX")]
        referendum: ReferendumIndex,
        /// Vote for.
        #[arg(long)]
        aye: bool,
        /// Vote against.
        #[arg(long)]
        nay: bool,
        /// Stake to vote with, in MEN (at most what is bonded).
        #[arg(long, value_name = "MEN")]
        stake: Option<String>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// As an active validator, ask to cancel a passed referendum before it is enacted; it is
    /// cancelled (and its deposit burned) once validators with two thirds of the active
    /// stake asked.
    EmergencyCancel {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// The referendum's index.
        #[arg(long, value_name = "INDEX")]
        referendum: ReferendumIndex,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Governance queries.
#[derive(Debug, Subcommand)]
pub enum GovernanceQuery {
    /// Referenda, newest first: what each does, its state, tally and quorum.
    Referenda {
        /// Only those with an index below this one (the next page).
        #[arg(long, value_name = "INDEX")]
        before: Option<ReferendumIndex>,
        /// At most this many (1-100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print the RPC's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One referendum.
    Referendum {
        /// Its index.
        index: ReferendumIndex,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// An account's vote on a referendum.
    Vote {
        /// The referendum's index.
        index: ReferendumIndex,
        /// The voter (0x... or `//Name`).
        account: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Voting period, enactment delay, quorum, and every governable parameter's value.
    Parameters {
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Parses a `--call`: a named call with its arguments, or `0x` + a SCALE runtime call.
pub fn parse_call(words: &[String]) -> anyhow::Result<RuntimeCall> {
    let (name, args) = words
        .split_first()
        .ok_or_else(|| anyhow!("--call needs a call"))?;
    let name = name.trim().replace('-', "_");
    let arity = |n: usize| -> anyhow::Result<()> {
        if args.len() != n {
            bail!("--call {name} takes {n} argument(s), got {}", args.len());
        }
        Ok(())
    };
    if let Some(hex) = name.strip_prefix("0x") {
        arity(0)?;
        let bytes = hex::decode(hex).context("--call: not hex")?;
        return <RuntimeCall as parity_scale_codec::DecodeAll>::decode_all(&mut &bytes[..])
            .map_err(|e| anyhow!("--call: not a runtime call: {e}"));
    }
    let number = |s: &String, what: &str| -> anyhow::Result<u64> {
        s.parse()
            .map_err(|_| anyhow!("--call {name}: {what} must be a whole number, got {s:?}"))
    };
    Ok(match name.as_str() {
        "staking.cancel_deferred_slash" => {
            arity(1)?;
            RuntimeCall::Staking(pallet_staking::Call::CancelDeferredSlash {
                id: number(&args[0], "the slash id")?,
            })
        }
        "inference.set_sampling" => {
            arity(2)?;
            let per_mill = |s: &String, what: &str| -> anyhow::Result<u32> {
                let v = number(s, what)?;
                if v > 1000 {
                    bail!("--call {name}: {what} is per thousand, at most 1000, got {v}");
                }
                Ok(v as u32)
            };
            RuntimeCall::Inference(pallet_inference::Call::SetSampling {
                sample_per_mill: per_mill(&args[0], "the sampling rate")?,
                double_per_mill: per_mill(&args[1], "the double-check rate")?,
            })
        }
        "governance.set_parameter" => {
            arity(2)?;
            let parameter = Parameter::ALL
                .into_iter()
                .find(|p| p.name() == args[0].trim())
                .ok_or_else(|| {
                    let names: Vec<&str> = Parameter::ALL.iter().map(|p| p.name()).collect();
                    anyhow!(
                        "--call {name}: unknown parameter {:?} (one of {})",
                        args[0],
                        names.join(", ")
                    )
                })?;
            let value = parse_amount(&args[1]).map_err(|e| anyhow!("--call {name}: {e}"))?;
            RuntimeCall::Governance(Call::SetParameter { parameter, value })
        }
        "system.set_code" => bail!("--call system.set-code: use `propose-upgrade --wasm FILE`"),
        other => bail!(
            "--call: unknown call {other:?}; named calls are staking.cancel-deferred-slash, \
             inference.set-sampling and governance.set-parameter; any other call as 0x<SCALE>"
        ),
    })
}

/// The `system.set_code` call of a wasm file, checked locally first: small enough for a
/// proposal, and a runtime that answers its version (printed).
fn upgrade_call(wasm: &Path) -> anyhow::Result<RuntimeCall> {
    let code = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let max = menara_runtime::MAX_PROPOSAL_SIZE as usize;
    if code.len() > max {
        bail!(
            "{} is {} bytes; a proposal carries at most {max}",
            wasm.display(),
            code.len()
        );
    }
    let executor = menara_executor::Executor::new(Default::default())?;
    let version = executor.runtime_version(&code).ok_or_else(|| {
        anyhow!(
            "{} is not a runtime: it does not compile, lacks the runtime's exports or imports, \
             or does not answer Core_version",
            wasm.display()
        )
    })?;
    println!(
        "{}: {} spec version {}, {} bytes, code hash {}",
        wasm.display(),
        version.spec_name,
        version.spec_version,
        code.len(),
        menara_primitives::blake3_256(&code)
    );
    Ok(RuntimeCall::System(pallet_system::Call::SetCode { code }))
}

fn governance_event(e: RuntimeEvent) -> Option<Event> {
    match e {
        RuntimeEvent::Governance(e) => Some(e),
        _ => None,
    }
}

async fn propose(rpc: &RpcArgs, from: &str, call: RuntimeCall) -> anyhow::Result<()> {
    let call = RuntimeCall::Governance(Call::Propose {
        call: call.encode(),
    });
    let events = submit_for_events(&rpc.rpc, from, call, governance_event).await?;
    let Some((referendum, end)) = events.iter().find_map(|e| match e {
        Event::Proposed {
            referendum, end, ..
        } => Some((*referendum, *end)),
        _ => None,
    }) else {
        return Err(no_event("Proposed"));
    };
    println!("referendum {referendum} (voting until block {end})");
    Ok(())
}

/// Runs a governance transaction.
pub async fn tx(cmd: GovernanceTx) -> anyhow::Result<()> {
    match cmd {
        GovernanceTx::Propose { from, call, rpc } => {
            let call = parse_call(&call)?;
            propose(&rpc, &from, call).await
        }
        GovernanceTx::ProposeUpgrade { from, wasm, rpc } => {
            let call = upgrade_call(&wasm)?;
            propose(&rpc, &from, call).await
        }
        GovernanceTx::Vote {
            from,
            referendum,
            aye,
            nay: _,
            stake,
            rpc,
        } => {
            let stake = stake
                .map(|s| parse_amount(&s).map_err(|e| anyhow!("--stake: {e}")))
                .transpose()?;
            let call = RuntimeCall::Governance(Call::Vote {
                referendum,
                aye,
                stake,
            });
            let events = submit_for_events(&rpc.rpc, &from, call, governance_event).await?;
            let Some(weight) = events.iter().find_map(|e| match e {
                Event::Voted { weight, .. } => Some(*weight),
                _ => None,
            }) else {
                return Err(no_event("Voted"));
            };
            let side = if aye { "aye" } else { "nay" };
            println!(
                "voted {side} on referendum {referendum} with {}",
                format_amount(weight)
            );
            Ok(())
        }
        GovernanceTx::EmergencyCancel {
            from,
            referendum,
            rpc,
        } => {
            let call = RuntimeCall::Governance(Call::EmergencyCancel { referendum });
            let events = submit_for_events(&rpc.rpc, &from, call, governance_event).await?;
            if events.iter().any(|e| matches!(e, Event::Cancelled { .. })) {
                println!("referendum {referendum} cancelled");
            } else {
                println!(
                    "asked to cancel referendum {referendum}; not yet two thirds of the stake"
                );
            }
            Ok(())
        }
    }
}

fn amount_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map_or_else(|| "?".into(), format_amount)
}

fn print_referendum(v: &Value) {
    let call = &v["call"];
    let what = match call["kind"].as_str() {
        Some("upgrade") => format!(
            "runtime upgrade to spec version {} (code {})",
            call["specVersion"],
            call["codeHash"].as_str().unwrap_or("?")
        ),
        _ => call["name"].as_str().map_or_else(
            || format!("call {}.{}", call["pallet"], call["call"]),
            str::to_string,
        ),
    };
    println!("referendum {}: {what}", v["index"]);
    let status = v["status"].as_str().unwrap_or("?");
    let detail = match status {
        "ongoing" => format!("voting until block {}", v["end"]),
        "passed" => format!("enacted at block {}", v["enactAt"]),
        "enacted" if v["succeeded"] == Value::Bool(false) => "ran, and failed".into(),
        "enacted" => "ran".into(),
        _ => String::new(),
    };
    println!("  status    {status} {detail}");
    println!(
        "  tally     aye {}, nay {} (turnout {}, quorum {})",
        amount_of(v, "ayes"),
        amount_of(v, "nays"),
        amount_of(v, "turnout"),
        amount_of(v, "quorum")
    );
    println!(
        "  proposer  {} (deposit {}) at block {}",
        v["proposer"].as_str().unwrap_or("?"),
        amount_of(v, "deposit"),
        v["submitted"]
    );
    if let Some(votes) = v["cancelVotes"].as_array().filter(|a| !a.is_empty()) {
        println!(
            "  cancel    asked by {} validator(s), {} per mill of the active stake",
            votes.len(),
            v["cancelPerMill"]
        );
    }
}

/// Runs a governance query.
pub async fn query(cmd: GovernanceQuery) -> anyhow::Result<()> {
    match cmd {
        GovernanceQuery::Referenda {
            before,
            limit,
            json,
            rpc,
        } => {
            let v = request(&rpc.rpc, "governance_referenda", rpc_params![before, limit]).await?;
            if json {
                return print_json(&v);
            }
            let list = v.as_array().cloned().unwrap_or_default();
            print_list(&list, "no referenda", print_referendum);
            Ok(())
        }
        GovernanceQuery::Referendum { index, json, rpc } => {
            let v = request(&rpc.rpc, "governance_referendum", rpc_params![index]).await?;
            if v.is_null() {
                bail!("no referendum {index}");
            }
            if json {
                return print_json(&v);
            }
            print_referendum(&v);
            Ok(())
        }
        GovernanceQuery::Vote {
            index,
            account,
            rpc,
        } => {
            let who = parse_account(&account)?;
            let v = request(
                &rpc.rpc,
                "governance_vote",
                rpc_params![index, who.to_string()],
            )
            .await?;
            print_json(&v)
        }
        GovernanceQuery::Parameters { rpc } => {
            let v = request(&rpc.rpc, "governance_summary", rpc_params![]).await?;
            print_json(&v)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn named_calls_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_call(&words("staking.cancel-deferred-slash 3")).unwrap(),
            RuntimeCall::Staking(pallet_staking::Call::CancelDeferredSlash { id: 3 })
        );
        assert_eq!(
            parse_call(&words("inference.set-sampling 200 500")).unwrap(),
            RuntimeCall::Inference(pallet_inference::Call::SetSampling {
                sample_per_mill: 200,
                double_per_mill: 500
            })
        );
        assert_eq!(
            parse_call(&words("governance.set-parameter byte-fee 0.000002")).unwrap(),
            RuntimeCall::Governance(Call::SetParameter {
                parameter: Parameter::ByteFee,
                value: 2_000_000
            })
        );
        let remark = RuntimeCall::System(pallet_system::Call::Remark { remark: vec![1] });
        let hex = format!("0x{}", hex::encode(remark.encode()));
        assert_eq!(parse_call(&[hex]).unwrap(), remark);
        for (bad, says) in [
            ("staking.cancel-deferred-slash", "takes 1"),
            ("staking.cancel-deferred-slash x", "whole number"),
            ("inference.set-sampling 2000 1", "at most 1000"),
            ("governance.set-parameter tip 1", "unknown parameter"),
            ("balances.transfer 1", "unknown call"),
            ("0x0700ff", "not a runtime call"),
            ("0xzz", "not hex"),
            ("system.set-code", "propose-upgrade"),
        ] {
            let e = parse_call(&words(bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
