//! Reading a live cluster into a [`Snapshot`]: list calls only, with exactly the rights
//! of the chart's read-only auditor ClusterRole ([`READS`]).

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::snapshot::Snapshot;
use crate::api::{DomainDelegation, TenantClass, TenantService};

/// What `audit --kubeconfig` lists, as (API group, resource): the chart's auditor
/// ClusterRole grants `get` and `list` on exactly these (`controller/tests/chart_rbac.rs`).
pub const READS: [(&str, &str); 13] = [
    ("", "namespaces"),
    ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("", "resourcequotas"),
    ("", "limitranges"),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("tenancy.innova.puglia.it", "tenantservices"),
    ("tenancy.innova.puglia.it", "tenantclasses"),
    ("tenancy.innova.puglia.it", "domaindelegations"),
];

/// A list call that failed.
#[derive(Debug, thiserror::Error)]
#[error("listing {resource}: {source}")]
pub struct ReadError {
    /// The resource.
    pub resource: String,
    /// What the client said.
    #[source]
    pub source: kube::Error,
}

/// Lists every object the audit reads. Admission policies are optional (a cluster older
/// than Kubernetes 1.30 does not serve them): their absence becomes a note, which the
/// admission policy check then reports as failing.
pub async fn snapshot(client: &Client) -> Result<(Snapshot, Vec<String>), ReadError> {
    let mut notes = Vec::new();
    let snapshot = Snapshot {
        namespaces: list::<Namespace>(client).await?,
        network_policies: list::<NetworkPolicy>(client).await?,
        roles: list::<Role>(client).await?,
        cluster_roles: list::<ClusterRole>(client).await?,
        role_bindings: list::<RoleBinding>(client).await?,
        cluster_role_bindings: list::<ClusterRoleBinding>(client).await?,
        resource_quotas: list::<ResourceQuota>(client).await?,
        limit_ranges: list::<LimitRange>(client).await?,
        admission_policies: optional(list::<ValidatingAdmissionPolicy>(client).await, &mut notes)?,
        admission_policy_bindings: optional(
            list::<ValidatingAdmissionPolicyBinding>(client).await,
            &mut notes,
        )?,
        tenants: list::<TenantService>(client).await?,
        classes: list::<TenantClass>(client).await?,
        // Optional as the admission policies: a cluster whose CRDs predate the kind.
        delegations: optional(list::<DomainDelegation>(client).await, &mut notes)?,
    };
    Ok((snapshot, notes))
}

/// Every object of a kind, in every namespace.
async fn list<K>(client: &Client) -> Result<Vec<K>, ReadError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .map(|list| list.items)
        .map_err(|source| ReadError {
            resource: K::plural(&K::DynamicType::default()).to_string(),
            source,
        })
}

/// A list whose resource the server may not serve (404): empty, with a note.
fn optional<K>(
    result: Result<Vec<K>, ReadError>,
    notes: &mut Vec<String>,
) -> Result<Vec<K>, ReadError> {
    match result {
        Err(ReadError {
            resource,
            source: kube::Error::Api(status),
        }) if status.code == 404 => {
            notes.push(format!(
                "the cluster does not serve {resource}: read as none"
            ));
            Ok(Vec::new())
        }
        other => other,
    }
}
