//! The cleanup finalizer and what it waits for: when a TenantService is deleted, Retain
//! detaches its namespaces, Delete deletes them and waits until they are gone; then the
//! finalizer is released. Tolerates apply never having run.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::FINALIZER;
use super::context::Context;
use super::error::Error;
use super::events;
use super::inventory::ObjectKey;
use super::prune::{detach_namespace, owned_namespace};
use super::write;
use crate::api::{DeletionPolicy, Phase, TenantService};
use crate::kinds::ManagedKind;
use crate::labels;

/// Adds the cleanup finalizer if missing (see [`write::finalizers`] for how a concurrent
/// change of the list is not lost). Returns the tenant's resourceVersion after the write,
/// if one was made.
pub async fn ensure_finalizer(
    tenant: &TenantService,
    ctx: &Context,
) -> Result<Option<String>, Error> {
    if tenant.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(None);
    }
    let mut finalizers = tenant.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    match write::finalizers(ctx, tenant, &finalizers).await {
        // The cached tenant is older than the live one (its watch lags behind, as under
        // API faults, and an earlier reconcile may have added the finalizer already): look
        // at the live one instead of failing the reconcile until the cache catches up.
        Err(Error::Finalizer { source, .. }) if matches!(source.as_ref(), kube::Error::Api(status) if status.code == 409) =>
        {
            let Some(live) = write::tenant(ctx, &tenant.name_any()).await? else {
                return Ok(None);
            };
            if live.finalizers().iter().any(|f| f == FINALIZER) {
                return Ok(None);
            }
            let mut finalizers = live.finalizers().to_vec();
            finalizers.push(FINALIZER.to_string());
            write::finalizers(ctx, &live, &finalizers).await
        }
        other => other,
    }
}

/// The reconcile of a deleted tenant.
pub async fn cleanup(tenant: &TenantService, ctx: &Context) -> Result<Action, Error> {
    let name = tenant.name_any();
    if !tenant.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    ctx.metrics.set_tenant_phase(&name, Phase::Terminating);
    // Namespaces known to the inventory plus those the spec names (in case the watch has
    // not seen a just-created one).
    let mut candidates: BTreeSet<String> = ctx
        .inventory
        .tenant_objects(&name)
        .into_iter()
        .filter(|(key, _)| key.kind == ManagedKind::Namespace)
        .map(|(key, _)| key.name.into_string())
        .collect();
    candidates.extend(
        tenant
            .spec
            .environments
            .iter()
            .map(|e| labels::namespace_name(&name, &e.name)),
    );
    let mut handled = Vec::new();
    let mut remaining = Vec::new();
    for namespace in candidates {
        let key = ObjectKey::new(ManagedKind::Namespace, None, &namespace);
        // Only a namespace managed for this tenant: not an unmanaged one of the same name,
        // another tenant's, or one retained already (by this tenant or an earlier one).
        let Some(live) = owned_namespace(ctx, tenant, &key).await? else {
            ctx.inventory.forget_applied_in_namespace(&namespace);
            continue;
        };
        match tenant.spec.deletion_policy {
            DeletionPolicy::Retain => {
                detach_namespace(ctx, tenant, &key, &live).await?;
                ctx.inventory.forget_applied_in_namespace(&namespace);
                handled.push(namespace);
            }
            DeletionPolicy::Delete => {
                if live.pointer("/metadata/deletionTimestamp").is_none() {
                    write::delete(ctx, &key).await?;
                    handled.push(namespace.clone());
                }
                remaining.push(namespace);
            }
        }
    }
    if !handled.is_empty() {
        let notice = events::deletion_event(tenant.spec.deletion_policy, &handled);
        events::publish(tenant, ctx, vec![notice]).await;
    }
    if !remaining.is_empty() {
        // Wait for the namespaces to go; their deletion events trigger a reconcile, the
        // requeue is a safety net.
        tracing::info!(namespaces = ?remaining, "waiting for namespaces to be deleted");
        return Ok(ctx.requeue(&tenant.name_any(), Duration::from_secs(2)));
    }
    let finalizers: Vec<String> = tenant
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    write::finalizers(ctx, tenant, &finalizers).await?;
    ctx.metrics.forget_tenant(&name);
    ctx.forget_tenant(&name);
    tracing::info!("tenant deleted; finalizer released");
    Ok(Action::await_change())
}
