//! YAML's traps for text written without quotes ("the Norway problem"): YAML 1.1, which
//! `kubectl` and this tool read, takes `NO`, `on`, `yes` as booleans, `0734` and `072034`
//! as numbers (an ISTAT code loses its leading zero) and `~` or `null` as no value. Where
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
        Value::Number(n) => format!("the number {}", shown_number(n)),
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
                "0734 is read by YAML as the number 734, not as text; write it in quotes: \"0734\""
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
                "072034 is read by YAML as the number 72034, not as text; write it in quotes: \"072034\""
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
