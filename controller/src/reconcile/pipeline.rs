//! One reconcile of one TenantService, as a named pipeline:
//!
//! load (class and relevant peers, from caches) → validate → render (pure) → certificates →
//! apply → prune → status and Events.
//!
//! Only apply, prune and status write, and each of them writes only what differs: a
//! reconcile of a Ready tenant whose objects nobody touched makes no API request at all.
//!
//! Ownership: child objects carry labels (managed-by, tenant, environment) and **no
//! ownerReferences**. The controller finds them by label (watches map the tenant label to
//! the TenantService), so nothing depends on the garbage collector — and no garbage
//! collector path can delete a tenant's namespaces: not the deletion of the TenantService,
//! not even the deletion of the CRD. Namespaces go only when this code deletes them, under
//! `deletionPolicy: Delete`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::certificates::{self, CertificateOutcome};
use super::compare::{
    fingerprint, foreign_manager, matches_live, replacement, resource_version_of,
};
use super::context::Context;
use super::error::Error;
use super::inventory::{Applied, ObjectKey};
use super::kinds::{Concern, ManagedKind};
use super::status::{
    Outcome, Report, State, build_status, status_fingerprint, status_write_needed,
};
use super::{FIELD_MANAGER, FINALIZER, apply};
use crate::api::validation::{self, Severity};
use crate::api::{DeletionPolicy, Phase, TenantService};
use crate::labels;
use crate::pki;
use crate::render::{self, RenderContext};

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Unchanged,
    Created,
    Updated,
    DriftCorrected,
}

/// A desired child object, ready to apply.
struct DesiredObject {
    key: ObjectKey,
    body: Value,
}

/// Reconciles one tenant. Errors are recorded in status (when it changes) and returned for
/// the error policy to requeue.
#[tracing::instrument(skip_all, fields(tenant = %tenant.name_any(), generation = tenant.meta().generation))]
pub async fn reconcile(tenant: Arc<TenantService>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Decisions rest on the inventory: none is taken before every kind has been listed.
    ctx.inventory.wait_synced(ManagedKind::ALL.len()).await;
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = if tenant.meta().deletion_timestamp.is_some() {
        cleanup(&tenant, &ctx).await
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

/// Error policy: permanent errors wait for a change of the spec, transient ones back off
/// exponentially per tenant.
pub fn error_policy(tenant: Arc<TenantService>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[error.category()])
        .inc();
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(ctx.next_backoff(&tenant.name_any()))
    }
}

async fn provision(tenant: &TenantService, ctx: &Context) -> Result<Action, Error> {
    let name = tenant.name_any();
    ensure_finalizer(tenant, ctx).await?;

    // Load: the class and the peers that matter, from the caches.
    let class = ctx.classes.get(&ObjectRef::new(&tenant.spec.class));
    let peers: Vec<TenantService> = ctx
        .peers
        .peers_of(tenant)
        .iter()
        .filter_map(|peer| ctx.tenants.get(&ObjectRef::new(peer)))
        .map(|peer| (*peer).clone())
        .collect();

    // Validate: the same rules as `tenant-operator validate`.
    let mut problems = validation::validate_tenant(tenant, class.as_deref());
    problems.extend(validation::validate_against_peers(tenant, &peers));
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| matches!(p.severity, Severity::Error))
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    let Some(class) = class.filter(|_| errors.is_empty()) else {
        let mut messages = errors;
        if messages.is_empty() {
            messages.push(format!(
                "spec.class: TenantClass {:?} does not exist; use one of `kubectl get tenantclasses`",
                tenant.spec.class
            ));
        }
        return invalid_spec(tenant, ctx, &messages).await;
    };

    // Render: pure.
    let desired = render::render(
        tenant,
        &class,
        &RenderContext {
            platform: &ctx.platform,
            peers: &peers,
        },
    )
    .map_err(|e| Error::Render {
        tenant: name.clone(),
        message: e.to_string(),
    })?;
    let objects = desired_objects(&desired, ctx)?;
    let desired_namespaces: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.key.kind == ManagedKind::Namespace)
        .map(|o| o.key.name.clone())
        .collect();
    if let Some(terminating) = desired_namespaces.iter().find(|ns| {
        ctx.inventory
            .live(&ObjectKey::new(ManagedKind::Namespace, None, ns))
            .is_some_and(|live| live.deleting)
    }) {
        return Err(Error::NamespacesTerminating {
            namespaces: vec![terminating.clone()],
        });
    }

    // Apply: namespaces first (objects are ordered so), then what goes in them.
    let mut changes: Vec<(ObjectKey, Change)> = Vec::new();
    for object in &objects {
        let change = ensure_object(ctx, &object.key, &object.body).await?;
        changes.push((object.key.clone(), change));
    }

    // Certificates.
    let now = jiff::Timestamp::now();
    let mut certificates: Vec<CertificateOutcome> = Vec::new();
    for request in &desired.certificates {
        let outcome = certificates::ensure(ctx, request, now).await?;
        ctx.metrics
            .set_certificate_expiry(&name, &outcome.environment, outcome.info.not_after);
        changes.push((
            outcome.key.clone(),
            match (outcome.written, outcome.drift, &outcome.issued) {
                (false, _, _) => Change::Unchanged,
                (true, true, _) => Change::DriftCorrected,
                (true, false, Some(pki::RenewReason::Missing)) => Change::Created,
                (true, false, _) => Change::Updated,
            },
        ));
        certificates.push(outcome);
    }

    // Prune.
    let mut desired_keys: HashSet<ObjectKey> = objects.iter().map(|o| o.key.clone()).collect();
    desired_keys.extend(certificates.iter().map(|c| c.key.clone()));
    let pruned = prune(tenant, ctx, &desired_keys, &desired_namespaces).await?;

    // Status and Events.
    let environments: Vec<String> = tenant
        .spec
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let outcome = ready_outcome(&objects, &certificates, &desired_namespaces, environments);
    let status_changed = write_status(tenant, ctx, &outcome).await?;
    ctx.metrics.set_tenant_phase(&name, Phase::Ready);
    publish_change_events(
        tenant,
        ctx,
        &changes,
        &certificates,
        &pruned,
        status_changed,
    )
    .await;

    // Requeue: the periodic re-check, or earlier when a certificate is due.
    let mut next = ctx.settings.resync_interval;
    for certificate in &certificates {
        let due = certificates::renew_at(&certificate.info).as_second() - now.as_second();
        next = next.min(Duration::from_secs(due.max(1) as u64));
    }
    Ok(Action::requeue(next))
}

/// The rendered objects with their keys, plus the CA bundle ConfigMap in each namespace;
/// namespaces first.
fn desired_objects(desired: &render::Desired, ctx: &Context) -> Result<Vec<DesiredObject>, Error> {
    let mut objects = Vec::with_capacity(desired.objects.len() * 2);
    for child in &desired.objects {
        let kind = ManagedKind::from_kind(child.kind()).ok_or_else(|| Error::UnmanagedKind {
            kind: child.kind().to_string(),
            name: child.name().to_string(),
        })?;
        let key = ObjectKey::new(kind, child.namespace(), child.name());
        let body = child.to_json().map_err(|source| Error::Serialize {
            what: key.to_string(),
            source,
        })?;
        if kind == ManagedKind::Namespace {
            let child_labels = child.labels();
            let bundle_labels: BTreeMap<String, String> =
                [labels::MANAGED_BY_KEY, labels::TENANT, labels::ENVIRONMENT]
                    .into_iter()
                    .filter_map(|k| child_labels.get(k).map(|v| (k.to_string(), v.clone())))
                    .collect();
            let bundle = pki::ca_bundle_config_map(&ctx.ca, child.name(), &bundle_labels);
            let mut bundle_body =
                serde_json::to_value(&bundle).map_err(|source| Error::Serialize {
                    what: format!("ConfigMap {}/{}", child.name(), pki::CA_BUNDLE_CONFIG_MAP),
                    source,
                })?;
            if let Value::Object(fields) = &mut bundle_body {
                fields.insert("apiVersion".into(), json!("v1"));
                fields.insert("kind".into(), json!("ConfigMap"));
            }
            objects.push(DesiredObject {
                key: ObjectKey::new(
                    ManagedKind::ConfigMap,
                    Some(child.name()),
                    pki::CA_BUNDLE_CONFIG_MAP,
                ),
                body: bundle_body,
            });
        }
        objects.push(DesiredObject { key, body });
    }
    // Stable: namespaces before namespaced objects, then by key.
    objects.sort_by(|a, b| {
        (a.key.kind != ManagedKind::Namespace, &a.key)
            .cmp(&(b.key.kind != ManagedKind::Namespace, &b.key))
    });
    Ok(objects)
}

/// Makes one object as desired, writing only if it differs. See [`super::inventory`] for
/// how the inventory avoids reads.
async fn ensure_object(ctx: &Context, key: &ObjectKey, desired: &Value) -> Result<Change, Error> {
    let fp = fingerprint(desired);
    let live = ctx.inventory.live(key);
    let applied = ctx.inventory.applied(key);
    if let (Some(live), Some(applied)) = (&live, &applied)
        && applied.resource_version == live.resource_version
        && applied.fingerprint == fp
    {
        return Ok(Change::Unchanged);
    }
    // Unknown, changed by someone, or not yet seen by the watch: read and compare.
    let current = if live.is_some() || applied.is_some() {
        apply::get(&ctx.client, key)
            .await
            .map_err(|source| Error::Read {
                object: key.clone(),
                source: Box::new(source),
            })?
    } else {
        None
    };
    let foreign = current
        .as_ref()
        .and_then(|c| foreign_manager(c, FIELD_MANAGER));
    if let Some(current) = &current
        && foreign.is_none()
        && matches_live(desired, current)
    {
        let resource_version = resource_version_of(current);
        ctx.inventory.record_applied(
            key.clone(),
            Applied {
                resource_version,
                fingerprint: fp,
                certificate: None,
            },
        );
        return Ok(Change::Unchanged);
    }
    // Someone else changed an object this operator had made as desired (or added fields
    // to it that server-side apply would leave in place).
    let drift = foreign.is_some() || applied.as_ref().is_some_and(|a| a.fingerprint == fp);
    let written = match (&current, &foreign) {
        (Some(current), Some(manager)) => {
            tracing::info!(object = %key, %manager, "replacing fields written by another manager");
            apply::replace(
                &ctx.client,
                &ctx.metrics,
                key,
                &replacement(desired, current),
            )
            .await
        }
        _ => apply::apply(&ctx.client, &ctx.metrics, key, desired).await,
    };
    let resource_version = written.map_err(|source| Error::Apply {
        object: key.clone(),
        source: Box::new(source),
    })?;
    ctx.inventory.record_applied(
        key.clone(),
        Applied {
            resource_version,
            fingerprint: fp,
            certificate: None,
        },
    );
    if drift {
        ctx.metrics
            .drift_corrections
            .with_label_values(&[key.kind.as_str()])
            .inc();
        tracing::info!(object = %key, "restored an object changed by someone else");
        return Ok(Change::DriftCorrected);
    }
    Ok(if current.is_none() {
        Change::Created
    } else {
        Change::Updated
    })
}

/// What prune did.
#[derive(Default)]
struct Pruned {
    deleted: Vec<ObjectKey>,
    retained_namespaces: Vec<String>,
    deleted_namespaces: Vec<String>,
}

/// Deletes the tenant's labelled objects that are no longer desired. Namespaces follow the
/// deletion policy; objects inside namespaces that are not desired any more are left to
/// their namespace (kept with it under Retain, deleted with it under Delete).
async fn prune(
    tenant: &TenantService,
    ctx: &Context,
    desired: &HashSet<ObjectKey>,
    desired_namespaces: &BTreeSet<String>,
) -> Result<Pruned, Error> {
    let name = tenant.name_any();
    let mut pruned = Pruned::default();
    for (key, live) in ctx.inventory.tenant_objects(&name) {
        if desired.contains(&key) || live.deleting {
            continue;
        }
        if key.kind == ManagedKind::Namespace {
            let environment = key
                .name
                .strip_prefix(&format!("{name}-"))
                .unwrap_or(&key.name)
                .to_string();
            match tenant.spec.deletion_policy {
                DeletionPolicy::Retain => {
                    detach_namespace(ctx, &key).await?;
                    pruned.retained_namespaces.push(key.name.clone());
                }
                DeletionPolicy::Delete => {
                    apply::delete(&ctx.client, &ctx.metrics, &key)
                        .await
                        .map_err(|source| Error::Prune {
                            object: key.clone(),
                            source: Box::new(source),
                        })?;
                    pruned.deleted_namespaces.push(key.name.clone());
                }
            }
            ctx.inventory.forget_applied_in_namespace(&key.name);
            ctx.metrics.forget_environment(&name, &environment);
            continue;
        }
        let in_desired_namespace = key
            .namespace
            .as_ref()
            .is_some_and(|ns| desired_namespaces.contains(ns));
        if !in_desired_namespace {
            continue;
        }
        apply::delete(&ctx.client, &ctx.metrics, &key)
            .await
            .map_err(|source| Error::Prune {
                object: key.clone(),
                source: Box::new(source),
            })?;
        ctx.inventory.forget_applied(&key);
        pruned.deleted.push(key);
    }
    Ok(pruned)
}

/// Detaches a retained namespace: keeps its labels (Pod Security, tenant, environment) but
/// removes `managed-by` and adds `retained: "true"`, with one apply by the operator's field
/// manager, so that SSA drops the managed-by label the operator owned. The namespace has no
/// ownerReference, so no garbage collection can reach it.
async fn detach_namespace(ctx: &Context, key: &ObjectKey) -> Result<(), Error> {
    let detach_error = |source| Error::Detach {
        object: key.clone(),
        source: Box::new(source),
    };
    let Some(live) = apply::get(&ctx.client, key).await.map_err(detach_error)? else {
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
    apply::apply(&ctx.client, &ctx.metrics, key, &body)
        .await
        .map_err(detach_error)?;
    tracing::info!(namespace = %key.name, "namespace retained and detached");
    Ok(())
}

/// Adds the cleanup finalizer if missing (a merge patch carrying the resourceVersion, so a
/// concurrent change of the list makes it fail with 409 instead of dropping a finalizer).
async fn ensure_finalizer(tenant: &TenantService, ctx: &Context) -> Result<(), Error> {
    if tenant.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = tenant.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    patch_finalizers(tenant, ctx, finalizers).await
}

async fn patch_finalizers(
    tenant: &TenantService,
    ctx: &Context,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let name = tenant.name_any();
    let api: Api<TenantService> = Api::all(ctx.client.clone());
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": tenant.resource_version(),
        }
    });
    ctx.metrics
        .writes
        .with_label_values(&["patch", "TenantService"])
        .inc();
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to finalize.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::Finalizer {
            tenant: name,
            source: Box::new(source),
        }),
    }
}

/// Deletion: Retain detaches the namespaces, Delete deletes them and waits until they are
/// gone; then the finalizer is released. Tolerates apply never having run.
async fn cleanup(tenant: &TenantService, ctx: &Context) -> Result<Action, Error> {
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
        .map(|(key, _)| key.name)
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
        let Some(live) = apply::get(&ctx.client, &key)
            .await
            .map_err(|source| Error::Read {
                object: key.clone(),
                source: Box::new(source),
            })?
        else {
            ctx.inventory.forget_applied_in_namespace(&namespace);
            continue;
        };
        let ours = live.pointer("/metadata/labels").is_some_and(|l| {
            l.get(labels::TENANT).and_then(Value::as_str) == Some(name.as_str())
                && l.get(labels::MANAGED_BY_KEY).and_then(Value::as_str)
                    == Some(labels::MANAGED_BY_VALUE)
        });
        if !ours {
            continue;
        }
        match tenant.spec.deletion_policy {
            DeletionPolicy::Retain => {
                detach_namespace(ctx, &key).await?;
                ctx.inventory.forget_applied_in_namespace(&namespace);
                handled.push(namespace);
            }
            DeletionPolicy::Delete => {
                if live.pointer("/metadata/deletionTimestamp").is_none() {
                    apply::delete(&ctx.client, &ctx.metrics, &key)
                        .await
                        .map_err(|source| Error::Prune {
                            object: key.clone(),
                            source: Box::new(source),
                        })?;
                    handled.push(namespace.clone());
                }
                remaining.push(namespace);
            }
        }
    }
    if !handled.is_empty() {
        let (reason, note) = match tenant.spec.deletion_policy {
            DeletionPolicy::Retain => (
                "NamespacesRetained",
                format!(
                    "deletionPolicy Retain: namespaces {} kept with their data, labelled {}=true and no longer managed",
                    handled.join(", "),
                    labels::RETAINED
                ),
            ),
            DeletionPolicy::Delete => (
                "NamespacesDeleting",
                format!(
                    "deletionPolicy Delete: deleting namespaces {}",
                    handled.join(", ")
                ),
            ),
        };
        publish(tenant, ctx, EventType::Normal, reason, "Delete", note).await;
    }
    if !remaining.is_empty() {
        // Wait for the namespaces to go; their deletion events trigger a reconcile, the
        // requeue is a safety net.
        tracing::info!(namespaces = ?remaining, "waiting for namespaces to be deleted");
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let finalizers: Vec<String> = tenant
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(tenant, ctx, finalizers).await?;
    ctx.metrics.forget_tenant(&name);
    ctx.forget_tenant(&name);
    tracing::info!("tenant deleted; finalizer released");
    Ok(Action::await_change())
}

/// Status for an invalid spec: `Ready=False, reason=InvalidSpec`, the problems as message,
/// a Warning Event when this is news; nothing is created.
async fn invalid_spec(
    tenant: &TenantService,
    ctx: &Context,
    messages: &[String],
) -> Result<Action, Error> {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&["InvalidSpec"])
        .inc();
    ctx.metrics
        .set_tenant_phase(&tenant.name_any(), Phase::Failed);
    let message = format!(
        "the spec is invalid; fix and re-apply (`tenant-operator validate` shows the same): {}",
        messages.join("; ")
    );
    let outcome = Outcome::stopped(
        tenant,
        Phase::Failed,
        Report::new(State::False, "InvalidSpec", message.clone()),
    );
    if write_status(tenant, ctx, &outcome).await? {
        publish(
            tenant,
            ctx,
            EventType::Warning,
            "InvalidSpec",
            "Validate",
            message,
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Records a failed reconcile in the status and, when that is news, as a Warning Event.
async fn report_failure(tenant: &TenantService, ctx: &Context, error: &Error) {
    if tenant.meta().deletion_timestamp.is_some() {
        return;
    }
    let phase = if error.is_permanent() {
        Phase::Failed
    } else {
        Phase::Provisioning
    };
    ctx.metrics.set_tenant_phase(&tenant.name_any(), phase);
    let outcome = Outcome::stopped(
        tenant,
        phase,
        Report::new(State::False, error.category(), error.to_string()),
    );
    match write_status(tenant, ctx, &outcome).await {
        Ok(true) => {
            publish(
                tenant,
                ctx,
                EventType::Warning,
                error.category(),
                "Reconcile",
                error.to_string(),
            )
            .await;
        }
        Ok(false) => {}
        Err(status_error) => {
            tracing::warn!(%status_error, "could not record the failure in status")
        }
    }
}

/// The outcome of a successful reconcile: every concern True, with a stable message.
fn ready_outcome(
    objects: &[DesiredObject],
    certificates: &[CertificateOutcome],
    namespaces: &BTreeSet<String>,
    environments: Vec<String>,
) -> Outcome {
    let mut per_concern: BTreeMap<Concern, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for object in objects {
        *per_concern
            .entry(object.key.kind.concern(&object.key.name))
            .or_default()
            .entry(object.key.kind.as_str())
            .or_default() += 1;
    }
    let namespace_list = namespaces.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut concerns = BTreeMap::new();
    for concern in Concern::ALL {
        let counts = per_concern.get(&concern);
        let summary = counts
            .map(|c| {
                c.iter()
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let report = match concern {
            Concern::Namespaces => Report::new(
                State::True,
                "Reconciled",
                format!(
                    "namespaces {namespace_list} exist with the tenant's labels and Pod Security level"
                ),
            ),
            Concern::Certificates if certificates.is_empty() => Report::new(
                State::True,
                "NoHostnames",
                format!(
                    "spec.tls.hostnames is empty, so no certificate is issued; the CA bundle ConfigMap {} is in each namespace",
                    pki::CA_BUNDLE_CONFIG_MAP
                ),
            ),
            Concern::Certificates => Report::new(
                State::True,
                "Issued",
                certificates
                    .iter()
                    .map(|c| {
                        format!(
                            "{}/{} valid until {} (renewed from {})",
                            c.key.namespace.as_deref().unwrap_or_default(),
                            c.key.name,
                            c.info.not_after,
                            certificates::renew_at(&c.info)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Concern::Monitoring if summary.is_empty() => Report::new(
                State::True,
                "MetricsExported",
                "tenant metrics (readiness, quota, certificate expiry) are exported by the operator's /metrics",
            ),
            _ if summary.is_empty() => Report::new(
                State::True,
                "NothingToApply",
                "the tenant's class and spec require no object for this concern",
            ),
            _ => Report::new(State::True, "Reconciled", format!("{summary} as specified")),
        };
        concerns.insert(concern, report);
    }
    Outcome {
        phase: Phase::Ready,
        ready: Report::new(
            State::True,
            "Reconciled",
            format!(
                "{} objects in namespaces {namespace_list} are as the spec says",
                objects.len() + certificates.len()
            ),
        ),
        concerns,
        namespaces: namespaces.iter().cloned().collect(),
        environments,
        certificates: Some(
            certificates
                .iter()
                .map(CertificateOutcome::status)
                .collect(),
        ),
    }
}

/// Writes the status if it differs from the current one. Returns whether it wrote.
async fn write_status(
    tenant: &TenantService,
    ctx: &Context,
    outcome: &Outcome,
) -> Result<bool, Error> {
    let name = tenant.name_any();
    let status = build_status(
        tenant.status.as_ref(),
        tenant.meta().generation,
        outcome,
        jiff::Timestamp::now(),
    );
    let new_fingerprint = status_fingerprint(&status);
    if !status_write_needed(
        tenant.status.as_ref(),
        ctx.last_written_status(&name),
        new_fingerprint,
    ) {
        return Ok(false);
    }
    let api: Api<TenantService> = Api::all(ctx.client.clone());
    let body = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": "TenantService",
        "metadata": { "name": name },
        "status": status,
    });
    // Remembered before sending: a write whose answer is lost may still have landed.
    ctx.remember_written_status(&name, new_fingerprint);
    ctx.metrics
        .writes
        .with_label_values(&["apply", "TenantService/status"])
        .inc();
    match api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::Status {
            tenant: name,
            source: Box::new(source),
        }),
    }
}

/// Events for what this reconcile changed; none when nothing changed.
async fn publish_change_events(
    tenant: &TenantService,
    ctx: &Context,
    changes: &[(ObjectKey, Change)],
    certificates: &[CertificateOutcome],
    pruned: &Pruned,
    status_changed: bool,
) {
    let created: Vec<&ObjectKey> = changes
        .iter()
        .filter(|(_, c)| *c == Change::Created)
        .map(|(k, _)| k)
        .collect();
    let updated: Vec<&ObjectKey> = changes
        .iter()
        .filter(|(_, c)| *c == Change::Updated)
        .map(|(k, _)| k)
        .collect();
    let drifted: Vec<String> = changes
        .iter()
        .filter(|(_, c)| *c == Change::DriftCorrected)
        .map(|(k, _)| k.to_string())
        .collect();
    let issued: Vec<String> = certificates
        .iter()
        .filter_map(|c| {
            c.issued.as_ref().map(|reason| {
                format!(
                    "certificate {} for {} in {} ({}), valid until {}",
                    c.info.serial,
                    c.info.dns_names.join(", "),
                    c.key,
                    reason.as_str(),
                    c.info.not_after
                )
            })
        })
        .collect();
    if !created.is_empty() {
        // One Event for a new tenant (or environment): what was created, certificates
        // included, so that provisioning 8,000 tenants costs 8,000 Events, not 24,000.
        let namespaces: BTreeSet<&str> = created
            .iter()
            .map(|k| k.namespace.as_deref().unwrap_or(&k.name))
            .collect();
        let mut note = format!(
            "created {} objects in {}",
            created.len(),
            namespaces.into_iter().collect::<Vec<_>>().join(", ")
        );
        if !issued.is_empty() {
            note.push_str("; issued ");
            note.push_str(&issued.join("; "));
        }
        publish(tenant, ctx, EventType::Normal, "Provisioned", "Apply", note).await;
    } else if !issued.is_empty() {
        publish(
            tenant,
            ctx,
            EventType::Normal,
            "CertificateIssued",
            "Issue",
            format!("issued {}", issued.join("; ")),
        )
        .await;
    }
    if !updated.is_empty() {
        let note = format!(
            "updated {}",
            updated
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        publish(tenant, ctx, EventType::Normal, "Updated", "Apply", note).await;
    }
    if !drifted.is_empty() {
        let note = format!(
            "restored objects changed or deleted outside the operator: {}",
            drifted.join(", ")
        );
        publish(
            tenant,
            ctx,
            EventType::Warning,
            "DriftCorrected",
            "Apply",
            note,
        )
        .await;
    }
    if !pruned.deleted.is_empty() {
        let note = format!(
            "deleted objects no longer in the spec: {}",
            pruned
                .deleted
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        publish(tenant, ctx, EventType::Normal, "Pruned", "Delete", note).await;
    }
    if !pruned.retained_namespaces.is_empty() {
        let note = format!(
            "environment removed; deletionPolicy Retain keeps namespaces {} (labelled {}=true, no longer managed)",
            pruned.retained_namespaces.join(", "),
            labels::RETAINED
        );
        publish(
            tenant,
            ctx,
            EventType::Normal,
            "NamespacesRetained",
            "Delete",
            note,
        )
        .await;
    }
    if !pruned.deleted_namespaces.is_empty() {
        let note = format!(
            "environment removed; deletionPolicy Delete deletes namespaces {}",
            pruned.deleted_namespaces.join(", ")
        );
        publish(
            tenant,
            ctx,
            EventType::Normal,
            "NamespacesDeleting",
            "Delete",
            note,
        )
        .await;
    }
    let was_ready = tenant
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(|p| p == Phase::Ready);
    if status_changed && !was_ready && created.is_empty() {
        publish(
            tenant,
            ctx,
            EventType::Normal,
            "Ready",
            "Reconcile",
            "every concern is reconciled".to_string(),
        )
        .await;
    }
}

/// Publishes an Event on the TenantService. Failure to publish is logged, not fatal:
/// Events are informative, the status is the record.
async fn publish(
    tenant: &TenantService,
    ctx: &Context,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    ctx.metrics
        .writes
        .with_label_values(&["create", "Event"])
        .inc();
    // Events allow at most 1 kB of note.
    let note: String = note.chars().take(1000).collect();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &tenant.object_ref(&())).await {
        tracing::warn!(%error, reason, "could not publish an Event");
    }
}
