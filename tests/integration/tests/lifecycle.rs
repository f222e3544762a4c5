//! Updates, deletion with each policy, invalid specs and certificates.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tenant_operator::api::TenantService;
use x509_parser::prelude::FromDer;

/// Content of every NetworkPolicy of a tenant, for before/after comparisons.
async fn policies(h: &Harness, tenant: &str) -> Vec<(String, String, serde_json::Value)> {
    let mut list: Vec<_> = h
        .children("networking.k8s.io/v1", "NetworkPolicy", tenant)
        .await
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name_of(&p),
                p["spec"].clone(),
            )
        })
        .collect();
    list.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_follow_the_spec_and_removed_environments_follow_the_policy() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let mut tenant = tenant_fixture("comune-bitonto");
    h.apply(&tenant).await;
    h.wait_ready("comune-bitonto").await;

    // Add an environment.
    tenant["spec"]["environments"] = json!([{"name": "prod"}, {"name": "test"}, {"name": "dev"}]);
    h.apply(&tenant).await;
    let ready = h.wait_ready("comune-bitonto").await;
    assert!(h.namespace("comune-bitonto-dev").await.is_some());
    assert_eq!(
        ready
            .status
            .as_ref()
            .and_then(|s| s.environments.clone())
            .as_deref(),
        Some("prod,test,dev")
    );

    // Change egress: the network policies change.
    let before = policies(&h, "comune-bitonto").await;
    tenant["spec"]["network"] = json!({"egress": [{"name": "pagopa"}, {"name": "spid-cie"}]});
    h.apply(&tenant).await;
    h.wait_ready("comune-bitonto").await;
    let after = policies(&h, "comune-bitonto").await;
    assert_ne!(
        before, after,
        "egress change must change the NetworkPolicies"
    );

    // Add a hostname: every environment's certificate is re-issued with it.
    let serials_before: Vec<String> = ready
        .status
        .as_ref()
        .map(|s| s.certificates.iter().map(|c| c.serial.clone()).collect())
        .unwrap_or_default();
    tenant["spec"]["tls"] =
        json!({"hostnames": ["servizi.bitonto.example.it", "pagamenti.bitonto.example.it"]});
    h.apply(&tenant).await;
    let ready = h.wait_ready("comune-bitonto").await;
    let certificates = ready
        .status
        .as_ref()
        .map(|s| s.certificates.clone())
        .unwrap_or_default();
    assert_eq!(certificates.len(), 3);
    for certificate in &certificates {
        assert!(
            certificate
                .dns_names
                .iter()
                .any(|n| n.contains("pagamenti.bitonto.example.it")),
            "{certificate:?}"
        );
        assert!(!serials_before.contains(&certificate.serial));
    }

    // Change class: the quota follows the new class.
    h.apply(&default_class_value("large")).await;
    let quotas_before: Vec<_> = h
        .children("v1", "ResourceQuota", "comune-bitonto")
        .await
        .into_iter()
        .map(|q| q["spec"].clone())
        .collect();
    tenant["spec"]["class"] = json!("large");
    h.apply(&tenant).await;
    h.wait_ready("comune-bitonto").await;
    let quotas_after: Vec<_> = h
        .children("v1", "ResourceQuota", "comune-bitonto")
        .await
        .into_iter()
        .map(|q| q["spec"].clone())
        .collect();
    assert_ne!(
        quotas_before, quotas_after,
        "class change must change the quota"
    );

    // Remove an environment under Retain: the namespace stays, detached and labelled.
    tenant["spec"]["environments"] = json!([{"name": "prod"}, {"name": "test"}]);
    h.apply(&tenant).await;
    h.wait_ready("comune-bitonto").await;
    h.eventually(
        Duration::from_secs(10),
        "dev namespace detached",
        || async {
            h.namespace("comune-bitonto-dev").await.is_some_and(|ns| {
                let labels = ns.metadata.labels.unwrap_or_default();
                labels
                    .get("tenancy.innova.puglia.it/retained")
                    .map(String::as_str)
                    == Some("true")
                    && !labels.contains_key("app.kubernetes.io/managed-by")
            })
        },
    )
    .await;

    // Remove an environment under Delete: the namespace goes.
    tenant["spec"]["deletionPolicy"] = json!("Delete");
    tenant["spec"]["environments"] = json!([{"name": "prod"}]);
    h.apply(&tenant).await;
    h.wait_ready("comune-bitonto").await;
    h.eventually(
        Duration::from_secs(10),
        "test namespace deleted",
        || async { h.namespace("comune-bitonto-test").await.is_none() },
    )
    .await;
    assert!(h.namespace("comune-bitonto-prod").await.is_some());
    operator.stop().await.expect("clean stop");
}

/// A LoadBalancer Service named `name`, as a tenant's admin would write it (without node
/// ports, which no class's quota allows).
fn load_balancer(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
                 "selector": {"app": "web"}, "ports": [{"port": 443}]}
    }))
    .expect("a Service")
}

/// The namespace is created whole by one write (so its labels are held by that create,
/// not by an apply); a class that stops allowing load balancers must still take the label
/// that allowed them back, and the right with it, as the tenant's own admin finds out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_that_stops_allowing_load_balancers_takes_the_right_back() {
    let h = Harness::new().await;
    h.apply(&default_class_value("large")).await;
    let operator = h.start_operator(test_config());
    let mut tenant = tenant_fixture("comune-ostuni");
    tenant["spec"]["class"] = json!("large");
    h.apply(&tenant).await;
    h.wait_ready("comune-ostuni").await;
    let namespace = "comune-ostuni-prod";
    let allow = "tenancy.innova.puglia.it/allow-load-balancer";
    let created = h.namespace(namespace).await.expect("namespace");
    assert_eq!(
        created.labels().get(allow).map(String::as_str),
        Some("true")
    );
    let admin = h
        .server
        .client_as("anna", &["comune-ostuni-admins"])
        .expect("client");
    let services = Api::<Service>::namespaced(admin, namespace);
    services
        .create(&PostParams::default(), &load_balancer("public"))
        .await
        .expect("class large allows a load balancer");

    // A label of someone else's (a backup tool's), which is not the operator's to remove.
    Api::<Namespace>::all(h.client.clone())
        .patch(
            namespace,
            &PatchParams {
                field_manager: Some("backup-tool".to_string()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"metadata": {"labels": {"backup.example.it/schedule": "daily"}}})),
        )
        .await
        .expect("label the namespace");

    tenant["spec"]["class"] = json!("standard");
    h.apply(&tenant).await;
    h.eventually(
        Duration::from_secs(20),
        "the allow-load-balancer label removed",
        || async {
            h.namespace(namespace)
                .await
                .is_some_and(|ns| !ns.labels().contains_key(allow))
        },
    )
    .await;
    let ready = h.wait_ready("comune-ostuni").await;
    assert_eq!(ready.spec.class, "standard");
    let refused = services
        .create(&PostParams::default(), &load_balancer("public-2"))
        .await
        .expect_err("class standard allows no load balancer");
    assert!(
        refused.to_string().contains(
            "service comune-ostuni-prod/public-2: type LoadBalancer is not allowed by the TenantClass of this namespace"
        ),
        "{refused}"
    );
    let mut cluster_ip = load_balancer("internal");
    if let Some(spec) = cluster_ip.spec.as_mut() {
        spec.type_ = Some("ClusterIP".to_string());
        spec.allocate_load_balancer_node_ports = None;
    }
    services
        .create(&PostParams::default(), &cluster_ip)
        .await
        .expect("a ClusterIP Service is still the admin's to create");
    // Only what the operator wrote is taken back.
    let kept = h.namespace(namespace).await.expect("namespace");
    assert_eq!(
        kept.labels()
            .get("backup.example.it/schedule")
            .map(String::as_str),
        Some("daily")
    );
    assert_eq!(
        kept.labels()
            .get("tenancy.innova.puglia.it/class")
            .map(String::as_str),
        Some("standard")
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_retain_keeps_namespaces_and_data_even_when_the_crd_goes() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-ruvo")).await;
    h.wait_ready("comune-ruvo").await;
    let quota_series =
        "tenant_operator_quota_hard{environment=\"prod\",resource=\"pods\",tenant=\"comune-ruvo\"}";
    h.eventually(Duration::from_secs(10), "quota metrics", || async {
        operator.metric(quota_series).is_some()
    })
    .await;
    // Tenant data: a PVC and a ConfigMap of the tenant's own.
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(h.client.clone(), "comune-ruvo-prod");
    pvcs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "archivio"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }))
        .expect("pvc"),
    )
    .await
    .expect("create PVC");

    Api::<TenantService>::all(h.client.clone())
        .delete("comune-ruvo", &DeleteParams::default())
        .await
        .expect("delete tenant");
    h.wait_tenant("comune-ruvo", Duration::from_secs(20), "gone", |t| {
        t.is_none()
    })
    .await;
    for env in ["prod", "test"] {
        let ns = h
            .namespace(&format!("comune-ruvo-{env}"))
            .await
            .expect("namespace retained");
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("tenancy.innova.puglia.it/retained")
                .map(String::as_str),
            Some("true")
        );
        assert!(!labels.contains_key("app.kubernetes.io/managed-by"));
        assert!(ns.metadata.owner_references.is_none());
        assert!(ns.metadata.deletion_timestamp.is_none());
    }
    assert!(
        pvcs.get_opt("archivio").await.expect("get pvc").is_some(),
        "PVC survives"
    );
    // No series of the tenant is left behind, not even of its detached quotas.
    h.eventually(Duration::from_secs(10), "tenant series gone", || async {
        operator.metric(quota_series).is_none()
            && operator
                .metric("tenant_operator_tenant_ready{tenant=\"comune-ruvo\"}")
                .is_none()
    })
    .await;

    // Deleting the CRD afterwards deletes no namespace.
    operator.stop().await.expect("clean stop");
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    crds.delete(
        "tenantservices.tenancy.innova.puglia.it",
        &DeleteParams::default(),
    )
    .await
    .expect("delete CRD");
    h.eventually(Duration::from_secs(10), "CRD gone", || async {
        crds.get_opt("tenantservices.tenancy.innova.puglia.it")
            .await
            .expect("get crd")
            .is_none()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // a GC sweep or two
    for env in ["prod", "test"] {
        let ns = h
            .namespace(&format!("comune-ruvo-{env}"))
            .await
            .expect("namespace survives CRD deletion");
        assert!(ns.metadata.deletion_timestamp.is_none());
    }
    assert!(pvcs.get_opt("archivio").await.expect("get pvc").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_delete_policy_removes_everything_then_releases_the_finalizer() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let mut tenant = tenant_fixture("comune-giovinazzo");
    tenant["spec"]["deletionPolicy"] = json!("Delete");
    h.apply(&tenant).await;
    let ready = h.wait_ready("comune-giovinazzo").await;
    assert!(
        ready
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"tenancy.innova.puglia.it/cleanup".to_string())
    );
    Api::<TenantService>::all(h.client.clone())
        .delete("comune-giovinazzo", &DeleteParams::default())
        .await
        .expect("delete tenant");
    h.wait_tenant("comune-giovinazzo", Duration::from_secs(20), "gone", |t| {
        t.is_none()
    })
    .await;
    for env in ["prod", "test"] {
        assert!(
            h.namespace(&format!("comune-giovinazzo-{env}"))
                .await
                .is_none(),
            "{env} namespace deleted before the finalizer was released"
        );
    }
    assert!(
        h.children("networking.k8s.io/v1", "NetworkPolicy", "comune-giovinazzo")
            .await
            .is_empty()
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_creates_nothing_and_fixing_it_makes_it_ready() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let mut tenant = tenant_fixture("comune-corato");
    tenant["spec"]["class"] = json!("gold");
    h.apply(&tenant).await;
    let failed = h
        .wait_tenant(
            "comune-corato",
            Duration::from_secs(20),
            "InvalidSpec",
            |t| {
                t.and_then(|t| condition(t, "Ready").map(|c| c.reason == "InvalidSpec"))
                    .unwrap_or(false)
            },
        )
        .await
        .expect("tenant");
    let ready = condition(&failed, "Ready").expect("Ready");
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("spec.class"), "{}", ready.message);
    assert!(
        ready.message.contains("[CLASS-UNKNOWN]"),
        "the condition names the rule: {}",
        ready.message
    );
    assert_eq!(
        failed
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map(tenant_operator::api::Phase::as_str),
        Some("Failed")
    );
    assert!(
        h.children("v1", "Namespace", "comune-corato")
            .await
            .is_empty(),
        "nothing created"
    );
    assert!(h.namespace("comune-corato-prod").await.is_none());

    tenant["spec"]["class"] = json!("standard");
    h.apply(&tenant).await;
    h.wait_ready("comune-corato").await;
    assert!(h.namespace("comune-corato-prod").await.is_some());
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_chain_to_the_regional_ca_and_renew_before_expiry() {
    let h = Harness::new().await;
    let mut config = test_config();
    // 6-second certificates: renewed after 4 s.
    config.settings.certificate_lifetime = Duration::from_secs(6);
    let operator = h.start_operator(config);
    h.apply(&tenant_fixture("comune-bisceglie")).await;
    let ready = h.wait_ready("comune-bisceglie").await;
    let first = ready.status.as_ref().expect("status").certificates.clone();

    // The CA: in the operator namespace, published as a bundle.
    let ca_secret = Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NS)
        .get(tenant_operator::pki::DEFAULT_CA_SECRET)
        .await
        .expect("CA secret");
    let ca_pem = ca_secret.data.as_ref().expect("data")["tls.crt"].0.clone();
    let bundle = Api::<ConfigMap>::namespaced(h.client.clone(), "comune-bisceglie-prod")
        .get(tenant_operator::render::CA_BUNDLE_CONFIG_MAP)
        .await
        .expect("bundle");
    assert_eq!(
        bundle.data.expect("data")["ca.crt"].as_bytes(),
        ca_pem.as_slice()
    );
    let (_, ca_block) = x509_parser::pem::parse_x509_pem(&ca_pem).expect("CA PEM");
    let (_, ca) =
        x509_parser::certificate::X509Certificate::from_der(&ca_block.contents).expect("CA");
    assert!(ca.is_ca());

    let secrets = Api::<Secret>::namespaced(h.client.clone(), "comune-bisceglie-prod");
    let tls = secrets
        .get(&first[0].secret_name)
        .await
        .expect("tls secret");
    let data = tls.data.expect("data");
    assert!(!String::from_utf8_lossy(&data["tls.key"].0).is_empty());
    assert_eq!(data["ca.crt"].0, ca_pem);
    let (_, leaf_block) = x509_parser::pem::parse_x509_pem(&data["tls.crt"].0).expect("leaf PEM");
    let (_, leaf) =
        x509_parser::certificate::X509Certificate::from_der(&leaf_block.contents).expect("leaf");
    leaf.verify_signature(Some(ca.public_key()))
        .expect("leaf chains to the regional CA");
    assert_eq!(leaf.issuer().as_raw(), ca.subject().as_raw());
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .expect("san")
        .expect("san present")
        .value
        .general_names
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert!(
        sans.iter()
            .any(|n| n.contains("servizi.comune-bisceglie.example.it")),
        "{sans:?}"
    );

    // Renewal: a new serial before the old certificate expires.
    let old_serial = first[0].serial.clone();
    let old_not_after =
        jiff::Timestamp::from_second(leaf.validity().not_after.timestamp()).expect("time");
    let renewed = h
        .wait_tenant(
            "comune-bisceglie",
            Duration::from_secs(15),
            "renewed",
            |t| {
                t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
                    s.certificates.iter().all(|c| {
                        c.serial != old_serial && !first.iter().any(|f| f.serial == c.serial)
                    })
                })
            },
        )
        .await
        .expect("tenant");
    assert!(
        jiff::Timestamp::now() < old_not_after,
        "renewed before expiry"
    );
    assert_eq!(renewed.status.expect("status").certificates.len(), 2);
    assert!(
        operator
            .metric("tenant_operator_certificates_issued_total{reason=\"DueForRenewal\"}")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert!(operator
        .metric("tenant_operator_certificate_expiry_timestamp_seconds{environment=\"prod\",tenant=\"comune-bisceglie\"}")
        .is_some());
    operator.stop().await.expect("clean stop");
}
