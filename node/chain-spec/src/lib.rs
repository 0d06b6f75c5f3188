//! Chain specifications: which chain a node runs and what its genesis holds.
//!
//! A spec is JSON. Its `genesis` is either `runtimeGenesis` (balances, validators: what
//! people write) or `raw` (the exact genesis storage as hex key/value pairs, produced by
//! `menara build-spec --raw`), so every node of a chain starts from the same bytes.
pub mod keyring;

use menara_primitives::{AccountId, Balance};
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

/// A validator at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisValidator {
    /// Its account (the ed25519 key that authors blocks).
    pub account: AccountId,
}

/// Genesis as people write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeGenesis {
    /// Initial balances in base units (decimal strings: u128 does not fit JSON numbers).
    pub balances: Vec<(AccountId, String)>,
    /// Validators.
    pub validators: Vec<GenesisValidator>,
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
            Genesis::RuntimeGenesis(g) => {
                self.balances()?;
                if g.validators.is_empty() {
                    return Err(ChainSpecError::Invalid(
                        "genesis needs at least one validator".into(),
                    ));
                }
            }
            Genesis::Raw { top, validators } => {
                if validators.is_empty() {
                    return Err(ChainSpecError::Invalid(
                        "genesis needs at least one validator".into(),
                    ));
                }
                for (k, v) in top {
                    decode_hex(k)?;
                    decode_hex(v)?;
                }
            }
        }
        Ok(())
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
