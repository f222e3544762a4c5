//! The groups of `spec.access`: names of the tenant's own groups, never the API server's.

use super::{Report, Rule};
use crate::api::TenantServiceSpec;

/// Prefix of the groups the Kubernetes API server assigns itself (`system:authenticated`,
/// `system:serviceaccounts`, `system:nodes`, `system:masters`, ...).
pub const SYSTEM_GROUP_PREFIX: &str = "system:";

/// Every group of every access list is one of the body's own: a group starting with
/// `system:` names a set of principals the API server defines (every authenticated user,
/// every ServiceAccount — other tenants' pods among them —, every node), so binding it
/// would give the tenant's namespaces to the whole cluster.
pub(super) fn check(spec: &TenantServiceSpec, report: &mut Report) {
    let Some(access) = &spec.access else {
        return;
    };
    for (field, groups) in [
        ("adminGroups", &access.admin_groups),
        ("editGroups", &access.edit_groups),
        ("viewerGroups", &access.viewer_groups),
    ] {
        for (i, group) in groups.iter().enumerate() {
            if group.starts_with(SYSTEM_GROUP_PREFIX) {
                report.error(
                    Rule::AccessSystemGroup,
                    format!("spec.access.{field}[{i}]"),
                    format!(
                        "{group:?} is a group the Kubernetes API server defines ('system:' groups such as system:authenticated or system:serviceaccounts take in every user or ServiceAccount of the cluster, other tenants' pods included); name a group of the body's identity provider, e.g. \"comune-molfetta-admins\""
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{paths, problems_with};

    #[test]
    fn the_bodys_own_groups_are_accepted() {
        let p = problems_with(json!({"access": {
            "adminGroups": ["comune-molfetta-admins"],
            "editGroups": ["comune-molfetta-dev"],
            "viewerGroups": ["systems:auditors", "comune-molfetta:system"]
        }}));
        assert_eq!(p, []);
    }

    #[test]
    fn system_groups_are_refused_in_every_list_naming_the_field_and_why() {
        let p = problems_with(json!({"access": {
            "adminGroups": ["comune-molfetta-admins", "system:authenticated"],
            "editGroups": ["system:serviceaccounts"],
            "viewerGroups": ["system:masters"]
        }}));
        assert_eq!(
            paths(&p),
            [
                "spec.access.adminGroups[1]",
                "spec.access.editGroups[0]",
                "spec.access.viewerGroups[0]"
            ]
        );
        assert!(p.iter().all(super::super::Problem::is_error));
        assert!(
            p[0].message.contains("\"system:authenticated\""),
            "{}",
            p[0]
        );
        assert!(
            p[0].message.contains("every user or ServiceAccount"),
            "{}",
            p[0]
        );
    }
}
