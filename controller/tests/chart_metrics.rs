//! The chart's alerts (PrometheusRule) and Grafana dashboard refer only to metrics and
//! labels the operator exports (`tenant_operator::telemetry::Metrics`): a renamed metric
//! fails here instead of silently turning an alert into one that never fires.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tenant_operator::api::Phase;
use tenant_operator::telemetry::Metrics;
use tenant_operator::telemetry::metrics::QUOTA_RESOURCES;

fn chart_file(path: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/tenant-operator")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

/// Every series name the operator exports, with every label name seen on it, after one
/// value has been recorded in each metric (vectors export nothing until they have a child).
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let metrics = Metrics::new().expect("metrics register");
    metrics.reconciles.inc();
    metrics.reconcile_errors.with_label_values(&["Apply"]).inc();
    metrics.reconcile_duration.observe(0.01);
    metrics
        .drift_corrections
        .with_label_values(&["NetworkPolicy"])
        .inc();
    metrics
        .writes
        .with_label_values(&["patch", "NetworkPolicy"])
        .inc();
    metrics
        .certificates_issued
        .with_label_values(&["Missing"])
        .inc();
    metrics.leader.set(1);
    metrics
        .class_rollout_pending
        .with_label_values(&["small"])
        .set(3);
    metrics.set_tenant_phase("comune-bari", Phase::Ready);
    metrics.set_tenant_state("comune-lecce", Phase::Failed, "InvalidSpec");
    metrics.set_certificate_expiry("comune-bari", "prod", jiff::Timestamp::UNIX_EPOCH);
    let quantities: BTreeMap<String, Quantity> = QUOTA_RESOURCES
        .iter()
        .map(|r| (r.to_string(), Quantity("1".into())))
        .collect();
    metrics.set_quota("comune-bari", "prod", &quantities, &quantities);

    let text = metrics.encode().expect("metrics encode");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = line.split_once(['{', ' ']).unwrap_or((line, ""));
        let labels = out.entry(name.to_string()).or_default();
        if let Some((inside, _)) = rest.split_once('}') {
            for pair in inside.split(',') {
                if let Some((label, _)) = pair.split_once('=') {
                    labels.insert(label.to_string());
                }
            }
        }
    }
    out
}

/// `tenant_operator_*` identifiers in a text.
fn referenced_metrics(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tenant_operator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // The bare prefix (`tenant_operator_` in prose) names no metric.
        if !tail[..end].ends_with('_') {
            found.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    found
}

/// Label names in `by (...)` clauses and `$labels.x` / `{{x}}` templates of a text.
fn referenced_labels(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (open, close) in [("by (", ")"), ("$labels.", " "), ("{{", "}}")] {
        let mut rest = text;
        while let Some(at) = rest.find(open) {
            let tail = &rest[at + open.len()..];
            let end = tail.find(close).unwrap_or(tail.len());
            for label in tail[..end].split(',') {
                let label = label.trim().trim_end_matches('}');
                if !label.is_empty() && label.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    found.insert(label.to_string());
                }
            }
            rest = &tail[end..];
        }
    }
    found.remove("le"); // histogram buckets
    found
}

/// Metrics of other exporters the alerts use, with their labels: the operator cannot count
/// its own restarts, kube-state-metrics does.
const EXTERNAL_METRICS: &[(&str, &[&str])] = &[(
    "kube_pod_container_status_restarts_total",
    &["namespace", "pod", "container"],
)];

#[test]
fn alerts_and_dashboard_use_exported_metrics_and_labels() {
    let exported = exported();
    let all_labels: BTreeSet<String> = exported
        .values()
        .flatten()
        .cloned()
        .chain(
            EXTERNAL_METRICS
                .iter()
                .flat_map(|(_, labels)| labels.iter().map(|l| (*l).to_string())),
        )
        .collect();
    for file in [
        "templates/prometheusrule.yaml",
        "files/dashboards/tenant-operator.json",
    ] {
        let (path, text) = chart_file(file);
        let metrics = referenced_metrics(&text);
        assert!(
            !metrics.is_empty(),
            "{}: refers to no metric",
            path.display()
        );
        for metric in &metrics {
            assert!(
                exported.contains_key(metric),
                "{}: {metric} is not exported by the operator; exported: {:?}",
                path.display(),
                exported.keys().collect::<Vec<_>>()
            );
        }
        for label in referenced_labels(&text) {
            assert!(
                all_labels.contains(&label),
                "{}: label {label} is on no exported series; labels: {all_labels:?}",
                path.display()
            );
        }
    }
}

#[test]
fn the_alerts_required_by_the_issue_exist() {
    let (_, text) = chart_file("templates/prometheusrule.yaml");
    for metric in [
        "tenant_operator_certificate_expiry_timestamp_seconds",
        // Per-tenant series stop beyond metrics.perTenant.maxTenants: the certificate alerts
        // fall back on the earliest expiry, which is always exported.
        "tenant_operator_certificate_expiry_earliest_timestamp_seconds",
        "tenant_operator_workqueue_oldest_wait_seconds",
        "tenant_operator_tenant_series_capped",
        "tenant_operator_tenants_not_ready",
        "tenant_operator_reconcile_errors_total",
        "tenant_operator_leader",
        "tenant_operator_drift_corrections_total",
        "kube_pod_container_status_restarts_total",
    ] {
        assert!(text.contains(metric), "an alert on {metric}");
    }
}

/// The alerts of the rendered PrometheusRule as (name, severity, runbook_url).
fn rendered_alerts() -> Option<Vec<(String, String, String)>> {
    let helm = fake_apiserver::tools::find("helm")?;
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/tenant-operator");
    let out = std::process::Command::new(helm)
        .args(["template", "tenant-operator"])
        .arg(&chart)
        .args([
            "--namespace",
            "tenant-operator",
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ])
        .output()
        .expect("running helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rule: serde_json::Value =
        serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).expect("YAML");
    let mut alerts = Vec::new();
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            alerts.push((
                field(&r["alert"]),
                field(&r["labels"]["severity"]),
                field(&r["annotations"]["runbook_url"]),
            ));
        }
    }
    Some(alerts)
}

/// Every alert links a runbook of docs/runbooks/ that exists and names the alert, and has
/// a severity the routing of docs/runbooks/README.md knows.
#[test]
fn every_alert_has_a_runbook_that_exists() {
    let Some(alerts) = rendered_alerts() else {
        return;
    };
    assert!(alerts.len() >= 10, "{alerts:?}");
    let runbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbooks");
    let (_, values) = chart_file("values.yaml");
    let base = values
        .lines()
        .find_map(|l| l.trim().strip_prefix("runbookBaseUrl: "))
        .expect("runbookBaseUrl in values.yaml");
    let index = std::fs::read_to_string(runbooks.join("README.md")).expect("runbook index");
    for (alert, severity, url) in &alerts {
        assert!(
            ["critical", "warning", "info"].contains(&severity.as_str()),
            "{alert}: severity {severity:?} is not routed (docs/runbooks/README.md)"
        );
        let file = url
            .strip_prefix(&format!("{base}/"))
            .unwrap_or_else(|| panic!("{alert}: runbook_url {url:?} is not under {base}"));
        let path = runbooks.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{alert}: runbook {}: {e}", path.display()));
        assert!(
            text.contains(alert.as_str()),
            "{}: does not name the alert {alert}",
            path.display()
        );
        assert!(
            index.contains(alert.as_str()),
            "docs/runbooks/README.md: lists no {alert}"
        );
    }
}

/// Tenant readiness never pages per tenant, and spec errors never page.
#[test]
fn readiness_alerts_aggregate_and_spec_errors_do_not_page() {
    let (_, text) = chart_file("templates/prometheusrule.yaml");
    assert!(
        !text.contains("tenant_operator_tenant_ready"),
        "no alert on the per-tenant readiness series"
    );
    let Some(alerts) = rendered_alerts() else {
        return;
    };
    let severity = |name: &str| {
        alerts
            .iter()
            .find(|(alert, _, _)| alert == name)
            .map_or_else(|| panic!("no alert {name}"), |(_, s, _)| s.clone())
    };
    assert_eq!(severity("TenantsNotReady"), "critical");
    assert_eq!(severity("TenantSpecErrors"), "info");
}
