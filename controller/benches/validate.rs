//! Validation throughput over every Comune of Italy (7,896 generated tenants, classes
//! from `policies/classes/`), in two measurements:
//!
//! - `rules`: [`validate_tenant`], [`validate_trusted`] (reserved namespaces, the domain
//!   delegated to each Comune) and [`validate_against_peers`] on typed objects, what the
//!   controller runs before each render;
//! - `validate`: what `tenant-operator validate -f DIR` does after reading the files:
//!   parse the multi-document YAML with line maps, check the CRD schema and CEL rules,
//!   run the rules and the cross-document checks, with one DomainDelegation per Comune in
//!   the trusted folder (checked too).
//!
//! Run: `cargo bench -p tenant-operator --bench validate` (single-threaded; prints
//! tenants per second).

mod common;

use std::path::Path;
use std::time::Duration;

use tenant_operator::api::TenantClass;
use tenant_operator::api::validation::{validate_against_peers, validate_tenant, validate_trusted};
use tenant_operator::manifest;
use tenant_operator::manifest::check::Checker;
use tenant_operator::samples::{self, Scope};

use common::best_of;
/// Repetitions of each measurement; the best run is reported (least disturbed by other
/// processes on a shared machine).
const RUNS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/classes");
    let (class_docs, syntax) = manifest::load(std::slice::from_ref(&classes_dir))?;
    if !syntax.is_empty() {
        return Err(format!("policies/classes does not parse: {syntax:?}").into());
    }
    let classes: Vec<TenantClass> = class_docs
        .iter()
        .map(|d| serde_json::from_value(d.value.clone()))
        .collect::<Result<_, _>>()?;
    let tenants = samples::comuni_tenants(Scope::Italia);
    let trusted = samples::comuni_trusted(Scope::Italia)?;
    let n = tenants.len();

    let (rules_time, problems) = best_of(RUNS, || {
        let mut problems = 0;
        for t in &tenants {
            let class = classes
                .iter()
                .find(|c| c.metadata.name.as_ref() == Some(&t.spec.class));
            problems += validate_tenant(t, class).len();
            let delegated = trusted.delegations.domains_of(&t.spec.entity.ipa_code);
            problems += validate_trusted(t, &trusted.reserved, delegated).len();
            problems += validate_against_peers(t, &[]).len();
        }
        problems
    });
    report("rules (typed, per tenant)", n, rules_time, problems);

    let text = tenants
        .iter()
        .map(serde_saphyr::to_string)
        .collect::<Result<Vec<_>, _>>()?
        .join("---\n");
    // The trusted folder: the classes and a delegation per Comune.
    let delegations = samples::comuni_delegations(Scope::Italia)
        .iter()
        .map(serde_saphyr::to_string)
        .collect::<Result<Vec<_>, _>>()?
        .join("---\n");
    let mut library = class_docs;
    library.extend(manifest::parse("delegations.yaml", &delegations).0);
    let checker = Checker::new();
    let (parse_time, docs) = best_of(RUNS, || manifest::parse("italia.yaml", &text).0);
    report("parse YAML (line maps on demand)", n, parse_time, 0);
    let (check_time, errors) = best_of(RUNS, || checker.check(&docs, &library, &[]).findings.len());
    report("schema + CEL + rules + cross-file", n, check_time, errors);
    report(
        "validate total (parse + check)",
        n,
        parse_time + check_time,
        errors,
    );
    if problems + errors > 0 {
        return Err(format!("{} problems in generated tenants", problems + errors).into());
    }
    Ok(())
}

fn report(what: &str, n: usize, time: Duration, problems: usize) {
    let secs = time.as_secs_f64();
    println!(
        "{what:<36} {n} tenants in {:>8.1} ms = {:>9.0} tenants/s ({problems} problems)",
        secs * 1e3,
        n as f64 / secs
    );
}
