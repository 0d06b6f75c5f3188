//! Menara's JSON-RPC server (HTTP and WebSocket on one port) and a typed client.
//!
//! The node implements [`NodeApi`]; [`start_server`] serves it. Methods follow Substrate's
//! names where they fit (`chain_getHeader`, `state_getReadProof`,
//! `author_submitAndWatchExtrinsic`, ...); bytes, hashes and accounts travel as `"0x"` hex
//! strings and `u128` amounts as decimal strings. Error codes: see [`error`].
//!
//! | method | params | result |
//! | --- | --- | --- |
//! | `system_health` / `_name` / `_version` / `_chain` / `_peers` | – | `Health` / string / string / string / `[]` |
//! | `system_accountNextIndex` | account | number |
//! | `rpc_methods` | – | `{"methods": [...]}` |
//! | `chain_getHeader` | at? | `Header` or null |
//! | `chain_getBlock` | at? | `{"block": {"header", "extrinsics": ["0x.."]}, "justification": null}` or null |
//! | `chain_getBlockHash` | number? (integer or `"0x1a"`) | hash or null |
//! | `chain_getFinalizedHead` | – | hash |
//! | `chain_subscribeNewHeads` / `chain_subscribeFinalizedHeads` | – | notifications `chain_newHead` / `chain_finalizedHead`; the current head first |
//! | `state_getStorage` | key, at? | `"0x.."` or null |
//! | `state_getReadProof` | keys (≤ 1,000), at? | `{"at", "stateRoot", "proof": [{"key", "value", "proof": "0x<SCALE StateProof>"}]}` |
//! | `state_getRuntimeVersion` (alias `chain_getRuntimeVersion`) | at? | `RuntimeVersion` |
//! | `state_call` | method, data, at? | `"0x.."` |
//! | `author_submitExtrinsic` | extrinsic | hash |
//! | `author_submitAndWatchExtrinsic` | extrinsic | notifications `author_extrinsicUpdate`, ending after a final status |
//! | `author_transactionOutcome` | transaction hash | `{"blockHash", "blockNumber", "index", "success", "error"}` or null |
//! | `author_pendingExtrinsics` (unsafe) | – | `["0x.."]` |
//! | `balances_getAccount` | account | `{"nonce": n, "free": "decimal"}` |
//! | `balances_totalIssuance` | – | `"decimal"` |
//! | `models_list` | startAfter?, limit? (≤ 100) | `[Model]` (see `models_get`) |
//! | `models_get` | id | `{"id", "name", "version", "owner", "kind", "shape", "numericsVersion", "size", "fileRoot", "royaltyPerInference", "previous", "next", "deprecated", "heldLocally", ...}` or null |
//! | `models_shares` / `models_claimable` | id, account | number / `"decimal"` |
//! | `models_importFile` (unsafe) | path on the node's machine | content id |
//! | `models_fetch` (unsafe) / `models_fetchStatus` | id | `ModelFetchStatus` / or null |
//! | `compute_providers` | startAfter? (account), limit? (≤ 100) | `[ProviderJson]` (see [`types::ProviderJson`]) |
//! | `compute_provider` | account | `{"account", "offer": {"gpu": "H100", "gpuCount", "vramGib", "region"}, "collateral", "requiredCollateral", "status", "record", ...}` or null |
//! | `compute_orders` | startAfter? (order id), limit? (≤ 100) | `[OrderJson]`: open orders with their bids |
//! | `compute_order` | id | `{"id", "tenant", "resources", "maxPricePerBlock", "duration", "escrow", "bids", ...}` or null |
//! | `compute_leases` | account, limit? (≤ 100) | `[LeaseJson]`: leases it is tenant or provider of, newest first |
//! | `compute_lease` | id | `{"id", "tenant", "provider", "pricePerBlock", "start", "end", "dryAt", "escrow", "paid", "state", "closeReason", ...}` or null |
//! | `compute_challenges` | account | `[ChallengeJson]`: open challenges of a provider |
//! | `compute_challenge` | id | `{"id", "lease", "provider", "seed", "shape", "answerBy", "state", "auditStep", ...}` or null |
//! | `compute_summary` | – | `{"activeLeases", "totalHeld", "totalBurned"}` |
//! | `compute_pending` | account | `"decimal"`: payouts kept for the account |
//! | `inference_job` | id | `{"id", "client", "provider", "model", "state", "fee", "royalty", "verificationFee", "submittedAt", "commitBy", "committedAt", "windowEnds", "root", "commitment", "input", "output", "checks", "challengesRejected", "outcome"}` or null (see [`types::JobJson`]) |
//! | `inference_jobs` | account, limit? (≤ 25) | `[JobJson]`: jobs it is client or provider of, newest first |
//! | `inference_providerJobs` / `inference_verifierJobs` | account | `[JobJson]`: jobs waiting for the provider's commitment / the verifier's answer |
//! | `inference_verifier` | account | `{"account", "bond", "status", "leavingSince", "attested", "missed", "slashed", "earned", "openChecks"}` or null |
//! | `inference_prices` | model id | `[{"provider", "price", "unsettled", "capacity"}]` |
//! | `inference_summary` | – | `{"jobs", "activeVerifiers", "samplePerMill", "doublePerMill", "verificationPool", "totalHeld", "totalBurned"}` |
//! | `inference_pending` | account | `"decimal"`: payouts kept for the account |
//! | `agents_agent` | account | `{"account", "owner", "name", "model", "endpoint", "registeredAt", "slashes", "retired", "commissionPerMill", "totalStake", "ownerBond", "spends", "openOrders"}` or null (see [`types::AgentJson`]) |
//! | `agents_list` | – | `[AgentJson]`: every agent, by account |
//! | `agents_grants` | agent | `[{"agent", "owner", "id", "budget", "per", "maxPerCall", "recipients", "calls": ["balances.transfer", ...], "expires", "grantedAt", "confirmedSlashes", "spentInWindow", "remaining", "frozen"}]` (see [`types::GrantJson`]) |
//! | `agents_spends` | agent, before? (log index), limit? (≤ 100, default 25) | `[{"index", "owner", "grant", "call", "recipient", "amount", "fee", "block", "job": {"job", "model", "inputHash", "outputHash"} or null}]`: the agent's acts, newest first (see [`types::SpendJson`]) |
//! | `agents_orders` | agent | `[AgentOrderJson]`: its open and accepted orders |
//! | `agents_order` | id | `{"id", "client", "agent", "payment", "request", "deadlineBlocks", "placedAt", "state", "deadline"}` or null (see [`types::AgentOrderJson`]) |
//! | `governance_referenda` | before? (index), limit? (≤ 100) | `[ReferendumJson]`: newest first (see `governance_referendum`) |
//! | `governance_referendum` | index | `{"index", "proposer", "deposit", "call": {"kind": "upgrade", "specVersion", "codeHash"} or {"kind": "call", "name", "pallet", "call"}, "callHash", "callLen", "submitted", "end", "status": "ongoing"/"passed"/"rejected"/"cancelled"/"enacted", "enactAt", "succeeded", "ayes", "nays", "turnout", "quorum", "cancelVotes", "cancelPerMill"}` or null |
//! | `governance_vote` | index, account | `{"aye", "own", "carried", "weight", "pulled": [{"validator", "amount"}]}` or null |
//! | `governance_summary` | – | `{"votingPeriod", "enactmentDelay", "quorum", "totalHeld", "parameters": [{"name", "value", "min", "max"}]}` |
//! | `contracts_info` | address | `{"address", "codeHash", "deployer", "admin", "balance", "items", "bytes", "storageDeposit", "baseDeposit", "reentrant"}` or null |
//! | `contracts_code` | codeHash | `{"owner", "deposit", "refcount", "size", "reentrant", "code"}` or null |
//! | `contracts_storage` | address, key (hex) | value (hex) or null |
//! | `contracts_call` | origin, address, input (hex), value?, fuelLimit?, storageDepositLimit? | dry run, nothing kept: `{"result": {"ok": hex} / {"revert": hex} / {"error": {"pallet", "error", "message"}}, "fuelUsed", "storageDeposit", "debug", "events": [{"contract", "topics", "data"}]}` |
//! | `contracts_instantiate` | origin, code (hex) or codeHash, input?, value?, fuelLimit?, storageDepositLimit?, salt?, immutable? | dry run like `contracts_call`, plus `"address"` |
pub mod api;
pub mod client;
pub mod error;
mod methods;
mod params;
mod server;
pub mod types;

pub use api::{
    ApiError, Health, ModelFetchState, ModelFetchStatus, NodeApi, PeerSummary, ReadProof,
    SystemInfo, TransactionOutcome, TransactionStatus,
};
pub use error::RpcError;
pub use methods::{
    rpc_module, DEFAULT_AGENT_SPENDS_PER_PAGE, MAX_AGENT_SPENDS_PER_PAGE, MAX_INFERENCE_PER_PAGE,
    MAX_READ_PROOF_KEYS, UNSAFE_METHODS,
};
pub use server::{
    start_server, Cors, RpcConfig, RpcHandle, RpcMethods, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_PAYLOAD,
    DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_PORT,
};
