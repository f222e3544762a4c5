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

/// DNS-1035 label (Service names): a DNS-1123 label starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// How a kind's `metadata.name` is validated upstream (each kind's
/// `ValidateXName` in `pkg/apis/*/validation`, read at Kubernetes 1.34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds (ConfigMap, Secret, ServiceAccount, Pod,
    /// the apps and batch kinds, NetworkPolicy, Ingress, Lease, PriorityClass,
    /// the admission policies, events.k8s.io Events, CRDs and custom resources).
    Dns1123Subdomain,
    /// `ValidateNamespaceName`: namespaces.
    Dns1123Label,
    /// `ValidateServiceName` (`NameIsDNS1035Label`): services.
    Dns1035Label,
    /// `path.ValidatePathSegmentName`: the RBAC kinds, whose names such as
    /// `tenant-operator:tenant-admin` hold colons.
    PathSegment,
    /// No name rule of the kind's own: core/v1 Events, whose legacy validation
    /// (`legacyValidateEvent`) never checks the name, for compatibility with old
    /// clients. The storage key still refuses what is not a path segment
    /// ([`storage_key_error`]).
    Unchecked,
}

impl NameRule {
    /// The rule for a built-in resource (custom resources use DNS subdomains).
    pub fn for_resource(group: &str, plural: &str) -> Self {
        match (group, plural) {
            ("", "namespaces") => NameRule::Dns1123Label,
            ("", "services") => NameRule::Dns1035Label,
            ("", "events") => NameRule::Unchecked,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// None when `name` is valid, else upstream's explanation.
    pub fn check(self, name: &str) -> Option<String> {
        match self {
            NameRule::Dns1123Label => (!is_dns_label(name)).then(|| "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()),
            NameRule::Dns1123Subdomain => (!is_dns_subdomain(name)).then(|| "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()),
            NameRule::Dns1035Label => (!is_dns1035_label(name)).then(|| "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()),
            NameRule::PathSegment => path_segment_error(name),
            NameRule::Unchecked => None,
        }
    }
}

/// `path.IsValidPathSegmentName`: None when `name` can be one segment of a URL path.
fn path_segment_error(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        Some(format!("may not be '{name}'"))
    } else {
        ["/", "%"]
            .into_iter()
            .find(|bad| name.contains(bad))
            .map(|bad| format!("may not contain '{bad}'"))
    }
}

/// The registry's storage key check (`NamespaceKeyFunc` / `NoNamespaceKeyFunc` of
/// `registry/generic/registry/store.go`), which runs after the kind's validation:
/// a name that is no path segment is a 400 even for a kind without a name rule.
pub fn storage_key_error(name: &str) -> Option<String> {
    path_segment_error(name).map(|why| format!("Name parameter invalid: {name:?}: {why}"))
}

/// Name rules some kinds add to their `ValidateXName` (upstream's `ValidateCronJob`
/// and `ValidatePriorityClass`), as causes of a 422.
pub fn kind_name_causes(group: &str, plural: &str, obj: &Value) -> Vec<Cause> {
    let name = meta_str(obj, "name");
    match (group, plural) {
        // The CronJob controller appends an 11-character suffix to make its Jobs' names.
        ("batch", "cronjobs") if name.len() > 52 => vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{name}\": must be no more than 52 characters"),
            field: "metadata.name".into(),
        }],
        ("scheduling.k8s.io", "priorityclasses") if name.starts_with("system-") => {
            match known_system_priority_class(name, obj) {
                Ok(()) => Vec::new(),
                Err(why) => vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message: format!(
                        "Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: {why}"
                    ),
                    field: "metadata.name".into(),
                }],
            }
        }
        _ => Vec::new(),
    }
}

/// `IsKnownSystemPriorityClass` of `pkg/apis/scheduling/v1`.
fn known_system_priority_class(name: &str, obj: &Value) -> Result<(), String> {
    let expected = match name {
        "system-node-critical" => 2_000_001_000,
        "system-cluster-critical" => 2_000_000_000,
        _ => return Err(format!("{name} is not a known system priority class")),
    };
    if obj["value"].as_i64() != Some(expected) {
        return Err(format!("value of {name} PriorityClass must be {expected}"));
    }
    if obj["globalDefault"].as_bool() == Some(true) {
        return Err(format!(
            "globalDefault of {name} PriorityClass must be false"
        ));
    }
    Ok(())
}

/// Validates metadata.name (by the kind's `rule`) and label values as the apiserver does.
pub fn validate_meta(obj: &Value, rule: NameRule) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta_str(obj, "name");
    if let Some(what) = rule.check(name) {
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
    fn name_rules_per_kind() {
        let rbac = NameRule::for_resource("rbac.authorization.k8s.io", "clusterroles");
        assert_eq!(rbac.check("tenant-operator:tenant-admin"), None);
        assert_eq!(rbac.check("a/b").as_deref(), Some("may not contain '/'"));
        assert_eq!(rbac.check("..").as_deref(), Some("may not be '..'"));
        let svc = NameRule::for_resource("", "services");
        assert_eq!(svc.check("web"), None);
        assert!(svc.check("1web").is_some());
        assert!(
            NameRule::for_resource("", "configmaps")
                .check("1web")
                .is_none()
        );
        assert!(
            NameRule::for_resource("", "configmaps")
                .check("a:b")
                .is_some()
        );
        assert!(
            NameRule::for_resource("", "namespaces")
                .check("a.b")
                .is_some()
        );
    }

    #[test]
    fn legacy_events_check_only_the_storage_key() {
        let events = NameRule::for_resource("", "events");
        assert_eq!(events.check("Pod.A:b_c"), None);
        assert_eq!(
            storage_key_error("a%b").as_deref(),
            Some("Name parameter invalid: \"a%b\": may not contain '%'")
        );
        assert_eq!(storage_key_error("kubelet.17a"), None);
        assert_eq!(
            NameRule::for_resource("events.k8s.io", "events"),
            NameRule::Dns1123Subdomain
        );
    }

    #[test]
    fn cron_job_and_priority_class_names() {
        let cron = |name: &str| json!({"metadata": {"name": name}});
        assert!(kind_name_causes("batch", "cronjobs", &cron(&"a".repeat(52))).is_empty());
        assert_eq!(
            kind_name_causes("batch", "cronjobs", &cron(&"a".repeat(53)))[0].message,
            format!(
                "Invalid value: \"{}\": must be no more than 52 characters",
                "a".repeat(53)
            )
        );
        assert!(kind_name_causes("batch", "jobs", &cron(&"a".repeat(53))).is_empty());
        let pc = |name: &str, value: i64| json!({"metadata": {"name": name}, "value": value});
        let pcs = |o: &Value| kind_name_causes("scheduling.k8s.io", "priorityclasses", o);
        assert!(pcs(&pc("system-node-critical", 2_000_001_000)).is_empty());
        assert!(pcs(&pc("tenant-high", 1000)).is_empty());
        assert!(
            pcs(&pc("system-node-critical", 5))[0]
                .message
                .ends_with("error: value of system-node-critical PriorityClass must be 2000001000")
        );
        assert!(
            pcs(&pc("system-mine", 5))[0]
                .message
                .ends_with("error: system-mine is not a known system priority class")
        );
    }

    #[test]
    fn names() {
        assert!(is_dns_label("comune-bari"));
        assert!(!is_dns_label("Bad_Name"));
        assert!(is_dns_subdomain("widgets.example.io"));
        assert_eq!(
            validate_meta(
                &json!({"metadata": {"name": "X"}}),
                NameRule::Dns1123Subdomain
            )[0]
            .field,
            "metadata.name"
        );
    }
}
