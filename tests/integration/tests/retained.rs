//! A retained environment stays in view: after an environment is removed from the spec
//! under `deletionPolicy: Retain`, the tenant's status lists its namespace with the date it
//! was retained and what still holds data there, and the `Quota` condition says how it
//! counts against the tenant's limit and how a datacenter operator releases it; once
//! released, it leaves the status. Against the in-memory API server, as `kubectl get ts -o
//! yaml` shows it.

mod common;

use std::time::Duration;

use common::*;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_environment_is_listed_as_retained_until_released() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let mut tenant = tenant_fixture("comune-gioia");
    tenant["spec"]["environments"] = json!([{"name": "prod"}, {"name": "dev"}]);
    h.apply(&tenant).await;
    let ready = h.wait_ready("comune-gioia").await;
    assert_eq!(
        ready.status.as_ref().map(|s| s.retained.len()),
        Some(0),
        "nothing is retained yet"
    );

    // The entity keeps data in dev: a volume claim.
    h.apply(&json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "archivio", "namespace": "comune-gioia-dev"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    }))
    .await;

    // dev leaves the spec: its namespace is retained, and the status says so.
    tenant["spec"]["environments"] = json!([{"name": "prod"}]);
    h.apply(&tenant).await;
    let listed = h
        .wait_tenant(
            "comune-gioia",
            Duration::from_secs(20),
            "listing comune-gioia-dev as retained",
            |t| {
                t.and_then(|t| t.status.as_ref())
                    .is_some_and(|s| s.retained.iter().any(|r| r.namespace == "comune-gioia-dev"))
            },
        )
        .await
        .expect("tenant exists");
    let status = listed.status.expect("status");
    let retained = &status.retained[0];
    assert_eq!(status.retained.len(), 1, "{:?}", status.retained);
    assert_eq!(retained.environment, "dev");
    let at = retained.retained_at.as_deref().expect("retained at");
    assert!(
        at.parse::<jiff::Timestamp>().is_ok(),
        "{at} is an RFC 3339 time"
    );
    // The volume, and what the operator had made there and left with the data: the TLS
    // Secret (with its key) and the CA bundle ConfigMap.
    assert_eq!(
        retained.holds.as_deref(),
        Some("1 PersistentVolumeClaim(s) (10Gi requested), 1 Secret(s), 1 ConfigMap(s)"),
        "{retained:?}"
    );
    assert_eq!(
        retained.quota.as_deref(),
        Some("cpu 4 CPU, memory 8Gi, storage 50Gi"),
        "{retained:?}"
    );
    assert_eq!(status.environments.as_deref(), Some("prod"));
    assert_eq!(status.namespaces, ["comune-gioia-prod"]);
    let quota = condition(&listed_tenant(&h).await, "Quota")
        .map(|c| c.message.clone())
        .expect("Quota condition");
    assert!(
        quota.contains("retained: comune-gioia-dev (environment dev) with its quota (cpu 4 CPU, memory 8Gi, storage 50Gi); a retained namespace keeps its data and its own ResourceQuota, which no longer counts against the tenant's limit"),
        "{quota}"
    );
    assert!(
        quota.contains("`kubectl delete namespace comune-gioia-dev`"),
        "{quota}"
    );

    // A datacenter operator releases it: it leaves the status.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(h.client.clone());
    namespaces
        .delete("comune-gioia-dev", &DeleteParams::default())
        .await
        .expect("delete the retained namespace");
    h.eventually(Duration::from_secs(10), "namespace gone", || async {
        h.namespace("comune-gioia-dev").await.is_none()
    })
    .await;
    // The objects the operator had made there go with it, which their watch reports: the
    // tenant is reconciled and its status no longer lists the namespace.
    h.wait_tenant(
        "comune-gioia",
        Duration::from_secs(20),
        "without retained namespaces",
        |t| {
            t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
                s.retained.is_empty()
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Quota" && !c.message.contains("retained"))
            })
        },
    )
    .await;
    operator.stop().await.expect("clean stop");
}

async fn listed_tenant(h: &Harness) -> tenant_operator::api::TenantService {
    h.tenant("comune-gioia").await.expect("tenant exists")
}
