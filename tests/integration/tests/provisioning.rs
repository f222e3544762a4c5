//! Create, steady state, update and drift: what a datacenter operator would check with
//! `kubectl` after applying a TenantService.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_provisions_every_child_and_reports_ready_with_events() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-molfetta")).await;
    let tenant = h.wait_ready("comune-molfetta").await;

    // Status: phase, every concern True with a reason, namespaces, environments, certificates.
    let status = tenant.status.clone().expect("status");
    assert_eq!(
        status.phase.map(tenant_operator::api::Phase::as_str),
        Some("Ready")
    );
    assert_eq!(status.environments.as_deref(), Some("prod,test"));
    assert_eq!(
        status.namespaces,
        vec![
            "comune-molfetta-prod".to_string(),
            "comune-molfetta-test".to_string()
        ]
    );
    for concern in [
        "Ready",
        "Namespaces",
        "Network",
        "Quota",
        "Access",
        "Certificates",
        "Monitoring",
    ] {
        let c = condition(&tenant, concern).unwrap_or_else(|| panic!("condition {concern}"));
        assert_eq!(c.status, "True", "{concern}: {} {}", c.reason, c.message);
        assert!(!c.reason.is_empty() && !c.message.is_empty(), "{concern}");
        assert_eq!(c.observed_generation, tenant.metadata.generation);
    }
    assert_eq!(status.certificates.len(), 2, "{:?}", status.certificates);
    assert!(
        status
            .certificates
            .iter()
            .all(|c| !c.serial.is_empty() && !c.not_after.is_empty())
    );

    // Children: namespaces with the tenant labels, and in each namespace network policies,
    // a quota, RBAC for the tenant's groups, the TLS Secret and the CA bundle.
    let namespaces = h.children("v1", "Namespace", "comune-molfetta").await;
    assert_eq!(namespaces.len(), 2);
    for ns in &namespaces {
        let labels = labels_of(ns);
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("tenant-operator")
        );
        assert!(labels.contains_key("tenancy.innova.puglia.it/environment"));
        assert!(
            ns["metadata"].get("ownerReferences").is_none(),
            "namespaces carry no ownerReferences"
        );
    }
    for (api_version, kind) in [
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("v1", "ResourceQuota"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
    ] {
        let children = h.children(api_version, kind, "comune-molfetta").await;
        for env in ["prod", "test"] {
            let ns = format!("comune-molfetta-{env}");
            assert!(
                children
                    .iter()
                    .any(|c| c["metadata"]["namespace"] == ns.as_str()),
                "no {kind} in {ns}"
            );
        }
    }
    let bindings = h
        .children(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "comune-molfetta",
        )
        .await;
    assert!(
        bindings
            .iter()
            .any(|b| b.to_string().contains("comune-molfetta-admins")),
        "admin group bound"
    );
    let secrets = h.children("v1", "Secret", "comune-molfetta").await;
    assert!(secrets.iter().all(|s| s["type"] == "kubernetes.io/tls"));
    assert!(secrets.iter().all(|s| s["data"].get("ca.crt").is_some()));

    // Events on the TenantService. They are published just after the status is written, so
    // the Ready status can be seen a moment before them.
    h.eventually(Duration::from_secs(10), "Provisioned Event", || async {
        events_about(&h, "comune-molfetta")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("Provisioned"))
    })
    .await;
    let list = events_about(&h, "comune-molfetta").await;
    let reasons: Vec<String> = list.iter().filter_map(|e| e.reason.clone()).collect();
    assert!(
        reasons.iter().any(|r| r == "Provisioned"),
        "Provisioned missing in {reasons:?}"
    );
    let provisioned = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("Provisioned"))
        .and_then(|e| e.note.clone())
        .unwrap_or_default();
    assert!(provisioned.contains("issued certificate"), "{provisioned}");
    // Nothing is rewritten after creation: no Updated or DriftCorrected Event.
    assert!(
        !reasons
            .iter()
            .any(|r| r == "Updated" || r == "DriftCorrected"),
        "{:?}",
        list.iter()
            .map(|e| (e.reason.clone(), e.note.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        operator.metric("tenant_operator_tenants{phase=\"Ready\"}"),
        Some(1.0)
    );
    operator.stop().await.expect("clean stop");
}

/// The Events about TenantService `tenant`: cluster-scoped objects' Events are in
/// `default`.
async fn events_about(h: &Harness, tenant: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(tenant))
        .collect()
}

/// The kinds a tenant's objects are of, as `(apiVersion, kind)`.
const CHILD_KINDS: [(&str, &str); 8] = [
    ("v1", "Namespace"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
];

/// What a new tenant costs the API server (issue 13): each of its objects written once,
/// plus its finalizer, its status and one Event. Each namespace is created whole by its
/// one write and, being new, is not read first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenant_costs_one_write_per_object_plus_finalizer_status_and_one_event() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.eventually(Duration::from_secs(10), "the operator ready", || async {
        operator.readiness.problems().is_empty()
    })
    .await;
    h.wait_quiet(Duration::from_millis(300)).await;
    h.server.reset_request_counts();

    let tenant = tenant_fixture("comune-bisceglie");
    h.apply(&tenant).await;
    h.wait_ready("comune-bisceglie").await;
    h.wait_quiet(Duration::from_millis(500)).await;

    let counts = h.server.request_counts();
    let writes = h.writes();
    let mut objects = 0;
    for (api_version, kind) in CHILD_KINDS {
        objects += h
            .children(api_version, kind, "comune-bisceglie")
            .await
            .len() as u64;
    }
    let on_namespaces: Vec<_> = counts
        .counts
        .iter()
        .filter(|((_, resource, _), _)| resource == "namespaces")
        .collect();
    assert_eq!(
        on_namespaces,
        [(&("create".to_string(), "namespaces".to_string(), 201), &2)],
        "each of the two namespaces is one create, neither read nor applied after"
    );
    // The test's own apply of the TenantService, then the operator's: finalizer, objects,
    // status, one Event.
    assert_eq!(
        writes,
        1 + 1 + objects + 1 + 1,
        "{objects} objects; {:?}",
        counts.counts
    );
    // Every write of the operator's is signed with its field manager, the finalizer's too:
    // an auditor reading managedFields sees who wrote what.
    let managers: Vec<String> = h
        .tenant("comune-bisceglie")
        .await
        .expect("tenant")
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| entry.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "tenant-operator") && !managers.iter().any(|m| m == "unknown"),
        "{managers:?}"
    );

    // A change that removes nothing from the namespaces (the display name, in an
    // annotation) is one apply each: what the create holds needs no clean-up.
    let mut renamed = tenant.clone();
    renamed["spec"]["entity"]["displayName"] = json!("Comune di Bisceglie");
    h.server.reset_request_counts();
    h.apply(&renamed).await;
    h.eventually(
        Duration::from_secs(20),
        "the namespaces renamed",
        || async {
            h.namespace("comune-bisceglie-prod")
                .await
                .is_some_and(|ns| {
                    ns.metadata
                        .annotations
                        .unwrap_or_default()
                        .get("tenancy.innova.puglia.it/display-name")
                        .map(String::as_str)
                        == Some("Comune di Bisceglie")
                })
        },
    )
    .await;
    h.wait_ready("comune-bisceglie").await;
    h.wait_quiet(Duration::from_millis(500)).await;
    let namespace_writes: Vec<_> = h
        .server
        .request_counts()
        .counts
        .into_iter()
        .filter(|((verb, resource, _), _)| resource == "namespaces" && verb != "get")
        .collect();
    assert_eq!(
        namespace_writes,
        [(("patch".to_string(), "namespaces".to_string(), 200), 2)],
        "one apply per namespace"
    );
    operator.stop().await.expect("clean stop");
}

/// A tenant's own objects change its quotas' status (the quota controller recounts their
/// usage): that is no change of what the operator manages, and costs no reconcile and no
/// read of the quotas. An edit of a quota's limits still is one, and is undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_recount_costs_nothing_but_an_edit_of_its_limits_is_undone() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-giovinazzo")).await;
    h.wait_ready("comune-giovinazzo").await;
    h.wait_quiet(Duration::from_millis(500)).await;
    let namespace = "comune-giovinazzo-prod";
    let quotas: Api<ResourceQuota> = Api::namespaced(h.client.clone(), namespace);
    let used_configmaps = || async {
        quotas
            .list(&ListParams::default())
            .await
            .expect("list quotas")
            .items
            .iter()
            .filter_map(|q| {
                q.status
                    .as_ref()?
                    .used
                    .as_ref()?
                    .get("count/configmaps")
                    .cloned()
            })
            .map(|q| q.0)
            .collect::<Vec<_>>()
    };
    let before = used_configmaps().await;
    assert!(!before.is_empty(), "a quota counts ConfigMaps");
    let reconciles_before = operator
        .metric("tenant_operator_reconciles_total")
        .unwrap_or(0.0);
    h.server.reset_request_counts();

    let admin = h
        .server
        .client_as("anna", &["comune-giovinazzo-admins"])
        .expect("client");
    let configmaps: Api<ConfigMap> = Api::namespaced(admin, namespace);
    for name in ["settings", "features", "branding"] {
        configmaps
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
                    .expect("configmap"),
            )
            .await
            .expect("the tenant's admin writes its ConfigMaps");
    }
    h.eventually(Duration::from_secs(5), "the quotas recounted", || async {
        used_configmaps().await != before
    })
    .await;
    // Time for the recounts' watch events to reach the operator.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reconciles = operator
        .metric("tenant_operator_reconciles_total")
        .unwrap_or(0.0)
        - reconciles_before;
    assert_eq!(reconciles, 0.0, "a recount re-ran the tenant's reconcile");
    let counts = h.server.request_counts();
    assert!(
        !counts
            .counts
            .keys()
            .any(|(verb, resource, _)| verb == "get" && resource == "resourcequotas"),
        "the operator read a quota: {:?}",
        counts.counts
    );
    assert_eq!(
        h.writes(),
        3,
        "only the admin's ConfigMaps: {:?}",
        counts.counts
    );

    // An edit of the limits: the tenant's reconcile runs and restores them.
    let quota = quotas
        .list(&ListParams::default())
        .await
        .expect("list quotas")
        .items
        .into_iter()
        .next()
        .expect("a quota");
    let name = quota.metadata.name.clone().expect("named");
    let hard = quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .expect("hard limits");
    quotas
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"pods": "10000"}}})),
        )
        .await
        .expect("a cluster admin edits the quota");
    h.eventually(Duration::from_secs(10), "the limits restored", || async {
        quotas
            .get(&name)
            .await
            .expect("get quota")
            .spec
            .and_then(|s| s.hard)
            == Some(hard.clone())
    })
    .await;
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_resync_makes_zero_mutating_requests() {
    let h = Harness::new().await;
    let mut config = test_config();
    // Periodic re-check every second: several full resyncs during the observation window.
    config.settings.resync_interval = Duration::from_secs(1);
    let operator = h.start_operator(config);
    for name in ["comune-bari", "comune-lecce", "comune-foggia"] {
        h.apply(&tenant_fixture(name)).await;
    }
    for name in ["comune-bari", "comune-lecce", "comune-foggia"] {
        h.wait_ready(name).await;
    }
    // Let the watch events of the operator's own writes settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Forced resync of every tenant: a change of their class triggers all of them.
    touch_class(&h, "standard").await;
    h.server.reset_request_counts();
    let reconciles_before = operator
        .metric("tenant_operator_reconciles_total")
        .unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reconciles = operator
        .metric("tenant_operator_reconciles_total")
        .unwrap_or(0.0)
        - reconciles_before;
    assert!(
        reconciles >= 3.0,
        "expected resyncs, saw {reconciles} reconciles"
    );
    assert_eq!(
        h.writes(),
        0,
        "mutating requests during steady state: {:?}",
        h.server.request_counts().counts
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_a_network_policy_or_role_binding_is_reverted_and_counted() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-trani")).await;
    h.wait_ready("comune-trani").await;

    let policies = h
        .children("networking.k8s.io/v1", "NetworkPolicy", "comune-trani")
        .await;
    let original = policies.first().expect("a network policy").clone();
    let ns = original["metadata"]["namespace"]
        .as_str()
        .expect("ns")
        .to_string();
    let name = name_of(&original);
    // A hand edit: open the policy to everything.
    let api = dynamic_api(&h.client, &original);
    let hand_edit_and_wait_for_restore = || async {
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"podSelector": {"matchLabels": {"hacked": "true"}}, "ingress": [{}]}}),
            ),
        )
        .await
        .expect("hand edit");
        h.eventually(Duration::from_secs(10), "NetworkPolicy restored", || {
            let api = api.clone();
            let name = name.clone();
            let original = original["spec"].clone();
            async move {
                let live = api.get(&name).await.expect("get policy");
                serde_json::to_value(&live).expect("json")["spec"] == original
            }
        })
        .await;
    };
    hand_edit_and_wait_for_restore().await;

    // The same edit again within the series window (six minutes, as in client-go) is counted
    // on the first DriftCorrected Event instead of making a second one.
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let drift_events = || async {
        events_about(&h, "comune-trani")
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("DriftCorrected"))
            .collect::<Vec<_>>()
    };
    h.eventually(Duration::from_secs(5), "a DriftCorrected Event", || async {
        drift_events().await.len() == 1
    })
    .await;
    hand_edit_and_wait_for_restore().await;
    h.eventually(
        Duration::from_secs(5),
        "the repeat counted on the Event",
        || async {
            let found = drift_events().await;
            found.len() == 1 && found[0].series.as_ref().map(|s| s.count) == Some(2)
        },
    )
    .await;
    // Once that Event is gone (the API server expires Events after an hour), a repeat
    // within the window makes a new Event instead of failing on the missing one.
    let first = drift_events().await.remove(0).metadata.name.expect("name");
    events
        .delete(&first, &DeleteParams::default())
        .await
        .expect("delete the Event");
    hand_edit_and_wait_for_restore().await;
    h.eventually(
        Duration::from_secs(5),
        "a new DriftCorrected Event",
        || async {
            let found = drift_events().await;
            found.len() == 1
                && found[0].metadata.name.as_deref() != Some(first.as_str())
                && found[0].series.is_none()
        },
    )
    .await;

    let bindings = h
        .children(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "comune-trani",
        )
        .await;
    let binding = bindings.first().expect("a role binding").clone();
    let binding_api = dynamic_api(&h.client, &binding);
    let binding_name = name_of(&binding);
    binding_api
        .delete(&binding_name, &DeleteParams::default())
        .await
        .expect("delete binding");
    h.eventually(Duration::from_secs(10), "RoleBinding restored", || {
        let api = binding_api.clone();
        let name = binding_name.clone();
        async move { api.get_opt(&name).await.expect("get binding").is_some() }
    })
    .await;
    let drift = |kind: &str| {
        operator
            .metric(&format!(
                "tenant_operator_drift_corrections_total{{kind=\"{kind}\"}}"
            ))
            .unwrap_or(0.0)
    };
    // The operator counts a correction after its write returns, so the restored object
    // can be visible a moment before the count.
    for kind in ["NetworkPolicy", "RoleBinding"] {
        h.eventually(
            Duration::from_secs(5),
            &format!("{kind} drift counted"),
            || async { drift(kind) >= 1.0 },
        )
        .await;
    }
    assert!(ns.starts_with("comune-trani-"));
    operator.stop().await.expect("clean stop");
}
