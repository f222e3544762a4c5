//! Prometheus metrics of the operator, registered once in one registry with the prefix
//! `tenant_operator_`. Labels are bounded: error categories are enum variant names, kinds
//! are Kubernetes kinds the operator manages, and per-tenant series are keyed by tenant and
//! environment names (one series per object the operator manages, never free text). The
//! per-tenant series live in [`TenantSeries`], which is written into the same exposition,
//! for up to a bound of tenants (aggregates beyond it). The process's own series (CPU,
//! memory, file descriptors, on Linux) keep their standard `process_` names, unprefixed.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::tenant_series::{QuotaValues, TenantSeries};
use super::work_queue::WorkQueue;
use crate::api::Phase;

pub use super::tenant_series::QUOTA_RESOURCES;

/// Prefix of every metric name.
pub const PREFIX: &str = "tenant_operator";

/// Error while registering or encoding metrics (a programming error, reported not hidden).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Every metric of the operator. Cheap to share (`Arc<Metrics>` in the reconcile context).
pub struct Metrics {
    registry: Registry,
    /// The process collector's registry: its series keep their standard names
    /// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), without the prefix.
    process_registry: Registry,
    /// Reconciles started.
    pub reconciles: IntCounter,
    /// Failed reconciles, by error category (the error variant's name).
    pub reconcile_errors: IntCounterVec,
    /// Duration of reconciles.
    pub reconcile_duration: Histogram,
    /// Objects written again because their live content differed from the desired one after
    /// the operator had applied it (a hand edit or a deletion), by kind.
    pub drift_corrections: IntCounterVec,
    /// Writes the operator made (apply, delete, status), by verb and kind.
    pub writes: IntCounterVec,
    /// Latency of API requests (to the response headers; watches excluded), by verb.
    pub api_request_duration: HistogramVec,
    /// API requests that failed, by verb and code (an HTTP status, `timeout` or
    /// `transport`).
    pub api_request_errors: IntCounterVec,
    /// Writes that waited for the global write rate limit.
    pub api_writes_throttled: IntCounter,
    /// Certificates issued, by reason (`Missing`, `DueForRenewal`, ...).
    pub certificates_issued: IntCounterVec,
    /// 1 while this replica holds the leader lease.
    pub leader: IntGauge,
    /// 1 when the regional CA this replica loaded may sign any DNS name (a supplied CA
    /// without X.509 name constraints), 0 otherwise.
    pub ca_unconstrained: IntGauge,
    /// Tenants still on the previous version of their changed TenantClass, waiting for their
    /// turn in its rollout, by class.
    pub class_rollout_pending: IntGaugeVec,
    /// Tenants waiting for a reconcile, mirrored from the controller's triggers and starts.
    pub queue: WorkQueue,
    /// Tenants whose reconcile is due and has not started (set at each scrape).
    queue_depth: IntGauge,
    /// How long the tenant due first has waited (set at each scrape).
    queue_oldest_wait: prometheus::Gauge,
    /// How long tenants waited from their due time to the start of their reconcile.
    pub queue_wait: Histogram,
    /// The regional CA: availability, expiry, rotation.
    pub ca: super::ca_metrics::CaMetrics,
    /// Tenants by phase, readiness, certificate expiry and quota of each tenant.
    tenant_series: TenantSeries,
}

impl Metrics {
    /// Creates and registers every metric, with per-tenant series for up to
    /// [`DEFAULT_MAX_TENANTS`](super::tenant_series::DEFAULT_MAX_TENANTS) tenants.
    pub fn new() -> Result<Self, MetricsError> {
        Self::with_tenant_series_limit(super::tenant_series::DEFAULT_MAX_TENANTS)
    }

    /// Creates and registers every metric, with per-tenant series for up to `max_tenants`
    /// tenants (0: none; aggregates only).
    pub fn with_tenant_series_limit(max_tenants: usize) -> Result<Self, MetricsError> {
        let registry = Registry::new_custom(Some(PREFIX.to_string()), None)?;
        let reconciles =
            IntCounter::new("reconciles_total", "Reconciles of TenantServices started")?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "reconcile_errors_total",
                "Failed reconciles by error category",
            ),
            &["category"],
        )?;
        let reconcile_duration = Histogram::with_opts(
            HistogramOpts::new("reconcile_duration_seconds", "Duration of one reconcile").buckets(
                vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
        )?;
        let drift_corrections = IntCounterVec::new(
            Opts::new(
                "drift_corrections_total",
                "Managed objects restored after being changed or deleted by someone else",
            ),
            &["kind"],
        )?;
        let writes = IntCounterVec::new(
            Opts::new(
                "api_writes_total",
                "Mutating API requests made by the operator",
            ),
            &["verb", "kind"],
        )?;
        let api_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "api_request_duration_seconds",
                "Latency of the operator's API requests until the response headers, by verb (watches excluded)",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["verb"],
        )?;
        let api_request_errors = IntCounterVec::new(
            Opts::new(
                "api_request_errors_total",
                "API requests of the operator that failed, by verb and code (HTTP status, timeout or transport)",
            ),
            &["verb", "code"],
        )?;
        let api_writes_throttled = IntCounter::new(
            "api_writes_throttled_total",
            "Mutating API requests that waited for the global write rate limit",
        )?;
        let certificates_issued = IntCounterVec::new(
            Opts::new(
                "certificates_issued_total",
                "TLS certificates issued, by reason",
            ),
            &["reason"],
        )?;
        let leader = IntGauge::new("leader", "1 while this replica holds the leader lease")?;
        let ca_unconstrained = IntGauge::new(
            "ca_unconstrained",
            "1 when the regional CA carries no X.509 name constraints on DNS names (it may sign any name), 0 otherwise",
        )?;
        let queue_depth = IntGauge::new(
            "workqueue_depth",
            "TenantServices whose reconcile is due and has not started (a standby's wait for its term)",
        )?;
        let queue_oldest_wait = prometheus::Gauge::new(
            "workqueue_oldest_wait_seconds",
            "How long the TenantService due first has been waiting for its reconcile",
        )?;
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new(
                "workqueue_wait_duration_seconds",
                "Time from a TenantService's trigger or requeue to the start of its reconcile",
            )
            .buckets(vec![
                0.01, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
            ]),
        )?;
        let class_rollout_pending = IntGaugeVec::new(
            Opts::new(
                "class_rollout_pending",
                "TenantServices still on the previous version of their changed TenantClass, waiting for their turn (--class-rollout-per-minute)",
            ),
            &["class"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Version of the running operator"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(drift_corrections.clone()))?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(api_request_duration.clone()))?;
        registry.register(Box::new(api_request_errors.clone()))?;
        registry.register(Box::new(api_writes_throttled.clone()))?;
        registry.register(Box::new(certificates_issued.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(ca_unconstrained.clone()))?;
        registry.register(Box::new(class_rollout_pending.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(queue_oldest_wait.clone()))?;
        registry.register(Box::new(queue_wait.clone()))?;
        registry.register(Box::new(build_info))?;
        let process_registry = Registry::new();
        #[cfg(target_os = "linux")]
        process_registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let ca = super::ca_metrics::CaMetrics::register(&registry)?;
        Ok(Metrics {
            registry,
            process_registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            drift_corrections,
            writes,
            api_request_duration,
            api_request_errors,
            api_writes_throttled,
            certificates_issued,
            leader,
            ca_unconstrained,
            class_rollout_pending,
            queue: WorkQueue::default(),
            queue_depth,
            queue_oldest_wait,
            queue_wait,
            ca,
            tenant_series: TenantSeries::new(max_tenants),
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Result<String, MetricsError> {
        let now = std::time::Instant::now();
        let queue = self.queue.state(now);
        self.queue_depth
            .set(i64::try_from(queue.depth).unwrap_or(i64::MAX));
        self.queue_oldest_wait.set(queue.oldest_wait.as_secs_f64());
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        encoder.encode(&self.registry.gather(), &mut buffer)?;
        encoder.encode(&self.process_registry.gather(), &mut buffer)?;
        let mut text = String::from_utf8_lossy(&buffer).into_owned();
        self.tenant_series.write_text(PREFIX, &mut text);
        Ok(text)
    }

    /// A reconcile of `tenant` starts: it leaves the work queue, and its wait is recorded.
    pub fn reconcile_started(&self, tenant: &str) {
        let waited = self.queue.started(tenant, std::time::Instant::now());
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Records one API request: its latency (not for watches, which stay open) and, if it
    /// failed, its error code.
    pub fn observe_request(
        &self,
        verb: &str,
        latency: std::time::Duration,
        outcome: crate::client::Outcome,
    ) {
        use crate::client::Outcome;
        if verb != "watch" {
            self.api_request_duration
                .with_label_values(&[verb])
                .observe(latency.as_secs_f64());
        }
        let code = match outcome {
            Outcome::Status(status) if status < 400 => return,
            Outcome::Status(status) => status.to_string(),
            Outcome::Timeout => "timeout".to_string(),
            Outcome::Transport => "transport".to_string(),
        };
        self.api_request_errors
            .with_label_values(&[verb, code.as_str()])
            .inc();
    }

    /// Records a tenant's phase and readiness.
    pub fn set_tenant_phase(&self, tenant: &str, phase: Phase) {
        self.tenant_series.set_phase(tenant, phase);
    }

    /// Records a tenant's phase and the reason of its Ready condition, which
    /// `tenants_not_ready{reason}` counts while the tenant is not Ready.
    pub fn set_tenant_state(&self, tenant: &str, phase: Phase, ready_reason: &str) {
        self.tenant_series
            .set_state(tenant, phase, Some(ready_reason));
    }

    /// Forgets a deleted tenant: its phase and every per-tenant series.
    pub fn forget_tenant(&self, tenant: &str) {
        self.tenant_series.forget_tenant(tenant);
    }

    /// Forgets the per-environment series of a removed environment.
    pub fn forget_environment(&self, tenant: &str, environment: &str) {
        self.tenant_series.forget_environment(tenant, environment);
    }

    /// Records the expiry of an environment's certificate.
    pub fn set_certificate_expiry(
        &self,
        tenant: &str,
        environment: &str,
        not_after: jiff::Timestamp,
    ) {
        self.tenant_series
            .set_certificate_expiry(tenant, environment, not_after.as_second());
    }

    /// Forgets the quota series of a ResourceQuota that is gone or no longer managed.
    pub fn clear_quota(&self, tenant: &str, environment: &str) {
        self.tenant_series.clear_quota(tenant, environment);
    }

    /// Records a ResourceQuota's hard limits and usage. Only the resources the operator sets
    /// (see [`QUOTA_RESOURCES`]) are exported, which keeps the label set bounded.
    pub fn set_quota(
        &self,
        tenant: &str,
        environment: &str,
        hard: &BTreeMap<String, Quantity>,
        used: &BTreeMap<String, Quantity>,
    ) {
        let values = |quantities: &BTreeMap<String, Quantity>| -> QuotaValues {
            QUOTA_RESOURCES
                .map(|resource| quantities.get(resource).and_then(|q| quantity_value(&q.0)))
        };
        self.tenant_series
            .set_quota(tenant, environment, values(hard), values(used));
    }
}

/// The value of a Kubernetes quantity (`500m`, `16Gi`, `1e3`, `8`) as a float, for metrics
/// only (precision loss is acceptable there). `None` if it is not a quantity.
pub fn quantity_value(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_the_prefix_and_the_phase_gauge_is_exact() {
        let metrics = Metrics::new().unwrap();
        metrics.reconciles.inc();
        metrics.reconcile_errors.with_label_values(&["Apply"]).inc();
        metrics.set_tenant_phase("comune-bari", Phase::Provisioning);
        metrics.set_tenant_phase("comune-bari", Phase::Ready);
        metrics.set_tenant_phase("comune-lecce", Phase::Ready);
        metrics.set_certificate_expiry(
            "comune-bari",
            "prod",
            jiff::Timestamp::from_second(1_900_000_000).unwrap(),
        );
        let text = metrics.encode().unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.starts_with("tenant_operator_") || line.starts_with("process_"),
                "{line}"
            );
        }
        #[cfg(target_os = "linux")]
        assert!(
            text.contains("\nprocess_resident_memory_bytes "),
            "process metrics: {text}"
        );
        assert!(
            text.contains("tenant_operator_tenants{phase=\"Ready\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tenant_operator_tenants{phase=\"Provisioning\"} 0"),
            "{text}"
        );
        assert!(text.contains("tenant_operator_reconcile_errors_total{category=\"Apply\"} 1"));
        assert!(text.contains(
            "tenant_operator_certificate_expiry_timestamp_seconds{environment=\"prod\",tenant=\"comune-bari\"} 1900000000"
        ));
        assert!(text.contains("tenant_operator_tenant_ready{tenant=\"comune-bari\"} 1"));
        metrics.forget_tenant("comune-bari");
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("tenant_operator_tenants{phase=\"Ready\"} 1"),
            "{text}"
        );
        assert!(!text.contains("tenant=\"comune-bari\""), "{text}");
    }

    #[test]
    fn not_ready_tenants_are_counted_by_bounded_reason() {
        let metrics = Metrics::new().unwrap();
        metrics.set_tenant_state("comune-bari", Phase::Failed, "InvalidSpec");
        metrics.set_tenant_state("comune-lecce", Phase::Provisioning, "ApplyFailed");
        metrics.set_tenant_state("comune-trani", Phase::Provisioning, "SomethingNew");
        metrics.set_tenant_state("comune-bitonto", Phase::Ready, "Reconciled");
        metrics.set_tenant_phase("comune-noci", Phase::Terminating);
        let text = metrics.encode().unwrap();
        for expected in [
            "tenant_operator_tenants_not_ready{reason=\"InvalidSpec\"} 1",
            "tenant_operator_tenants_not_ready{reason=\"ApplyFailed\"} 1",
            "tenant_operator_tenants_not_ready{reason=\"Other\"} 1",
            "tenant_operator_tenants_not_ready{reason=\"StatusFailed\"} 0",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert!(
            !text.contains("SomethingNew"),
            "unlisted reasons are not labels"
        );
        metrics.set_tenant_state("comune-lecce", Phase::Ready, "Reconciled");
        let text = metrics.encode().unwrap();
        assert!(text.contains("tenant_operator_tenants_not_ready{reason=\"ApplyFailed\"} 0"));
    }

    #[test]
    fn quota_metrics_use_status_quantities() {
        let metrics = Metrics::new().unwrap();
        let hard = BTreeMap::from([
            ("requests.cpu".to_string(), Quantity("8".into())),
            ("requests.memory".to_string(), Quantity("16Gi".into())),
            ("free.text".to_string(), Quantity("1".into())),
        ]);
        let used = BTreeMap::from([("requests.cpu".to_string(), Quantity("500m".into()))]);
        metrics.set_quota("comune-bari", "prod", &hard, &used);
        let text = metrics.encode().unwrap();
        assert!(text.contains("resource=\"requests.memory\",tenant=\"comune-bari\"} 17179869184"));
        assert!(text.contains("tenant_operator_quota_used{environment=\"prod\",resource=\"requests.cpu\",tenant=\"comune-bari\"} 0.5"));
        assert!(!text.contains("free.text"));
    }

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        assert_eq!(quantity_value("8"), Some(8.0));
        assert_eq!(quantity_value("500m"), Some(0.5));
        assert_eq!(quantity_value("2Ki"), Some(2048.0));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert_eq!(quantity_value("1.5G"), Some(1.5e9));
        assert_eq!(quantity_value("12 apples"), None);
        assert_eq!(quantity_value("Gi"), None);
    }
}
