//! Kubernetes resource quantities (`500m`, `8`, `16Gi`, `1.5G`, `2e3`), parsed exactly
//! enough to compare and add them for quota checks, and printed in the canonical form the
//! apiserver writes into a ResourceQuota's status (`1536Mi`, `1500m`, `2k`).
//!
//! kube-cel has a quantity type for CEL's `quantity()` but does not export its parser,
//! and k8s-openapi's `Quantity` is only the string; hence this small crate, shared by the
//! operator (quota plans of TenantClasses) and the in-memory API server (quota admission).
//! A value is held as an integer number of nano-units (10⁻⁹), the finest precision
//! Kubernetes keeps; finer fractions round up, as the apiserver does.

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

/// What an amount counts, for [`Amount::for_people`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// CPU cores: `16 CPU`, `0.5 CPU`.
    Cpu,
    /// Bytes (memory, storage): `40Gi`, `1.5Gi`, `500M`.
    Bytes,
    /// Objects (pods, Services): `10`.
    Count,
}

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

    /// The amount as people write it in a manifest, for messages, status and Events:
    /// cores as `16 CPU`, bytes with the suffix that gives the shortest exact number
    /// (`40Gi` rather than `42949672960`, `500M` for a decimal amount, at most two
    /// decimals: `1.5Gi`), counts as plain numbers.
    pub fn for_people(self, unit: Unit) -> String {
        match unit {
            Unit::Cpu => format!("{self} CPU"),
            Unit::Count => self.to_string(),
            Unit::Bytes => bytes_for_people(self),
        }
    }
}

/// The shortest exact form of a number of bytes with a binary or decimal suffix (binary on
/// a tie, as memory is usually written), with at most two decimals.
fn bytes_for_people(amount: Amount) -> String {
    let nanos = amount.0;
    if nanos % NANO != 0 {
        // A fraction of a byte: only the exact decimal form says it.
        return amount.to_string();
    }
    let units = nanos / NANO;
    let binary: Vec<(i128, &str)> = BINARY_SUFFIXES
        .iter()
        .map(|(power, suffix)| (1i128 << (10 * power), *suffix))
        .collect();
    let decimal: Vec<(i128, &str)> = DECIMAL_SUFFIXES
        .iter()
        .filter(|(exp, _)| *exp >= 0)
        .map(|(exp, suffix)| (10i128.pow(exp.unsigned_abs()), *suffix))
        .collect();
    // (mantissa in hundredths, suffix): the largest suffix that keeps two decimals exact.
    let shortest = |candidates: &[(i128, &'static str)]| {
        candidates.iter().find_map(|&(divisor, suffix)| {
            let hundredths = units.checked_mul(100)?;
            (units.abs() >= divisor && hundredths % divisor == 0)
                .then(|| (hundredths / divisor, suffix))
        })
    };
    let best = match (shortest(&binary), shortest(&decimal)) {
        (Some(b), Some(d)) if d.0.abs() < b.0.abs() => Some(d),
        (Some(b), _) => Some(b),
        (None, d) => d,
    };
    match best {
        Some((hundredths, suffix)) => {
            let sign = if hundredths < 0 { "-" } else { "" };
            let abs = hundredths.unsigned_abs();
            let (whole, frac) = (abs / 100, abs % 100);
            let frac = match frac {
                0 => String::new(),
                f if f % 10 == 0 => format!(".{}", f / 10),
                f => format!(".{f:02}"),
            };
            format!("{sign}{whole}{frac}{suffix}")
        }
        None => amount.to_string(),
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
    parse_with_format(input).map(|(amount, _)| amount)
}

/// Like [`parse`], also telling which notation the text used.
fn parse_with_format(input: &str) -> Result<(Amount, Format), QuantityError> {
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
    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => Format::BinarySI,
        s if s.starts_with(['e', 'E']) => Format::DecimalExponent,
        _ => Format::DecimalSI,
    };
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
    Ok((Amount(if negative { -value } else { value }), format))
}

/// The notation of a quantity, which its canonical form keeps (apimachinery
/// `resource.Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Powers of ten with SI suffixes: `500m`, `2k`, `1G`.
    #[default]
    DecimalSI,
    /// Powers of two: `64Mi`, `1Gi`.
    BinarySI,
    /// Scientific notation: `1e3`.
    DecimalExponent,
}

/// A quantity with its notation: what a ResourceQuota's `status.used` holds.
/// Equality and order are by value (`1Gi` == `1024Mi`); sums keep the notation of the
/// first non-zero operand, as apimachinery's `Quantity.Add` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantity {
    amount: Amount,
    format: Format,
}

impl Quantity {
    /// Zero, printed `0`.
    pub const ZERO: Quantity = Quantity {
        amount: Amount::ZERO,
        format: Format::DecimalSI,
    };

    /// Parses a quantity, keeping its notation.
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        parse_with_format(input).map(|(amount, format)| Quantity { amount, format })
    }

    /// A plain count (`pods: 3`).
    pub fn from_count(count: i64) -> Quantity {
        Quantity {
            amount: Amount::from_count(count),
            format: Format::DecimalSI,
        }
    }

    /// The value.
    pub fn amount(self) -> Amount {
        self.amount
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.amount == Amount::ZERO
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.amount < Amount::ZERO
    }

    /// The sum, or `None` on overflow.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Some(Quantity {
            amount: self.amount.checked_add(other.amount)?,
            format,
        })
    }

    /// The difference, or `None` on overflow.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Some(Quantity {
            amount: Amount(self.amount.0.checked_sub(other.amount.0)?),
            format,
        })
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.amount == other.amount
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.amount.cmp(&other.amount)
    }
}

/// Decimal SI suffixes by power of ten.
const DECIMAL_SUFFIXES: [(i32, &str); 10] = [
    (18, "E"),
    (15, "P"),
    (12, "T"),
    (9, "G"),
    (6, "M"),
    (3, "k"),
    (0, ""),
    (-3, "m"),
    (-6, "u"),
    (-9, "n"),
];

/// Binary suffixes by power of 1024.
const BINARY_SUFFIXES: [(u32, &str); 7] = [
    (6, "Ei"),
    (5, "Pi"),
    (4, "Ti"),
    (3, "Gi"),
    (2, "Mi"),
    (1, "Ki"),
    (0, ""),
];

impl fmt::Display for Quantity {
    /// The canonical form of apimachinery's `Quantity.String()` (`CanonicalizeBytes`): an
    /// integer mantissa with the largest suffix that keeps it whole; binary notation only
    /// for whole values of at least 1024 in magnitude, decimal otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.amount.0;
        if nanos == 0 {
            return f.write_str("0");
        }
        let whole_units = nanos % NANO == 0;
        let units = nanos / NANO;
        if self.format == Format::BinarySI && whole_units && units.unsigned_abs() >= 1024 {
            for (power, suffix) in BINARY_SUFFIXES {
                let divisor = 1i128 << (10 * power);
                if units % divisor == 0 {
                    return write!(f, "{}{suffix}", units / divisor);
                }
            }
        }
        for (exp, suffix) in DECIMAL_SUFFIXES {
            let divisor = 10i128.pow((exp + 9).unsigned_abs());
            if nanos % divisor == 0 {
                let mantissa = nanos / divisor;
                return match (self.format, exp) {
                    (Format::DecimalExponent, 0) => write!(f, "{mantissa}"),
                    (Format::DecimalExponent, _) => write!(f, "{mantissa}e{exp}"),
                    _ => write!(f, "{mantissa}{suffix}"),
                };
            }
        }
        // Unreachable: every value is a whole number of nano-units.
        write!(f, "{nanos}n")
    }
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
    fn amounts_for_people() {
        let bytes = |s: &str| q(s).for_people(Unit::Bytes);
        assert_eq!(bytes("42949672960"), "40Gi");
        assert_eq!(bytes("8589934592"), "8Gi");
        assert_eq!(bytes("16Gi"), "16Gi");
        assert_eq!(bytes("1.5Gi"), "1.5Gi");
        assert_eq!(bytes("1.25Gi"), "1.25Gi");
        assert_eq!(bytes("1500Mi"), "1500Mi");
        assert_eq!(bytes("1G"), "1G");
        assert_eq!(bytes("500M"), "500M");
        assert_eq!(bytes("2.5T"), "2.5T");
        assert_eq!(bytes("1024"), "1Ki");
        assert_eq!(bytes("1000"), "1k");
        assert_eq!(bytes("100"), "100");
        assert_eq!(bytes("0"), "0");
        assert_eq!(bytes("-2Gi"), "-2Gi");
        // 1G + 1Gi has no short exact form: the exact number of Ki.
        assert_eq!(bytes("2073741824"), "2025138.5Ki");
        let cpu = |s: &str| q(s).for_people(Unit::Cpu);
        assert_eq!(cpu("16"), "16 CPU");
        assert_eq!(cpu("4500m"), "4.5 CPU");
        assert_eq!(cpu("500m"), "0.5 CPU");
        assert_eq!(q("10").for_people(Unit::Count), "10");
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

    fn canonical(s: &str) -> String {
        Quantity::parse(s).unwrap().to_string()
    }

    #[test]
    fn canonical_form_as_the_apiserver_prints_it() {
        // Examples from apimachinery's quantity_test.go (TestQuantityCanonicalize*).
        for (input, want) in [
            ("0", "0"),
            ("0Gi", "0"),
            ("500m", "500m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1Gi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("1000Ki", "1000Ki"),
            ("512Ki", "512Ki"),
            ("0.5Ki", "512"),
            ("100n", "100n"),
            ("1e3", "1e3"),
            ("1500e-3", "1500e-3"),
            ("-1Gi", "-1Gi"),
        ] {
            assert_eq!(canonical(input), want, "{input}");
        }
    }

    #[test]
    fn sums_keep_the_notation_of_the_first_non_zero_operand() {
        let sum = |a: &str, b: &str| {
            Quantity::parse(a)
                .unwrap()
                .checked_add(Quantity::parse(b).unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(sum("64Mi", "128Mi"), "192Mi");
        assert_eq!(sum("100m", "1"), "1100m");
        assert_eq!(sum("0", "1Gi"), "1Gi");
        assert_eq!(sum("1G", "1Gi"), "2073741824");
        assert_eq!(
            Quantity::parse("1Gi").unwrap(),
            Quantity::parse("1024Mi").unwrap()
        );
        assert!(Quantity::parse("1Gi").unwrap() > Quantity::parse("1G").unwrap());
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(parse("999999999999999999999999999999Ei").is_err());
        assert!(parse("1e30").is_err());
        assert!(parse("1e25").is_ok());
    }
}
