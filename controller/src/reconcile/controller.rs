//! Wiring: the kube-runtime Controller for TenantService, what triggers it, and the
//! start-up sequence of a replica: CRDs established → watches and caches (every replica,
//! so that a standby is ready and takes over with warm caches) → leadership terms.
//!
//! A *term* starts when this replica takes the Lease (or at once without leader election):
//! the CA is loaded, the CA bundle published, and a [`Context`] made for the term; reconciles
//! run only inside a term. When the term ends (the Lease could not be renewed within its
//! deadline, or was taken over), every running reconcile is cancelled — its in-flight
//! requests dropped — before the Lease can be taken by another replica, and the replica
//! stands by again with its caches (and readiness) intact. Reconciles queued meanwhile wait
//! for the next term.
//!
//! Start-up waits instead of dying: each step retries transient errors (5xx, 429, a
//! connection refused or reset) with capped exponential backoff ([`retry::until_permanent`]),
//! and `/readyz` says what it is waiting for; only a permanent error (a missing permission,
//! a CA Secret that cannot be used) ends the run, with what to fix.
//!
//! Triggers, table-like:
//! - TenantService changes of `metadata.generation` (spec edits, deletion) — status writes
//!   do not retrigger;
//! - every child kind, watched metadata-only with the `managed-by` label selector, mapped
//!   to its tenant by the tenant label (drift correction within a second or so);
//! - TenantClass changes, mapped to the tenants of that class, at once or, with a bound, at
//!   its pace ([`super::rollout`]);
//! - a namespace annotated for hand-over ([`labels::HAND_OVER_TO`]), mapped to the tenant
//!   it names;
//! - peer changes ([`super::peers`]): a tenant whose `allowFrom`, hostnames or namespaces
//!   change retriggers the tenants related to it;
//! - DomainDelegation changes ([`super::delegations`]), mapped to the tenants of the bodies
//!   whose delegated domains changed;
//! - changes of the regional CA ([`super::ca`]: the CA Secret replaced, deleted or
//!   repaired, a rotated-out CA retired), mapped to every tenant; the CA is watched only
//!   during a term.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, conditions, predicates, watcher};
use kube::{Api, Client, CustomResourceExt, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::ca::{self, CaHandle};
use super::compare::fingerprint;
use super::context::{Context, Settings};
use super::delegations::DelegationIndex;
use super::driver;
use super::error::Error;
use super::inventory::{Inventory, ObjectKey};
use super::leader::{LeaderElector, LeaseConfig, LeaseConfigError};
use super::peers::PeerIndex;
use super::recorder::EventRecorder;
use super::rollout::ClassRollout;
use super::write;
use crate::api::validation::{InvalidReservedName, ReservedNamespaces};
use crate::api::{DomainDelegation, TenantClass, TenantService};
use crate::kinds::ManagedKind;
use crate::labels;
use crate::pki::{self, CaSettings, NewRoot};
use crate::render::{ChildObject, Platform, ca_bundle};
use crate::retry::{self, Verdict};
use crate::telemetry::{Metrics, Readiness};

/// Errors that stop the operator: permanent ones (see [`start_up_verdict`]); transient
/// errors of start-up are retried.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The regional CA could not be loaded or created.
    #[error(transparent)]
    Ca(#[from] pki::PkiError),
    /// The regional CA could not be read at start: its record ConfigMap (without it, a
    /// replaced CA could not be told from the one in use), its Secret, or the tenant
    /// certificates that decide whether a missing CA may be generated.
    #[error(
        "reading the regional CA in namespace {namespace} (the Secret, the record ConfigMap {}, the tenant certificates): {source}",
        pki::CA_RECORD_CONFIG_MAP
    )]
    CaRecord {
        /// The operator's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The CRDs did not become established in time.
    #[error(
        "CRD {crd} is not established after {waited:?}; install it with `tenant-operator crd | kubectl apply -f -` or the Helm chart"
    )]
    CrdNotEstablished {
        /// The CRD's name, e.g. `tenantservices.tenancy.innova.puglia.it`.
        crd: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// Watching a CRD for its Established condition failed.
    #[error("watching CRD {crd} until it is established: {source}")]
    CrdWatch {
        /// The CRD's name, e.g. `tenantservices.tenancy.innova.puglia.it`.
        crd: String,
        /// Why the watch failed.
        #[source]
        source: kube::runtime::wait::Error,
    },
    /// Publishing the CA bundle in the operator namespace failed.
    #[error("publishing the CA bundle ConfigMap in namespace {namespace}: {source}")]
    CaBundle {
        /// The operator's namespace.
        namespace: String,
        /// The failed step of the write (reading, applying, encoding).
        #[source]
        source: Box<Error>,
    },
    /// The leader-election durations cannot work together.
    #[error(transparent)]
    LeaseConfig(#[from] LeaseConfigError),
    /// The CRDs could not be installed, or are older than this build understands.
    #[error(transparent)]
    Crd(#[from] super::crds::CrdError),
    /// A reserved namespace of the configuration is not a namespace name or prefix.
    #[error(transparent)]
    ReservedNamespace(#[from] InvalidReservedName),
}

/// Everything a replica needs to run.
pub struct OperatorConfig {
    /// Lifetimes, intervals and backoff of the controller.
    pub settings: Settings,
    /// The datacenter's namespaces and labels that render refers to.
    pub platform: Platform,
    /// The datacenter's own reserved namespaces (names, or prefixes followed by `*`), besides
    /// Kubernetes', the platform's and the operator's, which are always reserved.
    pub reserved_namespaces: Vec<String>,
    /// Name of the CA Secret in the operator namespace.
    pub ca_secret: String,
    /// How a new CA is generated.
    pub ca_settings: CaSettings,
    /// When a new root CA may be generated (never on a cluster with tenant certificates,
    /// unless an administrator allows it).
    pub ca_new_root: NewRoot,
    /// Leader election; `None` runs without (one replica only).
    pub leader_election: Option<LeaseConfig>,
    /// Identity of this replica (Events' reporting instance).
    pub identity: String,
    /// How long to wait for the CRDs to be established.
    pub crd_timeout: Duration,
    /// Install or upgrade the CRDs at start (server-side apply, forced), never downgrading
    /// a newer one; otherwise they must be in place (Helm, `kubectl apply`).
    pub install_crds: bool,
}

/// Objects per page when a watched kind is listed. Every kind is listed at once at
/// start-up, and a page is held whole while it is read, managedFields included (a few KB
/// per object once parsed): at kube's default of 500, the pages in flight raised a
/// restarted operator's peak well above that of provisioning all of Italy. Smaller pages
/// cost more round trips, each of them cheap.
const LIST_PAGE_SIZE: u32 = 100;

/// The watcher configuration of every watch: kube's defaults with [`LIST_PAGE_SIZE`].
fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE_SIZE)
}

/// A `filter_map` step that passes a watch's events on and logs its errors as `what`
/// (the watcher retries them with backoff).
fn log_and_skip_errors<T>(
    what: &'static str,
) -> impl FnMut(Result<T, watcher::Error>) -> std::future::Ready<Option<T>> {
    move |event| {
        std::future::ready(match event {
            Ok(event) => Some(event),
            Err(error) => {
                tracing::warn!(%error, "{what}");
                None
            }
        })
    }
}

/// A watch stream of metadata of one child kind, labelled managed-by, that also feeds the
/// inventory.
fn child_stream<K>(
    client: &Client,
    kind: ManagedKind,
    inventory: Arc<Inventory>,
) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let selector = format!("{}={}", labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE);
    let api: Api<PartialObjectMeta<K>> = Api::all(client.clone());
    watcher(api, watch_config().labels(&selector))
        .default_backoff()
        .inspect({
            let inventory = inventory.clone();
            move |event| {
                if let Ok(event) = event {
                    inventory.apply_event(kind, event);
                }
            }
        })
        .modify(|object| {
            // The inventory took what it needs of managedFields and annotations.
            object.metadata.managed_fields = None;
            object.metadata.annotations = None;
        })
        .touched_objects()
        // The operator's own writes coming back need no reconcile (deletions always do:
        // their resourceVersion is new).
        .try_filter(move |object| std::future::ready(!inventory.is_own_write(kind, object)))
}

/// Every namespace, metadata only and not cached: an annotation cannot be selected on, and
/// a datacenter operator's hand-over ([`labels::HAND_OVER_TO`]) should take effect at once,
/// even on a namespace the operator does not manage.
fn hand_over_stream(
    client: &Client,
) -> impl Stream<Item = Result<PartialObjectMeta<Namespace>, watcher::Error>> + Send + 'static {
    let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
    watcher(api, watch_config())
        .default_backoff()
        .touched_objects()
}

/// Maps a namespace annotated for hand-over to the tenant it names.
fn to_handed_over_tenant(
    namespace: PartialObjectMeta<Namespace>,
) -> Option<ObjectRef<TenantService>> {
    namespace
        .annotations()
        .get(labels::HAND_OVER_TO)
        .map(|tenant| ObjectRef::new(tenant))
}

/// What of a TenantService the cache does not keep, for the cache holds every tenant and
/// the operator reads none of it: managedFields, the labels, and every annotation but the
/// operator's own ([`labels::SUSPEND`] is the one it reads). Others' annotations can be
/// large: client-side `kubectl apply` keeps a copy of the whole spec in one, GitOps tools
/// their tracking data. A map of even one label costs over 500 bytes per tenant. The
/// operator writes TenantServices only with patches of its own fields (finalizers,
/// status), so nothing trimmed here is ever written back.
fn trim_for_cache(tenant: &mut TenantService) {
    tenant.metadata.managed_fields = None;
    tenant.metadata.labels = None;
    if let Some(annotations) = tenant.metadata.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with(OWN_ANNOTATION_PREFIX));
        if annotations.is_empty() {
            tenant.metadata.annotations = None;
        }
    }
}

/// The prefix of the annotations the operator reads on a TenantService.
const OWN_ANNOTATION_PREFIX: &str = "tenancy.innova.puglia.it/";

/// What retriggers a tenant by itself: a new generation (spec edit, deletion) or a change of
/// its suspension (the annotation is metadata: it changes no generation).
fn generation_or_suspension(tenant: &TenantService) -> Option<u64> {
    let generation = predicates::generation(tenant)?;
    Some(generation ^ u64::from(driver::is_suspended(tenant)).rotate_right(1))
}

/// Maps a child object to its tenant by the tenant label.
fn to_tenant<K: Resource>(object: PartialObjectMeta<K>) -> Option<ObjectRef<TenantService>> {
    object
        .labels()
        .get(labels::TENANT)
        .map(|tenant| ObjectRef::new(tenant))
}

/// ResourceQuotas are watched whole (they are few): their status feeds the quota metrics.
///
/// A quota's status changes whenever something it counts is created or deleted in its
/// namespace (every Pod, Secret or ConfigMap of the tenant's own): that is not a change of
/// what the operator manages, and must not cost the tenant a reconcile and a read of each
/// quota. An event that leaves a quota's spec, labels and annotations as the previous event
/// had them, when the operator knew the quota as applied then, carries what was applied to
/// the new resourceVersion ([`Inventory::carry_applied`]); it then counts as the
/// operator's own write and triggers nothing. Any other change triggers as before.
fn quota_stream(
    client: &Client,
    inventory: Arc<Inventory>,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = Result<ResourceQuota, watcher::Error>> + Send + 'static {
    let selector = format!("{}={}", labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE);
    let api: Api<ResourceQuota> = Api::all(client.clone());
    // What each quota's managed content hashed to at its last event, by the hash of its
    // namespace and name (a map of keys would cost every tenant quota a copy of both).
    let mut contents: HashMap<u64, u64> = HashMap::new();
    watcher(api, watch_config().labels(&selector))
        .default_backoff()
        .inspect({
            let inventory = inventory.clone();
            move |event| {
                let Ok(event) = event else { return };
                let kind = ManagedKind::ResourceQuota;
                match event {
                    watcher::Event::Init => contents.clear(),
                    watcher::Event::InitApply(quota) => {
                        if let Some(content) = quota_content(quota) {
                            contents.insert(quota_id(quota), content);
                        }
                    }
                    watcher::Event::Apply(quota) => {
                        let key = ObjectKey::of(kind, quota);
                        let content = quota_content(quota);
                        let previous = match content {
                            Some(content) => contents.insert(quota_id(quota), content),
                            None => contents.remove(&quota_id(quota)),
                        };
                        let only_status_changed = content.is_some() && previous == content;
                        if only_status_changed
                            && let Some(before) = inventory.live(&key)
                            && let Some(now) = quota.metadata.resource_version.as_deref()
                        {
                            inventory.carry_applied(&key, &before.resource_version, now);
                        }
                    }
                    watcher::Event::Delete(quota) => {
                        contents.remove(&quota_id(quota));
                    }
                    watcher::Event::InitDone => {}
                }
                inventory.apply_event(kind, event);
                let (quota, present) = match event {
                    watcher::Event::Apply(q) | watcher::Event::InitApply(q) => (q, true),
                    watcher::Event::Delete(q) => (q, false),
                    _ => return,
                };
                let labels = quota.labels();
                let (Some(tenant), Some(environment)) =
                    (labels.get(labels::TENANT), labels.get(labels::ENVIRONMENT))
                else {
                    return;
                };
                if !present {
                    // Deleted, or detached with its retained namespace: no stale series.
                    metrics.clear_quota(tenant, environment);
                    return;
                }
                // A real cluster's quota controller fills status.hard; before it has (and on
                // servers without one) the spec's hard limits are what is enforced.
                let status = quota.status.clone().unwrap_or_default();
                let hard = status
                    .hard
                    .or_else(|| quota.spec.as_ref().and_then(|s| s.hard.clone()))
                    .unwrap_or_default();
                metrics.set_quota(tenant, environment, &hard, &status.used.unwrap_or_default());
            }
        })
        .modify(|quota| quota.metadata.managed_fields = None)
        .touched_objects()
        .try_filter(move |quota| {
            std::future::ready(!inventory.is_own_write(ManagedKind::ResourceQuota, quota))
        })
}

/// A quota's namespace and name, hashed.
fn quota_id(quota: &ResourceQuota) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    quota.metadata.namespace.hash(&mut hasher);
    quota.metadata.name.hash(&mut hasher);
    hasher.finish()
}

/// What the operator manages of a ResourceQuota, hashed: its spec, labels and annotations,
/// and whether it is being deleted (not its status). `None` if it cannot be serialized,
/// which then counts as a change.
fn quota_content(quota: &ResourceQuota) -> Option<u64> {
    serde_json::to_value((
        &quota.spec,
        &quota.metadata.labels,
        &quota.metadata.annotations,
        &quota.metadata.deletion_timestamp,
    ))
    .ok()
    .map(|content| fingerprint(&content))
}

/// Whether a start-up failure may pass: an API server that is restarting, throttling or
/// unreachable is waited for; a missing permission, an unusable CA Secret or a CRD that never
/// becomes established ends the process with what to fix.
pub fn start_up_verdict(error: &RunError) -> Verdict {
    match error {
        RunError::Ca(pki::PkiError::Api { source, .. }) => retry::verdict(source),
        RunError::CaRecord { source, .. } => retry::verdict(source),
        RunError::CrdWatch {
            source: kube::runtime::wait::Error::ProbeFailed(source),
            ..
        } => watcher_verdict(source),
        RunError::CaBundle { source, .. } => source
            .api_error()
            .map_or(Verdict::Permanent, retry::verdict),
        RunError::Crd(
            super::crds::CrdError::Read { source, .. }
            | super::crds::CrdError::Apply { source, .. },
        ) => retry::verdict(source),
        _ => Verdict::Permanent,
    }
}

/// [`retry::verdict`] of a watcher's failure; a watch the server ended (410 Gone: the
/// resourceVersion is too old) is simply started again.
fn watcher_verdict(error: &watcher::Error) -> Verdict {
    match error {
        watcher::Error::InitialListFailed(source)
        | watcher::Error::WatchStartFailed(source)
        | watcher::Error::WatchFailed(source) => retry::verdict(source),
        watcher::Error::WatchError(status) if status.code == 410 => {
            Verdict::Transient { retry_after: None }
        }
        watcher::Error::WatchError(status) => retry::status_verdict(status.code, None),
        watcher::Error::NoResourceVersion => Verdict::Permanent,
    }
}

/// Runs a start-up step until it succeeds or fails permanently ([`start_up_verdict`]),
/// showing on `/readyz` what it is waiting for meanwhile.
async fn start_up_step<T, F, Fut>(readiness: &Readiness, what: &str, step: F) -> Result<T, RunError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RunError>>,
{
    // Cleared however the step ends, also when it is dropped: a term's CA loading is
    // abandoned when the Lease is lost, and the standby must not keep reporting it.
    let _clear = ClearWaiting(readiness);
    retry::until_permanent(
        what,
        retry::Policy::STARTUP,
        start_up_verdict,
        |reason| readiness.set_waiting(Some(reason.to_string())),
        step,
    )
    .await
}

/// Clears what `/readyz` says start-up waits for when dropped.
struct ClearWaiting<'a>(&'a Readiness);

impl Drop for ClearWaiting<'_> {
    fn drop(&mut self) {
        self.0.set_waiting(None);
    }
}

/// The Controller's backoff of its merged trigger stream: none. Every watch above backs off
/// on its own errors (`default_backoff`), and only that watch waits. kube-runtime's default
/// would also pause *every* trigger after an error of *any* watch, for up to 30 s and
/// growing with each error: under API faults one failed list then stalls the tenant watch
/// and every child watch with it (cache sync alone took minutes at a 20 % fault rate).
struct NoTriggerBackoff;

impl Iterator for NoTriggerBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for NoTriggerBackoff {
    fn reset(&mut self) {}
}

/// Waits until a CRD is established.
async fn wait_for_crd(client: &Client, crd: &str, timeout: Duration) -> Result<(), RunError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let established =
        kube::runtime::wait::await_condition(api, crd, conditions::is_crd_established());
    match tokio::time::timeout(timeout, established).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(RunError::CrdWatch {
            crd: crd.to_string(),
            source,
        }),
        Err(_) => Err(RunError::CrdNotEstablished {
            crd: crd.to_string(),
            waited: timeout,
        }),
    }
}

/// What the controller's reconcile and error policy share across leadership terms.
struct Shared {
    /// The context of the current term; `None` while standing by.
    term: watch::Receiver<Option<Arc<Context>>>,
    /// Resolves on orderly shutdown.
    shutdown: futures::future::Shared<Pin<Box<dyn Future<Output = ()> + Send>>>,
    readiness: Arc<Readiness>,
    settings: Settings,
    /// The work-queue mirror (`telemetry::work_queue`) is told when reconciles start.
    metrics: Arc<Metrics>,
}

/// Waits for a term; `None` on shutdown.
async fn next_term(shared: &Shared) -> Option<Arc<Context>> {
    let mut term = shared.term.clone();
    tokio::select! {
        biased;
        () = shared.shutdown.clone() => None,
        current = term.wait_for(Option::is_some) => current.ok().and_then(|current| current.clone()),
    }
}

/// Resolves when the term of `ctx` has ended.
async fn term_ended(shared: &Shared, ctx: &Arc<Context>) {
    let mut term = shared.term.clone();
    // An error means the sender is gone: the replica is stopping, the term is over too.
    let _ = term
        .wait_for(|current| !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)))
        .await;
}

/// Reconciles one tenant inside a term: waits for one, and starts again in the next term if
/// this one ends first (the reconcile and its requests are dropped at once: after a
/// step-down, nothing more is written).
async fn reconcile_in_term(
    tenant: Arc<TenantService>,
    shared: Arc<Shared>,
) -> Result<Action, Error> {
    loop {
        let Some(ctx) = next_term(&shared).await else {
            // Shutting down: nothing to do, and nothing to retry in this process.
            return Ok(Action::await_change());
        };
        let _running = shared.readiness.reconcile_started(&tenant.name_any());
        shared.metrics.reconcile_started(&tenant.name_any());
        tokio::select! {
            biased;
            () = term_ended(&shared, &ctx) => {
                tracing::info!(tenant = %tenant.name_any(), "reconcile interrupted: this replica stepped down; it resumes in the next term");
                shared.metrics.queue.triggered(&tenant.name_any());
            }
            result = driver::reconcile(tenant.clone(), ctx.clone()) => return result,
        }
    }
}

/// The error policy of the term the error happened in.
fn error_policy_in_term(tenant: Arc<TenantService>, error: &Error, shared: Arc<Shared>) -> Action {
    let current = shared.term.borrow().clone();
    if let Some(ctx) = current {
        return driver::error_policy(tenant, error, ctx);
    }
    // The term ended after the error: the retry waits for the next one anyway.
    let delay = shared.settings.backoff_base;
    shared.metrics.queue.requeued(&tenant.name_any(), delay);
    Action::requeue(delay)
}

/// What a term is made from (everything but the CA, which the term loads).
struct TermParts {
    client: Client,
    metrics: Arc<Metrics>,
    settings: Settings,
    platform: Platform,
    reserved: ReservedNamespaces,
    delegations: Arc<DelegationIndex>,
    inventory: Arc<Inventory>,
    peers: Arc<PeerIndex>,
    tenants: reflector::Store<TenantService>,
    classes: reflector::Store<TenantClass>,
    classes_synced: watch::Receiver<bool>,
    rollout: Arc<ClassRollout>,
    identity: String,
    ca_secret: String,
    ca_settings: CaSettings,
    ca_new_root: NewRoot,
    /// Asks for every tenant to be reconciled (the CA changed).
    ca_changes: mpsc::UnboundedSender<()>,
    /// Where start-up steps say what they wait for.
    readiness: Arc<Readiness>,
}

/// Starts a term: loads the CA (creating one only as [`pki::store::load_ca`] allows), makes
/// the term's context, records the CA and publishes the CA bundle. Runs while the Lease is
/// held and renewed.
async fn start_term(parts: &TermParts) -> Result<Arc<Context>, RunError> {
    let namespace = &parts.settings.operator_namespace;
    let (trust, generated) = start_up_step(
        &parts.readiness,
        &format!("the regional CA (Secret {namespace}/{})", parts.ca_secret),
        || async {
            ca::load_at_start(
                &parts.client,
                namespace,
                &parts.ca_secret,
                &parts.ca_settings,
                parts.ca_new_root,
            )
            .await
            .map_err(|source| RunError::CaRecord {
                namespace: namespace.clone(),
                source: Box::new(source),
            })
        },
    )
    .await?;
    if let Some(signer) = trust.issuing() {
        let unconstrained = signer.constraints().is_unconstrained();
        parts.metrics.ca_unconstrained.set(i64::from(unconstrained));
        if unconstrained {
            tracing::warn!(secret = %parts.ca_secret, %namespace, "the regional CA carries no X.509 name constraints: every tenant namespace trusts it for any DNS name; replace it with a CA whose certificate permits only the datacenter's domains (e.g. nameConstraints=critical,permitted;DNS:it): a rotation");
        } else {
            tracing::info!(permitted = ?signer.constraints().permitted, "the regional CA signs only names inside its permitted DNS subtrees");
        }
    }
    let ctx = Arc::new(Context {
        client: parts.client.clone(),
        metrics: parts.metrics.clone(),
        settings: parts.settings.clone(),
        platform: parts.platform.clone(),
        reserved: parts.reserved.clone(),
        delegations: parts.delegations.clone(),
        ca: CaHandle::new(
            trust.clone(),
            parts.settings.ca_reissue_interval,
            parts.settings.ca_bundle_settle,
        ),
        inventory: parts.inventory.clone(),
        peers: parts.peers.clone(),
        tenants: parts.tenants.clone(),
        classes: parts.classes.clone(),
        classes_synced: parts.classes_synced.clone(),
        rollout: parts.rollout.clone(),
        recorder: EventRecorder::new(parts.client.clone(), Context::reporter(&parts.identity)),
        failures: Mutex::new(Default::default()),
        written_statuses: Mutex::new(Default::default()),
    });
    ca::report_start(&ctx, &trust, generated).await;
    if let Err(error) = ca::publish_state(&ctx, &trust).await {
        tracing::warn!(%error, "could not record the regional CA");
    }
    start_up_step(&parts.readiness, "publishing the CA bundle", || {
        publish_ca_bundle(&ctx)
    })
    .await?;
    Ok(ctx)
}

/// Keeps the regional CA of a term current, for as long as the term lasts: the CA Secret is
/// watched (a rotation, a deletion or a repair takes effect at once), and while a
/// rotated-out CA is in the bundle, the tenant certificates are checked for whether any
/// still chains to it. Each change republishes the bundle and reconciles every tenant.
async fn maintain_ca(ctx: &Arc<Context>, parts: &TermParts) -> std::convert::Infallible {
    let watched = ca::watch_secret(&parts.client, ctx.clone(), parts.ca_secret.clone());
    let interval = parts.settings.ca_retire_check_interval;
    let retirements = futures::stream::unfold(ctx.clone(), move |ctx| async move {
        tokio::time::sleep(interval).await;
        let changed = ca::check_retiring(&ctx).await;
        Some((changed, ctx))
    })
    .filter_map(|changed| std::future::ready(changed.then_some(())));
    let mut changes = std::pin::pin!(futures::stream::select(watched, retirements));
    while changes.next().await.is_some() {
        if let Err(error) = publish_ca_bundle(ctx).await {
            tracing::warn!(%error, "could not publish the CA bundle");
        }
        let _ = parts.ca_changes.send(());
    }
    // Both streams are endless (the watch retries with backoff); should they ever end, the
    // term goes on without them.
    futures::future::pending().await
}

/// Leadership terms, one after the other: take the Lease, start a term while renewing it,
/// run the term until the Lease is lost, stand by, and again. Without leader election, one
/// term that lasts. Returns only on an error that must stop the replica.
async fn lead(
    elector: Option<&mut LeaderElector>,
    parts: &TermParts,
    term: &watch::Sender<Option<Arc<Context>>>,
) -> Result<std::convert::Infallible, RunError> {
    let Some(elector) = elector else {
        let ctx = start_term(parts).await?;
        term.send_replace(Some(ctx.clone()));
        parts.metrics.leader.set(1);
        let never = maintain_ca(&ctx, parts).await;
        match never {}
    };
    loop {
        let acquired = elector.acquire().await;
        let hold = elector.hold(acquired);
        tokio::pin!(hold);
        let lost = tokio::select! {
            biased;
            lost = &mut hold => lost,
            started = start_term(parts) => {
                let ctx = started?;
                term.send_replace(Some(ctx.clone()));
                parts.metrics.leader.set(1);
                tokio::select! {
                    biased;
                    lost = &mut hold => lost,
                    never = maintain_ca(&ctx, parts) => match never {},
                }
            }
        };
        // Writes stop here: running reconciles see the term end and drop their requests.
        term.send_replace(None);
        parts.metrics.leader.set(0);
        tracing::warn!(error = %lost, "stepped down: this replica stopped writing and stands by");
    }
}

/// Runs one replica until `shutdown` resolves, then returns `Ok` (after releasing the Lease
/// if it held it). Nothing is written outside a leadership term.
pub async fn run(
    client: Client,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let reserved = ReservedNamespaces::new(
        config.platform.trusted_namespaces(),
        &config.settings.operator_namespace,
        &config.reserved_namespaces,
    )?;
    if let Some(lease) = &config.leader_election {
        lease.check()?;
    }
    // CRDs first: a standby replica reports them too. Every replica may install them: an
    // apply that changes nothing is no write.
    if config.install_crds {
        start_up_step(&readiness, "installing the CRDs", || async {
            super::crds::install(&client).await.map_err(RunError::from)
        })
        .await?;
    }
    for crd in [
        TenantService::crd_name(),
        TenantClass::crd_name(),
        DomainDelegation::crd_name(),
    ] {
        start_up_step(&readiness, &format!("CRD {crd}"), || {
            wait_for_crd(&client, crd, config.crd_timeout)
        })
        .await?;
    }
    start_up_step(&readiness, "checking the CRDs' schema", || async {
        super::crds::check(&client).await.map_err(RunError::from)
    })
    .await?;
    readiness.set_crds_established(true);
    readiness.set_reconcile_limit(config.settings.reconcile_liveness_limit);

    let shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(shutdown);
    let shutdown = futures::future::FutureExt::shared(shutdown);
    let mut elector = config.leader_election.clone().map(|lease| {
        let beat = readiness.clone();
        let elector =
            LeaderElector::new(client.clone(), lease).with_heartbeat(move || beat.election_beat());
        // Every attempt ends within its timeout and the next starts within the retry
        // interval: a loop quiet for four times that is stuck, not slowed down.
        let limit = ((elector.candidate_timeout() + elector.config().retry_interval) * 4)
            .max(Duration::from_secs(60));
        readiness.watch_election(limit);
        elector
    });

    let inventory = Arc::new(Inventory::default());
    let peers = Arc::new(PeerIndex::default());
    let delegations = Arc::new(DelegationIndex::default());
    let (tenant_reader, tenant_writer) = reflector::store::<TenantService>();
    let (class_reader, class_writer) = reflector::store::<TenantClass>();
    let (peer_tx, peer_rx) = mpsc::unbounded_channel::<ObjectRef<TenantService>>();
    let (ca_tx, ca_rx) = mpsc::unbounded_channel::<()>();
    let tenants = {
        let peers = peers.clone();
        watcher(Api::<TenantService>::all(client.clone()), watch_config())
            .default_backoff()
            .modify(trim_for_cache)
            .inspect(move |event| match event {
                Ok(watcher::Event::InitApply(tenant)) => {
                    peers.update(tenant);
                }
                Ok(watcher::Event::Apply(tenant)) => {
                    for peer in peers.update(tenant) {
                        let _ = peer_tx.send(ObjectRef::new(&peer));
                    }
                }
                Ok(watcher::Event::Delete(tenant)) => {
                    for peer in peers.remove(&tenant.name_any()) {
                        let _ = peer_tx.send(ObjectRef::new(&peer));
                    }
                }
                _ => {}
            })
            .reflect(tenant_writer)
            .applied_objects()
            .predicate_filter(generation_or_suspension, Default::default())
            .inspect_ok({
                let metrics = metrics.clone();
                move |tenant| metrics.queue.triggered(&tenant.name_any())
            })
    };
    let rollout = Arc::new(ClassRollout::new(
        config.settings.class_rollout_per_minute,
        metrics.clone(),
    ));
    // A class's versions are told to the rollout from the watch events themselves: the
    // reflector's store is swapped only at the end of a (re)list, so it cannot say during
    // one whether a class exists.
    let class_changes = {
        let rollout = rollout.clone();
        let tenants = tenant_reader.clone();
        watcher(Api::<TenantClass>::all(client.clone()), watch_config())
            .default_backoff()
            .reflect(class_writer)
            .filter_map(log_and_skip_errors("watching TenantClasses"))
            .flat_map(move |event| {
                let (name, class) = match event {
                    watcher::Event::InitApply(class) | watcher::Event::Apply(class) => {
                        (class.name_any(), Some(Arc::new(class)))
                    }
                    watcher::Event::Delete(class) => (class.name_any(), None),
                    watcher::Event::Init | watcher::Event::InitDone => {
                        return futures::stream::iter(Vec::new());
                    }
                };
                let users = tenants
                    .state()
                    .iter()
                    .filter(|tenant| tenant.spec.class == name)
                    .map(|tenant| tenant.name_any())
                    .collect();
                let now: Vec<ObjectRef<TenantService>> = rollout
                    .observe(&name, class, users)
                    .iter()
                    .map(|tenant| ObjectRef::new(tenant))
                    .collect();
                futures::stream::iter(now)
            })
    };

    let delegation_changes = {
        let delegations = delegations.clone();
        let tenants = tenant_reader.clone();
        watcher(Api::<DomainDelegation>::all(client.clone()), watch_config())
            .default_backoff()
            .filter_map(log_and_skip_errors("watching DomainDelegations"))
            .flat_map(move |event| {
                // The tenants of every body whose delegated domains changed are checked again.
                let changed = delegations.apply_event(&event);
                let affected: Vec<ObjectRef<TenantService>> = if changed.is_empty() {
                    Vec::new()
                } else {
                    tenants
                        .state()
                        .iter()
                        .filter(|tenant| changed.contains(&tenant.spec.entity.ipa_code))
                        .map(|tenant| ObjectRef::from_obj(&**tenant))
                        .collect()
                };
                futures::stream::iter(affected)
            })
    };

    // The only waiter on the class store's readiness (see `Context::classes_synced`).
    let (classes_synced_tx, classes_synced) = watch::channel(false);
    let parts = TermParts {
        client: client.clone(),
        metrics: metrics.clone(),
        settings: config.settings.clone(),
        platform: config.platform,
        reserved,
        delegations: delegations.clone(),
        inventory: inventory.clone(),
        peers,
        tenants: tenant_reader.clone(),
        classes: class_reader.clone(),
        classes_synced,
        rollout,
        identity: config.identity.clone(),
        ca_secret: config.ca_secret.clone(),
        ca_settings: config.ca_settings.clone(),
        ca_new_root: config.ca_new_root,
        ca_changes: ca_tx,
        readiness: readiness.clone(),
    };
    let (term_tx, term_rx) = watch::channel(None);
    let shared = Arc::new(Shared {
        term: term_rx,
        shutdown: shutdown.clone(),
        readiness: readiness.clone(),
        settings: config.settings.clone(),
        metrics: metrics.clone(),
    });

    let controller = Controller::for_stream(tenants, tenant_reader.clone())
        .with_config(
            ControllerConfig::default()
                .concurrency(config.settings.concurrency)
                .debounce(config.settings.debounce),
        )
        .trigger_backoff(NoTriggerBackoff)
        .reconcile_on(queued_stream(&metrics, class_changes))
        .reconcile_on(queued_stream(&metrics, parts.rollout.clone().releases()))
        .reconcile_on(queued_stream(&metrics, tokio_stream_from(peer_rx)))
        .reconcile_on(queued_stream(&metrics, delegation_changes))
        .reconcile_on(queued_stream(&metrics, {
            let tenants = tenant_reader.clone();
            tokio_stream_from(ca_rx).flat_map(move |()| {
                futures::stream::iter(
                    tenants
                        .state()
                        .iter()
                        .map(|tenant| ObjectRef::from_obj(&**tenant))
                        .collect::<Vec<_>>(),
                )
            })
        }))
        .watches_stream(
            child_stream::<Namespace>(&client, ManagedKind::Namespace, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            hand_over_stream(&client),
            queued(&metrics, to_handed_over_tenant),
        )
        .watches_stream(
            child_stream::<NetworkPolicy>(&client, ManagedKind::NetworkPolicy, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            quota_stream(&client, inventory.clone(), metrics.clone()),
            queued(&metrics, |quota: ResourceQuota| {
                quota
                    .labels()
                    .get(labels::TENANT)
                    .map(|tenant| ObjectRef::new(tenant))
            }),
        )
        .watches_stream(
            child_stream::<LimitRange>(&client, ManagedKind::LimitRange, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            child_stream::<Role>(&client, ManagedKind::Role, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            child_stream::<RoleBinding>(&client, ManagedKind::RoleBinding, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            child_stream::<Secret>(&client, ManagedKind::Secret, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .watches_stream(
            child_stream::<ConfigMap>(&client, ManagedKind::ConfigMap, inventory.clone()),
            queued(&metrics, to_tenant),
        )
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile_in_term, error_policy_in_term, shared)
        .for_each({
            let metrics = metrics.clone();
            move |result| {
                if let Err(error) = &result {
                    if let kube::runtime::controller::Error::ObjectNotFound(gone) = error {
                        // A trigger for a tenant that no longer exists: it leaves the queue.
                        metrics.queue.forget(&gone.name);
                    }
                    tracing::debug!(%error, "reconcile request failed");
                }
                std::future::ready(())
            }
        });

    let ready = {
        let readiness = readiness.clone();
        async move {
            tenant_reader.wait_until_ready().await.ok();
            class_reader.wait_until_ready().await.ok();
            classes_synced_tx.send_replace(true);
            inventory.wait_synced(ManagedKind::ALL.len()).await;
            delegations.wait_synced().await;
            readiness.set_caches_synced(true);
            tracing::info!(
                objects = inventory.len(),
                "caches synced; ready (reconciles run while this replica leads)"
            );
            futures::future::pending::<()>().await;
        }
    };

    let result = {
        let terms = lead(elector.as_mut(), &parts, &term_tx);
        tokio::select! {
            () = controller => Ok(()),
            failed = terms => failed.map(|never| match never {}),
            () = ready => Ok(()),
        }
    };
    term_tx.send_replace(None);
    metrics.leader.set(0);
    readiness.set_caches_synced(false);
    if let (Ok(()), Some(elector)) = (&result, elector.as_mut()) {
        // Orderly shutdown: hand the Lease over at once instead of letting it expire.
        let timeout = elector.config().renew_deadline;
        match tokio::time::timeout(timeout, elector.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not release the leader lease"),
            Err(_) => tracing::warn!(?timeout, "releasing the leader lease got no answer in time"),
        }
    }
    result
}

/// Publishes (or keeps) the CA bundle ConfigMap in the operator namespace, labelled as the
/// operator's (without a tenant label, so that no tenant's prune selects it).
async fn publish_ca_bundle(ctx: &Context) -> Result<(), RunError> {
    let namespace = &ctx.settings.operator_namespace;
    let labels = BTreeMap::from([(
        labels::MANAGED_BY_KEY.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    )]);
    let trust = ctx.ca.current();
    if trust.bundle_pem().is_empty() {
        // No CA known at all: the bundle stays as it is.
        return Ok(());
    }
    let bundle = ChildObject::ConfigMap(ca_bundle::config_map(
        namespace,
        labels,
        Some(trust.bundle_pem()),
    ));
    let key = ObjectKey::new(ManagedKind::ConfigMap, Some(namespace), bundle.name());
    let published = match bundle.to_json() {
        Ok(body) => write::ensure(ctx, &key, &body).await.map(drop),
        Err(source) => Err(Error::Serialize {
            what: key.to_string(),
            source,
        }),
    };
    published.map_err(|source| RunError::CaBundle {
        namespace: namespace.clone(),
        source: Box::new(source),
    })
}

/// A trigger mapper that also enters each tenant it maps to in the work-queue mirror
/// (`telemetry::work_queue`): every way a tenant is triggered passes through one of these
/// or [`queued_stream`].
fn queued<T, I>(
    metrics: &Arc<Metrics>,
    mapper: impl Fn(T) -> I + Send + Sync + 'static,
) -> impl Fn(T) -> Vec<ObjectRef<TenantService>> + Send + Sync + 'static
where
    I: IntoIterator<Item = ObjectRef<TenantService>>,
{
    let metrics = metrics.clone();
    move |object| {
        let tenants: Vec<_> = mapper(object).into_iter().collect();
        for tenant in &tenants {
            metrics.queue.triggered(&tenant.name);
        }
        tenants
    }
}

/// A stream of tenants to reconcile that also enters each in the work-queue mirror.
fn queued_stream(
    metrics: &Arc<Metrics>,
    stream: impl Stream<Item = ObjectRef<TenantService>> + Send + 'static,
) -> impl Stream<Item = ObjectRef<TenantService>> + Send + 'static {
    let metrics = metrics.clone();
    stream.inspect(move |tenant| metrics.queue.triggered(&tenant.name))
}

/// An mpsc receiver as a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::*;
    use crate::fixtures;

    #[test]
    fn a_quotas_content_is_what_the_operator_manages_not_its_status() {
        let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "tenancy-quota", "namespace": "a-prod", "labels": {"x": "1"}},
            "spec": {"hard": {"pods": "10"}},
            "status": {"hard": {"pods": "10"}, "used": {"pods": "0"}}
        }))
        .expect("a quota");
        let content = quota_content(&quota);
        assert!(content.is_some());
        let mut recounted = quota.clone();
        if let Some(status) = recounted.status.as_mut() {
            status.used = Some(BTreeMap::from([(
                "pods".to_string(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("3".into()),
            )]));
        }
        assert_eq!(quota_content(&recounted), content);
        let mut edited = quota.clone();
        if let Some(spec) = edited.spec.as_mut() {
            spec.hard = Some(BTreeMap::new());
        }
        assert_ne!(quota_content(&edited), content);
        let mut relabelled = quota.clone();
        relabelled.metadata.labels = None;
        assert_ne!(quota_content(&relabelled), content);
    }

    #[test]
    fn the_cache_keeps_only_the_annotations_the_operator_reads() {
        assert!(labels::SUSPEND.starts_with(OWN_ANNOTATION_PREFIX));
        let mut tenant = fixtures::tenant(serde_json::json!({}));
        tenant.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        tenant.metadata.labels = Some(BTreeMap::from([(
            "app.kubernetes.io/instance".to_string(),
            "tenants".to_string(),
        )]));
        tenant.metadata.annotations = Some(BTreeMap::from([
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                "{\"spec\":{}}".to_string(),
            ),
            (
                "argocd.argoproj.io/tracking-id".to_string(),
                "x".to_string(),
            ),
            (labels::SUSPEND.to_string(), "true".to_string()),
        ]));
        let spec = tenant.spec.clone();
        trim_for_cache(&mut tenant);
        assert_eq!(tenant.metadata.managed_fields, None);
        assert_eq!(tenant.metadata.labels, None);
        assert_eq!(
            tenant.metadata.annotations,
            Some(BTreeMap::from([(
                labels::SUSPEND.to_string(),
                "true".to_string()
            )]))
        );
        assert!(driver::is_suspended(&tenant));
        assert_eq!(tenant.spec, spec);

        let mut foreign_only = fixtures::tenant(serde_json::json!({}));
        foreign_only.metadata.annotations = Some(BTreeMap::from([(
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            "{}".to_string(),
        )]));
        trim_for_cache(&mut foreign_only);
        assert_eq!(foreign_only.metadata.annotations, None);
    }
}
