//! What a tenant kept: the namespaces retained from environments it removed
//! (`deletionPolicy: Retain`), for its status: when each was retained, what still holds
//! data there (from its ResourceQuota's usage) and the quota it keeps, which lies outside
//! the tenant's limit until a datacenter operator releases the namespace.
//!
//! Found without listing anything: the objects the operator made in a namespace stay there
//! when the namespace is retained (only the namespace loses its `managed-by` label), and the
//! inventory keeps them under the tenant. A namespace that holds the tenant's objects and is
//! neither desired nor itself managed is a candidate, confirmed by reading it (retained,
//! from this tenant's UID). So a tenant without retained namespaces costs no request; one
//! with them costs two reads per retained namespace and reconcile.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use serde_json::Value;

use super::apply::Applied;
use super::context::Context;
use super::inventory::ObjectKey;
use super::ownership::{self, Holder, Identity};
use super::prune::Pruned;
use super::write;
use crate::api::quantity::{self, Unit};
use crate::api::{RetainedNamespace, TenantService};
use crate::kinds::ManagedKind;
use crate::labels;
use crate::render::QUOTA_NAME;

/// The retained namespaces of `tenant`, sorted by name. A namespace that cannot be read is
/// left out of this reconcile's list (and logged): status is best effort, the next
/// reconcile reads it again.
pub async fn observe(
    tenant: &TenantService,
    ctx: &Context,
    applied: &Applied,
    pruned: &Pruned,
) -> Vec<RetainedNamespace> {
    let name = tenant.name_any();
    let desired = applied.namespaces();
    let mut candidates: BTreeSet<String> = pruned.retained_namespaces.iter().cloned().collect();
    for (key, _) in ctx.inventory.tenant_objects(&name) {
        if let Some(namespace) = key.namespace
            && !desired.contains(&*namespace)
            && ctx
                .inventory
                .live(&ObjectKey::new(ManagedKind::Namespace, None, &namespace))
                .is_none()
        {
            candidates.insert(namespace.to_string());
        }
    }
    let me = Identity::of(tenant);
    let mut retained = Vec::new();
    for namespace in candidates {
        let key = ObjectKey::new(ManagedKind::Namespace, None, &namespace);
        let live = match write::get(&ctx.client, &key).await {
            Ok(Some(live)) => live,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%namespace, %error, "cannot read a retained namespace for status");
                continue;
            }
        };
        if !retained_from(&live, &me) {
            continue;
        }
        let quota_key = ObjectKey::new(ManagedKind::ResourceQuota, Some(&namespace), QUOTA_NAME);
        let quota = match write::get(&ctx.client, &quota_key).await {
            Ok(quota) => quota,
            Err(error) => {
                tracing::warn!(%namespace, %error, "cannot read a retained namespace's quota for status");
                None
            }
        };
        retained.push(entry(&name, &namespace, &live, quota.as_ref()));
    }
    retained
}

/// Whether the live namespace was retained from `me` (its UID, when both are known).
fn retained_from(live: &Value, me: &Identity) -> bool {
    match ownership::holder_of(live) {
        Holder::Retained { name, uid, .. } => match (uid.as_deref(), me.uid) {
            (Some(theirs), Some(mine)) => theirs == mine,
            _ => name == me.name,
        },
        Holder::Unmanaged | Holder::Tenant { .. } => false,
    }
}

/// The status entry of one retained namespace of `tenant`, from the live namespace and its
/// ResourceQuota (`None`: gone, or not readable).
pub fn entry(
    tenant: &str,
    namespace: &str,
    live: &Value,
    quota: Option<&Value>,
) -> RetainedNamespace {
    let environment = live
        .pointer("/metadata/labels")
        .and_then(|l| l.get(labels::ENVIRONMENT))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            namespace
                .strip_prefix(&format!("{tenant}-"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| namespace.to_string());
    let retained_at = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(labels::RETAINED_AT))
        .and_then(Value::as_str)
        .map(str::to_string);
    let list = |field: &str| -> BTreeMap<String, String> {
        quota
            .and_then(|q| q.pointer(&format!("/status/{field}")))
            .or_else(|| quota.and_then(|q| q.pointer(&format!("/spec/{field}"))))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    RetainedNamespace {
        namespace: namespace.to_string(),
        environment,
        retained_at,
        holds: quota.map(|_| holds(&list("used"))),
        quota: quota.map(|_| kept_quota(&list("hard"))),
    }
}

/// What still holds data, from a quota's `status.used`: volumes first (their data outlives
/// everything else), then pods, Secrets and ConfigMaps; `nothing that counts against the
/// quota` when all are zero.
fn holds(used: &BTreeMap<String, String>) -> String {
    let amount = |key: &str| used.get(key).and_then(|q| quantity::parse(q).ok());
    let count = |key: &str| {
        amount(key)
            .map(|a| a.for_people(Unit::Count))
            .filter(|n| n != "0")
    };
    let mut parts = Vec::new();
    if let Some(n) = count("persistentvolumeclaims") {
        let storage = amount("requests.storage")
            .map(|a| format!(" ({} requested)", a.for_people(Unit::Bytes)))
            .unwrap_or_default();
        parts.push(format!("{n} PersistentVolumeClaim(s){storage}"));
    }
    for (key, what) in [
        ("pods", "pod(s)"),
        ("count/secrets", "Secret(s)"),
        ("count/configmaps", "ConfigMap(s)"),
    ] {
        if let Some(n) = count(key) {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        "no PersistentVolumeClaim, pod, Secret or ConfigMap".to_string()
    } else {
        parts.join(", ")
    }
}

/// The quota the namespace keeps, as people write it: CPU, memory and storage.
fn kept_quota(hard: &BTreeMap<String, String>) -> String {
    [
        ("requests.cpu", "cpu", Unit::Cpu),
        ("requests.memory", "memory", Unit::Bytes),
        ("requests.storage", "storage", Unit::Bytes),
    ]
    .into_iter()
    .filter_map(|(key, name, unit)| {
        let amount = quantity::parse(hard.get(key)?).ok()?;
        Some(format!("{name} {}", amount.for_people(unit)))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// The sentence the `Quota` condition adds for retained namespaces: how they count against
/// the tenant's limit, and how a datacenter operator releases them.
pub fn quota_note(retained: &[RetainedNamespace]) -> Option<String> {
    if retained.is_empty() {
        return None;
    }
    let each = retained
        .iter()
        .map(|r| {
            let quota = r
                .quota
                .as_deref()
                .filter(|q| !q.is_empty())
                .map(|q| format!(" with its quota ({q})"))
                .unwrap_or_default();
            format!("{} (environment {}){quota}", r.namespace, r.environment)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let example = &retained[0].namespace;
    Some(format!(
        "retained: {each}; a retained namespace keeps its data and its own ResourceQuota, which no longer counts against the tenant's limit (the class's tenantMax covers the environments in the spec), until a datacenter operator releases it: `kubectl delete namespace {example}` once its data is saved, or hands it back with `kubectl annotate namespace {example} {}=<tenant>`",
        labels::HAND_OVER_TO
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn namespace() -> Value {
        json!({"metadata": {
            "name": "comune-altamura-dev",
            "labels": {labels::TENANT: "comune-altamura", labels::TENANT_UID: "u1", labels::RETAINED: "true", labels::ENVIRONMENT: "dev"},
            "annotations": {labels::RETAINED_AT: "2026-12-03T01:00:00Z"}
        }})
    }

    #[test]
    fn an_entry_says_when_what_holds_data_and_the_quota_kept() {
        let quota = json!({
            "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "requests.storage": "50Gi"}},
            "status": {
                "hard": {"requests.cpu": "4", "requests.memory": "8Gi", "requests.storage": "50Gi", "pods": "50"},
                "used": {"persistentvolumeclaims": "2", "requests.storage": "60Gi", "pods": "3", "count/secrets": "1", "count/configmaps": "0", "requests.memory": "2147483648"}
            }
        });
        let e = entry(
            "comune-altamura",
            "comune-altamura-dev",
            &namespace(),
            Some(&quota),
        );
        assert_eq!(e.environment, "dev");
        assert_eq!(e.retained_at.as_deref(), Some("2026-12-03T01:00:00Z"));
        assert_eq!(
            e.holds.as_deref(),
            Some("2 PersistentVolumeClaim(s) (60Gi requested), 3 pod(s), 1 Secret(s)")
        );
        assert_eq!(
            e.quota.as_deref(),
            Some("cpu 4 CPU, memory 8Gi, storage 50Gi")
        );
        let empty = json!({"status": {"hard": {}, "used": {"pods": "0"}}});
        let e = entry(
            "comune-altamura",
            "comune-altamura-dev",
            &namespace(),
            Some(&empty),
        );
        assert_eq!(
            e.holds.as_deref(),
            Some("no PersistentVolumeClaim, pod, Secret or ConfigMap")
        );
        // Without its quota (deleted by someone), what is known.
        let e = entry("comune-altamura", "comune-altamura-dev", &namespace(), None);
        assert_eq!((e.holds, e.quota), (None, None));
    }

    #[test]
    fn only_namespaces_retained_from_this_tenant_count() {
        let me = Identity {
            name: "comune-altamura",
            uid: Some("u1"),
        };
        assert!(retained_from(&namespace(), &me));
        let other = Identity {
            name: "comune-altamura",
            uid: Some("u2"),
        };
        assert!(!retained_from(&namespace(), &other));
        let mut managed = namespace();
        managed["metadata"]["labels"][labels::MANAGED_BY_KEY] = json!(labels::MANAGED_BY_VALUE);
        assert!(!retained_from(&managed, &me));
    }

    #[test]
    fn the_quota_condition_says_how_retained_namespaces_count_and_how_to_release_them() {
        assert_eq!(quota_note(&[]), None);
        let quota = json!({"status": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi"}, "used": {}}});
        let e = entry(
            "comune-altamura",
            "comune-altamura-dev",
            &namespace(),
            Some(&quota),
        );
        let note = quota_note(&[e]).unwrap();
        assert!(
            note.starts_with("retained: comune-altamura-dev (environment dev) with its quota (cpu 4 CPU, memory 8Gi); a retained namespace keeps its data and its own ResourceQuota, which no longer counts against the tenant's limit"),
            "{note}"
        );
        assert!(
            note.contains("`kubectl delete namespace comune-altamura-dev`"),
            "{note}"
        );
    }
}
