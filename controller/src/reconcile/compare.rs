//! Pure comparison of a desired object with the live one, deciding whether an apply would
//! change anything.

use std::hash::{Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

use crate::labels;

/// Whether the live object already has everything the desired object states.
///
/// Every field of `desired` must be present in `live` with an equal value; fields only in
/// `live` (status, server defaults, metadata the server adds, fields of other managers) are
/// ignored, as server-side apply would leave them. Lists must have the same length and match
/// item by item, so that an added or removed rule is noticed. An empty list, empty map or
/// null in `desired` also matches an absent field: API servers drop them.
pub fn matches_live(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(key, value)| match have.get(key) {
                Some(found) => matches_live(value, found),
                None => is_empty(value),
            })
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| matches_live(w, h))
        }
        (Value::Number(want), Value::Number(have)) => {
            want == have || want.as_f64().is_some() && want.as_f64() == have.as_f64()
        }
        (want, Value::Null) => is_empty(want),
        (want, have) => want == have,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// The first field manager other than `own` that owns fields outside `metadata` of the
/// live object (someone edited what the operator manages), if any. Status subresource
/// entries (written by Kubernetes controllers, e.g. the quota controller) do not count.
pub fn foreign_manager(live: &Value, own: &str) -> Option<String> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .filter(|entry| entry.get("manager").and_then(Value::as_str) != Some(own))
        .filter(|entry| {
            entry
                .get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .find(|entry| {
            entry
                .get("fieldsV1")
                .and_then(Value::as_object)
                .is_some_and(|fields| fields.keys().any(|k| k != "f:metadata"))
        })
        .and_then(|entry| entry.get("manager").and_then(Value::as_str))
        .map(str::to_string)
}

/// A label or annotation of a live object: `section` is `labels` or `annotations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataKey {
    /// `labels` or `annotations`.
    pub section: &'static str,
    /// The label or annotation key.
    pub key: String,
}

/// Labels the API server sets itself on every write, whoever else holds them: on
/// namespaces, `kubernetes.io/metadata.name` (upstream's namespace defaulting). The
/// create's entry holds it, as the server defaults it into the request, but removing it
/// would only see it put back.
const SERVER_SET_LABELS: [&str; 1] = ["kubernetes.io/metadata.name"];

/// The labels and annotations of `live` that `desired` no longer sets and that only the
/// operator's own non-apply writes hold (manager `own`, operation `Update`: the create of
/// a namespace, a change of its holder, a whole-object replace).
///
/// Server-side apply removes a field it stops setting only when no other managedFields
/// entry holds it, and an `Update` entry of the same manager is another entry. Left alone,
/// a label such as `allow-load-balancer`, written by the create of a namespace and dropped
/// from the class later, would stay for good, and with it what it allows. A key that
/// another manager also holds is theirs too and stays, as apply would leave it; a key no
/// entry holds (an untracked object) is not known to be the operator's and stays as well.
pub fn own_leftovers(live: &Value, desired: &Value, own: &str) -> Vec<MetadataKey> {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut leftovers = Vec::new();
    for section in ["labels", "annotations"] {
        let Some(present) = live
            .get("metadata")
            .and_then(|m| m.get(section))
            .and_then(Value::as_object)
        else {
            continue;
        };
        let wanted = desired
            .get("metadata")
            .and_then(|m| m.get(section))
            .and_then(Value::as_object);
        let fields_pointer = format!("/fieldsV1/f:metadata/f:{section}");
        for key in present.keys() {
            if wanted.is_some_and(|wanted| wanted.contains_key(key))
                || (section == "labels" && SERVER_SET_LABELS.contains(&key.as_str()))
            {
                continue;
            }
            let field = format!("f:{key}");
            let mut held_by_own_update = false;
            let mut held_by_another = false;
            for entry in entries.iter().filter(|entry| {
                entry
                    .pointer(&fields_pointer)
                    .and_then(Value::as_object)
                    .is_some_and(|fields| fields.contains_key(&field))
            }) {
                let manager = entry.get("manager").and_then(Value::as_str);
                let operation = entry.get("operation").and_then(Value::as_str);
                if manager != Some(own) {
                    held_by_another = true;
                } else if operation != Some("Apply") {
                    held_by_own_update = true;
                }
            }
            if held_by_own_update && !held_by_another {
                leftovers.push(MetadataKey {
                    section,
                    key: key.clone(),
                });
            }
        }
    }
    leftovers
}

/// The merge patch that removes `leftovers` from `live`, on the condition (its
/// resourceVersion) that nobody changed the object since they were found.
pub fn leftovers_patch(live: &Value, leftovers: &[MetadataKey]) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "resourceVersion".to_string(),
        Value::String(resource_version_of(live)),
    );
    for leftover in leftovers {
        let section = metadata
            .entry(leftover.section)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        section[leftover.key.as_str()] = Value::Null;
    }
    serde_json::json!({ "metadata": metadata })
}

/// The body that restores `desired` over `live` with a whole-object replace: the desired
/// object with the live resourceVersion, keeping labels and annotations others added.
pub fn replacement(desired: &Value, live: &Value) -> Value {
    let mut body = desired.clone();
    for field in ["labels", "annotations"] {
        let mut merged = live
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(wanted) = desired
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
        {
            merged.extend(wanted.clone());
        }
        if !merged.is_empty() {
            body["metadata"][field] = Value::Object(merged);
        }
    }
    if let Some(version) = live.pointer("/metadata/resourceVersion") {
        body["metadata"]["resourceVersion"] = version.clone();
    }
    body
}

/// The `metadata.resourceVersion` of a live object, empty when it has none.
pub fn resource_version_of(live: &Value) -> String {
    live.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `desired` with its fingerprint in the [`labels::APPLIED_FINGERPRINT`] annotation: what is
/// written, so that the object itself says what it was applied from.
pub fn with_fingerprint(desired: &Value, fingerprint: u64) -> Value {
    let mut body = desired.clone();
    if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(serde_json::Map::new());
        }
        annotations[labels::APPLIED_FINGERPRINT] = Value::String(format_fingerprint(fingerprint));
    }
    body
}

/// A fingerprint as the annotation holds it: 16 hex digits.
pub fn format_fingerprint(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// The fingerprint in an annotation value, if it is one.
pub fn parse_fingerprint(text: &str) -> Option<u64> {
    (text.len() == 16)
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()
}

/// Whether a manager other than `own` owns fields outside `metadata` (typed managedFields
/// of a watched object's metadata; the same rule as [`foreign_manager`]).
pub fn has_foreign_manager(entries: &[ManagedFieldsEntry], own: &str) -> bool {
    entries
        .iter()
        .filter(|entry| entry.manager.as_deref() != Some(own))
        .filter(|entry| entry.subresource.as_deref().is_none_or(str::is_empty))
        .any(|entry| {
            entry
                .fields_v1
                .as_ref()
                .and_then(|fields| fields.0.as_object())
                .is_some_and(|fields| fields.keys().any(|k| k != "f:metadata"))
        })
}

/// A stable fingerprint of a desired object (maps serialize with sorted keys), used to
/// tell whether what is desired now is what was applied before.
///
/// The value is the hash of the object's JSON text (`to_string().hash(..)`), which objects
/// written by earlier versions carry in their annotation; the text is fed to the hasher as
/// it is serialized instead of being built first (a reconcile fingerprints every object).
pub fn fingerprint(desired: &Value) -> u64 {
    /// Serialized bytes go straight into the hasher (SipHash is streaming: bytes fed in
    /// pieces hash as the whole).
    struct IntoHasher<'a>(&'a mut std::hash::DefaultHasher);
    impl std::io::Write for IntoHasher<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = std::hash::DefaultHasher::new();
    if serde_json::to_writer(IntoHasher(&mut hasher), desired).is_err() {
        // Not reached: a `Value` always serializes and this writer never fails. Were it
        // reached, hashing the text the long way gives the same value.
        hasher = std::hash::DefaultHasher::new();
        desired.to_string().hash(&mut hasher);
        return hasher.finish();
    }
    // What `str`'s `Hash` appends after the bytes, as `to_string().hash(..)` did.
    hasher.write_u8(0xff);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_are_ignored_but_changes_are_not() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        let live = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "7", "labels": {"x": "1", "y": "2"}},
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}, "status": {}});
        assert!(matches_live(&desired, &live));
        let edited = json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        assert!(!matches_live(&desired, &edited));
        let added_rule = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}});
        assert!(!matches_live(&desired, &added_rule));
    }

    #[test]
    fn empty_desired_values_match_absent_fields() {
        let desired = json!({"spec": {"ingress": [], "podSelector": {}, "x": null}});
        assert!(matches_live(&desired, &json!({"spec": {}})));
        assert!(!matches_live(
            &json!({"spec": {"ingress": [{"from": []}]}}),
            &json!({"spec": {}})
        ));
    }

    #[test]
    fn items_inside_lists_compare_as_subsets() {
        let desired = json!({"ports": [{"port": 443}]});
        assert!(matches_live(
            &desired,
            &json!({"ports": [{"port": 443, "protocol": "TCP"}]})
        ));
        assert!(!matches_live(
            &desired,
            &json!({"ports": [{"port": 80, "protocol": "TCP"}]})
        ));
        assert!(matches_live(&json!({"n": 1}), &json!({"n": 1.0})));
    }

    #[test]
    fn foreign_managers_of_content_are_found_but_label_edits_and_status_are_not() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "tenant-operator", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            {"manager": "kubectl-label", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {}}}},
            {"manager": "quota-controller", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}}
        ]}});
        assert_eq!(foreign_manager(&live, "tenant-operator"), None);
        let edited = json!({"metadata": {"managedFields": [
            {"manager": "tenant-operator", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:ingress": {}}}}
        ]}});
        assert_eq!(
            foreign_manager(&edited, "tenant-operator").as_deref(),
            Some("kubectl-edit")
        );
    }

    #[test]
    fn replacement_keeps_foreign_labels_and_the_live_version() {
        let desired = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"x": 1}});
        let live = json!({"metadata": {"name": "p", "resourceVersion": "9", "labels": {"a": "0", "b": "2"}}, "spec": {"x": 2, "y": 3}});
        let body = replacement(&desired, &live);
        assert_eq!(body["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(body["metadata"]["resourceVersion"], "9");
        assert_eq!(body["spec"], json!({"x": 1}));
    }

    #[test]
    fn the_fingerprint_annotation_round_trips_and_foreign_content_managers_are_seen() {
        let body = json!({"metadata": {"name": "p", "annotations": {"a": "1"}}, "spec": {}});
        let annotated = with_fingerprint(&body, 0xab);
        assert_eq!(annotated["metadata"]["annotations"]["a"], "1");
        let text = annotated["metadata"]["annotations"][labels::APPLIED_FINGERPRINT]
            .as_str()
            .unwrap();
        assert_eq!(parse_fingerprint(text), Some(0xab));
        assert_eq!(parse_fingerprint("ab"), None);
        let bare = with_fingerprint(&json!({"metadata": {"name": "p"}}), 1);
        assert_eq!(
            bare["metadata"]["annotations"][labels::APPLIED_FINGERPRINT],
            "0000000000000001"
        );

        let entries: Vec<ManagedFieldsEntry> = serde_json::from_value(json!([
            {"manager": "tenant-operator", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            {"manager": "kubectl-label", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {}}}},
            {"manager": "quota-controller", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}}
        ]))
        .unwrap();
        assert!(!has_foreign_manager(&entries, "tenant-operator"));
        let edited: Vec<ManagedFieldsEntry> = serde_json::from_value(json!([
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:x": {}}}}
        ]))
        .unwrap();
        assert!(has_foreign_manager(&edited, "tenant-operator"));
    }

    #[test]
    fn fingerprint_is_the_hash_of_the_json_text_that_annotations_already_carry() {
        // Objects applied by earlier versions carry `to_string().hash(..)` of their body in
        // their annotation: the streaming fingerprint must give the same value, or every
        // object would look changed after an upgrade.
        let long_text = "x".repeat(5000);
        for value in [
            json!({}),
            json!({"metadata": {"name": "a", "labels": {"é": "ü"}}, "data": {"k": long_text}}),
            json!({"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}]}}),
        ] {
            let mut hasher = std::hash::DefaultHasher::new();
            value.to_string().hash(&mut hasher);
            assert_eq!(fingerprint(&value), hasher.finish(), "{value}");
        }
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = json!({"b": 1, "a": [1, 2]});
        let b = json!({"a": [1, 2], "b": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"a": [2, 1], "b": 1})));
    }

    #[test]
    fn leftovers_are_the_keys_only_the_operators_own_non_apply_writes_hold() {
        let desired = json!({"metadata": {"name": "t-prod", "labels": {"keep": "1"}, "annotations": {"a": "x"}}});
        let live = json!({
            "metadata": {
                "name": "t-prod",
                "resourceVersion": "42",
                "labels": {"keep": "1", "created": "1", "also-applied": "1", "shared": "1", "theirs": "1", "untracked": "1",
                           "kubernetes.io/metadata.name": "t-prod"},
                "annotations": {"a": "x", "old": "y"},
                "managedFields": [
                    {"manager": "tenant-operator", "operation": "Update",
                     "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:keep": {}, "f:created": {}, "f:also-applied": {}, "f:shared": {},
                                                             "f:kubernetes.io/metadata.name": {}},
                                                 "f:annotations": {"f:a": {}, "f:old": {}}}}},
                    {"manager": "tenant-operator", "operation": "Apply",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:keep": {}, "f:also-applied": {}}}}},
                    {"manager": "kubectl-label", "operation": "Update",
                     "fieldsV1": {"f:metadata": {"f:labels": {"f:shared": {}, "f:theirs": {}}}}}
                ]
            }
        });
        let leftovers = own_leftovers(&live, &desired, "tenant-operator");
        let keys: Vec<(&str, &str)> = leftovers
            .iter()
            .map(|l| (l.section, l.key.as_str()))
            .collect();
        // `keep` and `a` are desired; `shared` and `theirs` are another manager's too;
        // `untracked` is held by nobody; the server puts `kubernetes.io/metadata.name` back.
        assert_eq!(
            keys,
            [
                ("labels", "also-applied"),
                ("labels", "created"),
                ("annotations", "old")
            ]
        );
        assert_eq!(
            leftovers_patch(&live, &leftovers),
            json!({"metadata": {"resourceVersion": "42",
                                "labels": {"also-applied": null, "created": null},
                                "annotations": {"old": null}}})
        );
        // What only the operator's apply holds is pruned by the apply itself.
        let applied_only = json!({"metadata": {"labels": {"x": "1"}, "managedFields": [
            {"manager": "tenant-operator", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}}
        ]}});
        assert!(own_leftovers(&applied_only, &desired, "tenant-operator").is_empty());
    }
}
