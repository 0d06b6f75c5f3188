//! Origins, dispatch results and pallet errors.
use menara_primitives::{AccountId, DispatchError};

/// Who is calling.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Origin {
    /// A signed transaction from this account.
    Signed(AccountId),
    /// The chain itself (governance); never from a transaction.
    Root,
}

/// The result of dispatching a call.
pub type DispatchResult = Result<(), DispatchError>;

/// A pallet's error enum: a stable index and a name per variant. The pallet's index
/// comes from the runtime's configuration of it.
pub trait PalletError: Sized {
    /// Index of this variant (its SCALE index).
    fn index(&self) -> u8;
    /// Name of this variant, for people.
    fn name(&self) -> &'static str;
    /// As a [`DispatchError`] of the pallet at `pallet_index`.
    fn into_dispatch_error(self, pallet_index: u8) -> DispatchError {
        DispatchError {
            pallet: pallet_index,
            error: self.index(),
            message: self.name().into(),
        }
    }
}

/// The error of a call from the wrong kind of origin.
pub fn bad_origin() -> DispatchError {
    DispatchError {
        pallet: 0,
        error: u8::MAX,
        message: "BadOrigin".into(),
    }
}

/// The signer, or a `BadOrigin` error.
pub fn ensure_signed(origin: Origin) -> Result<AccountId, DispatchError> {
    match origin {
        Origin::Signed(who) => Ok(who),
        Origin::Root => Err(bad_origin()),
    }
}

/// Implements [`PalletError`] for a fieldless enum.
#[macro_export]
macro_rules! impl_pallet_error {
    ($err:ty, { $($variant:ident),* $(,)? }) => {
        impl $crate::PalletError for $err {
            fn index(&self) -> u8 {
                *self as u8
            }
            fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                }
            }
        }
    };
}
