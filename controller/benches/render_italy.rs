//! Render throughput over every Comune of Italy (7,896 generated tenants, classes from
//! `policies/classes/`), on one thread, the target being under 2 seconds for
//! validation and render together:
//!
//! - `validate + render`: [`render_set`]: every tenant's rules (class, ISTAT registry,
//!   quotas, egress, hostnames, reserved namespaces, hostnames inside the domain delegated
//!   to each Comune), the cross-tenant checks, then every child object (what
//!   `tenant-operator render` does once the manifests are read, less the schema and CEL
//!   checks that the `validate` benchmark measures);
//! - `+ JSON`: the same, plus each object serialised as the controller applies it.
//!
//! Run: `cargo bench -p tenant-operator --bench render_italy` (prints tenants per second).

mod common;

use std::time::Duration;

use tenant_operator::render::set::{RenderedSet, render_set};
use tenant_operator::render::{Platform, RenderContext};
use tenant_operator::samples::{self, Scope};

use common::best_of;
/// Repetitions of each measurement; the best run is reported (least disturbed by other
/// processes on a shared machine).
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes = samples::default_classes()?;
    let tenants = samples::comuni_tenants(Scope::Italia);
    // One DomainDelegation per Comune: every hostname is checked against its body's.
    let trusted = samples::comuni_trusted(Scope::Italia)?;
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    let n = tenants.len();

    let (time, rendered) = best_of(RUNS, || render_set(&tenants, &classes, &trusted, &ctx));
    let rendered: RenderedSet = rendered?;
    let objects: usize = rendered
        .tenants
        .iter()
        .map(|t| t.desired.objects.len())
        .sum();
    report("validate + render", n, objects, time);

    let (time, bytes) = best_of(RUNS, || -> Result<usize, Box<dyn std::error::Error>> {
        let set = render_set(&tenants, &classes, &trusted, &ctx)?;
        let mut bytes = 0;
        for tenant in &set.tenants {
            for object in &tenant.desired.objects {
                bytes += serde_json::to_vec(&object.to_json()?)?.len();
            }
        }
        Ok(bytes)
    });
    let bytes = bytes?;
    report("validate + render + JSON", n, objects, time);
    println!("  ({:.1} MB of JSON)", bytes as f64 / 1e6);
    Ok(())
}

fn report(what: &str, tenants: usize, objects: usize, time: Duration) {
    let seconds = time.as_secs_f64();
    println!(
        "{what}: {tenants} tenants ({objects} objects) in {seconds:.3} s = {:.0} tenants/s{}",
        tenants as f64 / seconds,
        if seconds < 2.0 {
            ""
        } else {
            " (over the 2 s target)"
        }
    );
}
