//! Wallet commands: keys, signed transactions over JSON-RPC, queries.
use crate::cli::{KeyCommand, QueryCommand, Scheme, StakingQuery, StakingTx, TxCommand};
use crate::units::{format_amount, parse_amount};
use anyhow::{anyhow, bail, Context};
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_primitives::{queries, AccountId, EventRecord, Phase};
use menara_rpc::{client, TransactionOutcome, TransactionStatus};
use menara_runtime::{RuntimeCall, RuntimeEvent};
use parity_scale_codec::Decode;
use rand::RngCore;

pub fn key(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Generate {
            scheme,
            json,
            output,
        } => {
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let secret_hex = format!("0x{}", hex::encode(seed));
            // With --output the secret goes to the file only, never to the terminal.
            let shown_secret = match &output {
                Some(path) => {
                    write_secret_file(path, &secret_hex, false)?;
                    eprintln!("Secret seed written to {} (owner-only)", path.display());
                    None
                }
                None => Some(secret_hex.as_str()),
            };
            match scheme {
                Scheme::Bls => print_bls_key(shown_secret, &seed, json),
                Scheme::Ed25519 => {
                    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                    print_key(shown_secret, &keyring::account_of(&key), json);
                }
            }
            Ok(())
        }
        KeyCommand::Inspect {
            secret_or_address,
            scheme,
            public,
            secret,
            json,
        } => {
            let arg = secret_or_address.trim();
            let bare_hex = arg.strip_prefix("0x").unwrap_or(arg);
            let is_hex32 = bare_hex.len() == 64 && bare_hex.chars().all(|c| c.is_ascii_hexdigit());
            if public {
                if let Scheme::Bls = scheme {
                    bail!("--public is for ed25519 accounts; a BLS public key is checked with its proof of possession at registration");
                }
                let account: AccountId = arg
                    .parse()
                    .map_err(|e| anyhow!("{arg:?} is not an account: {e}"))?;
                print_key(None, &account, json);
                return Ok(());
            }
            // An account id and a seed look the same: never guess which one was meant.
            if is_hex32 && !secret {
                bail!(
                    "{arg} could be an account id or a secret seed: add --public to describe the account, or --secret to show the account of the seed"
                );
            }
            let secret_text = if is_hex32 {
                format!("0x{bare_hex}")
            } else {
                resolve_secret(arg)?
            };
            match scheme {
                Scheme::Bls => {
                    let seed = keyring::parse_seed(&secret_text, keyring::dev_bls_seed)?;
                    print_bls_key(None, &seed, json);
                }
                Scheme::Ed25519 => {
                    let key = keyring::parse_secret(&secret_text)?;
                    print_key(None, &keyring::account_of(&key), json);
                }
            }
            Ok(())
        }
        KeyCommand::Insert {
            base_path,
            scheme,
            suri,
            force,
        } => {
            let suri = match suri {
                Some(s) => s,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the secret from standard input")?;
                    line
                }
            };
            let suri = suri.trim().to_string();
            // Check the secret before anything is written, and say whose key it is.
            let (file, described) = match scheme {
                Scheme::Ed25519 => {
                    let key = keyring::parse_secret(&suri).context("--suri")?;
                    ("account", format!("account {}", keyring::account_of(&key)))
                }
                Scheme::Bls => {
                    let seed =
                        keyring::parse_seed(&suri, keyring::dev_bls_seed).context("--suri")?;
                    let public = menara_crypto::BlsSecretKey::from_seed(&seed).public_key();
                    (
                        "bls",
                        format!("BLS public key 0x{}", hex::encode(public.to_bytes())),
                    )
                }
            };
            let keystore = base_path.join("keystore");
            create_private_dir(&keystore)?;
            let path = keystore.join(file);
            write_secret_file(&path, &suri, force)?;
            println!("Inserted {described} into {}", path.display());
            Ok(())
        }
    }
}

/// Creates `dir` (and its parents) readable by the owner only.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a secret to `path` with owner-only permissions (0600), created new: an existing
/// file is left alone unless `replace` is set or it already holds the same secret.
fn write_secret_file(path: &std::path::Path, secret: &str, replace: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Ok(existing) = std::fs::read_to_string(path) {
        if existing.trim() == secret {
            return Ok(());
        }
        if !replace {
            bail!(
                "{} already holds a different key; pass --force to replace it",
                path.display()
            );
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // Written to a temporary file in the same folder and renamed, so a crash never leaves a
    // half-written key behind; tempfile creates it with mode 0600.
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    writeln!(tmp, "{secret}").with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))?;
    }
    if replace {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    }
    .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

fn print_bls_key(secret: Option<&str>, seed: &[u8; 32], json: bool) {
    let sk = menara_crypto::BlsSecretKey::from_seed(seed);
    let public = format!("0x{}", hex::encode(sk.public_key().to_bytes()));
    let pop = format!("0x{}", hex::encode(sk.prove_possession().0.to_bytes()));
    if json {
        let mut v = serde_json::json!({ "scheme": "bls12-381", "publicKey": public, "proofOfPossession": pop });
        if let Some(s) = secret {
            v["secretSeed"] = serde_json::Value::String(s.to_string());
        }
        println!("{v}");
    } else {
        if let Some(s) = secret {
            println!("Secret seed:         {s}");
        }
        println!("Scheme:              bls12-381 (min_pk, proof-of-possession ciphersuite)");
        println!("Public key:          {public}");
        println!("Proof of possession: {pop}");
    }
}

fn print_key(secret: Option<&str>, account: &AccountId, json: bool) {
    if json {
        let mut v = serde_json::json!({ "scheme": "ed25519", "publicKey": account.to_string(), "account": account.to_string() });
        if let Some(s) = secret {
            v["secretSeed"] = serde_json::Value::String(s.to_string());
        }
        println!("{v}");
    } else {
        if let Some(s) = secret {
            println!("Secret seed:  {s}");
        }
        println!("Scheme:       ed25519");
        println!("Public key:   {account}");
        println!("Account:      {account}");
    }
}

/// A secret given as `//Name`, a hex seed, or the path of a keystore file holding one
/// (e.g. a validator's `<base>/keystore/account`).
pub(crate) fn resolve_secret(s: &str) -> anyhow::Result<String> {
    let looks_inline = s.starts_with("//")
        || s.starts_with("0x")
        || (s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()));
    if looks_inline {
        return Ok(s.to_string());
    }
    let path = std::path::Path::new(s);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the key file {}", path.display()))?;
        return Ok(text.trim().to_string());
    }
    bail!("{s:?} is neither //Name, a hex seed, nor a readable key file")
}

pub(crate) fn parse_account(s: &str) -> anyhow::Result<AccountId> {
    if s.starts_with("//") {
        return Ok(keyring::account_of(&keyring::parse_secret(s)?));
    }
    s.parse()
        .map_err(|e| anyhow!("{s:?} is not an account: {e}"))
}

pub(crate) async fn submit(
    rpc: &str,
    secret: &str,
    call: RuntimeCall,
    tip: u128,
    wait: bool,
) -> anyhow::Result<()> {
    submit_and_wait(rpc, secret, call, tip, wait)
        .await
        .map(|_| ())
}

/// Like [`submit`] (waiting for finality), and returns the events the call emitted, read
/// from the including block's state.
pub(crate) async fn submit_with_events(
    rpc: &str,
    secret: &str,
    call: RuntimeCall,
) -> anyhow::Result<Vec<RuntimeEvent>> {
    let Some((c, outcome)) = submit_and_wait(rpc, secret, call, 0, true).await? else {
        bail!("the transaction is final, but the node no longer knows where it was included: its events cannot be read");
    };
    transaction_events(&c, &outcome).await
}

/// Like [`submit_with_events`], keeping only one pallet's events (`pick` unwraps them,
/// e.g. `|e| match e { RuntimeEvent::Compute(e) => Some(e), _ => None }`).
pub(crate) async fn submit_for_events<E>(
    rpc: &str,
    secret: &str,
    call: RuntimeCall,
    pick: impl Fn(RuntimeEvent) -> Option<E>,
) -> anyhow::Result<Vec<E>> {
    Ok(submit_with_events(rpc, secret, call)
        .await?
        .into_iter()
        .filter_map(pick)
        .collect())
}

/// The error when a call succeeded without the event a command reports.
pub(crate) fn no_event(name: &str) -> anyhow::Error {
    anyhow!("the call succeeded but emitted no {name} event")
}

/// The events the transaction at `outcome` emitted: the including block's events of its
/// phase (`ApplyExtrinsic(index)`).
async fn transaction_events(
    c: &WsClient,
    outcome: &TransactionOutcome,
) -> anyhow::Result<Vec<RuntimeEvent>> {
    let method = String::from_utf8_lossy(queries::EVENTS);
    let raw = client::query(c, &method, &[], Some(outcome.block_hash))
        .await
        .context("reading the block's events")?;
    let records = Vec::<EventRecord>::decode(&mut &raw[..])
        .map_err(|e| anyhow!("the block's events do not decode: {e}"))?;
    Ok(records
        .iter()
        .filter(|r| r.phase == Phase::ApplyExtrinsic(outcome.index))
        .filter_map(RuntimeEvent::from_record)
        .collect())
}

/// Signs and submits `call`; with `wait`, waits for finality and fails with the call's
/// error if it failed. Returns the connection and where the transaction was included, when
/// the node knows.
async fn submit_and_wait(
    rpc: &str,
    secret: &str,
    call: RuntimeCall,
    tip: u128,
    wait: bool,
) -> anyhow::Result<Option<(WsClient, TransactionOutcome)>> {
    let secret = resolve_secret(secret).context("--from")?;
    let key = keyring::parse_secret(&secret).context("--from")?;
    let who = keyring::account_of(&key);
    let c = client::connect(rpc).await?;
    let genesis = client::genesis_hash(&c).await?;
    let nonce = client::account_next_index(&c, &who).await?;
    let ext = keyring::sign(&key, &genesis, nonce, tip, call);
    if !wait {
        let hash = client::submit(&c, &ext).await?;
        println!("submitted {hash} (nonce {nonce})");
        return Ok(None);
    }
    let mut watch = client::submit_and_watch(&c, &ext).await?;
    println!("submitted (nonce {nonce}), waiting for finality...");
    while let Some(status) = watch.next().await {
        match status? {
            TransactionStatus::Ready | TransactionStatus::Future => {}
            TransactionStatus::InBlock(h) => println!("in block {h}"),
            TransactionStatus::Finalized(h) => {
                let tx_hash = menara_primitives::blake3_256(&ext);
                return match client::transaction_outcome(&c, &tx_hash).await? {
                    Some(o) if !o.success => bail!(
                        "included in block #{} ({h}) but the call failed: {} (the fee was paid and the nonce used)",
                        o.block_number,
                        o.error.unwrap_or_else(|| "unknown error".into())
                    ),
                    Some(o) => {
                        println!("finalized in block #{} ({h}), transaction {tx_hash}", o.block_number);
                        Ok(Some((c, o)))
                    }
                    None => {
                        println!("finalized in block {h}, transaction {tx_hash}");
                        Ok(None)
                    }
                };
            }
            TransactionStatus::Usurped(h) => bail!("replaced by transaction {h}"),
            TransactionStatus::Dropped => bail!("dropped from the pool"),
            TransactionStatus::Invalid => bail!("became invalid before inclusion"),
        }
    }
    bail!("the node closed the subscription before the transaction was final")
}

pub async fn tx(cmd: TxCommand) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Transfer {
            from,
            to,
            amount,
            tip,
            rpc,
            no_wait,
        } => {
            let dest = parse_account(&to).context("--to")?;
            let value = parse_amount(&amount).map_err(|e| anyhow!("--amount: {e}"))?;
            let tip = parse_amount(&tip).map_err(|e| anyhow!("--tip: {e}"))?;
            let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
                dest,
                value: value.into(),
            });
            submit(&rpc.rpc, &from, call, tip, !no_wait).await
        }
        TxCommand::Remark { from, text, rpc } => {
            let call = RuntimeCall::System(pallet_system::Call::Remark {
                remark: text.into_bytes(),
            });
            submit(&rpc.rpc, &from, call, 0, true).await
        }
        TxCommand::Staking(cmd) => staking_tx(cmd).await,
        TxCommand::Model(cmd) => crate::model::tx(cmd).await,
        TxCommand::Compute(cmd) => crate::compute::tx(cmd).await,
        TxCommand::Inference(cmd) => crate::inference::tx(cmd).await,
        TxCommand::Agents(cmd) => crate::agents::tx(cmd).await,
        TxCommand::Governance(cmd) => crate::governance::tx(cmd).await,
    }
}

fn amount(s: &str, flag: &str) -> anyhow::Result<u128> {
    parse_amount(s).map_err(|e| anyhow!("{flag}: {e}"))
}

async fn staking_tx(cmd: StakingTx) -> anyhow::Result<()> {
    use pallet_staking::Call;
    let (from, rpc, call) = match cmd {
        StakingTx::Validate {
            from,
            bls_key,
            commission_per_mill,
            self_bond,
            rpc,
        } => {
            if commission_per_mill > 1000 {
                bail!("--commission-per-mill must be at most 1000");
            }
            let bls_key = resolve_secret(&bls_key).context("--bls-key")?;
            let seed = keyring::parse_seed(&bls_key, keyring::dev_bls_seed)
                .map_err(|e| anyhow!("--bls-key: {e}"))?;
            let sk = menara_crypto::BlsSecretKey::from_seed(&seed);
            let call = Call::Validate {
                bls_public_key: sk.public_key().to_bytes(),
                proof_of_possession: sk.prove_possession().0.to_bytes(),
                commission_per_mill,
                self_bond: amount(&self_bond, "--self-bond")?.into(),
            };
            (from, rpc, call)
        }
        StakingTx::BondMore {
            from,
            amount: a,
            rpc,
        } => {
            let call = Call::BondMore {
                amount: amount(&a, "--amount")?.into(),
            };
            (from, rpc, call)
        }
        StakingTx::Delegate {
            from,
            validator,
            amount: a,
            rpc,
        } => {
            let call = Call::Delegate {
                validator: parse_account(&validator).context("--validator")?,
                amount: amount(&a, "--amount")?.into(),
            };
            (from, rpc, call)
        }
        StakingTx::Undelegate {
            from,
            validator,
            amount: a,
            rpc,
        } => {
            let call = Call::Undelegate {
                validator: parse_account(&validator).context("--validator")?,
                amount: amount(&a, "--amount")?.into(),
            };
            (from, rpc, call)
        }
        StakingTx::Withdraw { from, rpc } => (from, rpc, Call::WithdrawUnbonded),
        StakingTx::Claim {
            from,
            validator,
            rpc,
        } => {
            let call = Call::ClaimRewards {
                validator: parse_account(&validator).context("--validator")?,
            };
            (from, rpc, call)
        }
        StakingTx::Chill { from, rpc } => (from, rpc, Call::Chill),
        StakingTx::Unjail { from, rpc } => (from, rpc, Call::Unjail),
    };
    submit(&rpc.rpc, &from, RuntimeCall::Staking(call), 0, true).await
}

async fn staking_query(cmd: StakingQuery) -> anyhow::Result<()> {
    use jsonrpsee::core::client::ClientT;
    use jsonrpsee::rpc_params;
    let (rpc, method, params) = match cmd {
        StakingQuery::Validators { rpc } => (rpc, "staking_validators", rpc_params![]),
        StakingQuery::Delegations { account, rpc } => {
            let who = parse_account(&account)?;
            (rpc, "staking_delegations", rpc_params![who.to_string()])
        }
        StakingQuery::Rewards {
            delegator,
            validator,
            rpc,
        } => {
            let d = parse_account(&delegator).context("delegator")?;
            let v = parse_account(&validator).context("validator")?;
            (
                rpc,
                "staking_rewards",
                rpc_params![d.to_string(), v.to_string()],
            )
        }
        StakingQuery::Epoch { rpc } => (rpc, "staking_epoch", rpc_params![]),
    };
    let c = client::connect(&rpc.rpc).await?;
    let v: serde_json::Value = c
        .request(method, params)
        .await
        .map_err(|e| anyhow!("{method}: {e}"))?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub async fn query(cmd: QueryCommand) -> anyhow::Result<()> {
    match cmd {
        QueryCommand::Balance { account, rpc, json } => {
            let who = parse_account(&account)?;
            let c = client::connect(&rpc.rpc).await?;
            let info = client::account(&c, &who).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "account": who.to_string(), "free": info.free.to_string(), "nonce": info.nonce })
                );
            } else {
                println!(
                    "{who}: {} ({} base units), nonce {}",
                    format_amount(info.free),
                    info.free,
                    info.nonce
                );
            }
            Ok(())
        }
        QueryCommand::Staking(cmd) => staking_query(cmd).await,
        QueryCommand::Compute(cmd) => crate::compute::query(cmd).await,
        QueryCommand::Inference(cmd) => crate::inference::query(cmd).await,
        QueryCommand::Agents(cmd) => crate::agents::query(cmd).await,
        QueryCommand::Governance(cmd) => crate::governance::query(cmd).await,
        QueryCommand::Model {
            what,
            start_after,
            limit,
            rpc,
        } => crate::model::query(&what, start_after.as_deref(), limit, &rpc.rpc).await,
        QueryCommand::Issuance { rpc } => {
            let c = client::connect(&rpc.rpc).await?;
            let issuance = client::total_issuance(&c).await?;
            println!("{} ({issuance} base units)", format_amount(issuance));
            Ok(())
        }
    }
}
