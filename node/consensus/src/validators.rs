//! The validator set: stake, quorum arithmetic and stake-weighted proposer rotation.
use menara_crypto::{BlsCrypto, VoteCrypto};
use parity_scale_codec::{Decode, Encode, Error as CodecError, Input, Output};

/// Largest total stake accepted: keeps every `stake * 3` and `stake * WEIGHT_SCALE` product
/// far inside `u128` (2^100 is ~1.27e30, over 10^12 tokens with 18 decimals).
pub const MAX_TOTAL_STAKE: u128 = 1 << 100;

/// Resolution of the proposer schedule: validators get `stake * 10_000 / total` slots
/// (at least one) in a schedule of about 10,000 slots.
pub const WEIGHT_SCALE: u128 = 10_000;

/// One validator.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Validator<C: VoteCrypto = BlsCrypto> {
    /// Account id (the staking account).
    pub id: [u8; 32],
    /// Consensus key (registered with a proof of possession).
    pub bls: C::PublicKey,
    /// Voting power.
    pub stake: u128,
}

/// Why a validator set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// No validators.
    #[error("empty validator set")]
    Empty,
    /// A validator with zero stake.
    #[error("validator with zero stake")]
    ZeroStake,
    /// Two validators with one account or one key.
    #[error("duplicate validator account or key")]
    Duplicate,
    /// Total stake over [`MAX_TOTAL_STAKE`].
    #[error("total stake too large")]
    StakeOverflow,
    /// More validators than a `u32` index.
    #[error("too many validators")]
    TooMany,
}

/// A validator set, sorted by account id; validators are referred to by their index in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet<C: VoteCrypto = BlsCrypto> {
    validators: Vec<Validator<C>>,
    total: u128,
    /// Smooth weighted round-robin schedule of proposer indices.
    schedule: Vec<u32>,
}

impl<C: VoteCrypto> ValidatorSet<C> {
    /// Builds a set: sorts by account id and refuses empty sets, zero stakes, duplicates and
    /// overflowing stake. Keys must have been checked for proof of possession by the caller
    /// (registration).
    pub fn new(mut validators: Vec<Validator<C>>) -> Result<Self, SetError> {
        if validators.is_empty() {
            return Err(SetError::Empty);
        }
        if u32::try_from(validators.len()).is_err() {
            return Err(SetError::TooMany);
        }
        validators.sort_by_key(|v| v.id);
        let mut total: u128 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.stake == 0 {
                return Err(SetError::ZeroStake);
            }
            total = total.checked_add(v.stake).ok_or(SetError::StakeOverflow)?;
            if total > MAX_TOTAL_STAKE {
                return Err(SetError::StakeOverflow);
            }
            if i > 0 && validators[i - 1].id == v.id {
                return Err(SetError::Duplicate);
            }
        }
        let mut keys: Vec<&C::PublicKey> = validators.iter().map(|v| &v.bls).collect();
        keys.sort();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(SetError::Duplicate);
        }
        let schedule = build_schedule(&validators, total);
        Ok(ValidatorSet {
            validators,
            total,
            schedule,
        })
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Never true (sets are non-empty); for clippy.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validators, sorted by account id.
    pub fn validators(&self) -> &[Validator<C>] {
        &self.validators
    }

    /// Validator by index.
    pub fn get(&self, index: u32) -> Option<&Validator<C>> {
        self.validators.get(index as usize)
    }

    /// Index of an account.
    pub fn index_of(&self, id: &[u8; 32]) -> Option<u32> {
        self.validators
            .binary_search_by(|v| v.id.cmp(id))
            .ok()
            .and_then(|i| u32::try_from(i).ok())
    }

    /// Total stake.
    pub fn total_stake(&self) -> u128 {
        self.total
    }

    /// Stake of a validator (0 if out of range).
    pub fn stake(&self, index: u32) -> u128 {
        self.get(index).map_or(0, |v| v.stake)
    }

    /// Whether `stake` is a quorum: strictly more than 2/3 of the total.
    pub fn is_quorum(&self, stake: u128) -> bool {
        stake.saturating_mul(3) > self.total * 2
    }

    /// Whether `stake` is more than 1/3 of the total (at least one honest validator).
    pub fn is_one_third(&self, stake: u128) -> bool {
        stake.saturating_mul(3) > self.total
    }

    /// Length of the proposer schedule (one period of the rotation).
    pub fn schedule_len(&self) -> usize {
        self.schedule.len()
    }

    /// The proposer of `(height, round)`: slot `height + round` of the stake-weighted
    /// smooth round-robin schedule, so a failed round passes to the next validator in line
    /// and over a period every validator proposes in proportion to its stake.
    pub fn proposer(&self, height: u64, round: u32) -> u32 {
        let len = self.schedule.len() as u64;
        let slot = height.wrapping_add(u64::from(round)) % len.max(1);
        self.schedule.get(slot as usize).copied().unwrap_or(0)
    }
}

/// Smooth weighted round-robin (nginx / CometBFT proposer priority style), integer only:
/// every slot each validator's priority grows by its weight, the highest (lowest index on a
/// tie) proposes and loses the sum of the weights.
fn build_schedule<C: VoteCrypto>(validators: &[Validator<C>], total: u128) -> Vec<u32> {
    let weights: Vec<i128> = validators
        .iter()
        .map(|v| ((v.stake * WEIGHT_SCALE) / total).max(1) as i128)
        .collect();
    let sum: i128 = weights.iter().sum();
    let mut prio = vec![0i128; weights.len()];
    let mut schedule = Vec::with_capacity(sum as usize);
    for _ in 0..sum {
        let mut best = 0usize;
        for i in 0..prio.len() {
            prio[i] += weights[i];
            if prio[i] > prio[best] {
                best = i;
            }
        }
        prio[best] -= sum;
        schedule.push(best as u32);
    }
    schedule
}

impl<C: VoteCrypto> Encode for ValidatorSet<C> {
    fn size_hint(&self) -> usize {
        self.validators.size_hint()
    }
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        self.validators.encode_to(dest)
    }
}

impl<C: VoteCrypto> Decode for ValidatorSet<C> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let validators = Vec::<Validator<C>>::decode(input)?;
        ValidatorSet::new(validators).map_err(|_| "invalid validator set".into())
    }
}
