//! The per-tenant metric series (phase, readiness, certificate expiry, quota), kept in one
//! compact table and written straight into the text exposition at scrape time.
//!
//! Why not the prometheus crate's `GaugeVec`s: a labelled series there costs a few hundred
//! bytes (its label pairs are stored as protobuf messages), and every scrape copies each
//! series into a new set of protobuf messages before encoding them. With 8,000 tenants and
//! about 17 series each, those series were the largest part of the operator's memory. Here a
//! tenant costs its name and about 200 bytes per environment, and a scrape allocates
//! only the text it returns.
//!
//! How many tenants get their own series is bounded ([`TenantSeries::new`]): per-tenant
//! series cost about 8 series and 0.8 kB of every scrape per tenant (measured by
//! `cargo bench -p tenant-operator --bench tenant_series`, figures in the chart README).
//! Beyond the bound, and with the bound 0, only the aggregates are written: tenants by
//! phase and by not-Ready reason, the earliest certificate expiry, the quota sums and the
//! environments near their quota, which is what the chart's alerts use. While more tenants
//! than the bound exist, `tenant_series_capped` is 1 and a warning is logged once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::api::Phase;

/// ResourceQuota resources exported as metrics: the requests (render sets each limit equal
/// to its request, so limits would repeat them) and the object counts that run out in
/// practice. Six series per environment keep 8,000 tenants' metrics small.
pub const QUOTA_RESOURCES: [&str; 6] = [
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "pods",
    "persistentvolumeclaims",
    "services.loadbalancers",
];

/// Every phase, in the order the `tenants` gauge lists them. Each is exported from the start,
/// so that dashboards see zeros, not gaps.
const ALL_PHASES: [Phase; 5] = [
    Phase::Pending,
    Phase::Provisioning,
    Phase::Ready,
    Phase::Failed,
    Phase::Terminating,
];

/// Reasons of a not-Ready tenant exported as the `reason` label of `tenants_not_ready`: the
/// reconcile error categories (`reconcile::Error::category`), `NamespaceNotOwned`, `Pending`
/// (not reconciled yet) and `Other` for any reason not listed here, so the label stays
/// bounded. Each is exported from the start (zeros, not gaps), so that alerts can divide.
pub const NOT_READY_REASONS: [&str; 14] = [
    "ApplyFailed",
    "CertificateFailed",
    "DetachFailed",
    "FinalizerFailed",
    "InvalidSpec",
    "NamespaceNotOwned",
    "NamespacesTerminating",
    "Other",
    "Pending",
    "PruneFailed",
    "ReadFailed",
    "RenderFailed",
    "SerializeFailed",
    "StatusFailed",
];

/// `reason` as one of [`NOT_READY_REASONS`].
fn bounded_reason(reason: &str) -> &'static str {
    NOT_READY_REASONS
        .iter()
        .find(|known| **known == reason)
        .copied()
        .unwrap_or("Other")
}

/// Values of one quota resource set, in the order of [`QUOTA_RESOURCES`].
pub type QuotaValues = [Option<f64>; QUOTA_RESOURCES.len()];

/// Share of a hard limit at and above which an environment counts as near its quota in
/// `quota_near_limit_environments`.
pub const QUOTA_NEAR_LIMIT_SHARE: f64 = 0.9;

/// Default bound of tenants with per-tenant series: a region's bodies (Puglia has 257
/// Comuni) with room to spare, about 8,000 series (see the module documentation).
pub const DEFAULT_MAX_TENANTS: usize = 1000;

/// What is known of one tenant.
#[derive(Debug, Default)]
struct TenantEntry {
    /// Phase last recorded by a reconcile; `None` while only a quota has been seen.
    phase: Option<Phase>,
    /// Reason of the Ready condition when it is not True (one of [`NOT_READY_REASONS`]).
    not_ready_reason: Option<&'static str>,
    /// Its environments, sorted by name. A tenant has a handful, so a sorted `Vec` is both
    /// the smallest and the fastest map here (a `BTreeMap` node holds eleven entries).
    environments: Vec<(String, EnvironmentEntry)>,
}

/// What is known of one tenant environment.
#[derive(Debug, Default)]
struct EnvironmentEntry {
    /// `notAfter` of its TLS certificate, seconds since the epoch.
    certificate_not_after: Option<i64>,
    quota_hard: QuotaValues,
    quota_used: QuotaValues,
}

/// The per-tenant series. Shared by reference; every method takes the lock briefly.
#[derive(Debug)]
pub struct TenantSeries {
    /// Most tenants whose own series are exported; 0 exports none (aggregates only).
    max_tenants: usize,
    inner: Mutex<Inner>,
}

/// What the lock guards.
#[derive(Debug, Default)]
struct Inner {
    tenants: BTreeMap<String, TenantEntry>,
    /// Whether the per-tenant series are dropped for exceeding `max_tenants` (logged once
    /// per crossing).
    capped: bool,
}

impl Default for TenantSeries {
    fn default() -> Self {
        TenantSeries::new(DEFAULT_MAX_TENANTS)
    }
}

impl TenantSeries {
    /// Per-tenant series for up to `max_tenants` tenants (0: none, aggregates only).
    pub fn new(max_tenants: usize) -> Self {
        TenantSeries {
            max_tenants,
            inner: Mutex::default(),
        }
    }

    /// The bound given to [`TenantSeries::new`].
    pub fn max_tenants(&self) -> usize {
        self.max_tenants
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain numbers behind, still worth exporting.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes (and logs, once per crossing) whether the tenants now exceed the bound. Called
    /// after every change of the number of tenants.
    fn check_bound(&self, inner: &mut Inner) {
        let capped = self.max_tenants > 0 && inner.tenants.len() > self.max_tenants;
        if capped == inner.capped {
            return;
        }
        inner.capped = capped;
        if capped {
            tracing::warn!(
                tenants = inner.tenants.len(),
                max_tenants = self.max_tenants,
                "per-tenant metric series dropped: more tenants than --per-tenant-metrics-limit; the aggregates remain (tenant_operator_tenant_series_capped is 1)"
            );
        } else {
            tracing::info!(
                tenants = inner.tenants.len(),
                max_tenants = self.max_tenants,
                "per-tenant metric series exported again: the tenants are within --per-tenant-metrics-limit"
            );
        }
    }

    fn environment<'a>(
        tenants: &'a mut BTreeMap<String, TenantEntry>,
        tenant: &str,
        environment: &str,
    ) -> &'a mut EnvironmentEntry {
        let environments = &mut tenants.entry(tenant.to_string()).or_default().environments;
        let index = match environments.binary_search_by(|(name, _)| name.as_str().cmp(environment))
        {
            Ok(index) => index,
            Err(index) => {
                // Exactly one more slot: `insert` alone would reserve four at once.
                environments.reserve_exact(1);
                environments.insert(
                    index,
                    (environment.to_string(), EnvironmentEntry::default()),
                );
                index
            }
        };
        &mut environments[index].1
    }

    /// Records a tenant's phase (and so its readiness), without a reason.
    pub fn set_phase(&self, tenant: &str, phase: Phase) {
        self.set_state(tenant, phase, None);
    }

    /// Records a tenant's phase and the reason of its Ready condition (kept only while the
    /// tenant is not Ready; an unlisted reason counts as `Other`).
    pub fn set_state(&self, tenant: &str, phase: Phase, ready_reason: Option<&str>) {
        let not_ready_reason = ready_reason
            .filter(|_| phase != Phase::Ready)
            .map(bounded_reason);
        let mut inner = self.lock();
        // No key allocation for a tenant already known (every reconcile records its state).
        if let Some(entry) = inner.tenants.get_mut(tenant) {
            entry.phase = Some(phase);
            entry.not_ready_reason = not_ready_reason;
            return;
        }
        inner.tenants.insert(
            tenant.to_string(),
            TenantEntry {
                phase: Some(phase),
                not_ready_reason,
                environments: Vec::new(),
            },
        );
        self.check_bound(&mut inner);
    }

    /// Records the expiry of an environment's certificate.
    pub fn set_certificate_expiry(&self, tenant: &str, environment: &str, not_after: i64) {
        let mut inner = self.lock();
        Self::environment(&mut inner.tenants, tenant, environment).certificate_not_after =
            Some(not_after);
        self.check_bound(&mut inner);
    }

    /// Records an environment's quota: hard limits and usage.
    pub fn set_quota(&self, tenant: &str, environment: &str, hard: QuotaValues, used: QuotaValues) {
        let mut inner = self.lock();
        let entry = Self::environment(&mut inner.tenants, tenant, environment);
        entry.quota_hard = hard;
        entry.quota_used = used;
        self.check_bound(&mut inner);
    }

    /// Forgets an environment's quota (its ResourceQuota is gone or no longer managed), and
    /// the environment and tenant when nothing else is known of them.
    pub fn clear_quota(&self, tenant: &str, environment: &str) {
        let mut inner = self.lock();
        let Some(entry) = inner.tenants.get_mut(tenant) else {
            return;
        };
        entry.environments.retain_mut(|(name, values)| {
            if name == environment {
                values.quota_hard = QuotaValues::default();
                values.quota_used = QuotaValues::default();
            }
            values.certificate_not_after.is_some()
                || values
                    .quota_hard
                    .iter()
                    .chain(&values.quota_used)
                    .any(Option::is_some)
        });
        if entry.phase.is_none() && entry.environments.is_empty() {
            inner.tenants.remove(tenant);
            self.check_bound(&mut inner);
        }
    }

    /// Forgets a deleted tenant and every series of it.
    pub fn forget_tenant(&self, tenant: &str) {
        let mut inner = self.lock();
        if inner.tenants.remove(tenant).is_some() {
            self.check_bound(&mut inner);
        }
    }

    /// Forgets the series of a removed environment.
    pub fn forget_environment(&self, tenant: &str, environment: &str) {
        if let Some(entry) = self.lock().tenants.get_mut(tenant) {
            entry.environments.retain(|(name, _)| name != environment);
        }
    }

    /// Appends the Prometheus text exposition (format 0.0.4) of the aggregates and, within
    /// the bound, of every per-tenant family, each name prefixed with `prefix_`. Label names
    /// are in alphabetical order, as the prometheus crate writes them.
    pub fn write_text(&self, prefix: &str, out: &mut String) {
        let inner = self.lock();
        let tenants = &inner.tenants;
        let per_tenant = self.max_tenants > 0 && tenants.len() <= self.max_tenants;

        family_header(out, prefix, "tenants", "TenantServices by phase");
        for phase in ALL_PHASES {
            let count = tenants.values().filter(|t| t.phase == Some(phase)).count();
            sample(
                out,
                prefix,
                "tenants",
                &[("phase", phase.as_str())],
                count as f64,
            );
        }

        // Tenants that are not Ready (deleting ones aside), by the reason of their Ready
        // condition: what the readiness alerts aggregate, never per tenant.
        family_header(
            out,
            prefix,
            "tenants_not_ready",
            "TenantServices whose Ready condition is not True, by its reason (Terminating ones aside)",
        );
        for reason in NOT_READY_REASONS {
            let count = tenants
                .values()
                .filter(|t| {
                    matches!(
                        t.phase,
                        Some(Phase::Pending | Phase::Provisioning | Phase::Failed)
                    ) && t.not_ready_reason.unwrap_or("Pending") == reason
                })
                .count();
            sample(
                out,
                prefix,
                "tenants_not_ready",
                &[("reason", reason)],
                count as f64,
            );
        }

        family_header(
            out,
            prefix,
            "tenant_series_limit",
            "Most tenants whose own series (tenant_ready, certificate_expiry_timestamp_seconds, quota_hard, quota_used) are exported; 0: none",
        );
        sample(
            out,
            prefix,
            "tenant_series_limit",
            &[],
            self.max_tenants as f64,
        );
        family_header(
            out,
            prefix,
            "tenant_series_capped",
            "1 while there are more tenants than tenant_series_limit, so that no per-tenant series is exported",
        );
        let capped = self.max_tenants > 0 && !per_tenant;
        sample(
            out,
            prefix,
            "tenant_series_capped",
            &[],
            f64::from(u8::from(capped)),
        );
        write_aggregates(tenants, prefix, out);
        if !per_tenant {
            return;
        }

        family_header(
            out,
            prefix,
            "tenant_ready",
            "1 when the tenant's Ready condition is True",
        );
        for (name, entry) in tenants {
            if let Some(phase) = entry.phase {
                let ready = if phase == Phase::Ready { 1.0 } else { 0.0 };
                sample(out, prefix, "tenant_ready", &[("tenant", name)], ready);
            }
        }

        family_header(
            out,
            prefix,
            "certificate_expiry_timestamp_seconds",
            "notAfter of each tenant environment's TLS certificate",
        );
        for (name, environment, entry) in environments(tenants) {
            if let Some(not_after) = entry.certificate_not_after {
                sample(
                    out,
                    prefix,
                    "certificate_expiry_timestamp_seconds",
                    &[("environment", environment), ("tenant", name)],
                    not_after as f64,
                );
            }
        }

        for (family, help, values) in [
            (
                "quota_hard",
                "ResourceQuota hard limit of a tenant environment",
                (|e: &EnvironmentEntry| e.quota_hard) as fn(&EnvironmentEntry) -> QuotaValues,
            ),
            (
                "quota_used",
                "ResourceQuota usage of a tenant environment",
                |e: &EnvironmentEntry| e.quota_used,
            ),
        ] {
            family_header(out, prefix, family, help);
            for (name, environment, entry) in environments(tenants) {
                for (resource, value) in QUOTA_RESOURCES.iter().zip(values(entry)) {
                    if let Some(value) = value {
                        sample(
                            out,
                            prefix,
                            family,
                            &[
                                ("environment", environment),
                                ("resource", resource),
                                ("tenant", name),
                            ],
                            value,
                        );
                    }
                }
            }
        }
    }
}

/// The series that stay whatever the number of tenants: the earliest certificate expiry,
/// the quota of all tenants together and the environments near their quota, by resource.
fn write_aggregates(tenants: &BTreeMap<String, TenantEntry>, prefix: &str, out: &mut String) {
    let earliest = environments(tenants)
        .filter_map(|(_, _, entry)| entry.certificate_not_after)
        .min();
    if let Some(earliest) = earliest {
        family_header(
            out,
            prefix,
            "certificate_expiry_earliest_timestamp_seconds",
            "notAfter of the tenant TLS certificate that expires first",
        );
        sample(
            out,
            prefix,
            "certificate_expiry_earliest_timestamp_seconds",
            &[],
            earliest as f64,
        );
    }

    let mut hard = [0.0; QUOTA_RESOURCES.len()];
    let mut used = [0.0; QUOTA_RESOURCES.len()];
    let mut near_limit = [0_usize; QUOTA_RESOURCES.len()];
    for (_, _, entry) in environments(tenants) {
        for i in 0..QUOTA_RESOURCES.len() {
            let (limit, usage) = (entry.quota_hard[i], entry.quota_used[i]);
            hard[i] += limit.unwrap_or(0.0);
            used[i] += usage.unwrap_or(0.0);
            if let (Some(limit), Some(usage)) = (limit, usage)
                && limit > 0.0
                && usage >= limit * QUOTA_NEAR_LIMIT_SHARE
            {
                near_limit[i] += 1;
            }
        }
    }
    for (family, help, values) in [
        (
            "quota_hard_all_tenants",
            "Sum of the ResourceQuota hard limits of every tenant environment",
            hard,
        ),
        (
            "quota_used_all_tenants",
            "Sum of the ResourceQuota usage of every tenant environment",
            used,
        ),
    ] {
        family_header(out, prefix, family, help);
        for (resource, value) in QUOTA_RESOURCES.iter().zip(values) {
            sample(out, prefix, family, &[("resource", resource)], value);
        }
    }
    family_header(
        out,
        prefix,
        "quota_near_limit_environments",
        &format!(
            "Tenant environments whose ResourceQuota usage is at or above {}% of the hard limit",
            QUOTA_NEAR_LIMIT_SHARE * 100.0
        ),
    );
    for (resource, count) in QUOTA_RESOURCES.iter().zip(near_limit) {
        sample(
            out,
            prefix,
            "quota_near_limit_environments",
            &[("resource", resource)],
            count as f64,
        );
    }
}

/// Every (tenant, environment, entry), in name order.
fn environments(
    tenants: &BTreeMap<String, TenantEntry>,
) -> impl Iterator<Item = (&str, &str, &EnvironmentEntry)> {
    tenants.iter().flat_map(|(name, tenant)| {
        tenant
            .environments
            .iter()
            .map(move |(environment, entry)| (name.as_str(), environment.as_str(), entry))
    })
}

/// `# HELP` and `# TYPE` lines of a gauge family.
fn family_header(out: &mut String, prefix: &str, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {prefix}_{name} {}", escape(help, false));
    let _ = writeln!(out, "# TYPE {prefix}_{name} gauge");
}

/// One sample line: `name{label="value",...} value`.
fn sample(out: &mut String, prefix: &str, name: &str, labels: &[(&str, &str)], value: f64) {
    let _ = write!(out, "{prefix}_{name}");
    for (i, (label, label_value)) in labels.iter().enumerate() {
        let separator = if i == 0 { '{' } else { ',' };
        let _ = write!(out, "{separator}{label}=\"{}\"", escape(label_value, true));
    }
    if !labels.is_empty() {
        out.push('}');
    }
    out.push(' ');
    push_value(out, value);
    out.push('\n');
}

/// A sample value as the text format spells it (`+Inf`, `-Inf`, `NaN`, else a decimal).
fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Escapes backslash and newline (and, in label values, the double quote) as the text
/// format requires. Names here are Kubernetes names, so this seldom changes anything.
fn escape(text: &str, quote: bool) -> std::borrow::Cow<'_, str> {
    let needs_escaping = text.contains(['\\', '\n']) || (quote && text.contains('"'));
    if !needs_escaping {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if quote => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

    /// The same values through the prometheus crate's own gauges and encoder.
    fn reference_text(
        phases: &[(&str, Phase)],
        expiries: &[(&str, &str, i64)],
        quotas: &[(&str, &str, QuotaValues, QuotaValues)],
    ) -> String {
        let registry = Registry::new_custom(Some("tenant_operator".into()), None).unwrap();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let vec = GaugeVec::new(Opts::new(name, help), labels).unwrap();
            registry.register(Box::new(vec.clone())).unwrap();
            vec
        };
        let tenants = gauge("tenants", "TenantServices by phase", &["phase"]);
        let ready = gauge(
            "tenant_ready",
            "1 when the tenant's Ready condition is True",
            &["tenant"],
        );
        let expiry = gauge(
            "certificate_expiry_timestamp_seconds",
            "notAfter of each tenant environment's TLS certificate",
            &["tenant", "environment"],
        );
        let hard = gauge(
            "quota_hard",
            "ResourceQuota hard limit of a tenant environment",
            &["tenant", "environment", "resource"],
        );
        let used = gauge(
            "quota_used",
            "ResourceQuota usage of a tenant environment",
            &["tenant", "environment", "resource"],
        );
        for phase in ALL_PHASES {
            let count = phases.iter().filter(|(_, p)| *p == phase).count();
            tenants
                .with_label_values(&[phase.as_str()])
                .set(count as f64);
        }
        let not_ready = gauge(
            "tenants_not_ready",
            "TenantServices whose Ready condition is not True, by its reason (Terminating ones aside)",
            &["reason"],
        );
        // Phases recorded without a reason count as `Pending`.
        for reason in NOT_READY_REASONS {
            let count = phases
                .iter()
                .filter(|(_, p)| {
                    reason == "Pending"
                        && matches!(p, Phase::Pending | Phase::Provisioning | Phase::Failed)
                })
                .count();
            not_ready.with_label_values(&[reason]).set(count as f64);
        }
        for (tenant, phase) in phases {
            ready
                .with_label_values(&[tenant])
                .set(f64::from(u8::from(*phase == Phase::Ready)));
        }
        for (tenant, environment, not_after) in expiries {
            expiry
                .with_label_values(&[tenant, environment])
                .set(*not_after as f64);
        }
        for (tenant, environment, hard_values, used_values) in quotas {
            for (i, resource) in QUOTA_RESOURCES.iter().enumerate() {
                if let Some(v) = hard_values[i] {
                    hard.with_label_values(&[tenant, environment, resource])
                        .set(v);
                }
                if let Some(v) = used_values[i] {
                    used.with_label_values(&[tenant, environment, resource])
                        .set(v);
                }
            }
        }
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buffer)
            .unwrap();
        String::from_utf8(buffer).unwrap()
    }

    /// Families of a text exposition, each as its sorted lines, so that family order (which
    /// the format leaves free) does not matter.
    fn families(text: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let name = line
                .trim_start_matches("# HELP ")
                .trim_start_matches("# TYPE ")
                .split(['{', ' '])
                .next()
                .unwrap_or_default()
                .to_string();
            out.entry(name).or_default().push(line.to_string());
        }
        for lines in out.values_mut() {
            lines.sort();
        }
        out
    }

    #[test]
    fn the_exposition_is_what_the_prometheus_crate_would_write() {
        let series = TenantSeries::default();
        let mut hard: QuotaValues = [None; 6];
        hard[0] = Some(8.0);
        hard[1] = Some(17_179_869_184.0);
        hard[3] = Some(0.25);
        let mut used: QuotaValues = [None; 6];
        used[0] = Some(0.5);
        used[5] = Some(0.0);
        series.set_phase("comune-bari", Phase::Provisioning);
        series.set_phase("comune-bari", Phase::Ready);
        series.set_phase("comune-lecce", Phase::Failed);
        series.set_phase("asl-ba", Phase::Ready);
        series.set_certificate_expiry("comune-bari", "test", 1_800_000_000);
        series.set_certificate_expiry("comune-bari", "prod", 1_900_000_000);
        series.set_quota("comune-bari", "prod", hard, used);
        series.set_certificate_expiry("comune-bari", "prod", 1_900_000_000);
        // A quota seen before the tenant's first reconcile: no readiness series yet.
        series.set_quota("comune-nuovo", "prod", hard, [None; 6]);

        let mut text = String::new();
        series.write_text("tenant_operator", &mut text);
        let mut written = families(&text);
        // The aggregates and the bound have no counterpart in the reference (see
        // `aggregates_sum_every_environment`).
        for aggregate in AGGREGATES {
            assert!(
                written
                    .remove(&format!("tenant_operator_{aggregate}"))
                    .is_some(),
                "{aggregate} in\n{text}"
            );
        }
        let expected = reference_text(
            &[
                ("comune-bari", Phase::Ready),
                ("comune-lecce", Phase::Failed),
                ("asl-ba", Phase::Ready),
            ],
            &[
                ("comune-bari", "prod", 1_900_000_000),
                ("comune-bari", "test", 1_800_000_000),
            ],
            &[
                ("comune-bari", "prod", hard, used),
                ("comune-nuovo", "prod", hard, [None; 6]),
            ],
        );
        assert_eq!(written, families(&expected), "{text}");
    }

    /// Families written whatever the number of tenants.
    const AGGREGATES: [&str; 6] = [
        "tenant_series_limit",
        "tenant_series_capped",
        "certificate_expiry_earliest_timestamp_seconds",
        "quota_hard_all_tenants",
        "quota_used_all_tenants",
        "quota_near_limit_environments",
    ];

    /// Sample lines of a text exposition, comments aside.
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn aggregates_sum_every_environment() {
        let series = TenantSeries::default();
        let quota = |cpu: f64, pods: f64| {
            let mut values: QuotaValues = [None; 6];
            values[0] = Some(cpu);
            values[3] = Some(pods);
            values
        };
        series.set_quota("comune-bari", "prod", quota(8.0, 100.0), quota(7.5, 10.0));
        series.set_quota("comune-bari", "test", quota(2.0, 10.0), quota(0.5, 9.0));
        // No usage reported yet: counts in the hard sum only, never as near its limit.
        series.set_quota("comune-lecce", "prod", quota(4.0, 0.0), [None; 6]);
        series.set_certificate_expiry("comune-bari", "prod", 1_900_000_000);
        series.set_certificate_expiry("comune-lecce", "prod", 1_800_000_000);
        let mut text = String::new();
        series.write_text("p", &mut text);
        for expected in [
            "p_certificate_expiry_earliest_timestamp_seconds 1800000000",
            "p_quota_hard_all_tenants{resource=\"requests.cpu\"} 14",
            "p_quota_used_all_tenants{resource=\"requests.cpu\"} 8",
            "p_quota_hard_all_tenants{resource=\"pods\"} 110",
            "p_quota_used_all_tenants{resource=\"pods\"} 19",
            "p_quota_used_all_tenants{resource=\"requests.memory\"} 0",
            // 7.5 of 8 CPUs (94%); 9 of 10 pods (90%, the share itself); 10 of 100 pods not.
            "p_quota_near_limit_environments{resource=\"requests.cpu\"} 1",
            "p_quota_near_limit_environments{resource=\"pods\"} 1",
            "p_quota_near_limit_environments{resource=\"requests.storage\"} 0",
        ] {
            assert!(samples(&text).contains(&expected), "{expected} in\n{text}");
        }
    }

    #[test]
    fn beyond_the_bound_only_aggregates_are_written_and_the_cap_is_said() {
        let series = TenantSeries::new(2);
        series.set_phase("comune-bari", Phase::Ready);
        series.set_certificate_expiry("comune-bari", "prod", 1_900_000_000);
        series.set_quota("comune-bari", "prod", [Some(1.0); 6], [Some(0.0); 6]);
        series.set_phase("comune-lecce", Phase::Failed);
        let within = {
            let mut text = String::new();
            series.write_text("p", &mut text);
            text
        };
        assert!(
            samples(&within).contains(&"p_tenant_series_capped 0"),
            "{within}"
        );
        assert!(
            samples(&within).contains(&"p_tenant_series_limit 2"),
            "{within}"
        );
        assert!(within.contains("tenant=\"comune-bari\""), "{within}");

        // A third tenant, first seen by its quota: over the bound.
        series.set_quota("comune-trani", "prod", [Some(1.0); 6], [None; 6]);
        let mut capped = String::new();
        series.write_text("p", &mut capped);
        assert!(
            samples(&capped).contains(&"p_tenant_series_capped 1"),
            "{capped}"
        );
        assert!(
            !capped.contains("tenant=\""),
            "no per-tenant series: {capped}"
        );
        for family in [
            "tenant_ready",
            "certificate_expiry_timestamp_seconds",
            "quota_hard",
            "quota_used",
        ] {
            assert!(
                !capped.contains(&format!("p_{family} ")),
                "{family} in {capped}"
            );
            assert!(
                !capped.contains(&format!("p_{family}{{")),
                "{family} in {capped}"
            );
        }
        for kept in [
            "p_tenants{phase=\"Ready\"} 1",
            "p_tenants_not_ready{reason=\"Pending\"} 1",
            "p_certificate_expiry_earliest_timestamp_seconds 1900000000",
            "p_quota_hard_all_tenants{resource=\"pods\"} 2",
        ] {
            assert!(samples(&capped).contains(&kept), "{kept} in\n{capped}");
        }

        // Back within the bound: the per-tenant series return.
        series.forget_tenant("comune-lecce");
        let mut again = String::new();
        series.write_text("p", &mut again);
        assert!(
            samples(&again).contains(&"p_tenant_series_capped 0"),
            "{again}"
        );
        assert!(
            again.contains("p_tenant_ready{tenant=\"comune-bari\"} 1"),
            "{again}"
        );
    }

    #[test]
    fn a_bound_of_zero_exports_aggregates_only_and_is_no_cap() {
        let series = TenantSeries::new(0);
        series.set_phase("comune-bari", Phase::Ready);
        series.set_certificate_expiry("comune-bari", "prod", 1_900_000_000);
        let mut text = String::new();
        series.write_text("p", &mut text);
        assert!(!text.contains("tenant=\""), "{text}");
        assert!(
            samples(&text).contains(&"p_tenant_series_capped 0"),
            "{text}"
        );
        assert!(
            samples(&text).contains(&"p_tenant_series_limit 0"),
            "{text}"
        );
        assert!(
            samples(&text).contains(&"p_tenants{phase=\"Ready\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn forgetting_removes_every_series_of_a_tenant_or_environment() {
        let series = TenantSeries::default();
        series.set_phase("comune-bari", Phase::Ready);
        series.set_certificate_expiry("comune-bari", "prod", 1);
        series.set_certificate_expiry("comune-bari", "test", 2);
        series.set_quota("comune-bari", "test", [Some(1.0); 6], [Some(0.0); 6]);
        series.forget_environment("comune-bari", "test");
        let mut text = String::new();
        series.write_text("p", &mut text);
        assert!(!text.contains("environment=\"test\""), "{text}");
        assert!(text.contains("p_certificate_expiry_timestamp_seconds{environment=\"prod\",tenant=\"comune-bari\"} 1\n"));

        series.forget_tenant("comune-bari");
        let mut text = String::new();
        series.write_text("p", &mut text);
        assert!(!text.contains("comune-bari"), "{text}");
        assert!(text.contains("p_tenants{phase=\"Ready\"} 0\n"), "{text}");
    }

    #[test]
    fn a_quota_that_goes_away_takes_its_series_and_nothing_else() {
        let series = TenantSeries::default();
        series.set_phase("comune-bari", Phase::Ready);
        series.set_certificate_expiry("comune-bari", "prod", 1);
        series.set_quota("comune-bari", "prod", [Some(1.0); 6], [Some(0.0); 6]);
        // A quota of a tenant already forgotten (its namespace still terminating).
        series.set_quota("comune-gone", "prod", [Some(1.0); 6], [None; 6]);
        series.clear_quota("comune-bari", "prod");
        series.clear_quota("comune-gone", "prod");
        series.clear_quota("comune-unknown", "prod");
        let mut text = String::new();
        series.write_text("p", &mut text);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("p_quota_hard{") || l.starts_with("p_quota_used{")),
            "{text}"
        );
        assert!(
            text.contains("p_quota_hard_all_tenants{resource=\"pods\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("comune-gone"), "{text}");
        assert!(text.contains("p_certificate_expiry_timestamp_seconds{environment=\"prod\",tenant=\"comune-bari\"} 1\n"));
        assert!(text.contains("p_tenant_ready{tenant=\"comune-bari\"} 1\n"));
    }

    #[test]
    fn label_values_and_special_numbers_are_escaped_as_the_format_requires() {
        let mut out = String::new();
        sample(&mut out, "p", "m", &[("l", "a\"b\\c\nd")], f64::INFINITY);
        sample(&mut out, "p", "m", &[], f64::NAN);
        sample(&mut out, "p", "m", &[], f64::NEG_INFINITY);
        assert_eq!(out, "p_m{l=\"a\\\"b\\\\c\\nd\"} +Inf\np_m NaN\np_m -Inf\n");
    }
}
