//! Nothing that is not a tenant's own is given to it (issue 9: reserved names, delegated
//! domains, a constrained CA, `system:` groups), each tried as a tenant's pull request
//! would try it, against a fresh in-memory API server with the real controller, beside
//! the legitimate request that succeeds.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use tenant_operator::api::TenantService;
use tenant_operator::fixtures::delegation_value;
use tenant_operator::pki;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// Waits until the tenant is Ready=False for its current generation, and returns the
/// Ready condition's message.
async fn wait_refused(h: &Harness, name: &str) -> String {
    let tenant = h
        .wait_tenant(name, Duration::from_secs(20), "refused", |t| {
            t.is_some_and(|t| {
                t.status
                    .as_ref()
                    .is_some_and(|s| s.observed_generation == t.metadata.generation)
                    && condition(t, "Ready").is_some_and(|c| c.status == "False")
            })
        })
        .await
        .expect("the tenant exists");
    let ready = condition(&tenant, "Ready").expect("Ready");
    format!("{}: {}", ready.reason, ready.message)
}

/// A tenant of the fixture's body with `spec_patch` merged in.
fn tenant(name: &str, spec_patch: Value) -> Value {
    let mut tenant = tenant_fixture(name);
    tenant_operator::fixtures::merge(&mut tenant["spec"], spec_patch);
    tenant
}

/// The TLS Secrets of a tenant.
async fn tls_secrets(h: &Harness, name: &str) -> Vec<Value> {
    h.children("v1", "Secret", name).await
}

/// The DER of the first certificate of a PEM text.
fn der(pem: &[u8]) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("PEM certificate");
    pem.contents
}

fn secret_data(secret: &Value, key: &str) -> Vec<u8> {
    let secret: Secret = serde_json::from_value(secret.clone()).expect("a Secret");
    match secret.data.and_then(|d| d.get(key).cloned()) {
        Some(bytes) => bytes.0,
        None => panic!("Secret without {key}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_namespaces_are_refused_and_never_touched() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    // `tenant` + `operator` is the operator's own namespace; `ingress` + `gateway` the one
    // every tenant's policies trust; `kube` + anything is Kubernetes'; `flux` + `system`
    // is the datacenter's (policies/reserved-namespaces.yaml, as the chart passes it).
    for (name, environment, says) in [
        (
            "tenant",
            "operator",
            "namespace \"tenant-operator\" is reserved by tenant-operator (the tenant operator)",
        ),
        (
            "ingress",
            "gateway",
            "namespace \"ingress-gateway\" is reserved by ingress-gateway (the regional ingress gateway)",
        ),
        (
            "kube",
            "system",
            "metadata.name: every namespace of \"kube\"",
        ),
        (
            "flux",
            "system",
            "namespace \"flux-system\" is reserved by flux-system (the datacenter)",
        ),
    ] {
        h.apply(&tenant(
            name,
            json!({"environments": [{"name": environment}]}),
        ))
        .await;
        let message = wait_refused(&h, name).await;
        assert!(message.starts_with("InvalidSpec: "), "{name}: {message}");
        assert!(message.contains(says), "{name}: {message}");
        assert!(
            h.children("v1", "Namespace", name).await.is_empty(),
            "{name}: nothing created"
        );
    }
    // The operator's namespace kept its labels: not relabelled, not entered.
    let own = h.namespace(OPERATOR_NS).await.expect("operator namespace");
    assert!(own.metadata.labels.unwrap_or_default().keys().all(|k| {
        !k.starts_with("tenancy.innova.puglia.it/") && k != "app.kubernetes.io/managed-by"
    }));
    // The legitimate tenant beside them.
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_outside_the_delegation_gets_no_certificate() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    // The fixture's body (c_f284) has example.it; the region's site is not its own.
    h.apply(&tenant(
        "comune-impostore",
        json!({"tls": {"hostnames": ["servizi.impostore.example.it", "www.regione.puglia.it"]}}),
    ))
    .await;
    let message = wait_refused(&h, "comune-impostore").await;
    assert!(
        message.contains("spec.tls.hostnames[1]: \"www.regione.puglia.it\" is not inside the DNS domains delegated to \"c_f284\" (example.it)"),
        "{message}"
    );
    assert!(tls_secrets(&h, "comune-impostore").await.is_empty());
    // Beside it, the same body's own hostnames get their certificates.
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    assert_eq!(tls_secrets(&h, "comune-molfetta").await.len(), 2);
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegation_change_rechecks_the_tenants_of_its_body() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.apply(&tenant_fixture("comune-bitonto")).await;
    h.wait_ready("comune-molfetta").await;
    h.wait_ready("comune-bitonto").await;
    let bitonto_generation = h
        .tenant("comune-bitonto")
        .await
        .and_then(|t| t.metadata.generation);

    // The datacenter narrows the body's delegation to Molfetta's own subdomain: Bitonto's
    // hostname is no longer the body's, Molfetta's still is. Neither tenant changed.
    h.apply(&delegation_value(
        "fixture-tenants",
        "c_f284",
        &["comune-molfetta.example.it"],
    ))
    .await;
    let message = wait_refused(&h, "comune-bitonto").await;
    assert!(
        message.contains("\"servizi.comune-bitonto.example.it\" is not inside the DNS domains delegated to \"c_f284\" (comune-molfetta.example.it)"),
        "{message}"
    );
    let bitonto = h.tenant("comune-bitonto").await.expect("exists");
    assert_eq!(
        bitonto.metadata.generation, bitonto_generation,
        "the tenant itself did not change"
    );
    let molfetta = h.tenant("comune-molfetta").await.expect("exists");
    assert!(
        is_ready(&molfetta),
        "Molfetta's hostname is still delegated"
    );
    // No new certificate for the name that left the delegation: Bitonto's Secrets keep
    // the serials issued before.
    let serials = |t: &TenantService| -> Vec<String> {
        t.status
            .as_ref()
            .map(|s| s.certificates.iter().map(|c| c.serial.clone()).collect())
            .unwrap_or_default()
    };
    let before = serials(&bitonto);

    // Removing the delegation altogether refuses Molfetta too; giving it back heals both.
    Api::<tenant_operator::api::DomainDelegation>::all(h.client.clone())
        .delete("fixture-tenants", &Default::default())
        .await
        .expect("delete the delegation");
    let message = wait_refused(&h, "comune-molfetta").await;
    assert!(
        message.contains("no DNS domain is delegated to it"),
        "{message}"
    );
    h.apply(&fixture_delegation()).await;
    h.wait_ready("comune-molfetta").await;
    let bitonto = h.wait_ready("comune-bitonto").await;
    assert_eq!(serials(&bitonto), before, "healed without re-issuing");
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_groups_are_refused_in_every_access_list() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    for (list, group) in [
        ("adminGroups", "system:authenticated"),
        ("editGroups", "system:serviceaccounts"),
        ("viewerGroups", "system:serviceaccounts:comune-bari-prod"),
    ] {
        let name = format!("comune-{}", list.trim_end_matches("Groups").to_lowercase());
        h.apply(&tenant(
            &name,
            json!({"access": {list: [format!("{name}-team"), group]}}),
        ))
        .await;
        let message = wait_refused(&h, &name).await;
        assert!(
            message.contains(&format!(
                "spec.access.{list}[1]: \"{group}\" is a group the Kubernetes API server defines"
            )),
            "{message}"
        );
        assert!(
            h.children("rbac.authorization.k8s.io/v1", "RoleBinding", &name)
                .await
                .is_empty()
        );
    }
    // The body's own groups are bound.
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    assert!(
        !h.children(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "comune-molfetta"
        )
        .await
        .is_empty()
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_ca_is_name_constrained_on_the_issued_chain() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    assert_eq!(
        operator.metric("tenant_operator_ca_unconstrained "),
        Some(0.0)
    );

    let secrets = tls_secrets(&h, "comune-molfetta").await;
    let secret = secrets
        .iter()
        .find(|s| name_of(s) == "comune-molfetta-tls")
        .expect("TLS Secret");
    let leaf_der = der(&secret_data(secret, pki::TLS_CERT_KEY));
    let ca_der = der(&secret_data(secret, pki::CA_CERT_KEY));
    let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("leaf");
    let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA");
    // The chain: the leaf is signed by the CA every tenant namespace trusts.
    assert_eq!(leaf.issuer(), ca.subject());
    leaf.verify_signature(Some(ca.public_key()))
        .expect("signed by the CA");
    // The CA carries critical name constraints permitting `it` only (the chart's default).
    let constraints = ca
        .name_constraints()
        .expect("parses")
        .expect("name constraints");
    assert!(constraints.critical);
    let permitted: Vec<&GeneralName<'_>> = constraints
        .value
        .permitted_subtrees
        .iter()
        .flatten()
        .map(|s| &s.base)
        .collect();
    assert_eq!(permitted, [&GeneralName::DNSName("it")]);
    // Every name of the leaf is inside them.
    let sans = leaf
        .subject_alternative_name()
        .expect("parses")
        .expect("SANs");
    for name in &sans.value.general_names {
        let GeneralName::DNSName(name) = name else {
            panic!("{name:?}")
        };
        assert!(
            tenant_operator::api::validation::is_within(name, "it"),
            "{name}"
        );
    }

    // A hostname delegated to the body but outside the CA's constraints: no certificate.
    h.apply(&delegation_value("fixture-org", "c_f284", &["example.org"]))
        .await;
    h.apply(&tenant(
        "comune-org",
        json!({"tls": {"hostnames": ["www.example.org"]}}),
    ))
    .await;
    let message = wait_refused(&h, "comune-org").await;
    assert!(message.starts_with("CertificateFailed: "), "{message}");
    assert!(
        message.contains("the regional CA may only sign names inside it"),
        "{message}"
    );
    assert!(tls_secrets(&h, "comune-org").await.is_empty());
    operator.stop().await.expect("clean stop");
}

/// A CA certificate self-signed by an administrator with `key_pem`, without name
/// constraints, stored as the CA Secret before the operator starts.
async fn supply_ca(h: &Harness, key_pem: &str) -> Vec<u8> {
    let key = pki::keys::key_pair_from_pem(key_pem).expect("the test key reads");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Supplied regional CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-signed");
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(pki::DEFAULT_CA_SECRET.to_string()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(BTreeMap::from([
            (
                pki::TLS_CERT_KEY.to_string(),
                ByteString(cert.pem().into_bytes()),
            ),
            (
                pki::TLS_KEY_KEY.to_string(),
                ByteString(key_pem.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the CA Secret");
    cert.der().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplied_cas_with_sec1_and_pkcs1_keys_sign_and_unconstrained_ones_are_flagged() {
    for key_pem in [
        include_str!("../../../controller/tests/keys/ec-p256-sec1.key"),
        include_str!("../../../controller/tests/keys/rsa-2048-pkcs1.key"),
    ] {
        let h = Harness::new().await;
        let ca_der = supply_ca(&h, key_pem).await;
        let operator = h.start_operator(test_config());
        h.apply(&tenant_fixture("comune-molfetta")).await;
        h.wait_ready("comune-molfetta").await;
        let secrets = tls_secrets(&h, "comune-molfetta").await;
        let leaf_der = der(&secret_data(&secrets[0], pki::TLS_CERT_KEY));
        let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("leaf");
        let (_, ca) = X509Certificate::from_der(&ca_der).expect("CA");
        leaf.verify_signature(Some(ca.public_key()))
            .expect("signed by the supplied CA");
        // It carries no name constraints: the operator says so in a metric (and the log).
        assert_eq!(
            operator.metric("tenant_operator_ca_unconstrained "),
            Some(1.0)
        );
        operator.stop().await.expect("clean stop");
    }
}
