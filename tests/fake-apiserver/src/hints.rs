//! Merge hints for built-in kinds (spec §4.3): which lists are associative (and by
//! which keys), which are sets, which structs and maps are atomic. They are written
//! as miniature OpenAPI schemas carrying the same `x-kubernetes-*` markers a CRD
//! schema would, so one schema walker serves built-ins and custom resources alike.
//! Paths not described here fall back to the deduced schema: objects are granular,
//! lists atomic.

use std::sync::LazyLock;

use serde_json::{Value, json};

/// `x-fake-key-defaults`: values a missing list-map key takes (ports without a
/// protocol are keyed as TCP, as the apiserver's defaulting makes them).
pub const KEY_DEFAULTS: &str = "x-fake-key-defaults";

fn map_list(keys: &[&str], items: Value) -> Value {
    json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys, "items": items})
}

fn atomic() -> Value {
    json!({"x-kubernetes-list-type": "atomic", "x-kubernetes-map-type": "atomic"})
}

/// ObjectMeta: labels/annotations granular maps, finalizers a set, ownerReferences keyed by uid.
pub static OBJECT_META: LazyLock<Value> = LazyLock::new(|| {
    json!({"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ownerReferences": map_list(&["uid"], json!({"type": "object"})),
    }})
});

fn container() -> Value {
    let ports = map_list(&["containerPort", "protocol"], json!({"type": "object"}));
    let mut ports = ports;
    ports[KEY_DEFAULTS] = json!({"protocol": "TCP"});
    json!({"type": "object", "properties": {
        "env": map_list(&["name"], json!({"type": "object"})),
        "ports": ports,
        "volumeMounts": map_list(&["mountPath"], json!({"type": "object"})),
        "args": atomic(), "command": atomic(), "envFrom": atomic(),
    }})
}

fn label_selector() -> Value {
    json!({"type": "object", "x-kubernetes-map-type": "atomic"})
}

fn pod_spec() -> Value {
    json!({"type": "object", "properties": {
        "containers": map_list(&["name"], container()),
        "initContainers": map_list(&["name"], container()),
        "ephemeralContainers": map_list(&["name"], container()),
        "volumes": map_list(&["name"], json!({"type": "object"})),
        "imagePullSecrets": map_list(&["name"], json!({"type": "object"})),
        "tolerations": atomic(),
    }})
}

fn pod_template() -> Value {
    json!({"type": "object", "properties": {"spec": pod_spec()}})
}

fn workload(extra: Value) -> Value {
    let mut spec = json!({"type": "object", "properties": {"selector": label_selector(), "template": pod_template()}});
    if let (Some(p), Some(e)) = (spec["properties"].as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "object", "properties": {"spec": spec}})
}

fn conditions() -> Value {
    map_list(&["type"], json!({"type": "object"}))
}

/// The merge-hint schema of a built-in kind, if it has anything beyond the deduced defaults.
pub fn builtin_schema(group: &str, kind: &str) -> Option<Value> {
    let v = match (group, kind) {
        ("", "Pod") => json!({"type": "object", "properties": {"spec": pod_spec(),
            "status": {"type": "object", "properties": {"conditions": conditions()}}}}),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => workload(json!({})),
        ("apps", "StatefulSet") => workload(json!({"volumeClaimTemplates": atomic()})),
        ("batch", "Job") => workload(json!({})),
        ("batch", "CronJob") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "jobTemplate": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "selector": label_selector(), "template": pod_template()}}}}}}}})
        }
        ("", "Service") => {
            let mut ports = map_list(&["port", "protocol"], json!({"type": "object"}));
            ports[KEY_DEFAULTS] = json!({"protocol": "TCP"});
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "ports": ports, "selector": {"type": "object", "x-kubernetes-map-type": "atomic"}}}}})
        }
        ("", "ServiceAccount") => json!({"type": "object", "properties": {
            "secrets": map_list(&["name"], json!({"type": "object"})), "imagePullSecrets": atomic()}}),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            json!({"type": "object", "properties": {
            "rules": atomic(), "aggregationRule": {"type": "object", "properties": {"clusterRoleSelectors": atomic()}}}})
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            json!({"type": "object", "properties": {
            "subjects": atomic(), "roleRef": {"type": "object", "x-kubernetes-map-type": "atomic"}}})
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "podSelector": label_selector(), "ingress": atomic(), "egress": atomic(), "policyTypes": atomic()}}}})
        }
        ("", "ResourceQuota") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "scopes": atomic(), "scopeSelector": {"type": "object", "properties": {"matchExpressions": atomic()}}}}}})
        }
        ("", "LimitRange") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"limits": atomic()}}}})
        }
        ("", "Namespace") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"finalizers": atomic()}},
            "status": {"type": "object", "properties": {"conditions": conditions()}}}})
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"versions": map_list(&["name"], json!({"type": "object", "properties": {
                "schema": {"type": "object", "x-kubernetes-map-type": "atomic"},
                "additionalPrinterColumns": atomic()}}))}},
            "status": {"type": "object", "properties": {"conditions": conditions()}}}})
        }
        ("policy", "PodDisruptionBudget") => {
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "selector": label_selector()}}, "status": {"type": "object", "properties": {"conditions": conditions()}}}})
        }
        _ => return None,
    };
    Some(v)
}
