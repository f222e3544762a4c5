//! YAML's traps for text written without quotes ("the Norway problem"): YAML 1.1, which
//! `kubectl` and this tool read, takes `NO`, `on`, `yes` as booleans, `0734`, `072034`,
//! `0o17`, `0x1F` as numbers (an ISTAT code loses its leading zero, and kubectl reads a
//! leading 0 as octal: `072034` is 29724) and `~` or `null` as no value. Where
//! the schema wants a string, the message names what was written, what YAML made of it,
//! and how to write it: in quotes.
//!
//! Pure: the caller gives the text as written (see
//! [`Document::plain_scalar`](super::Document::plain_scalar)) and the value read.

use serde_json::Value;

/// The message for a plain scalar `written` that YAML read as `read` (not a string) where
/// the schema node `schema` wants a string; `None` when the value is text, the node does
/// not want text, or nothing was written.
pub(super) fn quote_hint(written: &str, read: &Value, schema: &Value) -> Option<String> {
    let wants_string = schema.get("type").and_then(Value::as_str) == Some("string");
    if !wants_string || written.is_empty() {
        return None;
    }
    let what = match read {
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => match octal(written) {
            Some(octal) if shown_number(n) != octal.to_string() => format!(
                "the number {} (and by kubectl, whose YAML 1.1 reads a leading 0 as octal, as {octal})",
                shown_number(n)
            ),
            _ => format!("the number {}", shown_number(n)),
        },
        Value::Null => "null (no value)".to_string(),
        Value::String(_) | Value::Array(_) | Value::Object(_) => return None,
    };
    let quoted = match digits_expected(schema) {
        Some(width) if written.bytes().all(|b| b.is_ascii_digit()) && written.len() < width => {
            format!("{written:0>width$}")
        }
        _ => written.to_string(),
    };
    let lost_zero = if quoted == written {
        String::new()
    } else {
        format!(
            " (with its leading zero: {width} digits)",
            width = quoted.len()
        )
    };
    Some(format!(
        "{written} is read by YAML as {what}, not as text; write it in quotes{lost_zero}: {quoted:?}"
    ))
}

/// The value of `written` read as an octal number, as YAML 1.1 (and so `kubectl`, whose
/// parser takes a plain `0` followed by digits through Go's `ParseInt` with base 0) reads
/// it: `072034` is 29724. `None` when it is not a leading `0` followed by octal digits
/// (`072999` is read as the decimal 72999 there too).
fn octal(written: &str) -> Option<i64> {
    let (sign, digits) = match written.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, written.strip_prefix('+').unwrap_or(written)),
    };
    let rest = digits.strip_prefix('0')?;
    if rest.is_empty() || !rest.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    i64::from_str_radix(rest, 8).ok().map(|n| sign * n)
}

/// A number as YAML read it: whole numbers without the `.0` a float prints with.
fn shown_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// The number of digits of a code field whose pattern is exactly N digits
/// (`^[0-9]{6}$`, `^\d{6}$`), such as the ISTAT code.
fn digits_expected(schema: &Value) -> Option<usize> {
    let pattern = schema.get("pattern").and_then(Value::as_str)?;
    let count = pattern
        .strip_prefix("^[0-9]{")
        .or_else(|| pattern.strip_prefix("^\\d{"))?
        .strip_suffix("}$")?;
    count.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn string() -> Value {
        json!({"type": "string"})
    }

    #[test]
    fn booleans_numbers_and_null_read_from_plain_text() {
        assert_eq!(
            quote_hint("NO", &json!(false), &string()).as_deref(),
            Some(
                "NO is read by YAML as the boolean false, not as text; write it in quotes: \"NO\""
            )
        );
        assert_eq!(
            quote_hint("on", &json!(true), &string()).as_deref(),
            Some("on is read by YAML as the boolean true, not as text; write it in quotes: \"on\"")
        );
        assert_eq!(
            quote_hint("0734", &json!(734.0), &string()).as_deref(),
            Some(
                "0734 is read by YAML as the number 734 (and by kubectl, whose YAML 1.1 reads a leading 0 as octal, as 476), not as text; write it in quotes: \"0734\""
            )
        );
        assert_eq!(
            quote_hint("~", &Value::Null, &string()).as_deref(),
            Some("~ is read by YAML as null (no value), not as text; write it in quotes: \"~\"")
        );
    }

    #[test]
    fn a_code_of_digits_gets_its_leading_zeros_back() {
        let istat = json!({"type": "string", "pattern": "^[0-9]{6}$"});
        assert_eq!(
            quote_hint("072034", &json!(72034.0), &istat).as_deref(),
            Some(
                "072034 is read by YAML as the number 72034 (and by kubectl, whose YAML 1.1 reads a leading 0 as octal, as 29724), not as text; write it in quotes: \"072034\""
            )
        );
        // Not octal (a 9): kubectl reads it as the decimal number too.
        assert_eq!(
            quote_hint("072999", &json!(72999.0), &istat).as_deref(),
            Some(
                "072999 is read by YAML as the number 72999, not as text; write it in quotes: \"072999\""
            )
        );
        assert_eq!(
            quote_hint("72004", &json!(72004), &istat).as_deref(),
            Some(
                "72004 is read by YAML as the number 72004, not as text; write it in quotes (with its leading zero: 6 digits): \"072004\""
            )
        );
    }

    #[test]
    fn octal_hexadecimal_and_binary_forms_are_numbers_to_quote() {
        let istat = json!({"type": "string", "pattern": "^[0-9]{6}$"});
        for (written, read) in [("0o17", 15), ("0x1F", 31), ("0b101", 5), ("0o72034", 29724)] {
            let hint = quote_hint(written, &json!(read), &istat).unwrap_or_default();
            assert_eq!(
                hint,
                format!(
                    "{written} is read by YAML as the number {read}, not as text; write it in quotes: \"{written}\""
                )
            );
        }
        assert_eq!(octal("072034"), Some(29724));
        assert_eq!(octal("-017"), Some(-15));
        assert_eq!(octal("0"), None);
        assert_eq!(octal("072999"), None);
        assert_eq!(octal("0o17"), None);
        assert_eq!(octal("72034"), None);
    }

    #[test]
    fn no_hint_where_no_text_is_wanted_or_nothing_was_written() {
        let int_or_string = json!({"x-kubernetes-int-or-string": true});
        assert_eq!(quote_hint("8", &json!(8), &int_or_string), None);
        assert_eq!(quote_hint("", &Value::Null, &string()), None);
        assert_eq!(quote_hint("x", &json!("x"), &string()), None);
        assert_eq!(
            quote_hint("on", &json!(true), &json!({"type": "boolean"})),
            None
        );
    }
}
