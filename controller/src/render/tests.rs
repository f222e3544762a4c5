//! Unit tests of render, one concern each. Full outputs are covered by the golden tests.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::json;

use super::*;
use crate::api::TenantService;
use crate::fixtures::default_class as class;
use crate::kinds::ManagedKind;

fn tenant(name: &str, extra: serde_json::Value) -> TenantService {
    let mut spec = json!({
        "entity": {"type": "Comune", "displayName": "Comune di Molfetta", "istatCode": "072029", "ipaCode": "c_f284", "province": "BA"},
        "dataClassification": "ordinario",
        "class": "standard",
        "environments": [{"name": "prod"}, {"name": "test", "quota": {"cpu": "3"}}]
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": name},
        "spec": spec
    }))
    .expect("test tenant is valid")
}

fn render_alone(t: &TenantService) -> Desired {
    let platform = Platform::default();
    render(
        t,
        &class("standard"),
        &RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        },
    )
    .expect("renders")
}

fn find<'a>(
    d: &'a Desired,
    kind: ManagedKind,
    namespace: Option<&str>,
    name: &str,
) -> &'a ChildObject {
    d.objects
        .iter()
        .find(|o| o.kind() == kind && o.namespace() == namespace && o.name() == name)
        .unwrap_or_else(|| panic!("{kind:?} {namespace:?}/{name} not rendered"))
}

#[test]
fn one_namespace_per_environment_first_and_labelled() {
    let d = render_alone(&tenant("comune-molfetta", json!({})));
    let namespaces: Vec<&str> = d
        .objects
        .iter()
        .take_while(|o| o.kind() == ManagedKind::Namespace)
        .map(super::ChildObject::name)
        .collect();
    assert_eq!(namespaces, ["comune-molfetta-prod", "comune-molfetta-test"]);
    let labels = find(&d, ManagedKind::Namespace, None, "comune-molfetta-test").labels();
    assert_eq!(labels[crate::labels::TENANT], "comune-molfetta");
    assert_eq!(labels[crate::labels::ENVIRONMENT], "test");
    assert_eq!(labels[crate::labels::ENTITY_TYPE], "Comune");
    assert_eq!(labels[crate::labels::DATA_CLASSIFICATION], "ordinario");
    assert_eq!(labels[crate::labels::POD_SECURITY_ENFORCE], "restricted");
    assert!(!labels.contains_key(crate::labels::ALLOW_LOAD_BALANCER));
    for object in &d.objects {
        assert_eq!(
            object.labels()[crate::labels::MANAGED_BY_KEY],
            "tenant-operator",
            "{}",
            object.name()
        );
        assert_eq!(object.labels()[crate::labels::TENANT], "comune-molfetta");
        assert!(
            ["prod", "test"].contains(&object.labels()[crate::labels::ENVIRONMENT].as_str()),
            "{}",
            object.name()
        );
    }
}

#[test]
fn every_object_and_certificate_carries_the_tenants_uid_when_it_has_one() {
    let mut created = tenant("comune-molfetta", json!({}));
    created.metadata.uid = Some("0b7e9a52-1111-4222-8333-444455556666".to_string());
    let d = render_alone(&created);
    for object in &d.objects {
        assert_eq!(
            object.labels()[crate::labels::TENANT_UID],
            "0b7e9a52-1111-4222-8333-444455556666",
            "{}",
            object.name()
        );
    }
    assert!(
        d.certificates
            .iter()
            .all(|c| c.labels.contains_key(crate::labels::TENANT_UID))
    );
    // A manifest not created yet has no UID: its objects carry no UID label.
    let file = render_alone(&tenant("comune-molfetta", json!({})));
    assert!(
        file.objects
            .iter()
            .all(|o| !o.labels().contains_key(crate::labels::TENANT_UID))
    );
}

#[test]
fn each_namespace_gets_the_ca_bundle_with_the_certificate_render_is_given() {
    let t = tenant("comune-molfetta", json!({}));
    let platform = Platform::default();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: Some(pem),
    };
    let d = render(&t, &class("standard"), &ctx).expect("renders");
    for namespace in ["comune-molfetta-prod", "comune-molfetta-test"] {
        let ChildObject::ConfigMap(bundle) = find(
            &d,
            ManagedKind::ConfigMap,
            Some(namespace),
            CA_BUNDLE_CONFIG_MAP,
        ) else {
            panic!("a ConfigMap")
        };
        assert_eq!(bundle.data.clone().unwrap_or_default()[CA_BUNDLE_KEY], pem);
        assert_eq!(
            bundle.metadata.labels.clone().unwrap_or_default()[crate::labels::TENANT],
            "comune-molfetta"
        );
    }
    // Without the certificate (render in a pull request): the same object, no data.
    let without = render_alone(&t);
    let ChildObject::ConfigMap(bundle) = find(
        &without,
        ManagedKind::ConfigMap,
        Some("comune-molfetta-prod"),
        CA_BUNDLE_CONFIG_MAP,
    ) else {
        panic!("a ConfigMap")
    };
    assert_eq!(bundle.data, None);
}

#[test]
fn objects_sort_namespaces_first_then_by_namespace_kind_and_name() {
    let namespace = |name: &str| {
        ChildObject::Namespace(k8s_openapi::api::core::v1::Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        })
    };
    let meta = |namespace: &str, name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        ..ObjectMeta::default()
    };
    let policy = |ns: &str, name: &str| {
        ChildObject::NetworkPolicy(k8s_openapi::api::networking::v1::NetworkPolicy {
            metadata: meta(ns, name),
            ..Default::default()
        })
    };
    let mut objects = vec![
        ChildObject::Secret(k8s_openapi::api::core::v1::Secret {
            metadata: meta("a-prod", "a-tls"),
            ..Default::default()
        }),
        ChildObject::ConfigMap(ca_bundle::config_map("a-prod", Default::default(), None)),
        ChildObject::RoleBinding(k8s_openapi::api::rbac::v1::RoleBinding {
            metadata: meta("a-prod", "x"),
            ..Default::default()
        }),
        policy("b-prod", "a"),
        namespace("b-prod"),
        policy("a-prod", "z"),
        policy("a-prod", "b"),
        namespace("a-prod"),
    ];
    sort_objects(&mut objects);
    let order: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}/{}",
                o.kind().as_str(),
                o.namespace().unwrap_or("-"),
                o.name()
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "Namespace/-/a-prod",
            "Namespace/-/b-prod",
            "NetworkPolicy/a-prod/b",
            "NetworkPolicy/a-prod/z",
            "RoleBinding/a-prod/x",
            "ConfigMap/a-prod/regional-ca.crt",
            "Secret/a-prod/a-tls",
            "NetworkPolicy/b-prod/a",
        ]
    );
}

#[test]
fn baseline_policies_without_egress_or_peers() {
    let d = render_alone(&tenant("comune-molfetta", json!({})));
    let names: Vec<&str> = d
        .objects
        .iter()
        .filter(|o| {
            o.kind() == ManagedKind::NetworkPolicy && o.namespace() == Some("comune-molfetta-prod")
        })
        .map(super::ChildObject::name)
        .collect();
    assert_eq!(
        names,
        [
            network::ALLOW_DNS,
            network::ALLOW_INGRESS_GATEWAY,
            network::ALLOW_MONITORING,
            network::ALLOW_SAME_NAMESPACE,
            network::DEFAULT_DENY
        ]
    );
    let ChildObject::NetworkPolicy(deny) = find(
        &d,
        ManagedKind::NetworkPolicy,
        Some("comune-molfetta-prod"),
        network::DEFAULT_DENY,
    ) else {
        panic!("not a NetworkPolicy")
    };
    let spec = deny.spec.as_ref().expect("spec");
    assert_eq!(
        spec.policy_types.as_deref(),
        Some(&["Ingress".to_string(), "Egress".to_string()][..])
    );
    assert!(spec.ingress.is_none() && spec.egress.is_none());
}

#[test]
fn egress_uses_the_destination_or_narrows_it() {
    let whole = render_alone(&tenant(
        "a",
        json!({"network": {"egress": [{"name": "pagopa"}]}}),
    ));
    let narrowed = render_alone(&tenant(
        "a",
        json!({"network": {"egress": [{"name": "pagopa", "cidrs": ["203.0.113.17/28"], "ports": [443]}]}}),
    ));
    let rule = |d: &Desired| {
        let ChildObject::NetworkPolicy(p) = find(
            d,
            ManagedKind::NetworkPolicy,
            Some("a-prod"),
            network::ALLOW_EGRESS,
        ) else {
            panic!("not a NetworkPolicy")
        };
        serde_json::to_value(&p.spec.as_ref().expect("spec").egress).expect("json")
    };
    assert_eq!(
        rule(&whole),
        json!([{"to": [{"ipBlock": {"cidr": "203.0.113.0/26"}}], "ports": [{"protocol": "TCP", "port": 443}]}])
    );
    // Host bits are cleared, as the API server would store them.
    assert_eq!(
        rule(&narrowed),
        json!([{"to": [{"ipBlock": {"cidr": "203.0.113.16/28"}}], "ports": [{"protocol": "TCP", "port": 443}]}])
    );
}

#[test]
fn unknown_egress_destination_is_an_error_naming_the_field() {
    let t = tenant(
        "a",
        json!({"network": {"egress": [{"name": "pagopa"}, {"name": "inps"}]}}),
    );
    let platform = Platform::default();
    let error = render(
        &t,
        &class("small"),
        &RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        },
    )
    .expect_err("inps is not in the class");
    assert_eq!(
        error,
        RenderError::UnknownEgressDestination {
            path: "spec.network.egress[1].name".into(),
            name: "inps".into(),
            class: "small".into(),
            available: "pagopa, spid-cie, anpr".into()
        }
    );
}

#[test]
fn cross_tenant_ingress_needs_consent_on_both_sides() {
    let asl = tenant(
        "asl-bari",
        json!({"network": {"allowFrom": [{"tenant": "regione-puglia", "environments": ["prod"]}]}}),
    );
    let region_consents = tenant(
        "regione-puglia",
        json!({"network": {"allowFrom": [{"tenant": "asl-bari"}]}}),
    );
    let region_silent = tenant("regione-puglia", json!({}));
    let platform = Platform::default();
    let with = |peer: &TenantService| {
        render(
            &asl,
            &class("standard"),
            &RenderContext {
                platform: &platform,
                peers: std::slice::from_ref(peer),
                ca_certificate: None,
            },
        )
        .expect("renders")
    };

    let one_sided = with(&region_silent);
    assert!(
        one_sided
            .objects
            .iter()
            .all(|o| o.name() != network::ALLOW_FROM_TENANTS
                && o.name() != network::ALLOW_TO_TENANTS)
    );

    let mutual = with(&region_consents);
    let ChildObject::NetworkPolicy(p) = find(
        &mutual,
        ManagedKind::NetworkPolicy,
        Some("asl-bari-prod"),
        network::ALLOW_FROM_TENANTS,
    ) else {
        panic!("not a NetworkPolicy")
    };
    assert_eq!(
        serde_json::to_value(&p.spec.as_ref().expect("spec").ingress).expect("json"),
        json!([{"from": [{"namespaceSelector": {
            "matchLabels": {"app.kubernetes.io/managed-by": "tenant-operator", "tenancy.innova.puglia.it/tenant": "regione-puglia"},
            "matchExpressions": [{"key": "tenancy.innova.puglia.it/environment", "operator": "In", "values": ["prod"]}]
        }}]}])
    );
}

#[test]
fn mutual_consent_opens_egress_on_the_calling_side_for_the_same_namespaces() {
    // Without the egress rule the caller's default deny drops what both sides agreed to.
    let asl = tenant(
        "asl-bari",
        json!({"network": {"allowFrom": [{"tenant": "regione-puglia", "environments": ["prod"]}]}}),
    );
    let region = tenant(
        "regione-puglia",
        json!({"network": {"allowFrom": [{"tenant": "asl-bari", "environments": ["prod"]}]}}),
    );
    let platform = Platform::default();
    let render_with = |t: &TenantService, peer: &TenantService| {
        render(
            t,
            &class("standard"),
            &RenderContext {
                platform: &platform,
                peers: std::slice::from_ref(peer),
                ca_certificate: None,
            },
        )
        .expect("renders")
    };
    let policy_spec = |d: &Desired, namespace: &str, name: &str| {
        let ChildObject::NetworkPolicy(p) =
            find(d, ManagedKind::NetworkPolicy, Some(namespace), name)
        else {
            panic!("not a NetworkPolicy")
        };
        p.spec.clone().expect("spec")
    };
    let asl_objects = render_with(&asl, &region);
    let region_objects = render_with(&region, &asl);

    // Both sides narrowed to prod: only the two prod namespaces are paired, each way.
    for (d, namespace, peer) in [
        (&asl_objects, "asl-bari-prod", "regione-puglia"),
        (&region_objects, "regione-puglia-prod", "asl-bari"),
    ] {
        let egress = policy_spec(d, namespace, network::ALLOW_TO_TENANTS);
        assert_eq!(egress.policy_types, Some(vec!["Egress".to_string()]));
        assert_eq!(
            serde_json::to_value(&egress.egress).expect("json"),
            json!([{"to": [{"namespaceSelector": {
                "matchLabels": {"app.kubernetes.io/managed-by": "tenant-operator", "tenancy.innova.puglia.it/tenant": peer},
                "matchExpressions": [{"key": "tenancy.innova.puglia.it/environment", "operator": "In", "values": ["prod"]}]
            }}]}])
        );
        let ingress = policy_spec(d, namespace, network::ALLOW_FROM_TENANTS);
        assert_eq!(
            serde_json::to_value(&ingress.ingress.expect("ingress")[0].from).expect("json"),
            serde_json::to_value(&egress.egress.expect("egress")[0].to).expect("json"),
            "the same namespaces in both directions"
        );
    }
    for (d, namespace) in [
        (&asl_objects, "asl-bari-test"),
        (&region_objects, "regione-puglia-test"),
    ] {
        assert!(
            d.objects
                .iter()
                .filter(|o| o.namespace() == Some(namespace))
                .all(|o| o.name() != network::ALLOW_TO_TENANTS
                    && o.name() != network::ALLOW_FROM_TENANTS),
            "{namespace} was not named by the peer"
        );
    }
}

/// `spec.hard` of the class-plan ResourceQuota of namespace `ns`.
fn quota_hard(d: &Desired, ns: &str) -> BTreeMap<String, Quantity> {
    let ChildObject::ResourceQuota(q) =
        find(d, ManagedKind::ResourceQuota, Some(ns), quota::QUOTA_NAME)
    else {
        panic!("not a ResourceQuota")
    };
    q.spec.as_ref().and_then(|s| s.hard.clone()).expect("hard")
}

#[test]
fn quota_takes_overrides_field_by_field_and_no_load_balancers_unless_allowed() {
    let d = render_alone(&tenant("a", json!({})));
    let hard = |ns: &str| quota_hard(&d, ns);
    // The class default for prod, the override for test, the default for the rest.
    assert_eq!(hard("a-prod")["limits.cpu"].0, "4");
    assert_eq!(hard("a-test")["limits.cpu"].0, "3");
    assert_eq!(hard("a-test")["requests.memory"].0, "8Gi");
    assert_eq!(hard("a-test")["services.loadbalancers"].0, "0");
    assert_eq!(hard("a-test")["services.nodeports"].0, "0");
}

#[test]
fn quota_counts_what_tenants_create_and_bounds_ephemeral_storage() {
    let d = render_alone(&tenant(
        "a",
        json!({"environments": [{"name": "prod", "quota": {"secrets": 150, "ephemeralStorage": "30Gi"}}, {"name": "test"}]}),
    ));
    let hard = quota_hard(&d, "a-test");
    // The standard class plan, one quota key per kind (upstream `count/<resource>.<group>`).
    for (key, value) in [
        ("requests.ephemeral-storage", "20Gi"),
        ("limits.ephemeral-storage", "20Gi"),
        ("count/secrets", "100"),
        ("count/configmaps", "100"),
        ("services", "20"),
        ("persistentvolumeclaims", "10"),
        ("count/jobs.batch", "50"),
        ("count/cronjobs.batch", "20"),
        ("count/ingresses.networking.k8s.io", "20"),
        ("count/poddisruptionbudgets.policy", "20"),
        ("count/horizontalpodautoscalers.autoscaling", "20"),
        ("count/serviceaccounts", "40"),
    ] {
        assert_eq!(hard[key].0, value, "{key}");
    }
    let prod = quota_hard(&d, "a-prod");
    assert_eq!(prod["count/secrets"].0, "150");
    assert_eq!(prod["limits.ephemeral-storage"].0, "30Gi");
}

#[test]
fn no_pods_of_the_critical_priority_classes_in_any_environment() {
    let d = render_alone(&tenant("a", json!({})));
    for ns in ["a-prod", "a-test"] {
        let ChildObject::ResourceQuota(q) = find(
            &d,
            ManagedKind::ResourceQuota,
            Some(ns),
            quota::CRITICAL_PRIORITY_QUOTA_NAME,
        ) else {
            panic!("not a ResourceQuota")
        };
        assert_eq!(
            serde_json::to_value(&q.spec).expect("json"),
            json!({"hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [{
                "scopeName": "PriorityClass", "operator": "In",
                "values": ["system-node-critical", "system-cluster-critical"]}]}})
        );
    }
}

#[test]
fn namespaces_publish_the_environment_hostnames_and_ingress_classes() {
    let d = render_alone(&tenant(
        "a",
        json!({"tls": {"hostnames": ["www.comune.molfetta.ba.it", "Servizi.Comune.Molfetta.ba.it."]}}),
    ));
    let annotations = |ns: &str| {
        let ChildObject::Namespace(n) = find(&d, ManagedKind::Namespace, None, ns) else {
            panic!("not a Namespace")
        };
        n.metadata.annotations.clone().expect("annotations")
    };
    assert_eq!(
        annotations("a-prod")[crate::labels::INGRESS_HOSTS_ANNOTATION],
        "servizi.comune.molfetta.ba.it,www.comune.molfetta.ba.it"
    );
    assert_eq!(
        annotations("a-test")[crate::labels::INGRESS_HOSTS_ANNOTATION],
        "test.servizi.comune.molfetta.ba.it,test.www.comune.molfetta.ba.it"
    );
    assert_eq!(
        annotations("a-test")[crate::labels::INGRESS_CLASSES_ANNOTATION],
        "regional-gateway"
    );
    // Without hostnames, no host is allowed.
    let none = render_alone(&tenant("b", json!({})));
    let ChildObject::Namespace(n) = find(&none, ManagedKind::Namespace, None, "b-prod") else {
        panic!("not a Namespace")
    };
    assert_eq!(
        n.metadata.annotations.as_ref().expect("annotations")
            [crate::labels::INGRESS_HOSTS_ANNOTATION],
        ""
    );
}

#[test]
fn tenants_of_the_classifications_a_class_keeps_a_node_pool_for_are_placed_there() {
    let platform = Platform::default();
    let sanita = class("sanita");
    let render_with = |classification: &str, class: &crate::api::TenantClass| {
        render(
            &tenant(
                "a",
                json!({"dataClassification": classification, "class": class.name_any()}),
            ),
            class,
            &RenderContext {
                platform: &platform,
                peers: &[],
                ca_certificate: None,
            },
        )
        .expect("renders")
    };
    let d = render_with("critico", &sanita);
    let ChildObject::Namespace(n) = find(&d, ManagedKind::Namespace, None, "a-prod") else {
        panic!("not a Namespace")
    };
    let labels = n.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels[crate::labels::NODE_POOL], "sanita");
    let annotations = n.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        annotations[crate::labels::NODE_SELECTOR_ANNOTATION],
        "node-restriction.kubernetes.io/tenancy-node-pool=sanita"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            &annotations[crate::labels::DEFAULT_TOLERATIONS_ANNOTATION]
        )
        .expect("JSON"),
        json!([{"key": "node-restriction.kubernetes.io/tenancy-node-pool", "operator": "Equal",
            "value": "sanita", "effect": "NoSchedule"}])
    );
    // The large class keeps its pool for strategico tenants only.
    let large = class("large");
    let ordinary = render_with("critico", &large);
    let ChildObject::Namespace(n) = find(&ordinary, ManagedKind::Namespace, None, "a-prod") else {
        panic!("not a Namespace")
    };
    assert!(!n.labels().contains_key(crate::labels::NODE_POOL));
    assert!(
        !n.metadata
            .annotations
            .as_ref()
            .expect("annotations")
            .contains_key(crate::labels::NODE_SELECTOR_ANNOTATION)
    );
    let strategic = render_with("strategico", &large);
    assert_eq!(
        find(&strategic, ManagedKind::Namespace, None, "a-prod").labels()[crate::labels::NODE_POOL],
        "strategico"
    );
}

#[test]
fn groups_are_bound_sorted_and_empty_lists_bind_nothing() {
    let d = render_alone(&tenant(
        "a",
        json!({"access": {"adminGroups": ["z-admins", "a-admins", "z-admins"], "viewerGroups": []}}),
    ));
    let ChildObject::RoleBinding(b) = find(
        &d,
        ManagedKind::RoleBinding,
        Some("a-prod"),
        "tenancy-admins",
    ) else {
        panic!("not a RoleBinding")
    };
    assert_eq!(b.role_ref.name, access::TENANT_ADMIN_ROLE);
    let subjects: Vec<&str> = b
        .subjects
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(subjects, ["a-admins", "z-admins"]);
    assert!(d.objects.iter().all(|o| o.name() != "tenancy-viewers"));
    find(
        &d,
        ManagedKind::RoleBinding,
        Some("a-prod"),
        access::MONITORING,
    );
}

#[test]
fn certificates_per_environment_with_prefixed_names_outside_prod() {
    let d = render_alone(&tenant(
        "a",
        json!({"tls": {"hostnames": ["Servizi.Comune.Molfetta.BA.it", "www.comune.molfetta.ba.it"]}}),
    ));
    let names: Vec<(&str, Vec<String>)> = d
        .certificates
        .iter()
        .map(|c| (c.namespace.as_str(), c.dns_names.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "a-prod",
                vec![
                    "servizi.comune.molfetta.ba.it".to_string(),
                    "www.comune.molfetta.ba.it".to_string()
                ]
            ),
            (
                "a-test",
                vec![
                    "test.servizi.comune.molfetta.ba.it".to_string(),
                    "test.www.comune.molfetta.ba.it".to_string()
                ]
            ),
        ]
    );
    assert!(d.certificates.iter().all(|c| c.secret_name == "a-tls"));
    assert!(
        render_alone(&tenant("b", json!({})))
            .certificates
            .is_empty()
    );
}

#[test]
fn same_input_same_output() {
    let t = tenant(
        "a",
        json!({"network": {"egress": [{"name": "pagopa"}]}, "access": {"editGroups": ["x", "y"]}}),
    );
    assert_eq!(render_alone(&t), render_alone(&t));
}

#[test]
fn the_peer_names_which_of_our_environments_it_talks_to() {
    // The Region accepts only asl-bari's prod; asl-bari accepts all of the Region.
    let asl = tenant(
        "asl-bari",
        json!({"network": {"allowFrom": [{"tenant": "regione-puglia"}]}}),
    );
    let region = tenant(
        "regione-puglia",
        json!({"network": {"allowFrom": [{"tenant": "asl-bari", "environments": ["prod"]}]}}),
    );
    let platform = Platform::default();
    let d = render(
        &asl,
        &class("standard"),
        &RenderContext {
            platform: &platform,
            peers: std::slice::from_ref(&region),
            ca_certificate: None,
        },
    )
    .expect("renders");
    let with_policy: Vec<&str> = d
        .objects
        .iter()
        .filter(|o| o.name() == network::ALLOW_FROM_TENANTS)
        .filter_map(|o| o.namespace())
        .collect();
    assert_eq!(with_policy, ["asl-bari-prod"]);
    let ChildObject::NetworkPolicy(p) = find(
        &d,
        ManagedKind::NetworkPolicy,
        Some("asl-bari-prod"),
        network::ALLOW_FROM_TENANTS,
    ) else {
        panic!("not a NetworkPolicy")
    };
    // No environment filter on our side: every namespace of the Region.
    assert_eq!(
        serde_json::to_value(&p.spec.as_ref().expect("spec").ingress).expect("json"),
        json!([{"from": [{"namespaceSelector": {"matchLabels": {
            "app.kubernetes.io/managed-by": "tenant-operator",
            "tenancy.innova.puglia.it/tenant": "regione-puglia"
        }}}]}])
    );
}

#[test]
fn egress_entries_cannot_widen_the_destination() {
    let platform = Platform::default();
    let attempt = |entry: serde_json::Value| {
        render(
            &tenant("a", json!({"network": {"egress": [entry]}})),
            &class("standard"),
            &RenderContext {
                platform: &platform,
                peers: &[],
                ca_certificate: None,
            },
        )
    };
    assert_eq!(
        attempt(json!({"name": "pagopa", "cidrs": ["203.0.112.0/23"]})),
        Err(RenderError::EgressWidens {
            path: "spec.network.egress[0].cidrs[0]".into(),
            value: "203.0.112.0/23".into(),
            destination: "pagopa".into(),
            allowed: "203.0.113.0/26".into()
        })
    );
    assert_eq!(
        attempt(json!({"name": "pagopa", "ports": [443, 22]})),
        Err(RenderError::EgressWidens {
            path: "spec.network.egress[0].ports[1]".into(),
            value: "22".into(),
            destination: "pagopa".into(),
            allowed: "443".into()
        })
    );
    assert_eq!(
        attempt(json!({"name": "pagopa", "cidrs": ["203.0.113.0/33"]})),
        Err(RenderError::InvalidCidr {
            path: "spec.network.egress[0].cidrs[0]".into(),
            cidr: "203.0.113.0/33".into()
        })
    );
    assert_eq!(
        attempt(json!({"name": "pagopa", "ports": [0]})),
        Err(RenderError::InvalidPort {
            path: "spec.network.egress[0].ports[0]".into(),
            port: 0
        })
    );
    let message = attempt(json!({"name": "pagopa", "ports": [22]}))
        .expect_err("widens")
        .to_string();
    assert!(
        message.starts_with("spec.network.egress[0].ports[0]: 22 is outside"),
        "{message}"
    );
}

#[test]
fn duplicate_environments_are_refused_not_merged() {
    let t = tenant(
        "a",
        json!({"environments": [{"name": "prod"}, {"name": "test"}, {"name": "prod"}]}),
    );
    let platform = Platform::default();
    let error = render(
        &t,
        &class("standard"),
        &RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        },
    )
    .expect_err("prod twice");
    assert_eq!(
        error,
        RenderError::DuplicateEnvironment {
            path: "spec.environments[2].name".into(),
            name: "prod".into()
        }
    );
}

#[test]
fn monitoring_is_bound_to_the_charts_discovery_role_and_no_role_is_rendered() {
    let d = render_alone(&tenant("a", json!({})));
    assert!(
        d.objects.iter().all(|o| o.kind().is_rendered()),
        "render produces no Role: every binding names a chart ClusterRole"
    );
    let ChildObject::RoleBinding(binding) = find(
        &d,
        ManagedKind::RoleBinding,
        Some("a-prod"),
        access::MONITORING,
    ) else {
        panic!("not a RoleBinding")
    };
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(binding.role_ref.name, access::TENANT_MONITORING_ROLE);
    assert_eq!(
        serde_json::to_value(&binding.subjects).expect("json"),
        json!([{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}])
    );
}

#[test]
fn limit_range_takes_the_class_defaults_and_maxima() {
    let d = render_alone(&tenant("a", json!({})));
    let ChildObject::LimitRange(l) = find(
        &d,
        ManagedKind::LimitRange,
        Some("a-test"),
        quota::LIMIT_RANGE_NAME,
    ) else {
        panic!("not a LimitRange")
    };
    assert_eq!(
        serde_json::to_value(&l.spec).expect("json"),
        json!({"limits": [{
            "type": "Container",
            "default": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "100Mi"},
            "max": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "8Gi"}
        }]})
    );
}

#[test]
fn service_types_the_class_allows_are_labelled_and_counted() {
    let mut allowing = class("large");
    allowing.spec.services.allow_load_balancer = true;
    allowing.spec.services.allow_node_port = true;
    allowing.spec.services.allow_external_name = true;
    let platform = Platform::default();
    let d = render(
        &tenant("a", json!({})),
        &allowing,
        &RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        },
    )
    .expect("renders");
    let labels = find(&d, ManagedKind::Namespace, None, "a-prod").labels();
    assert_eq!(labels[crate::labels::ALLOW_LOAD_BALANCER], "true");
    assert_eq!(labels[crate::labels::ALLOW_NODE_PORT], "true");
    assert_eq!(labels[crate::labels::ALLOW_EXTERNAL_NAME], "true");
    let hard = quota_hard(&d, "a-prod");
    assert_eq!(hard["services.loadbalancers"].0, "1");
    assert!(!hard.contains_key("services.nodeports"));
}

#[test]
fn odd_input_renders_or_is_refused_without_panicking() {
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    // No environments: nothing to create.
    let none = tenant("a", json!({"environments": []}));
    assert_eq!(
        render(&none, &class("standard"), &ctx),
        Ok(Desired::default())
    );
    // Empty lists everywhere, a trailing-dot hostname, a self-reference in allowFrom.
    let odd = tenant(
        "a",
        json!({
            "network": {"egress": [], "allowFrom": [{"tenant": "a"}]},
            "tls": {"hostnames": ["WWW.Example.IT.", "www.example.it"]},
            "access": {"adminGroups": [], "editGroups": [], "viewerGroups": []}
        }),
    );
    let d = render(
        &odd,
        &class("standard"),
        &RenderContext {
            platform: &platform,
            peers: std::slice::from_ref(&odd),
            ca_certificate: None,
        },
    )
    .expect("renders");
    assert!(
        d.objects
            .iter()
            .all(|o| o.name() != network::ALLOW_FROM_TENANTS)
    );
    assert!(d.objects.iter().all(|o| o.name() != network::ALLOW_EGRESS));
    assert_eq!(d.certificates[0].dns_names, ["www.example.it"]);
    // A class whose destination CIDR is broken is named in the error.
    let mut broken = class("standard");
    broken.spec.egress_destinations[0].cidrs = vec!["not-a-cidr".into()];
    let with_egress = tenant("a", json!({"network": {"egress": [{"name": "pagopa"}]}}));
    assert_eq!(
        render(&with_egress, &broken, &ctx),
        Err(RenderError::InvalidCidr {
            path: "TenantClass standard: spec.egressDestinations[0].cidrs[0]".into(),
            cidr: "not-a-cidr".into()
        })
    );
}

#[test]
fn apply_order_moves_each_item_to_its_place() {
    // Two cycles (0 → 2 → 3 → 0 and 1 → 4 → 1) and a fixed point (5).
    let mut items = vec!['a', 'b', 'c', 'd', 'e', 'f'];
    apply_order(&mut items, vec![2, 4, 3, 0, 1, 5]);
    assert_eq!(items, vec!['c', 'e', 'd', 'a', 'b', 'f']);
    let mut empty: Vec<char> = Vec::new();
    apply_order(&mut empty, Vec::new());
    assert!(empty.is_empty());
}

#[test]
fn sort_objects_gives_the_order_of_a_stable_sort_by_order_key() {
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    // Two tenants' objects, the later tenant first and each list reversed: nothing is in
    // order as it comes, and equal keys (none are expected) would show up as a difference.
    let mut objects: Vec<ChildObject> = ["comune-zollino", "comune-acquaviva"]
        .into_iter()
        .flat_map(|name| {
            let mut objects = render(&tenant(name, json!({})), &class("standard"), &ctx)
                .expect("renders")
                .objects;
            objects.reverse();
            objects
        })
        .collect();
    let mut expected = objects.clone();
    expected.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    sort_objects(&mut objects);
    assert!(objects.len() > 20, "{} objects", objects.len());
    assert_eq!(objects, expected);
}
