//! Schema validation of custom resources on write (spec §3.9 and the issue's
//! schema section): pruning of unknown fields, strict field validation, types,
//! required fields, enums, patterns and CEL rules. The structural checks live in
//! [`crd_schema`] (shared with the CLI's `validate`); this module decides what
//! a finding means for the request: a 400 or 422, a `Warning` header, or silent
//! pruning.

use serde_json::Value;

use crate::errors::{ApiError, Cause};
use crd_schema::{self as schema, FieldErrorKind};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and warn about each (the apiserver's default).
    #[default]
    Warn,
    /// Refuse unknown fields (what `kubectl apply --server-side` asks for).
    Strict,
}

impl FieldValidation {
    /// Parses the parameter; absent means `Warn`, as on a real apiserver.
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("" | "Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, got {other:?}"
            ))),
        }
    }
}

/// Why a custom resource was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Unknown fields under `fieldValidation=Strict` (the strict decoder's messages).
    Unknown(Vec<String>),
    /// Schema or CEL violations (the causes of a 422 Invalid).
    Invalid(Vec<Cause>),
}

/// Validates a custom resource against its version's openAPIV3Schema. Unknown
/// fields are pruned from `obj` and reported per `mode`; returns the warnings to
/// send.
pub fn custom_resource(
    schema: &Value,
    obj: &mut Value,
    old: Option<&Value>,
    mode: FieldValidation,
) -> Result<Vec<String>, Rejection> {
    let unknown: Vec<String> = schema::prune(schema, obj)
        .into_iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        return Err(Rejection::Unknown(unknown));
    }
    let warnings = if mode == FieldValidation::Warn {
        unknown
    } else {
        Vec::new()
    };
    apply_defaults(schema, obj);
    // Upstream pinned: the apiextensions apiserver skips the CEL rules after a wrong type,
    // a missing field or an unsupported value (their results would be noise such as "No
    // such overload") and says so in one cause; `schema::validate` does both steps.
    let causes: Vec<Cause> = schema::validate(schema, obj, old)
        .into_iter()
        .filter(|e| e.kind != FieldErrorKind::Unknown)
        .map(|e| Cause {
            reason: e.kind.cause_type().to_string(),
            message: e.message,
            field: e.path,
        })
        .collect();
    if causes.is_empty() {
        Ok(warnings)
    } else {
        Err(Rejection::Invalid(causes))
    }
}

/// Structural defaulting, as the apiextensions apiserver does after pruning:
/// every absent property whose schema has a `default` gets it, in objects that
/// exist (a default never creates its parent), recursively, including list
/// items and `additionalProperties` values.
pub fn apply_defaults(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    if !m.contains_key(name)
                        && let Some(d) = sub.get("default")
                    {
                        m.insert(name.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(name) {
                        apply_defaults(sub, child);
                    }
                }
            } else if let Some(sub) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    apply_defaults(sub, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for it in items {
                    apply_defaults(sub, it);
                }
            }
        }
        _ => {}
    }
}

/// The 400 a real apiserver answers for unknown fields under Strict.
pub fn strict_decoding_error(kind: &str, version: &str, unknown: &[String]) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        unknown.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"],
            "properties": {"size": {"type": "integer"}}}}})
    }

    #[test]
    fn unknown_fields_per_mode() {
        let obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"}, "spec": {"size": 1, "bogus": 2}});
        let mut strict = obj.clone();
        assert!(
            matches!(custom_resource(&schema(), &mut strict, None, FieldValidation::Strict), Err(Rejection::Unknown(u)) if u[0].contains("spec.bogus"))
        );
        let mut warn = obj.clone();
        let w = custom_resource(&schema(), &mut warn, None, FieldValidation::Warn).unwrap();
        assert_eq!(w.len(), 1);
        assert!(warn["spec"].get("bogus").is_none());
        let mut ignore = obj;
        assert!(
            custom_resource(&schema(), &mut ignore, None, FieldValidation::Ignore)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn defaults_fill_absent_fields_of_present_objects() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"max": {"type": "integer", "default": 10},
                "items": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}}}},
            "status": {"type": "object", "properties": {"phase": {"type": "string", "default": "New"}}}}});
        let mut v = json!({"spec": {"items": [{}, {"port": 1}]}});
        apply_defaults(&schema, &mut v);
        assert_eq!(
            v,
            json!({"spec": {"max": 10, "items": [{"port": 80}, {"port": 1}]}})
        );
    }

    #[test]
    fn a_wrong_type_skips_the_cel_rules_as_upstream() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.names.size() > 0", "message": "names needed"}],
            "properties": {"names": {"type": "array", "items": {"type": "string"}}}}}});
        let mut obj = json!({"metadata": {"name": "a"}, "spec": {"names": "prod"}});
        let Err(Rejection::Invalid(c)) =
            custom_resource(&schema, &mut obj, None, FieldValidation::Strict)
        else {
            panic!("a string where a list belongs was accepted")
        };
        assert_eq!(c[0].field, "spec.names");
        assert_eq!(c[0].reason, "FieldValueTypeInvalid");
        assert_eq!(c[1].message, schema::CEL_NOT_CHECKED);
        assert_eq!(c.len(), 2, "{c:?}");
    }

    #[test]
    fn violations_become_causes() {
        let mut obj = json!({"metadata": {"name": "a"}, "spec": {}});
        let Err(Rejection::Invalid(c)) =
            custom_resource(&schema(), &mut obj, None, FieldValidation::Strict)
        else {
            panic!("expected a violation")
        };
        assert_eq!(c[0].field, "spec.size");
        assert_eq!(c[0].reason, "FieldValueRequired");
    }
}
