//! Every API permission the controller uses, as one table. The Helm chart's ClusterRole is
//! checked against it (`controller/tests/chart_rbac.rs`), so a new API call without a
//! chart change fails a test rather than a production rollout.

use crate::kinds::ManagedKind;

/// One RBAC rule the controller needs: verbs on a resource of an API group (cluster-wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// API group (`""` for the core group).
    pub api_group: &'static str,
    /// Resource plural, or `plural/subresource`.
    pub resource: &'static str,
    /// Verbs, sorted.
    pub verbs: &'static [&'static str],
    /// Why the controller needs it.
    pub why: &'static str,
}

/// Verbs on every child kind: watched (metadata), read when drift is suspected,
/// server-side applied (create on first apply, patch after), replaced whole (`update`) when
/// another manager added fields that apply cannot take back (`reconcile::write`), deleted
/// when pruned.
const CHILD_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Verbs on a kind that is only pruned (watched, read, deleted; never applied).
const PRUNE_VERBS: &[&str] = &["delete", "get", "list", "watch"];

/// Every (apiGroup, resource, verbs) the controller calls.
pub const REQUIRED_PERMISSIONS: &[Permission] = &[
    Permission {
        api_group: "tenancy.innova.puglia.it",
        resource: "tenantservices",
        verbs: &["get", "list", "patch", "watch"],
        why: "reconcile tenants; add and remove the cleanup finalizer (JSON patch)",
    },
    Permission {
        api_group: "tenancy.innova.puglia.it",
        resource: "tenantservices/status",
        verbs: &["get", "patch"],
        why: "write phase, conditions, namespaces and certificates (server-side apply)",
    },
    Permission {
        api_group: "tenancy.innova.puglia.it",
        resource: "tenantclasses",
        verbs: &["get", "list", "watch"],
        why: "read the quota plan and policy bundle of each tenant",
    },
    Permission {
        api_group: "tenancy.innova.puglia.it",
        resource: "domaindelegations",
        verbs: &["get", "list", "watch"],
        why: "read the DNS domains delegated to each body (never write them)",
    },
    Permission {
        api_group: "apiextensions.k8s.io",
        resource: "customresourcedefinitions",
        verbs: &["get", "list", "patch", "watch"],
        why: "readiness: wait until the TenantService, TenantClass and DomainDelegation CRDs are established and check they are not older than the operator; `run --install-crds`: server-side apply them (the chart limits patch to these three by name)",
    },
    Permission {
        api_group: "",
        resource: "namespaces",
        verbs: CHILD_VERBS,
        why: "one namespace per tenant environment, created (POST) only when none of that name exists, merge-patched when handed over; deleted only under deletionPolicy Delete",
    },
    Permission {
        api_group: "",
        resource: "resourcequotas",
        verbs: CHILD_VERBS,
        why: "quota of each tenant environment (status read for metrics)",
    },
    Permission {
        api_group: "",
        resource: "limitranges",
        verbs: CHILD_VERBS,
        why: "container defaults of each tenant environment",
    },
    Permission {
        api_group: "",
        resource: "secrets",
        verbs: CHILD_VERBS,
        why: "TLS Secrets of tenant environments; the regional CA Secret in the operator namespace",
    },
    Permission {
        api_group: "",
        resource: "configmaps",
        verbs: CHILD_VERBS,
        why: "the CA bundle ConfigMap in each tenant namespace and the operator namespace",
    },
    Permission {
        api_group: "networking.k8s.io",
        resource: "networkpolicies",
        verbs: CHILD_VERBS,
        why: "default deny, baseline allows, egress allowlist, cross-tenant ingress",
    },
    Permission {
        api_group: "rbac.authorization.k8s.io",
        resource: "roles",
        verbs: PRUNE_VERBS,
        why: "prune the monitoring Role earlier releases wrote (render writes no Role)",
    },
    Permission {
        api_group: "rbac.authorization.k8s.io",
        resource: "rolebindings",
        verbs: CHILD_VERBS,
        why: "bind the tenant's groups to admin/edit/view, and the monitoring stack to discovery, in its namespaces",
    },
    Permission {
        api_group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
        verbs: &["bind"],
        why: "RoleBindings to the chart's tenant-operator:tenant-admin, -edit, -view and -monitoring ClusterRoles",
    },
    Permission {
        api_group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["create", "get", "update"],
        why: "leader election: only the lease holder writes",
    },
    Permission {
        api_group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        why: "Events on TenantServices and the CA record; patch counts a repeated Event",
    },
];

/// The permission entry of a managed kind (used by a test to keep the table complete).
pub fn permission_for(kind: ManagedKind) -> Option<&'static Permission> {
    let resource = kind.api_resource();
    REQUIRED_PERMISSIONS
        .iter()
        .find(|p| p.api_group == resource.group && p.resource == resource.plural)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_managed_kind_can_be_watched_applied_and_pruned() {
        for kind in ManagedKind::ALL {
            let permission = permission_for(kind)
                .unwrap_or_else(|| panic!("{} missing from REQUIRED_PERMISSIONS", kind.as_str()));
            let needed = if kind.is_rendered() {
                CHILD_VERBS
            } else {
                PRUNE_VERBS
            };
            assert_eq!(
                permission.verbs,
                needed,
                "{}: exactly what watching, applying and pruning it takes",
                kind.as_str()
            );
            for verb in needed {
                assert!(
                    permission.verbs.contains(verb),
                    "{} lacks {verb}",
                    kind.as_str()
                );
            }
        }
    }

    #[test]
    fn verbs_are_sorted_and_entries_unique() {
        let mut seen = std::collections::HashSet::new();
        for permission in REQUIRED_PERMISSIONS {
            let mut sorted = permission.verbs.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, permission.verbs, "{}", permission.resource);
            assert!(seen.insert((permission.api_group, permission.resource)));
        }
    }
}
