//! kube-runtime against the server, as the operator uses it: a Controller that
//! owns ConfigMaps (drift correction and garbage collection), the events
//! Recorder, metadata watches, Table output, dry runs, and CRD deletion.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::Method;
use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed: {0}")]
struct ReconcileError(#[from] kube::Error);

struct Ctx {
    client: kube::Client,
    runs: AtomicUsize,
}

async fn reconcile(w: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    ctx.runs.fetch_add(1, Ordering::Relaxed);
    let ns = w.metadata.namespace.clone().unwrap_or_default();
    let name = w.metadata.name.clone().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-cfg"), "ownerReferences": [{"apiVersion": "example.io/v1", "kind": "Widget",
            "name": name, "uid": w.metadata.uid, "controller": true, "blockOwnerDeletion": true}]},
        "data": {"size": w.data["spec"]["size"].to_string()}});
    cms.patch(
        &format!("{name}-cfg"),
        &PatchParams::apply("widget-controller").force(),
        &Patch::Apply(cm),
    )
    .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<DynamicObject>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn controller_owns_configmaps() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let ctx = Arc::new(Ctx {
        client: c.clone(),
        runs: AtomicUsize::new(0),
    });
    let widgets_api = widgets(&c, "default");
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let ctl = Controller::new_with(widgets_api.clone(), watcher::Config::default(), widget_ar())
        .owns(cms.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let task = tokio::spawn(ctl);
    create_widget(&c, "default", "w1", json!({"size": 3})).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get_opt("w1-cfg").await.unwrap().is_some()
        })
        .await
    );
    // Steady state: a re-apply of identical content writes nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.reset_request_counts();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.request_counts().mutating(), 0, "{:?}", s.request_counts());
    // Drift correction: a hand edit of the owned ConfigMap is reverted.
    cms.patch(
        "w1-cfg",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"size": "99"}})),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get("w1-cfg")
                .await
                .unwrap()
                .data
                .unwrap_or_default()
                .get("size")
                .map(String::as_str)
                == Some("3")
        })
        .await
    );
    // Deleting the owner collects the ConfigMap.
    widgets_api
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get_opt("w1-cfg").await.unwrap().is_none()
        })
        .await
    );
    assert!(ctx.runs.load(Ordering::Relaxed) >= 2);
    task.abort();
    s.shutdown().await;
}

#[tokio::test]
async fn recorder_creates_and_updates_events() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let w = create_widget(&c, "default", "w1", json!({})).await;
    let recorder = Recorder::new(
        c.clone(),
        Reporter {
            controller: "widget-controller".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("example.io/v1".into()),
        kind: Some("Widget".into()),
        name: w.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: w.metadata.uid.clone(),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::namespaced(c.clone(), "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        list.items[0]
            .regarding
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("w1")
    );
    let l = events
        .list(&ListParams::default().fields("regarding.name=w1"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn metadata_watch_and_table() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    create_widget(&c, "default", "w1", json!({"size": 7})).await;
    let api = widgets(&c, "default");
    let meta = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(meta.items[0].metadata.name.as_deref(), Some("w1"));
    let meta_api: Api<PartialObjectMeta<DynamicObject>> =
        Api::namespaced_with(c.clone(), "default", &widget_ar());
    let mut st = watcher(meta_api, watcher::Config::default()).boxed();
    let mut got = None;
    while got.is_none() {
        if let watcher::Event::InitApply(o) =
            tokio::time::timeout(Duration::from_secs(5), st.try_next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
        {
            got = Some(o);
        }
    }
    assert_eq!(got.unwrap().metadata.name.as_deref(), Some("w1"));
    api.patch_status(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .unwrap();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (_, _, body) = raw(
        &c,
        Method::GET,
        "/apis/example.io/v1/namespaces/default/widgets",
        &[("accept", accept)],
        None,
    )
    .await;
    let t = j(&body);
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, ["Name", "Size", "Ready"]);
    assert_eq!(t["rows"][0]["cells"], json!(["w1", 7, "True"]));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    s.shutdown().await;
}

#[tokio::test]
async fn dry_run_stores_nothing() {
    let s = server().await;
    let c = s.client();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let rv = s.resource_version();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    let out = cms.create(&pp, &cm).await.unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("dry"));
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    assert_eq!(s.resource_version(), rv);
    s.shutdown().await;
}

#[tokio::test]
async fn crd_deletion_removes_custom_resources() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let mut w = widget("held", json!({}));
    w.metadata.finalizers = Some(vec!["example.io/hold".into()]);
    api.create(&PostParams::default(), &w).await.unwrap();
    create_widget(&c, "default", "free", json!({})).await;
    let crds: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
            ),
            "customresourcedefinitions",
        ),
    );
    crds.delete("widgets.example.io", &DeleteParams::default())
        .await
        .unwrap();
    let err = api
        .create(&PostParams::default(), &widget("new", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.message.contains("create not allowed while custom resource definition is terminating")),
        "{err}"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            api.get_opt("free").await.unwrap().is_none()
        })
        .await
    );
    assert!(
        crds.get_opt("widgets.example.io").await.unwrap().is_some(),
        "waits for the held widget"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            crds.get_opt("widgets.example.io").await.unwrap().is_none()
        })
        .await
    );
    let (code, _, _) = raw(
        &c,
        Method::GET,
        "/apis/example.io/v1/namespaces/default/widgets",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn finalizer_helper_adds_and_removes() {
    use kube::runtime::finalizer::{Event as Fin, finalizer};
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    create_widget(&c, "default", "w1", json!({})).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..2 {
        // First call adds the finalizer (JSON patch: test null + add); second applies.
        let obj = Arc::new(api.get("w1").await.unwrap());
        let seen = seen.clone();
        finalizer(&api, "example.io/cleanup", obj, |ev| async move {
            seen.lock()
                .map(|mut s| s.push(matches!(ev, Fin::Apply(_))))
                .ok();
            Ok::<_, ReconcileError>(Action::await_change())
        })
        .await
        .unwrap();
    }
    assert_eq!(
        api.get("w1").await.unwrap().metadata.finalizers.unwrap(),
        ["example.io/cleanup"]
    );
    api.delete("w1", &DeleteParams::default()).await.unwrap();
    let obj = Arc::new(api.get("w1").await.unwrap());
    let seen2 = seen.clone();
    finalizer(&api, "example.io/cleanup", obj, |ev| async move {
        seen2
            .lock()
            .map(|mut s| s.push(matches!(ev, Fin::Apply(_))))
            .ok();
        Ok::<_, ReconcileError>(Action::await_change())
    })
    .await
    .unwrap();
    assert!(
        api.get_opt("w1").await.unwrap().is_none(),
        "removing the last finalizer deletes it"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [true, false],
        "one Apply, then Cleanup"
    );
    s.shutdown().await;
}
