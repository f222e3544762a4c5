//! `tenant-operator audit`: the effective isolation of a set of objects — who can reach
//! whom, who can do what, and the Multi-Tenancy Benchmark checks — computed from the
//! objects themselves (NetworkPolicies, RBAC, quotas, namespace labels, admission
//! policies), not from what render meant to create. Pure: a [`Snapshot`] in, a
//! [`Report`] out; the CLI gathers the snapshot (rendered offline, or listed from a
//! cluster) and prints the report.
//!
//! - [`netpol`]: the NetworkPolicy evaluator, on [`selector`] and [`ports`];
//! - [`reachability`]: the evaluator applied to every tenant namespace, with [`index`]
//!   keeping it near-linear;
//! - [`access`]: who may do what, with the RBAC semantics of the `rbac` crate;
//! - [`checks`]: benchmark and project checks;
//! - [`report`]: the report model; [`compare`]: what a change adds or removes;
//!   [`output`]: text, markdown, JSON and SARIF;
//! - [`snapshot`], [`model`], [`platform`]: the inputs; [`live`]: reading them from a
//!   cluster.

pub mod access;
pub mod checks;
pub mod compare;
pub mod index;
pub mod live;
pub mod model;
pub mod netpol;
pub mod output;
pub mod platform;
pub mod ports;
pub mod reachability;
pub mod report;
pub mod selector;
pub mod snapshot;

use std::collections::BTreeSet;

pub use model::Settings;
pub use report::Report;
pub use snapshot::Snapshot;

use index::NamespaceIndex;
use model::Model;
use report::{CheckCounts, Outcome, Summary};

/// Why a snapshot could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A NetworkPolicy the API server would have refused.
    #[error(transparent)]
    Policy(#[from] netpol::PolicyError),
    /// The embedded platform manifests do not parse (a broken build).
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
}

/// Audits a snapshot.
pub fn audit(snapshot: &Snapshot, settings: &Settings) -> Result<Report, AuditError> {
    let model = Model::build(snapshot, settings)?;
    let mut index = NamespaceIndex::new(model.namespaces.iter().map(|n| &n.labels));
    let reach = reachability::compute(&model, &mut index);
    let partners = checks::consent_partners(&model);
    let rbac = access::Rbac::build(&model);
    let expected_policies = platform::admission_policy_names()?;
    let mut check_results = checks::run(
        &model,
        &mut index,
        &checks::Inputs {
            reachability: &reach,
            partners: &partners,
            expected_admission_policies: &expected_policies,
            rbac: &rbac,
        },
    );
    check_results.sort_by(|a, b| {
        (a.result, &a.id, &a.title, &a.namespace).cmp(&(b.result, &b.id, &b.title, &b.namespace))
    });
    let count = |outcome: Outcome| check_results.iter().filter(|c| c.result == outcome).count();
    let tenants: BTreeSet<&str> = model
        .tenant_namespaces
        .iter()
        .filter_map(|&n| model.namespaces[n].tenant.as_deref())
        .collect();
    let access = access::entries(&model, &rbac);
    let subjects = access
        .iter()
        .map(|a| a.subject.as_str())
        .collect::<BTreeSet<&str>>()
        .len();
    let summary = Summary {
        tenants: tenants.len(),
        tenant_namespaces: model.tenant_namespaces.len(),
        tenant_pairs: reach.total_pairs,
        tenant_pairs_allowed: reach.allowed_pairs,
        subjects,
        checks: CheckCounts {
            pass: count(Outcome::Pass),
            fail: count(Outcome::Fail),
            not_applicable: count(Outcome::NotApplicable),
        },
    };
    let namespaces = model
        .tenant_namespaces
        .iter()
        .map(|&n| {
            let ns = &model.namespaces[n];
            report::TenantNamespace {
                name: ns.name.clone(),
                tenant: ns.tenant.clone().unwrap_or_default(),
                environment: ns.environment.clone(),
            }
        })
        .collect();
    Ok(Report {
        namespaces,
        reachability: reachability::entries(&model, &reach),
        access,
        checks: check_results,
        summary,
        notes: model.notes.clone(),
    })
}

#[cfg(test)]
mod tests;
