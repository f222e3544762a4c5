//! What every reconcile shares: the client, metrics, settings, the CA, the caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;

use super::ca::CaHandle;
use super::delegations::DelegationIndex;
use super::inventory::Inventory;
use super::peers::PeerIndex;
use super::recorder::EventRecorder;
use super::rollout::ClassRollout;
use super::status::WrittenStatus;
use crate::api::validation::ReservedNamespaces;
use crate::api::{TenantClass, TenantService};
use crate::render::Platform;
use crate::telemetry::Metrics;

/// Tunables of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespace the operator runs in (CA Secret, Lease, CA bundle).
    pub operator_namespace: String,
    /// Lifetime of tenant certificates; they are renewed after two thirds of it.
    pub certificate_lifetime: Duration,
    /// How often a Ready tenant is re-checked without any trigger. Cheap: a re-check of an
    /// unchanged tenant makes no API request.
    pub resync_interval: Duration,
    /// First retry delay after a transient error; doubled per consecutive failure.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Tenants reconciled in parallel.
    pub concurrency: u16,
    /// Delay that coalesces bursts of triggers (e.g. the watch events of a tenant's own
    /// writes) into one reconcile.
    pub debounce: Duration,
    /// Tenants a minute that a changed TenantClass reaches ([`super::rollout`]); 0: all at
    /// once.
    pub class_rollout_per_minute: u32,
    /// How long one reconcile may run before `/livez` reports the control loop as stuck.
    /// Every request is bounded by a timeout, so only a hang gets near it.
    pub reconcile_liveness_limit: Duration,
    /// After a CA rotation, at most one leaf is re-issued per this interval (the rate the
    /// administrators set, `--ca-reissue-per-minute`), so that servers and clients change
    /// over gradually.
    pub ca_reissue_interval: Duration,
    /// After a CA rotation, how long the new trust bundle is given to reach every client
    /// (ConfigMap mounts refresh within a minute or two; applications may need to reload)
    /// before the first leaf of the new CA is issued in place of an old one.
    pub ca_bundle_settle: Duration,
    /// While a rotated-out CA is still in the trust bundle, how often the tenant
    /// certificates are listed to see whether any still chains to it.
    pub ca_retire_check_interval: Duration,
}

impl Settings {
    /// Defaults for a cluster: 90-day certificates, re-check every 5 minutes.
    pub fn new(operator_namespace: &str) -> Self {
        Settings {
            operator_namespace: operator_namespace.to_string(),
            certificate_lifetime: Duration::from_secs(90 * 24 * 3600),
            resync_interval: Duration::from_secs(300),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            concurrency: 16,
            debounce: Duration::from_millis(200),
            reconcile_liveness_limit: Duration::from_secs(600),
            ca_reissue_interval: Duration::from_secs(1),
            ca_bundle_settle: Duration::from_secs(600),
            ca_retire_check_interval: Duration::from_secs(60),
            class_rollout_per_minute: 0,
        }
    }

    /// Delay before retry number `attempt` (1-based): exponential, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Shared state of the controller.
pub struct Context {
    /// The client every read and write goes through (as the operator's ServiceAccount).
    pub client: Client,
    /// The metrics `/metrics` serves.
    pub metrics: Arc<Metrics>,
    /// Lifetimes, intervals and backoff (see [`Settings`]).
    pub settings: Settings,
    /// The datacenter's namespaces and labels that render refers to.
    pub platform: Platform,
    /// Namespaces no tenant may take (Kubernetes', the platform's, the operator's, the
    /// datacenter's).
    pub reserved: ReservedNamespaces,
    /// The DNS domains delegated to each body (from the DomainDelegation watch).
    pub delegations: Arc<DelegationIndex>,
    /// The regional CA: which one signs tenant certificates (if any can), the trust bundle,
    /// the pace of re-issuing after a rotation.
    pub ca: CaHandle,
    /// Live managed objects and what the operator applied to them.
    pub inventory: Arc<Inventory>,
    /// Which tenants relate to which (consent, shared names): what a tenant's reconcile loads.
    pub peers: Arc<PeerIndex>,
    /// All TenantServices (the controller's cache).
    pub tenants: Store<TenantService>,
    /// All TenantClasses (the controller's cache).
    pub classes: Store<TenantClass>,
    /// Whether `classes` has been listed once. Reconciles wait on this, not on
    /// `Store::wait_until_ready`: that wakes only the last of several waiters (it keeps one
    /// waker), and the others would wait forever.
    pub classes_synced: tokio::sync::watch::Receiver<bool>,
    /// The class versions tenants keep while a class change rolls out.
    pub rollout: Arc<ClassRollout>,
    /// Publishes Events on TenantServices as this replica.
    pub recorder: EventRecorder,
    /// Consecutive failures per tenant, for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// The status this replica last wrote per tenant (see
    /// [`super::status::status_write_needed`]).
    pub written_statuses: Mutex<HashMap<String, WrittenStatus>>,
}

impl Context {
    /// The Event recorder identity of this replica.
    pub fn reporter(identity: &str) -> Reporter {
        Reporter {
            controller: "tenant-operator".to_string(),
            instance: Some(identity.to_string()),
        }
    }

    /// The action that runs `tenant`'s reconcile again after `delay`, noted in the work-queue
    /// metrics (the controller's queue exports nothing; see `telemetry::work_queue`).
    pub fn requeue(&self, tenant: &str, delay: Duration) -> Action {
        self.metrics.queue.requeued(tenant, delay);
        Action::requeue(delay)
    }

    /// Records a failure of `tenant` and returns the retry delay.
    pub fn next_backoff(&self, tenant: &str) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempt = failures.entry(tenant.to_string()).or_insert(0);
        *attempt = attempt.saturating_add(1);
        self.settings.backoff(*attempt)
    }

    /// Clears the failure count of `tenant` after a success.
    pub fn reset_backoff(&self, tenant: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(tenant);
    }

    /// The status last written for `tenant` by this replica.
    pub fn last_written_status(&self, tenant: &str) -> Option<WrittenStatus> {
        let written = self
            .written_statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        written.get(tenant).cloned()
    }

    /// Remembers the status just written (or being written) for `tenant`.
    pub fn remember_written_status(&self, tenant: &str, status: WrittenStatus) {
        let mut written = self
            .written_statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        written.insert(tenant.to_string(), status);
    }

    /// Forgets a deleted tenant's per-tenant bookkeeping.
    pub fn forget_tenant(&self, tenant: &str) {
        self.reset_backoff(tenant);
        let mut written = self
            .written_statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        written.remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let settings = Settings::new("tenant-operator");
        assert_eq!(settings.backoff(1), Duration::from_millis(500));
        assert_eq!(settings.backoff(2), Duration::from_secs(1));
        assert_eq!(settings.backoff(4), Duration::from_secs(4));
        assert_eq!(settings.backoff(40), Duration::from_secs(300));
    }
}
