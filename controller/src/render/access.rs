//! RBAC in one tenant environment: the tenant's groups bound to the chart's tenant
//! ClusterRoles, and the monitoring stack bound to the chart's discovery ClusterRole.
//! Every binding names a ClusterRole the chart ships, so the operator needs `bind` on those
//! names only, and neither the rights they grant nor the right to write Roles.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};

use super::{ChildObject, EnvironmentRef, Platform};
use crate::api::TenantService;

/// ClusterRole bound to `access.adminGroups` (shipped by the Helm chart).
pub const TENANT_ADMIN_ROLE: &str = "tenant-operator:tenant-admin";
/// ClusterRole bound to `access.editGroups` (shipped by the Helm chart).
pub const TENANT_EDIT_ROLE: &str = "tenant-operator:tenant-edit";
/// ClusterRole bound to `access.viewerGroups` (shipped by the Helm chart).
pub const TENANT_VIEW_ROLE: &str = "tenant-operator:tenant-view";
/// ClusterRole bound to the monitoring stack (shipped by the Helm chart): read-only
/// discovery of scrape targets (pods, Services, endpoints, EndpointSlices).
pub const TENANT_MONITORING_ROLE: &str = "tenant-operator:tenant-monitoring";
/// The RoleBinding letting Prometheus discover scrape targets. Earlier releases bound a
/// Role `tenancy-monitoring` that the operator wrote itself; a RoleBinding's roleRef cannot
/// change, so this binding has a new name and the old Role and binding are pruned.
pub const MONITORING: &str = "tenancy-monitoring-discovery";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The RoleBindings of the tenant's groups and of the monitoring stack.
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
    objects.push(ChildObject::RoleBinding(RoleBinding {
        metadata: env.meta(MONITORING),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: TENANT_MONITORING_ROLE.to_string(),
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
