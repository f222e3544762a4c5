//! Kubernetes resource quantities (`500m`, `8`, `16Gi`, `1.5G`, `2e3`), parsed exactly
//! enough to compare and add them for quota checks.
//!
//! kube-cel has a quantity type for CEL's `quantity()` but does not export its parser,
//! and k8s-openapi's `Quantity` is only the string; hence this small module. A value is
//! held as an integer number of nano-units (10⁻⁹), the finest precision Kubernetes keeps;
//! finer fractions round up, as the apiserver does.

use std::fmt;

/// A parsed quantity, as a whole number of nano-units (`1` = `1000000000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i128);

/// A string that is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a quantity ({reason}); write a number with an optional suffix, e.g. \"500m\", \"2\", \"16Gi\" or \"1.5G\""
)]
pub struct QuantityError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;

impl Amount {
    /// Nothing: the start of a sum.
    pub const ZERO: Amount = Amount(0);

    /// The amount of a plain integer count (`pods: 10`).
    pub fn from_count(count: i64) -> Amount {
        Amount(i128::from(count) * NANO)
    }

    /// The sum, or `None` on overflow (far beyond any real quota).
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }
}

impl fmt::Display for Amount {
    /// Plain decimal units, e.g. `0.5` or `17179869184`: the form used in messages that
    /// compare or add quantities written with different suffixes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANO.unsigned_abs();
        let frac = abs % NANO.unsigned_abs();
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Parses a quantity in Kubernetes' grammar: `[+-]digits[.digits]` followed by nothing, a
/// decimal SI suffix (`n u m k M G T P E`), a binary suffix (`Ki Mi Gi Ti Pi Ei`) or a
/// decimal exponent (`e3`, `E-2`).
pub fn parse(input: &str) -> Result<Amount, QuantityError> {
    let fail = |reason| QuantityError {
        input: input.to_string(),
        reason,
    };
    let (negative, rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    let number_end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(fail("no digits"));
    }
    if frac.contains('.') {
        return Err(fail("more than one decimal point"));
    }
    // mantissa × 10^exp10 × 2^exp2 units.
    let digits = format!("{whole}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return Err(fail("too many digits"));
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| fail("not a number"))?
    };
    let frac_len = i32::try_from(frac.len()).map_err(|_| fail("too many digits"))?;
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let unsigned = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail("unknown suffix"));
            }
            let e: i32 = exp.parse().map_err(|_| fail("exponent out of range"))?;
            if !(-30..=30).contains(&e) {
                return Err(fail("exponent out of range"));
            }
            (e, 0)
        }
        _ => return Err(fail("unknown suffix")),
    };
    // Scale to nano-units: × 10^(9 + exp10 - frac_len) × 2^exp2, rounding a remaining
    // fraction up.
    let shift = 9 + exp10 - frac_len;
    let overflow = || fail("too large");
    let mut value = mantissa.checked_mul(1i128 << exp2).ok_or_else(overflow)?;
    if shift >= 0 {
        let factor = 10i128
            .checked_pow(shift.unsigned_abs())
            .ok_or_else(overflow)?;
        value = value.checked_mul(factor).ok_or_else(overflow)?;
    } else {
        let divisor = 10i128
            .checked_pow(shift.unsigned_abs())
            .unwrap_or(i128::MAX);
        let rounded_up = value % divisor != 0;
        value = value / divisor + i128::from(rounded_up);
    }
    Ok(Amount(if negative { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Amount {
        parse(s).unwrap()
    }

    #[test]
    fn suffixes_scale_exactly() {
        assert_eq!(q("1"), Amount::from_count(1));
        assert_eq!(q("500m"), Amount(500_000_000));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1k"), Amount::from_count(1000));
        assert_eq!(q("1Ki"), Amount::from_count(1024));
        assert_eq!(q("16Gi"), Amount::from_count(16 << 30));
        assert_eq!(q("1.5Gi"), Amount::from_count(3 << 29));
        assert_eq!(q("2e3"), Amount::from_count(2000));
        assert_eq!(q("1E-3"), q("1m"));
        assert_eq!(q("100n"), Amount(100));
        assert_eq!(q("1Ei"), Amount::from_count(1 << 60));
        assert_eq!(q("-2"), Amount::from_count(-2));
        assert_eq!(q("+.5"), q("500m"));
        assert_eq!(q("0"), Amount::ZERO);
    }

    #[test]
    fn comparisons_across_suffixes() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("1000Mi") < q("1Gi"));
        assert!(q("999m") < q("1"));
        assert!(q("16Gi") <= q("16Gi"));
    }

    #[test]
    fn sub_nano_fractions_round_up() {
        assert_eq!(q("0.1n"), Amount(1));
        assert_eq!(q("1.0000000001"), Amount(NANO + 1));
    }

    #[test]
    fn display_in_plain_units() {
        assert_eq!(q("500m").to_string(), "0.5");
        assert_eq!(q("2Ki").to_string(), "2048");
        assert_eq!(q("-1.25").to_string(), "-1.25");
    }

    #[test]
    fn invalid_quantities_say_what_would_be_valid() {
        for bad in [
            "", "abc", "1x", "1.2.3", "Gi", "1 Gi", "1e", "1e400", "1gi", ".",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("e.g. \"500m\""), "{bad}: {err}");
        }
        assert_eq!(parse("1x").unwrap_err().reason, "unknown suffix");
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(parse("999999999999999999999999999999Ei").is_err());
        assert!(parse("1e30").is_err());
        assert!(parse("1e25").is_ok());
    }
}
