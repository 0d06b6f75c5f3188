//! Model commands: publish a model file (registry transaction + the node's store), fetch
//! one from peers through the node, registry transactions and queries.
use crate::cli::{ModelCommand, ModelTx};
use crate::units::parse_amount;
use crate::wallet::{parse_account, submit};
use anyhow::{anyhow, bail, Context};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use menara_primitives::H256;
use menara_rpc::{client, ModelFetchState, ModelFetchStatus};
use menara_runtime::RuntimeCall;
use pallet_models::{Call, ModelKind, ModelParams, Version};
use std::time::Duration;

fn parse_id(s: &str, what: &str) -> anyhow::Result<H256> {
    s.parse()
        .map_err(|e| anyhow!("{what} {s:?} is not a model id (0x + 64 hex digits): {e}"))
}

fn parse_version(s: &str) -> anyhow::Result<Version> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    let [major, minor, patch] = parts[..] else {
        bail!("--version {s:?} must be MAJOR.MINOR.PATCH, e.g. 1.0.0");
    };
    let num = |p: &str| -> anyhow::Result<u32> {
        p.parse()
            .map_err(|_| anyhow!("--version {s:?} must be MAJOR.MINOR.PATCH of numbers"))
    };
    Ok(Version {
        major: num(major)?,
        minor: num(minor)?,
        patch: num(patch)?,
    })
}

/// What the registry records about a model file, computed with gpu-verify's code (the same
/// the node and the runtime use): content id, file root, size, kind, shape.
fn describe_file(bytes: &[u8]) -> anyhow::Result<(H256, ModelParams)> {
    let (id, file) = menara_model_store::parse_model(bytes)?;
    let kind = ModelKind::from_code(file.kind)
        .ok_or_else(|| anyhow!("model kind {} is not one the registry knows", file.kind))?;
    let params = ModelParams {
        file_root: H256(*blake3::hash(bytes).as_bytes()),
        size: bytes.len() as u64,
        name: Vec::new(),
        version: Version::default(),
        kind,
        shape: file.params.to_vec(),
        numerics_version: u16::try_from(file.numerics)
            .map_err(|_| anyhow!("numerics version out of range"))?,
        royalty: 0,
    };
    Ok((H256(id), params))
}

pub async fn command(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Publish {
            file,
            name,
            version,
            royalty,
            previous,
            from,
            rpc,
        } => {
            let version = parse_version(&version)?;
            let royalty = parse_amount(&royalty).map_err(|e| anyhow!("--royalty: {e}"))?;
            let previous = previous.map(|p| parse_id(&p, "--previous")).transpose()?;
            let path = std::fs::canonicalize(&file)
                .with_context(|| format!("--file {}", file.display()))?;
            let size = std::fs::metadata(&path)?.len();
            if size > menara_model_store::MAX_MODEL_BYTES {
                bail!(
                    "{} is {size} bytes, more than the largest model ({} bytes)",
                    path.display(),
                    menara_model_store::MAX_MODEL_BYTES
                );
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let (id, mut params) = describe_file(&bytes)
                .with_context(|| format!("{} is not a valid model file", path.display()))?;
            drop(bytes);
            params.name = name.into_bytes();
            params.version = version;
            params.royalty = royalty;
            eprintln!(
                "model {id}: {} bytes, file root {}",
                params.size, params.file_root
            );
            let call = match previous {
                None => Call::Register { id, params },
                Some(previous) => Call::PublishVersion {
                    previous,
                    id,
                    params,
                },
            };
            submit(&rpc.rpc, &from, RuntimeCall::Models(call), 0, true).await?;
            let c = client::connect(&rpc.rpc).await?;
            let stored: H256 = c
                .request("models_importFile", rpc_params![path.display().to_string()])
                .await
                .map_err(|e| {
                    anyhow!("registered, but the node did not take the file (run `menara model fetch {id}` on a node that can get it from a peer): {e}")
                })?;
            if stored != id {
                bail!("the node stored {stored}, not {id}");
            }
            println!("model {id}");
            Ok(())
        }
        ModelCommand::Fetch { id, rpc } => {
            let id = parse_id(&id, "model")?;
            let c = client::connect(&rpc.rpc).await?;
            let mut status: ModelFetchStatus = c
                .request("models_fetch", rpc_params![id])
                .await
                .map_err(|e| anyhow!("models_fetch: {e}"))?;
            let mut last_shown = u64::MAX;
            loop {
                if status.verified != last_shown {
                    let pct = (status.verified as f64 * 100.0) / (status.total.max(1) as f64);
                    eprintln!(
                        "{id}: {} / {} bytes verified ({pct:.0}%)",
                        status.verified, status.total
                    );
                    last_shown = status.verified;
                }
                match status.state {
                    ModelFetchState::Done => {
                        println!(
                            "model {id} stored at {}",
                            status.path.as_deref().unwrap_or("?")
                        );
                        return Ok(());
                    }
                    ModelFetchState::Failed => bail!(
                        "fetching {id} failed: {}",
                        status.error.as_deref().unwrap_or("unknown error")
                    ),
                    ModelFetchState::Downloading => {}
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let next: Option<ModelFetchStatus> = c
                    .request("models_fetchStatus", rpc_params![id])
                    .await
                    .map_err(|e| anyhow!("models_fetchStatus: {e}"))?;
                status = next.ok_or_else(|| anyhow!("the node forgot the download of {id}"))?;
            }
        }
    }
}

pub async fn tx(cmd: ModelTx) -> anyhow::Result<()> {
    let (from, rpc, call) = match cmd {
        ModelTx::Deprecate { id, from, rpc } => (
            from,
            rpc,
            Call::Deprecate {
                id: parse_id(&id, "model")?,
            },
        ),
        ModelTx::SetRoyalty {
            id,
            royalty,
            from,
            rpc,
        } => (
            from,
            rpc,
            Call::SetRoyalty {
                id: parse_id(&id, "model")?,
                royalty: parse_amount(&royalty)
                    .map_err(|e| anyhow!("--royalty: {e}"))?
                    .into(),
            },
        ),
        ModelTx::TransferOwnership { id, to, from, rpc } => (
            from,
            rpc,
            Call::TransferOwnership {
                id: parse_id(&id, "model")?,
                to: parse_account(&to).context("--to")?,
            },
        ),
        ModelTx::TransferShares {
            id,
            to,
            shares,
            from,
            rpc,
        } => (
            from,
            rpc,
            Call::TransferShares {
                id: parse_id(&id, "model")?,
                to: parse_account(&to).context("--to")?,
                amount: shares.into(),
            },
        ),
        ModelTx::Claim { id, from, rpc } => (
            from,
            rpc,
            Call::ClaimRoyalties {
                id: parse_id(&id, "model")?,
            },
        ),
        ModelTx::Remove { id, from, rpc } => (
            from,
            rpc,
            Call::Remove {
                id: parse_id(&id, "model")?,
            },
        ),
    };
    submit(&rpc.rpc, &from, RuntimeCall::Models(call), 0, true).await
}

pub async fn query(
    what: &str,
    start_after: Option<&str>,
    limit: u32,
    rpc: &str,
) -> anyhow::Result<()> {
    let c = client::connect(rpc).await?;
    let v: serde_json::Value = if what == "list" {
        let start_after = start_after
            .map(|s| parse_id(s, "--start-after"))
            .transpose()?;
        c.request("models_list", rpc_params![start_after, limit])
            .await
            .map_err(|e| anyhow!("models_list: {e}"))?
    } else {
        let id = parse_id(what, "model")?;
        let v: serde_json::Value = c
            .request("models_get", rpc_params![id])
            .await
            .map_err(|e| anyhow!("models_get: {e}"))?;
        if v.is_null() {
            bail!("model {id} is not registered");
        }
        v
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
