//! Schema errors in words that say what would be valid: the nearest known field for a
//! typo, the `kubectl explain` command for a missing field.

use crd_schema::{FieldError, FieldErrorKind};
use serde_json::Value;

use super::document::path_without_indices;

/// A schema error in the CLI's words: unknown fields get the nearest known field name,
/// missing ones the `kubectl explain` command of `resource` (a plural) that describes them.
pub(super) fn schema_message(schema: &Value, resource: &str, e: &FieldError) -> String {
    match e.kind {
        FieldErrorKind::Unknown => {
            let (parent, field) = match e.path.rfind('.') {
                Some(i) => (&e.path[..i], &e.path[i + 1..]),
                None => ("", e.path.as_str()),
            };
            let known = known_fields(schema, parent);
            let hint = match closest(field, &known) {
                Some(best) => format!("did you mean {best:?}?"),
                None if known.is_empty() => "remove it".to_string(),
                None => format!("fields here: {}", known.join(", ")),
            };
            format!("unknown field {field:?}; {hint}")
        }
        FieldErrorKind::Required => {
            // `kubectl explain` takes the path without list indices.
            let field = path_without_indices(&e.path);
            format!(
                "{}; add it (`kubectl explain {resource}.{field}` describes it)",
                e.message
                    .replacen("Required value", "required field is missing", 1)
            )
        }
        _ => e.message.clone(),
    }
}

/// Property names of the schema node at `path` (list indices skipped).
fn known_fields(schema: &Value, path: &str) -> Vec<String> {
    let mut node = schema;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexed) = match part.find('[') {
            Some(i) => (&part[..i], true),
            None => (part, false),
        };
        let Some(next) = node.get("properties").and_then(|p| p.get(key)) else {
            return Vec::new();
        };
        node = next;
        if indexed && let Some(items) = node.get("items") {
            node = items;
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The candidate closest to `word` by edit distance, if close enough to be a typo.
fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggestions() {
        let known = vec![
            "environments".to_string(),
            "entity".to_string(),
            "class".to_string(),
        ];
        assert_eq!(closest("enviroments", &known), Some("environments"));
        assert_eq!(closest("clas", &known), Some("class"));
        assert_eq!(closest("zzzzzz", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
