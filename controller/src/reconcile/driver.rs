//! One reconcile of one TenantService, as the pipeline it is:
//!
//! [`load`](mod@load) → [`validate`](mod@validate) → [`render`](mod@render) (pure) → [`apply`] → [`prune`] → [`status`] and
//! [`events`]; a deleted tenant goes to [`cleanup`] instead.
//!
//! This module only sequences the steps and applies the error policy; each step is its own
//! module. Only apply, prune and status write, and each of them writes only what differs:
//! a reconcile of a Ready tenant whose objects nobody touched makes no API request at all
//! (unless it has retained namespaces, which [`retained`] reads for its status).
//!
//! Ownership: child objects carry labels (managed-by, tenant, environment) and **no
//! ownerReferences**. The controller finds them by label (watches map the tenant label to
//! the TenantService), so nothing depends on the garbage collector — and no garbage
//! collector path can delete a tenant's namespaces: not the deletion of the TenantService,
//! not even the deletion of the CRD. Namespaces go only when this code deletes them, under
//! `deletionPolicy: Delete`.

use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::error::Error;
use super::status::Outcome;
use super::{apply, cleanup, events, load, prune, retained, status, validate};
use crate::api::{Phase, TenantService};
use crate::kinds::ManagedKind;
use crate::{labels, render};

/// Reconciles one tenant. Errors are recorded in status (when it changes) and returned for
/// the error policy.
#[tracing::instrument(skip_all, fields(tenant = %tenant.name_any(), generation = tenant.meta().generation))]
pub async fn reconcile(tenant: Arc<TenantService>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Decisions rest on the inventory, the classes and the delegations: none is taken
    // before every kind, every TenantClass and every DomainDelegation has been listed (a
    // tenant reconciled before the classes would be reported invalid for naming a class
    // that "does not exist", as happened when a list failed under API faults).
    ctx.inventory.wait_synced(ManagedKind::ALL.len()).await;
    ctx.delegations.wait_synced().await;
    // An error means the sender is gone: the controller is shutting down.
    let _ = ctx.classes_synced.clone().wait_for(|synced| *synced).await;
    if is_suspended(&tenant) {
        return suspended(&tenant, &ctx).await;
    }
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = if tenant.meta().deletion_timestamp.is_some() {
        cleanup::cleanup(&tenant, &ctx).await
    } else {
        provision(&tenant, &ctx).await
    };
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    match &result {
        Ok(_) => ctx.reset_backoff(&tenant.name_any()),
        Err(error) => {
            tracing::warn!(category = error.category(), %error, "reconcile failed");
            report_failure(&tenant, &ctx, error).await;
        }
    }
    result
}

/// Whether the tenant is suspended by its annotation ([`labels::SUSPEND`] = `"true"`).
pub fn is_suspended(tenant: &TenantService) -> bool {
    tenant
        .annotations()
        .get(labels::SUSPEND)
        .is_some_and(|value| value == "true")
}

/// A suspended tenant: nothing is read or written but its status, which says so; the next
/// reconcile comes with the next change of the tenant (removing the annotation is one).
async fn suspended(tenant: &TenantService, ctx: &Context) -> Result<Action, Error> {
    tracing::info!(
        annotation = labels::SUSPEND,
        "tenant suspended: reconcile paused"
    );
    status::write(tenant, ctx, &Outcome::suspended(tenant), None).await?;
    Ok(Action::await_change())
}

/// The steps of a tenant that is not being deleted.
async fn provision(tenant: &TenantService, ctx: &Context) -> Result<Action, Error> {
    let finalized_version = cleanup::ensure_finalizer(tenant, ctx).await?;
    let loaded = load::load(tenant, ctx);
    let valid = validate::validate(tenant, loaded, &ctx.reserved)?;
    let desired = render::render(
        tenant,
        &valid.class,
        &valid.render_context(&ctx.platform, ctx.ca.current().bundle_pem()),
    )
    .map_err(|source| Error::Render {
        tenant: tenant.name_any(),
        source: Box::new(source),
    })?;
    let now = jiff::Timestamp::now();
    let applied = apply::apply(tenant, ctx, &desired, now).await?;
    let pruned = prune::prune(tenant, ctx, &applied).await?;
    let kept = retained::observe(tenant, ctx, &applied, &pruned).await;
    let outcome = Outcome::applied(tenant, &applied, kept, &valid.peers);
    let status_changed = status::write(tenant, ctx, &outcome, finalized_version.as_deref()).await?;
    ctx.metrics
        .set_tenant_state(&tenant.name_any(), outcome.phase, &outcome.ready.reason);
    let was_ready = tenant.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready);
    let notices = events::change_events(&applied, &pruned, status_changed, was_ready);
    events::publish(tenant, ctx, notices).await;
    // A namespace held by someone else is looked at again at the next check: the
    // hand-over annotation triggers at once (see `controller`), other changes of an
    // unmanaged namespace are not watched.
    Ok(ctx.requeue(
        &tenant.name_any(),
        applied.next_check(ctx.settings.resync_interval, now),
    ))
}

/// Error policy: permanent errors (an invalid spec among them) wait for a change, transient
/// ones back off exponentially per tenant. Every failure is counted by category.
pub fn error_policy(tenant: Arc<TenantService>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[error.category()])
        .inc();
    if error.is_permanent() {
        Action::await_change()
    } else {
        let name = tenant.name_any();
        ctx.requeue(&name, ctx.next_backoff(&name))
    }
}

/// Records a failed reconcile in the status and, when that is news, as a Warning Event.
async fn report_failure(tenant: &TenantService, ctx: &Context, error: &Error) {
    if tenant.meta().deletion_timestamp.is_some() {
        return;
    }
    let outcome = Outcome::failed(tenant, error);
    ctx.metrics
        .set_tenant_state(&tenant.name_any(), outcome.phase, &outcome.ready.reason);
    match status::write(tenant, ctx, &outcome, None).await {
        Ok(true) => events::publish(tenant, ctx, vec![events::failure_event(error)]).await,
        Ok(false) => {}
        Err(status_error) => {
            tracing::warn!(%status_error, "could not record the failure in status");
        }
    }
}
