//! Restore and disaster recovery (issue 17, docs/runbooks/restore.md), against the in-memory
//! API server with the real controller: the restore identity (the chart's `restore.groups`)
//! passes the admission policies where a user with the same RBAC outside the group, and a
//! tenant's own administrator, are refused, and a tenant's user cannot borrow the group; the
//! status of a TenantService is not restored (the operator computes it again); and a
//! cluster that lost everything but its TenantServices and its CA comes back Ready with the
//! same CA.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tenant_operator::api::TenantService;
use tenant_operator::pki;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// The restore group as the chart's default values name it.
const RESTORE_GROUP: &str = "tenant-operator:restore";

/// Velero's server identity, in the restore group.
fn restorer(h: &Harness) -> Client {
    h.server
        .client_as(
            "system:serviceaccount:velero:velero",
            &[
                RESTORE_GROUP,
                "system:serviceaccounts",
                "system:serviceaccounts:velero",
            ],
        )
        .expect("client for the restore identity")
}

/// A backup robot with the very same RBAC, outside the restore group.
fn robot(h: &Harness) -> Client {
    h.server
        .client_as(
            "system:serviceaccount:ci:backup-robot",
            &["system:serviceaccounts", "system:serviceaccounts:ci"],
        )
        .expect("client for the robot")
}

/// Binds, as the cluster admin, every verb on every resource to both identities (what
/// Velero's install does with cluster-admin): what follows is decided by the policies alone.
async fn grant_everything(h: &Harness) {
    h.apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "backup-everything"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    }))
    .await;
    h.apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "backup-everything"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "backup-everything"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "velero", "namespace": "velero"},
            {"kind": "ServiceAccount", "name": "backup-robot", "namespace": "ci"}
        ]
    }))
    .await;
}

/// The message of a refusal by an admission policy (403 naming tenant-operator), or a
/// panic naming what was let through.
fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> String {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => status.message,
        other => panic!("{what}: expected a 403 from the admission policies, got {other:?}"),
    }
}

fn leaf_der(secret: &Secret) -> Vec<u8> {
    let data = secret.data.as_ref().expect("data");
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(&data[pki::TLS_CERT_KEY].0).expect("a PEM leaf");
    pem.contents
}

fn ca_der(secret: &Secret) -> Vec<u8> {
    leaf_der(secret)
}

fn chains_to(leaf: &[u8], ca: &[u8]) -> bool {
    let (_, leaf) = X509Certificate::from_der(leaf).expect("leaf");
    let (_, ca) = X509Certificate::from_der(ca).expect("CA");
    leaf.issuer().as_raw() == ca.subject().as_raw()
        && leaf.verify_signature(Some(ca.public_key())).is_ok()
}

/// The tenant TLS Secrets of `tenant`.
async fn tls_secrets(h: &Harness, tenant: &str) -> Vec<Secret> {
    h.children("v1", "Secret", tenant)
        .await
        .into_iter()
        .map(|s| serde_json::from_value(s).expect("a Secret"))
        .collect()
}

async fn recorded_fingerprint(h: &Harness) -> Option<String> {
    Api::<ConfigMap>::namespaced(h.client.clone(), OPERATOR_NS)
        .get_opt(pki::CA_RECORD_CONFIG_MAP)
        .await
        .expect("get the record")
        .and_then(|m| m.data?.get("fingerprint").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_identity_passes_the_policies_where_others_are_refused() {
    let h = Harness::new().await;
    grant_everything(&h).await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    let restorer = restorer(&h);
    let robot = robot(&h);
    let admin = h
        .server
        .client_as("alice", &["comune-molfetta-admins"])
        .expect("the tenant's administrator");

    // A tenant namespace, as a backup holds it (tenancy labels included).
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "comune-terlizzi-prod", "labels": {
            "app.kubernetes.io/managed-by": "tenant-operator",
            "tenancy.innova.puglia.it/tenant": "comune-terlizzi",
            "tenancy.innova.puglia.it/environment": "prod"
        }}
    }))
    .expect("namespace");
    let message = refused(
        Api::<Namespace>::all(robot.clone())
            .create(&PostParams::default(), &namespace)
            .await,
        "the robot creating a tenant namespace",
    );
    assert!(
        message.contains("only tenant-operator may set"),
        "{message}"
    );
    refused(
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &namespace)
            .await,
        "a tenant administrator creating a tenant namespace",
    );
    Api::<Namespace>::all(restorer.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("the restore identity re-creates a tenant namespace");

    // A managed object in it, and an update of one the operator made (Velero's
    // `--existing-resource-policy=update` patches).
    let policy: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "default-deny", "labels": {
            "app.kubernetes.io/managed-by": "tenant-operator",
            "tenancy.innova.puglia.it/tenant": "comune-terlizzi"
        }},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }))
    .expect("policy");
    Api::<NetworkPolicy>::namespaced(restorer.clone(), "comune-terlizzi-prod")
        .create(&PostParams::default(), &policy)
        .await
        .expect("the restore identity re-creates a managed NetworkPolicy");
    let relabel =
        Patch::Merge(json!({"metadata": {"annotations": {"velero.io/restore-name": "r1"}}}));
    let operator_policy = h
        .children("networking.k8s.io/v1", "NetworkPolicy", "comune-molfetta")
        .await
        .into_iter()
        .find(|p| p["metadata"]["namespace"] == "comune-molfetta-prod")
        .map(|p| name_of(&p))
        .expect("a managed NetworkPolicy");
    let message = refused(
        Api::<NetworkPolicy>::namespaced(robot.clone(), "comune-molfetta-prod")
            .patch(&operator_policy, &PatchParams::default(), &relabel)
            .await,
        "the robot updating a managed NetworkPolicy",
    );
    assert!(message.contains("tenant-operator"), "{message}");
    Api::<NetworkPolicy>::namespaced(restorer.clone(), "comune-molfetta-prod")
        .patch(&operator_policy, &PatchParams::default(), &relabel)
        .await
        .expect("the restore identity updates a managed NetworkPolicy");

    // The CA Secret (labelled as the operator's).
    let ca: Secret = Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NS)
        .get(pki::DEFAULT_CA_SECRET)
        .await
        .expect("the CA Secret");
    let mut copy = ca.clone();
    copy.metadata = kube::api::ObjectMeta {
        name: Some("tenant-operator-ca-restored".to_string()),
        labels: ca.metadata.labels.clone(),
        ..Default::default()
    };
    refused(
        Api::<Secret>::namespaced(robot.clone(), OPERATOR_NS)
            .create(&PostParams::default(), &copy)
            .await,
        "the robot writing a CA Secret",
    );
    refused(
        Api::<Secret>::namespaced(admin.clone(), OPERATOR_NS)
            .create(&PostParams::default(), &copy)
            .await,
        "a tenant administrator writing a CA Secret",
    );
    Api::<Secret>::namespaced(restorer.clone(), OPERATOR_NS)
        .create(&PostParams::default(), &copy)
        .await
        .expect("the restore identity writes a CA Secret");

    // Restoring is not deleting: the restore identity deletes nothing managed.
    let message = refused(
        Api::<NetworkPolicy>::namespaced(restorer.clone(), "comune-molfetta-prod")
            .delete(&operator_policy, &DeleteParams::default())
            .await,
        "the restore identity deleting a managed NetworkPolicy",
    );
    assert!(message.contains("tenant-operator"), "{message}");
    refused(
        Api::<Namespace>::all(restorer.clone())
            .delete("comune-molfetta-prod", &DeleteParams::default())
            .await,
        "the restore identity deleting a managed namespace",
    );
    // A tenant's own administrator is still refused a managed object in its namespace.
    let mut own = policy.clone();
    own.metadata.name = Some("allow-everything".to_string());
    refused(
        Api::<NetworkPolicy>::namespaced(admin, "comune-molfetta-prod")
            .create(&PostParams::default(), &own)
            .await,
        "a tenant administrator creating a managed NetworkPolicy",
    );
    // The status of a TenantService is not restored: it is the operator's record (whom each
    // consent was given to, by UID, and UIDs do not survive a restore), computed again from
    // the spec. The restore identity is refused it like everyone but the operator.
    let message = refused(
        Api::<TenantService>::all(restorer.clone())
            .patch_status(
                "comune-molfetta",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Ready", "consentedPeers": []}})),
            )
            .await,
        "the restore identity writing a TenantService's status",
    );
    assert!(
        message.contains("only tenant-operator writes the status"),
        "{message}"
    );
    // The operator keeps the tenant as its spec says.
    h.wait_ready("comune-molfetta").await;
    operator.stop().await.expect("clean stop");
}

/// A tenant's administrator, with her own credentials, cannot take on the restore group or
/// the backup tool's identity: impersonation is RBAC's `impersonate` verb, which no tenant
/// role grants. (The group is only as safe as who is put in it: `restore.groups`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_user_cannot_borrow_the_restore_identity() {
    let h = Harness::with_tokens(vec![fake_apiserver::StaticToken::new(
        "alice-token",
        "alice",
        &["comune-molfetta-admins"],
    )])
    .await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    let alice = |auth: serde_json::Value| {
        let mut config = kube::Config::new(h.server.url().parse().expect("server URL"));
        config.auth_info = serde_json::from_value(auth).expect("auth info");
        Client::try_from(config).expect("alice's client")
    };
    let own = alice(json!({"token": "alice-token"}));
    let as_restore = alice(json!({
        "token": "alice-token", "as": "alice", "as-groups": [RESTORE_GROUP]
    }));
    let as_velero = alice(json!({
        "token": "alice-token", "as": "system:serviceaccount:velero:velero"
    }));
    // She works in her namespace with her own identity: the refusals below are about
    // who she claims to be, not a broken client.
    let own_config: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings"}, "data": {"level": "info"}
    }))
    .expect("configmap");
    Api::<ConfigMap>::namespaced(own.clone(), "comune-molfetta-prod")
        .create(&PostParams::default(), &own_config)
        .await
        .expect("the tenant's administrator writes her own ConfigMap");

    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "comune-terlizzi-prod", "labels": {
            "app.kubernetes.io/managed-by": "tenant-operator",
            "tenancy.innova.puglia.it/tenant": "comune-terlizzi",
            "tenancy.innova.puglia.it/environment": "prod"
        }}
    }))
    .expect("namespace");
    refused(
        Api::<Namespace>::all(own)
            .create(&PostParams::default(), &namespace)
            .await,
        "the tenant's administrator creating a tenant namespace",
    );
    for (client, who) in [
        (as_restore, "as the restore group"),
        (as_velero, "as the backup tool's ServiceAccount"),
    ] {
        let message = refused(
            Api::<Namespace>::all(client)
                .create(&PostParams::default(), &namespace)
                .await,
            &format!("the tenant's administrator {who}"),
        );
        assert!(
            message.contains("cannot impersonate"),
            "{who}: refused by RBAC's impersonate check: {message}"
        );
    }
    assert!(h.namespace("comune-terlizzi-prod").await.is_none());
    operator.stop().await.expect("clean stop");
}

/// Deletes everything but the TenantServices (as Git or a backup gives them back: without
/// status) and the CA, restores the CA as the restore identity, restarts the operator: every
/// tenant Ready again, certificates issued by the same CA, no second root. The record comes
/// back first and the operator starts before the CA Secret is back: it waits for it (no new
/// root: the record names the CA) and issues as soon as the Secret is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_only_its_tenant_services_and_ca_comes_back_ready_with_the_same_ca() {
    let h = Harness::new().await;
    grant_everything(&h).await;
    let operator = h.start_operator(test_config());
    let tenants = ["comune-molfetta", "comune-bitonto"];
    for tenant in tenants {
        h.apply(&tenant_fixture(tenant)).await;
    }
    for tenant in tenants {
        h.wait_ready(tenant).await;
    }
    // The backup: the CA Secret and its record (the TenantServices stay, as in Git).
    let secrets = Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NS);
    let config_maps = Api::<ConfigMap>::namespaced(h.client.clone(), OPERATOR_NS);
    let backup = secrets
        .get(pki::DEFAULT_CA_SECRET)
        .await
        .expect("CA Secret");
    let record_backup = config_maps
        .get(pki::CA_RECORD_CONFIG_MAP)
        .await
        .expect("CA record");
    let ca = ca_der(&backup);
    let fingerprint = recorded_fingerprint(&h).await.expect("recorded");
    operator.stop().await.expect("clean stop");

    // The disaster: every tenant namespace, the CA record and bundle, the CA Secret, and
    // the TenantServices' status (a TenantService restored from Git or a backup has none).
    let namespaces = Api::<Namespace>::all(h.client.clone());
    for tenant in tenants {
        for environment in ["prod", "test"] {
            namespaces
                .delete(&format!("{tenant}-{environment}"), &DeleteParams::default())
                .await
                .expect("delete a tenant namespace");
        }
    }
    for name in [
        pki::CA_RECORD_CONFIG_MAP,
        tenant_operator::render::CA_BUNDLE_CONFIG_MAP,
    ] {
        config_maps
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete an operator ConfigMap");
    }
    secrets
        .delete(pki::DEFAULT_CA_SECRET, &DeleteParams::default())
        .await
        .expect("delete the CA Secret");
    let tenant_services = Api::<TenantService>::all(h.client.clone());
    for tenant in tenants {
        tenant_services
            .patch_status(
                tenant,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": null})),
            )
            .await
            .expect("clear a TenantService's status");
    }
    h.eventually(
        Duration::from_secs(20),
        "tenant namespaces gone",
        || async {
            for tenant in tenants {
                for environment in ["prod", "test"] {
                    if h.namespace(&format!("{tenant}-{environment}"))
                        .await
                        .is_some()
                    {
                        return false;
                    }
                }
            }
            true
        },
    )
    .await;
    let without_status = |tenant: &TenantService| tenant.status.is_none();
    for tenant in tenants {
        let tenant = h.tenant(tenant).await.expect("TenantService kept");
        assert!(without_status(&tenant), "{:?}", tenant.status);
    }

    // The restore, as the restore identity. The CA record first; the operator starts before
    // the Secret is back: nothing in the cluster shows a tenant certificate any more, and
    // only the record keeps it from generating a new root.
    let bare = |meta: &kube::api::ObjectMeta| kube::api::ObjectMeta {
        name: meta.name.clone(),
        labels: meta.labels.clone(),
        ..Default::default()
    };
    let mut record = record_backup.clone();
    record.metadata = bare(&record_backup.metadata);
    Api::<ConfigMap>::namespaced(restorer(&h), OPERATOR_NS)
        .create(&PostParams::default(), &record)
        .await
        .expect("the restore identity restores the CA record");
    let operator = h.start_operator(test_config());
    h.wait_tenant(
        "comune-molfetta",
        Duration::from_secs(20),
        "waiting for the CA",
        |t| {
            t.and_then(|t| condition(t, "Certificates"))
                .is_some_and(|c| c.reason == "CAUnavailable")
        },
    )
    .await
    .expect("tenant");
    assert!(
        secrets
            .get_opt(pki::DEFAULT_CA_SECRET)
            .await
            .expect("get the CA Secret")
            .is_none(),
        "a new root was generated"
    );
    // Then the CA Secret: the operator watches it and issues at once, no restart needed.
    let mut restored = backup.clone();
    restored.metadata = bare(&backup.metadata);
    Api::<Secret>::namespaced(restorer(&h), OPERATOR_NS)
        .create(&PostParams::default(), &restored)
        .await
        .expect("the restore identity restores the CA Secret");
    for tenant in tenants {
        h.wait_ready(tenant).await;
        let leaves = tls_secrets(&h, tenant).await;
        assert_eq!(leaves.len(), 2, "{tenant}: one certificate per environment");
        for secret in leaves {
            assert!(chains_to(&leaf_der(&secret), &ca), "issued by the same CA");
        }
    }
    assert_eq!(recorded_fingerprint(&h).await, Some(fingerprint));
    assert_eq!(operator.metric("tenant_operator_ca_available "), Some(1.0));
    // No second root was ever generated: the only CAGenerated Event is the first start's.
    let generated = Api::<Event>::namespaced(h.client.clone(), OPERATOR_NS)
        .list(&Default::default())
        .await
        .expect("Events")
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("CAGenerated"))
        .count();
    assert_eq!(generated, 1);

    // Then the data, as the restore identity: a tenant's own ConfigMap.
    let data: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "protocollo", "namespace": "comune-molfetta-prod"},
        "data": {"endpoint": "https://protocollo.comune.molfetta.ba.it"}
    }))
    .expect("configmap");
    Api::<ConfigMap>::namespaced(restorer(&h), "comune-molfetta-prod")
        .create(&PostParams::default(), &data)
        .await
        .expect("tenant data restored");
    operator.stop().await.expect("clean stop");
}
