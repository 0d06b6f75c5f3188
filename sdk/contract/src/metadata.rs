//! Host-side contract metadata (feature `std`): read it from a contract's wasm or JSON,
//! encode call inputs from command-line strings, decode outputs, errors and events.
//!
//! ```
//! use menara_contract::metadata::Metadata;
//!
//! # fn main() -> Result<(), menara_contract::metadata::MetadataError> {
//! let json = r#"{"abi":1,"name":"demo","error_type":"Error",
//!   "constructors":[],
//!   "messages":[{"name":"get","selector":"0x00000000","args":[{"name":"key","type":"u32"}],
//!                "returns":"Result<u128,Error>","payable":false,"mutates":false}],
//!   "errors":["Missing"],"events":[]}"#;
//! // Selectors are checked against blake3(name); fix the placeholder first.
//! let json = json.replace("0x00000000", &format!("0x{}", hex::encode(menara_contract::selector("get"))));
//! let metadata = Metadata::from_json(&json)?;
//! let input = metadata.encode_message_input("get", &["7"])?;
//! assert_eq!(&input[4..], &[7, 0, 0, 0]);
//! assert_eq!(metadata.decode_output("get", &5u128.to_le_bytes())?, serde_json::json!("5"));
//! assert_eq!(metadata.decode_error(&[0]), "Missing");
//! # Ok(())
//! # }
//! ```
//!
//! # Types
//! Arguments and results may be `u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 bool AccountId
//! Hash Vec<u8> String ()`, `Option<T>` and `Result<T, E>` of those and the contract's
//! error enum (plus, for decoding, `Vec<T>`, `[T; N]` and tuples). `Balance` is read as
//! `u128`.
//!
//! Command-line arguments ([`Metadata::encode_input`]): integers in decimal (`_` allowed)
//! or `0x` hex; `bool` as `true`/`false`; `AccountId`/`Hash` as `0x` + 64 hex digits;
//! `Vec<u8>` and `[u8; N]` as `0x` hex; `String` as is; `Option<T>` as `none` or a `T`;
//! the error enum as a variant name; `()` as an empty string.
//!
//! Decoded values ([`Metadata::decode_output`]) are JSON: integers up to 64 bits as
//! numbers, 128-bit integers as decimal strings (JSON numbers cannot hold them exactly),
//! byte strings and accounts as `0x` hex, `Option` as `null` or the value, a `Result` as
//! `{"Ok": ..}` / `{"Err": ..}`, error variants by name, tuples and vectors as arrays.

use std::borrow::ToOwned;
use std::boxed::Box;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use parity_scale_codec::{Compact, Decode, Encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{DispatchError, METADATA_SECTION};

/// Everything that can go wrong reading metadata or encoding and decoding with it.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The module has no `menara:metadata` section.
    #[error("the wasm module has no `menara:metadata` custom section (contracts built with the contract! macro of menara-contract have one)")]
    NoMetadataSection,
    /// The module has several `menara:metadata` sections.
    #[error("the wasm module has more than one `menara:metadata` custom section")]
    DuplicateMetadataSection,
    /// The bytes are not a wasm module.
    #[error("invalid wasm module: {0}")]
    InvalidWasm(String),
    /// The metadata is not valid JSON of the expected shape.
    #[error("invalid contract metadata: {0}")]
    Json(String),
    /// The metadata is for another ABI version.
    #[error("unsupported contract ABI version {0} (this SDK understands version 1)")]
    UnsupportedAbi(u32),
    /// A selector in the metadata is not `blake3(name)[..4]`.
    #[error("metadata selector {found} of `{name}` is not blake3(name)[..4] = {expected}")]
    SelectorMismatch {
        /// The constructor or message.
        name: String,
        /// The selector in the metadata.
        found: String,
        /// The selector its name gives.
        expected: String,
    },
    /// No constructor has this name.
    #[error("the contract has no constructor `{name}` (constructors: {available})")]
    UnknownConstructor {
        /// The name asked for.
        name: String,
        /// The constructors there are.
        available: String,
    },
    /// No message has this name.
    #[error("the contract has no message `{name}` (messages: {available})")]
    UnknownMessage {
        /// The name asked for.
        name: String,
        /// The messages there are.
        available: String,
    },
    /// Too many or too few arguments.
    #[error("`{function}` takes {expected} argument(s) ({signature}), {found} given")]
    ArgumentCount {
        /// The constructor or message.
        function: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
        /// Its parameter list.
        signature: String,
    },
    /// An argument does not parse as its type.
    #[error("argument `{name}: {ty}` of `{function}`: cannot read {value:?}: {reason}")]
    InvalidArgument {
        /// The constructor or message.
        function: String,
        /// The parameter.
        name: String,
        /// Its type.
        ty: String,
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A type name the tooling does not understand (or cannot take from the command line).
    #[error("unsupported type `{0}`")]
    UnsupportedType(String),
    /// Bytes that do not decode as the expected type.
    #[error("cannot decode {what} as `{ty}`: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The type.
        ty: String,
        /// What went wrong.
        reason: String,
    },
}

type Result<T, E = MetadataError> = core::result::Result<T, E>;

/// The selector of a constructor or message: `blake3(name)[..4]`.
pub fn selector(name: &str) -> [u8; 4] {
    let hash = blake3::hash(name.as_bytes());
    let b = hash.as_bytes();
    [b[0], b[1], b[2], b[3]]
}

/// An event's signature, its first topic: `blake3(name)`.
pub fn event_signature(name: &str) -> [u8; 32] {
    *blake3::hash(name.as_bytes()).as_bytes()
}

/// `0x` + lowercase hex.
fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

mod selector_hex {
    use super::*;

    pub fn serialize<S: serde::Serializer>(sel: &[u8; 4], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex0x(sel))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[u8; 4], D::Error> {
        let text = String::deserialize(d)?;
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| serde::de::Error::custom("a selector is 0x + 8 hex digits"))?;
        let mut out = [0u8; 4];
        hex::decode_to_slice(digits, &mut out)
            .map_err(|e| serde::de::Error::custom(format!("selector {text:?}: {e}")))?;
        Ok(out)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A parameter of a constructor or message, or a field of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arg {
    /// Its name.
    pub name: String,
    /// Its type (see [`Type::parse`]).
    #[serde(rename = "type")]
    pub ty: String,
    /// For event fields: whether it is also a topic.
    #[serde(default, skip_serializing_if = "is_false")]
    pub topic: bool,
}

/// A constructor or message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Its name.
    pub name: String,
    /// `blake3(name)[..4]`.
    #[serde(with = "selector_hex")]
    pub selector: [u8; 4],
    /// Its parameters.
    pub args: Vec<Arg>,
    /// Its return type.
    #[serde(default = "unit_type")]
    pub returns: String,
    /// Whether it accepts value.
    #[serde(default)]
    pub payable: bool,
    /// Whether it may change state (`false` for views).
    #[serde(default = "default_true")]
    pub mutates: bool,
}

fn unit_type() -> String {
    "()".to_owned()
}

fn default_true() -> bool {
    true
}

impl Function {
    /// `name(arg: Type, ..) -> Returns`.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.ty))
            .collect();
        format!("{}({}) -> {}", self.name, args.join(", "), self.returns)
    }
}

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its name.
    pub name: String,
    /// Its fields, in order.
    pub args: Vec<Arg>,
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    /// The event's name.
    pub name: String,
    /// Its fields, in declaration order, decoded (see the module docs for the JSON form).
    pub fields: Vec<(String, Value)>,
}

impl DecodedEvent {
    /// `{"event": name, "fields": {..}}`.
    pub fn to_json(&self) -> Value {
        let fields: serde_json::Map<String, Value> = self.fields.iter().cloned().collect();
        serde_json::json!({ "event": self.name, "fields": fields })
    }
}

/// A contract's metadata (the JSON in its `menara:metadata` section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The host ABI version (1).
    pub abi: u32,
    /// The contract's name.
    pub name: String,
    /// The name of the contract's error enum, if any.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Its constructors.
    #[serde(default)]
    pub constructors: Vec<Function>,
    /// Its messages.
    #[serde(default)]
    pub messages: Vec<Function>,
    /// Its error enum's variants, in index order.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Its events.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// The contents of the `menara:metadata` custom section of `code`.
pub fn metadata_section(code: &[u8]) -> Result<&[u8]> {
    let mut found = None;
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        let payload = payload.map_err(|e| MetadataError::InvalidWasm(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(reader) = payload {
            if reader.name() == METADATA_SECTION {
                if found.is_some() {
                    return Err(MetadataError::DuplicateMetadataSection);
                }
                found = Some(reader.data());
            }
        }
    }
    found.ok_or(MetadataError::NoMetadataSection)
}

impl Metadata {
    /// Reads the metadata from a contract's wasm (its `menara:metadata` custom section).
    pub fn from_wasm(code: &[u8]) -> Result<Self> {
        let section = metadata_section(code)?;
        let text = core::str::from_utf8(section)
            .map_err(|e| MetadataError::Json(format!("the section is not UTF-8: {e}")))?;
        Self::from_json(text)
    }

    /// Parses and checks metadata JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        let metadata: Metadata =
            serde_json::from_str(json).map_err(|e| MetadataError::Json(e.to_string()))?;
        metadata.check()?;
        Ok(metadata)
    }

    fn check(&self) -> Result<()> {
        if self.abi != crate::ABI_VERSION {
            return Err(MetadataError::UnsupportedAbi(self.abi));
        }
        for f in self.constructors.iter().chain(&self.messages) {
            let expected = selector(&f.name);
            if expected != f.selector {
                return Err(MetadataError::SelectorMismatch {
                    name: f.name.clone(),
                    found: hex0x(&f.selector),
                    expected: hex0x(&expected),
                });
            }
        }
        Ok(())
    }

    /// The metadata as pretty-printed JSON.
    pub fn to_json_pretty(&self) -> String {
        // Serialising these plain structs cannot fail; fall back to compact just in case.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| format!("{self:?}"))
    }

    /// The constructor called `name`.
    pub fn constructor(&self, name: &str) -> Result<&Function> {
        self.constructors
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| MetadataError::UnknownConstructor {
                name: name.to_owned(),
                available: names(&self.constructors),
            })
    }

    /// The message called `name`.
    pub fn message(&self, name: &str) -> Result<&Function> {
        self.messages
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| MetadataError::UnknownMessage {
                name: name.to_owned(),
                available: names(&self.messages),
            })
    }

    /// The type `ty` resolved against this contract (its error enum).
    pub fn parse_type(&self, ty: &str) -> Result<Type> {
        Type::parse(ty, self.error_type.as_deref())
    }

    /// Input for the message or, if no message has that name, the constructor `name`:
    /// its selector followed by `args` parsed per parameter type and SCALE-encoded.
    pub fn encode_input(&self, name: &str, args: &[&str]) -> Result<Vec<u8>> {
        match self.messages.iter().find(|f| f.name == name) {
            Some(f) => self.encode_function_input(f, args),
            None => match self.constructors.iter().find(|f| f.name == name) {
                Some(f) => self.encode_function_input(f, args),
                None => Err(MetadataError::UnknownMessage {
                    name: name.to_owned(),
                    available: names(self.messages.iter().chain(&self.constructors)),
                }),
            },
        }
    }

    /// Input for the constructor `name` (see [`Metadata::encode_input`]).
    pub fn encode_constructor_input(&self, name: &str, args: &[&str]) -> Result<Vec<u8>> {
        self.encode_function_input(self.constructor(name)?, args)
    }

    /// Input for the message `name` (see [`Metadata::encode_input`]).
    pub fn encode_message_input(&self, name: &str, args: &[&str]) -> Result<Vec<u8>> {
        self.encode_function_input(self.message(name)?, args)
    }

    fn encode_function_input(&self, f: &Function, args: &[&str]) -> Result<Vec<u8>> {
        if args.len() != f.args.len() {
            return Err(MetadataError::ArgumentCount {
                function: f.name.clone(),
                expected: f.args.len(),
                found: args.len(),
                signature: f.signature(),
            });
        }
        let mut out = f.selector.to_vec();
        for (param, text) in f.args.iter().zip(args) {
            let ty = self.parse_type(&param.ty)?;
            ty.encode_arg(text, &self.errors, &mut out)
                .map_err(|reason| MetadataError::InvalidArgument {
                    function: f.name.clone(),
                    name: param.name.clone(),
                    ty: param.ty.clone(),
                    value: (*text).to_owned(),
                    reason,
                })?;
        }
        Ok(out)
    }

    /// Decodes the successful output of the message (or constructor) `name`. For a
    /// `Result<T, E>` return type this is the `T` (an `Err` reverts instead; see
    /// [`Metadata::decode_revert`]).
    pub fn decode_output(&self, name: &str, output: &[u8]) -> Result<Value> {
        let f = self.function(name)?;
        let ty = match self.parse_type(&f.returns)? {
            Type::Result(ok, _) => *ok,
            other => other,
        };
        self.decode_value(&ty, output, &format!("the output of `{name}`"))
    }

    /// Describes the revert data of a call to the message (or constructor) `name`: a
    /// dispatch error of the SDK, the `E` of its `Result<T, E>` return type, or otherwise
    /// as [`Metadata::decode_error`].
    pub fn decode_revert(&self, name: &str, data: &[u8]) -> String {
        if let Some(e) = DispatchError::decode(data) {
            return describe_dispatch_error(e);
        }
        let error_ty = self
            .function(name)
            .ok()
            .and_then(|f| self.parse_type(&f.returns).ok())
            .and_then(|ty| match ty {
                Type::Result(_, err) => Some(*err),
                _ => None,
            });
        match error_ty {
            Some(Type::ContractError) | None => self.decode_error(data),
            Some(ty) => match self.decode_value(&ty, data, "the error") {
                Ok(Value::String(s)) => s,
                Ok(value) => value.to_string(),
                Err(_) => self.decode_error(data),
            },
        }
    }

    /// Names the error in revert data: a variant of the contract's error enum, one of the
    /// SDK's dispatch errors (unknown selector, not payable, invalid arguments), or the
    /// raw bytes in hex.
    pub fn decode_error(&self, data: &[u8]) -> String {
        if let Some(e) = DispatchError::decode(data) {
            return describe_dispatch_error(e);
        }
        match data {
            [] => "reverted without error data".to_owned(),
            [index] if self.error_type.is_some() => match self.errors.get(usize::from(*index)) {
                Some(name) => name.clone(),
                None => format!("unknown error variant {index}"),
            },
            _ => format!("reverted with {}", hex0x(data)),
        }
    }

    /// Decodes an event of this contract from its topics and data; `Ok(None)` if the first
    /// topic is the signature of none of its events.
    pub fn decode_event(&self, topics: &[[u8; 32]], data: &[u8]) -> Result<Option<DecodedEvent>> {
        let Some(signature) = topics.first() else {
            return Ok(None);
        };
        let Some(event) = self
            .events
            .iter()
            .find(|e| &event_signature(&e.name) == signature)
        else {
            return Ok(None);
        };
        let mut cursor = data;
        let mut fields = Vec::with_capacity(event.args.len());
        for arg in &event.args {
            let ty = self.parse_type(&arg.ty)?;
            let what = format!("field `{}` of event `{}`", arg.name, event.name);
            let value =
                ty.decode(&mut cursor, &self.errors)
                    .map_err(|reason| MetadataError::Decode {
                        what,
                        ty: arg.ty.clone(),
                        reason,
                    })?;
            fields.push((arg.name.clone(), value));
        }
        if !cursor.is_empty() {
            return Err(MetadataError::Decode {
                what: format!("event `{}`", event.name),
                ty: "(fields)".to_owned(),
                reason: format!("{} byte(s) left over", cursor.len()),
            });
        }
        Ok(Some(DecodedEvent {
            name: event.name.clone(),
            fields,
        }))
    }

    fn function(&self, name: &str) -> Result<&Function> {
        self.messages
            .iter()
            .chain(&self.constructors)
            .find(|f| f.name == name)
            .ok_or_else(|| MetadataError::UnknownMessage {
                name: name.to_owned(),
                available: names(self.messages.iter().chain(&self.constructors)),
            })
    }

    fn decode_value(&self, ty: &Type, bytes: &[u8], what: &str) -> Result<Value> {
        let mut cursor = bytes;
        let value =
            ty.decode(&mut cursor, &self.errors)
                .map_err(|reason| MetadataError::Decode {
                    what: what.to_owned(),
                    ty: ty.to_string(),
                    reason,
                })?;
        if !cursor.is_empty() {
            return Err(MetadataError::Decode {
                what: what.to_owned(),
                ty: ty.to_string(),
                reason: format!("{} byte(s) left over", cursor.len()),
            });
        }
        Ok(value)
    }
}

fn describe_dispatch_error(e: DispatchError) -> String {
    format!("{}: {}", e.name(), e.description())
}

fn names<'a>(functions: impl IntoIterator<Item = &'a Function>) -> String {
    let list: Vec<&str> = functions.into_iter().map(|f| f.name.as_str()).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// A type the tooling understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `()`
    Unit,
    /// `bool`
    Bool,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `u128` (also `Balance`)
    U128,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `i128`
    I128,
    /// `AccountId`
    AccountId,
    /// `Hash`
    Hash,
    /// `String`
    String,
    /// `Vec<u8>`
    Bytes,
    /// `Vec<T>` for another `T`
    Vec(Box<Type>),
    /// `[T; N]`
    Array(Box<Type>, usize),
    /// `Option<T>`
    Option(Box<Type>),
    /// `Result<T, E>`
    Result(Box<Type>, Box<Type>),
    /// `(A, B, ..)`
    Tuple(Vec<Type>),
    /// The contract's error enum.
    ContractError,
}

impl core::fmt::Display for Type {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Type::Unit => f.write_str("()"),
            Type::Bool => f.write_str("bool"),
            Type::U8 => f.write_str("u8"),
            Type::U16 => f.write_str("u16"),
            Type::U32 => f.write_str("u32"),
            Type::U64 => f.write_str("u64"),
            Type::U128 => f.write_str("u128"),
            Type::I8 => f.write_str("i8"),
            Type::I16 => f.write_str("i16"),
            Type::I32 => f.write_str("i32"),
            Type::I64 => f.write_str("i64"),
            Type::I128 => f.write_str("i128"),
            Type::AccountId => f.write_str("AccountId"),
            Type::Hash => f.write_str("Hash"),
            Type::String => f.write_str("String"),
            Type::Bytes => f.write_str("Vec<u8>"),
            Type::Vec(t) => write!(f, "Vec<{t}>"),
            Type::Array(t, n) => write!(f, "[{t};{n}]"),
            Type::Option(t) => write!(f, "Option<{t}>"),
            Type::Result(t, e) => write!(f, "Result<{t},{e}>"),
            Type::Tuple(items) => {
                f.write_str("(")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{t}")?;
                }
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Type::ContractError => f.write_str("Error"),
        }
    }
}

/// Splits `s` at top-level commas (outside `<>`, `()` and `[]`).
fn split_top_level(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

impl Type {
    /// Parses a type name from the metadata. `error_type` is the contract's error enum's
    /// name; whitespace and leading paths (`menara_contract::AccountId`) are ignored.
    pub fn parse(ty: &str, error_type: Option<&str>) -> Result<Type> {
        let compact: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
        Self::parse_compact(&compact, error_type)
            .ok_or_else(|| MetadataError::UnsupportedType(ty.to_owned()))
    }

    fn parse_compact(s: &str, error_type: Option<&str>) -> Option<Type> {
        if s.is_empty() || s == "()" {
            return Some(Type::Unit);
        }
        if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            let inner = inner.strip_suffix(',').unwrap_or(inner);
            let items = split_top_level(inner, ',')
                .into_iter()
                .map(|item| Self::parse_compact(item, error_type))
                .collect::<Option<Vec<_>>>()?;
            if items.iter().any(|t| *t == Type::Unit && items.len() > 1) {
                return None;
            }
            return Some(Type::Tuple(items));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let parts = split_top_level(inner, ';');
            let [elem, len] = parts.as_slice() else {
                return None;
            };
            let len: usize = len.parse().ok()?;
            return Some(Type::Array(
                Box::new(Self::parse_compact(elem, error_type)?),
                len,
            ));
        }
        let (path, generics) = match s.find('<') {
            Some(open) => {
                let inner = s[open + 1..].strip_suffix('>')?;
                (&s[..open], Some(split_top_level(inner, ',')))
            }
            None => (s, None),
        };
        let name = path.rsplit("::").next()?;
        let arg = |i: usize| -> Option<Type> {
            let generics = generics.as_ref()?;
            Self::parse_compact(generics.get(i)?, error_type)
        };
        let arity = generics.as_ref().map_or(0, Vec::len);
        let ty = match (name, arity) {
            ("bool", 0) => Type::Bool,
            ("u8", 0) => Type::U8,
            ("u16", 0) => Type::U16,
            ("u32", 0) => Type::U32,
            ("u64", 0) => Type::U64,
            ("u128", 0) | ("Balance", 0) => Type::U128,
            ("i8", 0) => Type::I8,
            ("i16", 0) => Type::I16,
            ("i32", 0) => Type::I32,
            ("i64", 0) => Type::I64,
            ("i128", 0) => Type::I128,
            ("AccountId", 0) => Type::AccountId,
            ("Hash", 0) => Type::Hash,
            ("String", 0) => Type::String,
            ("Vec", 1) => match arg(0)? {
                Type::U8 => Type::Bytes,
                t => Type::Vec(Box::new(t)),
            },
            ("Option", 1) => Type::Option(Box::new(arg(0)?)),
            ("Result", 2) => Type::Result(Box::new(arg(0)?), Box::new(arg(1)?)),
            (other, 0) if Some(other) == error_type => Type::ContractError,
            _ => return None,
        };
        Some(ty)
    }

    /// SCALE-encodes the command-line text `text` as this type onto `out`; the error is a
    /// reason for the user. `errors` are the contract's error variants.
    pub fn encode_arg(
        &self,
        text: &str,
        errors: &[String],
        out: &mut Vec<u8>,
    ) -> core::result::Result<(), String> {
        let text = text.trim();
        match self {
            Type::Unit => {
                if text.is_empty() || text == "()" {
                    Ok(())
                } else {
                    Err("`()` takes no value (give an empty string)".to_owned())
                }
            }
            Type::Bool => match text {
                "true" => put(true, out),
                "false" => put(false, out),
                _ => Err("expected `true` or `false`".to_owned()),
            },
            Type::U8 => put(parse_uint::<u8>(text)?, out),
            Type::U16 => put(parse_uint::<u16>(text)?, out),
            Type::U32 => put(parse_uint::<u32>(text)?, out),
            Type::U64 => put(parse_uint::<u64>(text)?, out),
            Type::U128 => put(parse_uint::<u128>(text)?, out),
            Type::I8 => put(parse_int::<i8>(text)?, out),
            Type::I16 => put(parse_int::<i16>(text)?, out),
            Type::I32 => put(parse_int::<i32>(text)?, out),
            Type::I64 => put(parse_int::<i64>(text)?, out),
            Type::I128 => put(parse_int::<i128>(text)?, out),
            Type::AccountId | Type::Hash => {
                let bytes = parse_hex(text)?;
                if bytes.len() != 32 {
                    return Err(format!(
                        "expected 0x and 64 hex digits (32 bytes), got {} bytes",
                        bytes.len()
                    ));
                }
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Type::Bytes => put(parse_hex(text)?, out),
            Type::Array(elem, len) if **elem == Type::U8 => {
                let bytes = parse_hex(text)?;
                if bytes.len() != *len {
                    return Err(format!("expected {len} bytes, got {}", bytes.len()));
                }
                out.extend_from_slice(&bytes);
                Ok(())
            }
            Type::String => put(text, out),
            Type::Option(inner) => {
                if text.eq_ignore_ascii_case("none") {
                    out.push(0);
                    return Ok(());
                }
                out.push(1);
                inner.encode_arg(text, errors, out)
            }
            Type::ContractError => match errors.iter().position(|e| e == text) {
                Some(index) => {
                    out.push(index as u8);
                    Ok(())
                }
                None => Err(format!("expected one of: {}", errors.join(", "))),
            },
            // A list: `[1, 2, 3]` or `1,2,3` (elements without commas of their own).
            Type::Vec(elem) => {
                let items = list_items(text);
                Compact(items.len() as u32).encode_to(out);
                items
                    .iter()
                    .try_for_each(|item| elem.encode_arg(item, errors, out))
            }
            Type::Array(elem, n) => {
                let items = list_items(text);
                if items.len() != *n {
                    return Err(format!("expected {n} elements, got {}", items.len()));
                }
                items
                    .iter()
                    .try_for_each(|item| elem.encode_arg(item, errors, out))
            }
            Type::Result(..) | Type::Tuple(_) => Err(format!(
                "values of type `{self}` cannot be given on the command line"
            )),
        }
    }

    /// Decodes a SCALE value of this type from the front of `input`.
    pub fn decode(
        &self,
        input: &mut &[u8],
        errors: &[String],
    ) -> core::result::Result<Value, String> {
        fn scale<T: Decode>(input: &mut &[u8]) -> core::result::Result<T, String> {
            T::decode(input).map_err(|e| e.to_string())
        }
        fn length(input: &mut &[u8]) -> core::result::Result<usize, String> {
            let len = scale::<Compact<u32>>(input)?.0 as usize;
            // Every element takes at least one byte except `()`; cap absurd lengths early.
            if len > input.len().saturating_mul(8).saturating_add(1024) {
                return Err(format!("length {len} is longer than the data"));
            }
            Ok(len)
        }
        Ok(match self {
            Type::Unit => Value::Null,
            Type::Bool => Value::Bool(scale::<bool>(input)?),
            Type::U8 => Value::from(scale::<u8>(input)?),
            Type::U16 => Value::from(scale::<u16>(input)?),
            Type::U32 => Value::from(scale::<u32>(input)?),
            Type::U64 => Value::from(scale::<u64>(input)?),
            Type::U128 => Value::String(scale::<u128>(input)?.to_string()),
            Type::I8 => Value::from(scale::<i8>(input)?),
            Type::I16 => Value::from(scale::<i16>(input)?),
            Type::I32 => Value::from(scale::<i32>(input)?),
            Type::I64 => Value::from(scale::<i64>(input)?),
            Type::I128 => Value::String(scale::<i128>(input)?.to_string()),
            Type::AccountId | Type::Hash => Value::String(hex0x(&scale::<[u8; 32]>(input)?)),
            Type::String => Value::String(scale::<String>(input)?),
            Type::Bytes => Value::String(hex0x(&scale::<Vec<u8>>(input)?)),
            Type::Vec(elem) => {
                let len = length(input)?;
                let mut items = Vec::with_capacity(len.min(1024));
                for _ in 0..len {
                    items.push(elem.decode(input, errors)?);
                }
                Value::Array(items)
            }
            Type::Array(elem, len) => {
                if **elem == Type::U8 {
                    if input.len() < *len {
                        return Err(format!("expected {len} bytes, {} left", input.len()));
                    }
                    let (bytes, rest) = input.split_at(*len);
                    *input = rest;
                    Value::String(hex0x(bytes))
                } else {
                    let mut items = Vec::with_capacity((*len).min(1024));
                    for _ in 0..*len {
                        items.push(elem.decode(input, errors)?);
                    }
                    Value::Array(items)
                }
            }
            Type::Option(inner) => match scale::<u8>(input)? {
                0 => Value::Null,
                1 => inner.decode(input, errors)?,
                b => return Err(format!("invalid Option tag {b}")),
            },
            Type::Result(ok, err) => match scale::<u8>(input)? {
                0 => serde_json::json!({ "Ok": ok.decode(input, errors)? }),
                1 => serde_json::json!({ "Err": err.decode(input, errors)? }),
                b => return Err(format!("invalid Result tag {b}")),
            },
            Type::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.decode(input, errors))
                    .collect::<core::result::Result<_, _>>()?,
            ),
            Type::ContractError => {
                let index = scale::<u8>(input)?;
                match errors.get(usize::from(index)) {
                    Some(name) => Value::String(name.clone()),
                    None => return Err(format!("unknown error variant {index}")),
                }
            }
        })
    }
}

/// Appends the SCALE encoding of `value`.
fn put<T: Encode>(value: T, out: &mut Vec<u8>) -> core::result::Result<(), String> {
    value.encode_to(out);
    Ok(())
}

fn clean_number(text: &str) -> String {
    text.chars().filter(|c| *c != '_').collect()
}

fn parse_uint<T: TryFrom<u128>>(text: &str) -> core::result::Result<T, String> {
    let clean = clean_number(text);
    let value = match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) => u128::from_str_radix(hex, 16),
        None => clean.parse::<u128>(),
    }
    .map_err(|e| format!("not an unsigned integer ({e})"))?;
    T::try_from(value).map_err(|_| {
        format!(
            "{value} is out of range for {}",
            core::any::type_name::<T>()
        )
    })
}

fn parse_int<T: TryFrom<i128>>(text: &str) -> core::result::Result<T, String> {
    let clean = clean_number(text);
    let value = clean
        .parse::<i128>()
        .map_err(|e| format!("not an integer ({e})"))?;
    T::try_from(value).map_err(|_| {
        format!(
            "{value} is out of range for {}",
            core::any::type_name::<T>()
        )
    })
}

/// The elements of a list argument: `[a, b]` or `a,b`; empty for `[]` or nothing.
fn list_items(text: &str) -> Vec<&str> {
    let inner = text.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(inner);
    inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

fn parse_hex(text: &str) -> core::result::Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| "expected 0x followed by hex digits".to_owned())?;
    hex::decode(digits).map_err(|e| format!("invalid hex ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountId, Hash};
    use std::vec;

    fn f(name: &str, args: &[(&str, &str)], returns: &str, payable: bool) -> Function {
        Function {
            name: name.to_owned(),
            selector: selector(name),
            args: args
                .iter()
                .map(|(n, t)| Arg {
                    name: (*n).to_owned(),
                    ty: (*t).to_owned(),
                    topic: false,
                })
                .collect(),
            returns: returns.to_owned(),
            payable,
            mutates: true,
        }
    }

    fn sample() -> Metadata {
        Metadata {
            abi: 1,
            name: "sample".to_owned(),
            error_type: Some("Error".to_owned()),
            constructors: vec![f("new", &[("supply", "u128")], "()", false)],
            messages: vec![
                f(
                    "everything",
                    &[
                        ("a", "u8"),
                        ("b", "u16"),
                        ("c", "u32"),
                        ("d", "u64"),
                        ("e", "u128"),
                        ("f", "i32"),
                        ("g", "i64"),
                        ("h", "i128"),
                        ("i", "bool"),
                        ("j", "AccountId"),
                        ("k", "Hash"),
                        ("l", "Vec < u8 >"),
                        ("m", "String"),
                        ("n", "Option<u32>"),
                        ("o", "Option<AccountId>"),
                        ("p", "Option<bool>"),
                        ("q", "Error"),
                        ("r", "()"),
                    ],
                    "Result<Option<u128>, Error>",
                    true,
                ),
                f("fails", &[], "Result<(), String>", false),
                f("pair", &[], "(u32, Vec<u8>)", false),
            ],
            errors: vec!["InsufficientBalance".to_owned(), "NotAllowed".to_owned()],
            events: vec![Event {
                name: "Transfer".to_owned(),
                args: vec![
                    Arg {
                        name: "from".to_owned(),
                        ty: "AccountId".to_owned(),
                        topic: true,
                    },
                    Arg {
                        name: "amount".to_owned(),
                        ty: "u128".to_owned(),
                        topic: false,
                    },
                ],
            }],
        }
    }

    #[test]
    fn lists_and_arrays_are_given_like_json_or_comma_separated() {
        let m = sample();
        let list = Type::Vec(Box::new(Type::U32));
        for text in ["[101, 7592, 102]", "101,7592,102", " [101,7592 ,102] "] {
            let mut out = Vec::new();
            list.encode_arg(text, &m.errors, &mut out).expect("a list");
            assert_eq!(out, vec![101u32, 7592, 102].encode(), "{text}");
        }
        let mut out = Vec::new();
        list.encode_arg("[]", &m.errors, &mut out).expect("empty");
        assert_eq!(out, Vec::<u32>::new().encode());
        let mut out = Vec::new();
        assert!(list.encode_arg("[1, x]", &m.errors, &mut out).is_err());
        let array = Type::Array(Box::new(Type::U32), 2);
        let mut out = Vec::new();
        array
            .encode_arg("[1, 2]", &m.errors, &mut out)
            .expect("two");
        assert_eq!(out, [1u32, 2].encode());
        let short = array.encode_arg("[1]", &m.errors, &mut Vec::new());
        assert!(matches!(short, Err(e) if e.contains("expected 2 elements")));
    }

    #[test]
    fn encodes_every_argument_type_like_scale() {
        let m = sample();
        let account = format!("0x{}", "11".repeat(32));
        let hash = format!("0x{}", "ab".repeat(32));
        let input = m
            .encode_input(
                "everything",
                &[
                    "255",
                    "0xffff",
                    "4_000_000_000",
                    "18446744073709551615",
                    "340282366920938463463374607431768211455",
                    "-5",
                    "-9000000000",
                    "-170141183460469231731687303715884105728",
                    "true",
                    &account,
                    &hash,
                    "0x0102",
                    "héllo",
                    "none",
                    &account,
                    "false",
                    "NotAllowed",
                    "",
                ],
            )
            .expect("encodes");
        let expected = (
            255u8,
            0xffffu16,
            4_000_000_000u32,
            u64::MAX,
            u128::MAX,
            -5i32,
            -9_000_000_000i64,
            i128::MIN,
            true,
            AccountId([0x11; 32]),
            Hash([0xab; 32]),
            vec![1u8, 2],
            "héllo".to_owned(),
        )
            .encode();
        let mut full = selector("everything").to_vec();
        full.extend_from_slice(&expected);
        full.extend_from_slice(&Option::<u32>::None.encode());
        full.extend_from_slice(&Some(AccountId([0x11; 32])).encode());
        full.extend_from_slice(&Some(false).encode());
        full.push(1); // Error::NotAllowed
        assert_eq!(input, full);
    }

    #[test]
    fn rejects_bad_arguments_with_clear_errors() {
        let m = sample();
        let err = m.encode_constructor_input("new", &[]).expect_err("count");
        assert!(matches!(
            err,
            MetadataError::ArgumentCount {
                expected: 1,
                found: 0,
                ..
            }
        ));
        let err = m
            .encode_constructor_input("new", &["-1"])
            .expect_err("negative");
        assert!(err.to_string().contains("supply: u128"), "{err}");
        let err = m.encode_input("nope", &[]).expect_err("unknown");
        assert!(err.to_string().contains("everything"), "{err}");
        let err = m
            .encode_constructor_input("everything", &[])
            .expect_err("not a ctor");
        assert!(matches!(err, MetadataError::UnknownConstructor { .. }));
        let mut out = Vec::new();
        assert!(Type::U8.encode_arg("256", &[], &mut out).is_err());
        assert!(Type::AccountId.encode_arg("0x1234", &[], &mut out).is_err());
        assert!(Type::AccountId.encode_arg("1234", &[], &mut out).is_err());
        assert!(Type::Bool.encode_arg("yes", &[], &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn decodes_outputs_errors_and_events() {
        let m = sample();
        // Result<Option<u128>, Error>: the Ok value is returned plainly.
        let out = Some(7u128).encode();
        assert_eq!(
            m.decode_output("everything", &out).expect("ok"),
            serde_json::json!("7")
        );
        assert_eq!(
            m.decode_output("everything", &[0]).expect("none"),
            Value::Null
        );
        let err = m.decode_output("everything", &[1, 0]).expect_err("short");
        assert!(matches!(err, MetadataError::Decode { .. }));
        let out = (5u32, vec![0xAAu8]).encode();
        assert_eq!(
            m.decode_output("pair", &out).expect("tuple"),
            serde_json::json!([5, "0xaa"])
        );

        assert_eq!(m.decode_error(&[1]), "NotAllowed");
        assert_eq!(m.decode_error(&[9]), "unknown error variant 9");
        assert_eq!(m.decode_error(&[]), "reverted without error data");
        assert!(m
            .decode_error(&DispatchError::UnknownSelector.encode())
            .starts_with("UnknownSelector"));
        assert!(m
            .decode_error(&DispatchError::NotPayable.encode())
            .starts_with("NotPayable"));
        assert_eq!(m.decode_revert("everything", &[0]), "InsufficientBalance");
        assert_eq!(m.decode_revert("fails", &"boom".encode()), "boom");
        assert!(m
            .decode_revert("fails", &DispatchError::InvalidArguments.encode())
            .starts_with("InvalidArguments"));

        let topics = [event_signature("Transfer"), [0x22; 32]];
        let data = (AccountId([0x22; 32]), 1000u128).encode();
        let event = m
            .decode_event(&topics, &data)
            .expect("decodes")
            .expect("known");
        assert_eq!(event.name, "Transfer");
        assert_eq!(
            event.to_json(),
            serde_json::json!({"event": "Transfer", "fields": {"from": format!("0x{}", "22".repeat(32)), "amount": "1000"}})
        );
        assert_eq!(m.decode_event(&[[0; 32]], &data).expect("ok"), None);
    }

    #[test]
    fn json_round_trip_and_checks() {
        let m = sample();
        let json = m.to_json_pretty();
        assert_eq!(Metadata::from_json(&json).expect("parses"), m);

        let bad = json.replace(&hex0x(&selector("new")), "0x00000000");
        assert!(matches!(
            Metadata::from_json(&bad),
            Err(MetadataError::SelectorMismatch { .. })
        ));
        let bad = json.replace("\"abi\": 1", "\"abi\": 2");
        assert!(matches!(
            Metadata::from_json(&bad),
            Err(MetadataError::UnsupportedAbi(2))
        ));
        assert!(matches!(
            Metadata::from_json("{"),
            Err(MetadataError::Json(_))
        ));
        assert!(matches!(
            Metadata::from_json("{}"),
            Err(MetadataError::Json(_))
        ));
    }

    #[test]
    fn types_parse_and_print() {
        let t = Type::parse("Result < Option<Vec<u8>>, Error >", Some("Error")).expect("parses");
        assert_eq!(
            t,
            Type::Result(
                Box::new(Type::Option(Box::new(Type::Bytes))),
                Box::new(Type::ContractError)
            )
        );
        assert_eq!(t.to_string(), "Result<Option<Vec<u8>>,Error>");
        assert_eq!(
            Type::parse("menara_contract::AccountId", None).expect("path"),
            Type::AccountId
        );
        assert_eq!(
            Type::parse("[u8; 32]", None).expect("array"),
            Type::Array(Box::new(Type::U8), 32)
        );
        assert!(matches!(
            Type::parse("Error", None),
            Err(MetadataError::UnsupportedType(_))
        ));
        assert!(Type::parse("HashMap<u8,u8>", None).is_err());
    }

    #[test]
    fn wasm_without_section_is_reported() {
        // The smallest module: magic and version.
        let module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        assert!(matches!(
            Metadata::from_wasm(&module),
            Err(MetadataError::NoMetadataSection)
        ));
        assert!(matches!(
            Metadata::from_wasm(b"nope"),
            Err(MetadataError::InvalidWasm(_))
        ));
    }
}
