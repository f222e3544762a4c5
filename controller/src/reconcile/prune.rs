//! The prune step: deletes the tenant's labelled objects that this reconcile did not
//! apply. Namespaces follow the deletion policy (kept and detached under `Retain`, deleted
//! under `Delete`), and only namespaces that carry this tenant's identity (see
//! [`super::ownership`]) are touched. Objects inside a namespace that is no longer desired
//! are left to their namespace (kept with it under Retain, deleted with it under Delete),
//! except the RoleBindings: detaching revokes the access the tenant's groups had.

use std::collections::{BTreeSet, HashSet};

use kube::ResourceExt;
use serde_json::Value;

use super::apply::Applied;
use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::ownership::{self, Identity};
use super::write;
use crate::api::{DeletionPolicy, TenantService};
use crate::kinds::ManagedKind;

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
            let Some(live) = owned_namespace(ctx, tenant, &key).await? else {
                // Another tenant's of the same name (or gone): not this tenant's to release.
                continue;
            };
            match tenant.spec.deletion_policy {
                DeletionPolicy::Retain => {
                    detach_namespace(ctx, tenant, &key, &live).await?;
                    pruned.retained_namespaces.push(key.name.to_string());
                }
                DeletionPolicy::Delete => {
                    write::delete(ctx, &key).await?;
                    pruned.deleted_namespaces.push(key.name.to_string());
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

/// The live namespace `key` if it carries `tenant`'s identity; `None` if it is gone or
/// someone else's.
pub(super) async fn owned_namespace(
    ctx: &Context,
    tenant: &TenantService,
    key: &ObjectKey,
) -> Result<Option<Value>, Error> {
    let live = write::read_live(ctx, key).await?;
    Ok(live.filter(|live| ownership::is_owned(live, &Identity::of(tenant))))
}

/// Detaches a retained namespace (`live`, this tenant's): first revokes the access the
/// tenant's groups had there (its managed RoleBindings, while the namespace is still within
/// the operator's reach), then marks it retained ([`ownership::retain_patch`]): no longer
/// managed, `retained: "true"` with the time, the tenant's name and UID kept to say whom it
/// was retained from. The data, and the other objects, stay. The namespace has no
/// ownerReference, so no garbage collection can reach it.
pub(super) async fn detach_namespace(
    ctx: &Context,
    tenant: &TenantService,
    key: &ObjectKey,
    live: &Value,
) -> Result<(), Error> {
    let revoked = ownership::revoke_access(ctx, &key.name).await?;
    let now = jiff::Timestamp::now();
    let retained_at = jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string();
    let patch = ownership::retain_patch(live, &Identity::of(tenant), &retained_at);
    write::set_holder(ctx, key, &patch)
        .await
        .map_err(|error| match error {
            Error::Apply { object, source } => Error::Detach { object, source },
            other => other,
        })?;
    tracing::info!(namespace = %key.name, revoked = revoked.len(), "namespace retained and detached; the tenant's RoleBindings revoked");
    Ok(())
}
