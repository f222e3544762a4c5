//! The prune step: deletes the tenant's labelled objects that this reconcile did not
//! apply. Namespaces follow the deletion policy (kept and detached under `Retain`, deleted
//! under `Delete`); objects inside a namespace that is no longer desired are left to their
//! namespace (kept with it under Retain, deleted with it under Delete).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kube::ResourceExt;
use serde_json::json;

use super::apply::Applied;
use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::write;
use crate::api::{DeletionPolicy, TenantService};
use crate::kinds::ManagedKind;
use crate::labels;

/// What the prune step did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Objects deleted from namespaces the tenant keeps.
    pub deleted: Vec<ObjectKey>,
    /// Namespaces of removed environments, kept and detached (`deletionPolicy: Retain`).
    pub retained_namespaces: Vec<String>,
    /// Namespaces of removed environments, deleted (`deletionPolicy: Delete`).
    pub deleted_namespaces: Vec<String>,
}

/// Deletes (or, for namespaces under Retain, detaches) what the tenant has and `applied`
/// does not contain.
pub async fn prune(
    tenant: &TenantService,
    ctx: &Context,
    applied: &Applied,
) -> Result<Pruned, Error> {
    let name = tenant.name_any();
    let desired: HashSet<&ObjectKey> = applied.keys().collect();
    let desired_namespaces: BTreeSet<&str> = applied.namespaces();
    let mut pruned = Pruned::default();
    for (key, live) in ctx.inventory.tenant_objects(&name) {
        if desired.contains(&key) || live.deleting {
            continue;
        }
        if key.kind == ManagedKind::Namespace {
            match tenant.spec.deletion_policy {
                DeletionPolicy::Retain => {
                    detach_namespace(ctx, &key).await?;
                    pruned.retained_namespaces.push(key.name.clone());
                }
                DeletionPolicy::Delete => {
                    write::delete(ctx, &key).await?;
                    pruned.deleted_namespaces.push(key.name.clone());
                }
            }
            ctx.inventory.forget_applied_in_namespace(&key.name);
            let environment = key
                .name
                .strip_prefix(&format!("{name}-"))
                .unwrap_or(&key.name);
            ctx.metrics.forget_environment(&name, environment);
            continue;
        }
        let in_desired_namespace = key
            .namespace
            .as_deref()
            .is_some_and(|ns| desired_namespaces.contains(ns));
        if !in_desired_namespace {
            continue;
        }
        write::delete(ctx, &key).await?;
        ctx.inventory.forget_applied(&key);
        pruned.deleted.push(key);
    }
    Ok(pruned)
}

/// Detaches a retained namespace: keeps its labels (Pod Security, tenant, environment) but
/// removes `managed-by` and adds `retained: "true"`, with one apply by the operator's field
/// manager, so that SSA drops the managed-by label the operator owned. The namespace has no
/// ownerReference, so no garbage collection can reach it.
pub(super) async fn detach_namespace(ctx: &Context, key: &ObjectKey) -> Result<(), Error> {
    let Some(live) = write::get(&ctx.client, key)
        .await
        .map_err(|source| Error::Detach {
            object: key.clone(),
            source: Box::new(source),
        })?
    else {
        return Ok(());
    };
    let mut namespace_labels: BTreeMap<String, String> = live
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    namespace_labels.remove(labels::MANAGED_BY_KEY);
    namespace_labels.remove(labels::NAMESPACE_NAME);
    namespace_labels.insert(labels::RETAINED.to_string(), "true".to_string());
    let body = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": key.name,
            "labels": namespace_labels,
            "annotations": live.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
        },
    });
    write::detach(ctx, key, &body).await?;
    tracing::info!(namespace = %key.name, "namespace retained and detached");
    Ok(())
}
