//! `DomainDelegation`: the DNS domains a public body may name in its tenants' hostnames.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// DNS domains delegated to a public body, by its IPA code: its tenants may list hostnames
/// equal to one of these domains or below one of them, and the regional CA issues
/// certificates for nothing else. Written by datacenter operators only (the chart's RBAC
/// and the `protect-domain-delegations` admission policy); kept, with the TenantClasses, in
/// the trusted policy folder (`policies/delegations/`), never in the files of a tenant's
/// pull request.
// Cluster-scoped like the other kinds: a delegation belongs to no tenant namespace.
// clippy reads the repeated `type_ = "string"` of kube's printcolumn(...) arguments as
// duplicated attributes; they are arguments of distinct columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tenancy.innova.puglia.it",
    version = "v1alpha1",
    kind = "DomainDelegation",
    plural = "domaindelegations",
    singular = "domaindelegation",
    shortname = "dd",
    category = "tenancy",
    doc = "DNS domains delegated to a public body (by IPA code): its tenants may only list hostnames inside them. Written by datacenter operators only.",
    printcolumn(
        name = "IPA",
        type_ = "string",
        json_path = ".spec.ipaCode",
        description = "IPA code of the public body"
    ),
    printcolumn(
        name = "Domains",
        type_ = "string",
        json_path = ".spec.domains",
        description = "Delegated DNS domains"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct DomainDelegationSpec {
    /// Code of the public body in the national IPA index, as in the `spec.entity.ipaCode`
    /// of its TenantServices, e.g. `c_f284`.
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^[a-z0-9_]+$"))]
    pub ipa_code: String,

    /// DNS domains delegated to the body, e.g. `comune.molfetta.ba.it`. A hostname is
    /// inside a domain when it equals it or ends with `.` and the domain. No wildcards:
    /// a domain covers every name below it.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub domains: Vec<String>,

    /// Who asked for the delegation and why (e.g. a ticket), for the reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}
