//! What per-tenant metric series cost: the `/metrics` exposition of the operator's registry
//! for every Comune of Italy (7,896 tenants, rendered with the classes of
//! `policies/classes/`), each tenant recorded as a reconcile records it (phase, the
//! certificate of each environment, the ResourceQuota of each namespace), encoded
//!
//! - with per-tenant series for every tenant (`--per-tenant-metrics-limit` above the count),
//! - capped (fewer allowed than there are tenants: aggregates only),
//!
//! each once with quota usage as the in-memory API server leaves it (no quota controller, so
//! no `status.used`) and once as a real cluster reports it (usage for every hard limit).
//! Prints series and bytes per tenant (the difference to an empty registry, divided by the
//! tenants), which the chart README quotes, and the capped exposition's size as a ratio of
//! the uncapped one.
//!
//! Run: `cargo bench -p tenant-operator --bench tenant_series`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tenant_operator::api::Phase;
use tenant_operator::labels;
use tenant_operator::render::set::render_set;
use tenant_operator::render::{ChildObject, Platform, RenderContext};
use tenant_operator::samples::{self, Scope};
use tenant_operator::telemetry::Metrics;

/// Sample lines and bytes of an exposition.
fn size(text: &str) -> (usize, usize) {
    let series = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    (series, text.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes = samples::default_classes()?;
    let tenants = samples::comuni_tenants(Scope::Italia);
    let trusted = samples::comuni_trusted(Scope::Italia)?;
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    let rendered = render_set(&tenants, &classes, &trusted, &ctx)?;
    let n = rendered.tenants.len();
    let not_after = jiff::Timestamp::from_second(1_900_000_000)?;

    let record = |metrics: &Metrics, with_usage: bool| {
        for tenant in &rendered.tenants {
            metrics.set_tenant_state(&tenant.tenant, Phase::Ready, "Reconciled");
            for certificate in &tenant.desired.certificates {
                metrics.set_certificate_expiry(&tenant.tenant, &certificate.environment, not_after);
            }
            for object in &tenant.desired.objects {
                let ChildObject::ResourceQuota(quota) = object else {
                    continue;
                };
                let environment = quota
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::ENVIRONMENT))
                    .cloned()
                    .unwrap_or_default();
                let hard = quota
                    .spec
                    .as_ref()
                    .and_then(|s| s.hard.clone())
                    .unwrap_or_default();
                let used: BTreeMap<String, Quantity> = if with_usage {
                    hard.keys()
                        .map(|k| (k.clone(), Quantity("1".into())))
                        .collect()
                } else {
                    BTreeMap::new()
                };
                metrics.set_quota(&tenant.tenant, &environment, &hard, &used);
            }
        }
    };

    let empty = size(&Metrics::with_tenant_series_limit(n)?.encode()?);
    println!(
        "{n} tenants; an empty registry: {} series, {} bytes",
        empty.0, empty.1
    );
    for (case, with_usage) in [
        ("in-memory API server (no quota usage)", false),
        ("real cluster (usage of every quota)", true),
    ] {
        let full = Metrics::with_tenant_series_limit(n)?;
        record(&full, with_usage);
        let full = size(&full.encode()?);
        let capped = Metrics::with_tenant_series_limit(n - 1)?;
        record(&capped, with_usage);
        let capped = size(&capped.encode()?);
        println!("{case}:");
        println!(
            "  per-tenant series on: {} series, {:.2} MB; {:.2} series and {:.0} bytes per tenant",
            full.0,
            full.1 as f64 / 1e6,
            (full.0 - empty.0) as f64 / n as f64,
            (full.1 - empty.1) as f64 / n as f64,
        );
        println!(
            "  capped (aggregates only): {} series, {} bytes; ratio {:.4} of the uncapped scrape",
            capped.0,
            capped.1,
            capped.1 as f64 / full.1 as f64,
        );
    }
    Ok(())
}
