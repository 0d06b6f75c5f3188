//! Command-line interface (Substrate's flags where they fit).
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The Menara node and wallet. Without a subcommand, runs a node.
#[derive(Debug, Parser)]
#[command(
    name = "menara",
    version,
    about = "Menara: a layer-1 chain for decentralised AI",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Log filter, e.g. `info`, `debug`, `menara=debug,executor=trace` (RUST_LOG overrides).
    #[arg(long, short = 'l', global = true)]
    pub log: Option<String>,
}

/// Flags shared by commands that open a chain's database.
#[derive(Debug, Args, Clone)]
pub struct SharedArgs {
    /// Chain spec: `dev`, `local`, or a path to a JSON chain spec.
    #[arg(long, value_name = "SPEC")]
    pub chain: Option<String>,
    /// Development chain: `--chain dev`, authoring as //Alice, state in a temporary folder
    /// unless `--base-path` is given.
    #[arg(long)]
    pub dev: bool,
    /// Where node data lives (default: ~/.local/share/menara).
    #[arg(long, short = 'd', value_name = "PATH")]
    pub base_path: Option<PathBuf>,
}

/// Running a node.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub shared: SharedArgs,
    /// Use a temporary folder for node data, deleted at exit.
    #[arg(long)]
    pub tmp: bool,
    /// Node name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Take part in consensus (this node's keys must be in the chain's validator set).
    /// Keys come from --validator-key/--bls-key, or else from the files `keystore/account`
    /// and `keystore/bls` in the base path (one secret per file).
    #[arg(long)]
    pub validator: bool,
    /// Secret of the validator's account key (ed25519): `//Name` (development) or a hex
    /// seed. Default with --dev: //Alice.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MENARA_VALIDATOR_KEY",
        hide_env_values = true
    )]
    pub validator_key: Option<String>,
    /// Secret of the validator's consensus key (BLS12-381): `//Name` or a hex seed, as
    /// printed by `menara key generate --scheme bls`. Default: the development BLS key of
    /// the same `//Name` as --validator-key.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MENARA_BLS_KEY",
        hide_env_values = true
    )]
    pub bls_key: Option<String>,
    /// Run the compute provider workers: answer this account's availability challenges
    /// (register first with `menara tx compute register`) and run and commit the inference
    /// jobs assigned to it. It computes with CUDA when a GPU and driver are present, else
    /// on the CPU; models come from the node's store, fetched from peers when missing. The
    /// account key comes from --provider-key, else --validator-key, else the file
    /// `keystore/account` in the base path.
    #[arg(long)]
    pub provider: bool,
    /// Secret of the provider's account key (ed25519): `//Name` or a hex seed.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MENARA_PROVIDER_KEY",
        hide_env_values = true,
        requires = "provider"
    )]
    pub provider_key: Option<String>,
    /// Run the verifier worker: re-execute the sampled inference jobs this account is drawn
    /// for and attest or dispute them (register first with `menara tx inference
    /// register-verifier`). The account key comes from --verifier-key, else --validator-key,
    /// else the file `keystore/account` in the base path; it may be the provider's.
    #[arg(long)]
    pub verifier: bool,
    /// Secret of the verifier's account key (ed25519): `//Name` or a hex seed.
    #[arg(
        long,
        value_name = "SECRET",
        env = "MENARA_VERIFIER_KEY",
        hide_env_values = true,
        requires = "verifier"
    )]
    pub verifier_key: Option<String>,
    /// TEST ONLY: commit N per thousand of the provider's inference jobs wrong on purpose
    /// (one layer corrupted, the later ones recomputed from it), to exercise disputes. The
    /// provider is slashed when a verifier catches it.
    #[arg(
        long,
        hide = true,
        value_name = "N",
        requires = "provider",
        value_parser = clap::value_parser!(u32).range(0..=1000)
    )]
    pub unsafe_test_cheat_per_mill: Option<u32>,
    /// Peers to connect to first: multiaddrs ending in `/p2p/<peer id>`.
    #[arg(long, value_name = "MULTIADDR", num_args = 1..)]
    pub bootnodes: Vec<String>,
    /// Listen address for peer-to-peer connections (default: all interfaces on --port).
    #[arg(long, value_name = "MULTIADDR")]
    pub listen_addr: Option<String>,
    /// Do not use the network (a lone node; the validator set must be this node alone).
    #[arg(long)]
    pub no_network: bool,
    /// TEST ONLY: sign a conflicting prevote for every prevote. The equivocation is reported
    /// by the other validators and this validator is slashed and removed.
    #[arg(long, hide = true)]
    pub unsafe_test_equivocate: bool,
    /// TEST ONLY: corrupt every model chunk served to peers, which must refuse them and
    /// fetch from another peer.
    #[arg(long, hide = true)]
    pub unsafe_test_corrupt_model_chunks: bool,
    /// Target block time in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS", value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub block_time_ms: u64,
    /// JSON-RPC port (HTTP and WebSocket).
    #[arg(long, default_value_t = 9944, value_name = "PORT")]
    pub rpc_port: u16,
    /// Listen for JSON-RPC on all interfaces instead of 127.0.0.1.
    #[arg(long)]
    pub rpc_external: bool,
    /// Which RPC methods to serve: `auto` = unsafe ones only on localhost.
    #[arg(long, value_enum, default_value_t = RpcMethodsArg::Auto)]
    pub rpc_methods: RpcMethodsArg,
    /// Maximum simultaneous RPC WebSocket connections; HTTP requests have a pool of the
    /// same size of their own, so WebSockets cannot lock HTTP clients out.
    #[arg(long, default_value_t = menara_rpc::DEFAULT_MAX_CONNECTIONS, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub rpc_max_connections: u32,
    /// Maximum simultaneous RPC connections from one IP address.
    #[arg(long, default_value_t = menara_rpc::DEFAULT_MAX_CONNECTIONS_PER_IP, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub rpc_max_connections_per_ip: u32,
    /// Maximum subscriptions on one RPC WebSocket connection.
    #[arg(long, default_value_t = menara_rpc::DEFAULT_MAX_SUBSCRIPTIONS, value_name = "COUNT")]
    pub rpc_max_subscriptions_per_connection: u32,
    /// Close RPC connections with no traffic in either direction for this many seconds
    /// (0: never).
    #[arg(long, default_value_t = menara_rpc::DEFAULT_IDLE_TIMEOUT.as_secs(), value_name = "SECONDS")]
    pub rpc_idle_timeout: u64,
    /// Disable the JSON-RPC server.
    #[arg(long)]
    pub no_rpc: bool,
    /// Peer-to-peer TCP port (default 30333; with --dev a free port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Prometheus metrics port.
    #[arg(long, default_value_t = 9615, value_name = "PORT")]
    pub prometheus_port: u16,
    /// Serve Prometheus metrics on all interfaces.
    #[arg(long)]
    pub prometheus_external: bool,
    /// Disable the Prometheus endpoint.
    #[arg(long)]
    pub no_prometheus: bool,
    /// Most transactions kept in the pool.
    #[arg(long, default_value_t = 8192)]
    pub pool_limit: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RpcMethodsArg {
    Auto,
    Safe,
    Unsafe,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Key management.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the chain spec as JSON (`--raw`: with the exact genesis storage).
    BuildSpec {
        #[arg(long, value_name = "SPEC", default_value = "dev")]
        chain: String,
        /// Output the raw genesis storage instead of the human-readable genesis.
        #[arg(long)]
        raw: bool,
    },
    /// Delete a chain's database.
    PurgeChain {
        #[command(flatten)]
        shared: SharedArgs,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Write blocks to a file.
    ExportBlocks {
        #[command(flatten)]
        shared: SharedArgs,
        /// First block (default 1).
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last block (default: best).
        #[arg(long)]
        to: Option<u64>,
        /// Output file.
        output: PathBuf,
    },
    /// Execute and store blocks from a file written by `export-blocks`.
    ImportBlocks {
        #[command(flatten)]
        shared: SharedArgs,
        /// Input file.
        input: PathBuf,
    },
    /// Sign a transaction locally and submit it over JSON-RPC.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Read chain state over JSON-RPC.
    #[command(subcommand)]
    Query(QueryCommand),
    /// AI models: publish a model file on chain and in the node's store, fetch one from peers.
    #[command(subcommand)]
    Model(ModelCommand),
    /// AI agents: sign an agent's answer, list the call names grants use.
    #[command(subcommand)]
    Agents(crate::agents::AgentsCommand),
    /// Contracts: build a contract crate, deploy it, call and query its messages.
    #[command(subcommand)]
    Contract(crate::contract::ContractCommand),
}

/// Model commands that move files as well as transactions.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Register a model file (`gpu-verify import-minilm` / `random-model` output) on chain
    /// and hand the file to the node, which stores it and serves it to peers. Prints the
    /// model id: its content hash, as `gpu-verify hash --model FILE` computes it.
    #[command(disable_version_flag = true)]
    Publish {
        /// The `.mvm` file; it must be readable by the node too (same machine).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Name, e.g. `all-MiniLM-L6-v2` (visible ASCII, no spaces, at most 64 bytes).
        #[arg(long)]
        name: String,
        /// Version, `MAJOR.MINOR.PATCH`.
        #[arg(long)]
        version: String,
        /// Royalty per inference, in MEN.
        #[arg(long, default_value = "0")]
        royalty: String,
        /// Publish as the next version of this model (same name, higher version, same owner).
        #[arg(long, value_name = "MODEL ID")]
        previous: Option<String>,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Make the node download a registered model from its peers (every chunk verified
    /// against the registry before it is written), showing progress.
    Fetch {
        /// The model id.
        id: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Registry transactions of a model's owner and share holders; each waits for finality.
#[derive(Debug, Subcommand)]
pub enum ModelTx {
    /// Mark a model as not to be used any more.
    Deprecate {
        id: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Change the royalty per inference (jobs submitted after the change pay it).
    SetRoyalty {
        id: String,
        /// New royalty per inference, in MEN.
        #[arg(long)]
        royalty: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Hand the model's management to another account (shares stay where they are).
    TransferOwnership {
        id: String,
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Move royalty shares (of 1,000,000) to another account.
    TransferShares {
        id: String,
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        #[arg(long)]
        shares: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Claim the royalties the signer's shares earned.
    Claim {
        id: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Remove a model (the latest version, all shares with the owner); refunds the deposit.
    Remove {
        id: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new random key and print its secret seed and public key: an ed25519
    /// account (signs transactions) or a BLS12-381 consensus key with its proof of possession.
    Generate {
        /// `ed25519` for accounts, `bls` for validators' consensus keys.
        #[arg(long, value_enum, default_value_t = Scheme::Ed25519)]
        scheme: Scheme,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Write the secret seed to this file (created with owner-only permissions; an
        /// existing file is never overwritten) instead of printing it.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Show the account of a secret, or describe an account. A `0x` + 64-hex-digit value
    /// could be either, so it needs `--public` (an account) or `--secret` (a seed).
    Inspect {
        /// `//Name`, a key file, or a 0x value with --public (account) or --secret (seed).
        secret_or_address: String,
        /// `ed25519` for accounts, `bls` for validators' consensus keys.
        #[arg(long, value_enum, default_value_t = Scheme::Ed25519)]
        scheme: Scheme,
        /// The argument is an account id (0x + 64 hex digits).
        #[arg(long, conflicts_with = "secret")]
        public: bool,
        /// The argument is a secret seed (0x + 64 hex digits).
        #[arg(long)]
        secret: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a validator's key into its keystore (`<base>/keystore/account` for ed25519,
    /// `<base>/keystore/bls` for BLS), readable by the owner only, where
    /// `menara --validator --base-path DIR` finds it.
    Insert {
        /// The node's base path.
        #[arg(long, short = 'd', value_name = "PATH")]
        base_path: PathBuf,
        /// `ed25519` for the validator's account, `bls` for its consensus key.
        #[arg(long, value_enum)]
        scheme: Scheme,
        /// The secret: `//Name` or a 0x seed. Read from standard input when left out (keeps
        /// it out of shell history).
        #[arg(long, value_name = "SECRET")]
        suri: Option<String>,
        /// Replace a different key already in the keystore.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scheme {
    /// Accounts and transaction signatures.
    Ed25519,
    /// Consensus votes (BLS12-381, min_pk, proof-of-possession ciphersuite).
    Bls,
}

/// Where the wallet sends requests.
#[derive(Debug, Args, Clone)]
pub struct RpcArgs {
    /// Node's JSON-RPC WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:9944", value_name = "URL")]
    pub rpc: String,
}

#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Transfer MEN to an account.
    Transfer {
        /// Sender secret: `//Name`, a 0x seed, or a key file holding one.
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// Recipient account (0x + 64 hex digits).
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        /// Amount in MEN (up to 12 decimals), e.g. 10 or 0.25.
        #[arg(long)]
        amount: String,
        /// Extra fee for priority, in MEN.
        #[arg(long, default_value = "0")]
        tip: String,
        #[command(flatten)]
        rpc: RpcArgs,
        /// Return once the node accepted it instead of waiting for finality.
        #[arg(long)]
        no_wait: bool,
    },
    /// Record a remark on chain (pays the fee, changes nothing else).
    Remark {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// Text of the remark.
        text: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Staking: register a validator, bond, delegate, undelegate, withdraw, claim rewards.
    #[command(subcommand)]
    Staking(StakingTx),
    /// Model registry: deprecate, set royalty, transfer ownership or shares, claim, remove.
    #[command(subcommand)]
    Model(ModelTx),
    /// Compute market: register as a GPU provider, order GPU time, bid, accept, top up,
    /// close, withdraw.
    #[command(subcommand)]
    Compute(ComputeTx),
    /// Verified inference: submit a job, set a provider's price, register as a verifier,
    /// attest, challenge a wrong result, withdraw.
    #[command(subcommand)]
    Inference(crate::inference::InferenceTx),
    /// AI agents: register an agent, grant or revoke its authority over your funds, act
    /// as an agent, delegate to its pool, order work, report misbehaviour.
    #[command(subcommand)]
    Agents(crate::agents::AgentsTx),
    /// Governance: propose a referendum (a call, or a runtime upgrade), vote with bonded
    /// stake, ask as a validator to cancel a passed one.
    #[command(subcommand)]
    Governance(crate::governance::GovernanceTx),
}

/// Compute market transactions; each is signed locally by `--from` and waits for finality.
#[derive(Debug, Subcommand)]
pub enum ComputeTx {
    /// Register as a provider: what the node offers and the collateral held against it (at
    /// least 100 MEN per GPU times the class weight: H200 5, H100 4, A100 3, L40S 2,
    /// RTX4090 1). A failed availability challenge slashes it.
    Register {
        /// GPU class: H100, H200, A100, L40S or RTX4090.
        #[arg(long, value_name = "CLASS")]
        gpu: String,
        /// Number of GPUs offered.
        #[arg(long, value_name = "COUNT")]
        gpu_count: u32,
        /// Memory per GPU, GiB.
        #[arg(long, value_name = "GIB")]
        vram_gib: u32,
        /// Region, e.g. `eu` (letters, digits and `-`, at most 16).
        #[arg(long)]
        region: String,
        /// Models served: registered model ids, comma-separated.
        #[arg(long, value_name = "MODEL IDS", value_delimiter = ',')]
        models: Vec<String>,
        /// Asking price per block for the whole offer, in MEN (bids set the real price).
        #[arg(long, value_name = "MEN")]
        price_per_block: String,
        /// Collateral to hold, in MEN.
        #[arg(long, value_name = "MEN")]
        collateral: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Add collateral (e.g. after a slash, to keep bidding).
    AddCollateral {
        /// Amount in MEN.
        #[arg(long, value_name = "MEN")]
        amount: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Stop bidding and give running leases notice; the collateral unbonds (still
    /// slashable) and is withdrawn with `withdraw-collateral` once the last lease closed.
    Leave {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Take back the collateral and earnings of a provider that left, once unbonded.
    WithdrawCollateral {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Order GPU time: the escrow (at least 60 blocks at the maximum price, or the whole
    /// duration if shorter) is held and pays the provider block by block. Prints the order id.
    Order {
        /// GPU class: H100, H200, A100, L40S or RTX4090.
        #[arg(long, value_name = "CLASS")]
        gpu: String,
        /// Number of GPUs.
        #[arg(long, value_name = "COUNT")]
        gpu_count: u32,
        /// Minimum memory per GPU, GiB.
        #[arg(long, value_name = "GIB")]
        vram_gib: u32,
        /// Region the provider must be in (default: any).
        #[arg(long)]
        region: Option<String>,
        /// A registered model the provider must serve.
        #[arg(long, value_name = "MODEL ID")]
        model: Option<String>,
        /// Highest price per block accepted, in MEN.
        #[arg(long, value_name = "MEN")]
        max_price_per_block: String,
        /// Lease duration, in blocks.
        #[arg(long, value_name = "BLOCKS")]
        duration: u64,
        /// Escrow to deposit, in MEN.
        #[arg(long, value_name = "MEN")]
        escrow: String,
        /// Take the cheapest bid automatically 10 blocks after opening.
        #[arg(long)]
        auto_match: bool,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Cancel an open order: the escrow and every bid deposit are refunded.
    CancelOrder {
        /// The order id (or --order).
        #[arg(value_name = "ID", required_unless_present = "order")]
        id: Option<u64>,
        /// The order id.
        #[arg(long, value_name = "ID", conflicts_with = "id")]
        order: Option<u64>,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Bid on an order as a provider (holds a 1 MEN deposit). Prints the bid id.
    Bid {
        #[arg(long, value_name = "ID")]
        order: u64,
        /// Price per block, in MEN (at most the order's maximum).
        #[arg(long, value_name = "MEN")]
        price_per_block: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Accept a bid on your order: the lease starts. Prints the lease id.
    Accept {
        #[arg(long, value_name = "ID")]
        order: u64,
        #[arg(long, value_name = "ID")]
        bid: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Add escrow to a running lease (anyone may).
    TopUp {
        #[arg(long, value_name = "ID")]
        lease: u64,
        /// Amount in MEN.
        #[arg(long, value_name = "MEN")]
        amount: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Close a lease: the tenant closes it at once (unspent escrow refunded); the provider
    /// gives notice and it ends 60 blocks later.
    Close {
        #[arg(long, value_name = "ID")]
        lease: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Pay a running lease up to now (anyone may).
    Settle {
        #[arg(long, value_name = "ID")]
        lease: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Withdraw a provider's earnings and any payouts kept for the signer.
    Withdraw {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Staking transactions; each is signed locally by `--from` and waits for finality.
#[derive(Debug, Subcommand)]
pub enum StakingTx {
    /// Register as a validator: bond `--self-bond` MEN and register the consensus key (its
    /// proof of possession is computed from the secret and checked by the runtime). It
    /// enters the active set at the next epoch boundary if its total stake ranks high enough.
    Validate {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// Consensus key secret (`//Name` or the 0x seed from `menara key generate --scheme bls`).
        #[arg(long, value_name = "SECRET")]
        bls_key: String,
        /// Commission on delegators' rewards, per mill (0-1000).
        #[arg(long, default_value_t = 50)]
        commission_per_mill: u32,
        /// Self-bond in MEN.
        #[arg(long)]
        self_bond: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Bond more of a validator's own stake.
    BondMore {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Delegate MEN to a validator.
    Delegate {
        #[arg(long, value_name = "SECRET")]
        from: String,
        /// The validator's account.
        #[arg(long, value_name = "ADDRESS")]
        validator: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Start unbonding a delegation (withdrawable after the unbonding period). To
    /// re-delegate, undelegate, withdraw, then delegate again.
    Undelegate {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[arg(long, value_name = "ADDRESS")]
        validator: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Withdraw every unbonding entry whose period is over.
    Withdraw {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Claim the rewards of a delegation (a validator claiming on itself also gets its
    /// commission).
    Claim {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[arg(long, value_name = "ADDRESS")]
        validator: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Stop validating from the next epoch.
    Chill {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Leave jail after the jail period.
    Unjail {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Staking queries.
#[derive(Debug, Subcommand)]
pub enum StakingQuery {
    /// Every registered validator: stake, commission, state.
    Validators {
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// An account's delegations (with pending rewards) and unbonding entries.
    Delegations {
        /// Account (0x...) or `//Name`.
        account: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Rewards a delegator can claim from a validator now.
    Rewards {
        /// Delegator (0x...) or `//Name`.
        delegator: String,
        /// Validator (0x...) or `//Name`.
        validator: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// The current epoch, total bonded/unbonding, minted rewards, burned slashes, issuance.
    Epoch {
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Compute market queries: human-readable lines, or the RPC's JSON with `--json`.
#[derive(Debug, Subcommand)]
pub enum ComputeQuery {
    /// Registered providers: offer, collateral, GPUs leased, status, record.
    Providers {
        /// Start after this provider (the last of the previous page).
        #[arg(long, value_name = "ADDRESS")]
        start_after: Option<String>,
        /// At most this many providers (1-100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One provider.
    Provider {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Open orders with their bids.
    Orders {
        /// Start after this order id (the last of the previous page).
        #[arg(long, value_name = "ID")]
        start_after: Option<u64>,
        /// At most this many orders (1-100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One open order with its bids.
    Order {
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Leases an account is tenant or provider of, newest first.
    Leases {
        /// Account (0x...) or `//Name`.
        account: String,
        /// At most this many leases (1-100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One lease, settled as of the best block: price, blocks, escrow left, paid, state.
    Lease {
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Open availability challenges of a provider.
    Challenges {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One challenge.
    Challenge {
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Running leases, funds held by the market, slashes burned.
    Summary {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Balance and nonce of an account.
    Balance {
        /// Account (0x + 64 hex digits) or a secret `//Name`.
        account: String,
        #[command(flatten)]
        rpc: RpcArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Total issuance.
    Issuance {
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Staking: validators, delegations, rewards, epoch.
    #[command(subcommand)]
    Staking(StakingQuery),
    /// Registered models: `menara query model list`, or one model by id (name, version,
    /// owner, kind and shape, numerics, size, royalty, linked versions, whether this node
    /// holds the file).
    Model {
        /// `list`, or a model id.
        what: String,
        /// With `list`: start after this model id (the last of the previous page).
        #[arg(long, value_name = "MODEL ID")]
        start_after: Option<String>,
        /// With `list`: at most this many models (1-100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Compute market: providers, orders, leases, challenges, summary.
    #[command(subcommand)]
    Compute(ComputeQuery),
    /// Verified inference: jobs, verifiers, prices, summary, pending payouts.
    #[command(subcommand)]
    Inference(crate::inference::InferenceQuery),
    /// AI agents: agents, grants, acts, orders.
    #[command(subcommand)]
    Agents(crate::agents::AgentsQuery),
    /// Governance: referenda, votes, parameters.
    #[command(subcommand)]
    Governance(crate::governance::GovernanceQuery),
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::node::run_node(cli.run).await,
        Some(Command::Key(cmd)) => crate::wallet::key(cmd),
        Some(Command::BuildSpec { chain, raw }) => crate::node::build_spec(&chain, raw),
        Some(Command::PurgeChain { shared, yes }) => crate::node::purge_chain(&shared, yes),
        Some(Command::ExportBlocks {
            shared,
            from,
            to,
            output,
        }) => crate::node::export_blocks(&shared, from, to, &output),
        Some(Command::ImportBlocks { shared, input }) => {
            crate::node::import_blocks(&shared, &input)
        }
        Some(Command::Tx(cmd)) => crate::wallet::tx(cmd).await,
        Some(Command::Query(cmd)) => crate::wallet::query(cmd).await,
        Some(Command::Model(cmd)) => crate::model::command(cmd).await,
        Some(Command::Agents(cmd)) => crate::agents::command(cmd).await,
        Some(Command::Contract(cmd)) => crate::contract::command(cmd).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clap's own consistency checks (unique names, e.g. `model publish --version` against
    /// the propagated `--version` flag) for every command.
    #[test]
    fn command_line_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
