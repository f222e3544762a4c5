//! Whole audits of rendered tenants, each check tried with the change that breaks it (as
//! a "what if this were applied" manifest) beside the rendered state that passes it; and the
//! indexed pair search against trying every pair.

use serde_json::{Value, json};

use super::report::{Outcome, Report};
use super::*;
use crate::api::TenantService;
use crate::samples::default_classes;
use checks::DELEGATED_CERTIFICATES;

fn tenant(
    name: &str,
    istat: &str,
    display: &str,
    network: Value,
    groups: &[&str],
) -> TenantService {
    serde_json::from_value(json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": name},
        "spec": {
            "entity": {"type": "Comune", "displayName": display, "istatCode": istat, "ipaCode": ipa_code(istat), "province": "BA"},
            "dataClassification": "ordinario",
            "class": "standard",
            "environments": [{"name": "prod"}, {"name": "test"}],
            "network": network,
            "access": {"adminGroups": groups}
        }
    }))
    .expect("test tenant is valid")
}

/// The IPA code of the Comune with ISTAT code `istat` (`c_` + its cadastral code).
fn ipa_code(istat: &str) -> String {
    let comune = crate::api::istat::comune(istat).expect("a Comune of the registry");
    format!(
        "c_{}",
        comune
            .belfiore
            .expect("a cadastral code")
            .to_ascii_lowercase()
    )
}

/// Molfetta and Bari (standard class), each with its admin group; Molfetta uses PagoPA.
fn two_tenants() -> Vec<TenantService> {
    vec![
        tenant(
            "comune-molfetta",
            "072029",
            "Comune di Molfetta",
            json!({"egress": [{"name": "pagopa"}]}),
            &["molfetta-admins"],
        ),
        tenant(
            "comune-bari",
            "072006",
            "Comune di Bari",
            json!({}),
            &["bari-admins"],
        ),
    ]
}

fn snapshot(tenants: Vec<TenantService>) -> Snapshot {
    let classes = default_classes().expect("default classes parse");
    Snapshot::render(tenants, classes, Vec::new(), &Settings::default().platform).expect("renders")
}

fn audited(tenants: Vec<TenantService>, what_if: Value) -> Report {
    let mut s = snapshot(tenants);
    for object in what_if.as_array().expect("a list") {
        assert!(s.apply(object).expect("valid object"), "{object}");
    }
    audit(&s, &Settings::default()).expect("audits")
}

/// The outcome of the check `id` (with a title starting with `title`) in `namespace`.
fn outcome(report: &Report, id: &str, title: &str, namespace: &str) -> Outcome {
    let found: Vec<_> = report
        .checks
        .iter()
        .filter(|c| {
            c.id == id && c.title.starts_with(title) && c.namespace.as_deref() == Some(namespace)
        })
        .collect();
    assert_eq!(found.len(), 1, "{id} {title} in {namespace}");
    found[0].result
}

fn evidence(report: &Report, id: &str, namespace: &str) -> String {
    report
        .checks
        .iter()
        .filter(|c| c.id == id && c.namespace.as_deref() == Some(namespace))
        .flat_map(|c| c.evidence.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

fn role_binding(namespace: &str, name: &str, role: &str, subject: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": name, "namespace": namespace},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [subject]})
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

#[test]
fn rendered_tenants_pass_every_check() {
    let report = audited(two_tenants(), json!([]));
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.result == Outcome::Fail)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(report.summary.tenant_pairs, 12);
    assert_eq!(report.summary.tenant_pairs_allowed, 0);
    assert!(report.passed());
}

#[test]
fn a_group_bound_in_another_tenant_fails_other_tenant_resources() {
    let report = audited(
        two_tenants(),
        json!([role_binding(
            "comune-molfetta-prod",
            "extra",
            "tenant-operator:tenant-view",
            group("bari-admins")
        )]),
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-TI-2", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert!(
        evidence(&report, "MTB-PL1-CC-TI-2", "comune-bari-prod")
            .contains("Group:bari-admins is bound in comune-molfetta-prod")
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-TI-2", "", "comune-molfetta-test"),
        Outcome::Pass
    );
}

#[test]
fn a_cluster_role_binding_to_nodes_fails_cluster_resources() {
    let report = audited(
        two_tenants(),
        json!([
            cluster_role("node-reader", json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}])),
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "molfetta-nodes"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
             "subjects": [group("molfetta-admins")]}
        ]),
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-CPI-1", "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    assert!(
        evidence(&report, "MTB-PL1-CC-CPI-1", "comune-molfetta-prod").contains("may list nodes")
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-CPI-1", "", "comune-bari-prod"),
        Outcome::Pass
    );
    let access = report
        .access
        .iter()
        .find(|a| a.namespace == "*")
        .expect("cluster-wide entry");
    assert_eq!(access.subject, "Group:molfetta-admins");
}

#[test]
fn a_system_group_bound_in_a_tenant_namespace_fails() {
    let report = audited(
        two_tenants(),
        json!([role_binding(
            "comune-bari-test",
            "everyone",
            "tenant-operator:tenant-view",
            group("system:authenticated")
        )]),
    );
    assert_eq!(
        outcome(&report, "TENANCY-RBAC-1", "", "comune-bari-test"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "TENANCY-RBAC-1", "", "comune-bari-prod"),
        Outcome::Pass
    );
}

#[test]
fn tenant_rights_over_managed_objects_fail_without_the_admission_policy() {
    let editor = json!([
        cluster_role(
            "netpol-editor",
            json!([{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["update", "delete"]}])
        ),
        role_binding(
            "comune-bari-prod",
            "netpol-editors",
            "netpol-editor",
            group("bari-admins")
        )
    ]);
    let with_policy = audited(two_tenants(), editor.clone());
    assert_eq!(
        outcome(&with_policy, "MTB-PL1-BC-CPI-2", "", "comune-bari-prod"),
        Outcome::Pass
    );
    assert!(
        evidence(&with_policy, "MTB-PL1-BC-CPI-2", "comune-bari-prod")
            .contains("admission policy tenant-operator-protect-managed-objects")
    );
    // The same rights where the admission policy is not bound to deny.
    let mut s = snapshot(two_tenants());
    for b in &mut s.admission_policy_bindings {
        if let Some(spec) = b.spec.as_mut() {
            spec.validation_actions = Some(vec!["Warn".to_string()]);
        }
    }
    for object in editor.as_array().expect("list") {
        s.apply(object).expect("valid");
    }
    let without = audit(&s, &Settings::default()).expect("audits");
    assert_eq!(
        outcome(&without, "MTB-PL1-BC-CPI-2", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&without, "MTB-PL1-BC-CPI-2", "", "comune-bari-test"),
        Outcome::Pass
    );
    let admission = without
        .checks
        .iter()
        .find(|c| c.id == "TENANCY-ADM-1")
        .expect("cluster check");
    assert_eq!(admission.result, Outcome::Fail);
}

#[test]
fn quota_writers_and_role_escalators_fail() {
    let report = audited(
        two_tenants(),
        json!([
            cluster_role(
                "quota-and-bind",
                json!([
                    {"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["patch"]},
                    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}
                ])
            ),
            role_binding(
                "comune-molfetta-test",
                "power",
                "quota-and-bind",
                group("molfetta-admins")
            )
        ]),
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-TI-1", "", "comune-molfetta-test"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "MTB-PL2-CC-TI-1", "", "comune-molfetta-test"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-TI-1", "", "comune-molfetta-prod"),
        Outcome::Pass
    );
    assert_eq!(
        outcome(&report, "MTB-PL2-CC-TI-1", "", "comune-molfetta-prod"),
        Outcome::Pass
    );
}

#[test]
fn a_weaker_pod_security_level_fails_what_only_restricted_refuses() {
    let mut report = audited(two_tenants(), json!([]));
    assert_eq!(
        outcome(&report, "MTB-PL1-BC-CPI-6", "", "comune-bari-prod"),
        Outcome::Pass
    );
    let mut s = snapshot(two_tenants());
    for n in &mut s.namespaces {
        if n.metadata.name.as_deref() == Some("comune-bari-prod") {
            n.metadata.labels.get_or_insert_default().insert(
                crate::labels::POD_SECURITY_ENFORCE.to_string(),
                "baseline".to_string(),
            );
        }
    }
    report = audit(&s, &Settings::default()).expect("audits");
    for (id, expected) in [
        ("MTB-PL1-BC-CPI-3", Outcome::Fail),
        ("MTB-PL1-BC-CPI-4", Outcome::Fail),
        ("MTB-PL1-BC-CPI-6", Outcome::Fail),
        ("MTB-PL1-BC-CPI-5", Outcome::Pass),
        ("MTB-PL1-BC-HI-3", Outcome::Pass),
        ("MTB-PL1-BC-HI-4", Outcome::Pass),
        ("MTB-PL1-BC-HI-5", Outcome::Pass),
    ] {
        assert_eq!(
            outcome(&report, id, "", "comune-bari-prod"),
            expected,
            "{id}"
        );
    }
    assert_eq!(
        outcome(
            &report,
            "MTB-PL1-BC-HI-1",
            "Block use of host path",
            "comune-bari-prod"
        ),
        Outcome::Pass
    );
}

#[test]
fn node_ports_fail_when_the_class_label_allows_them_or_no_quota_bounds_them() {
    let report = audited(two_tenants(), json!([]));
    assert_eq!(
        outcome(
            &report,
            "MTB-PL1-BC-HI-1",
            "Block use of NodePort",
            "comune-bari-prod"
        ),
        Outcome::Pass
    );
    let report = audited(
        two_tenants(),
        json!([{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "tenancy-quota", "namespace": "comune-bari-prod"},
                "spec": {"hard": {"requests.cpu": "1", "requests.memory": "1Gi", "requests.storage": "1Gi", "pods": "1", "services": "1",
                                  "persistentvolumeclaims": "1", "services.loadbalancers": "0"}}}]),
    );
    assert_eq!(
        outcome(
            &report,
            "MTB-PL1-BC-HI-1",
            "Block use of NodePort",
            "comune-bari-prod"
        ),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-FNS-2", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-CC-FNS-1", "", "comune-bari-prod"),
        Outcome::Pass
    );
}

#[test]
fn a_limit_range_without_defaults_fails() {
    let report = audited(
        two_tenants(),
        json!([{"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "tenancy-limits", "namespace": "comune-bari-test"},
                "spec": {"limits": [{"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}}]}}]),
    );
    assert_eq!(
        outcome(&report, "TENANCY-QUOTA-1", "", "comune-bari-test"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "TENANCY-QUOTA-1", "", "comune-bari-prod"),
        Outcome::Pass
    );
}

#[test]
fn opening_two_namespaces_to_each_other_fails_the_network_checks() {
    let report = audited(
        two_tenants(),
        json!([
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "open-in", "namespace": "comune-bari-prod"},
             "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "open-out", "namespace": "comune-molfetta-prod"},
             "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"tenancy.innova.puglia.it/tenant": "comune-bari"}}}]}]}}
        ]),
    );
    assert_eq!(report.summary.tenant_pairs_allowed, 1);
    let pair = report
        .reachability
        .iter()
        .find(|r| r.from == "comune-molfetta-prod" && r.to == "comune-bari-prod")
        .expect("listed");
    assert!(pair.allowed);
    assert_eq!(
        pair.policies,
        ["comune-bari-prod/open-in", "comune-molfetta-prod/open-out"]
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-BC-NI-1", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-3", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-3", "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-2", "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&report, "MTB-PL1-BC-NI-1", "", "comune-bari-test"),
        Outcome::Pass
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-4", "", "comune-bari-prod"),
        Outcome::Fail
    );
    assert!(evidence(&report, "TENANCY-NET-4", "comune-bari-prod").contains("of every namespace"));
    assert_eq!(
        outcome(&report, "TENANCY-NET-4", "", "comune-bari-test"),
        Outcome::Pass
    );
    assert!(!report.passed());
}

#[test]
fn egress_beyond_the_catalogue_fails_and_narrower_egress_passes() {
    let egress = |cidr: &str, port: u16| {
        json!([{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "extra", "namespace": "comune-molfetta-prod"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": port}]}]}}])
    };
    // The standard class's pagopa destination is 203.0.113.0/26 on 443.
    let inside = audited(two_tenants(), egress("203.0.113.0/27", 443));
    assert_eq!(
        outcome(&inside, "TENANCY-NET-2", "", "comune-molfetta-prod"),
        Outcome::Pass
    );
    let wider = audited(two_tenants(), egress("203.0.113.0/24", 443));
    assert_eq!(
        outcome(&wider, "TENANCY-NET-2", "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    let other_port = audited(two_tenants(), egress("203.0.113.0/27", 22));
    assert_eq!(
        outcome(&other_port, "TENANCY-NET-2", "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    // Bari did not ask for pagopa: the same rule there is beyond its entitlement.
    let not_asked = {
        let mut e = egress("203.0.113.0/27", 443);
        e[0]["metadata"]["namespace"] = json!("comune-bari-prod");
        audited(two_tenants(), e)
    };
    assert_eq!(
        outcome(&not_asked, "TENANCY-NET-2", "", "comune-bari-prod"),
        Outcome::Fail
    );
}

#[test]
fn removing_the_default_deny_fails_it() {
    let report = audited(
        two_tenants(),
        json!([{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "tenancy-default-deny", "namespace": "comune-bari-prod"},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]}}]),
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-1", "", "comune-bari-prod"),
        Outcome::Pass,
        "the allow policies still isolate every pod"
    );
    let report = audited(
        two_tenants(),
        json!([
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "tenancy-default-deny", "namespace": "comune-bari-prod"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "tenancy-allow-dns", "namespace": "comune-bari-prod"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "tenancy-allow-same-namespace", "namespace": "comune-bari-prod"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}}
        ]),
    );
    assert_eq!(
        outcome(&report, "TENANCY-NET-1", "", "comune-bari-prod"),
        Outcome::Fail
    );
    // Egress is no longer isolated for pods without app=web: DNS is reachable, but only
    // UDP 53 for the web pods.
    let dns = report
        .reachability
        .iter()
        .find(|r| r.from == "comune-bari-prod" && r.to == "dns")
        .expect("listed");
    assert_eq!(dns.ports, ["*"]);
    assert_eq!(dns.unconditional_ports, Some(Vec::new()));
}

/// The indexed search finds exactly the pairs that trying every pair finds.
#[test]
fn the_pair_search_agrees_with_trying_every_pair() {
    let tenants = vec![
        tenant(
            "comune-molfetta",
            "072029",
            "Comune di Molfetta",
            json!({"allowFrom": [{"tenant": "comune-bari"}]}),
            &["m"],
        ),
        tenant(
            "comune-bari",
            "072006",
            "Comune di Bari",
            json!({"allowFrom": [{"tenant": "comune-molfetta", "environments": ["prod"]}]}),
            &["b"],
        ),
        tenant(
            "comune-altamura",
            "072004",
            "Comune di Altamura",
            json!({}),
            &["a"],
        ),
    ];
    let what_if = json!([
        // Altamura's test is wide open both ways; Molfetta's test sends anywhere; Bari's
        // prod takes anything from pods labelled role=client.
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "open", "namespace": "comune-altamura-test"},
         "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "out", "namespace": "comune-molfetta-test"},
         "spec": {"podSelector": {}, "egress": [{"to": [{"namespaceSelector": {}}]}], "policyTypes": ["Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "clients", "namespace": "comune-bari-prod"},
         "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "wide", "namespace": "comune-altamura-prod"},
         "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}], "policyTypes": ["Egress"]}}
    ]);
    let mut s = snapshot(tenants);
    for object in what_if.as_array().expect("list") {
        s.apply(object).expect("valid");
    }
    let settings = Settings::default();
    let model = model::Model::build(&s, &settings).expect("model");
    let mut index = index::NamespaceIndex::new(model.namespaces.iter().map(|n| &n.labels));
    let found = reachability::compute(&model, &mut index);
    let mut indexed: Vec<(String, String, Vec<String>)> = found
        .pairs
        .iter()
        .filter(|p| p.verdict.allowed())
        .map(|p| {
            (
                model.namespaces[p.from].name.clone(),
                model.namespaces[p.to].name.clone(),
                p.verdict.may.entries(),
            )
        })
        .collect();
    indexed.sort();
    let mut every: Vec<(String, String, Vec<String>)> = Vec::new();
    for &from in &model.tenant_namespaces {
        for &to in &model.tenant_namespaces {
            if from == to {
                continue;
            }
            let any = |n: usize| netpol::Endpoint::Pod {
                namespace: model.namespaces[n].as_ref(),
                pod: netpol::Pod::Any,
                ip: None,
            };
            let flow = netpol::flow(
                &model.policies[from],
                &model.policies[to],
                &any(from),
                &any(to),
                &model.cluster,
            );
            if flow.allowed() {
                every.push((
                    model.namespaces[from].name.clone(),
                    model.namespaces[to].name.clone(),
                    flow.may.entries(),
                ));
            }
        }
    }
    every.sort();
    assert_eq!(indexed, every);
    assert!(
        indexed.len() > 4,
        "the what-if policies open several pairs: {indexed:?}"
    );
    assert_eq!(found.allowed_pairs, every.len());
}

#[test]
fn certificates_pass_inside_the_delegated_domains_and_fail_outside() {
    // The fixture tenant: servizi.comune.molfetta.ba.it for the body c_f284.
    let molfetta = crate::fixtures::tenant(json!({}));
    let delegation = |domains: &[&str]| crate::fixtures::delegation("molfetta", "c_f284", domains);
    let settings = Settings::default();
    let rendered = Snapshot::render(
        vec![molfetta],
        default_classes().expect("default classes parse"),
        vec![delegation(&["comune.molfetta.ba.it"])],
        &settings.platform,
    )
    .expect("renders");
    let report = audit(&rendered, &settings).expect("audits");
    let id = DELEGATED_CERTIFICATES.id;
    assert_eq!(
        outcome(&report, id, "", "comune-molfetta-prod"),
        Outcome::Pass
    );
    assert!(
        evidence(&report, id, "comune-molfetta-test")
            .contains("test.servizi.comune.molfetta.ba.it inside the domains delegated to c_f284 (comune.molfetta.ba.it)"),
        "{}",
        evidence(&report, id, "comune-molfetta-test")
    );
    // The delegation narrowed after the certificates were issued: what a live cluster
    // shows until the tenant's hostnames follow.
    let mut narrowed = rendered.clone();
    narrowed.delegations = vec![delegation(&["www.comune.molfetta.ba.it"])];
    let report = audit(&narrowed, &settings).expect("audits");
    assert_eq!(
        outcome(&report, id, "", "comune-molfetta-prod"),
        Outcome::Fail
    );
    assert_eq!(
        evidence(&report, id, "comune-molfetta-prod"),
        "servizi.comune.molfetta.ba.it is outside the domains delegated to c_f284 (www.comune.molfetta.ba.it)"
    );
    // A tenant without hostnames has no certificate to check.
    let report = audited(two_tenants(), json!([]));
    assert_eq!(
        outcome(&report, id, "", "comune-bari-prod"),
        Outcome::NotApplicable
    );
}
