//! Chain specifications: which chain a node runs and what its genesis holds.
//!
//! A spec is JSON. Its `genesis` is either `runtimeGenesis` (balances, validators: what
//! people write) or `raw` (the exact genesis storage as hex key/value pairs, produced by
//! `menara build-spec --raw`), so every node of a chain starts from the same bytes.
pub mod keyring;

use menara_primitives::{
    AccountId, Balance, BlockNumber, ValidatorRecord, BLS_PUBLIC_KEY_LEN, BLS_SIGNATURE_LEN,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Errors loading a chain spec.
#[derive(Debug, thiserror::Error)]
pub enum ChainSpecError {
    /// The file could not be read.
    #[error("cannot read chain spec {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON is not a chain spec.
    #[error("invalid chain spec: {0}")]
    Json(#[from] serde_json::Error),
    /// A value inside is invalid.
    #[error("invalid chain spec: {0}")]
    Invalid(String),
}

/// Genesis storage: key → value.
pub type GenesisStorage = BTreeMap<Vec<u8>, Vec<u8>>;

/// How the chain is meant to be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainType {
    /// One node, throwaway.
    Development,
    /// Several nodes on one machine.
    Local,
    /// A public network.
    Live,
}

/// A validator at genesis. Keys and proof are `0x` hex, the stake a decimal string of
/// base units (u128 does not fit JSON numbers); [`ChainSpec::validate`] checks them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisValidator {
    /// Its account (the ed25519 key that authors blocks).
    pub account: AccountId,
    /// Its consensus key: a compressed BLS12-381 G1 point (48 bytes).
    pub bls_public_key: String,
    /// Proof of possession of that key's secret (a compressed G2 point, 96 bytes).
    pub proof_of_possession: String,
    /// Its stake (voting power) in base units.
    pub stake: String,
}

impl GenesisValidator {
    /// A validator with the key `sk` and `stake`.
    pub fn new(account: AccountId, sk: &menara_crypto::BlsSecretKey, stake: Balance) -> Self {
        GenesisValidator {
            account,
            bls_public_key: format!("0x{}", hex::encode(sk.public_key().to_bytes())),
            proof_of_possession: format!("0x{}", hex::encode(sk.prove_possession().0.to_bytes())),
            stake: stake.to_string(),
        }
    }

    /// The record the runtime stores and the proof of possession it checks, after the
    /// same checks as [`ChainSpec::validate`] (lengths, hex, non-zero stake, key validity,
    /// proof of possession).
    pub fn record(&self) -> Result<(ValidatorRecord, [u8; BLS_SIGNATURE_LEN]), ChainSpecError> {
        let who = self.account;
        let key: [u8; BLS_PUBLIC_KEY_LEN] =
            decode_fixed_hex(&self.bls_public_key).ok_or_else(|| {
                ChainSpecError::Invalid(format!(
                    "validator {who}: blsPublicKey {:?} must be 0x followed by {} hex digits ({BLS_PUBLIC_KEY_LEN} bytes)",
                    self.bls_public_key,
                    2 * BLS_PUBLIC_KEY_LEN
                ))
            })?;
        let pop: [u8; BLS_SIGNATURE_LEN] =
            decode_fixed_hex(&self.proof_of_possession).ok_or_else(|| {
                ChainSpecError::Invalid(format!(
                    "validator {who}: proofOfPossession {:?} must be 0x followed by {} hex digits ({BLS_SIGNATURE_LEN} bytes)",
                    self.proof_of_possession,
                    2 * BLS_SIGNATURE_LEN
                ))
            })?;
        let stake = self.stake.parse::<Balance>().map_err(|_| {
            ChainSpecError::Invalid(format!(
                "validator {who}: stake {:?} is not a whole number of base units",
                self.stake
            ))
        })?;
        if stake == 0 {
            return Err(ChainSpecError::Invalid(format!(
                "validator {who}: stake must be greater than zero"
            )));
        }
        let public = menara_crypto::BlsPublicKey::from_bytes(&key).map_err(|e| {
            ChainSpecError::Invalid(format!(
                "validator {who}: blsPublicKey is not a valid BLS12-381 public key ({e})"
            ))
        })?;
        let proof_ok = menara_crypto::BlsSignature::from_bytes(&pop)
            .map(|sig| {
                menara_crypto::verify_possession(&public, &menara_crypto::ProofOfPossession(sig))
            })
            .unwrap_or(false);
        if !proof_ok {
            return Err(ChainSpecError::Invalid(format!(
                "validator {who}: proofOfPossession does not verify against its blsPublicKey"
            )));
        }
        Ok((
            ValidatorRecord {
                account: who,
                bls_public_key: key,
                stake,
            },
            pop,
        ))
    }
}

/// Genesis as people write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeGenesis {
    /// Initial balances in base units (decimal strings: u128 does not fit JSON numbers).
    pub balances: Vec<(AccountId, String)>,
    /// Validators.
    pub validators: Vec<GenesisValidator>,
    /// Every GPU class gets the tiny test challenge, which a CPU answers in milliseconds
    /// (development and test chains only; see `pallet_compute::GenesisConfig`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_challenges: bool,
    /// Share of inference jobs re-executed by verifiers, per thousand (default: the
    /// runtime's, 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_per_mill: Option<u32>,
    /// Share of sampled jobs given to two verifiers, per thousand (default: the runtime's,
    /// 250).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub double_per_mill: Option<u32>,
    /// Blocks a referendum is open for votes (default and maximum: the runtime's, 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voting_period: Option<BlockNumber>,
    /// Blocks between a referendum passing and its enactment (default and maximum: the
    /// runtime's, 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enactment_delay: Option<BlockNumber>,
}

/// Genesis of a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Genesis {
    /// Human-readable configuration; the node builds the state by running the runtime.
    RuntimeGenesis(RuntimeGenesis),
    /// Exact genesis storage (hex key → hex value) plus the validators.
    Raw {
        /// Storage.
        top: BTreeMap<String, String>,
        /// Validators.
        validators: Vec<GenesisValidator>,
    },
}

/// Token display properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties {
    /// Symbol, e.g. MEN.
    pub token_symbol: String,
    /// Decimals.
    pub token_decimals: u32,
}

/// A chain specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainSpec {
    /// Human name.
    pub name: String,
    /// Identifier (`dev`, `local`, ...), also the database folder name.
    pub id: String,
    /// Kind of chain.
    pub chain_type: ChainType,
    /// Nodes to connect to first.
    #[serde(default)]
    pub boot_nodes: Vec<String>,
    /// Token properties.
    pub properties: Properties,
    /// Genesis.
    pub genesis: Genesis,
}

const DEV_JSON: &str = include_str!("../../../chain-specs/dev.json");
const LOCAL_JSON: &str = include_str!("../../../chain-specs/local.json");

/// Development accounts endowed on the built-in chains.
pub const DEV_ENDOWED: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];
/// Validators of the built-in `local` chain (`dev` has only Alice).
pub const LOCAL_VALIDATORS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
/// Balance of each endowed development account: 1,000,000 MEN.
pub const DEV_ENDOWMENT: Balance = 1_000_000 * menara_primitives::MEN;
/// Stake of each development validator: 1,000,000 MEN.
pub const DEV_STAKE: Balance = 100_000 * menara_primitives::MEN;

/// Builds a `runtimeGenesis` spec of development keys (public knowledge): the generator of
/// the committed `chain-specs/dev.json` and `chain-specs/local.json`.
fn dev_keys_spec(name: &str, id: &str, chain_type: ChainType, validators: &[&str]) -> ChainSpec {
    ChainSpec {
        name: name.into(),
        id: id.into(),
        chain_type,
        boot_nodes: Vec::new(),
        properties: Properties {
            token_symbol: "MEN".into(),
            token_decimals: menara_primitives::TOKEN_DECIMALS,
        },
        genesis: Genesis::RuntimeGenesis(RuntimeGenesis {
            balances: DEV_ENDOWED
                .iter()
                .map(|n| (keyring::dev_account(n), DEV_ENDOWMENT.to_string()))
                .collect(),
            validators: validators
                .iter()
                .map(|n| keyring::dev_genesis_validator(n, DEV_STAKE))
                .collect(),
            test_challenges: true,
            // Half the jobs checked, half of those twice: development and test chains
            // show the whole verification path within a few jobs.
            sample_per_mill: Some(500),
            double_per_mill: Some(500),
            // A referendum decided in under a minute at the local network's block times.
            voting_period: Some(40),
            enactment_delay: Some(10),
        }),
    }
}

/// The `dev` chain as the keyring derives it (one validator, `//Alice`); equal to
/// `chain-specs/dev.json` (tested).
pub fn development_spec() -> ChainSpec {
    dev_keys_spec(
        "Menara Development",
        "dev",
        ChainType::Development,
        &LOCAL_VALIDATORS[..1],
    )
}

/// The `local` chain as the keyring derives it (validators `//Alice`, `//Bob`, `//Charlie`,
/// `//Dave`, equal stake); equal to `chain-specs/local.json` (tested).
pub fn local_testnet_spec() -> ChainSpec {
    dev_keys_spec(
        "Menara Local Testnet",
        "local",
        ChainType::Local,
        &LOCAL_VALIDATORS,
    )
}

impl ChainSpec {
    /// Parses a spec from JSON.
    pub fn from_json(json: &str) -> Result<Self, ChainSpecError> {
        let spec: ChainSpec = serde_json::from_str(json)?;
        spec.validate()?;
        Ok(spec)
    }

    /// `dev`, `local`, or a path to a JSON file.
    pub fn load(name_or_path: &str) -> Result<Self, ChainSpecError> {
        match name_or_path {
            "dev" => Self::from_json(DEV_JSON),
            "local" => Self::from_json(LOCAL_JSON),
            path => {
                let json = std::fs::read_to_string(Path::new(path)).map_err(|source| {
                    ChainSpecError::Io {
                        path: path.to_string(),
                        source,
                    }
                })?;
                Self::from_json(&json)
            }
        }
    }

    /// Checks balances and validators are well formed.
    pub fn validate(&self) -> Result<(), ChainSpecError> {
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ChainSpecError::Invalid(format!(
                "chain id {:?} must be non-empty ASCII letters, digits, - or _",
                self.id
            )));
        }
        match &self.genesis {
            Genesis::RuntimeGenesis(_) => {
                self.balances()?;
            }
            Genesis::Raw { top, .. } => {
                for (k, v) in top {
                    decode_hex(k)?;
                    decode_hex(v)?;
                }
            }
        }
        self.validator_records()?;
        Ok(())
    }

    /// The genesis validators as the runtime stores them, each with its proof of
    /// possession; refuses an empty set, malformed hex or lengths, zero stake, invalid keys,
    /// proofs that do not verify, and duplicate accounts or keys.
    pub fn validator_records(
        &self,
    ) -> Result<Vec<(ValidatorRecord, [u8; BLS_SIGNATURE_LEN])>, ChainSpecError> {
        let validators = self.validators();
        if validators.is_empty() {
            return Err(ChainSpecError::Invalid(
                "genesis needs at least one validator".into(),
            ));
        }
        let mut accounts = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        let mut total: Balance = 0;
        let mut out = Vec::with_capacity(validators.len());
        for v in validators {
            let (record, pop) = v.record()?;
            if !accounts.insert(record.account) {
                return Err(ChainSpecError::Invalid(format!(
                    "validator {} is listed more than once",
                    record.account
                )));
            }
            if !keys.insert(record.bls_public_key) {
                return Err(ChainSpecError::Invalid(format!(
                    "validator {}: its blsPublicKey is already another validator's",
                    record.account
                )));
            }
            total = total
                .checked_add(record.stake)
                .filter(|t| *t <= pallet_session::MAX_TOTAL_STAKE)
                .ok_or_else(|| {
                    ChainSpecError::Invalid(
                        "the validators' stakes sum past 2^100 base units, more than consensus accepts"
                            .into(),
                    )
                })?;
            out.push((record, pop));
        }
        Ok(out)
    }

    /// Genesis balances in base units.
    pub fn balances(&self) -> Result<Vec<(AccountId, Balance)>, ChainSpecError> {
        match &self.genesis {
            Genesis::RuntimeGenesis(g) => g
                .balances
                .iter()
                .map(|(who, amount)| {
                    amount.parse::<Balance>().map(|a| (*who, a)).map_err(|_| {
                        ChainSpecError::Invalid(format!(
                            "balance {amount:?} of {who} is not a whole number of base units"
                        ))
                    })
                })
                .collect(),
            Genesis::Raw { .. } => Ok(Vec::new()),
        }
    }

    /// The genesis validators.
    pub fn validators(&self) -> &[GenesisValidator] {
        match &self.genesis {
            Genesis::RuntimeGenesis(g) => &g.validators,
            Genesis::Raw { validators, .. } => validators,
        }
    }

    /// The runtime's genesis configuration (for `RuntimeGenesis` specs).
    pub fn runtime_genesis_config(&self) -> Result<menara_runtime::GenesisConfig, ChainSpecError> {
        Ok(menara_runtime::GenesisConfig {
            balances: pallet_balances_genesis(self.balances()?),
            session: pallet_session::GenesisConfig {
                validators: self.validator_records()?,
            },
            // Each genesis validator's stake is its self-bond, taken from its balance.
            staking: pallet_staking::GenesisConfig {
                validators: self
                    .validator_records()?
                    .into_iter()
                    .map(|(record, pop)| pallet_staking::GenesisValidator {
                        account: record.account,
                        bls_public_key: record.bls_public_key,
                        proof_of_possession: pop,
                        commission_per_mill: 50,
                        self_bond: record.stake,
                    })
                    .collect(),
                delegations: Vec::new(),
            },
            compute: pallet_compute::GenesisConfig {
                test_challenges: match &self.genesis {
                    Genesis::RuntimeGenesis(g) => g.test_challenges,
                    Genesis::Raw { .. } => false,
                },
            },
            inference: match &self.genesis {
                Genesis::RuntimeGenesis(g) => pallet_inference::GenesisConfig {
                    sample_per_mill: g.sample_per_mill,
                    double_per_mill: g.double_per_mill,
                },
                Genesis::Raw { .. } => Default::default(),
            },
            governance: match &self.genesis {
                Genesis::RuntimeGenesis(g) => pallet_governance::GenesisConfig {
                    voting_period: g.voting_period,
                    enactment_delay: g.enactment_delay,
                },
                Genesis::Raw { .. } => Default::default(),
            },
        })
    }

    /// The raw genesis storage, for `Raw` specs.
    pub fn raw_storage(&self) -> Result<Option<GenesisStorage>, ChainSpecError> {
        match &self.genesis {
            Genesis::RuntimeGenesis(_) => Ok(None),
            Genesis::Raw { top, .. } => {
                let mut out = BTreeMap::new();
                for (k, v) in top {
                    out.insert(decode_hex(k)?, decode_hex(v)?);
                }
                Ok(Some(out))
            }
        }
    }

    /// This spec with its genesis replaced by raw `storage`.
    pub fn into_raw(self, storage: &GenesisStorage) -> ChainSpec {
        let validators = self.validators().to_vec();
        let top = storage
            .iter()
            .map(|(k, v)| {
                (
                    format!("0x{}", hex::encode(k)),
                    format!("0x{}", hex::encode(v)),
                )
            })
            .collect();
        ChainSpec {
            genesis: Genesis::Raw { top, validators },
            ..self
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String, ChainSpecError> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

fn pallet_balances_genesis(
    balances: Vec<(AccountId, Balance)>,
) -> menara_runtime_balances::GenesisConfig {
    menara_runtime_balances::GenesisConfig { balances }
}

use pallet_balances as menara_runtime_balances;

/// `0x` (optional) followed by exactly `2 * N` hex digits.
fn decode_fixed_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok()?;
    bytes.try_into().ok()
}

fn decode_hex(s: &str) -> Result<Vec<u8>, ChainSpecError> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|_| ChainSpecError::Invalid(format!("{s:?} is not hex")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builtin_specs_load_and_endow_dev_accounts() {
        let dev = ChainSpec::load("dev").unwrap();
        assert_eq!(dev.id, "dev");
        let balances = dev.balances().unwrap();
        assert!(balances
            .iter()
            .any(|(a, _)| *a == keyring::dev_account("Alice")));
        assert_eq!(dev.validators()[0].account, keyring::dev_account("Alice"));
        let local = ChainSpec::load("local").unwrap();
        assert!(local.validators().len() >= 4);
    }

    /// The committed specs are what the keyring derives. To regenerate them after a
    /// deliberate change: `MENARA_WRITE_CHAIN_SPECS=1 cargo test -p menara-chain-spec`.
    #[test]
    fn committed_specs_equal_what_the_keyring_derives() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chain-specs");
        for (file, committed, derived) in [
            ("dev.json", DEV_JSON, development_spec()),
            ("local.json", LOCAL_JSON, local_testnet_spec()),
        ] {
            let json = format!("{}\n", derived.to_json().unwrap());
            if std::env::var_os("MENARA_WRITE_CHAIN_SPECS").is_some() {
                std::fs::write(root.join(file), &json).unwrap();
                continue;
            }
            assert_eq!(
                committed, json,
                "chain-specs/{file} differs from the keyring; regenerate with MENARA_WRITE_CHAIN_SPECS=1"
            );
            assert_eq!(ChainSpec::from_json(committed).unwrap(), derived);
        }
    }

    #[test]
    fn builtin_specs_fill_the_runtime_validator_set() {
        let dev = ChainSpec::load("dev").unwrap();
        let config = dev.runtime_genesis_config().unwrap();
        assert_eq!(config.session.validators.len(), 1);
        let (alice, pop) = &config.session.validators[0];
        assert_eq!(alice.account, keyring::dev_account("Alice"));
        assert_eq!(
            alice.bls_public_key,
            keyring::dev_bls_secret("Alice").public_key().to_bytes()
        );
        assert_eq!(
            *pop,
            keyring::dev_bls_secret("Alice")
                .prove_possession()
                .0
                .to_bytes()
        );
        assert_eq!(alice.stake, DEV_STAKE);
        // The genesis validator's stake is bonded through staking, from its balance.
        assert_eq!(config.staking.validators.len(), 1);
        assert_eq!(config.staking.validators[0].self_bond, DEV_STAKE);
        assert!(dev.balances().unwrap()[0].1 > DEV_STAKE);
        let local = ChainSpec::load("local").unwrap();
        let records = local.validator_records().unwrap();
        let accounts: Vec<_> = records.iter().map(|(r, _)| r.account).collect();
        let expected: Vec<_> = ["Alice", "Bob", "Charlie", "Dave"]
            .iter()
            .map(|n| keyring::dev_account(n))
            .collect();
        assert_eq!(accounts, expected);
        assert!(records.iter().all(|(r, _)| r.stake == DEV_STAKE));
        // Raw specs keep the validators (the node reads accounts from them).
        let raw = local.clone().into_raw(&GenesisStorage::new());
        let raw = ChainSpec::from_json(&raw.to_json().unwrap()).unwrap();
        assert_eq!(raw.validators(), local.validators());
        assert_eq!(raw.validator_records().unwrap(), records);
    }

    type Edit = Box<dyn FnOnce(&mut GenesisValidator)>;

    fn with_validator(f: impl FnOnce(&mut GenesisValidator)) -> Result<ChainSpec, ChainSpecError> {
        let mut spec = ChainSpec::load("local").unwrap();
        if let Genesis::RuntimeGenesis(g) = &mut spec.genesis {
            f(&mut g.validators[1]);
        }
        ChainSpec::from_json(&spec.to_json().unwrap())
    }

    #[test]
    fn malformed_validators_are_refused_with_a_reason() {
        let bob = keyring::dev_account("Bob").to_string();
        let alice_key = keyring::dev_genesis_validator("Alice", 1);
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v.bls_public_key = "0x12".into()),
                "96 hex digits (48 bytes)",
            ),
            (
                Box::new(|v| v.bls_public_key = format!("0x{}", "zz".repeat(48))),
                "blsPublicKey",
            ),
            (
                Box::new(|v| v.bls_public_key = format!("0x{}", "00".repeat(48))),
                "not a valid BLS12-381 public key",
            ),
            (
                Box::new(|v| v.proof_of_possession = format!("0x{}", "ab".repeat(95))),
                "192 hex digits (96 bytes)",
            ),
            (
                Box::new(|v| v.proof_of_possession = "nothex".into()),
                "proofOfPossession",
            ),
            (
                Box::new(move |v| v.proof_of_possession = alice_key.proof_of_possession),
                "does not verify",
            ),
            (Box::new(|v| v.stake = "0".into()), "greater than zero"),
            (Box::new(|v| v.stake = "1.5".into()), "whole number"),
            (Box::new(|v| v.stake = "-1".into()), "whole number"),
            (Box::new(|v| v.stake = "".into()), "whole number"),
            (Box::new(|v| v.stake = (1u128 << 100).to_string()), "2^100"),
        ];
        for (change, expected) in cases {
            let err = with_validator(change).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected:?}");
            if !expected.contains("2^100") {
                assert!(err.contains(&bob), "{err} should name the validator");
            }
        }
        let alice = keyring::dev_genesis_validator("Alice", 5);
        let err = with_validator(|v| *v = alice.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than once"), "{err}");
        let mut stolen = keyring::dev_genesis_validator("Alice", 5);
        stolen.account = keyring::dev_account("Mallory");
        let err = with_validator(|v| *v = stolen).unwrap_err().to_string();
        assert!(err.contains("already another validator's"), "{err}");
        let mut spec = ChainSpec::load("dev").unwrap();
        if let Genesis::RuntimeGenesis(g) = &mut spec.genesis {
            g.validators.clear();
        }
        let err = ChainSpec::from_json(&spec.to_json().unwrap()).unwrap_err();
        assert!(err.to_string().contains("at least one validator"), "{err}");
        // A missing field is a JSON error naming it.
        let json = ChainSpec::load("dev")
            .unwrap()
            .to_json()
            .unwrap()
            .replace("\"stake\"", "\"stak\"");
        let err = ChainSpec::from_json(&json).unwrap_err().to_string();
        assert!(err.contains("stake"), "{err}");
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        let mut spec = ChainSpec::load("dev").unwrap();
        if let Genesis::RuntimeGenesis(g) = &mut spec.genesis {
            g.balances[0].1 = "12.5".into();
        }
        let err = ChainSpec::from_json(&spec.to_json().unwrap()).unwrap_err();
        assert!(err.to_string().contains("whole number"), "{err}");
        assert!(ChainSpec::from_json("{").is_err());
        assert!(matches!(
            ChainSpec::load("/no/such/spec.json"),
            Err(ChainSpecError::Io { .. })
        ));
    }
}
