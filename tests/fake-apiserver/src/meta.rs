//! ObjectMeta helpers: reading fields, normalising metadata the way an ObjectMeta
//! round-trip does (spec §3.6), and name validation.

use serde_json::{Map, Value};

use crate::errors::Cause;

/// Known ObjectMeta keys; anything else is dropped.
const META_KEYS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `metadata.<field>` as a string ("" when absent).
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.finalizers` (removing the key when empty).
pub fn set_finalizers(obj: &mut Value, f: &[String]) {
    if let Some(m) = obj["metadata"].as_object_mut() {
        if f.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), Value::from(f.to_vec()));
        }
    }
}

/// Whether the object is being deleted.
pub fn deleting(obj: &Value) -> bool {
    !meta_str(obj, "deletionTimestamp").is_empty()
}

/// Drops unknown metadata keys and empty collections, so that JSON-patch paths and
/// equality checks behave as on a real server.
pub fn normalize(obj: &mut Value) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.retain(|k, v| {
            META_KEYS.contains(&k.as_str())
                && !v.is_null()
                && !(matches!(
                    k.as_str(),
                    "labels" | "annotations" | "ownerReferences" | "finalizers" | "managedFields"
                ) && (v.as_object().is_some_and(Map::is_empty)
                    || v.as_array().is_some_and(Vec::is_empty)))
                && !(matches!(
                    k.as_str(),
                    "generateName" | "uid" | "selfLink" | "resourceVersion" | "creationTimestamp"
                ) && v.as_str() == Some(""))
        });
    }
}

/// DNS-1123 subdomain (most object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// DNS-1123 label (namespace names).
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns_subdomain(s)
}

/// Validates metadata.name (and label keys/values) as the apiserver does.
pub fn validate_meta(obj: &Value, dns_label: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta_str(obj, "name");
    let ok = if dns_label {
        is_dns_label(name)
    } else {
        is_dns_subdomain(name)
    };
    if !ok {
        let what = if dns_label {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        } else {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        };
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{name}\": {what}"),
            field: "metadata.name".into(),
        });
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            let val = v.as_str().unwrap_or("");
            let valid = val.len() <= 63
                && val
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && (val.is_empty()
                    || (val.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && val.ends_with(|c: char| c.is_ascii_alphanumeric())));
            if !v.is_string() || !valid {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: \"{val}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                    ),
                    field: format!("metadata.labels.{k}"),
                });
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_drops_empty_and_unknown() {
        let mut o = json!({"metadata": {"name": "a", "finalizers": [], "labels": {}, "bogus": 1}});
        normalize(&mut o);
        assert_eq!(o, json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn names() {
        assert!(is_dns_label("comune-bari"));
        assert!(!is_dns_label("Bad_Name"));
        assert!(is_dns_subdomain("widgets.example.io"));
        assert_eq!(
            validate_meta(&json!({"metadata": {"name": "X"}}), false)[0].field,
            "metadata.name"
        );
    }
}
