//! RBAC in one tenant environment: the tenant's groups bound to the chart's tenant
//! ClusterRoles, and read access for the monitoring stack's service discovery.

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::{ChildObject, EnvironmentRef, Platform};
use crate::api::TenantService;

/// ClusterRole bound to `access.adminGroups` (shipped by the Helm chart).
pub const TENANT_ADMIN_ROLE: &str = "tenant-operator:tenant-admin";
/// ClusterRole bound to `access.editGroups` (shipped by the Helm chart).
pub const TENANT_EDIT_ROLE: &str = "tenant-operator:tenant-edit";
/// ClusterRole bound to `access.viewerGroups` (shipped by the Helm chart).
pub const TENANT_VIEW_ROLE: &str = "tenant-operator:tenant-view";
/// Role and RoleBinding letting Prometheus discover scrape targets.
pub const MONITORING: &str = "tenancy-monitoring";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The RoleBindings of the tenant's groups, and the monitoring Role and RoleBinding.
pub(super) fn objects(
    tenant: &TenantService,
    platform: &Platform,
    env: &EnvironmentRef,
) -> Vec<ChildObject> {
    let mut objects = Vec::new();
    if let Some(access) = &tenant.spec.access {
        for (name, role, groups) in [
            ("tenancy-admins", TENANT_ADMIN_ROLE, &access.admin_groups),
            ("tenancy-editors", TENANT_EDIT_ROLE, &access.edit_groups),
            ("tenancy-viewers", TENANT_VIEW_ROLE, &access.viewer_groups),
        ] {
            if groups.is_empty() {
                continue;
            }
            let mut groups = groups.clone();
            groups.sort();
            groups.dedup();
            objects.push(ChildObject::RoleBinding(RoleBinding {
                metadata: env.meta(name),
                role_ref: RoleRef {
                    api_group: RBAC_GROUP.to_string(),
                    kind: "ClusterRole".to_string(),
                    name: role.to_string(),
                },
                subjects: Some(
                    groups
                        .into_iter()
                        .map(|group| Subject {
                            api_group: Some(RBAC_GROUP.to_string()),
                            kind: "Group".to_string(),
                            name: group,
                            namespace: None,
                        })
                        .collect(),
                ),
            }));
        }
    }
    objects.push(ChildObject::Role(monitoring_role(env)));
    objects.push(ChildObject::RoleBinding(RoleBinding {
        metadata: env.meta(MONITORING),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "Role".to_string(),
            name: MONITORING.to_string(),
        },
        subjects: Some(vec![Subject {
            api_group: None,
            kind: "ServiceAccount".to_string(),
            name: platform.monitoring_service_account.clone(),
            namespace: Some(platform.monitoring_namespace.clone()),
        }]),
    }));
    objects
}

/// Read-only discovery of scrape targets: what Prometheus' Kubernetes service discovery
/// lists and watches, nothing else (no Secrets, no ConfigMaps).
fn monitoring_role(env: &EnvironmentRef) -> Role {
    let read = || {
        ["get", "list", "watch"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    Role {
        metadata: env.meta(MONITORING),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(
                    ["endpoints", "pods", "services"]
                        .into_iter()
                        .map(String::from)
                        .collect(),
                ),
                verbs: read(),
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(vec!["discovery.k8s.io".to_string()]),
                resources: Some(vec!["endpointslices".to_string()]),
                verbs: read(),
                ..PolicyRule::default()
            },
        ]),
    }
}
