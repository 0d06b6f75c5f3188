//! Node commands: run, build-spec, purge-chain, export-blocks, import-blocks.
use crate::cli::{RpcMethodsArg, RunArgs, SharedArgs};
use anyhow::{anyhow, bail, Context};
use menara_chain_spec::{keyring, ChainSpec};
use menara_network::NetworkConfig;
use menara_primitives::Block;
use menara_rpc::{RpcConfig, RpcMethods};
use menara_service::{Client, Metrics, NodeConfig, ValidatorKeys};
use parity_scale_codec::{Decode, Encode};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Magic at the start of an `export-blocks` file.
const EXPORT_MAGIC: &[u8; 8] = b"MNRBLK01";
/// Largest block accepted from a file.
const MAX_EXPORTED_BLOCK: u32 = 64 << 20;

/// Where the node keeps its data when not told (`menara` without --base-path).
pub(crate) fn default_base_path() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/menara"),
        None => PathBuf::from(".menara"),
    }
}

fn load_spec(shared: &SharedArgs) -> anyhow::Result<ChainSpec> {
    let name = match (&shared.chain, shared.dev) {
        (Some(c), _) => c.as_str(),
        (None, true) => "dev",
        (None, false) => "dev",
    };
    ChainSpec::load(name).with_context(|| format!("loading chain spec `{name}`"))
}

fn chain_path(base: &Path, spec: &ChainSpec) -> PathBuf {
    base.join("chains").join(&spec.id)
}

pub async fn run_node(args: RunArgs) -> anyhow::Result<()> {
    let spec = load_spec(&args.shared)?;
    let mut _tmp_guard = None;
    let base = match (&args.shared.base_path, args.tmp || args.shared.dev) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let dir = tempfile::Builder::new()
                .prefix("menara-")
                .tempdir()
                .context("creating a temporary base path")?;
            let p = dir.path().to_path_buf();
            _tmp_guard = Some(dir);
            p
        }
        (None, false) => default_base_path(),
    };
    let validator = validator_keys(&args, &base)?;
    let mut config = NodeConfig::new(spec.clone(), chain_path(&base, &spec));
    config.name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("menara-{}", std::process::id()));
    config.provider = worker_key(
        args.provider,
        "--provider",
        args.provider_key.as_deref(),
        &base,
        validator.as_deref(),
    )?;
    config.verifier = worker_key(
        args.verifier,
        "--verifier",
        args.verifier_key.as_deref(),
        &base,
        validator.as_deref(),
    )?;
    config.test_cheat_per_mill = args.unsafe_test_cheat_per_mill.unwrap_or(0);
    if config.test_cheat_per_mill > 0 {
        tracing::warn!(target: "menara", "--unsafe-test-cheat-per-mill: this provider commits {} per thousand of its inference jobs wrong on purpose and will be slashed", config.test_cheat_per_mill);
    }
    config.validator = validator;
    config.test_equivocate = args.unsafe_test_equivocate;
    config.test_corrupt_model_chunks = args.unsafe_test_corrupt_model_chunks;
    if args.unsafe_test_corrupt_model_chunks {
        tracing::warn!(target: "menara", "--unsafe-test-corrupt-model-chunks: this node serves corrupted model chunks and will be banned by its peers");
    }
    if args.unsafe_test_equivocate {
        tracing::warn!(target: "menara", "--unsafe-test-equivocate: this validator will sign conflicting votes and be slashed");
    }
    if !args.no_network {
        let mut net = NetworkConfig::new(spec.id.clone(), config.node_key_path());
        let port = args.port.unwrap_or(if args.shared.dev {
            0
        } else {
            NetworkConfig::DEFAULT_PORT
        });
        net.listen_addr = match &args.listen_addr {
            Some(a) => a
                .parse()
                .map_err(|e| anyhow!("--listen-addr {a:?} is not a multiaddr: {e}"))?,
            None => format!("/ip4/0.0.0.0/tcp/{port}")
                .parse()
                .map_err(|e| anyhow!("listen address: {e}"))?,
        };
        for b in args.bootnodes.iter().chain(spec.boot_nodes.iter()) {
            let addr: menara_network::Multiaddr = b
                .parse()
                .map_err(|e| anyhow!("bootnode {b:?} is not a multiaddr: {e}"))?;
            if !addr
                .iter()
                .any(|p| matches!(p, menara_network::multiaddr::Protocol::P2p(_)))
            {
                bail!("bootnode {b} must end in /p2p/<peer id>");
            }
            net.bootnodes.push(addr);
        }
        config.network = Some(net);
    }
    config.block_time = Duration::from_millis(args.block_time_ms);
    config.pool.max_transactions = args.pool_limit;
    let rpc_ip = if args.rpc_external {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::LOCALHOST
    };
    config.rpc = (!args.no_rpc).then(|| RpcConfig {
        addr: SocketAddr::from((rpc_ip, args.rpc_port)),
        max_connections: args.rpc_max_connections,
        max_connections_per_ip: args.rpc_max_connections_per_ip,
        max_subscriptions_per_connection: args.rpc_max_subscriptions_per_connection,
        idle_timeout: (args.rpc_idle_timeout > 0)
            .then(|| Duration::from_secs(args.rpc_idle_timeout)),
        methods: match args.rpc_methods {
            RpcMethodsArg::Auto => RpcMethods::Auto,
            RpcMethodsArg::Safe => RpcMethods::Safe,
            RpcMethodsArg::Unsafe => RpcMethods::Unsafe,
        },
        ..RpcConfig::default()
    });
    let prom_ip = if args.prometheus_external {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::LOCALHOST
    };
    config.prometheus =
        (!args.no_prometheus).then(|| SocketAddr::from((prom_ip, args.prometheus_port)));
    tracing::info!(target: "menara", "Menara node {} — {}", env!("CARGO_PKG_VERSION"), config.name);
    menara_service::run(config)
        .await
        .map_err(|e| anyhow!("{e}"))
}

/// The account key of a worker (`--provider`, `--verifier`; `enabled` says whether it
/// runs): its own key flag (`--provider-key`, `--verifier-key`), else the validator's
/// account, else the file `keystore/account` in the base path.
fn worker_key(
    enabled: bool,
    flag: &str,
    secret: Option<&str>,
    base: &Path,
    validator: Option<&ValidatorKeys>,
) -> anyhow::Result<Option<ed25519_dalek::SigningKey>> {
    if !enabled {
        return Ok(None);
    }
    if let Some(secret) = secret {
        return keyring::parse_secret(secret)
            .map(Some)
            .map_err(|e| anyhow!("{flag}-key: {e}"));
    }
    if let Some(keys) = validator {
        return Ok(Some(keys.account.clone()));
    }
    let path = base.join("keystore").join("account");
    let secret = std::fs::read_to_string(&path).map_err(|e| {
        anyhow!(
            "{flag} needs an account key: {flag}-key, --validator-key, or the file {} ({e})",
            path.display()
        )
    })?;
    keyring::parse_secret(secret.trim())
        .map(Some)
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// The validator's keys: from flags, else from the keystore files in the base path.
fn validator_keys(args: &RunArgs, base: &Path) -> anyhow::Result<Option<Arc<ValidatorKeys>>> {
    let keystore = base.join("keystore");
    let read = |name: &str| -> anyhow::Result<Option<String>> {
        let path = keystore.join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("reading {}: {e}", path.display())),
        }
    };
    let account = match (&args.validator_key, args.shared.dev) {
        (Some(s), _) => Some(s.clone()),
        (None, true) => Some("//Alice".to_string()),
        (None, false) if args.validator => Some(read("account")?.ok_or_else(|| {
            anyhow!(
                "--validator needs keys: --validator-key and --bls-key, or the files {}/account and {}/bls",
                keystore.display(),
                keystore.display()
            )
        })?),
        (None, false) => None,
    };
    let Some(account) = account else {
        return Ok(None);
    };
    let bls = match &args.bls_key {
        Some(s) => s.clone(),
        None => match read("bls")? {
            Some(s) => s,
            // A development name gives the development BLS key of the same name.
            None if account.starts_with("//") => account.clone(),
            None => bail!(
                "--bls-key is needed with a hex --validator-key (or the file {}/bls)",
                keystore.display()
            ),
        },
    };
    let account_key =
        keyring::parse_secret(&account).map_err(|e| anyhow!("validator account key: {e}"))?;
    let bls_seed = keyring::parse_seed(&bls, keyring::dev_bls_seed)
        .map_err(|e| anyhow!("validator BLS key: {e}"))?;
    Ok(Some(Arc::new(ValidatorKeys {
        account: account_key,
        bls: menara_crypto::BlsSecretKey::from_seed(&bls_seed),
    })))
}

pub fn build_spec(chain: &str, raw: bool) -> anyhow::Result<()> {
    let spec = ChainSpec::load(chain)?;
    let spec = if raw {
        let executor = menara_executor::Executor::new(Default::default())?;
        let storage = menara_service::build_genesis_storage(&spec, &executor)?;
        spec.into_raw(&storage)
    } else {
        spec
    };
    println!("{}", spec.to_json()?);
    Ok(())
}

/// The base path a database command (`purge-chain`, `export-blocks`, `import-blocks`) acts
/// on. A `--dev` node without `--base-path` keeps its state in a temporary folder that is
/// deleted when it stops, so there is no dev database to act on unless the node was given a
/// base path: refuse rather than quietly look in the default folder.
fn base_for(shared: &SharedArgs, command: &str) -> anyhow::Result<PathBuf> {
    match (&shared.base_path, shared.dev) {
        (Some(p), _) => Ok(p.clone()),
        (None, true) => bail!(
            "`menara --dev` keeps its state in a temporary folder deleted when the node stops, so there is no dev database for `{command}` to use; give the base path the node ran with: `menara {command} --dev --base-path DIR` (after `menara --dev --base-path DIR`)"
        ),
        (None, false) => Ok(default_base_path()),
    }
}

pub fn purge_chain(shared: &SharedArgs, yes: bool) -> anyhow::Result<()> {
    let spec = load_spec(shared)?;
    let path = chain_path(&base_for(shared, "purge-chain")?, &spec);
    if !path.exists() {
        println!("{} does not exist; nothing to purge", path.display());
        return Ok(());
    }
    if !yes {
        print!("Delete {}? [y/N]: ", path.display());
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Aborted");
            return Ok(());
        }
    }
    for sub in ["db", "wasm-cache"] {
        let p = path.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    println!("{} removed", path.display());
    Ok(())
}

/// Opens the chain's database; `must_exist` refuses to create an empty one (exporting from
/// a folder that holds no chain is a mistake, importing into a new one is not).
fn open_client(
    shared: &SharedArgs,
    command: &str,
    must_exist: bool,
) -> anyhow::Result<Arc<Client>> {
    let spec = load_spec(shared)?;
    let path = chain_path(&base_for(shared, command)?, &spec);
    if must_exist && !path.join("db").exists() {
        bail!(
            "no database of chain `{}` at {}: pass the --base-path (and --chain) the node ran with",
            spec.id,
            path.display()
        );
    }
    let config = NodeConfig::new(spec.clone(), path);
    Ok(Client::open(&config, Arc::new(Metrics::new()))?)
}

pub fn export_blocks(
    shared: &SharedArgs,
    from: u64,
    to: Option<u64>,
    output: &Path,
) -> anyhow::Result<()> {
    let client = open_client(shared, "export-blocks", true)?;
    let db = client.database();
    let (best, _) = client.best();
    let to = to.unwrap_or(best).min(best);
    let file =
        std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut out = std::io::BufWriter::new(file);
    out.write_all(EXPORT_MAGIC)?;
    out.write_all(client.genesis_hash().as_bytes())?;
    let mut count = 0u64;
    for number in from.max(1)..=to {
        let hash = db
            .hash_at(number)?
            .ok_or_else(|| anyhow!("block #{number} missing from the database"))?;
        let block = db
            .block(&hash)?
            .ok_or_else(|| anyhow!("block {hash} missing from the database"))?;
        let bytes = block.encode();
        out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        out.write_all(&bytes)?;
        count += 1;
    }
    out.flush()?;
    println!(
        "exported {count} blocks (#{}..#{to}) to {}",
        from.max(1),
        output.display()
    );
    Ok(())
}

pub fn import_blocks(shared: &SharedArgs, input: &Path) -> anyhow::Result<()> {
    let client = open_client(shared, "import-blocks", false)?;
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut magic = [0u8; 8];
    reader
        .read_exact(&mut magic)
        .context("reading the file header")?;
    if &magic != EXPORT_MAGIC {
        bail!(
            "{} is not a menara block export (bad magic)",
            input.display()
        );
    }
    let mut genesis = [0u8; 32];
    reader
        .read_exact(&mut genesis)
        .context("reading the file header")?;
    if genesis != client.genesis_hash().0 {
        bail!(
            "the blocks belong to another chain (genesis 0x{}, this chain {})",
            hex::encode(genesis),
            client.genesis_hash()
        );
    }
    let (mut imported, mut skipped) = (0u64, 0u64);
    loop {
        let mut len = [0u8; 4];
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_EXPORTED_BLOCK {
            bail!("block record of {len} bytes is larger than allowed ({MAX_EXPORTED_BLOCK}); the file is corrupt");
        }
        let mut bytes = vec![0u8; len as usize];
        reader
            .read_exact(&mut bytes)
            .context("the file ends inside a block")?;
        let block = Block::decode(&mut &bytes[..])
            .map_err(|e| anyhow!("undecodable block in file: {e}"))?;
        let number = block.header.number;
        if let Some(existing) = client.database().hash_at(number)? {
            if existing == block.hash() {
                skipped += 1;
                continue;
            }
            bail!("block #{number} in the file differs from the stored one");
        }
        client
            .import_block(&block)
            .with_context(|| format!("importing block #{number}"))?;
        imported += 1;
    }
    client.close();
    println!(
        "imported {imported} blocks, {skipped} already present; best #{}",
        client.best().0
    );
    Ok(())
}
