//! The regional CA's lifecycle (issue 17), each case with the real controller against the
//! in-memory API server: a missing CA Secret (no new root, issuing stops, reported), a
//! rotation with overlap (the bundle holds both CAs until no leaf chains to the old one,
//! leaves re-issued at the configured pace), a CA close to its end (leaves clamped), and an
//! intermediate CA (its chain in every `tls.crt`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::Value;
use tenant_operator::pki;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Every certificate of a PEM text, DER.
fn ders(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .map(|block| block.expect("PEM block").contents)
        .collect()
}

fn data(secret: &Value, key: &str) -> Vec<u8> {
    let secret: Secret = serde_json::from_value(secret.clone()).expect("a Secret");
    secret
        .data
        .and_then(|d| d.get(key).cloned())
        .unwrap_or_else(|| panic!("Secret without {key}"))
        .0
}

/// Whether the CA certificate `ca_der` signed the certificate `der`.
fn signed_by(der: &[u8], ca_der: &[u8]) -> bool {
    let (_, cert) = X509Certificate::from_der(der).expect("certificate");
    let (_, ca) = X509Certificate::from_der(ca_der).expect("CA certificate");
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// The leaves (first certificate of `tls.crt`) of every tenant TLS Secret of `tenants`.
async fn leaves(h: &Harness, tenants: &[&str]) -> Vec<(Value, Vec<u8>)> {
    let mut all = Vec::new();
    for tenant in tenants {
        for secret in h.children("v1", "Secret", tenant).await {
            let leaf = ders(&data(&secret, pki::TLS_CERT_KEY)).remove(0);
            all.push((secret, leaf));
        }
    }
    all
}

/// The CA bundle of a namespace, DER per certificate.
async fn bundle(h: &Harness, namespace: &str) -> Vec<Vec<u8>> {
    let map = Api::<ConfigMap>::namespaced(h.client.clone(), namespace)
        .get(tenant_operator::render::CA_BUNDLE_CONFIG_MAP)
        .await
        .expect("the CA bundle");
    ders(map.data.unwrap_or_default()[tenant_operator::render::CA_BUNDLE_KEY].as_bytes())
}

fn ca_secrets(h: &Harness) -> Api<Secret> {
    Api::namespaced(h.client.clone(), OPERATOR_NS)
}

/// The CA Secret's `tls.crt`, first certificate, DER.
async fn ca_der(h: &Harness) -> Vec<u8> {
    let secret = ca_secrets(h)
        .get(pki::DEFAULT_CA_SECRET)
        .await
        .expect("the CA Secret");
    ders(&secret.data.expect("data")[pki::TLS_CERT_KEY].0).remove(0)
}

/// The fingerprint the CA record names.
async fn recorded_fingerprint(h: &Harness) -> Option<String> {
    Api::<ConfigMap>::namespaced(h.client.clone(), OPERATOR_NS)
        .get_opt(pki::CA_RECORD_CONFIG_MAP)
        .await
        .expect("get the CA record")
        .and_then(|map| map.data?.get("fingerprint").cloned())
}

/// Reasons of the Events in the operator's namespace.
async fn ca_event_reasons(h: &Harness) -> Vec<String> {
    Api::<Event>::namespaced(h.client.clone(), OPERATOR_NS)
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

/// A CA key and self-signed certificate valid for `days`, as an administrator makes one.
fn root_ca(name: &str, days: i64) -> (rcgen::Issuer<'static, rcgen::KeyPair>, String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let key_pem = key.serialize_pem();
    let params = ca_params(name, days);
    let cert = params.self_signed(&key).expect("self-signed");
    (rcgen::Issuer::new(params, key), cert.pem(), key_pem)
}

fn ca_params(name: &str, days: i64) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: vec![rcgen::GeneralSubtree::DnsName("it".to_string())],
        excluded_subtrees: Vec::new(),
    });
    let now = jiff::Timestamp::now().as_second();
    params.not_before = time_of(now - 60);
    params.not_after = time_of(now + days * 86_400);
    params
}

fn time_of(second: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(second).expect("a date")
}

/// The CA Secret as `kubectl create secret tls` (plus `ca.crt`, as cert-manager) makes it.
fn ca_secret(tls_crt: &str, key_pem: &str, ca_crt: Option<&str>) -> Secret {
    let mut data = BTreeMap::from([
        (
            pki::TLS_CERT_KEY.to_string(),
            ByteString(tls_crt.as_bytes().to_vec()),
        ),
        (
            pki::TLS_KEY_KEY.to_string(),
            ByteString(key_pem.as_bytes().to_vec()),
        ),
    ]);
    if let Some(ca_crt) = ca_crt {
        data.insert(
            pki::CA_CERT_KEY.to_string(),
            ByteString(ca_crt.as_bytes().to_vec()),
        );
    }
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(pki::DEFAULT_CA_SECRET.to_string()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data),
        ..Default::default()
    }
}

async fn store_ca(h: &Harness, secret: &Secret) {
    let api = ca_secrets(h);
    if api
        .get_opt(pki::DEFAULT_CA_SECRET)
        .await
        .expect("get")
        .is_some()
    {
        api.replace(pki::DEFAULT_CA_SECRET, &PostParams::default(), secret)
            .await
            .expect("replace the CA Secret");
    } else {
        api.create(&PostParams::default(), secret)
            .await
            .expect("create the CA Secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ca_secret_stops_issuing_is_reported_and_never_re_roots() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    let original = ca_der(&h).await;
    let fingerprint = recorded_fingerprint(&h).await.expect("the CA is recorded");
    assert_eq!(fingerprint.len(), 64);
    assert_eq!(operator.metric("tenant_operator_ca_available "), Some(1.0));
    let backup = ca_secrets(&h)
        .get(pki::DEFAULT_CA_SECRET)
        .await
        .expect("CA Secret");
    operator.stop().await.expect("clean stop");

    // The Secret is lost while no replica runs; the cluster has tenant certificates.
    ca_secrets(&h)
        .delete(pki::DEFAULT_CA_SECRET, &DeleteParams::default())
        .await
        .expect("delete the CA Secret");
    let operator = h.start_operator(test_config());
    h.eventually(
        Duration::from_secs(10),
        "CA reported unavailable",
        || async { operator.metric("tenant_operator_ca_available ") == Some(0.0) },
    )
    .await;
    h.eventually(
        Duration::from_secs(10),
        "a CASecretMissing Event",
        || async {
            ca_event_reasons(&h)
                .await
                .contains(&"CASecretMissing".to_string())
        },
    )
    .await;
    // A tenant that needs a certificate says why it gets none.
    h.apply(&tenant_fixture("comune-bitonto")).await;
    let waiting = h
        .wait_tenant(
            "comune-bitonto",
            Duration::from_secs(20),
            "waiting for the CA",
            |t| {
                t.and_then(|t| condition(t, "Certificates"))
                    .is_some_and(|c| c.reason == "CAUnavailable")
            },
        )
        .await
        .expect("tenant");
    let certificates = condition(&waiting, "Certificates").expect("condition");
    assert_eq!(certificates.status, "False");
    assert!(
        certificates
            .message
            .contains("does not exist and no new root was generated")
            && certificates.message.contains("--ca-allow-new-root"),
        "{}",
        certificates.message
    );
    assert!(
        h.children("v1", "Secret", "comune-bitonto")
            .await
            .is_empty()
    );
    // The tenant whose certificates chain to the recorded CA keeps them, and stays Ready.
    assert!(is_ready(
        &h.tenant("comune-molfetta").await.expect("tenant")
    ));
    // No new root: no Secret, the record unchanged.
    assert!(
        ca_secrets(&h)
            .get_opt(pki::DEFAULT_CA_SECRET)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(recorded_fingerprint(&h).await, Some(fingerprint.clone()));

    // Restored from backup: issuing resumes with the same CA, without a restart.
    let mut restored = backup.clone();
    restored.metadata = kube::api::ObjectMeta {
        name: backup.metadata.name.clone(),
        labels: backup.metadata.labels.clone(),
        ..Default::default()
    };
    store_ca(&h, &restored).await;
    h.wait_ready("comune-bitonto").await;
    for (_, leaf) in leaves(&h, &["comune-bitonto", "comune-molfetta"]).await {
        assert!(
            signed_by(&leaf, &original),
            "every leaf chains to the same CA"
        );
    }
    assert_eq!(operator.metric("tenant_operator_ca_available "), Some(1.0));

    // Deleted while running: reported at once, still no new root.
    ca_secrets(&h)
        .delete(pki::DEFAULT_CA_SECRET, &DeleteParams::default())
        .await
        .expect("delete the CA Secret");
    h.eventually(Duration::from_secs(10), "deletion reported", || async {
        operator.metric("tenant_operator_ca_available ") == Some(0.0)
            && ca_event_reasons(&h)
                .await
                .contains(&"CASecretDeleted".to_string())
    })
    .await;
    operator.stop().await.expect("clean stop");

    // An administrator asks for a new root explicitly: generated, and the lost CA stays in
    // the bundle while the leaves move to the new one.
    let mut config = test_config();
    config.ca_new_root = pki::NewRoot::Allowed;
    config.settings.ca_bundle_settle = Duration::from_millis(300);
    config.settings.ca_reissue_interval = Duration::from_millis(100);
    config.settings.ca_retire_check_interval = Duration::from_millis(300);
    let operator = h.start_operator(config);
    h.eventually(Duration::from_secs(20), "a new root in use", || async {
        recorded_fingerprint(&h)
            .await
            .is_some_and(|f| f != fingerprint)
    })
    .await;
    let new_root = ca_der(&h).await;
    assert_ne!(new_root, original);
    h.eventually(
        Duration::from_secs(30),
        "leaves re-issued and the old CA retired",
        || async {
            let leaves = leaves(&h, &["comune-bitonto", "comune-molfetta"]).await;
            leaves.len() == 4
                && leaves.iter().all(|(_, leaf)| signed_by(leaf, &new_root))
                && bundle(&h, "comune-molfetta-prod").await == vec![new_root.clone()]
        },
    )
    .await;
    assert!(
        ca_event_reasons(&h)
            .await
            .contains(&"CAGenerated".to_string())
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_trusts_both_cas_until_no_leaf_chains_to_the_old_one() {
    let h = Harness::new().await;
    let mut config = test_config();
    // One leaf every 2 s: four leaves take at least 6 s to move.
    let pace = Duration::from_secs(2);
    config.settings.ca_reissue_interval = pace;
    // The bundle with both CAs reaches every namespace before any leaf moves.
    config.settings.ca_bundle_settle = Duration::from_secs(1);
    config.settings.ca_retire_check_interval = Duration::from_millis(300);
    let operator = h.start_operator(config);
    let tenants = ["comune-molfetta", "comune-bitonto"];
    for tenant in tenants {
        h.apply(&tenant_fixture(tenant)).await;
    }
    for tenant in tenants {
        h.wait_ready(tenant).await;
    }
    let old = ca_der(&h).await;
    let old_fingerprint = recorded_fingerprint(&h).await.expect("recorded");

    // The administrators rotate: a new CA in the same Secret.
    let (_, new_pem, new_key) = root_ca("Rotated regional CA", 3650);
    store_ca(&h, &ca_secret(&new_pem, &new_key, None)).await;
    let new = ders(new_pem.as_bytes()).remove(0);

    // Until the end, whenever a leaf chains to the old CA, every bundle (and the `ca.crt`
    // of every TLS Secret) still trusts it; at some point both kinds of leaf exist at once.
    let mut saw_overlap = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let leaves = leaves(&h, &tenants).await;
        let old_leaves = leaves.iter().filter(|(_, l)| signed_by(l, &old)).count();
        let new_leaves = leaves.iter().filter(|(_, l)| signed_by(l, &new)).count();
        let bundles = [
            bundle(&h, "comune-molfetta-prod").await,
            bundle(&h, "comune-bitonto-test").await,
        ];
        if old_leaves > 0 {
            for bundle in &bundles {
                assert!(
                    bundle.contains(&old),
                    "a leaf still chains to the old CA, which left the bundle"
                );
            }
            for (secret, _) in &leaves {
                assert!(ders(&data(secret, pki::CA_CERT_KEY)).contains(&old));
            }
        }
        if old_leaves > 0 && new_leaves > 0 {
            saw_overlap = true;
            assert!(bundles.iter().all(|b| b.contains(&new) && b.len() == 2));
        }
        if new_leaves == 4 && bundles.iter().all(|b| b == &vec![new.clone()]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rotation not finished: {old_leaves} old and {new_leaves} new leaves, bundles of {:?} certificates",
            bundles.iter().map(Vec::len).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_overlap, "the leaves were re-issued all at once");
    // Gradually: the new leaves' notBefore (issue time minus the same backdating) spread
    // over at least three paces.
    let issued: Vec<i64> = leaves(&h, &tenants)
        .await
        .iter()
        .map(|(_, leaf)| {
            let (_, cert) = X509Certificate::from_der(leaf).expect("leaf");
            cert.validity().not_before.timestamp()
        })
        .collect();
    let spread = issued.iter().max().copied().unwrap_or_default()
        - issued.iter().min().copied().unwrap_or_default();
    assert!(
        spread >= i64::try_from(pace.as_secs() * 3).unwrap_or(i64::MAX) - 1,
        "four leaves re-issued within {spread} s at one per {pace:?}"
    );
    // Recorded, counted and reported.
    let now_recorded = recorded_fingerprint(&h).await.expect("recorded");
    assert_ne!(now_recorded, old_fingerprint);
    let reasons = ca_event_reasons(&h).await;
    assert!(
        reasons.contains(&"CARotationStarted".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"CARetired".to_string()), "{reasons:?}");
    assert_eq!(operator.metric("tenant_operator_ca_retiring "), Some(0.0));
    assert_eq!(
        operator
            .metric("tenant_operator_certificates_issued_total{reason=\"CaRotated\"}")
            .unwrap_or(0.0),
        4.0
    );
    for tenant in tenants {
        h.wait_ready(tenant).await;
    }
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_close_to_its_end_signs_leaves_that_end_with_it() {
    let h = Harness::new().await;
    // Two days left; tenant certificates are configured for 90 days.
    let (_, pem, key) = root_ca("Short-lived regional CA", 2);
    store_ca(&h, &ca_secret(&pem, &key, None)).await;
    let ca = ders(pem.as_bytes()).remove(0);
    let (_, ca_cert) = X509Certificate::from_der(&ca).expect("CA");
    let ca_end = ca_cert.validity().not_after.timestamp();
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    let ready = h.wait_ready("comune-molfetta").await;
    for (_, leaf) in leaves(&h, &["comune-molfetta"]).await {
        let (_, cert) = X509Certificate::from_der(&leaf).expect("leaf");
        assert_eq!(cert.validity().not_after.timestamp(), ca_end, "clamped");
    }
    for certificate in ready.status.expect("status").certificates {
        assert_eq!(
            certificate.not_after,
            jiff::Timestamp::from_second(ca_end)
                .expect("time")
                .to_string()
        );
    }
    #[allow(clippy::cast_precision_loss)] // Unix seconds fit an f64 exactly
    let expected = ca_end as f64;
    assert_eq!(
        operator.metric("tenant_operator_ca_expiry_timestamp_seconds "),
        Some(expected)
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intermediate_ca_puts_its_chain_in_every_tls_crt() {
    let h = Harness::new().await;
    let (root, root_pem, _) = root_ca("Regione Puglia Root", 3650);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let key_pem = key.serialize_pem();
    let intermediate_pem = ca_params("InnovaPuglia Tenant CA", 1000)
        .signed_by(&key, &root)
        .expect("signed by the root")
        .pem();
    // As cert-manager stores a CA it issued: the CA in tls.crt, the root in ca.crt.
    store_ca(&h, &ca_secret(&intermediate_pem, &key_pem, Some(&root_pem))).await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    let root_der = ders(root_pem.as_bytes()).remove(0);
    let intermediate_der = ders(intermediate_pem.as_bytes()).remove(0);
    for (secret, _) in leaves(&h, &["comune-molfetta"]).await {
        let chain = ders(&data(&secret, pki::TLS_CERT_KEY));
        assert_eq!(chain.len(), 2, "the leaf, then the intermediate");
        assert!(signed_by(&chain[0], &chain[1]));
        assert_eq!(chain[1], intermediate_der);
        assert!(signed_by(&chain[1], &root_der));
        // Clients trust the root.
        assert_eq!(
            ders(&data(&secret, pki::CA_CERT_KEY)),
            vec![root_der.clone()]
        );
    }
    assert_eq!(bundle(&h, "comune-molfetta-prod").await, vec![root_der]);
    operator.stop().await.expect("clean stop");
}
