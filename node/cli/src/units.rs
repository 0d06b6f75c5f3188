//! Token amounts: "10", "0.5", "1.000000000001" MEN ↔ base units, integer arithmetic only.
use menara_primitives::{Balance, MEN, TOKEN_DECIMALS};

/// Parses an amount of MEN (up to 12 decimals) into base units.
pub fn parse_amount(s: &str) -> Result<Balance, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not an amount of MEN (e.g. 10, 0.5, 1.25)");
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > TOKEN_DECIMALS as usize {
        return Err(format!("{s:?} has more than {TOKEN_DECIMALS} decimals"));
    }
    let whole: Balance = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut frac_units: Balance = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    for _ in frac.len()..TOKEN_DECIMALS as usize {
        frac_units *= 10;
    }
    whole
        .checked_mul(MEN)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Formats base units as MEN without losing precision.
pub fn format_amount(units: Balance) -> String {
    let whole = units / MEN;
    let frac = units % MEN;
    if frac == 0 {
        return format!("{whole} MEN");
    }
    let frac = format!("{frac:012}");
    format!("{whole}.{} MEN", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_exactly() {
        assert_eq!(parse_amount("10"), Ok(10 * MEN));
        assert_eq!(parse_amount("0.5"), Ok(MEN / 2));
        assert_eq!(parse_amount(".000000000001"), Ok(1));
        assert_eq!(format_amount(1_500_000_000_001), "1.500000000001 MEN");
        assert_eq!(format_amount(10 * MEN), "10 MEN");
        assert!(parse_amount("1.0000000000001").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("1e3").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("999999999999999999999999999999").is_err());
    }
}
