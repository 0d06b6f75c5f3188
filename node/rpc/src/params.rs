//! Parameter parsing with messages that name the parameter and say what is wrong.
//!
//! Parameters may come positionally (`[a, b]`) or by name (`{"key": a, "at": b}`);
//! a missing trailing optional parameter and `null` both mean "not given".
use crate::error::invalid_params;
use crate::types::from_hex;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use menara_primitives::{AccountId, BlockNumber, H256};
use serde_json::Value;

/// The parsed parameters of one call.
pub(crate) struct Args {
    names: &'static [&'static str],
    values: Vec<Value>,
}

type Res<T> = Result<T, ErrorObjectOwned>;

impl Args {
    /// Reads `params` for a method whose parameters are `names`, in order.
    pub(crate) fn parse(params: &Params<'_>, names: &'static [&'static str]) -> Res<Self> {
        let raw = params.as_str().unwrap_or("null");
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| invalid_params(format!("parameters are not valid JSON: {e}")))?;
        let values = match value {
            Value::Null => Vec::new(),
            Value::Array(values) => {
                if values.len() > names.len() {
                    return Err(invalid_params(format!(
                        "too many parameters: expected at most {} ({}), got {}",
                        names.len(),
                        describe(names),
                        values.len()
                    )));
                }
                values
            }
            Value::Object(mut map) => {
                let values = names
                    .iter()
                    .map(|n| map.remove(*n).unwrap_or(Value::Null))
                    .collect();
                if let Some(unknown) = map.keys().next() {
                    return Err(invalid_params(format!(
                        "unknown parameter `{unknown}`: expected {}",
                        describe(names)
                    )));
                }
                values
            }
            other => {
                return Err(invalid_params(format!(
                    "parameters must be an array or an object, got {}",
                    kind(&other)
                )))
            }
        };
        Ok(Args { names, values })
    }

    fn name(&self, i: usize) -> &'static str {
        self.names.get(i).copied().unwrap_or("?")
    }

    fn get(&self, i: usize) -> Option<&Value> {
        match self.values.get(i) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn required(&self, i: usize) -> Res<&Value> {
        self.get(i)
            .ok_or_else(|| invalid_params(format!("missing parameter `{}`", self.name(i))))
    }

    fn str_of<'a>(&self, i: usize, v: &'a Value, what: &str) -> Res<&'a str> {
        v.as_str().ok_or_else(|| {
            invalid_params(format!(
                "invalid parameter `{}`: expected {what}, got {}",
                self.name(i),
                kind(v)
            ))
        })
    }

    fn hex_of(&self, i: usize, v: &Value) -> Res<Vec<u8>> {
        let s = self.str_of(i, v, "a 0x-prefixed hex string")?;
        from_hex(s).map_err(|e| {
            invalid_params(format!("invalid hex in parameter `{}`: {e}", self.name(i)))
        })
    }

    fn hex32_of(&self, i: usize, v: &Value, what: &str) -> Res<[u8; 32]> {
        let bytes = self.hex_of(i, v)?;
        let len = bytes.len();
        bytes.try_into().map_err(|_| {
            invalid_params(format!(
                "wrong length for parameter `{}`: {what} is 32 bytes (64 hex digits), got {len} bytes",
                self.name(i)
            ))
        })
    }

    /// A required hex byte string.
    pub(crate) fn bytes(&self, i: usize) -> Res<Vec<u8>> {
        let v = self.required(i)?;
        self.hex_of(i, v)
    }

    /// An optional hex byte string.
    pub(crate) fn opt_bytes(&self, i: usize) -> Res<Option<Vec<u8>>> {
        self.get(i).map(|v| self.hex_of(i, v)).transpose()
    }

    /// An optional amount in base units: a decimal string (amounts exceed JSON's safe
    /// integers) or a JSON integer.
    pub(crate) fn opt_amount(&self, i: usize) -> Res<Option<u128>> {
        let Some(v) = self.get(i) else {
            return Ok(None);
        };
        let parsed = match v {
            Value::String(s) => s.parse::<u128>().ok(),
            Value::Number(n) => n.as_u64().map(u128::from),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            invalid_params(format!(
                "invalid parameter `{}`: expected an amount in base units (a decimal string), got {v}",
                self.name(i)
            ))
        })
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, i: usize) -> Res<Option<bool>> {
        self.get(i)
            .map(|v| {
                v.as_bool().ok_or_else(|| {
                    invalid_params(format!(
                        "invalid parameter `{}`: expected true or false, got {v}",
                        self.name(i)
                    ))
                })
            })
            .transpose()
    }

    /// A required string.
    pub(crate) fn string(&self, i: usize) -> Res<String> {
        let v = self.required(i)?;
        self.str_of(i, v, "a string").map(str::to_owned)
    }

    /// An optional block hash.
    pub(crate) fn opt_hash(&self, i: usize) -> Res<Option<H256>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => self.hex32_of(i, v, "a block hash").map(|b| Some(H256(b))),
        }
    }

    /// A required 32-byte hash (e.g. a transaction hash).
    pub(crate) fn hash(&self, i: usize) -> Res<H256> {
        let v = self.required(i)?;
        self.hex32_of(i, v, "a 32-byte hash").map(H256)
    }

    /// A required model id (a registered model's content hash).
    pub(crate) fn model_id(&self, i: usize) -> Res<H256> {
        let v = self.required(i)?;
        self.hex32_of(i, v, "a model id").map(H256)
    }

    /// A required account id.
    pub(crate) fn account(&self, i: usize) -> Res<AccountId> {
        let v = self.required(i)?;
        self.hex32_of(i, v, "an account id").map(AccountId)
    }

    /// An optional account id.
    pub(crate) fn opt_account(&self, i: usize) -> Res<Option<AccountId>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => self
                .hex32_of(i, v, "an account id")
                .map(|b| Some(AccountId(b))),
        }
    }

    /// A required `u64` id (a JSON integer).
    pub(crate) fn id(&self, i: usize) -> Res<u64> {
        let v = self.required(i)?;
        self.u64_of(i, v)
    }

    /// An optional `u64` id (a JSON integer).
    pub(crate) fn opt_id(&self, i: usize) -> Res<Option<u64>> {
        self.get(i).map(|v| self.u64_of(i, v)).transpose()
    }

    fn u64_of(&self, i: usize, v: &Value) -> Res<u64> {
        v.as_u64().ok_or_else(|| {
            invalid_params(format!(
                "invalid parameter `{}`: expected an id (an integer from 0 to {}), got {v}",
                self.name(i),
                u64::MAX
            ))
        })
    }

    /// A required array of hex byte strings, at most `max` long.
    pub(crate) fn bytes_list(&self, i: usize, max: usize) -> Res<Vec<Vec<u8>>> {
        let v = self.required(i)?;
        let items = v.as_array().ok_or_else(|| {
            invalid_params(format!(
                "invalid parameter `{}`: expected an array of hex strings, got {}",
                self.name(i),
                kind(v)
            ))
        })?;
        if items.len() > max {
            return Err(invalid_params(format!(
                "too many entries in parameter `{}`: at most {max} per call, got {}",
                self.name(i),
                items.len()
            )));
        }
        items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let s = item.as_str().ok_or_else(|| {
                    invalid_params(format!(
                        "invalid parameter `{}[{n}]`: expected a 0x-prefixed hex string, got {}",
                        self.name(i),
                        kind(item)
                    ))
                })?;
                from_hex(s).map_err(|e| {
                    invalid_params(format!(
                        "invalid hex in parameter `{}[{n}]`: {e}",
                        self.name(i)
                    ))
                })
            })
            .collect()
    }

    /// An optional `u32` (a JSON integer).
    pub(crate) fn opt_u32(&self, i: usize) -> Res<Option<u32>> {
        let Some(v) = self.get(i) else {
            return Ok(None);
        };
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                invalid_params(format!(
                    "invalid parameter `{}`: expected an integer from 0 to {}, got {v}",
                    self.name(i),
                    u32::MAX
                ))
            })
    }

    /// An optional block number: a JSON integer or a hex string such as `"0x1a"`.
    pub(crate) fn opt_block_number(&self, i: usize) -> Res<Option<BlockNumber>> {
        let Some(v) = self.get(i) else {
            return Ok(None);
        };
        let bad = |why: String| {
            invalid_params(format!(
                "invalid parameter `{}`: expected a block number (integer or 0x-hex string), {why}",
                self.name(i)
            ))
        };
        match v {
            Value::Number(n) => n.as_u64().map(Some).ok_or_else(|| bad(format!("got {n}"))),
            Value::String(s) => {
                let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
                match digits {
                    Some(d) if !d.is_empty() => u64::from_str_radix(d, 16)
                        .map(Some)
                        .map_err(|e| bad(format!("got {s:?}: {e}"))),
                    _ => s
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|_| bad(format!("got {s:?}"))),
                }
            }
            other => Err(bad(format!("got {}", kind(other)))),
        }
    }
}

fn describe(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(json: &'static str, names: &'static [&'static str]) -> Res<Args> {
        Args::parse(&Params::new(Some(json)), names)
    }

    #[test]
    fn positional_named_and_missing() {
        let a = args(r#"["0x0102", null]"#, &["key", "at"]).unwrap();
        assert_eq!(a.bytes(0).unwrap(), vec![1, 2]);
        assert_eq!(a.opt_hash(1).unwrap(), None);
        let a = args(r#"{"key": "0x03"}"#, &["key", "at"]).unwrap();
        assert_eq!(a.bytes(0).unwrap(), vec![3]);
        let a = Args::parse(&Params::new(None), &["key"]).unwrap();
        assert_eq!(a.bytes(0).unwrap_err().message(), "missing parameter `key`");
        let e = args(r#"{"kee": "0x03"}"#, &["key", "at"]).err().unwrap();
        assert!(
            e.message().contains("unknown parameter `kee`"),
            "{}",
            e.message()
        );
        let e = args(r#"[1, 2, 3]"#, &["key", "at"]).err().unwrap();
        assert!(
            e.message().contains("too many parameters"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn hex_errors_name_the_parameter() {
        let a = args(r#"["0xzz", "0x00", 5]"#, &["key", "at", "n"]).unwrap();
        let e = a.bytes(0).unwrap_err();
        assert_eq!(e.code(), -32602);
        assert_eq!(
            e.message(),
            "invalid hex in parameter `key`: invalid character 'z' at position 2"
        );
        let e = a.opt_hash(1).unwrap_err();
        assert!(
            e.message().starts_with("wrong length for parameter `at`"),
            "{}",
            e.message()
        );
        let e = a.bytes(2).unwrap_err();
        assert!(
            e.message()
                .contains("expected a 0x-prefixed hex string, got a number"),
            "{}",
            e.message()
        );
        let a = args(r#"["0x123"]"#, &["key"]).unwrap();
        assert!(a
            .bytes(0)
            .unwrap_err()
            .message()
            .contains("odd number of hex digits"));
    }

    #[test]
    fn block_numbers() {
        let a = args(
            r#"[26, "0x1a", "26", -1, 1.5, "0x", "0xffffffffffffffffff", true]"#,
            &["a", "b", "c", "d", "e", "f", "g", "h"],
        )
        .unwrap();
        assert_eq!(a.opt_block_number(0).unwrap(), Some(26));
        assert_eq!(a.opt_block_number(1).unwrap(), Some(26));
        assert_eq!(a.opt_block_number(2).unwrap(), Some(26));
        for i in 3..8 {
            assert!(a.opt_block_number(i).is_err(), "{i}");
        }
        assert_eq!(a.opt_block_number(9).unwrap(), None);
    }

    #[test]
    fn key_lists_are_bounded() {
        let a = args(r#"[["0x01", "0x02", "0x03"]]"#, &["keys"]).unwrap();
        assert_eq!(a.bytes_list(0, 3).unwrap().len(), 3);
        assert!(a
            .bytes_list(0, 2)
            .unwrap_err()
            .message()
            .contains("at most 2"));
        let a = args(r#"[["0x01", 7]]"#, &["keys"]).unwrap();
        assert!(a
            .bytes_list(0, 3)
            .unwrap_err()
            .message()
            .contains("`keys[1]`"));
    }
}
