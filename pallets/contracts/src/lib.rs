//! Contracts pallet: dApp developers' own WebAssembly modules, run by the `wasmi`
//! interpreter inside the runtime and metered with its fuel, so the metering rules are part
//! of the runtime and upgrade with it.
//!
//! # Life of a contract
//!
//! 1. **Upload** ([`Call::UploadCode`], or inline with [`Call::Instantiate`]): the code is
//!    checked ([`validate_code`]: no floats, SIMD, reference types or threads; imports only
//!    from the host modules; one memory of at most [`limits::MEMORY_PAGES`] pages; the
//!    limits of [`limits`]) and stored by its BLAKE3 hash. The uploader holds a deposit for
//!    its bytes, refunded by [`Call::RemoveCode`] once no contract uses it.
//! 2. **Instantiate**: a new account, derived from (deployer, code hash, salt), gets the code
//!    and runs its `deploy` export with the input and any value sent.
//! 3. **Call** ([`Call::Call`]): runs the `call` export with the input, under a fuel limit
//!    and a storage deposit limit. A dry run ([`Pallet::dry_run_call`]) does the same
//!    without keeping anything and returns the output, fuel used and debug messages.
//! 4. **Migrate** ([`Call::Migrate`]): the contract's admin (the deployer, unless it was
//!    deployed immutable or the admin gave the role up) moves it to new code; the new code's
//!    `migrate` export runs if it has one.
//! 5. **Terminate**: the contract itself (host function `terminate`) removes itself; its
//!    storage deposits go back to those who paid them, its balance to a beneficiary.
//!
//! # Metering
//!
//! Every instruction costs fuel (wasmi's own metering); every host function charges its
//! own cost ([`costs`]); loading code costs fuel per byte. A call that runs out of fuel or
//! traps fails, keeps no state change, and is charged its whole fuel limit. The executive
//! charges `fuel limit × fuel fee` with the transaction fee and refunds the unused part.
//!
//! # Storage and deposits
//!
//! Each contract's storage lives under its own prefix. Every item holds a deposit
//! (`ITEM_DEPOSIT + BYTE_DEPOSIT × bytes`) taken from the transaction's signer when an item
//! is written and given back to whoever paid it when the item is overwritten or cleared; a
//! call's net charge is bounded by its storage deposit limit. Code deposits and storage
//! deposits are counted in [`storage::TotalHeld`], so
//! `total issuance = sum(free) + (other pallets' held funds) + TotalHeld`.
//!
//! # Cross-contract calls
//!
//! A contract may call another (host function `call`) with part of its fuel. The callee's
//! changes are undone if it reverts or traps, and the caller sees which. Calling a contract
//! that is already running further up the stack is refused unless that contract exports
//! `allow_reentry`; calls nest at most [`limits::CALL_DEPTH`] deep.
//!
//! # AI from contracts
//!
//! Module `menara_ai_v1` reads model records, jobs and compute leases and submits
//! verified-inference jobs paid from the contract's balance, through [`Config::Ai`] (the
//! runtime wires the model registry, inference and compute pallets). A job submitted with
//! a callback holds the callback's fuel; when the inference pallet reports the job over
//! ([`Pallet::note_job_closed`]) the contract is called back at the end of the block
//! ([`Pallet::on_finalize`]) with the job's final state and verified output.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod exec;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, DispatchError, H256};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    ensure, ensure_signed, io, storage_item, DispatchResult, Origin, PalletError, StorageMap,
    StorageValue,
};

pub use exec::{validate_code, CodeSummary, AI_MODULE, HOST_MODULE};

/// Limits every contract lives under (part of the ABI: see `sdk/ABI.md`).
pub mod limits {
    /// Largest code accepted, in bytes.
    pub const CODE_SIZE: u32 = 128 * 1024;
    /// Most 64 KiB pages of linear memory a contract may have.
    pub const MEMORY_PAGES: u32 = 16;
    /// Most table elements.
    pub const TABLE_ELEMENTS: u32 = 1_024;
    /// Most functions a module may define or import.
    pub const FUNCTIONS: u32 = 4_096;
    /// Most globals.
    pub const GLOBALS: u32 = 256;
    /// How deep contracts may call each other (the transaction's call is depth 1).
    pub const CALL_DEPTH: u32 = 8;
    /// Most nested wasm function calls in one contract call (deep recursion traps).
    pub const RECURSION_DEPTH: usize = 1_024;
    /// Largest value stack of one contract call, in bytes.
    pub const VALUE_STACK_BYTES: usize = 1024 * 1024;
    /// Longest storage key.
    pub const KEY_LEN: u32 = 128;
    /// Largest storage value.
    pub const VALUE_LEN: u32 = 16 * 1024;
    /// Largest event data.
    pub const EVENT_DATA_LEN: u32 = 1024;
    /// Most topics of an event.
    pub const EVENT_TOPICS: u32 = 4;
    /// Largest call input (and output).
    pub const INPUT_LEN: u32 = 64 * 1024;
    /// Most debug text a dry run collects.
    pub const DEBUG_LEN: usize = 64 * 1024;
}

/// Fuel each host function charges besides the instructions it takes to call it.
pub mod costs {
    /// Any host function.
    pub const HOST_CALL: u64 = 500;
    /// Per byte copied between the contract's memory and the host.
    pub const PER_BYTE: u64 = 1;
    /// Reading a storage item.
    pub const STORAGE_READ: u64 = 20_000;
    /// Writing or clearing a storage item.
    pub const STORAGE_WRITE: u64 = 50_000;
    /// Per byte written to storage.
    pub const STORAGE_WRITE_PER_BYTE: u64 = 10;
    /// A balance transfer.
    pub const TRANSFER: u64 = 50_000;
    /// Calling another contract (besides loading its code).
    pub const CALL: u64 = 100_000;
    /// Loading code to run it: fixed part.
    pub const CODE_LOAD: u64 = 50_000;
    /// Loading code to run it: per byte (parsing and validating it).
    pub const CODE_LOAD_PER_BYTE: u64 = 4;
    /// Emitting an event.
    pub const EVENT: u64 = 5_000;
    /// Per byte of event data and topics.
    pub const EVENT_PER_BYTE: u64 = 10;
    /// Hashing: fixed part (per byte is [`PER_BYTE`]).
    pub const HASH: u64 = 2_000;
    /// Terminating: per storage item removed.
    pub const TERMINATE_PER_ITEM: u64 = 50_000;
    /// Submitting an inference job (the job's own fees are paid in MEN).
    pub const SUBMIT_JOB: u64 = 200_000;
}

pub use menara_contract_abi as abi;
use menara_contract_abi::{AiJob, AiLease, AiModel, AiRequest};

/// What the AI host API (module `menara_ai_v1`) reaches: the model registry, verified
/// inference and the compute market, as the runtime wires them. The records are the ABI's
/// own types, so their encoding stays what deployed contracts were built against.
pub trait AiHost {
    /// A registered model.
    fn model(id: [u8; 32]) -> Option<AiModel>;
    /// Submits an inference job paid by `payer`; returns its id.
    fn submit(payer: &AccountId, request: &AiRequest) -> Result<u64, DispatchError>;
    /// A job.
    fn job(id: u64) -> Option<AiJob>;
    /// A compute lease.
    fn lease(id: u64) -> Option<AiLease>;
}

/// No AI modules: every record is missing and every job refused.
impl AiHost for () {
    fn model(_: [u8; 32]) -> Option<AiModel> {
        None
    }
    fn submit(_: &AccountId, _: &AiRequest) -> Result<u64, DispatchError> {
        Err(DispatchError {
            pallet: 0,
            error: 0,
            message: "no inference in this runtime".into(),
        })
    }
    fn job(_: u64) -> Option<AiJob> {
        None
    }
    fn lease(_: u64) -> Option<AiLease> {
        None
    }
}

/// Configuration of the contracts pallet.
pub trait Config: pallet_balances::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Deposit every uploaded code holds.
    const CODE_DEPOSIT_BASE: Balance;
    /// Deposit per byte of uploaded code.
    const CODE_DEPOSIT_PER_BYTE: Balance;
    /// Deposit per storage item (the contract's own record counts as one).
    const ITEM_DEPOSIT: Balance;
    /// Deposit per byte of a storage item (hashed key and value).
    const BYTE_DEPOSIT: Balance;
    /// Largest fuel limit of one call.
    const MAX_FUEL_PER_CALL: u64;
    /// Fuel all the contract calls of one block may reserve together.
    const MAX_FUEL_PER_BLOCK: u64;
    /// What a unit of fuel costs (callbacks pay it from the contract's balance).
    const FUEL_PRICE: Balance;
    /// Most fuel a job's callback may ask for.
    const MAX_CALLBACK_FUEL: u64;
    /// Most callbacks run at the end of one block (the rest wait for the next).
    const MAX_CALLBACKS_PER_BLOCK: u32;
    /// Most callbacks waiting at once.
    const MAX_PENDING_CALLBACKS: u32;
    /// The AI modules the AI host API reaches.
    type Ai: AiHost;
}

/// A job's callback waiting for the job to end.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PendingCallback {
    /// The contract to call back.
    pub contract: AccountId,
    /// The message's selector.
    pub selector: [u8; 4],
    /// Its fuel limit.
    pub fuel: u64,
    /// `fuel × FUEL_PRICE`, held from the contract's balance.
    pub held: Balance,
}

/// Where a contract's code comes from when instantiating.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum CodeSource {
    /// New code, uploaded in the same call (its deposit is held from the deployer), or the
    /// same code already on chain.
    #[codec(index = 0)]
    Upload(Vec<u8>),
    /// Code already on chain.
    #[codec(index = 1)]
    Existing(H256),
}

/// An uploaded code's record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CodeInfo {
    /// Who uploaded it (and holds its deposit).
    pub owner: AccountId,
    /// The deposit held.
    pub deposit: Balance,
    /// Contracts using it.
    pub refcount: u64,
    /// Its size in bytes.
    pub size: u32,
    /// Whether it exports `allow_reentry`.
    pub reentrant: bool,
}

/// A contract's record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ContractInfo {
    /// Hash of the code it runs.
    pub code_hash: H256,
    /// Who deployed it.
    pub deployer: AccountId,
    /// Who may migrate it to new code (`None`: immutable).
    pub admin: Option<AccountId>,
    /// Deposit the deployer holds for this record.
    pub base_deposit: Balance,
    /// Storage items it has.
    pub items: u32,
    /// Bytes of its storage (hashed keys and values).
    pub bytes: u64,
    /// Deposits its storage holds, all depositors together.
    pub storage_deposit: Balance,
}

/// A storage item as stored: who paid its deposit, and the value.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct StoredItem {
    /// Who paid the deposit.
    pub depositor: AccountId,
    /// The deposit held.
    pub deposit: Balance,
    /// The value.
    pub value: Vec<u8>,
}

/// What a contract's execution returned.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ExecReturn {
    /// Whether it reverted (its changes undone; `data` is its error).
    pub reverted: bool,
    /// Its output.
    pub data: Vec<u8>,
}

impl ExecReturn {
    /// Returned normally without output.
    pub fn empty() -> Self {
        ExecReturn {
            reverted: false,
            data: Vec::new(),
        }
    }
}

/// An event a contract emitted, as a dry run reports it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ContractEvent {
    /// The contract.
    pub contract: AccountId,
    /// Its topics.
    pub topics: Vec<H256>,
    /// Its data.
    pub data: Vec<u8>,
}

/// The outcome of running a contract: what the `contracts_call` / `contracts_instantiate`
/// queries return, and what a transaction's call keeps of it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ExecOutcome {
    /// The output, or why it failed (trapped, out of fuel, refused).
    pub result: Result<ExecReturn, DispatchError>,
    /// Fuel used: the whole limit when it trapped or ran out; nothing when it was refused
    /// before running (unknown contract, limits).
    pub fuel_used: u64,
    /// Storage deposit charged to the signer, net of refunds to it (negative: refunded).
    pub storage_deposit: i128,
    /// The new contract's address (instantiation).
    pub address: Option<AccountId>,
    /// Debug messages (dry runs only).
    pub debug: String,
    /// Events the contracts emitted (dry runs only; empty when it failed).
    pub events: Vec<ContractEvent>,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub CodesPrefix: "Contracts" / "Codes");
    storage_item!(pub CodeInfoOfPrefix: "Contracts" / "CodeInfoOf");
    storage_item!(pub ContractsPrefix: "Contracts" / "Contracts");
    storage_item!(pub ContractStoragePrefix: "Contracts" / "ContractStorage");
    storage_item!(pub TotalHeldPrefix: "Contracts" / "TotalHeld");
    storage_item!(pub BlockFuelPrefix: "Contracts" / "BlockFuel");
    storage_item!(pub CallbacksPrefix: "Contracts" / "Callbacks");
    storage_item!(pub PendingCallbacksPrefix: "Contracts" / "PendingCallbacks");
    storage_item!(pub DueJobsPrefix: "Contracts" / "DueJobs");

    /// Code by hash.
    pub type Codes = StorageMap<CodesPrefix, H256, Vec<u8>>;
    /// Code records by hash.
    pub type CodeInfoOf = StorageMap<CodeInfoOfPrefix, H256, CodeInfo>;
    /// Contracts by address.
    pub type Contracts = StorageMap<ContractsPrefix, AccountId, ContractInfo>;
    /// Deposits held (code and storage).
    pub type TotalHeld = StorageValue<TotalHeldPrefix, Balance>;
    /// Fuel reserved by this block's contract calls.
    pub type BlockFuel = StorageValue<BlockFuelPrefix, u64>;
    /// Callbacks by inference job.
    pub type Callbacks = StorageMap<CallbacksPrefix, u64, PendingCallback>;
    /// Callbacks registered and not yet run.
    pub type PendingCallbacks = StorageValue<PendingCallbacksPrefix, u32>;
    /// Jobs that ended and whose callback has not run yet, oldest first.
    pub type DueJobs = StorageValue<DueJobsPrefix, Vec<u64>>;

    /// The prefix of `contract`'s storage: `ContractStorage`'s prefix, then the address.
    pub fn contract_prefix(contract: &AccountId) -> Vec<u8> {
        let mut key = menara_support::storage::item_prefix::<ContractStoragePrefix>();
        key.extend_from_slice(&contract.0);
        key
    }

    /// The raw key of `contract`'s item `key` (its prefix, then BLAKE3 of the key).
    pub fn contract_key(contract: &AccountId, key: &[u8]) -> Vec<u8> {
        let mut raw = contract_prefix(contract);
        raw.extend_from_slice(&io::hashing::blake3_256(key));
        raw
    }
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Stores code by its hash, holding its deposit from the signer.
    #[codec(index = 0)]
    UploadCode {
        /// The wasm module.
        code: Vec<u8>,
    },
    /// Creates a contract and runs its `deploy` export.
    #[codec(index = 1)]
    Instantiate {
        /// Its code.
        code: CodeSource,
        /// Value sent to the new contract.
        value: Compact<Balance>,
        /// Fuel it may use.
        fuel_limit: u64,
        /// Most storage deposit the signer pays (`None`: no limit beyond its balance).
        storage_deposit_limit: Option<Balance>,
        /// Makes the address unique among the deployer's contracts of this code.
        salt: Vec<u8>,
        /// Input of `deploy`.
        input: Vec<u8>,
        /// No admin: the contract can never be migrated.
        immutable: bool,
    },
    /// Calls a contract's `call` export.
    #[codec(index = 2)]
    Call {
        /// The contract.
        contract: AccountId,
        /// Value sent with the call.
        value: Compact<Balance>,
        /// Fuel it may use.
        fuel_limit: u64,
        /// Most storage deposit the signer pays (`None`: no limit beyond its balance).
        storage_deposit_limit: Option<Balance>,
        /// The input.
        input: Vec<u8>,
    },
    /// The admin moves a contract to other code; runs the new code's `migrate` export if it
    /// has one.
    #[codec(index = 3)]
    Migrate {
        /// The contract.
        contract: AccountId,
        /// The code it moves to (already uploaded).
        code_hash: H256,
        /// Fuel `migrate` may use.
        fuel_limit: u64,
        /// Most storage deposit the signer pays.
        storage_deposit_limit: Option<Balance>,
        /// Input of `migrate`.
        input: Vec<u8>,
    },
    /// The admin hands the role on, or gives it up (`None`: immutable from now on).
    #[codec(index = 4)]
    SetAdmin {
        /// The contract.
        contract: AccountId,
        /// The new admin.
        admin: Option<AccountId>,
    },
    /// The uploader removes code no contract uses; its deposit comes back.
    #[codec(index = 5)]
    RemoveCode {
        /// The code's hash.
        code_hash: H256,
    },
}

impl Call {
    /// The fuel limit a call asks for (what the executive charges for up front).
    pub fn fuel_limit(&self) -> u64 {
        match self {
            Call::Instantiate { fuel_limit, .. }
            | Call::Call { fuel_limit, .. }
            | Call::Migrate { fuel_limit, .. } => *fuel_limit,
            _ => 0,
        }
    }
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// Code was stored.
    #[codec(index = 0)]
    CodeStored {
        /// Its hash.
        code_hash: H256,
        /// Who uploaded it.
        owner: AccountId,
        /// Deposit held.
        deposit: Balance,
    },
    /// Code was removed; its deposit went back.
    #[codec(index = 1)]
    CodeRemoved {
        /// Its hash.
        code_hash: H256,
    },
    /// A contract was created.
    #[codec(index = 2)]
    Instantiated {
        /// Who deployed it.
        deployer: AccountId,
        /// Its address.
        contract: AccountId,
        /// Its code.
        code_hash: H256,
    },
    /// A contract emitted an event.
    #[codec(index = 3)]
    ContractEmitted {
        /// The contract.
        contract: AccountId,
        /// Topics (for filtering).
        topics: Vec<H256>,
        /// Data (the contract's encoding).
        data: Vec<u8>,
    },
    /// A contract removed itself.
    #[codec(index = 4)]
    Terminated {
        /// The contract.
        contract: AccountId,
        /// Who got its balance.
        beneficiary: AccountId,
    },
    /// A contract moved to other code.
    #[codec(index = 5)]
    Migrated {
        /// The contract.
        contract: AccountId,
        /// Its old code.
        from: H256,
        /// Its new code.
        to: H256,
    },
    /// A contract's admin changed.
    #[codec(index = 6)]
    AdminChanged {
        /// The contract.
        contract: AccountId,
        /// The new admin (`None`: immutable).
        admin: Option<AccountId>,
    },
    /// A deposit refund could not be paid (the account would stay below the existential
    /// deposit) and was burned.
    #[codec(index = 7)]
    DepositBurned {
        /// Who it was for.
        who: AccountId,
        /// The amount.
        amount: Balance,
    },
    /// A contract submitted an inference job.
    #[codec(index = 8)]
    JobSubmitted {
        /// The contract.
        contract: AccountId,
        /// The job.
        job: u64,
        /// Whether it will be called back.
        callback: bool,
    },
    /// A job ended and its contract was called back.
    #[codec(index = 9)]
    CalledBack {
        /// The contract.
        contract: AccountId,
        /// The job.
        job: u64,
        /// The callback's outcome.
        result: Result<(), DispatchError>,
        /// Fuel it used (paid from what was held).
        fuel_used: u64,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The code is larger than [`limits::CODE_SIZE`].
    #[codec(index = 0)]
    CodeTooLarge,
    /// The code is not a module the chain accepts (the message says why).
    #[codec(index = 1)]
    InvalidCode,
    /// No code has this hash.
    #[codec(index = 2)]
    CodeNotFound,
    /// Contracts still use this code.
    #[codec(index = 3)]
    CodeInUse,
    /// Only the code's uploader may remove it.
    #[codec(index = 4)]
    NotCodeOwner,
    /// No contract at this address.
    #[codec(index = 5)]
    ContractNotFound,
    /// A contract exists at this address already (use another salt).
    #[codec(index = 6)]
    ContractExists,
    /// Only the contract's admin may do this (an immutable contract has none).
    #[codec(index = 7)]
    NotAdmin,
    /// The contract trapped (the message names the contract and the reason).
    #[codec(index = 8)]
    ContractTrapped,
    /// The contract ran out of fuel.
    #[codec(index = 9)]
    OutOfFuel,
    /// The contract reverted; the message carries its error bytes.
    #[codec(index = 10)]
    ContractReverted,
    /// A contract called itself or one running further up, which does not allow reentry.
    #[codec(index = 11)]
    ReentranceDenied,
    /// Contracts called each other deeper than [`limits::CALL_DEPTH`].
    #[codec(index = 12)]
    MaxCallDepth,
    /// Too deep recursion inside a contract, or its value stack overflowed.
    #[codec(index = 13)]
    StackOverflow,
    /// The contract tried to grow its memory past [`limits::MEMORY_PAGES`].
    #[codec(index = 14)]
    MemoryLimit,
    /// The call's storage deposit limit was reached.
    #[codec(index = 15)]
    StorageDepositLimitExhausted,
    /// The signer cannot pay a deposit.
    #[codec(index = 16)]
    InsufficientBalance,
    /// A storage key longer than [`limits::KEY_LEN`].
    #[codec(index = 17)]
    KeyTooLong,
    /// A storage value larger than [`limits::VALUE_LEN`].
    #[codec(index = 18)]
    ValueTooLarge,
    /// An event with too much data or too many topics.
    #[codec(index = 19)]
    EventTooLarge,
    /// Input or output larger than [`limits::INPUT_LEN`].
    #[codec(index = 20)]
    InputTooLarge,
    /// A contract's output buffer is too small for what the host writes.
    #[codec(index = 21)]
    OutputBufferTooSmall,
    /// A contract passed memory outside its own.
    #[codec(index = 22)]
    OutOfBounds,
    /// The value sent could not be transferred.
    #[codec(index = 23)]
    TransferFailed,
    /// The fuel limit is above `MAX_FUEL_PER_CALL`.
    #[codec(index = 24)]
    FuelLimitTooHigh,
    /// A contract tried to terminate while it is running further up the stack.
    #[codec(index = 25)]
    TerminatedWhileReentrant,
    /// An AI host API request that does not decode.
    #[codec(index = 26)]
    InvalidRequest,
    /// The inference pallet refused a contract's job (the message says why).
    #[codec(index = 27)]
    JobRefused,
    /// A callback asking for more than `MAX_CALLBACK_FUEL`.
    #[codec(index = 28)]
    CallbackFuelTooHigh,
    /// Too many callbacks are waiting.
    #[codec(index = 29)]
    TooManyCallbacks,
}
menara_support::impl_pallet_error!(Error, {
    CodeTooLarge,
    InvalidCode,
    CodeNotFound,
    CodeInUse,
    NotCodeOwner,
    ContractNotFound,
    ContractExists,
    NotAdmin,
    ContractTrapped,
    OutOfFuel,
    ContractReverted,
    ReentranceDenied,
    MaxCallDepth,
    StackOverflow,
    MemoryLimit,
    StorageDepositLimitExhausted,
    InsufficientBalance,
    KeyTooLong,
    ValueTooLarge,
    EventTooLarge,
    InputTooLarge,
    OutputBufferTooSmall,
    OutOfBounds,
    TransferFailed,
    FuelLimitTooHigh,
    TerminatedWhileReentrant,
    InvalidRequest,
    JobRefused,
    CallbackFuelTooHigh,
    TooManyCallbacks,
});

/// A contract as the `contracts_info` query returns it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ContractView {
    /// Its address.
    pub address: AccountId,
    /// Its record.
    pub info: ContractInfo,
    /// Its free balance.
    pub balance: Balance,
    /// Its code's record.
    pub code: Option<CodeInfo>,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

/// How a run starts.
pub(crate) enum Entry {
    /// `deploy` of a new contract.
    Deploy,
    /// `call`.
    Call,
    /// `migrate` (skipped when the code has none).
    Migrate,
}

impl Entry {
    pub(crate) fn export(&self) -> &'static str {
        match self {
            Entry::Deploy => "deploy",
            Entry::Call => "call",
            Entry::Migrate => "migrate",
        }
    }
}

/// A pallet error with a detail appended to its name.
pub(crate) fn error_with<T: Config>(e: Error, detail: &str) -> DispatchError {
    let mut err = e.into_dispatch_error(<T as Config>::PALLET_INDEX);
    if !detail.is_empty() {
        err.message = alloc::format!("{}: {detail}", err.message);
    }
    err
}

impl<T: Config> Pallet<T> {
    fn err(e: Error) -> DispatchError {
        e.into_dispatch_error(<T as Config>::PALLET_INDEX)
    }

    pub(crate) fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    /// Dispatches a call; the fuel used is lost (see [`Self::dispatch_metered`]).
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        Self::dispatch_metered(origin, call).0
    }

    /// Dispatches a call and reports the fuel it used (its whole limit when it failed),
    /// so the executive can refund the rest.
    pub fn dispatch_metered(origin: Origin, call: Call) -> (DispatchResult, u64) {
        let limit = call.fuel_limit();
        let who = match ensure_signed(origin) {
            Ok(who) => who,
            Err(e) => return (Err(e), limit),
        };
        match call {
            Call::UploadCode { code } => (Self::upload_code(&who, code).map(|_| ()), 0),
            Call::Instantiate {
                code,
                value,
                fuel_limit,
                storage_deposit_limit,
                salt,
                input,
                immutable,
            } => {
                let outcome = Self::instantiate(
                    &who,
                    code,
                    value.0,
                    fuel_limit,
                    storage_deposit_limit,
                    &salt,
                    input,
                    immutable,
                    false,
                );
                (Self::as_dispatch_result(&outcome), outcome.fuel_used)
            }
            Call::Call {
                contract,
                value,
                fuel_limit,
                storage_deposit_limit,
                input,
            } => {
                let outcome = Self::call(
                    &who,
                    &contract,
                    value.0,
                    fuel_limit,
                    storage_deposit_limit,
                    input,
                    false,
                );
                (Self::as_dispatch_result(&outcome), outcome.fuel_used)
            }
            Call::Migrate {
                contract,
                code_hash,
                fuel_limit,
                storage_deposit_limit,
                input,
            } => {
                let outcome = Self::migrate(
                    &who,
                    &contract,
                    code_hash,
                    fuel_limit,
                    storage_deposit_limit,
                    input,
                );
                (Self::as_dispatch_result(&outcome), outcome.fuel_used)
            }
            Call::SetAdmin { contract, admin } => (Self::set_admin(&who, &contract, admin), 0),
            Call::RemoveCode { code_hash } => (Self::remove_code(&who, &code_hash), 0),
        }
    }

    /// A run's outcome as a transaction's result: a revert is an error carrying the
    /// contract's error bytes in its message (`ContractReverted: 0x…`).
    fn as_dispatch_result(outcome: &ExecOutcome) -> DispatchResult {
        match &outcome.result {
            Ok(ret) if ret.reverted => {
                let mut hex = String::with_capacity(2 + ret.data.len() * 2);
                hex.push_str("0x");
                for b in &ret.data {
                    hex.push_str(&alloc::format!("{b:02x}"));
                }
                Err(error_with::<T>(Error::ContractReverted, &hex))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Checks and stores `code`, holding its deposit from `who`; the same code uploaded
    /// again is left as it is (no second deposit). Returns its hash.
    pub fn upload_code(who: &AccountId, code: Vec<u8>) -> Result<H256, DispatchError> {
        ensure!(
            code.len() <= limits::CODE_SIZE as usize,
            Self::err(Error::CodeTooLarge)
        );
        let hash = H256(io::hashing::blake3_256(&code));
        if CodeInfoOf::contains_key(&hash) {
            return Ok(hash);
        }
        let summary = validate_code(&code).map_err(|(e, detail)| error_with::<T>(e, &detail))?;
        let deposit = T::CODE_DEPOSIT_BASE
            .saturating_add(T::CODE_DEPOSIT_PER_BYTE.saturating_mul(code.len() as Balance));
        pallet_balances::Pallet::<T>::hold(who, deposit)
            .map_err(|_| Self::err(Error::InsufficientBalance))?;
        TotalHeld::mutate(|h| *h = h.saturating_add(deposit));
        CodeInfoOf::insert(
            &hash,
            &CodeInfo {
                owner: *who,
                deposit,
                refcount: 0,
                size: code.len() as u32,
                reentrant: summary.reentrant,
            },
        );
        Codes::insert(&hash, &code);
        Self::deposit_event(Event::CodeStored {
            code_hash: hash,
            owner: *who,
            deposit,
        });
        Ok(hash)
    }

    /// Removes unused code, returning its deposit to its uploader.
    pub fn remove_code(who: &AccountId, hash: &H256) -> DispatchResult {
        let info = CodeInfoOf::get(hash).ok_or(Self::err(Error::CodeNotFound))?;
        ensure!(info.owner == *who, Self::err(Error::NotCodeOwner));
        ensure!(info.refcount == 0, Self::err(Error::CodeInUse));
        CodeInfoOf::remove(hash);
        Codes::remove(hash);
        Self::refund(who, info.deposit);
        Self::deposit_event(Event::CodeRemoved { code_hash: *hash });
        Ok(())
    }

    /// The address a contract of `code_hash` deployed by `deployer` with `salt` gets.
    pub fn contract_address(deployer: &AccountId, code_hash: &H256, salt: &[u8]) -> AccountId {
        let mut preimage = Vec::with_capacity(15 + 64 + salt.len());
        preimage.extend_from_slice(b"menara:contract");
        preimage.extend_from_slice(&deployer.0);
        preimage.extend_from_slice(&code_hash.0);
        preimage.extend_from_slice(salt);
        AccountId(io::hashing::blake3_256(&preimage))
    }

    /// Creates a contract and runs its `deploy` export; everything is undone if it fails.
    /// `dry_run` collects debug messages and events and is meant for queries, whose
    /// changes are dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn instantiate(
        who: &AccountId,
        code: CodeSource,
        value: Balance,
        fuel_limit: u64,
        storage_deposit_limit: Option<Balance>,
        salt: &[u8],
        input: Vec<u8>,
        immutable: bool,
        dry_run: bool,
    ) -> ExecOutcome {
        let mut address = None;
        let mut outcome = kept_if_returned(|| {
            Self::instantiate_inner(
                who,
                code,
                value,
                fuel_limit,
                storage_deposit_limit,
                salt,
                input,
                immutable,
                dry_run,
                &mut address,
            )
        });
        outcome.address = address;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn instantiate_inner(
        who: &AccountId,
        code: CodeSource,
        value: Balance,
        fuel_limit: u64,
        storage_deposit_limit: Option<Balance>,
        salt: &[u8],
        input: Vec<u8>,
        immutable: bool,
        dry_run: bool,
        address: &mut Option<AccountId>,
    ) -> ExecOutcome {
        // Refused before anything ran: no fuel is charged.
        let refused = |e: DispatchError| ExecOutcome::failed(e, 0);
        if fuel_limit > T::MAX_FUEL_PER_CALL {
            return refused(Self::err(Error::FuelLimitTooHigh));
        }
        if input.len() > limits::INPUT_LEN as usize {
            return refused(Self::err(Error::InputTooLarge));
        }
        let code_hash = match code {
            CodeSource::Upload(code) => match Self::upload_code(who, code) {
                Ok(hash) => hash,
                Err(e) => return refused(e),
            },
            CodeSource::Existing(hash) => hash,
        };
        let Some(mut code_info) = CodeInfoOf::get(&code_hash) else {
            return refused(Self::err(Error::CodeNotFound));
        };
        let contract = Self::contract_address(who, &code_hash, salt);
        *address = Some(contract);
        if Contracts::contains_key(&contract) {
            return refused(Self::err(Error::ContractExists));
        }
        // The contract's own record holds a deposit from the deployer, like a storage item.
        let base_deposit = T::ITEM_DEPOSIT;
        if pallet_balances::Pallet::<T>::hold(who, base_deposit).is_err() {
            return refused(Self::err(Error::InsufficientBalance));
        }
        TotalHeld::mutate(|h| *h = h.saturating_add(base_deposit));
        code_info.refcount = code_info.refcount.saturating_add(1);
        CodeInfoOf::insert(&code_hash, &code_info);
        Contracts::insert(
            &contract,
            &ContractInfo {
                code_hash,
                deployer: *who,
                admin: if immutable { None } else { Some(*who) },
                base_deposit,
                items: 0,
                bytes: 0,
                storage_deposit: 0,
            },
        );
        Self::deposit_event(Event::Instantiated {
            deployer: *who,
            contract,
            code_hash,
        });
        exec::run::<T>(
            who,
            &contract,
            code_hash,
            Entry::Deploy,
            value,
            fuel_limit,
            storage_deposit_limit,
            input,
            dry_run,
        )
    }

    /// Calls `contract`'s `call` export (see [`Self::instantiate`] for `dry_run`).
    pub fn call(
        who: &AccountId,
        contract: &AccountId,
        value: Balance,
        fuel_limit: u64,
        storage_deposit_limit: Option<Balance>,
        input: Vec<u8>,
        dry_run: bool,
    ) -> ExecOutcome {
        if fuel_limit > T::MAX_FUEL_PER_CALL {
            return ExecOutcome::failed(Self::err(Error::FuelLimitTooHigh), 0);
        }
        if input.len() > limits::INPUT_LEN as usize {
            return ExecOutcome::failed(Self::err(Error::InputTooLarge), 0);
        }
        let Some(info) = Contracts::get(contract) else {
            return ExecOutcome::failed(Self::err(Error::ContractNotFound), 0);
        };
        exec::run::<T>(
            who,
            contract,
            info.code_hash,
            Entry::Call,
            value,
            fuel_limit,
            storage_deposit_limit,
            input,
            dry_run,
        )
    }

    /// The admin moves `contract` to `code_hash` and runs its `migrate` export, if any;
    /// undone if that fails.
    pub fn migrate(
        who: &AccountId,
        contract: &AccountId,
        code_hash: H256,
        fuel_limit: u64,
        storage_deposit_limit: Option<Balance>,
        input: Vec<u8>,
    ) -> ExecOutcome {
        kept_if_returned(|| {
            Self::migrate_inner(
                who,
                contract,
                code_hash,
                fuel_limit,
                storage_deposit_limit,
                input,
            )
        })
    }

    fn migrate_inner(
        who: &AccountId,
        contract: &AccountId,
        code_hash: H256,
        fuel_limit: u64,
        storage_deposit_limit: Option<Balance>,
        input: Vec<u8>,
    ) -> ExecOutcome {
        let refused = |e: Error| ExecOutcome::failed(Self::err(e), 0);
        if fuel_limit > T::MAX_FUEL_PER_CALL {
            return refused(Error::FuelLimitTooHigh);
        }
        if input.len() > limits::INPUT_LEN as usize {
            return refused(Error::InputTooLarge);
        }
        let Some(mut info) = Contracts::get(contract) else {
            return refused(Error::ContractNotFound);
        };
        if info.admin != Some(*who) {
            return refused(Error::NotAdmin);
        }
        let Some(mut new_code) = CodeInfoOf::get(&code_hash) else {
            return refused(Error::CodeNotFound);
        };
        let from = info.code_hash;
        if from != code_hash {
            if let Some(mut old_code) = CodeInfoOf::get(&from) {
                old_code.refcount = old_code.refcount.saturating_sub(1);
                CodeInfoOf::insert(&from, &old_code);
            }
            new_code.refcount = new_code.refcount.saturating_add(1);
            CodeInfoOf::insert(&code_hash, &new_code);
            info.code_hash = code_hash;
            Contracts::insert(contract, &info);
        }
        Self::deposit_event(Event::Migrated {
            contract: *contract,
            from,
            to: code_hash,
        });
        exec::run::<T>(
            who,
            contract,
            code_hash,
            Entry::Migrate,
            0,
            fuel_limit,
            storage_deposit_limit,
            input,
            false,
        )
    }

    /// The admin hands its role to `admin`, or gives it up.
    pub fn set_admin(
        who: &AccountId,
        contract: &AccountId,
        admin: Option<AccountId>,
    ) -> DispatchResult {
        let mut info = Contracts::get(contract).ok_or(Self::err(Error::ContractNotFound))?;
        ensure!(info.admin == Some(*who), Self::err(Error::NotAdmin));
        info.admin = admin;
        Contracts::insert(contract, &info);
        Self::deposit_event(Event::AdminChanged {
            contract: *contract,
            admin,
        });
        Ok(())
    }

    /// Returns `amount` of deposit to `who`; when the account could not take it (it would
    /// stay below the existential deposit) it is burned instead. Either way it leaves
    /// [`storage::TotalHeld`].
    pub(crate) fn refund(who: &AccountId, amount: Balance) {
        if amount == 0 {
            return;
        }
        TotalHeld::mutate(|h| *h = h.saturating_sub(amount));
        if pallet_balances::Pallet::<T>::release(who, amount).is_err() {
            pallet_balances::Pallet::<T>::burn_held(amount);
            Self::deposit_event(Event::DepositBurned { who: *who, amount });
        }
    }

    /// Starts a block: no fuel reserved yet.
    pub fn on_initialize() {
        BlockFuel::kill();
    }

    /// The inference pallet says `job` is over: its callback, if any, is due.
    pub fn note_job_closed(job: u64) {
        if Callbacks::contains_key(&job) {
            DueJobs::mutate(|due| due.push(job));
        }
    }

    /// Ends a block: calls back the contracts whose jobs ended (at most
    /// `MAX_CALLBACKS_PER_BLOCK`, oldest first; the rest wait for the next block). A
    /// callback runs the contract's `call` with the job's id, final state and output, as
    /// caller [`abi::CALLBACK_CALLER`], and pays the fuel it used from what was held.
    pub fn on_finalize() {
        let mut due = DueJobs::get_or_default();
        if due.is_empty() {
            return;
        }
        let now = due.len().min(T::MAX_CALLBACKS_PER_BLOCK as usize);
        let later = due.split_off(now);
        if later.is_empty() {
            DueJobs::kill();
        } else {
            DueJobs::put(&later);
        }
        for id in due {
            if let Some(callback) = Callbacks::get(&id) {
                Callbacks::remove(&id);
                PendingCallbacks::mutate(|n| *n = n.saturating_sub(1));
                Self::call_back(id, T::Ai::job(id), callback);
            }
        }
    }

    fn call_back(id: u64, job: Option<AiJob>, callback: PendingCallback) {
        TotalHeld::mutate(|h| *h = h.saturating_sub(callback.held));
        let Some(info) = Contracts::get(&callback.contract) else {
            // The contract terminated since: nobody to call or to refund.
            pallet_balances::Pallet::<T>::burn_held(callback.held);
            Self::deposit_event(Event::DepositBurned {
                who: callback.contract,
                amount: callback.held,
            });
            return;
        };
        let (state, output) = job.map_or((abi::job_state::EXPIRED, None), |j| {
            let output = (j.state == abi::job_state::FINAL)
                .then_some(j.output)
                .flatten();
            (j.state, output)
        });
        let mut input = callback.selector.to_vec();
        (id, state, output).encode_to(&mut input);
        let outcome = exec::run_as::<T>(
            &callback.contract,
            &AccountId(abi::CALLBACK_CALLER),
            &callback.contract,
            info.code_hash,
            Entry::Call,
            callback.fuel,
            input,
        );
        let used = outcome.fuel_used.min(callback.fuel);
        let cost = T::FUEL_PRICE.saturating_mul(Balance::from(used));
        let rest = callback.held.saturating_sub(cost);
        pallet_balances::Pallet::<T>::burn_held(cost.min(callback.held));
        if rest > 0 && pallet_balances::Pallet::<T>::release(&callback.contract, rest).is_err() {
            pallet_balances::Pallet::<T>::burn_held(rest);
        }
        Self::deposit_event(Event::CalledBack {
            contract: callback.contract,
            job: id,
            result: Self::as_dispatch_result(&outcome),
            fuel_used: used,
        });
    }

    /// Registers `contract`'s callback for `job`, holding its fuel from the contract.
    pub(crate) fn register_callback(
        contract: &AccountId,
        job: u64,
        callback: abi::Callback,
    ) -> Result<(), (Error, String)> {
        if callback.fuel > T::MAX_CALLBACK_FUEL {
            return Err((
                Error::CallbackFuelTooHigh,
                alloc::format!("{} fuel, at most {}", callback.fuel, T::MAX_CALLBACK_FUEL),
            ));
        }
        let pending = PendingCallbacks::get_or_default();
        if pending >= T::MAX_PENDING_CALLBACKS {
            return Err((Error::TooManyCallbacks, alloc::format!("{pending} waiting")));
        }
        let held = T::FUEL_PRICE.saturating_mul(Balance::from(callback.fuel));
        if held > 0 {
            pallet_balances::Pallet::<T>::hold(contract, held).map_err(|e| {
                (
                    Error::InsufficientBalance,
                    alloc::format!(
                        "the contract cannot hold {held} for its callback's fuel: {e:?}"
                    ),
                )
            })?;
            TotalHeld::mutate(|h| *h = h.saturating_add(held));
        }
        PendingCallbacks::put(&pending.saturating_add(1));
        Callbacks::insert(
            &job,
            &PendingCallback {
                contract: *contract,
                selector: callback.selector,
                fuel: callback.fuel,
                held,
            },
        );
        Ok(())
    }

    /// Whether `fuel` more fits this block.
    pub fn fuel_fits(fuel: u64) -> bool {
        BlockFuel::get_or_default()
            .checked_add(fuel)
            .is_some_and(|total| total <= T::MAX_FUEL_PER_BLOCK)
    }

    /// Reserves `fuel` of this block's budget (after [`Self::fuel_fits`]).
    pub fn reserve_fuel(fuel: u64) {
        BlockFuel::mutate(|f| *f = f.saturating_add(fuel));
    }

    /// Deposits held.
    pub fn total_held() -> Balance {
        TotalHeld::get_or_default()
    }

    /// A contract, with its balance and code record.
    pub fn contract(address: &AccountId) -> Option<ContractView> {
        let info = Contracts::get(address)?;
        let code = CodeInfoOf::get(&info.code_hash);
        Some(ContractView {
            address: *address,
            balance: pallet_balances::Pallet::<T>::free_balance(address),
            info,
            code,
        })
    }

    /// Code by hash.
    pub fn code(hash: &H256) -> Option<Vec<u8>> {
        Codes::get(hash)
    }

    /// A code's record.
    pub fn code_info(hash: &H256) -> Option<CodeInfo> {
        CodeInfoOf::get(hash)
    }

    /// The value of `contract`'s storage item `key`.
    pub fn storage_value(contract: &AccountId, key: &[u8]) -> Option<Vec<u8>> {
        exec::read_item(contract, key).map(|item| item.value)
    }

    /// Runs a call without keeping anything: for the `contracts_call` query (its state
    /// changes are dropped by the caller), collecting debug messages and events.
    pub fn dry_run_call(
        who: &AccountId,
        contract: &AccountId,
        value: Balance,
        fuel_limit: Option<u64>,
        storage_deposit_limit: Option<Balance>,
        input: Vec<u8>,
    ) -> ExecOutcome {
        Self::call(
            who,
            contract,
            value,
            fuel_limit.unwrap_or(T::MAX_FUEL_PER_CALL),
            storage_deposit_limit,
            input,
            true,
        )
    }

    /// Runs an instantiation without keeping anything (the `contracts_instantiate` query).
    #[allow(clippy::too_many_arguments)]
    pub fn dry_run_instantiate(
        who: &AccountId,
        code: CodeSource,
        value: Balance,
        fuel_limit: Option<u64>,
        storage_deposit_limit: Option<Balance>,
        salt: &[u8],
        input: Vec<u8>,
        immutable: bool,
    ) -> ExecOutcome {
        Self::instantiate(
            who,
            code,
            value,
            fuel_limit.unwrap_or(T::MAX_FUEL_PER_CALL),
            storage_deposit_limit,
            salt,
            input,
            immutable,
            true,
        )
    }
}

/// Runs `f` in a storage transaction kept only when the contract returned (not when it was
/// refused, reverted or trapped): the record and code changes made around the run go with it.
fn kept_if_returned(f: impl FnOnce() -> ExecOutcome) -> ExecOutcome {
    io::storage::with_transaction(|| {
        let outcome = f();
        match &outcome.result {
            Ok(ret) if !ret.reverted => Ok(outcome),
            _ => Err(Box::new(outcome)),
        }
    })
    .unwrap_or_else(|outcome| *outcome)
}

impl ExecOutcome {
    fn failed(error: DispatchError, fuel_used: u64) -> Self {
        ExecOutcome {
            result: Err(error),
            fuel_used,
            storage_deposit: 0,
            address: None,
            debug: String::new(),
            events: Vec::new(),
        }
    }
}
