//! Contract commands: build a contract crate with the SDK, deploy it, call it, query it (a
//! dry run), and read its record. Arguments are encoded and results, errors and events
//! decoded with the contract's metadata, which travels inside its code (custom section
//! `menara:metadata`), so any contract on chain can be called by name.
use crate::cli::RpcArgs;
use crate::units::{format_amount, parse_amount};
use crate::wallet::{parse_account, resolve_secret, submit_with_events};
use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_contract::metadata::Metadata;
use menara_primitives::{AccountId, Balance, H256};
use menara_rpc::client;
use menara_runtime::api::{ContractsCallArgs, ContractsInstantiateArgs};
use menara_runtime::{RuntimeCall, RuntimeEvent};
use pallet_contracts::{CodeInfo, CodeSource, ContractView, Event, ExecOutcome};
use parity_scale_codec::{Decode, Encode};
use std::path::PathBuf;

/// Fuel a transaction asks for when `--fuel` is not given: what the dry run used, plus
/// half again and a margin (state may change between the dry run and the block).
fn fuel_with_margin(used: u64) -> u64 {
    let max = <menara_runtime::Runtime as pallet_contracts::Config>::MAX_FUEL_PER_CALL;
    used.saturating_add(used / 2)
        .saturating_add(100_000)
        .min(max)
}

/// Contract commands.
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Build the contract crate in DIR for the chain (wasm32, the SDK's flags), strip it,
    /// and check it the way the chain checks uploads. Prints the `.wasm` path, its size,
    /// its code hash and the metadata file.
    Build {
        /// The contract crate (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Cargo's target directory (default: DIR/target).
        #[arg(long, value_name = "DIR")]
        target_dir: Option<PathBuf>,
        /// Build without network access (dependencies must be fetched).
        #[arg(long)]
        offline: bool,
        /// Require the contract's Cargo.lock to be up to date.
        #[arg(long)]
        locked: bool,
    },
    /// Upload a built contract (once per code; a deposit is held per byte) and instantiate
    /// it, running its constructor. A dry run first: a constructor that fails costs nothing.
    /// Prints `contract <address>`.
    Deploy {
        /// The `.wasm` file `menara contract build` wrote.
        file: PathBuf,
        /// The constructor to run.
        #[arg(long, default_value = "new")]
        constructor: String,
        /// The constructor's arguments, in order (accounts and hashes as 0x-hex, bytes as
        /// 0x-hex, numbers in base units).
        #[arg(long, num_args = 1.., allow_negative_numbers = true)]
        args: Vec<String>,
        /// MEN sent to the new contract.
        #[arg(long, default_value = "0")]
        value: String,
        /// Makes the address unique when the same account deploys the same code again (hex).
        #[arg(long, default_value = "0x")]
        salt: String,
        /// Fuel limit (default: the dry run's use plus a margin).
        #[arg(long)]
        fuel: Option<u64>,
        /// Most MEN the storage the constructor writes may hold as deposit.
        #[arg(long, value_name = "MEN")]
        storage_deposit_limit: Option<String>,
        /// Deploy without an admin: the contract can never be migrated to other code.
        #[arg(long)]
        immutable: bool,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Call a message in a transaction. A dry run first: a call that would revert or trap
    /// is reported (decoded) without paying a fee. Prints the events it emitted.
    Call {
        /// The contract's address.
        address: String,
        /// The message.
        message: String,
        /// The message's arguments, in order.
        #[arg(long, num_args = 1.., allow_negative_numbers = true)]
        args: Vec<String>,
        /// MEN sent with the call (payable messages only).
        #[arg(long, default_value = "0")]
        value: String,
        /// Fuel limit (default: the dry run's use plus a margin).
        #[arg(long)]
        fuel: Option<u64>,
        /// Most MEN of storage deposit this call may charge.
        #[arg(long, value_name = "MEN")]
        storage_deposit_limit: Option<String>,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Dry-run a message: nothing is kept and no fee is paid. Prints the decoded result,
    /// the fuel it would use, and the contract's debug messages.
    Query {
        /// The contract's address.
        address: String,
        /// The message.
        message: String,
        /// The message's arguments, in order.
        #[arg(long, num_args = 1.., allow_negative_numbers = true)]
        args: Vec<String>,
        /// MEN sent with the call.
        #[arg(long, default_value = "0")]
        value: String,
        /// The caller (an account or //Name; default: an account of zeros).
        #[arg(long, value_name = "ACCOUNT")]
        from: Option<String>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// A contract's record: code, admin, balance, storage and deposits, and its messages.
    Info {
        /// The contract's address.
        address: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Runs a contract command.
pub async fn command(cmd: ContractCommand) -> anyhow::Result<()> {
    match cmd {
        ContractCommand::Build {
            dir,
            target_dir,
            offline,
            locked,
        } => build(dir, target_dir, offline, locked),
        ContractCommand::Deploy {
            file,
            constructor,
            args,
            value,
            salt,
            fuel,
            storage_deposit_limit,
            immutable,
            from,
            rpc,
        } => {
            let code =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let metadata = Metadata::from_wasm(&code)
                .with_context(|| format!("the metadata of {}", file.display()))?;
            let input = encode_input(&metadata, &constructor, true, &args)?;
            let value = parse_amount(&value).map_err(|e| anyhow!("--value: {e}"))?;
            let salt = parse_hex(&salt).context("--salt")?;
            let limit = parse_limit(storage_deposit_limit.as_deref())?;
            let origin = signer_account(&from)?;
            let c = client::connect(&rpc.rpc).await?;
            let dry: ExecOutcome = query(
                &c,
                "contracts_instantiate",
                &ContractsInstantiateArgs {
                    origin,
                    code: CodeSource::Upload(code.clone()),
                    value,
                    fuel_limit: fuel,
                    storage_deposit_limit: limit,
                    salt: salt.clone(),
                    input: input.clone(),
                    immutable,
                }
                .encode(),
            )
            .await?;
            report_failure(&metadata, &constructor, &dry)?;
            let fuel_limit = fuel.unwrap_or_else(|| fuel_with_margin(dry.fuel_used));
            println!(
                "dry run: {} fuel, storage deposit {} MEN; deploying with a fuel limit of {fuel_limit}",
                dry.fuel_used,
                signed_amount(dry.storage_deposit)
            );
            let call = RuntimeCall::Contracts(pallet_contracts::Call::Instantiate {
                code: CodeSource::Upload(code),
                value: value.into(),
                fuel_limit,
                storage_deposit_limit: limit,
                salt,
                input,
                immutable,
            });
            let events =
                submit_contract_call(&rpc.rpc, &from, call, &metadata, &constructor).await?;
            print_events(&metadata, &events);
            let address = events
                .iter()
                .find_map(|e| match e {
                    Event::Instantiated { contract, .. } => Some(*contract),
                    _ => None,
                })
                .ok_or_else(|| anyhow!("the call succeeded but emitted no Instantiated event"))?;
            println!("contract {address}");
            Ok(())
        }
        ContractCommand::Call {
            address,
            message,
            args,
            value,
            fuel,
            storage_deposit_limit,
            from,
            rpc,
        } => {
            let contract = parse_account(&address).context("ADDRESS")?;
            let value = parse_amount(&value).map_err(|e| anyhow!("--value: {e}"))?;
            let limit = parse_limit(storage_deposit_limit.as_deref())?;
            let origin = signer_account(&from)?;
            let c = client::connect(&rpc.rpc).await?;
            let metadata = contract_metadata(&c, &contract).await?;
            let input = encode_input(&metadata, &message, false, &args)?;
            let dry = dry_run_call(
                &c,
                ContractsCallArgs {
                    origin,
                    contract,
                    value,
                    fuel_limit: fuel,
                    storage_deposit_limit: limit,
                    input: input.clone(),
                },
            )
            .await?;
            report_failure(&metadata, &message, &dry)?;
            let fuel_limit = fuel.unwrap_or_else(|| fuel_with_margin(dry.fuel_used));
            if let Ok(ret) = &dry.result {
                let output = metadata
                    .decode_output(&message, &ret.data)
                    .map(|v| show_value(&v))
                    .unwrap_or_else(|e| format!("(undecodable: {e})"));
                println!(
                    "dry run: returns {output}, {} fuel, storage deposit {} MEN; calling with a fuel limit of {fuel_limit}",
                    dry.fuel_used,
                    signed_amount(dry.storage_deposit)
                );
            }
            let call = RuntimeCall::Contracts(pallet_contracts::Call::Call {
                contract,
                value: value.into(),
                fuel_limit,
                storage_deposit_limit: limit,
                input,
            });
            let events = submit_contract_call(&rpc.rpc, &from, call, &metadata, &message).await?;
            print_events(&metadata, &events);
            Ok(())
        }
        ContractCommand::Query {
            address,
            message,
            args,
            value,
            from,
            rpc,
        } => {
            let contract = parse_account(&address).context("ADDRESS")?;
            let value = parse_amount(&value).map_err(|e| anyhow!("--value: {e}"))?;
            let origin = match &from {
                Some(from) => parse_account(from).context("--from")?,
                None => AccountId([0; 32]),
            };
            let c = client::connect(&rpc.rpc).await?;
            let metadata = contract_metadata(&c, &contract).await?;
            let dry = dry_run_call(
                &c,
                ContractsCallArgs {
                    origin,
                    contract,
                    value,
                    fuel_limit: None,
                    storage_deposit_limit: None,
                    input: encode_input(&metadata, &message, false, &args)?,
                },
            )
            .await?;
            for line in dry.debug.lines() {
                println!("debug: {line}");
            }
            report_failure(&metadata, &message, &dry)?;
            if let Ok(ret) = &dry.result {
                let output = metadata
                    .decode_output(&message, &ret.data)
                    .context("decoding the result")?;
                println!("{}", show_value(&output));
            }
            eprintln!("fuel: {}", dry.fuel_used);
            Ok(())
        }
        ContractCommand::Info { address, rpc } => {
            let contract = parse_account(&address).context("ADDRESS")?;
            let c = client::connect(&rpc.rpc).await?;
            let view = contract_view(&c, &contract).await?;
            let i = &view.info;
            println!("contract   {}", view.address);
            println!("code hash  {}", i.code_hash);
            println!("deployer   {}", i.deployer);
            match i.admin {
                Some(admin) => println!("admin      {admin}"),
                None => println!("admin      none (immutable)"),
            }
            println!("balance    {} MEN", format_amount(view.balance));
            println!(
                "storage    {} items, {} bytes, {} MEN deposit",
                i.items,
                i.bytes,
                format_amount(i.storage_deposit)
            );
            if let Ok(metadata) = contract_metadata(&c, &contract).await {
                println!("name       {}", metadata.name);
                for m in &metadata.messages {
                    println!(
                        "  {}{}",
                        m.signature(),
                        if m.payable { " (payable)" } else { "" }
                    );
                }
            }
            Ok(())
        }
    }
}

fn build(
    dir: PathBuf,
    target_dir: Option<PathBuf>,
    offline: bool,
    locked: bool,
) -> anyhow::Result<()> {
    let built = menara_contract_build::build(
        &dir,
        &menara_contract_build::BuildOptions {
            target_dir,
            offline,
            locked,
            ..Default::default()
        },
    )
    .with_context(|| format!("building the contract in {}", dir.display()))?;
    let code = std::fs::read(&built.wasm_path)
        .with_context(|| format!("reading {}", built.wasm_path.display()))?;
    // The chain's own check of uploads, so a module it would refuse fails here.
    pallet_contracts::validate_code(&code).map_err(|(e, detail)| {
        anyhow!(
            "{} would be refused by the chain: {e:?}: {detail}",
            built.wasm_path.display()
        )
    })?;
    println!("{}", built.wasm_path.display());
    println!("size       {} bytes", built.size);
    println!("code hash  {}", H256(built.code_hash));
    println!("metadata   {}", built.metadata_path.display());
    Ok(())
}

/// The input of `function` (a constructor or a message) with `args` encoded by the
/// metadata; `//Name` accounts (dev keys) are accepted where the type is `AccountId`.
fn encode_input(
    metadata: &Metadata,
    function: &str,
    constructor: bool,
    args: &[String],
) -> anyhow::Result<Vec<u8>> {
    let f = if constructor {
        metadata.constructor(function)?
    } else {
        metadata.message(function)?
    };
    let args = args
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            let is_account = f.args.get(i).is_some_and(|a| a.ty == "AccountId");
            if is_account && arg.starts_with("//") {
                Ok(parse_account(arg)?.to_string())
            } else {
                Ok(arg.clone())
            }
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let input = if constructor {
        metadata.encode_constructor_input(function, &refs)
    } else {
        metadata.encode_message_input(function, &refs)
    };
    input.context("--args")
}

/// A decoded value for people: strings without JSON quotes.
fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(digits).map_err(|e| anyhow!("{s:?} is not hex: {e}"))
}

fn parse_limit(limit: Option<&str>) -> anyhow::Result<Option<Balance>> {
    limit
        .map(parse_amount)
        .transpose()
        .map_err(|e| anyhow!("--storage-deposit-limit: {e}"))
}

fn signer_account(from: &str) -> anyhow::Result<AccountId> {
    let secret = resolve_secret(from).context("--from")?;
    Ok(keyring::account_of(
        &keyring::parse_secret(&secret).context("--from")?,
    ))
}

fn signed_amount(v: i128) -> String {
    if v < 0 {
        format!("-{}", format_amount(v.unsigned_abs()))
    } else {
        format_amount(v.unsigned_abs())
    }
}

async fn query<T: Decode>(c: &WsClient, method: &str, args: &[u8]) -> anyhow::Result<T> {
    let raw = client::query(c, method, args, None)
        .await
        .with_context(|| format!("the {method} query"))?;
    T::decode(&mut &raw[..]).map_err(|e| anyhow!("the {method} answer does not decode: {e}"))
}

/// The `contracts_call` dry run: nothing is kept, no fee is paid.
async fn dry_run_call(c: &WsClient, args: ContractsCallArgs) -> anyhow::Result<ExecOutcome> {
    query(c, "contracts_call", &args.encode()).await
}

async fn contract_view(c: &WsClient, contract: &AccountId) -> anyhow::Result<ContractView> {
    let view: Option<ContractView> = query(c, "contracts_info", &contract.encode()).await?;
    view.ok_or_else(|| anyhow!("no contract at {contract}"))
}

/// The metadata inside the code `contract` runs.
async fn contract_metadata(c: &WsClient, contract: &AccountId) -> anyhow::Result<Metadata> {
    let view = contract_view(c, contract).await?;
    let code: Option<(CodeInfo, Vec<u8>)> =
        query(c, "contracts_code", &view.info.code_hash.encode()).await?;
    let (_, code) = code.ok_or_else(|| anyhow!("the code of {contract} is not on chain"))?;
    Metadata::from_wasm(&code).with_context(|| format!("the metadata of {contract}'s code"))
}

/// Fails with the decoded reason when a dry run did not succeed.
fn report_failure(metadata: &Metadata, function: &str, dry: &ExecOutcome) -> anyhow::Result<()> {
    match &dry.result {
        Ok(ret) if ret.reverted => bail!(
            "the contract reverted: {} (dry run, nothing was submitted)",
            metadata.decode_revert(function, &ret.data)
        ),
        Ok(_) => Ok(()),
        Err(e) => bail!("{} (dry run, nothing was submitted)", e.message),
    }
}

/// Submits a contract transaction and waits for it; a revert that happens anyway (state
/// changed since the dry run) is decoded with the metadata.
async fn submit_contract_call(
    rpc: &str,
    from: &str,
    call: RuntimeCall,
    metadata: &Metadata,
    function: &str,
) -> anyhow::Result<Vec<Event>> {
    let pick = |e: RuntimeEvent| match e {
        RuntimeEvent::Contracts(e) => Some(e),
        _ => None,
    };
    match submit_with_events(rpc, from, call).await {
        Ok(events) => Ok(events.into_iter().filter_map(pick).collect()),
        Err(e) => {
            let text = format!("{e:#}");
            match text.split("ContractReverted: 0x").nth(1).and_then(|rest| {
                hex::decode(rest.split(|c: char| !c.is_ascii_hexdigit()).next()?).ok()
            }) {
                Some(data) => Err(e.context(format!(
                    "the contract reverted: {}",
                    metadata.decode_revert(function, &data)
                ))),
                None => Err(e),
            }
        }
    }
}

/// Prints contract events, decoded when they are the called contract's.
fn print_events(metadata: &Metadata, events: &[Event]) {
    for event in events {
        match event {
            Event::ContractEmitted {
                contract,
                topics,
                data,
            } => {
                let raw: Vec<[u8; 32]> = topics.iter().map(|t| t.0).collect();
                match metadata.decode_event(&raw, data) {
                    Ok(Some(decoded)) => println!("event {contract} {}", decoded.to_json()),
                    _ => println!("event {contract} 0x{}", hex::encode(data)),
                }
            }
            Event::CodeStored {
                code_hash, deposit, ..
            } => println!(
                "code {code_hash} stored, deposit {} MEN",
                format_amount(*deposit)
            ),
            Event::Terminated {
                contract,
                beneficiary,
            } => println!("contract {contract} terminated, balance to {beneficiary}"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fuel_margin_is_half_again_and_capped() {
        assert_eq!(fuel_with_margin(1_000_000), 1_600_000);
        let max = <menara_runtime::Runtime as pallet_contracts::Config>::MAX_FUEL_PER_CALL;
        assert_eq!(fuel_with_margin(max), max);
    }

    #[test]
    fn hex_salt_and_limits_parse_with_clear_errors() {
        assert_eq!(parse_hex("0x0a0b").unwrap(), vec![10, 11]);
        assert_eq!(parse_hex("0x").unwrap(), Vec::<u8>::new());
        assert!(parse_hex("0xzz")
            .unwrap_err()
            .to_string()
            .contains("not hex"));
        assert_eq!(parse_limit(None).unwrap(), None);
        assert!(parse_limit(Some("lots"))
            .unwrap_err()
            .to_string()
            .contains("--storage-deposit-limit"));
    }
}
