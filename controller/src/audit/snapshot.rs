//! The objects an audit reads, whatever their source: rendered from TenantServices (with
//! the platform objects the chart installs and any extra manifests under review), or
//! listed from a live cluster.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::platform::{self, PlatformError};
use crate::api::validation::{Delegations, InvalidReservedName, ReservedNamespaces, Trusted};
use crate::api::{DomainDelegation, TenantClass, TenantService};
use crate::labels;
use crate::render::ChildObject;
use crate::render::set::{self, RenderedTenant, SetError};
use crate::render::{Platform, RenderContext};

/// Every object the audit looks at.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Namespaces, with their labels.
    pub namespaces: Vec<Namespace>,
    /// NetworkPolicies of every namespace.
    pub network_policies: Vec<NetworkPolicy>,
    /// Roles of every namespace.
    pub roles: Vec<Role>,
    /// ClusterRoles.
    pub cluster_roles: Vec<ClusterRole>,
    /// RoleBindings of every namespace.
    pub role_bindings: Vec<RoleBinding>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// ResourceQuotas of every namespace.
    pub resource_quotas: Vec<ResourceQuota>,
    /// LimitRanges of every namespace.
    pub limit_ranges: Vec<LimitRange>,
    /// ValidatingAdmissionPolicies.
    pub admission_policies: Vec<ValidatingAdmissionPolicy>,
    /// ValidatingAdmissionPolicyBindings.
    pub admission_policy_bindings: Vec<ValidatingAdmissionPolicyBinding>,
    /// TenantServices: what each tenant asked for (consent, egress, hostnames).
    pub tenants: Vec<TenantService>,
    /// TenantClasses: the egress catalogue of each class.
    pub classes: Vec<TenantClass>,
    /// DomainDelegations: the DNS domains each body's certificates may name.
    pub delegations: Vec<DomainDelegation>,
}

/// A manifest that names an audited kind but does not read as that kind.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: {source}")]
pub struct ManifestError {
    /// The manifest's kind.
    pub kind: String,
    /// `namespace/name` or `name`.
    pub name: String,
    /// What serde said, with the field.
    #[source]
    pub source: serde_json::Error,
}

/// The kinds an audit reads, as (apiVersion, kind): every other kind in the inputs is
/// left out of the audit.
pub const AUDITED_KINDS: [(&str, &str); 12] = [
    ("v1", "Namespace"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
    ),
    (crate::api::API_VERSION, "TenantService"),
    (crate::api::API_VERSION, "TenantClass"),
];

/// Why the platform objects could not be added to a rendered snapshot (a broken build).
#[derive(Debug, thiserror::Error)]
pub enum PlatformSnapshotError {
    /// An embedded file does not parse.
    #[error(transparent)]
    Parse(#[from] PlatformError),
    /// An embedded object does not read as its kind.
    #[error("embedded platform manifest: {0}")]
    Object(#[from] ManifestError),
}

/// Why a set of TenantServices could not be turned into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum RenderSnapshotError {
    /// The set is invalid or does not render.
    #[error(transparent)]
    Set(#[from] SetError),
    /// The platform objects could not be added.
    #[error(transparent)]
    Platform(#[from] PlatformSnapshotError),
    /// The platform's namespaces are not namespace names.
    #[error(transparent)]
    Reserved(#[from] InvalidReservedName),
}

impl Snapshot {
    /// Validates and renders `tenants` (with the rules the controller applies), then
    /// [`Snapshot::rendered`]: for tests, benchmarks and other callers that start from
    /// typed objects rather than from checked manifests.
    pub fn render(
        tenants: Vec<TenantService>,
        classes: Vec<TenantClass>,
        delegations: Vec<DomainDelegation>,
        platform: &Platform,
    ) -> Result<Snapshot, RenderSnapshotError> {
        let ctx = RenderContext {
            platform,
            peers: &[],
            ca_certificate: None,
        };
        let trusted = Trusted {
            reserved: ReservedNamespaces::new(
                platform.trusted_namespaces(),
                labels::DEFAULT_OPERATOR_NAMESPACE,
                &[],
            )?,
            delegations: Delegations::new(&delegations),
        };
        let rendered = set::render_set(&tenants, &classes, &trusted, &ctx)?;
        let mut snapshot = Snapshot::rendered(tenants, classes, rendered.tenants)?;
        snapshot.delegations = delegations;
        Ok(snapshot)
    }

    /// What a cluster holds once `rendered` (the objects of `tenants`) is applied on top of
    /// what the chart installs (tenant ClusterRoles, admission policies).
    pub fn rendered(
        tenants: Vec<TenantService>,
        classes: Vec<TenantClass>,
        rendered: Vec<RenderedTenant>,
    ) -> Result<Snapshot, PlatformSnapshotError> {
        let mut snapshot = Snapshot {
            tenants,
            classes,
            ..Snapshot::default()
        };
        for document in platform::documents()? {
            snapshot.apply(&document.value)?;
        }
        for tenant in rendered {
            for object in tenant.desired.objects {
                snapshot.add_child(object);
            }
        }
        Ok(snapshot)
    }

    /// Adds a rendered child object (those of kinds the audit reads).
    pub fn add_child(&mut self, object: ChildObject) {
        match object {
            ChildObject::Namespace(o) => self.namespaces.push(o),
            ChildObject::NetworkPolicy(o) => self.network_policies.push(o),
            ChildObject::ResourceQuota(o) => self.resource_quotas.push(o),
            ChildObject::LimitRange(o) => self.limit_ranges.push(o),
            ChildObject::Role(o) => self.roles.push(o),
            ChildObject::RoleBinding(o) => self.role_bindings.push(o),
            // The CA bundle and TLS Secrets decide nothing about isolation.
            ChildObject::ConfigMap(_) | ChildObject::Secret(_) => {}
        }
    }

    /// Adds a manifest as `kubectl apply` would: it replaces an object of the same kind,
    /// namespace and name. Returns `false` for a kind the audit does not read.
    pub fn apply(&mut self, manifest: &Value) -> Result<bool, ManifestError> {
        let api_version = manifest.get("apiVersion").and_then(Value::as_str);
        let kind = manifest.get("kind").and_then(Value::as_str);
        let Some((_, kind)) = AUDITED_KINDS
            .iter()
            .find(|(v, k)| Some(*v) == api_version && Some(*k) == kind)
        else {
            return Ok(false);
        };
        match *kind {
            "Namespace" => replace(&mut self.namespaces, manifest, kind, |o| &o.metadata),
            "NetworkPolicy" => replace(&mut self.network_policies, manifest, kind, |o| &o.metadata),
            "Role" => replace(&mut self.roles, manifest, kind, |o| &o.metadata),
            "ClusterRole" => replace(&mut self.cluster_roles, manifest, kind, |o| &o.metadata),
            "RoleBinding" => replace(&mut self.role_bindings, manifest, kind, |o| &o.metadata),
            "ClusterRoleBinding" => replace(&mut self.cluster_role_bindings, manifest, kind, |o| {
                &o.metadata
            }),
            "ResourceQuota" => replace(&mut self.resource_quotas, manifest, kind, |o| &o.metadata),
            "LimitRange" => replace(&mut self.limit_ranges, manifest, kind, |o| &o.metadata),
            "ValidatingAdmissionPolicy" => {
                replace(&mut self.admission_policies, manifest, kind, |o| {
                    &o.metadata
                })
            }
            "ValidatingAdmissionPolicyBinding" => {
                replace(&mut self.admission_policy_bindings, manifest, kind, |o| {
                    &o.metadata
                })
            }
            "TenantService" => replace(&mut self.tenants, manifest, kind, |o| &o.metadata),
            _ => replace(&mut self.classes, manifest, kind, |o| &o.metadata),
        }?;
        Ok(true)
    }
}

/// Reads `manifest` as `T` and puts it in `list`, in place of an object with the same
/// namespace and name.
fn replace<T: DeserializeOwned>(
    list: &mut Vec<T>,
    manifest: &Value,
    kind: &str,
    meta: impl Fn(&T) -> &ObjectMeta,
) -> Result<(), ManifestError> {
    let object: T = serde_json::from_value(manifest.clone()).map_err(|source| ManifestError {
        kind: kind.to_string(),
        name: display_name(manifest),
        source,
    })?;
    let key = |m: &ObjectMeta| (m.namespace.clone(), m.name.clone());
    let new_key = key(meta(&object));
    match list.iter().position(|o| key(meta(o)) == new_key) {
        Some(i) => list[i] = object,
        None => list.push(object),
    }
    Ok(())
}

fn display_name(manifest: &Value) -> String {
    let meta = manifest.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (field("namespace"), field("name")) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.to_string(),
        _ => "(unnamed)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_manifest_replaces_the_object_with_its_name_and_other_kinds_are_left_out() {
        let mut snapshot = Snapshot::default();
        let policy = |ingress: Value| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": "p", "namespace": "a"},
                   "spec": {"podSelector": {}, "ingress": ingress}})
        };
        assert!(snapshot.apply(&policy(json!([]))).expect("reads"));
        assert!(snapshot.apply(&policy(json!([{}]))).expect("reads"));
        assert_eq!(snapshot.network_policies.len(), 1);
        assert_eq!(
            snapshot.network_policies[0]
                .spec
                .as_ref()
                .and_then(|s| s.ingress.as_ref())
                .map(Vec::len),
            Some(1)
        );
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}});
        assert!(!snapshot.apply(&ingress).expect("not audited"));
        let broken = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": "b", "namespace": "a"}, "roleRef": "admin"});
        let error = snapshot.apply(&broken).expect_err("roleRef is an object");
        assert!(
            error.to_string().starts_with("RoleBinding a/b: "),
            "{error}"
        );
    }
}
