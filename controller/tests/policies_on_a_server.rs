//! The admission policies of `policies/admission/` installed in the in-memory API server,
//! with the attacks of issue 10 sent through `kube::Api` as the identities they concern
//! (impersonated as `kubectl --as` does), refused, and the legitimate work beside them
//! admitted. RBAC is deliberately broad here (a cluster-wide `admin` binding, a
//! cluster-admin operator) so that what refuses is the policy, not RBAC. Also checks that
//! the server's namespace controller still empties a tenant namespace deleted by the
//! operator, with no exemption left for the garbage collector.

use std::time::Duration;

use fake_apiserver::{Config, ServerHandle};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use tenant_operator::labels;

mod sample_tenant;

const OPERATOR: &str = "system:serviceaccount:tenant-operator:tenant-operator";
const CLUSTER_EDITOR: &str = "ci-robot";
const CLUSTER_EDITOR_GROUP: &str = "platform-editors";
const TENANT_NS: &str = "comune-bari-prod";

fn policy_documents() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/admission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("policies/admission")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs
        })
        .collect()
}

async fn create(client: &kube::Client, object: &Value) -> Result<DynamicObject, kube::Error> {
    let (group, version) = object["apiVersion"]
        .as_str()
        .and_then(|av| av.split_once('/'))
        .unwrap_or(("", object["apiVersion"].as_str().unwrap_or("v1")));
    let kind = object["kind"].as_str().unwrap_or_default();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let object: DynamicObject = serde_json::from_value(object.clone()).expect("an object");
    api.create(&PostParams::default(), &object).await
}

fn refusal(result: Result<DynamicObject, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            status.message.clone()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A server with the policies, a tenant namespace, a plain one, a cluster-admin operator
/// ServiceAccount and a group bound to the built-in `admin` role cluster-wide.
async fn server() -> ServerHandle {
    let server = fake_apiserver::start(Config::default())
        .await
        .expect("server starts");
    let admin = server.client();
    for doc in policy_documents() {
        create(&admin, &doc).await.expect("policy installed");
    }
    for (name, role, subject) in [
        (
            "operator",
            "cluster-admin",
            json!({"kind": "ServiceAccount", "name": "tenant-operator", "namespace": "tenant-operator"}),
        ),
        (
            "mis-bound-editors",
            "admin",
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": CLUSTER_EDITOR_GROUP}),
        ),
    ] {
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [subject]});
        create(&admin, &binding).await.expect("binding");
    }
    let operator = server.client_as(OPERATOR, &[]).expect("client");
    for (name, managed) in [
        ("tenant-operator", false),
        (TENANT_NS, true),
        ("team-sandbox", false),
    ] {
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        if managed {
            ns["metadata"]["labels"] = json!({labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE,
                labels::TENANT: "comune-bari", labels::ENVIRONMENT: "prod"});
            create(&operator, &ns)
                .await
                .expect("the operator creates its namespaces");
        } else {
            create(&admin, &ns).await.expect("namespace");
        }
    }
    server
}

fn allow_all(namespace: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": namespace},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}})
}

#[tokio::test]
async fn a_cluster_wide_editor_cannot_open_a_tenant_namespace_but_works_beside_it() {
    let server = server().await;
    let editor = server
        .client_as(CLUSTER_EDITOR, &[CLUSTER_EDITOR_GROUP])
        .expect("client");
    let message = refusal(create(&editor, &allow_all(TENANT_NS)).await);
    assert!(
        message.contains("namespace comune-bari-prod is a tenant namespace"),
        "{message}"
    );
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "friend", "namespace": TENANT_NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone"}]});
    let message = refusal(create(&editor, &binding).await);
    assert!(
        message.contains("rolebindings comune-bari-prod/friend"),
        "{message}"
    );
    // Beside it: a Secret and a Deployment in the tenant namespace, and the same
    // NetworkPolicy in a namespace outside tenancy.
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": TENANT_NS}, "stringData": {"password": "x"}});
    create(&editor, &secret).await.expect("a Secret");
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": TENANT_NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}}});
    create(&editor, &deployment).await.expect("a Deployment");
    create(&editor, &allow_all("team-sandbox"))
        .await
        .expect("outside tenancy the editor's RBAC decides");
}

#[tokio::test]
async fn a_cluster_admin_operator_cannot_write_outside_tenancy() {
    let server = server().await;
    let operator = server.client_as(OPERATOR, &[]).expect("client");
    let secret = |ns: &str| {
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "tls", "namespace": ns, "labels": {labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE}}})
    };
    let message = refusal(create(&operator, &secret("kube-system")).await);
    assert!(
        message.contains("tenant-operator may write only in the namespaces it manages"),
        "{message}"
    );
    create(&operator, &secret(TENANT_NS))
        .await
        .expect("in a tenant namespace");
    create(&operator, &secret("tenant-operator"))
        .await
        .expect("in its own namespace");
    let namespaces: Api<Namespace> = Api::all(operator.clone());
    match namespaces
        .delete("team-sandbox", &DeleteParams::default())
        .await
    {
        Err(kube::Error::Api(s)) => assert!(
            s.message
                .contains("DELETE of namespace team-sandbox denied"),
            "{s:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_namespace_controller_still_empties_a_tenant_namespace_the_operator_deletes() {
    let server = server().await;
    let operator = server.client_as(OPERATOR, &[]).expect("client");
    let mut managed = allow_all(TENANT_NS);
    managed["metadata"]["name"] = json!("default-deny");
    managed["metadata"]["labels"] = json!({labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE});
    create(&operator, &managed)
        .await
        .expect("the operator's NetworkPolicy");
    let unlabelled = allow_all(TENANT_NS);
    create(&operator, &unlabelled).await.expect("another one");
    // The operator deletes it, and the namespace controller removes what is in it.
    Api::<Namespace>::all(operator.clone())
        .delete(TENANT_NS, &DeleteParams::default())
        .await
        .expect("the operator deletes its namespace");
    let admin = server.client();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while namespaces.get_opt(TENANT_NS).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the namespace was not emptied: {:?}",
            Api::<NetworkPolicy>::namespaced(admin.clone(), TENANT_NS)
                .list(&Default::default())
                .await
                .map(|l| l.items.len())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = Api::<Secret>::namespaced(admin, TENANT_NS)
        .list(&Default::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or_default();
    assert_eq!(left, 0);
}

/// A pod that Pod Security `restricted` admits, with its resources written out (the
/// in-memory server does not run LimitRanger, which would fill them in from the
/// LimitRange), optionally of a PriorityClass.
fn restricted_pod(namespace: &str, name: &str, priority_class: Option<&str>) -> Value {
    let resources = json!({"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "100Mi"});
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "web", "image": "registry.example/web:1",
                "resources": {"requests": resources, "limits": resources},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
    if let Some(class) = priority_class {
        pod["spec"]["priorityClassName"] = json!(class);
    }
    pod
}

#[tokio::test]
async fn a_tenant_cannot_run_a_pod_of_a_critical_priority_class() {
    let server = server().await;
    let operator = server.client_as(OPERATOR, &[]).expect("client");
    // The sample tenant's prod namespace and quotas, as the operator applies them.
    let (objects, _) = sample_tenant::rendered();
    let namespace = "comune-molfetta-prod";
    for object in objects.iter().filter(|o| {
        (o["kind"] == "Namespace" && o["metadata"]["name"] == namespace)
            || (o["metadata"]["namespace"] == namespace
                && (o["kind"] == "ResourceQuota" || o["kind"] == "LimitRange"))
    }) {
        create(&operator, object)
            .await
            .expect("the operator applies it");
    }
    let editor = server
        .client_as(CLUSTER_EDITOR, &[CLUSTER_EDITOR_GROUP])
        .expect("client");
    for class in ["system-node-critical", "system-cluster-critical"] {
        let message = refusal(
            create(
                &editor,
                &restricted_pod(namespace, "preemptor", Some(class)),
            )
            .await,
        );
        assert!(
            message.contains("exceeded quota: tenancy-critical-priority"),
            "{class}: {message}"
        );
    }
    create(&editor, &restricted_pod(namespace, "web", None))
        .await
        .expect("an ordinary pod within the quota");
}
