//! The `scale` subresource of Deployments, StatefulSets, ReplicaSets and
//! ReplicationControllers, as kube-apiserver serves it (`pkg/registry/apps/deployment/storage`
//! `ScaleREST`, and its siblings): an `autoscaling/v1` `Scale` read from the parent, whose
//! `spec.replicas` written back is the parent's `spec.replicas`. `kubectl scale` patches it.
//!
//! Upstream behaviour pinned here: the Scale carries the parent's name, namespace, uid,
//! resourceVersion and creationTimestamp; `status.selector` is the parent's label selector
//! as a string; a resourceVersion in the written Scale is a precondition (409 when stale);
//! negative replicas are refused (422). One difference: admission sees the parent object
//! under the subresource `scale` (upstream hands it the Scale).

use serde_json::{Value, json};

use crate::errors::{ApiError, Cause};
use crate::registry::ResourceInfo;

/// Whether `info` has a `scale` subresource.
pub fn serves(info: &ResourceInfo) -> bool {
    match info.group.as_str() {
        "apps" => matches!(
            info.plural.as_str(),
            "deployments" | "statefulsets" | "replicasets"
        ),
        "" => info.plural == "replicationcontrollers",
        _ => false,
    }
}

/// The Scale of a parent object.
pub fn of(parent: &Value) -> Value {
    let meta = &parent["metadata"];
    let mut metadata = serde_json::Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(key) {
            metadata.insert(key.to_string(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        // Unset replicas default to 1 for every scalable kind.
        "spec": {"replicas": parent["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": parent["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&parent["spec"]["selector"]),
        },
    })
}

/// The replicas a written Scale asks for: `spec.replicas`, an integer of at least 0.
pub fn replicas(scale: &Value, t: crate::errors::Target<'_>, name: &str) -> Result<i64, ApiError> {
    let value = &scale["spec"]["replicas"];
    match value.as_i64() {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(ApiError::invalid(
            t,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".to_string(),
                message: format!("Invalid value: {value}: must be greater than or equal to 0"),
                field: "spec.replicas".to_string(),
            }],
        )),
    }
}

/// A label selector as its string form (`metav1.FormatLabelSelector`): `matchLabels` as
/// `k=v`, `matchExpressions` as `k in (a,b)`, `k notin (a)`, `k`, `!k`; a
/// ReplicationController's plain map as `k=v`.
fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let labels = selector
        .get("matchLabels")
        .or(if selector.get("matchExpressions").is_none() {
            Some(selector)
        } else {
            None
        })
        .and_then(Value::as_object);
    if let Some(labels) = labels {
        let mut pairs: Vec<String> = labels
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
            .collect();
        pairs.sort();
        parts.extend(pairs);
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_of_a_deployment_carries_its_identity_replicas_and_selector() {
        let deployment = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "web", "app": "x"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "test"]},
                    {"key": "canary", "operator": "DoesNotExist"}]}},
            "status": {"replicas": 2}
        });
        assert_eq!(
            of(&deployment),
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                    "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"replicas": 3},
                "status": {"replicas": 2, "selector": "app=x,tier=web,env in (prod,test),!canary"}})
        );
        let rc = json!({"metadata": {"name": "old"}, "spec": {"selector": {"app": "old"}}});
        assert_eq!(of(&rc)["spec"]["replicas"], 1);
        assert_eq!(of(&rc)["status"]["selector"], "app=old");
    }
}
