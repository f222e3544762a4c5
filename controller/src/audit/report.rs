//! The audit report: what `-o json` prints, and what the other formats are written from.
//! Field names are part of the CLI's contract with the machines that read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything an audit found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The tenant namespaces audited, sorted by name.
    pub namespaces: Vec<TenantNamespace>,
    /// Who can reach whom, sorted by `from` then `to`.
    pub reachability: Vec<Reach>,
    /// Who may do what in each tenant namespace, sorted by subject then namespace.
    pub access: Vec<Access>,
    /// The checks, failures first, then by id and namespace.
    pub checks: Vec<CheckResult>,
    /// Counts.
    pub summary: Summary,
    /// What the audit left out, and why (e.g. a policy in a namespace not among the inputs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A tenant namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantNamespace {
    /// The namespace.
    pub name: String,
    /// Its tenant.
    pub tenant: String,
    /// Its environment, if labelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// Whether traffic passes from one endpoint to another.
///
/// Endpoints are namespace names, or `egress:<destination>` (a named destination of the
/// tenant's class), `dns` (the cluster DNS), `ingress-gateway` (the regional ingress
/// gateway's namespace) and `monitoring` (the monitoring stack's namespace).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reach {
    /// Where traffic starts.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// Whether any traffic passes.
    pub allowed: bool,
    /// The ports it may use (see [`super::ports::PortSet::entries`]); empty when blocked.
    pub ports: Vec<String>,
    /// Present when not every pod can use all of `ports`: the ports every pod can use
    /// (possibly none). What else is allowed depends on pod labels, or on whether the
    /// network plugin applies `ipBlock`s to pod IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconditional_ports: Option<Vec<String>>,
    /// `namespace/name` of the policies that decide: those that allow it; when it is
    /// blocked, those that isolate the side that blocks it (only the ones without rules
    /// of that direction, such as a default deny, when there are any).
    pub policies: Vec<String>,
}

/// What one subject may do in one namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// `Group:<name>`, `User:<name>` or `ServiceAccount:<namespace>/<name>`.
    pub subject: String,
    /// The namespace, or `*` for rights in every namespace (ClusterRoleBindings).
    pub namespace: String,
    /// Verbs by resource (`pods`, `apps/deployments`, `pods/exec`, `*` for every resource),
    /// each list sorted.
    pub verbs: BTreeMap<String, Vec<String>>,
    /// What a security reviewer looks for first: `writes-isolation`, `reads-secrets`,
    /// `exec`, `escalates`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// `namespace/name` of the bindings that grant it.
    pub bindings: Vec<String>,
}

/// The outcome of one check in one namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The check failed (sorted first).
    Fail,
    /// The check passed.
    Pass,
    /// The check does not apply here (the evidence says why).
    NotApplicable,
}

/// One check, in one namespace (or cluster-wide).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The check's id: `MTB-...` for the Multi-Tenancy Benchmarks, `TENANCY-...` for this
    /// project's own.
    pub id: String,
    /// What the check requires.
    pub title: String,
    /// The tenant namespace, or absent for a cluster-wide check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The outcome.
    pub result: Outcome,
    /// Why: the objects and values that decided it.
    pub evidence: Vec<String>,
    /// The TenantService the namespace belongs to, and the field of it that the check is
    /// about (for locating a failure in a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A field of a TenantService.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The TenantService's name.
    pub tenant: String,
    /// The field, e.g. `spec.network.allowFrom`.
    pub field: String,
}

/// Counts, for a one-line verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Tenants (distinct `tenancy.innova.puglia.it/tenant` labels of namespaces).
    pub tenants: usize,
    /// Tenant namespaces.
    pub tenant_namespaces: usize,
    /// Ordered pairs of distinct tenant namespaces.
    pub tenant_pairs: usize,
    /// Of those, the pairs where traffic passes.
    pub tenant_pairs_allowed: usize,
    /// Subjects with rights in tenant namespaces.
    pub subjects: usize,
    /// Checks by outcome.
    pub checks: CheckCounts,
}

/// Checks by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckCounts {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Not applicable.
    pub not_applicable: usize,
}

impl Report {
    /// Whether every check passed (or did not apply).
    pub fn passed(&self) -> bool {
        self.summary.checks.fail == 0
    }
}
