//! The `contract!` macro and its helpers.

/// Declares a contract: its name, error enum, events, constructors and messages.
///
/// ```
/// # use menara_contract::{env, storage::Mapping, AccountId};
/// # const BALANCES: Mapping<AccountId, u128> = Mapping::new(b"b");
/// menara_contract::contract! {
///     // Required: the contract's name, as it appears in the metadata.
///     name = "token";
///
///     // Optional: the contract's error enum (fieldless; SCALE index = declaration order).
///     errors = Error { InsufficientBalance, NotAllowed };
///
///     // Optional: events. `#[topic]` fields also become topics (at most 3 per event).
///     events = {
///         Transfer(#[topic] from: AccountId, #[topic] to: AccountId, amount: u128);
///         Deposited(amount: u128);
///     };
///
///     // Optional: accept being re-entered while a call into this contract is running.
///     reentrant = false;
///
///     // Optional: runs when the admin moves a contract to this code.
///     migrate {
///         env::debug_message("migrated");
///     }
///
///     // Constructors (any number; at least one to take arguments at deploy).
///     constructor new(supply: u128) {
///         BALANCES.insert(&env::caller(), &supply);
///     }
///
///     // Messages. The return type defaults to `()`.
///     message transfer(to: AccountId, amount: u128) -> Result<(), Error> {
///         let from = env::caller();
///         let have = BALANCES.get_or_default(&from);
///         let left = have.checked_sub(amount).ok_or(Error::InsufficientBalance)?;
///         BALANCES.insert(&from, &left);
///         BALANCES.insert(&to, &BALANCES.get_or_default(&to).saturating_add(amount));
///         Transfer { from, to, amount }.emit();
///         Ok(())
///     }
///
///     /// Accepts value (everything else reverts with `NotPayable` when sent value).
///     #[payable]
///     message deposit() {
///         Deposited { amount: env::value_transferred() }.emit();
///     }
///
///     /// Read-only (recorded as `"mutates": false` in the metadata).
///     #[view]
///     message balance_of(who: AccountId) -> u128 {
///         BALANCES.get_or_default(&who)
///     }
/// }
/// # fn main() {}
/// ```
///
/// The sections may come in any order; each of `name`, `errors`, `events`, `reentrant`
/// and `migrate` at most once.
///
/// # What it generates
/// - `pub enum Error { .. }` (the name you chose) with `Encode`/`Decode` as its one-byte
///   variant index, and `Debug, Clone, Copy, PartialEq, Eq`.
/// - For each event, `pub struct Transfer { pub from: AccountId, .. }` with
///   `Transfer::SIGNATURE` (its first topic, `blake3("Transfer")`) and `.emit()`. The
///   event's data is the SCALE encoding of all its fields in order; each `#[topic]` field
///   is also a topic: its SCALE encoding zero-padded to 32 bytes, or the BLAKE3 hash of
///   the encoding if longer.
/// - The exports `deploy` and `call` (and `migrate`, `allow_reentry` when asked for), only
///   when compiling for wasm32. They read the input, match its selector
///   (`blake3(name)[..4]`, computed at compile time) against the constructors (`deploy`)
///   or messages (`call`), revert with [`DispatchError::NotPayable`](crate::DispatchError)
///   if value was sent to something not `#[payable]`, decode the arguments (reverting with
///   `InvalidArguments` if they do not decode exactly), run the body and end the call with
///   its [`ReturnValue`](crate::ReturnValue): `Ok`/plain values are returned
///   SCALE-encoded, `Err(e)` reverts with the SCALE encoding of `e`. An unknown selector
///   reverts with `UnknownSelector`. A contract without constructors accepts a deployment
///   with empty input.
/// - The JSON metadata (see [`crate::meta`]) in the custom section `menara:metadata`, also
///   available as `__MENARA_METADATA_JSON` on every target.
///
/// Each constructor's and message's body becomes a private function of its own, so
/// `return` and `?` work as usual; it sees the items of the module the macro is invoked in.
/// Two constructors or two messages whose selectors collide are a compile error.
#[macro_export]
macro_rules! contract {
    ($($body:tt)*) => {
        $crate::__menara_contract!(@munch [] [] [] [] [] [] [] $($body)*);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_contract {
    // ---- Sections. Slots: [name] [errors] [events] [reentrant] [migrate] [ctors] [msgs].
    (@munch [] $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt name = $name:literal; $($rest:tt)*) => {
        $crate::__menara_contract!(@munch [$name] $e $ev $r $m $c $g $($rest)*);
    };
    (@munch $n:tt [] $ev:tt $r:tt $m:tt $c:tt $g:tt
        errors = $err:ident { $($variants:tt)* }; $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n [$err { $($variants)* }] $ev $r $m $c $g $($rest)*);
    };
    (@munch $n:tt $e:tt [] $r:tt $m:tt $c:tt $g:tt events = { $($events:tt)* }; $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e [$($events)*] $r $m $c $g $($rest)*);
    };
    (@munch $n:tt $e:tt $ev:tt [] $m:tt $c:tt $g:tt reentrant = true; $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e $ev [true] $m $c $g $($rest)*);
    };
    (@munch $n:tt $e:tt $ev:tt [] $m:tt $c:tt $g:tt reentrant = false; $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e $ev [false] $m $c $g $($rest)*);
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt [] $c:tt $g:tt
        migrate $(-> $ret:ty)? $body:block $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e $ev $r [migrate [$($ret)?] $body] $c $g $($rest)*);
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt [$($c:tt)*] $g:tt
        $(#[$($attr:tt)*])* constructor $name:ident ($($args:tt)*) $(-> $ret:ty)? $body:block
        $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e $ev $r $m
            [$($c)* { [$([$($attr)*])*] $name ($($args)*) [$($ret)?] $body }] $g $($rest)*);
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt [$($g:tt)*]
        $(#[$($attr:tt)*])* message $name:ident ($($args:tt)*) $(-> $ret:ty)? $body:block
        $($rest:tt)*) => {
        $crate::__menara_contract!(@munch $n $e $ev $r $m $c
            [$($g)* { [$([$($attr)*])*] $name ($($args)*) [$($ret)?] $body }] $($rest)*);
    };
    (@munch [$name:literal] $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt) => {
        $crate::__menara_contract!(@emit [$name] $e $ev $r $m $c $g);
    };

    // ---- Mistakes.
    (@munch [] $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt) => {
        ::core::compile_error!("contract! needs `name = \"...\";`");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt name $($rest:tt)*) => {
        ::core::compile_error!("contract!: `name = \"...\";` given twice, or not a string literal");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt errors $($rest:tt)*) => {
        ::core::compile_error!("contract!: `errors = Name { Variant, .. };` given twice, or malformed");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt events $($rest:tt)*) => {
        ::core::compile_error!("contract!: `events = { .. };` given twice, or malformed");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt reentrant $($rest:tt)*) => {
        ::core::compile_error!("contract!: `reentrant = true;` (or false) given twice, or malformed");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt migrate $($rest:tt)*) => {
        ::core::compile_error!("contract!: `migrate { .. }` given twice");
    };
    (@munch $n:tt $e:tt $ev:tt $r:tt $m:tt $c:tt $g:tt $($rest:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "contract!: unexpected `",
            ::core::stringify!($($rest)+),
            "`; expected `name = ..;`, `errors = ..;`, `events = { .. };`, `reentrant = ..;`, ",
            "`migrate { .. }`, `constructor name(..) { .. }` or `message name(..) -> T { .. }`"
        ));
    };

    // ---- Code generation.
    (@emit
        [$name:literal]
        [$( $err:ident { $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)? } )?]
        [$( $(#[$emeta:meta])* $ev:ident ( $( $(#[$topic:ident])? $field:ident : $fty:ty ),* $(,)? ) );* $(;)?]
        [$($reentrant:tt)*]
        [$( $migrate:ident [$($mret:ty)?] $mbody:block )?]
        [$( { [$( [$($cattr:tt)*] )*] $cname:ident ( $( $carg:ident : $cty:ty ),* $(,)? ) [$($cret:ty)?] $cbody:block } )*]
        [$( { [$( [$($mattr:tt)*] )*] $mname:ident ( $( $marg:ident : $mty:ty ),* $(,)? ) [$($mret_:ty)?] $mbody_:block } )*]
    ) => {
        // Errors.
        $(
            /// The contract's errors; a message returning `Err(e)` reverts with `e`'s
            /// one-byte variant index.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub enum $err {
                $( $(#[$vmeta])* $variant ),+
            }

            impl $crate::scale::Encode for $err {
                fn size_hint(&self) -> usize {
                    1
                }
                fn encode_to<__O: $crate::scale::Output + ?::core::marker::Sized>(&self, dest: &mut __O) {
                    dest.push_byte(*self as u8)
                }
            }

            impl $crate::scale::EncodeLike for $err {}

            impl $crate::scale::Decode for $err {
                fn decode<__I: $crate::scale::Input>(
                    input: &mut __I,
                ) -> ::core::result::Result<Self, $crate::scale::Error> {
                    const VARIANTS: &[$err] = &[$($err::$variant),+];
                    let index = input.read_byte()?;
                    match VARIANTS.get(usize::from(index)) {
                        ::core::option::Option::Some(v) => ::core::result::Result::Ok(*v),
                        ::core::option::Option::None => {
                            ::core::result::Result::Err("invalid error variant index".into())
                        }
                    }
                }
            }

            const _: () = ::core::assert!(
                [$(::core::stringify!($variant)),+].len() <= 256,
                "an error enum has at most 256 variants"
            );
        )?

        // Events.
        $(
            $(#[$emeta])*
            pub struct $ev {
                $( pub $field: $fty ),*
            }

            impl $ev {
                /// The event's first topic: `blake3` of its name.
                pub const SIGNATURE: [u8; 32] = $crate::event_signature(::core::stringify!($ev));

                /// Emits the event.
                #[allow(unused_mut)]
                pub fn emit(&self) {
                    let mut topics = $crate::__private::EventTopics::new(Self::SIGNATURE);
                    $( $crate::__menara_event_topic!(topics, &self.$field $(, $topic)?); )*
                    let mut data = $crate::__private::Vec::new();
                    $( $crate::scale::Encode::encode_to(&self.$field, &mut data); )*
                    $crate::env::deposit_event(topics.as_slice(), &data);
                }
            }

            const _: () = ::core::assert!(
                0 $( + $crate::__menara_count_topic!($($topic)?) )* <= 3,
                "an event has at most 3 #[topic] fields (its signature is the 4th topic)"
            );
        )*

        // Metadata.
        #[doc(hidden)]
        pub const __MENARA_CONTRACT: $crate::meta::Contract = $crate::meta::Contract {
            name: $name,
            error_type: $crate::__menara_opt_name!($($err)?),
            constructors: &[$(
                $crate::meta::Function {
                    name: ::core::stringify!($cname),
                    args: &[$( $crate::meta::Arg {
                        name: ::core::stringify!($carg),
                        ty: ::core::stringify!($cty),
                        topic: false,
                    } ),*],
                    returns: ::core::stringify!($($cret)?),
                    payable: $crate::__menara_has_attr!(payable; $([$($cattr)*])*),
                    mutates: true,
                }
            ),*],
            messages: &[$(
                $crate::meta::Function {
                    name: ::core::stringify!($mname),
                    args: &[$( $crate::meta::Arg {
                        name: ::core::stringify!($marg),
                        ty: ::core::stringify!($mty),
                        topic: false,
                    } ),*],
                    returns: ::core::stringify!($($mret_)?),
                    payable: $crate::__menara_has_attr!(payable; $([$($mattr)*])*),
                    mutates: !$crate::__menara_has_attr!(view; $([$($mattr)*])*),
                }
            ),*],
            errors: &[$($( ::core::stringify!($variant) ),+)?],
            events: &[$(
                $crate::meta::Event {
                    name: ::core::stringify!($ev),
                    args: &[$( $crate::meta::Arg {
                        name: ::core::stringify!($field),
                        ty: ::core::stringify!($fty),
                        topic: $crate::__menara_is_topic!($($topic)?),
                    } ),*],
                }
            ),*],
        };

        const _: () = {
            $crate::meta::assert_unique_selectors(__MENARA_CONTRACT.constructors);
            $crate::meta::assert_unique_selectors(__MENARA_CONTRACT.messages);
        };

        #[doc(hidden)]
        pub const __MENARA_METADATA_LEN: usize = $crate::meta::json_len(&__MENARA_CONTRACT);

        /// The contract's JSON metadata (also in the wasm custom section `menara:metadata`).
        #[doc(hidden)]
        pub const __MENARA_METADATA_JSON: [u8; __MENARA_METADATA_LEN] =
            $crate::meta::json::<__MENARA_METADATA_LEN>(&__MENARA_CONTRACT);

        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "menara:metadata")]
        #[used]
        static __MENARA_METADATA: [u8; __MENARA_METADATA_LEN] = __MENARA_METADATA_JSON;

        $( $crate::__menara_check_attrs!(constructor; $([$($cattr)*])*); )*
        $( $crate::__menara_check_attrs!(message; $([$($mattr)*])*); )*

        // Dispatch.
        #[doc(hidden)]
        #[allow(unused_mut, unused_variables, clippy::let_unit_value)]
        pub fn __menara_deploy() -> ! {
            let input = $crate::env::input();
            if input.is_empty() && __MENARA_CONTRACT.constructors.is_empty() {
                $crate::__private::check_payable(false);
                $crate::env::return_value(0, &[]);
            }
            let (selector, mut args) = $crate::__private::split_selector(&input);
            $(
                if selector == const { $crate::selector(::core::stringify!($cname)) } {
                    $crate::__private::check_payable(
                        $crate::__menara_has_attr!(payable; $([$($cattr)*])*)
                    );
                    $( let $carg: $cty = $crate::__private::decode_arg(&mut args); )*
                    $crate::__private::ensure_consumed(args);
                    fn __menara_body($($carg: $cty),*) -> $crate::__menara_ret!($($cret)?) $cbody
                    $crate::__private::finish(__menara_body($($carg),*))
                }
            )*
            $crate::__private::dispatch_error($crate::DispatchError::UnknownSelector)
        }

        #[doc(hidden)]
        #[allow(unused_mut, unused_variables, clippy::let_unit_value)]
        pub fn __menara_call() -> ! {
            let input = $crate::env::input();
            let (selector, mut args) = $crate::__private::split_selector(&input);
            $(
                if selector == const { $crate::selector(::core::stringify!($mname)) } {
                    $crate::__private::check_payable(
                        $crate::__menara_has_attr!(payable; $([$($mattr)*])*)
                    );
                    $( let $marg: $mty = $crate::__private::decode_arg(&mut args); )*
                    $crate::__private::ensure_consumed(args);
                    fn __menara_body($($marg: $mty),*) -> $crate::__menara_ret!($($mret_)?) $mbody_
                    $crate::__private::finish(__menara_body($($marg),*))
                }
            )*
            $crate::__private::dispatch_error($crate::DispatchError::UnknownSelector)
        }

        $(
            #[doc(hidden)]
            pub fn __menara_migrate() -> ! {
                fn __menara_body() -> $crate::__menara_ret!($($mret)?) $mbody
                $crate::__private::finish(__menara_body())
            }
        )?

        #[doc(hidden)]
        mod __menara_exports {
            #[cfg(target_arch = "wasm32")]
            #[unsafe(no_mangle)]
            pub extern "C" fn deploy() {
                super::__menara_deploy()
            }

            #[cfg(target_arch = "wasm32")]
            #[unsafe(no_mangle)]
            pub extern "C" fn call() {
                super::__menara_call()
            }

            $(
                #[cfg(target_arch = "wasm32")]
                #[unsafe(no_mangle)]
                pub extern "C" fn $migrate() {
                    super::__menara_migrate()
                }
            )?

            $crate::__menara_when_true! { [$($reentrant)*]
                #[cfg(target_arch = "wasm32")]
                #[unsafe(no_mangle)]
                pub extern "C" fn allow_reentry() {}
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_has_attr {
    (payable; [payable] $($rest:tt)*) => { true };
    (view; [view] $($rest:tt)*) => { true };
    ($flag:ident; [$($other:tt)*] $($rest:tt)*) => { $crate::__menara_has_attr!($flag; $($rest)*) };
    ($flag:ident;) => { false };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_check_attrs {
    ($kind:ident;) => {};
    ($kind:ident; [doc $($t:tt)*] $($rest:tt)*) => { $crate::__menara_check_attrs!($kind; $($rest)*); };
    ($kind:ident; [payable] $($rest:tt)*) => { $crate::__menara_check_attrs!($kind; $($rest)*); };
    (message; [view] $($rest:tt)*) => { $crate::__menara_check_attrs!(message; $($rest)*); };
    ($kind:ident; [$($other:tt)*] $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "contract!: unsupported attribute #[", ::core::stringify!($($other)*), "] on a ",
            ::core::stringify!($kind), "; expected #[payable]",
            " (or #[view] on a message) or doc comments"
        ));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_ret {
    () => {
        ()
    };
    ($ty:ty) => {
        $ty
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_opt_name {
    () => {
        ::core::option::Option::None
    };
    ($name:ident) => {
        ::core::option::Option::Some(::core::stringify!($name))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_event_topic {
    ($topics:ident, $value:expr) => {};
    ($topics:ident, $value:expr, topic) => {
        $topics.push($value)
    };
    ($topics:ident, $value:expr, $other:ident) => {
        ::core::compile_error!(::core::concat!(
            "contract!: unsupported event field attribute #[",
            ::core::stringify!($other),
            "]; expected #[topic]"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_is_topic {
    () => {
        false
    };
    ($topic:ident) => {
        true
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_count_topic {
    () => {
        0usize
    };
    ($topic:ident) => {
        1usize
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __menara_when_true {
    ([true] $($item:tt)*) => { $($item)* };
    ([$($other:tt)*] $($item:tt)*) => {};
}
