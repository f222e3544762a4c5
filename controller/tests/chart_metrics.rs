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
    metrics.set_tenant_phase("comune-bari", Phase::Ready);
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

#[test]
fn alerts_and_dashboard_use_exported_metrics_and_labels() {
    let exported = exported();
    let all_labels: BTreeSet<String> = exported.values().flatten().cloned().collect();
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
        "tenant_operator_tenant_ready",
        "tenant_operator_reconcile_errors_total",
    ] {
        assert!(text.contains(metric), "an alert on {metric}");
    }
}
