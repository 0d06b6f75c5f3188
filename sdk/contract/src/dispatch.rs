//! What the [`crate::contract!`] macro's generated dispatch is built from: the SDK's own
//! dispatch errors, result encoding ([`ReturnValue`]) and event topics.

use alloc::string::String;
use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};

use crate::{env, AccountId, Hash};

/// The first four bytes of the revert data of every [`DispatchError`]: `0xFF` then
/// `"sdk"`. The fifth and last byte is the error's code.
///
/// A contract's own error enum reverts with its one-byte variant index instead, so the two
/// never overlap for fieldless error enums.
pub const DISPATCH_ERROR_PREFIX: [u8; 4] = [0xFF, b's', b'd', b'k'];

/// Errors of the SDK's dispatch itself, before a constructor's or message's code runs.
/// The call reverts with [`DISPATCH_ERROR_PREFIX`] followed by the code (the enum's
/// discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DispatchError {
    /// The input is shorter than a selector, or no constructor (in `deploy`) or message (in
    /// `call`) has its selector.
    UnknownSelector = 0,
    /// Value was sent to a constructor or message not marked `#[payable]`.
    NotPayable = 1,
    /// The arguments after the selector do not decode as the declared types, or bytes are
    /// left over after them.
    InvalidArguments = 2,
}

impl DispatchError {
    /// All dispatch errors, indexed by code.
    pub const ALL: [DispatchError; 3] = [
        DispatchError::UnknownSelector,
        DispatchError::NotPayable,
        DispatchError::InvalidArguments,
    ];

    /// The revert data for this error.
    pub const fn encode(self) -> [u8; 5] {
        let p = DISPATCH_ERROR_PREFIX;
        [p[0], p[1], p[2], p[3], self as u8]
    }

    /// Recognises the revert data of a dispatch error.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [a, b, c, d, code] if [*a, *b, *c, *d] == DISPATCH_ERROR_PREFIX => {
                Self::ALL.get(usize::from(*code)).copied()
            }
            _ => None,
        }
    }

    /// The error's name.
    pub const fn name(self) -> &'static str {
        match self {
            DispatchError::UnknownSelector => "UnknownSelector",
            DispatchError::NotPayable => "NotPayable",
            DispatchError::InvalidArguments => "InvalidArguments",
        }
    }

    /// A sentence describing the error.
    pub const fn description(self) -> &'static str {
        match self {
            DispatchError::UnknownSelector => {
                "the input's selector matches no constructor or message of the contract"
            }
            DispatchError::NotPayable => {
                "value was sent to a constructor or message that is not payable"
            }
            DispatchError::InvalidArguments => {
                "the arguments do not decode as the constructor's or message's parameter types"
            }
        }
    }
}

/// Reverts the call with a [`DispatchError`].
pub fn dispatch_error(error: DispatchError) -> ! {
    env::return_value(env::REVERT, &error.encode())
}

/// How a constructor's or message's return value ends the call.
///
/// Plain values are SCALE-encoded and returned. `Result<T, E>` returns `T` on `Ok` and
/// reverts with the SCALE encoding of `E` on `Err`. Implemented for the types the metadata
/// understands; for your own `Encode` types use [`crate::impl_return_value!`].
pub trait ReturnValue {
    /// Ends the call with this value as the output.
    fn return_value(self) -> !;
}

fn return_encoded<T: Encode + ?Sized>(value: &T) -> ! {
    value.using_encoded(|bytes| env::return_value(0, bytes))
}

/// Implements [`ReturnValue`] for `Encode` types: the value is returned SCALE-encoded.
///
/// ```
/// #[derive(menara_contract::Encode)]
/// # #[codec(crate = menara_contract::scale)]
/// pub struct Pair { a: u32, b: u32 }
/// menara_contract::impl_return_value!(Pair);
/// ```
#[macro_export]
macro_rules! impl_return_value {
    ($($ty:ty),* $(,)?) => {
        $(
            impl $crate::ReturnValue for $ty {
                fn return_value(self) -> ! {
                    $crate::scale::Encode::using_encoded(&self, |bytes| {
                        $crate::env::return_value(0, bytes)
                    })
                }
            }
        )*
    };
}

impl_return_value!(
    (),
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    i8,
    i16,
    i32,
    i64,
    i128,
    AccountId,
    Hash,
    String
);

impl<T: Encode> ReturnValue for Vec<T> {
    fn return_value(self) -> ! {
        return_encoded(&self)
    }
}

impl<T: Encode> ReturnValue for Option<T> {
    fn return_value(self) -> ! {
        return_encoded(&self)
    }
}

impl<T: Encode, const N: usize> ReturnValue for [T; N] {
    fn return_value(self) -> ! {
        return_encoded(&self)
    }
}

macro_rules! tuple_return_value {
    ($($name:ident),+) => {
        impl<$($name: Encode),+> ReturnValue for ($($name,)+) {
            fn return_value(self) -> ! {
                return_encoded(&self)
            }
        }
    };
}
tuple_return_value!(A);
tuple_return_value!(A, B);
tuple_return_value!(A, B, C);
tuple_return_value!(A, B, C, D);

impl<T: Encode, E: Encode> ReturnValue for Result<T, E> {
    fn return_value(self) -> ! {
        match self {
            Ok(value) => return_encoded(&value),
            Err(error) => error.using_encoded(|bytes| env::return_value(env::REVERT, bytes)),
        }
    }
}

/// Ends the call with `value` (see [`ReturnValue`]).
pub fn finish<R: ReturnValue>(value: R) -> ! {
    value.return_value()
}

/// Splits the input into its selector and argument bytes; reverts with
/// [`DispatchError::UnknownSelector`] if it is shorter than a selector.
pub fn split_selector(input: &[u8]) -> ([u8; 4], &[u8]) {
    match input {
        [a, b, c, d, rest @ ..] => ([*a, *b, *c, *d], rest),
        _ => dispatch_error(DispatchError::UnknownSelector),
    }
}

/// Reverts with [`DispatchError::NotPayable`] if value was sent to something not payable.
pub fn check_payable(payable: bool) {
    if !payable && env::value_transferred() != 0 {
        dispatch_error(DispatchError::NotPayable)
    }
}

/// Decodes the next argument; reverts with [`DispatchError::InvalidArguments`] on failure.
pub fn decode_arg<T: Decode>(input: &mut &[u8]) -> T {
    match T::decode(input) {
        Ok(value) => value,
        Err(_) => dispatch_error(DispatchError::InvalidArguments),
    }
}

/// Reverts with [`DispatchError::InvalidArguments`] if bytes are left after the arguments.
pub fn ensure_consumed(rest: &[u8]) {
    if !rest.is_empty() {
        dispatch_error(DispatchError::InvalidArguments)
    }
}

/// The topics of an event being emitted: its signature (`blake3(name)`) first, then one per
/// `#[topic]` field: the field's SCALE encoding zero-padded to 32 bytes, or its BLAKE3
/// hash when the encoding is longer than 32 bytes.
pub struct EventTopics {
    topics: [[u8; 32]; env::MAX_TOPICS],
    len: usize,
}

impl EventTopics {
    /// Topics starting with the event's signature.
    pub const fn new(signature: [u8; 32]) -> Self {
        let mut topics = [[0u8; 32]; env::MAX_TOPICS];
        topics[0] = signature;
        Self { topics, len: 1 }
    }

    /// Adds a topic for `value`.
    ///
    /// # Panics
    /// If the event already has [`env::MAX_TOPICS`] topics (the macro rules this out at
    /// compile time).
    pub fn push<T: Encode + ?Sized>(&mut self, value: &T) {
        assert!(self.len < env::MAX_TOPICS, "an event has at most 4 topics");
        let topic = value.using_encoded(|bytes| {
            if bytes.len() <= 32 {
                let mut topic = [0u8; 32];
                topic[..bytes.len()].copy_from_slice(bytes);
                topic
            } else {
                env::hash_blake3(bytes)
            }
        });
        self.topics[self.len] = topic;
        self.len += 1;
    }

    /// The topics so far.
    pub fn as_slice(&self) -> &[[u8; 32]] {
        &self.topics[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_errors_round_trip() {
        for error in DispatchError::ALL {
            assert_eq!(DispatchError::decode(&error.encode()), Some(error));
        }
        assert_eq!(DispatchError::decode(&[0]), None);
        assert_eq!(DispatchError::decode(&[0xFF, b's', b'd', b'k', 9]), None);
    }

    #[test]
    fn short_topics_are_padded_encodings() {
        let mut topics = EventTopics::new([7; 32]);
        topics.push(&5u32);
        topics.push(&AccountId([3; 32]));
        let t = topics.as_slice();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], [7; 32]);
        assert_eq!(&t[1][..4], &[5, 0, 0, 0]);
        assert!(t[1][4..].iter().all(|b| *b == 0));
        assert_eq!(t[2], [3; 32]);
    }
}
