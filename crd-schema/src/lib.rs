//! Validation of a custom resource against a structural `openAPIV3Schema`, as the
//! apiextensions apiserver does it: unknown fields, types, required fields, enums,
//! patterns, lengths, bounds, list uniqueness, the root `metadata`, and the CEL rules
//! in `x-kubernetes-validations` (through kube-cel).
//!
//! Every function reports *all* problems rather than the first, with Kubernetes-style
//! field paths (`spec.environments[1].name`, `metadata.labels[app]`). Messages follow the
//! apiserver's wording (`Invalid value: "X": spec.x in body should match '…'`), so a
//! client sees here what a real cluster would tell it.
//!
//! Shared by the fake apiserver (which turns the errors into a 422 or warnings) and by
//! `tenant-operator validate` (which prints them with file and line).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use regex::Regex;
use serde_json::{Map, Value};

/// One problem found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Kubernetes-style path of the field, e.g. `spec.environments[1].name`; empty for the
    /// object itself.
    pub path: String,
    /// What kind of problem it is.
    pub kind: FieldErrorKind,
    /// The apiserver's cause message, e.g. `Required value` or
    /// `Unsupported value: "x": supported values: "a", "b"`; for unknown fields the
    /// strict-decoding form `unknown field "spec.x"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `path: message`, the form of the apiserver's `field.Error`; unknown fields as the
    /// strict decoder prints them (the message already names the field).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == FieldErrorKind::Unknown || self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Kind of a [`FieldError`], one per apiserver cause type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A field the schema does not declare.
    Unknown,
    /// A required field is missing.
    Required,
    /// The value has the wrong JSON type.
    TypeInvalid,
    /// The value is not one of the schema's `enum`.
    NotSupported,
    /// The value breaks a pattern, bound, format or CEL rule.
    Invalid,
    /// A string longer than `maxLength`.
    TooLong,
    /// A list or map with more than `maxItems`/`maxProperties` entries.
    TooMany,
    /// A repeated entry of a `set` or `map` list.
    Duplicate,
}

impl FieldErrorKind {
    /// The `reason` of the apiserver's `details.causes` entry.
    ///
    /// A real apiserver has no cause type for unknown fields: with
    /// `fieldValidation=Strict` it answers 400 BadRequest
    /// `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: unknown field "spec.x"`
    /// (several joined by `, `), and with `Warn` it sends the [`FieldError::message`] as a
    /// warning. `FieldValueUnknown` is only a label for callers that need one.
    pub fn cause_type(&self) -> &'static str {
        match self {
            FieldErrorKind::Unknown => "FieldValueUnknown",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
        }
    }
}

/// Every problem of `value` against a structural openAPIV3Schema (JSON): unknown fields,
/// types, `required`, `enum`, `pattern`, lengths, bounds, `nullable`, list uniqueness and
/// the root `metadata`. CEL rules are checked by [`check_cel`].
pub fn check(schema: &Value, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_root(schema, value, &mut errors);
    errors
}

/// Everything the apiserver's create/update validation of a custom resource reports, in
/// its order: [`check`], then the CEL rules, unless a schema error blocks them (see
/// [`blocks_cel`]), in which case one error says they were not checked. Unknown fields are
/// included (the apiserver would have pruned or refused them before this step; callers
/// filter on [`FieldErrorKind::Unknown`] as their `fieldValidation` requires).
pub fn validate(schema: &Value, value: &Value, old: Option<&Value>) -> Vec<FieldError> {
    with_cel(check(schema, value), || check_cel(schema, value, old))
}

/// Appends the CEL results to the schema errors, or the apiserver's note that they were
/// skipped.
fn with_cel(mut errors: Vec<FieldError>, cel: impl FnOnce() -> Vec<FieldError>) -> Vec<FieldError> {
    if blocks_cel(&errors) {
        errors.push(FieldError {
            path: String::new(),
            kind: FieldErrorKind::Invalid,
            message: CEL_NOT_CHECKED.to_string(),
        });
    } else {
        errors.extend(cel());
    }
    errors
}

/// Whether schema errors stop the apiserver from evaluating CEL rules: a wrong type, a
/// missing required field, an unsupported enum value, or a string, list or map over its
/// maximum (the rules' cost estimates rely on these). Pattern and bound errors do not.
pub fn blocks_cel(errors: &[FieldError]) -> bool {
    errors.iter().any(|e| {
        matches!(
            e.kind,
            FieldErrorKind::TypeInvalid
                | FieldErrorKind::Required
                | FieldErrorKind::NotSupported
                | FieldErrorKind::TooLong
                | FieldErrorKind::TooMany
        )
    })
}

/// The apiserver's cause message when [`blocks_cel`] holds (its field is `<nil>`).
pub const CEL_NOT_CHECKED: &str = "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/// Removes the fields `schema` does not declare (honouring
/// `x-kubernetes-preserve-unknown-fields`, `additionalProperties` and the root
/// `apiVersion`/`kind`/`metadata`, which are never pruned here) and returns their paths.
///
/// Like the apiserver, it also drops `null` values of fields that are not `nullable`
/// (without reporting them: they are not unknown, just absent); defaults, if any, are
/// then the caller's to apply.
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Value::Object(obj) = value {
        drop_nulls(schema, obj);
        for (key, child) in obj.iter_mut() {
            if ROOT_FIELDS.contains(&key.as_str()) {
                continue;
            }
            if let Some(s) = property(schema, key) {
                prune_node(s, child, key, &mut pruned);
            }
        }
        if !preserves_unknown(schema) {
            obj.retain(|key, _| {
                let keep = ROOT_FIELDS.contains(&key.as_str()) || property(schema, key).is_some();
                if !keep {
                    pruned.push(key.clone());
                }
                keep
            });
        }
    }
    pruned
}

/// Evaluates the `x-kubernetes-validations` of `schema` on `value` with kube-cel; `old` is
/// the stored object, for transition rules (`oldSelf`). Each failed rule becomes an
/// `Invalid` error at the rule's field path, with the rule's message; a rule that does not
/// compile or evaluate is reported too, so that an unsupported rule never passes silently.
///
/// The compiled rules of the last few schemas are cached per thread; to check many
/// objects against one schema without even the cache lookup, use [`CelRules`].
pub fn check_cel(schema: &Value, value: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let rules = CEL_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let print = fingerprint(schema);
        if let Some((_, rules)) = cache.iter().find(|(p, _)| *p == print) {
            return Rc::clone(rules);
        }
        if cache.len() >= MAX_CACHED_SCHEMAS {
            cache.remove(0);
        }
        let rules = Rc::new(CelRules::new(schema));
        cache.push((print, Rc::clone(&rules)));
        rules
    });
    rules.check(value, old)
}

/// The CEL rules of one schema, compiled once (compiling costs far more than
/// evaluating): for checking many objects against the same CRD.
pub struct CelRules {
    schema: Value,
    compiled: kube::core::cel::CompiledSchema,
}

impl fmt::Debug for CelRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CelRules").finish_non_exhaustive()
    }
}

impl CelRules {
    /// Compiles every `x-kubernetes-validations` rule of `schema`. Rules that do not
    /// compile are reported by [`CelRules::check`] on every object.
    pub fn new(schema: &Value) -> Self {
        CelRules {
            schema: schema.clone(),
            compiled: kube::core::cel::compile_schema(schema),
        }
    }

    /// What [`validate`] reports, with the rules compiled once: for checking many
    /// objects against one CRD (`tenant-operator validate` over thousands of files).
    pub fn validate(&self, value: &Value, old: Option<&Value>) -> Vec<FieldError> {
        with_cel(check(&self.schema, value), || self.check(value, old))
    }

    /// What [`check_cel`] reports for `value` (and `old`, for transition rules).
    pub fn check(&self, value: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let Err(errors) = kube::core::cel::validate_compiled(&self.compiled, value, old) else {
            return Vec::new();
        };
        errors
            .into_vec()
            .into_iter()
            .map(|e| cel_field_error(&self.schema, e))
            .collect()
    }
}

fn cel_field_error(schema: &Value, e: kube::core::cel::ValidationError) -> FieldError {
    let (path, node_type) = cel_error_location(schema, &e.field_path, &e.rule);
    let kind = match e.reason.as_deref() {
        Some("FieldValueRequired") => FieldErrorKind::Required,
        Some("FieldValueDuplicate") => FieldErrorKind::Duplicate,
        _ => FieldErrorKind::Invalid,
    };
    let message = match kind {
        FieldErrorKind::Required => format!("Required value: {}", e.message),
        FieldErrorKind::Duplicate => format!("Duplicate value: {}", e.message),
        _ => format!("Invalid value: \"{node_type}\": {}", e.message),
    };
    FieldError {
        path,
        kind,
        message,
    }
}

/// A structural hash of a schema, to find its compiled rules without serialising or
/// comparing it (a CRD schema is tens of kilobytes, mostly descriptions). Descriptions
/// are left out: they change neither the rules nor where errors point. Two schemas
/// sharing a 64-bit hash would share compiled rules; among the few cached, the chance
/// is negligible next to the cost of comparing whole schemas on every call.
fn fingerprint(value: &Value) -> u64 {
    fn feed(value: &Value, h: &mut std::collections::hash_map::DefaultHasher) {
        match value {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.as_f64().map(f64::to_bits), n.as_i64()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(items) => {
                (4u8, items.len()).hash(h);
                for item in items {
                    feed(item, h);
                }
            }
            Value::Object(map) => {
                (5u8, map.len()).hash(h);
                for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "description") {
                    k.hash(h);
                    feed(v, h);
                }
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    feed(value, &mut h);
    h.finish()
}

/// Bound on the compiled-schema cache (CRDs updated many times must not grow it forever).
const MAX_CACHED_SCHEMAS: usize = 16;

/// Fields every object has at its root, validated by the apiserver itself.
const ROOT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;
/// Longest label value and label-key name part.
const MAX_LABEL: usize = 63;
/// Largest total size of annotations, as the apiserver enforces.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const UUID: &str = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const QUALIFIED_NAME: &str = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";

fn check_root(schema: &Value, value: &Value, errors: &mut Vec<FieldError>) {
    let Value::Object(obj) = value else {
        check_node(schema, value, "", errors);
        return;
    };
    match obj.get("metadata") {
        Some(meta) => check_metadata(schema, meta, errors),
        None => errors.push(required(
            "metadata.name",
            "name or generateName is required",
        )),
    }
    // apiVersion and kind are the apiserver's to check (they chose this schema).
    check_object(schema, obj, "", &ROOT_FIELDS, errors);
    check_combinators(schema, value, "", errors);
}

/// ObjectMeta as the apiserver checks it for custom resources: name (and any
/// constraint the CRD adds to it), generateName, labels and annotations. Other fields
/// belong to the server and are never unknown.
fn check_metadata(schema: &Value, meta: &Value, errors: &mut Vec<FieldError>) {
    let Value::Object(m) = meta else {
        errors.push(type_invalid("metadata", meta, "object"));
        return;
    };
    let name_schema = property(schema, "metadata").and_then(|s| property(s, "name"));
    let present = |k: &str| m.get(k).filter(|v| !v.is_null());
    match (present("name"), present("generateName")) {
        (None, None) => errors.push(required(
            "metadata.name",
            "name or generateName is required",
        )),
        (Some(Value::String(name)), _) => {
            check_dns_subdomain("metadata.name", name, errors);
            if let Some(s) = name_schema {
                check_node(s, &Value::String(name.clone()), "metadata.name", errors);
            }
        }
        (Some(other), _) => errors.push(type_invalid("metadata.name", other, "string")),
        (None, Some(_)) => {}
    }
    if let Some(g) = m.get("generateName") {
        match g {
            Value::String(_) | Value::Null => {}
            other => errors.push(type_invalid("metadata.generateName", other, "string")),
        }
    }
    check_string_map(m.get("labels"), "metadata.labels", true, errors);
    check_string_map(m.get("annotations"), "metadata.annotations", false, errors);
}

fn check_string_map(map: Option<&Value>, path: &str, labels: bool, errors: &mut Vec<FieldError>) {
    let entries = match map {
        None | Some(Value::Null) => return,
        Some(Value::Object(entries)) => entries,
        Some(other) => {
            errors.push(type_invalid(path, other, "object"));
            return;
        }
    };
    let mut total = 0;
    for (key, v) in entries {
        let key_path = format!("{path}[{key}]");
        check_qualified_name(path, key, errors);
        let Value::String(s) = v else {
            errors.push(type_invalid(&key_path, v, "string"));
            continue;
        };
        total += key.len() + s.len();
        if labels
            && !(s.is_empty()
                || (s.len() <= MAX_LABEL && cached_match(QUALIFIED_NAME, s) == Some(true)))
        {
            errors.push(invalid(
                &key_path,
                &Value::String(s.clone()),
                &format!(
                    "a valid label must be an empty string or consist of at most {MAX_LABEL} alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
    }
    if !labels && total > MAX_ANNOTATIONS_BYTES {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooLong,
            message: format!("Too long: may not be more than {MAX_ANNOTATIONS_BYTES} bytes"),
        });
    }
}

fn check_qualified_name(path: &str, key: &str, errors: &mut Vec<FieldError>) {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = name.len() <= MAX_LABEL && cached_match(QUALIFIED_NAME, name) == Some(true);
    let prefix_ok = prefix
        .is_none_or(|p| p.len() <= MAX_NAME && cached_match(DNS1123_SUBDOMAIN, p) == Some(true));
    if !(name_ok && prefix_ok) {
        errors.push(invalid(
            path,
            &Value::String(key.to_string()),
            "name part must consist of at most 63 alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ));
    }
}

fn check_dns_subdomain(path: &str, name: &str, errors: &mut Vec<FieldError>) {
    let v = Value::String(name.to_string());
    if name.len() > MAX_NAME {
        errors.push(invalid(
            path,
            &v,
            &format!("must be no more than {MAX_NAME} characters"),
        ));
    }
    if cached_match(DNS1123_SUBDOMAIN, name) != Some(true) {
        errors.push(invalid(
            path,
            &v,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        ));
    }
}

/// Checks one node and everything below it.
fn check_node(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        let typed = declared_type(schema).is_some() || flag(schema, "x-kubernetes-int-or-string");
        if !flag(schema, "nullable") && typed {
            errors.push(type_invalid(path, value, expected_type(schema)));
        }
        return;
    }
    if !type_matches(schema, value) {
        errors.push(type_invalid(path, value, expected_type(schema)));
        return;
    }
    check_value_keywords(schema, value, path, errors);
    match value {
        Value::Object(obj) => check_object(schema, obj, path, &[], errors),
        Value::Array(items) => check_array(schema, items, path, errors),
        _ => {}
    }
    check_combinators(schema, value, path, errors);
}

/// Properties, required fields and property counts of an object; `skip` names fields
/// checked elsewhere (the root's apiVersion, kind and metadata).
fn check_object(
    schema: &Value,
    obj: &Map<String, Value>,
    path: &str,
    skip: &[&str],
    errors: &mut Vec<FieldError>,
) {
    if let Some(required_fields) = schema.get("required").and_then(Value::as_array) {
        for r in required_fields
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| !skip.contains(r))
        {
            if obj.get(r).is_none_or(Value::is_null)
                && !(obj.get(r).is_some() && flag_at(schema, r, "nullable"))
            {
                errors.push(required(&join(path, r), ""));
            }
        }
    }
    let additional = schema.get("additionalProperties");
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    for (key, child) in obj.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
        // A null in a field that is not nullable is dropped by the apiserver, not refused
        // (a required one is reported missing above).
        if child.is_null() && child_schema(schema, key).is_some_and(|s| !flag(s, "nullable")) {
            continue;
        }
        if let Some(s) = property(schema, key) {
            check_node(s, child, &join(path, key), errors);
        } else if let Some(s) = additional.filter(|a| a.is_object()) {
            check_node(s, child, &format!("{path}[{key}]"), errors);
        } else if !(additional == Some(&Value::Bool(true))
            || preserves_unknown(schema)
            || (embedded && ROOT_FIELDS.contains(&key.as_str())))
        {
            let p = join(path, key);
            errors.push(FieldError {
                message: format!("unknown field \"{p}\""),
                path: p,
                kind: FieldErrorKind::Unknown,
            });
        }
    }
    let n = obj.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooMany,
            message: format!("Too many: {n}: must have at most {max} items"),
        });
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        errors.push(invalid_msg(
            path,
            &n.to_string(),
            &format!(
                "{} in body should have at least {min} properties",
                shown(path)
            ),
        ));
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    let n = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooMany,
            message: format!("Too many: {n}: must have at most {max} items"),
        });
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        errors.push(invalid_msg(
            path,
            &n.to_string(),
            &format!("{} in body should have at least {min} items", shown(path)),
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check_node(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errors.push(duplicate(&format!("{path}[{i}]"), item));
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(entry) = item else { continue };
                let key: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| entry.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect();
                if !seen.insert(Value::Object(key.clone()).to_string()) {
                    errors.push(duplicate(&format!("{path}[{i}]"), &Value::Object(key)));
                }
            }
        }
        _ => {}
    }
}

/// `enum`, `pattern`, lengths and numeric bounds of a scalar.
fn check_value_keywords(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(go_value).collect();
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::NotSupported,
            message: format!(
                "Unsupported value: {}: supported values: {}",
                go_value(value),
                list.join(", ")
            ),
        });
    }
    match value {
        Value::String(s) => check_string(schema, s, value, path, errors),
        Value::Number(_) => check_number(schema, value, path, errors),
        _ => {}
    }
}

fn check_string(schema: &Value, s: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let chars = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooLong,
            message: format!("Too long: may not be more than {max} characters"),
        });
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        errors.push(invalid(
            path,
            value,
            &format!(
                "{} in body should be at least {min} chars long",
                shown(path)
            ),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match cached_match(pattern, s) {
            Some(true) => {}
            Some(false) => errors.push(invalid(path, value, &format!("{} in body should match '{pattern}'", shown(path)))),
            None => errors.push(invalid(
                path,
                value,
                &format!("the schema's pattern '{pattern}' is not a regular expression this validator supports"),
            )),
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && format_violated(format, s)
    {
        errors.push(invalid(
            path,
            value,
            &format!(
                "{} in body must be of type {format}: {}",
                shown(path),
                go_value(value)
            ),
        ));
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    let shown_path = shown(path);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMinimum");
        if n < min || (exclusive && n == min) {
            let op = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errors.push(invalid(
                path,
                value,
                &format!("{shown_path} in body should be {op} {}", number(min)),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMaximum");
        if n > max || (exclusive && n == max) {
            let op = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            errors.push(invalid(
                path,
                value,
                &format!("{shown_path} in body should be {op} {}", number(max)),
            ));
        }
    }
    if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
        && (n / m).fract() != 0.0
    {
        errors.push(invalid(
            path,
            value,
            &format!("{shown_path} in body should be a multiple of {}", number(m)),
        ));
    }
}

/// Whether `s` breaks a string `format` the apiserver checks. Formats this validator does
/// not know (and those the apiserver ignores, such as `int32` on strings) pass.
fn format_violated(format: &str, s: &str) -> bool {
    use base64::Engine as _;
    match format {
        "date-time" => s.parse::<jiff::Timestamp>().is_err(),
        "date" => s.parse::<jiff::civil::Date>().is_err(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_err(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_err(),
        "cidr" => s.split_once('/').is_none_or(|(ip, bits)| {
            ip.parse::<std::net::IpAddr>().is_err() || bits.parse::<u8>().is_err()
        }),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_err(),
        "uuid" => cached_match(UUID, s) != Some(true),
        _ => false,
    }
}

/// `allOf`, `anyOf`, `oneOf` and `not`: in a structural schema they carry only value
/// validations, applied to the same value.
fn check_combinators(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let branch_errors = |branch: &Value| {
        let mut errs = Vec::new();
        check_branch(branch, value, path, &mut errs);
        errs
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for branch in all {
            errors.extend(branch_errors(branch));
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.is_empty()
        && !any.iter().any(|b| branch_errors(b).is_empty())
    {
        errors.push(invalid(
            path,
            value,
            &format!(
                "{} in body must validate at least one schema (anyOf)",
                shown(path)
            ),
        ));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && !one.is_empty()
        && one.iter().filter(|b| branch_errors(b).is_empty()).count() != 1
    {
        errors.push(invalid(
            path,
            value,
            &format!(
                "{} in body must validate one and only one schema (oneOf)",
                shown(path)
            ),
        ));
    }
    if let Some(not) = schema.get("not")
        && branch_errors(not).is_empty()
    {
        errors.push(invalid(
            path,
            value,
            &format!("{} in body must not validate the schema (not)", shown(path)),
        ));
    }
}

/// A combinator branch: its type (if any) and value keywords, never unknown fields
/// (structural schemas declare fields outside combinators).
fn check_branch(branch: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if declared_type(branch).is_some() && !value.is_null() && !type_matches(branch, value) {
        errors.push(type_invalid(
            path,
            value,
            declared_type(branch).unwrap_or("object"),
        ));
        return;
    }
    check_value_keywords(branch, value, path, errors);
    if let (Some(props), Value::Object(obj)) =
        (branch.get("properties").and_then(Value::as_object), value)
    {
        for (key, s) in props {
            if let Some(child) = obj.get(key) {
                check_branch(s, child, &join(path, key), errors);
            }
        }
    }
    if let Some(req) = branch.get("required").and_then(Value::as_array)
        && let Value::Object(obj) = value
    {
        for r in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(required(&join(path, r), ""));
            }
        }
    }
    check_combinators(branch, value, path, errors);
}

fn prune_node(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(obj) => {
            drop_nulls(schema, obj);
            let preserve = preserves_unknown(schema)
                || schema.get("additionalProperties") == Some(&Value::Bool(true));
            let embedded = flag(schema, "x-kubernetes-embedded-resource");
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in obj.iter_mut() {
                if let Some(s) = property(schema, key) {
                    prune_node(s, child, &join(path, key), pruned);
                } else if let Some(s) = additional {
                    prune_node(s, child, &format!("{path}[{key}]"), pruned);
                }
            }
            if !preserve && additional.is_none() {
                obj.retain(|key, _| {
                    let keep = property(schema, key).is_some()
                        || (embedded && ROOT_FIELDS.contains(&key.as_str()));
                    if !keep {
                        pruned.push(join(path, key));
                    }
                    keep
                });
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(s, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Removes `null` values of fields whose schema is not `nullable`, as the apiserver does
/// before defaulting.
fn drop_nulls(schema: &Value, obj: &mut Map<String, Value>) {
    obj.retain(|key, v| {
        !(v.is_null() && child_schema(schema, key).is_some_and(|s| !flag(s, "nullable")))
    });
}

/// The schema of field `key` of an object: a declared property or the `additionalProperties` schema.
fn child_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    property(schema, key).or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

/// Where a failed CEL rule points, in Kubernetes form, and the schema type of the node
/// that declares the rule (the apiserver shows it as the "value": `Invalid value: "object"`).
/// kube-cel joins map keys with dots; this walks the schema to write them as `[key]`.
fn cel_error_location(schema: &Value, cel_path: &str, rule: &str) -> (String, &'static str) {
    let mut path = String::new();
    let mut node = Some(schema);
    let mut node_type = rule_owner_type(schema, rule).unwrap_or("object");
    for segment in split_cel_path(cel_path.trim_start_matches('.')) {
        let current = node;
        match segment {
            CelSegment::Index(i) => {
                path.push_str(&format!("[{i}]"));
                node = current.and_then(|s| s.get("items"));
            }
            CelSegment::Name(name) => {
                if let Some(s) = current.and_then(|s| property(s, name)) {
                    path = join(&path, name);
                    node = Some(s);
                } else if let Some(s) = current
                    .and_then(|s| s.get("additionalProperties"))
                    .filter(|a| a.is_object())
                {
                    path.push_str(&format!("[{name}]"));
                    node = Some(s);
                } else {
                    path = join(&path, name);
                    node = None;
                }
            }
        }
        if let Some(t) = node.and_then(|s| rule_owner_type(s, rule)) {
            node_type = t;
        }
    }
    (path, node_type)
}

enum CelSegment<'a> {
    Name(&'a str),
    Index(usize),
}

fn split_cel_path(path: &str) -> Vec<CelSegment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(CelSegment::Name(name));
        }
        while let Some(end) = rest.find(']') {
            let inner = &rest[1..end];
            match inner.parse() {
                Ok(i) => out.push(CelSegment::Index(i)),
                Err(_) => out.push(CelSegment::Name(inner)),
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// The type name of `schema` if it declares `rule` among its `x-kubernetes-validations`.
fn rule_owner_type(schema: &Value, rule: &str) -> Option<&'static str> {
    let declares = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules
                .iter()
                .any(|r| r.get("rule").and_then(Value::as_str) == Some(rule))
        });
    declares.then(|| match declared_type(schema) {
        Some("array") => "array",
        Some("string") => "string",
        Some("integer") => "integer",
        Some("number") => "number",
        Some("boolean") => "boolean",
        _ => "object",
    })
}

fn type_matches(schema: &Value, value: &Value) -> bool {
    if flag(schema, "x-kubernetes-int-or-string") {
        return value.is_string() || is_integer(value);
    }
    match declared_type(schema) {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => is_integer(value),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(_) => false,
    }
}

/// The type a node wants, as the apiserver names it.
fn expected_type(schema: &Value) -> &str {
    if flag(schema, "x-kubernetes-int-or-string") {
        "integer or string"
    } else {
        declared_type(schema).unwrap_or("object")
    }
}

fn is_integer(value: &Value) -> bool {
    value.is_i64() || value.is_u64()
}

fn declared_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn property<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema.get("properties").and_then(|p| p.get(key))
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

fn flag_at(schema: &Value, key: &str, name: &str) -> bool {
    property(schema, key).is_some_and(|s| flag(s, name))
}

fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The path as the apiserver's schema messages show it (`<root>` for the object).
fn shown(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as the apiserver prints it in a cause: strings quoted, the rest as JSON.
fn go_value(value: &Value) -> String {
    value.to_string()
}

/// A bound as the apiserver prints it: `0`, not `0.0` (Rust's `Display` for `f64` already
/// drops a zero fraction).
fn number(n: f64) -> String {
    n.to_string()
}

fn required(path: &str, detail: &str) -> FieldError {
    FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::Required,
        message: if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        },
    }
}

fn type_invalid(path: &str, value: &Value, expected: &str) -> FieldError {
    let actual = json_type(value);
    FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::TypeInvalid,
        message: format!(
            "Invalid value: \"{actual}\": {} in body must be of type {expected}: \"{actual}\"",
            shown(path)
        ),
    }
}

fn invalid(path: &str, value: &Value, detail: &str) -> FieldError {
    invalid_msg(path, &go_value(value), detail)
}

fn invalid_msg(path: &str, shown_value: &str, detail: &str) -> FieldError {
    FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::Invalid,
        message: format!("Invalid value: {shown_value}: {detail}"),
    }
}

fn duplicate(path: &str, value: &Value) -> FieldError {
    FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::Duplicate,
        message: format!("Duplicate value: {}", go_value(value)),
    }
}

thread_local! {
    /// The compiled CEL rules of the schemas seen last, with their fingerprints.
    static CEL_CACHE: RefCell<Vec<(u64, Rc<CelRules>)>> = const { RefCell::new(Vec::new()) };
    /// Compiled patterns: a CRD has a few dozen, checked against thousands of objects.
    static PATTERNS: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Whether `text` matches `pattern`; `None` if the pattern does not compile. Schema
/// patterns are ECMA-262; the common subset (classes, anchors, repetition) is the same
/// in the regex crate.
fn cached_match(pattern: &str, text: &str) -> Option<bool> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        re.as_ref().map(|re| re.is_match(text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(spec: Value) -> Value {
        json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
    }

    fn root(spec: Value) -> Value {
        json!({"type": "object", "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
            "spec": spec}})
    }

    fn errors_of(spec_schema: Value, spec: Value) -> Vec<FieldError> {
        check(&root(spec_schema), &obj(spec))
    }

    fn one(errors: &[FieldError], kind: FieldErrorKind, path: &str) {
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].kind, kind, "{errors:#?}");
        assert_eq!(errors[0].path, path, "{errors:#?}");
    }

    #[test]
    fn unknown_fields_are_reported_with_their_path() {
        let s = json!({"type": "object", "properties": {"environments": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}});
        assert!(errors_of(s.clone(), json!({"environments": [{"name": "a"}]})).is_empty());
        let errs = errors_of(s.clone(), json!({"enviroments": []}));
        one(&errs, FieldErrorKind::Unknown, "spec.enviroments");
        assert_eq!(errs[0].message, "unknown field \"spec.enviroments\"");
        assert_eq!(errs[0].to_string(), "unknown field \"spec.enviroments\"");
        let errs = errors_of(s, json!({"environments": [{"name": "a"}, {"nam": "b"}]}));
        one(&errs, FieldErrorKind::Unknown, "spec.environments[1].nam");
    }

    #[test]
    fn preserve_unknown_fields_and_additional_properties_allow_extra_keys() {
        let s = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}});
        assert!(errors_of(s.clone(), json!({"b": {"anything": [1]}})).is_empty());
        one(
            &errors_of(s, json!({"a": 1})),
            FieldErrorKind::TypeInvalid,
            "spec.a",
        );
        let s =
            json!({"type": "object", "additionalProperties": {"type": "string", "maxLength": 2}});
        assert!(errors_of(s.clone(), json!({"foo": "ab"})).is_empty());
        one(
            &errors_of(s, json!({"foo": "abc"})),
            FieldErrorKind::TooLong,
            "spec[foo]",
        );
    }

    #[test]
    fn types_distinguish_integer_and_number() {
        let s = json!({"type": "object", "properties": {"i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"}}});
        assert!(errors_of(s.clone(), json!({"i": 3, "n": 1.5, "b": true})).is_empty());
        let errs = errors_of(s.clone(), json!({"i": 1.5}));
        one(&errs, FieldErrorKind::TypeInvalid, "spec.i");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"number\": spec.i in body must be of type integer: \"number\""
        );
        assert_eq!(errs[0].kind.cause_type(), "FieldValueTypeInvalid");
        one(
            &errors_of(s.clone(), json!({"n": "1"})),
            FieldErrorKind::TypeInvalid,
            "spec.n",
        );
        one(
            &errors_of(s, json!({"b": "true"})),
            FieldErrorKind::TypeInvalid,
            "spec.b",
        );
    }

    #[test]
    fn int_or_string_accepts_both() {
        let s = json!({"type": "object", "properties": {"q": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}});
        assert!(errors_of(s.clone(), json!({"q": 2})).is_empty());
        assert!(errors_of(s.clone(), json!({"q": "500m"})).is_empty());
        one(
            &errors_of(s, json!({"q": true})),
            FieldErrorKind::TypeInvalid,
            "spec.q",
        );
    }

    #[test]
    fn required_fields() {
        let s = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
        assert!(errors_of(s.clone(), json!({"name": "x"})).is_empty());
        let errs = errors_of(s, json!({}));
        one(&errs, FieldErrorKind::Required, "spec.name");
        assert_eq!(errs[0].to_string(), "spec.name: Required value");
        assert_eq!(errs[0].kind.cause_type(), "FieldValueRequired");
    }

    #[test]
    fn enum_values() {
        let s = json!({"type": "object", "properties": {"c": {"type": "string", "enum": ["ordinario", "critico"]}}});
        assert!(errors_of(s.clone(), json!({"c": "critico"})).is_empty());
        let errs = errors_of(s, json!({"c": "segreto"}));
        one(&errs, FieldErrorKind::NotSupported, "spec.c");
        assert_eq!(
            errs[0].message,
            "Unsupported value: \"segreto\": supported values: \"ordinario\", \"critico\""
        );
        assert_eq!(errs[0].kind.cause_type(), "FieldValueNotSupported");
    }

    #[test]
    fn patterns() {
        let s = json!({"type": "object", "properties": {"istat": {"type": "string", "pattern": "^[0-9]{6}$"}}});
        assert!(errors_of(s.clone(), json!({"istat": "072029"})).is_empty());
        let errs = errors_of(s, json!({"istat": "72029"}));
        one(&errs, FieldErrorKind::Invalid, "spec.istat");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"72029\": spec.istat in body should match '^[0-9]{6}$'"
        );
    }

    #[test]
    fn unsupported_pattern_fails_closed() {
        let s = json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "(?<=a)b"}}});
        one(
            &errors_of(s, json!({"x": "ab"})),
            FieldErrorKind::Invalid,
            "spec.x",
        );
    }

    #[test]
    fn string_formats() {
        let s = json!({"type": "object", "properties": {
            "t": {"type": "string", "format": "date-time"},
            "ip": {"type": "string", "format": "ipv4"},
            "net": {"type": "string", "format": "cidr"},
            "other": {"type": "string", "format": "password"}}});
        let good = json!({"t": "2026-01-01T00:00:00Z", "ip": "192.0.2.1", "net": "2001:db8::/32", "other": "x"});
        assert!(errors_of(s.clone(), good).is_empty());
        let errs = errors_of(s.clone(), json!({"t": "yesterday"}));
        one(&errs, FieldErrorKind::Invalid, "spec.t");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"yesterday\": spec.t in body must be of type date-time: \"yesterday\""
        );
        one(
            &errors_of(s.clone(), json!({"ip": "300.0.0.1"})),
            FieldErrorKind::Invalid,
            "spec.ip",
        );
        one(
            &errors_of(s, json!({"net": "10.0.0.0"})),
            FieldErrorKind::Invalid,
            "spec.net",
        );
    }

    #[test]
    fn string_lengths_count_characters() {
        let s = json!({"type": "object", "properties": {"n": {"type": "string", "minLength": 1, "maxLength": 3}}});
        assert!(errors_of(s.clone(), json!({"n": "àèì"})).is_empty());
        let errs = errors_of(s.clone(), json!({"n": "abcd"}));
        one(&errs, FieldErrorKind::TooLong, "spec.n");
        assert_eq!(errs[0].kind.cause_type(), "FieldValueTooLong");
        one(
            &errors_of(s, json!({"n": ""})),
            FieldErrorKind::Invalid,
            "spec.n",
        );
    }

    #[test]
    fn item_counts() {
        let s = json!({"type": "object", "properties": {"l": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}}}});
        assert!(errors_of(s.clone(), json!({"l": ["a"]})).is_empty());
        let errs = errors_of(s.clone(), json!({"l": ["a", "b", "c"]}));
        one(&errs, FieldErrorKind::TooMany, "spec.l");
        assert_eq!(errs[0].message, "Too many: 3: must have at most 2 items");
        assert_eq!(errs[0].kind.cause_type(), "FieldValueTooMany");
        one(
            &errors_of(s, json!({"l": []})),
            FieldErrorKind::Invalid,
            "spec.l",
        );
    }

    #[test]
    fn numeric_bounds() {
        let s = json!({"type": "object", "properties": {
            "p": {"type": "integer", "minimum": 0, "maximum": 10},
            "e": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}});
        assert!(errors_of(s.clone(), json!({"p": 0, "e": 0.5})).is_empty());
        let errs = errors_of(s.clone(), json!({"p": -1}));
        one(&errs, FieldErrorKind::Invalid, "spec.p");
        assert_eq!(
            errs[0].message,
            "Invalid value: -1: spec.p in body should be greater than or equal to 0"
        );
        one(
            &errors_of(s.clone(), json!({"p": 11})),
            FieldErrorKind::Invalid,
            "spec.p",
        );
        one(
            &errors_of(s, json!({"e": 0})),
            FieldErrorKind::Invalid,
            "spec.e",
        );
    }

    #[test]
    fn nullable() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true}, "b": {"type": "string"},
            "l": {"type": "array", "items": {"type": "string"}}}});
        assert!(errors_of(s.clone(), json!({"a": null})).is_empty());
        // Not nullable: the apiserver drops the null, as if the field were absent.
        assert!(errors_of(s.clone(), json!({"b": null})).is_empty());
        let mut v = obj(json!({"a": null, "b": null}));
        assert!(prune(&root(s.clone()), &mut v).is_empty());
        assert_eq!(v["spec"], json!({"a": null}));
        // A required field given as null is missing.
        let mut req = s.clone();
        req["required"] = json!(["b"]);
        one(
            &errors_of(req, json!({"b": null})),
            FieldErrorKind::Required,
            "spec.b",
        );
        // List items are not dropped: a null item has the wrong type.
        one(
            &errors_of(s, json!({"l": ["x", null]})),
            FieldErrorKind::TypeInvalid,
            "spec.l[1]",
        );
    }

    #[test]
    fn list_type_set_and_map_reject_duplicates() {
        let s = json!({"type": "object", "properties": {
            "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}}});
        assert!(
            errors_of(
                s.clone(),
                json!({"s": ["a", "b"], "m": [{"name": "a", "v": 1}, {"name": "b", "v": 1}]})
            )
            .is_empty()
        );
        let errs = errors_of(s.clone(), json!({"s": ["a", "b", "a"]}));
        one(&errs, FieldErrorKind::Duplicate, "spec.s[2]");
        assert_eq!(errs[0].kind.cause_type(), "FieldValueDuplicate");
        one(
            &errors_of(
                s,
                json!({"m": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]}),
            ),
            FieldErrorKind::Duplicate,
            "spec.m[1]",
        );
    }

    #[test]
    fn combinators() {
        let s = json!({"type": "object", "properties": {"x": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "b$"}]}}});
        assert!(errors_of(s.clone(), json!({"x": "ac"})).is_empty());
        one(
            &errors_of(s.clone(), json!({"x": "ab"})),
            FieldErrorKind::Invalid,
            "spec.x",
        );
        one(
            &errors_of(s, json!({"x": "c"})),
            FieldErrorKind::Invalid,
            "spec.x",
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let s = json!({"type": "object", "required": ["a"], "properties": {"b": {"type": "integer"}, "c": {"type": "string", "enum": ["x"]}}});
        let errs = errors_of(s, json!({"b": "1", "c": "y", "d": 1}));
        let kinds: HashSet<FieldErrorKind> = errs.iter().map(|e| e.kind).collect();
        assert_eq!(errs.len(), 4, "{errs:#?}");
        for k in [
            FieldErrorKind::Required,
            FieldErrorKind::TypeInvalid,
            FieldErrorKind::NotSupported,
            FieldErrorKind::Unknown,
        ] {
            assert!(kinds.contains(&k), "{k:?} missing in {errs:#?}");
        }
    }

    #[test]
    fn metadata_is_checked_loosely_and_never_unknown() {
        let s = root(json!({"type": "object"}));
        let good = json!({"metadata": {"name": "a.b-c", "uid": "u", "resourceVersion": "1", "labels": {"example.com/x": "y", "k": ""}, "annotations": {"a": "any text"}}});
        assert!(check(&s, &good).is_empty(), "{:#?}", check(&s, &good));
        let errs = check(&s, &json!({"metadata": {"name": "Bad_Name"}}));
        one(&errs, FieldErrorKind::Invalid, "metadata.name");
        let errs = check(&s, &json!({"metadata": {}}));
        one(&errs, FieldErrorKind::Required, "metadata.name");
        assert!(check(&s, &json!({"metadata": {"generateName": "w-"}})).is_empty());
        let errs = check(
            &s,
            &json!({"metadata": {"name": "a", "labels": {"foo": "not valid!"}}}),
        );
        one(&errs, FieldErrorKind::Invalid, "metadata.labels[foo]");
        let errs = check(
            &s,
            &json!({"metadata": {"name": "a", "labels": {"foo": 1}}}),
        );
        one(&errs, FieldErrorKind::TypeInvalid, "metadata.labels[foo]");
    }

    #[test]
    fn metadata_name_constraints_of_the_crd_apply() {
        let mut s = root(json!({"type": "object"}));
        s["properties"]["metadata"] =
            json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}});
        assert!(check(&s, &json!({"metadata": {"name": "abc"}})).is_empty());
        one(
            &check(&s, &json!({"metadata": {"name": "abcd"}})),
            FieldErrorKind::TooLong,
            "metadata.name",
        );
    }

    #[test]
    fn prune_removes_unknown_fields_and_reports_paths() {
        let s = root(json!({"type": "object", "properties": {
            "keep": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}}}}));
        let mut v = json!({"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "extra": 1}, "top": 1,
            "spec": {"keep": [{"a": "x", "b": "y"}], "free": {"z": 1}, "map": {"k": {"v": "1", "w": "2"}}, "typo": 1}});
        let pruned = prune(&s, &mut v);
        assert_eq!(
            pruned,
            vec!["spec.keep[0].b", "spec.map[k].w", "spec.typo", "top"]
        );
        assert_eq!(
            v,
            json!({"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "extra": 1},
            "spec": {"keep": [{"a": "x"}], "free": {"z": 1}, "map": {"k": {"v": "1"}}}})
        );
        assert!(prune(&s, &mut v).is_empty());
    }

    fn cel_schema() -> Value {
        root(json!({"type": "object",
            "x-kubernetes-validations": [{"rule": "self.a <= self.b", "message": "a must not exceed b", "fieldPath": ".a"}],
            "properties": {
                "a": {"type": "integer"}, "b": {"type": "integer"},
                "m": {"type": "object", "additionalProperties": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'", "message": "not x"}]}},
                "fixed": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}]}}}))
    }

    #[test]
    fn cel_rules_report_message_and_field_path() {
        let s = cel_schema();
        assert!(check_cel(&s, &obj(json!({"a": 1, "b": 2})), None).is_empty());
        let errs = check_cel(&s, &obj(json!({"a": 3, "b": 2})), None);
        one(&errs, FieldErrorKind::Invalid, "spec.a");
        assert_eq!(
            errs[0].message,
            "Invalid value: \"object\": a must not exceed b"
        );
        assert_eq!(errs[0].kind.cause_type(), "FieldValueInvalid");
        let errs = check_cel(&s, &obj(json!({"a": 1, "b": 2, "m": {"k": "x"}})), None);
        one(&errs, FieldErrorKind::Invalid, "spec.m[k]");
        assert_eq!(errs[0].message, "Invalid value: \"string\": not x");
    }

    #[test]
    fn cel_transition_rules_use_the_old_object() {
        let s = cel_schema();
        let old = obj(json!({"a": 1, "b": 2, "fixed": "v1"}));
        assert!(check_cel(&s, &old, Some(&old)).is_empty());
        let errs = check_cel(&s, &obj(json!({"a": 1, "b": 2, "fixed": "v2"})), Some(&old));
        one(&errs, FieldErrorKind::Invalid, "spec.fixed");
    }

    #[test]
    fn compiled_rules_and_the_cache_agree_across_schemas() {
        let s1 = cel_schema();
        let mut s2 = cel_schema();
        s2["properties"]["spec"]["x-kubernetes-validations"][0]["message"] = json!("other message");
        let bad = obj(json!({"a": 3, "b": 2}));
        let rules = CelRules::new(&s1);
        assert_eq!(rules.check(&bad, None), check_cel(&s1, &bad, None));
        assert_eq!(rules.validate(&bad, None), validate(&s1, &bad, None));
        // A schema that differs only in a message is not served from the first one's cache entry.
        assert_eq!(
            check_cel(&s2, &bad, None)[0].message,
            "Invalid value: \"object\": other message"
        );
        assert_eq!(
            check_cel(&s1, &bad, None)[0].message,
            "Invalid value: \"object\": a must not exceed b"
        );
        assert_ne!(fingerprint(&s1), fingerprint(&s2));
    }

    #[test]
    fn validate_skips_cel_after_blocking_errors_only() {
        let s = cel_schema();
        // A CEL failure alone.
        let errs = validate(&s, &obj(json!({"a": 3, "b": 2})), None);
        one(&errs, FieldErrorKind::Invalid, "spec.a");
        // A wrong type blocks the rules: one note instead of their results.
        let errs = validate(&s, &obj(json!({"a": 3, "b": "2"})), None);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!(errs[0].kind, FieldErrorKind::TypeInvalid);
        assert_eq!(
            (errs[1].path.as_str(), errs[1].message.as_str()),
            ("", CEL_NOT_CHECKED)
        );
        // An unknown field does not block them.
        let errs = validate(&s, &obj(json!({"a": 3, "b": 2, "c": 1})), None);
        let kinds: Vec<FieldErrorKind> = errs.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [FieldErrorKind::Unknown, FieldErrorKind::Invalid]);
    }

    #[test]
    fn cel_rule_that_does_not_compile_is_reported() {
        let s = root(
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a >", "message": "m"}], "properties": {"a": {"type": "integer"}}}),
        );
        let errs = check_cel(&s, &obj(json!({"a": 1})), None);
        one(&errs, FieldErrorKind::Invalid, "spec");
    }
}
