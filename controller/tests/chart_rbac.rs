//! The Helm chart's RBAC against what the controller calls: every permission in
//! `tenant_operator::reconcile::rbac::REQUIRED_PERMISSIONS` must be granted by the chart's
//! ClusterRole (or, for objects that live only in the operator's namespace, its Role), and
//! the chart must grant nothing more. The tenant roles the operator hands out are checked
//! to never allow changing what the operator manages.
//!
//! The `rules:` blocks of these templates are kept free of Helm templating, so they are
//! read here as plain YAML without needing `helm`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tenant_operator::reconcile::rbac::REQUIRED_PERMISSIONS;

mod sample_tenant;

/// Resources the operator only touches in its own namespace, so they are granted by the
/// chart's Role there instead of cluster-wide.
const OPERATOR_NAMESPACE_ONLY: &[(&str, &str)] = &[("coordination.k8s.io", "leases")];

/// The tenant roles the operator's render binds tenant groups to.
const TENANT_ROLES: [&str; 4] = [
    "tenant-operator:tenant-admin",
    "tenant-operator:tenant-edit",
    "tenant-operator:tenant-monitoring",
    "tenant-operator:tenant-view",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyRule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RulesBlock {
    rules: Vec<PolicyRule>,
}

/// One Role or ClusterRole of a template: its name and rules.
#[derive(Debug)]
struct RoleDoc {
    kind: String,
    name: String,
    rules: Vec<PolicyRule>,
}

fn template(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/tenant-operator/templates")
        .join(name)
}

/// The Roles and ClusterRoles of a template file. The name is read from the `name:` line
/// of `metadata` (a literal for the roles whose name matters), the rules from the
/// template-free `rules:` block to the end of the document.
fn roles_in(file: &str) -> Vec<RoleDoc> {
    let path = template(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut roles = Vec::new();
    for doc in text.split("\n---\n") {
        let kind = doc
            .lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .unwrap_or_default()
            .trim()
            .to_string();
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        let name = doc
            .lines()
            .find_map(|l| l.strip_prefix("  name: "))
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_string();
        let rules_at = doc
            .find("\nrules:\n")
            .unwrap_or_else(|| panic!("{file}: {kind} {name} has no rules block"));
        let block: RulesBlock = serde_saphyr::from_str(&doc[rules_at + 1..]).unwrap_or_else(|e| {
            panic!("{file}: the rules of {kind} {name} must be plain YAML (no templating): {e}")
        });
        roles.push(RoleDoc {
            kind,
            name,
            rules: block.rules,
        });
    }
    assert!(!roles.is_empty(), "{file}: no Role or ClusterRole found");
    roles
}

/// Every (apiGroup, resource, verb) a set of rules grants.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

fn operator_cluster_role() -> RoleDoc {
    let mut roles = roles_in("operator-clusterrole.yaml");
    assert_eq!(roles.len(), 1, "one ClusterRole for the operator");
    let role = roles.remove(0);
    assert_eq!(role.kind, "ClusterRole");
    role
}

fn operator_role() -> RoleDoc {
    let mut roles = roles_in("operator-role.yaml");
    assert_eq!(roles.len(), 1, "one Role for the operator's namespace");
    roles.remove(0)
}

fn namespace_only(group: &str, resource: &str) -> bool {
    OPERATOR_NAMESPACE_ONLY.contains(&(group, resource))
}

#[test]
fn the_chart_grants_every_permission_the_controller_uses() {
    let cluster = grants(&operator_cluster_role().rules);
    let namespaced = grants(&operator_role().rules);
    let mut missing = Vec::new();
    for p in REQUIRED_PERMISSIONS {
        let granted_by = if namespace_only(p.api_group, p.resource) {
            &namespaced
        } else {
            &cluster
        };
        for verb in p.verbs {
            let key = (
                p.api_group.to_string(),
                p.resource.to_string(),
                verb.to_string(),
            );
            if !granted_by.contains(&key) {
                missing.push(format!("{verb} {}/{} ({})", p.api_group, p.resource, p.why));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the controller calls what charts/tenant-operator/templates/operator-{{clusterrole,role}}.yaml does not grant; add to the chart:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_chart_grants_nothing_the_controller_does_not_use() {
    let required: BTreeSet<(String, String, String)> = REQUIRED_PERMISSIONS
        .iter()
        .flat_map(|p| {
            p.verbs.iter().map(|v| {
                (
                    p.api_group.to_string(),
                    p.resource.to_string(),
                    v.to_string(),
                )
            })
        })
        .collect();
    let mut extra = Vec::new();
    for (file, role) in [
        ("operator-clusterrole.yaml", operator_cluster_role()),
        ("operator-role.yaml", operator_role()),
    ] {
        for (group, resource, verb) in grants(&role.rules) {
            let key = (group.clone(), resource.clone(), verb.clone());
            if !required.contains(&key) {
                extra.push(format!("{file}: {verb} {group}/{resource}"));
            }
            let in_role = role.kind == "Role";
            assert_eq!(
                in_role,
                namespace_only(&group, &resource),
                "{file}: {group}/{resource} belongs in the {} ",
                if namespace_only(&group, &resource) {
                    "namespaced Role"
                } else {
                    "ClusterRole"
                }
            );
        }
    }
    assert!(
        extra.is_empty(),
        "the chart grants permissions missing from REQUIRED_PERMISSIONS (least privilege: remove them, or add them to the table with a reason):\n  {}",
        extra.join("\n  ")
    );
}

#[test]
fn no_rbac_rule_of_the_chart_uses_a_wildcard() {
    for file in [
        "operator-clusterrole.yaml",
        "operator-role.yaml",
        "tenant-clusterroles.yaml",
        "auditor-clusterrole.yaml",
    ] {
        for role in roles_in(file) {
            for rule in &role.rules {
                for value in rule
                    .api_groups
                    .iter()
                    .chain(&rule.resources)
                    .chain(&rule.verbs)
                    .chain(&rule.resource_names)
                {
                    assert!(
                        !value.contains('*'),
                        "{file}: {} {} uses the wildcard {value:?}",
                        role.kind,
                        role.name
                    );
                }
            }
        }
    }
}

#[test]
fn the_operator_may_bind_exactly_the_tenant_roles_and_nothing_else() {
    let role = operator_cluster_role();
    let cluster_role_rules: Vec<&PolicyRule> = role
        .rules
        .iter()
        .filter(|r| r.resources.iter().any(|res| res == "clusterroles"))
        .collect();
    assert_eq!(cluster_role_rules.len(), 1, "one rule on clusterroles");
    let rule = cluster_role_rules[0];
    assert_eq!(rule.verbs, ["bind"], "only bind on clusterroles");
    assert_eq!(rule.resources, ["clusterroles"]);
    let mut names = rule.resource_names.clone();
    names.sort();
    assert_eq!(
        names, TENANT_ROLES,
        "bind restricted to the tenant and monitoring roles"
    );
    let defined: Vec<String> = roles_in("tenant-clusterroles.yaml")
        .into_iter()
        .map(|r| r.name)
        .collect();
    for name in TENANT_ROLES {
        assert!(
            defined.iter().any(|d| d == name),
            "the chart defines the ClusterRole {name} the operator binds"
        );
    }
}

/// What tenant roles must never allow: changing the objects the operator manages (or
/// their namespaces), or rights that lead out of the role.
#[test]
fn tenant_roles_cannot_change_what_the_operator_manages() {
    const WRITE: [&str; 6] = [
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "*",
    ];
    const PROTECTED: [(&str, &str); 7] = [
        ("networking.k8s.io", "networkpolicies"),
        ("", "resourcequotas"),
        ("", "limitranges"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("", "namespaces"),
        ("rbac.authorization.k8s.io", "clusterroles"),
    ];
    const NEVER: [&str; 3] = ["escalate", "bind", "impersonate"];
    let roles = roles_in("tenant-clusterroles.yaml");
    assert_eq!(roles.len(), TENANT_ROLES.len());
    for role in &roles {
        for (group, resource, verb) in grants(&role.rules) {
            assert!(
                !(PROTECTED.contains(&(group.as_str(), resource.as_str()))
                    && WRITE.contains(&verb.as_str())),
                "{}: may {verb} {group}/{resource}, which the operator manages",
                role.name
            );
            assert!(
                !NEVER.contains(&verb.as_str()),
                "{}: grants {verb}",
                role.name
            );
            assert!(
                !(group.is_empty() && resource == "namespaces"),
                "{}: namespaces are cluster-scoped and the operator's",
                role.name
            );
        }
    }
}

#[test]
fn tenant_roles_are_nested_and_viewers_cannot_read_secrets() {
    let roles = roles_in("tenant-clusterroles.yaml");
    let by_name = |name: &str| {
        grants(
            &roles
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("{name} defined"))
                .rules,
        )
    };
    let view = by_name("tenant-operator:tenant-view");
    let edit = by_name("tenant-operator:tenant-edit");
    let admin = by_name("tenant-operator:tenant-admin");
    assert!(
        view.is_subset(&edit),
        "edit includes view: {:?}",
        view.difference(&edit).collect::<Vec<_>>()
    );
    assert!(
        edit.is_subset(&admin),
        "admin includes edit: {:?}",
        edit.difference(&admin).collect::<Vec<_>>()
    );
    assert!(
        !view.iter().any(|(_, resource, _)| resource == "secrets"),
        "viewers (auditors) do not read Secrets"
    );
    assert!(
        !edit
            .iter()
            .any(|(_, resource, _)| resource.starts_with("pods/exec")),
        "exec into pods is an admin right"
    );
}

/// The API server lets the operator create a Role only if it holds every right in it (or
/// has `escalate` on roles), and a RoleBinding only if it holds the referenced role's rights
/// (or has `bind` on it). Checked on what render really produces for a sample tenant, so a
/// render change that needs more rights fails here, not on a cluster.
#[test]
fn the_operator_may_create_every_role_and_binding_render_produces() {
    let role = operator_cluster_role();
    let cluster = grants(&role.rules);
    let has = |group: &str, resource: &str, verb: &str| {
        cluster.contains(&(group.to_string(), resource.to_string(), verb.to_string()))
    };
    let rbac = "rbac.authorization.k8s.io";
    let bindable: Vec<&String> = role
        .rules
        .iter()
        .filter(|r| {
            r.resources.iter().any(|res| res == "clusterroles")
                && r.verbs.iter().any(|v| v == "bind")
        })
        .flat_map(|r| &r.resource_names)
        .collect();
    // Every binding names a chart ClusterRole: the operator needs neither the right to write
    // Roles nor the rights such a Role would grant (RBAC's escalation check).
    for verb in ["create", "update", "patch", "escalate"] {
        assert!(
            !has(rbac, "roles", verb),
            "the operator may {verb} Roles: it could write any Role with rights it holds"
        );
    }
    for resource in ["pods", "services", "endpoints"] {
        assert!(
            !has("", resource, "list"),
            "the operator reads {resource} cluster-wide, which it does not use"
        );
    }
    let (objects, _) = sample_tenant::rendered();
    let mut rendered_roles = Vec::new();
    for object in objects.iter().filter(|o| o["kind"] == "Role") {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rules: Vec<PolicyRule> = serde_json::from_value(object["rules"].clone())
            .unwrap_or_else(|e| panic!("Role {name}: rules: {e}"));
        for (group, resource, verb) in grants(&rules) {
            assert!(
                has(rbac, "roles", "escalate") || has(&group, &resource, &verb),
                "render's Role {name} grants {verb} {group}/{resource}, which the operator neither holds nor may escalate to"
            );
        }
        rendered_roles.push(name);
    }
    let mut bindings = 0;
    for binding in objects.iter().filter(|o| o["kind"] == "RoleBinding") {
        let name = binding["metadata"]["name"].as_str().unwrap_or_default();
        let target = binding["roleRef"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match binding["roleRef"]["kind"].as_str() {
            Some("ClusterRole") => assert!(
                bindable.contains(&&target),
                "RoleBinding {name} refers to ClusterRole {target}, which the operator may not bind (bindable: {bindable:?})"
            ),
            Some("Role") => assert!(
                rendered_roles.contains(&target),
                "RoleBinding {name} refers to Role {target}, which render does not produce"
            ),
            other => panic!("RoleBinding {name}: roleRef kind {other:?}"),
        }
        bindings += 1;
    }
    assert!(
        bindings >= 3,
        "the sample tenant has admin, edit and view groups"
    );
}

#[test]
fn the_auditor_role_reads_exactly_what_the_audit_lists() {
    let mut roles = roles_in("auditor-clusterrole.yaml");
    assert_eq!(roles.len(), 1, "one ClusterRole for auditors");
    let role = roles.remove(0);
    assert_eq!(
        (role.kind.as_str(), role.name.as_str()),
        ("ClusterRole", "tenant-operator:auditor")
    );
    let expected: BTreeSet<(String, String, String)> = tenant_operator::audit::live::READS
        .iter()
        .flat_map(|(group, resource)| {
            ["get", "list"]
                .into_iter()
                .map(move |verb| (group.to_string(), resource.to_string(), verb.to_string()))
        })
        .collect();
    assert_eq!(
        grants(&role.rules),
        expected,
        "the auditor role is read-only and grants what `audit --kubeconfig` lists, nothing more"
    );
    assert!(role.rules.iter().all(|r| r.resource_names.is_empty()));
}
