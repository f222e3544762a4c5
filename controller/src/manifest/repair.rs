//! Repairing a document the schema refused, so that the Rust rules can still run on it:
//! one `validate` run then reports every problem, not only the schema's.

use crd_schema::{self as schema, FieldError, FieldErrorKind};
use serde_json::Value;

use super::document::{Segment, parse_path};

/// Most rounds of [`repair`]: each round can reveal missing fields inside the objects
/// the previous one added.
const REPAIR_ROUNDS: usize = 6;

/// A copy of `value` in which every field that `errors` (and the errors of each repaired
/// copy) report as missing, of the wrong type or of an unsupported value is set to an
/// empty value of its schema type (the first allowed value of an enum), with the paths
/// set; `None` (and no paths) when there is nothing to repair.
pub(super) fn repair(
    schema: &Value,
    value: &Value,
    errors: &[FieldError],
) -> (Option<Value>, Vec<String>) {
    let fixable = |e: &FieldError| {
        !e.path.is_empty()
            && matches!(
                e.kind,
                FieldErrorKind::Required
                    | FieldErrorKind::TypeInvalid
                    | FieldErrorKind::NotSupported
            )
    };
    let mut errors: Vec<FieldError> = errors.iter().filter(|e| fixable(e)).cloned().collect();
    if errors.is_empty() {
        return (None, Vec::new());
    }
    let mut value = value.clone();
    let mut repaired = Vec::new();
    for _ in 0..REPAIR_ROUNDS {
        if errors.is_empty() {
            break;
        }
        for e in &errors {
            let segments = parse_path(&e.path);
            if let Some(node) = schema_at(schema, &segments) {
                set_at(&mut value, &segments, empty_of(node));
                repaired.push(e.path.clone());
            }
        }
        errors = schema::check(schema, &value)
            .into_iter()
            .filter(|e| fixable(e))
            .collect();
        errors.retain(|e| !repaired.contains(&e.path));
    }
    (Some(value), repaired)
}

/// The schema node at a path.
pub(super) fn schema_at<'s>(schema: &'s Value, segments: &[Segment]) -> Option<&'s Value> {
    let mut node = schema;
    for segment in segments {
        node = match segment {
            Segment::Key(k) => node
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
            Segment::Index(_) => node.get("items")?,
        };
    }
    Some(node)
}

/// The empty value of a schema node's type.
fn empty_of(node: &Value) -> Value {
    if let Some(first) = node
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if node
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Value::from(0);
    }
    match node.get("type").and_then(Value::as_str) {
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(serde_json::Map::new()),
        Some("integer" | "number") => Value::from(0),
        Some("boolean") => Value::Bool(false),
        _ => Value::String(String::new()),
    }
}

/// Sets the value at a path, creating objects on the way; a path through a list item
/// that does not exist is left alone.
fn set_at(value: &mut Value, segments: &[Segment], new: Value) {
    let Some((last, parents)) = segments.split_last() else {
        *value = new;
        return;
    };
    let mut node = value;
    for segment in parents {
        node = match segment {
            Segment::Key(k) => {
                if !node.is_object() {
                    *node = Value::Object(serde_json::Map::new());
                }
                match node.as_object_mut() {
                    Some(map) => map.entry(k.clone()).or_insert(Value::Null),
                    None => return,
                }
            }
            Segment::Index(i) => match node.get_mut(*i) {
                Some(item) => item,
                None => return,
            },
        };
    }
    match (last, node) {
        (Segment::Key(k), Value::Object(map)) => {
            map.insert(k.clone(), new);
        }
        (Segment::Index(i), Value::Array(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = new;
            }
        }
        (Segment::Key(k), node) => {
            let mut map = serde_json::Map::new();
            map.insert(k.clone(), new);
            *node = Value::Object(map);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn missing_and_mistyped_fields_get_empty_values_of_their_type() {
        let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {
            "type": "object", "required": ["names", "mode"], "properties": {
                "names": {"type": "array", "items": {"type": "string"}},
                "mode": {"type": "string", "enum": ["Retain", "Delete"]},
                "count": {"type": "integer"}
            }
        }}});
        let value = json!({"spec": {"count": "three"}});
        let errors = schema::check(&schema, &value);
        let (repaired, paths) = repair(&schema, &value, &errors);
        assert_eq!(
            repaired,
            Some(json!({"spec": {"count": 0, "names": [], "mode": "Retain"}}))
        );
        let mut paths = paths;
        paths.sort();
        assert_eq!(paths, ["spec.count", "spec.mode", "spec.names"]);
        assert_eq!(
            repair(&schema, &repaired.unwrap_or_default(), &[]),
            (None, vec![])
        );
    }
}
