//! Offline audit of every Comune of Italy (7,896 generated tenants, classes from
//! `policies/classes/`), on one thread, against the target of 10 seconds:
//!
//! - `audit`: [`audit::audit`] on the rendered objects (with the chart's platform objects):
//!   reachability, access and checks of every tenant namespace;
//! - `render + audit + JSON`: what `tenant-operator audit -f` does once the manifests are
//!   read, the report serialised as `-o json` prints it.
//!
//! Run: `cargo bench -p tenant-operator --bench audit_italy` (prints seconds and the ratio
//! to the target).

mod common;

use std::time::Duration;

use tenant_operator::audit::{self, Settings, Snapshot};
use tenant_operator::samples::{self, Scope};

use common::best_of;
/// Repetitions of each measurement; the best run is reported (least disturbed by other
/// processes on a shared machine).
const RUNS: usize = 3;
/// The target for all of Italy.
const TARGET: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes = samples::default_classes()?;
    let tenants = samples::comuni_tenants(Scope::Italia);
    let delegations = samples::comuni_delegations(Scope::Italia);
    let settings = Settings::default();
    let snapshot = Snapshot::render(
        tenants.clone(),
        classes.clone(),
        delegations.clone(),
        &settings.platform,
    )?;
    let namespaces = snapshot.namespaces.len();
    let policies = snapshot.network_policies.len();

    let (time, report) = best_of(RUNS, || audit::audit(&snapshot, &settings));
    let report = report?;
    print("audit", tenants.len(), namespaces, policies, time);
    println!(
        "  {} reachability entries, {} access entries, {} checks ({} failed), {} of {} tenant namespace pairs connected",
        report.reachability.len(),
        report.access.len(),
        report.checks.len(),
        report.summary.checks.fail,
        report.summary.tenant_pairs_allowed,
        report.summary.tenant_pairs
    );

    let (time, bytes) = best_of(RUNS, || -> Result<usize, Box<dyn std::error::Error>> {
        let snapshot = Snapshot::render(
            tenants.clone(),
            classes.clone(),
            delegations.clone(),
            &settings.platform,
        )?;
        let report = audit::audit(&snapshot, &settings)?;
        Ok(audit::output::json(&report)?.len())
    });
    let bytes = bytes?;
    print(
        "render + audit + JSON",
        tenants.len(),
        namespaces,
        policies,
        time,
    );
    println!("  ({:.1} MB of JSON)", bytes as f64 / 1e6);
    Ok(())
}

fn print(what: &str, tenants: usize, namespaces: usize, policies: usize, time: Duration) {
    let seconds = time.as_secs_f64();
    println!(
        "{what}: {tenants} tenants, {namespaces} namespaces, {policies} NetworkPolicies in {seconds:.2} s; ratio to the {} s target: {:.2}",
        TARGET.as_secs(),
        seconds / TARGET.as_secs_f64()
    );
}
