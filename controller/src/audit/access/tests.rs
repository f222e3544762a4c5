//! The access evaluator over RBAC objects: each rule with a case it grants and one it does
//! not. Rule matching itself is the `rbac` crate's (tested there against upstream cases);
//! these tests pin how the audit asks it.

use serde_json::json;

use super::*;
use crate::audit::model::Settings;
use crate::audit::snapshot::Snapshot;

fn snapshot(objects: serde_json::Value) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for object in objects.as_array().expect("a list of objects") {
        assert!(snapshot.apply(object).expect("valid object"), "{object}");
    }
    snapshot
}

fn namespace(name: &str, tenant: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"tenancy.innova.puglia.it/tenant": tenant}}})
}

fn role(name: &str, rules: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

fn binding(namespace: &str, role: &str, subject: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": format!("bind-{role}"), "namespace": namespace},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [subject]})
}

fn group(name: &str) -> serde_json::Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

/// The flags a group gets in `a-prod` from one ClusterRole with `rules`.
fn flags_for(rules: serde_json::Value) -> Vec<String> {
    let s = snapshot(json!([
        namespace("a-prod", "a"),
        role("r", rules),
        binding("a-prod", "r", group("g")),
    ]));
    let settings = Settings::default();
    let model = Model::build(&s, &settings).expect("model");
    let rbac = Rbac::build(&model);
    flags(
        &rbac.rights(&SubjectKey::Group("g".into()), "a-prod"),
        "a-prod",
    )
}

#[test]
fn writing_isolation_objects_is_flagged_and_reading_them_is_not() {
    assert_eq!(
        flags_for(
            json!([{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create"]}])
        ),
        ["writes-isolation"]
    );
    assert!(flags_for(json!([{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list"]}])).is_empty());
    // The namespace object carries the Pod Security labels: patching it, by name, counts.
    assert_eq!(
        flags_for(
            json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["a-prod"], "verbs": ["patch"]}])
        ),
        ["writes-isolation"]
    );
    assert!(flags_for(json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["b-prod"], "verbs": ["patch"]}])).is_empty());
}

#[test]
fn reading_secrets_is_flagged_and_reading_config_maps_is_not() {
    assert_eq!(
        flags_for(json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])),
        ["reads-secrets"]
    );
    assert!(
        flags_for(json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]))
            .is_empty()
    );
}

#[test]
fn exec_is_flagged_and_logs_are_not() {
    assert_eq!(
        flags_for(json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}])),
        ["exec"]
    );
    assert!(
        flags_for(
            json!([{"apiGroups": [""], "resources": ["pods/log", "pods"], "verbs": ["get"]}])
        )
        .is_empty()
    );
}

#[test]
fn binding_any_role_escalates_and_binding_named_roles_does_not() {
    assert_eq!(
        flags_for(
            json!([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}])
        ),
        ["escalates"]
    );
    assert!(flags_for(json!([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["tenant-operator:tenant-view"], "verbs": ["bind"]}])).is_empty());
    assert_eq!(
        flags_for(
            json!([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}])
        ),
        ["escalates"]
    );
    assert_eq!(
        flags_for(
            json!([{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}])
        ),
        ["escalates"]
    );
    // Impersonating users is a cluster-scoped request: a RoleBinding cannot grant it.
    assert!(
        flags_for(json!([{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}]))
            .is_empty()
    );
}

#[test]
fn wildcards_grant_everything() {
    assert_eq!(
        flags_for(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
        ["writes-isolation", "reads-secrets", "exec", "escalates"]
    );
}

#[test]
fn rules_are_summarised_by_resource() {
    let rules: Vec<PolicyRule> = serde_json::from_value(json!([
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["watch", "get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*", "get"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["a", "b"], "verbs": ["bind"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}
    ]))
    .expect("rules");
    let summary = summarise(&rules);
    let expected: BTreeMap<String, Vec<String>> = [
        ("*", vec!["get"]),
        ("apps/deployments", vec!["*"]),
        ("pods", vec!["get", "list", "watch"]),
        ("pods/log", vec!["get", "list"]),
        ("rbac.authorization.k8s.io/clusterroles[a,b]", vec!["bind"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(summary, expected);
}

#[test]
fn entries_per_tenant_namespace_and_once_for_cluster_wide_subjects() {
    let s = snapshot(json!([
        namespace("a-prod", "a"),
        namespace("a-test", "a"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tools"}},
        // An aggregated role: its rules are those of the roles its selector picks.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "aggregate"},
         "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to": "reader"}}]}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "part", "labels": {"aggregate-to": "reader"}},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
        role("nodes", json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}])),
        binding("a-prod", "aggregate", group("g")),
        // Outside tenant namespaces: not in the per-namespace report.
        binding("tools", "aggregate", group("g")),
        // A ServiceAccount without a namespace is in the binding's.
        binding("a-test", "part", json!({"kind": "ServiceAccount", "name": "ci"})),
        // A role that does not exist grants nothing.
        binding("a-test", "missing", group("g")),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops-nodes"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "nodes"},
         "subjects": [group("ops")]}
    ]));
    let settings = Settings::default();
    let model = Model::build(&s, &settings).expect("model");
    let rbac = Rbac::build(&model);
    let got: Vec<(String, String, BTreeMap<String, Vec<String>>)> = entries(&model, &rbac)
        .into_iter()
        .map(|a| (a.subject, a.namespace, a.verbs))
        .collect();
    let verbs = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(r, v)| (r.to_string(), vec![v.to_string()]))
            .collect()
    };
    assert_eq!(
        got,
        [
            (
                "Group:g".to_string(),
                "a-prod".to_string(),
                verbs(&[("configmaps", "get")])
            ),
            ("Group:g".to_string(), "a-test".to_string(), verbs(&[])),
            (
                "Group:ops".to_string(),
                "*".to_string(),
                verbs(&[("nodes", "list")])
            ),
            (
                "ServiceAccount:a-test/ci".to_string(),
                "a-test".to_string(),
                verbs(&[("configmaps", "get")])
            ),
        ]
    );
}

#[test]
fn system_groups_except_masters_are_told_apart() {
    assert!(SubjectKey::Group("system:authenticated".into()).is_system_group());
    assert!(!SubjectKey::Group("system:masters".into()).is_system_group());
    assert!(!SubjectKey::Group("comune-bari-admins".into()).is_system_group());
    assert!(!SubjectKey::User("system:admin".into()).is_system_group());
}

#[test]
fn nested_aggregation_settles() {
    let roles: Vec<ClusterRole> = serde_json::from_value(json!([
        {"metadata": {"name": "admin"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-admin": "true"}}]}},
        {"metadata": {"name": "edit", "labels": {"to-admin": "true"}}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-edit": "true"}}]}},
        {"metadata": {"name": "view", "labels": {"to-edit": "true"}}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    ]))
    .expect("roles");
    let settled = aggregated(&roles);
    let rules_of = |name: &str| {
        settled
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .and_then(|r| r.rules.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        rules_of("admin"),
        rules_of("view"),
        "view's rules reach admin through edit"
    );
    assert_eq!(rules_of("edit").len(), 1);
}

#[test]
fn rules_on_namespaced_resources_are_told_from_cluster_scoped_ones() {
    let rule = |groups: &[&str], resources: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(ToString::to_string).collect()),
        resources: Some(resources.iter().map(ToString::to_string).collect()),
        verbs: vec!["get".to_string()],
        ..PolicyRule::default()
    };
    assert!(grants_namespaced(&rule(&[""], &["pods"])));
    assert!(grants_namespaced(&rule(&["apps"], &["*"])));
    assert!(grants_namespaced(&rule(&["*"], &["secrets"])));
    assert!(!grants_namespaced(&rule(&[""], &["nodes", "namespaces"])));
    assert!(!grants_namespaced(&rule(
        &["authorization.k8s.io"],
        &["selfsubjectaccessreviews"]
    )));
    assert!(!grants_namespaced(&rule(&["*"], &["persistentvolumes"])));
}
