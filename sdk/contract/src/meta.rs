//! Compile-time contract metadata.
//!
//! The [`crate::contract!`] macro describes the contract as a [`Contract`] constant and
//! renders it to JSON bytes with [`json`], in a `const` context, into the wasm custom
//! section `menara:metadata`:
//!
//! ```json
//! {"abi":1,"name":"token","error_type":"Error",
//!  "constructors":[{"name":"new","selector":"0x........","args":[{"name":"supply","type":"u128"}],
//!                   "returns":"()","payable":false,"mutates":true}],
//!  "messages":[{"name":"transfer","selector":"0x........","args":[...],
//!               "returns":"Result<(),Error>","payable":false,"mutates":true}],
//!  "errors":["InsufficientBalance","InsufficientAllowance"],
//!  "events":[{"name":"Transfer","args":[{"name":"from","type":"AccountId","topic":true}]}]}
//! ```
//!
//! Type names are Rust types with whitespace removed. `error_type` names the contract's
//! error enum (`null` without one) so that tools recognise it inside `Result<T, E>`.
//! Selectors are `blake3(name)[..4]` in hex (computed by [`crate::hash::selector`]).

use crate::hash::selector;

/// An argument of a constructor, message or event.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// The argument's name.
    pub name: &'static str,
    /// Its Rust type, as written (whitespace is dropped when rendered).
    pub ty: &'static str,
    /// For event fields: whether the field is also a topic.
    pub topic: bool,
}

/// A constructor or message.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Its name; the selector is derived from it.
    pub name: &'static str,
    /// Its arguments, in order.
    pub args: &'static [Arg],
    /// Its return type (empty means `()`).
    pub returns: &'static str,
    /// Whether it accepts value.
    pub payable: bool,
    /// Whether it may change state (`false` for `#[view]` messages).
    pub mutates: bool,
}

/// An event.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Its name; its signature topic is `blake3(name)`.
    pub name: &'static str,
    /// Its fields, in order.
    pub args: &'static [Arg],
}

/// A whole contract.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// The contract's name.
    pub name: &'static str,
    /// The name of its error enum, if it declares one.
    pub error_type: Option<&'static str>,
    /// Its constructors.
    pub constructors: &'static [Function],
    /// Its messages.
    pub messages: &'static [Function],
    /// Its error enum's variants, in index order.
    pub errors: &'static [&'static str],
    /// Its events.
    pub events: &'static [Event],
}

/// A byte sink that counts everything and stores what fits.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    const fn byte(&mut self, b: u8) {
        if self.pos < self.buf.len() {
            self.buf[self.pos] = b;
        }
        self.pos += 1;
    }

    const fn raw(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            self.byte(bytes[i]);
            i += 1;
        }
    }

    /// A JSON string; with `compact`, ASCII whitespace is dropped (for type names).
    const fn string(&mut self, s: &str, compact: bool) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.byte(b'"');
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if compact && b.is_ascii_whitespace() {
                continue;
            }
            if b == b'"' || b == b'\\' {
                self.byte(b'\\');
                self.byte(b);
            } else if b < 0x20 {
                self.raw("\\u00");
                self.byte(HEX[(b >> 4) as usize]);
                self.byte(HEX[(b & 0xF) as usize]);
            } else {
                self.byte(b);
            }
        }
        self.byte(b'"');
    }

    const fn boolean(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    const fn selector(&mut self, name: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let sel = selector(name);
        self.raw("\"0x");
        let mut i = 0;
        while i < 4 {
            self.byte(HEX[(sel[i] >> 4) as usize]);
            self.byte(HEX[(sel[i] & 0xF) as usize]);
            i += 1;
        }
        self.byte(b'"');
    }

    const fn args(&mut self, args: &[Arg], with_topic: bool) {
        self.byte(b'[');
        let mut i = 0;
        while i < args.len() {
            if i > 0 {
                self.byte(b',');
            }
            self.raw("{\"name\":");
            self.string(args[i].name, false);
            self.raw(",\"type\":");
            self.string(args[i].ty, true);
            if with_topic {
                self.raw(",\"topic\":");
                self.boolean(args[i].topic);
            }
            self.byte(b'}');
            i += 1;
        }
        self.byte(b']');
    }

    const fn functions(&mut self, functions: &[Function]) {
        self.byte(b'[');
        let mut i = 0;
        while i < functions.len() {
            let f = &functions[i];
            if i > 0 {
                self.byte(b',');
            }
            self.raw("{\"name\":");
            self.string(f.name, false);
            self.raw(",\"selector\":");
            self.selector(f.name);
            self.raw(",\"args\":");
            self.args(f.args, false);
            self.raw(",\"returns\":");
            self.string(
                if f.returns.is_empty() {
                    "()"
                } else {
                    f.returns
                },
                true,
            );
            self.raw(",\"payable\":");
            self.boolean(f.payable);
            self.raw(",\"mutates\":");
            self.boolean(f.mutates);
            self.byte(b'}');
            i += 1;
        }
        self.byte(b']');
    }

    const fn contract(&mut self, c: &Contract) {
        self.raw("{\"abi\":1,\"name\":");
        self.string(c.name, false);
        self.raw(",\"error_type\":");
        match c.error_type {
            Some(name) => self.string(name, false),
            None => self.raw("null"),
        }
        self.raw(",\"constructors\":");
        self.functions(c.constructors);
        self.raw(",\"messages\":");
        self.functions(c.messages);
        self.raw(",\"errors\":[");
        let mut i = 0;
        while i < c.errors.len() {
            if i > 0 {
                self.byte(b',');
            }
            self.string(c.errors[i], false);
            i += 1;
        }
        self.raw("],\"events\":[");
        let mut i = 0;
        while i < c.events.len() {
            if i > 0 {
                self.byte(b',');
            }
            self.raw("{\"name\":");
            self.string(c.events[i].name, false);
            self.raw(",\"args\":");
            self.args(c.events[i].args, true);
            self.byte(b'}');
            i += 1;
        }
        self.raw("]}");
    }
}

/// The length of `contract`'s JSON rendering.
pub const fn json_len(contract: &Contract) -> usize {
    let mut empty = [0u8; 0];
    let mut w = Writer {
        buf: &mut empty,
        pos: 0,
    };
    w.contract(contract);
    w.pos
}

/// `contract` rendered as JSON; `N` must be [`json_len`]`(contract)`.
pub const fn json<const N: usize>(contract: &Contract) -> [u8; N] {
    let mut out = [0u8; N];
    let mut w = Writer {
        buf: &mut out,
        pos: 0,
    };
    w.contract(contract);
    assert!(w.pos == N, "metadata length mismatch");
    out
}

/// Reports, at compile time, two constructors or two messages sharing a selector.
pub const fn assert_unique_selectors(functions: &[Function]) {
    let mut i = 0;
    while i < functions.len() {
        let a = selector(functions[i].name);
        let mut j = i + 1;
        while j < functions.len() {
            let b = selector(functions[j].name);
            if a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] {
                panic!("two constructors or two messages have the same selector (or name)");
            }
            j += 1;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Contract = Contract {
        name: "t\"q",
        error_type: Some("Error"),
        constructors: &[Function {
            name: "new",
            args: &[],
            returns: "",
            payable: true,
            mutates: true,
        }],
        messages: &[Function {
            name: "get",
            args: &[Arg {
                name: "k",
                ty: "Vec < u8 >",
                topic: false,
            }],
            returns: "Result < u8, Error >",
            payable: false,
            mutates: false,
        }],
        errors: &["A", "B"],
        events: &[Event {
            name: "E",
            args: &[Arg {
                name: "x",
                ty: "u8",
                topic: true,
            }],
        }],
    };

    #[test]
    fn renders_compact_json() {
        const LEN: usize = json_len(&C);
        const BYTES: [u8; LEN] = json::<LEN>(&C);
        let text = core::str::from_utf8(&BYTES).expect("utf-8");
        let sel_new = selector("new");
        let sel_get = selector("get");
        let expected = alloc::format!(
            "{{\"abi\":1,\"name\":\"t\\\"q\",\"error_type\":\"Error\",\"constructors\":[{{\"name\":\"new\",\"selector\":\"0x{:02x}{:02x}{:02x}{:02x}\",\"args\":[],\"returns\":\"()\",\"payable\":true,\"mutates\":true}}],\"messages\":[{{\"name\":\"get\",\"selector\":\"0x{:02x}{:02x}{:02x}{:02x}\",\"args\":[{{\"name\":\"k\",\"type\":\"Vec<u8>\"}}],\"returns\":\"Result<u8,Error>\",\"payable\":false,\"mutates\":false}}],\"errors\":[\"A\",\"B\"],\"events\":[{{\"name\":\"E\",\"args\":[{{\"name\":\"x\",\"type\":\"u8\",\"topic\":true}}]}}]}}",
            sel_new[0], sel_new[1], sel_new[2], sel_new[3], sel_get[0], sel_get[1], sel_get[2], sel_get[3]
        );
        assert_eq!(text, expected);
    }
}
