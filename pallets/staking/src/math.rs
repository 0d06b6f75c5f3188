//! Integer fixed-point helpers: `a * b / c` without intermediate overflow (a 256-bit
//! product divided by a 128-bit divisor). No floats anywhere.

/// Fixed-point scale of the cumulative reward per share (1e18).
pub const REWARD_SCALE: u128 = 1_000_000_000_000_000_000;

/// The 256-bit product of `a` and `b` as `(high, low)` 128-bit halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a0, a1) = (a & MASK, a >> 64);
    let (b0, b1) = (b & MASK, b >> 64);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Each term is below 2^64, so the sum is below 3 * 2^64: no overflow.
    let mid = (p00 >> 64) + (p01 & MASK) + (p10 & MASK);
    let low = (p00 & MASK) | (mid << 64);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (high, low)
}

/// `floor(a * b / c)`, or `None` when `c` is zero or the result does not fit in `u128`.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / c);
    }
    let (high, low) = mul_wide(a, b);
    if high >= c {
        return None;
    }
    // Long division of (high, low) by c, one bit at a time; `rem` stays below `c`.
    let mut rem = high;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((low >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            q |= 1;
        }
    }
    Some(q)
}

/// `ceil(a * b / c)`, or `None` when `c` is zero or the result does not fit.
pub fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    let q = mul_div(a, b, c)?;
    // The remainder is non-zero exactly when q * c != a * b; compare 256-bit products.
    if mul_wide(q, c) == mul_wide(a, b) {
        Some(q)
    } else {
        q.checked_add(1)
    }
}

/// `amount * per_mill / 1000` (per-mill fractions are at most 1000, so this never overflows
/// past `amount`).
pub fn per_mill(amount: u128, per_mill: u32) -> u128 {
    mul_div(amount, u128::from(per_mill.min(1000)), 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        assert_eq!(mul_div(1, 1, 0), None);
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        assert_eq!(mul_div(u128::MAX, 3, 4), Some(u128::MAX / 4 * 3 + 2));
        assert_eq!(mul_div_ceil(7, 3, 2), Some(11));
        assert_eq!(mul_div_ceil(8, 3, 2), Some(12));
        assert_eq!(
            mul_div_ceil(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
        assert_eq!(per_mill(1_000, 100), 100);
        assert_eq!(per_mill(u128::MAX, 1000), u128::MAX);
    }

    proptest! {
        #[test]
        fn matches_small_arithmetic(a in any::<u64>(), b in any::<u64>(), c in 1u64..) {
            let (a, b, c) = (u128::from(a), u128::from(b), u128::from(c));
            prop_assert_eq!(mul_div(a, b, c), Some(a * b / c));
            prop_assert_eq!(mul_div_ceil(a, b, c), Some((a * b).div_ceil(c)));
        }

        #[test]
        fn big_values_round_trip(a in any::<u128>(), b in 1u128..) {
            // (a * b) / b == a, through the 256-bit path when the product overflows.
            prop_assert_eq!(mul_div(a, b, b), Some(a));
            prop_assert_eq!(mul_div_ceil(a, b, b), Some(a));
        }
    }
}
