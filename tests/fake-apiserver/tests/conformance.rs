//! Conformance suite: one test per behaviour of SPEC.md §9, driven the way
//! the operator drives a server (kube::Api, kube::runtime) plus raw requests
//! where the wire format itself is the behaviour.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::{Value, json};

const W: &str = "/apis/example.io/v1/namespaces/default/widgets";

#[tokio::test]
async fn t01_legacy_discovery() {
    let s = server().await;
    let c = s.client();
    let (code, _, api) = raw(&c, Method::GET, "/api", &[], None).await;
    assert_eq!(code, 200);
    let api = j(&api);
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    let apis = j(&raw(&c, Method::GET, "/apis", &[], None).await.2);
    assert_eq!(apis["kind"], "APIGroupList");
    assert!(
        apis["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["name"] != ""),
        "no core group in /apis"
    );
    let v1 = j(&raw(&c, Method::GET, "/api/v1", &[], None).await.2);
    let cm = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "configmaps")
        .unwrap()
        .clone();
    assert_eq!(cm["namespaced"], true);
    assert_eq!(cm["shortNames"], json!(["cm"]));
    assert_eq!(cm["verbs"].as_array().unwrap().len(), 8);
    install_widgets(&c, true).await;
    let gv = j(&raw(&c, Method::GET, "/apis/example.io/v1", &[], None)
        .await
        .2);
    let names: Vec<&str> = gv["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["widgets", "widgets/status"]);
    // kube-rs discovery sees the CRD too.
    let d = kube::Discovery::new(c.clone()).run().await.unwrap();
    assert!(d.groups().any(|g| g.name() == "example.io"));
    s.shutdown().await;
}

#[tokio::test]
async fn t02_aggregated_discovery() {
    let s = server().await;
    let c = s.client();
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let (code, ct, body) = raw(&c, Method::GET, "/apis", &[("accept", accept)], None).await;
    assert_eq!(code, 200);
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let b = j(&body);
    assert_eq!(b["kind"], "APIGroupDiscoveryList");
    let apps = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap()
        .clone();
    let dep = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap()
        .clone();
    assert_eq!(dep["scope"], "Namespaced");
    assert_eq!(dep["subresources"][0]["subresource"], "status");
    let (_, ct, body) = raw(
        &c,
        Method::GET,
        "/apis",
        &[("accept", "application/json")],
        None,
    )
    .await;
    assert_eq!(ct, "application/json");
    assert_eq!(j(&body)["kind"], "APIGroupList");
    s.shutdown().await;
}

#[tokio::test]
async fn t03_version_and_openapi() {
    let s = server().await;
    let c = s.client();
    let v = c.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let (_, _, body) = raw(&c, Method::GET, "/version", &[], None).await;
    let b = j(&body);
    for f in [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(b[f].is_string(), "missing {f}");
    }
    install_widgets(&c, true).await;
    let idx = j(&raw(&c, Method::GET, "/openapi/v3", &[], None).await.2);
    assert!(idx["paths"]["api/v1"].is_object());
    let url = idx["paths"]["apis/example.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = j(&raw(&c, Method::GET, &url, &[], None).await.2);
    let patch = &doc["paths"]["/apis/example.io/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "example.io", "version": "v1", "kind": "Widget"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    let (code, _, body) = raw(&c, Method::GET, "/openapi/v2", &[], None).await;
    assert_eq!(code, 404);
    assert_eq!(j(&body)["kind"], "Status");
    s.shutdown().await;
}

#[tokio::test]
async fn t04_crd_established_and_served() {
    let s = server().await;
    let c = s.client();
    let (code, _, body) = raw(&c, Method::GET, W, &[], None).await;
    assert_eq!(code, 404);
    assert_eq!(
        j(&body)["message"],
        "the server could not find the requested resource"
    );
    install_widgets(&c, true).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(c.clone());
    let est = kube::runtime::wait::await_condition(
        crds,
        "widgets.example.io",
        kube::runtime::conditions::is_crd_established(),
    );
    let crd = tokio::time::timeout(Duration::from_secs(1), est)
        .await
        .expect("established within 1s")
        .unwrap()
        .unwrap();
    assert!(
        crd.metadata
            .finalizers
            .unwrap()
            .contains(&"customresourcecleanup.apiextensions.k8s.io".to_string())
    );
    let list = j(&raw(&c, Method::GET, W, &[], None).await.2);
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["items"], json!([]));
    s.shutdown().await;
}

#[tokio::test]
async fn t05_create_sets_system_fields() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let list_rv: u64 = widgets(&c, "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap();
    let mut w = widget("w1", json!({"size": 3}));
    w.data["status"] = json!({"phase": "x"});
    let created = widgets(&c, "default")
        .create(&PostParams::default(), &w)
        .await
        .unwrap();
    let m = &created.metadata;
    assert!(m.uid.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(m.creation_timestamp.is_some());
    let raw_obj = j(&raw(&c, Method::GET, &format!("{W}/w1"), &[], None).await.2);
    assert!(
        raw_obj["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        m.resource_version
            .as_deref()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > list_rv
    );
    assert_eq!(m.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "status dropped on create"
    );
    let mf = m.managed_fields.as_ref().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("unknown"));
    assert_eq!(mf[0].operation.as_deref(), Some("Update"));
    let pp = PostParams {
        field_manager: Some("me".into()),
        ..Default::default()
    };
    let c2 = widgets(&c, "default")
        .create(&pp, &widget("w2", json!({})))
        .await
        .unwrap();
    assert_eq!(
        c2.metadata.managed_fields.unwrap()[0].manager.as_deref(),
        Some("me")
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t06_already_exists_and_missing_namespace() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    create_widget(&c, "default", "w1", json!({"size": 1})).await;
    let body = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w1"}});
    let (code, _, b) = raw(&c, Method::POST, W, &[], Some(body.clone())).await;
    assert_eq!(code, 409);
    assert_eq!(
        j(&b),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "widgets.example.io \"w1\" already exists", "reason": "AlreadyExists",
            "details": {"name": "w1", "group": "example.io", "kind": "widgets"}, "code": 409})
    );
    let (code, _, b) = raw(
        &c,
        Method::POST,
        "/apis/example.io/v1/namespaces/nope/widgets",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(j(&b)["message"], "namespaces \"nope\" not found");
    s.shutdown().await;
}

#[tokio::test]
async fn t07_not_found() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let (code, _, b) = raw(&c, Method::GET, &format!("{W}/zz"), &[], None).await;
    assert_eq!(code, 404);
    let b = j(&b);
    assert_eq!(b["message"], "widgets.example.io \"zz\" not found");
    assert_eq!(
        b["details"],
        json!({"name": "zz", "group": "example.io", "kind": "widgets"})
    );
    assert!(
        widgets(&c, "default")
            .get_opt("zz")
            .await
            .unwrap()
            .is_none()
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t08_update_concurrency() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let w = create_widget(&c, "default", "w1", json!({"size": 1})).await;
    let mut stale = w.clone();
    stale.metadata.resource_version = Some("1".into());
    let err = api
        .replace("w1", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                "Operation cannot be fulfilled on widgets.example.io \"w1\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        other => panic!("unexpected {other}"),
    }
    let mut norv = w.clone();
    norv.metadata.resource_version = None;
    let (code, _, b) = raw(
        &c,
        Method::PUT,
        &format!("{W}/w1"),
        &[],
        Some(serde_json::to_value(&norv).unwrap()),
    )
    .await;
    assert_eq!(code, 422);
    assert!(j(&b)["message"].as_str().unwrap().ends_with(
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    ));
    let mut next = w.clone();
    next.data["spec"]["size"] = json!(2);
    let updated = api
        .replace("w1", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        w.metadata.resource_version
    );
    assert_eq!(updated.metadata.generation, Some(2));
    s.shutdown().await;
}

#[tokio::test]
async fn t09_status_separation_and_generation() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    create_widget(&c, "default", "w1", json!({"size": 1})).await;
    let labelled = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let mut st = labelled.clone();
    st.data["status"] = json!({"phase": "Ready"});
    st.data["spec"]["size"] = json!(9);
    st.metadata.labels = None;
    let after = api
        .replace_status("w1", &PostParams::default(), &st)
        .await
        .unwrap();
    assert_eq!(after.data["status"]["phase"], "Ready");
    assert_eq!(after.data["spec"]["size"], 1);
    assert_eq!(after.metadata.labels.as_ref().unwrap()["a"], "b");
    assert_eq!(after.metadata.generation, Some(1));
    let mut main = after.clone();
    main.data["status"] = json!({"phase": "Changed"});
    let after2 = api
        .replace("w1", &PostParams::default(), &main)
        .await
        .unwrap();
    assert_eq!(after2.data["status"]["phase"], "Ready");
    assert_eq!(after2.metadata.generation, Some(1));
    let ps = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Merged"}})),
        )
        .await
        .unwrap();
    assert_eq!(ps.data["status"]["phase"], "Merged");
    s.shutdown().await;
    // Without a status subresource a status change is a content change.
    let s = server().await;
    let c = s.client();
    install_widgets(&c, false).await;
    create_widget(&c, "default", "w1", json!({"size": 1})).await;
    let p = widgets(&c, "default")
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(2));
    s.shutdown().await;
}

fn apply_as(m: &str) -> PatchParams {
    PatchParams::apply(m)
}

fn applied(spec: Value) -> Value {
    json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": spec})
}

#[tokio::test]
async fn t10_apply_create_and_noop() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let lrv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let (code, _, body) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1?fieldManager=a"),
        &[("content-type", "application/apply-patch+yaml")],
        Some(applied(json!({"size": 3, "color": "red"}))),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let o = j(&body);
    let mf = &o["metadata"]["managedFields"];
    assert_eq!(mf.as_array().unwrap().len(), 1);
    assert_eq!(mf[0]["manager"], "a");
    assert_eq!(mf[0]["operation"], "Apply");
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({"f:spec": {"f:color": {}, "f:size": {}}})
    );
    let watch = spawn_watch(
        &c,
        &format!(
            "{W}?watch=true&resourceVersion={}",
            o["metadata"]["resourceVersion"].as_str().unwrap()
        ),
        1,
        Duration::from_millis(600),
    );
    let again = api
        .patch(
            "w1",
            &apply_as("a"),
            &Patch::Apply(applied(json!({"size": 3, "color": "red"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version.as_deref(),
        o["metadata"]["resourceVersion"].as_str()
    );
    assert!(
        watch.await.unwrap().is_empty(),
        "a no-op apply emits no event"
    );
    assert_ne!(lrv, again.metadata.resource_version.unwrap());
    s.shutdown().await;
}

async fn fresh_a(c: &kube::Client) -> Api<kube::api::DynamicObject> {
    install_widgets(c, true).await;
    let api = widgets(c, "default");
    api.patch(
        "w1",
        &apply_as("a"),
        &Patch::Apply(applied(json!({"size": 3, "color": "red"}))),
    )
    .await
    .unwrap();
    api
}

fn owners(o: &kube::api::DynamicObject) -> Vec<(String, Value)> {
    o.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.manager.unwrap_or_default(),
                serde_json::to_value(e.fields_v1).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn t11_apply_conflicts() {
    let s = server().await;
    let c = s.client();
    let api = fresh_a(&c).await;
    let err = api
        .patch(
            "w1",
            &apply_as("b"),
            &Patch::Apply(applied(json!({"size": 4}))),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(st) = err else {
        panic!("expected an API error")
    };
    assert_eq!(st.code, 409);
    assert_eq!(
        st.message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.size"
    );
    let (_, _, body) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1?fieldManager=b"),
        &[("content-type", "application/apply-patch+yaml")],
        Some(applied(json!({"size": 4}))),
    )
    .await;
    assert_eq!(
        j(&body)["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".spec.size"}])
    );
    let forced = api
        .patch(
            "w1",
            &apply_as("b").force(),
            &Patch::Apply(applied(json!({"size": 4}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["size"], 4);
    let a = owners(&forced)
        .into_iter()
        .find(|(m, _)| m == "a")
        .unwrap()
        .1;
    assert_eq!(a, json!({"f:spec": {"f:color": {}}}));
    s.shutdown().await;
    let s = server().await;
    let c = s.client();
    let api = fresh_a(&c).await;
    let shared = api
        .patch(
            "w1",
            &apply_as("b"),
            &Patch::Apply(applied(json!({"size": 3}))),
        )
        .await
        .unwrap();
    let o = owners(&shared);
    assert!(
        o.iter()
            .any(|(m, f)| m == "a" && f["f:spec"]["f:size"].is_object())
    );
    assert!(
        o.iter()
            .any(|(m, f)| m == "b" && f["f:spec"]["f:size"].is_object())
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t12_apply_removal() {
    let s = server().await;
    let c = s.client();
    let api = fresh_a(&c).await;
    let o = api
        .patch(
            "w1",
            &apply_as("a"),
            &Patch::Apply(applied(json!({"size": 3}))),
        )
        .await
        .unwrap();
    assert_eq!(o.data["spec"], json!({"size": 3}));
    s.shutdown().await;
    let s = server().await;
    let c = s.client();
    let api = fresh_a(&c).await;
    api.patch(
        "w1",
        &apply_as("b"),
        &Patch::Apply(applied(json!({"color": "red"}))),
    )
    .await
    .unwrap();
    let o = api
        .patch(
            "w1",
            &apply_as("a"),
            &Patch::Apply(applied(json!({"size": 3}))),
        )
        .await
        .unwrap();
    assert_eq!(o.data["spec"]["color"], "red", "co-owned field stays");
    s.shutdown().await;
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}},
            "spec": {"containers": containers}}}})
}

#[tokio::test]
async fn t13_associative_lists() {
    let s = server().await;
    let c = s.client();
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    api.patch(
        "d",
        &apply_as("a"),
        &Patch::Apply(deployment(
            json!([{"name": "x", "image": "x", "ports": [{"containerPort": 80}]}]),
        )),
    )
    .await
    .unwrap();
    let d = api
        .patch(
            "d",
            &apply_as("b"),
            &Patch::Apply(deployment(json!([{"name": "y", "image": "y"}]))),
        )
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["x", "y"]);
    // Same port item with and without the defaulted protocol: no conflict for a, no duplicate.
    let d = api.patch("d", &apply_as("a"), &Patch::Apply(deployment(json!([{"name": "x", "image": "x", "ports": [{"containerPort": 80, "protocol": "TCP"}]}])))).await.unwrap();
    assert_eq!(
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .ports
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    let d = api
        .patch("d", &apply_as("a"), &Patch::Apply(deployment(json!([]))))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["y"]);
    s.shutdown().await;
}

#[tokio::test]
async fn t14_apply_errors() {
    let s = server().await;
    let c = s.client();
    let api = fresh_a(&c).await;
    let ct = [("content-type", "application/apply-patch+yaml")];
    let (code, _, _) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1"),
        &ct,
        Some(applied(json!({"size": 1}))),
    )
    .await;
    assert_eq!(code, 422);
    let mut with_mf = applied(json!({"size": 3}));
    with_mf["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    let (code, _, b) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1?fieldManager=a"),
        &ct,
        Some(with_mf),
    )
    .await;
    assert_eq!(
        (code.as_u16(), j(&b)["message"].clone()),
        (400, json!("metadata.managedFields must be nil"))
    );
    let mut v2 = applied(json!({"size": 3}));
    v2["apiVersion"] = json!("example.io/v2");
    let (code, _, b) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1?fieldManager=a"),
        &ct,
        Some(v2),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        j(&b)["message"]
            .as_str()
            .unwrap()
            .starts_with("Incorrect version specified in apply patch")
    );
    let (code, _, _) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1?force=true"),
        &[("content-type", "application/merge-patch+json")],
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 422);
    let (code, _, b) = raw(
        &c,
        Method::PATCH,
        &format!("{W}/w1"),
        &[("content-type", "application/strategic-merge-patch+json")],
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(
        j(&b)["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
    let _ = api;
    s.shutdown().await;
}

#[tokio::test]
async fn t15_merge_patch() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let mut w = widget("w1", json!({}));
    w.metadata.labels = Some(
        [
            ("k".to_string(), "v".to_string()),
            ("keep".to_string(), "1".to_string()),
        ]
        .into(),
    );
    w.metadata.finalizers = Some(vec!["a/b".into(), "c/d".into()]);
    api.create(&PostParams::default(), &w).await.unwrap();
    let o = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"k": null}, "finalizers": ["c/d"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        o.metadata.labels.unwrap().keys().collect::<Vec<_>>(),
        ["keep"]
    );
    assert_eq!(o.metadata.finalizers.unwrap(), ["c/d"]);
    let err = api
        .patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
    s.shutdown().await;
}

#[tokio::test]
async fn t16_json_patch_finalizer_helper() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    create_widget(&c, "default", "w1", json!({})).await;
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}]))
    .unwrap();
    let o = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::<()>::Json(add.clone()),
        )
        .await
        .unwrap();
    assert_eq!(o.metadata.finalizers.unwrap(), ["x/y"]);
    let err = api
        .patch("w1", &PatchParams::default(), &Patch::<()>::Json(add))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err}"
    );
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "x/y"},
        {"op": "remove", "path": "/metadata/finalizers/0"}]))
    .unwrap();
    api.patch("w1", &PatchParams::default(), &Patch::<()>::Json(remove))
        .await
        .unwrap();
    let raw_obj = j(&raw(&c, Method::GET, &format!("{W}/w1"), &[], None).await.2);
    assert!(raw_obj["metadata"].get("finalizers").is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn t17_watch_order() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let l = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &l)
        .await
        .unwrap()
        .boxed();
    create_widget(&c, "default", "w1", json!({"size": 1})).await;
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .unwrap();
    api.delete("w1", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match ev {
            WatchEvent::Added(o) => seen.push((
                "ADDED",
                o.metadata.resource_version.unwrap().parse::<u64>().unwrap(),
            )),
            WatchEvent::Modified(o) => seen.push((
                "MODIFIED",
                o.metadata.resource_version.unwrap().parse().unwrap(),
            )),
            WatchEvent::Deleted(o) => seen.push((
                "DELETED",
                o.metadata.resource_version.unwrap().parse().unwrap(),
            )),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        ["ADDED", "MODIFIED", "DELETED"]
    );
    assert!(seen[0].1 < seen[1].1 && seen[1].1 < seen[2].1);
    s.shutdown().await;
}

#[tokio::test]
async fn t18_initial_events() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    create_widget(&c, "default", "w1", json!({})).await;
    create_widget(&c, "default", "w2", json!({})).await;
    let ev = watch_events(
        &c,
        &format!("{W}?watch=true&resourceVersion=0"),
        2,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        ev.iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ADDED", "ADDED"]
    );
    let ev = watch_events(&c, &format!("{W}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"), 3, Duration::from_secs(1)).await;
    assert_eq!(
        ev.iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ADDED", "ADDED", "BOOKMARK"]
    );
    assert_eq!(
        ev[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let (code, _, _) = raw(
        &c,
        Method::GET,
        &format!("{W}?watch=true&sendInitialEvents=true"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 422);
    // kube-rs streaming lists.
    let cfg = watcher::Config::default().streaming_lists();
    let mut st = watcher(widgets(&c, "default"), cfg).boxed();
    let mut names = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), st.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => names.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, ["w1", "w2"]);
    s.shutdown().await;
}

#[tokio::test]
async fn t19_bookmarks_and_timeout() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let rv = s.resource_version();
    let start = std::time::Instant::now();
    let ev = watch_events(
        &c,
        &format!("{W}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=3"),
        100,
        Duration::from_secs(6),
    )
    .await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "closed after {took:?}"
    );
    assert!(!ev.is_empty());
    for e in &ev {
        assert_eq!(e["type"], "BOOKMARK");
        assert_eq!(e["object"]["kind"], "Widget");
        assert_eq!(e["object"]["apiVersion"], "example.io/v1");
        assert!(e["object"]["metadata"]["resourceVersion"].is_string());
    }
    let ev = watch_events(
        &c,
        &format!("{W}?watch=true&resourceVersion={rv}&timeoutSeconds=2"),
        100,
        Duration::from_secs(4),
    )
    .await;
    assert!(ev.is_empty(), "no bookmarks without the flag");
    s.shutdown().await;
}

#[tokio::test]
async fn t20_too_old_resource_version() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let old = s.resource_version();
    for n in ["a", "b", "c"] {
        create_widget(&c, "default", n, json!({})).await;
    }
    s.compact();
    let ev = watch_events(
        &c,
        &format!("{W}?watch=true&resourceVersion={old}"),
        5,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["type"], "ERROR");
    assert_eq!(ev[0]["object"]["code"], 410);
    assert_eq!(ev[0]["object"]["reason"], "Expired");
    assert!(
        ev[0]["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("too old resource version: {old}"))
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t21_selectors() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    for (n, app) in [("w1", "a"), ("w2", "b"), ("w3", "c")] {
        let mut w = widget(n, json!({}));
        w.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        api.create(&PostParams::default(), &w).await.unwrap();
    }
    api.patch(
        "w2",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"skip": "1"}}})),
    )
    .await
    .unwrap();
    let l = api
        .list(&ListParams::default().labels("app in (a,b),!skip"))
        .await
        .unwrap();
    assert_eq!(
        l.items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect::<Vec<_>>(),
        ["w1"]
    );
    let l = api
        .list(&ListParams::default().fields("metadata.name=w3"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    let rv = s.resource_version();
    let w = spawn_watch(
        &c,
        &format!("{W}?watch=true&resourceVersion={rv}&labelSelector=app%3Da"),
        1,
        Duration::from_secs(5),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}})),
    )
    .await
    .unwrap();
    let ev = w.await.unwrap();
    assert_eq!(ev[0]["type"], "DELETED");
    assert_eq!(ev[0]["object"]["metadata"]["labels"]["app"], "a");
    let (code, _, b) = raw(
        &c,
        Method::GET,
        &format!("{W}?fieldSelector=spec.size%3D3"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(j(&b)["message"], "field label not supported: spec.size");
    s.shutdown().await;
}

#[tokio::test]
async fn t22_paging() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    for i in 0..5 {
        create_widget(&c, "default", &format!("w{i}"), json!({})).await;
    }
    let api = widgets(&c, "default");
    let p1 = api.list(&ListParams::default().limit(2)).await.unwrap();
    let p2 = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(p1.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    let p3 = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(p2.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!((p1.items.len(), p2.items.len(), p3.items.len()), (2, 2, 1));
    assert_eq!(p1.metadata.resource_version, p3.metadata.resource_version);
    assert!(p3.metadata.continue_.as_deref().unwrap_or("").is_empty());
    s.compact();
    let (code, _, _) = raw(
        &c,
        Method::GET,
        &format!("{W}?limit=2&continue={}", p1.metadata.continue_.unwrap()),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 410);
    s.shutdown().await;
}

#[tokio::test]
async fn t23_finalizers() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let mut w = widget("w1", json!({}));
    w.metadata.finalizers = Some(vec!["example.io/hold".into()]);
    api.create(&PostParams::default(), &w).await.unwrap();
    let rv = s.resource_version();
    let events = spawn_watch(
        &c,
        &format!("{W}?watch=true&resourceVersion={rv}"),
        2,
        Duration::from_secs(5),
    );
    let d = api.delete("w1", &DeleteParams::default()).await.unwrap();
    let obj = d.left().expect("still present");
    assert!(obj.metadata.deletion_timestamp.is_some());
    assert_eq!(obj.metadata.generation, Some(2));
    let err = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.io/hold", "x/new"]}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("no new finalizers")),
        "{err}"
    );
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let ev = events.await.unwrap();
    assert_eq!(
        ev.iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["MODIFIED", "DELETED"]
    );
    assert!(api.get_opt("w1").await.unwrap().is_none());
    s.shutdown().await;
}

fn owned_cm(name: &str, owners: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default", "ownerReferences": owners}}),
    )
    .unwrap()
}

fn oref(w: &kube::api::DynamicObject, block: bool) -> Value {
    json!({"apiVersion": "example.io/v1", "kind": "Widget", "name": w.metadata.name, "uid": w.metadata.uid, "blockOwnerDeletion": block})
}

#[tokio::test]
async fn t24_background_gc() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let w1 = create_widget(&c, "default", "w1", json!({})).await;
    let w2 = create_widget(&c, "default", "w2", json!({})).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    cms.create(
        &PostParams::default(),
        &owned_cm("c", json!([oref(&w1, false)])),
    )
    .await
    .unwrap();
    cms.create(
        &PostParams::default(),
        &owned_cm("both", json!([oref(&w1, false), oref(&w2, false)])),
    )
    .await
    .unwrap();
    widgets(&c, "default")
        .delete("w1", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get_opt("c").await.unwrap().is_none()
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get("both")
                .await
                .unwrap()
                .metadata
                .owner_references
                .unwrap_or_default()
                .len()
                == 1
        })
        .await
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t25_foreground_and_orphan() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let w1 = create_widget(&c, "default", "w1", json!({})).await;
    let mut child = owned_cm("child", json!([oref(&w1, true)]));
    child.metadata.finalizers = Some(vec!["example.io/slow".into()]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    let d = api
        .delete("w1", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(d.metadata.finalizers.unwrap(), ["foregroundDeletion"]);
    // The child is being deleted first; the owner waits for it.
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get("child")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_some()
        })
        .await
    );
    assert!(api.get_opt("w1").await.unwrap().is_some());
    cms.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            api.get_opt("w1").await.unwrap().is_none()
        })
        .await
    );
    // Orphan.
    let w2 = create_widget(&c, "default", "w2", json!({})).await;
    cms.create(
        &PostParams::default(),
        &owned_cm("kid", json!([oref(&w2, true)])),
    )
    .await
    .unwrap();
    api.delete("w2", &DeleteParams::orphan()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            api.get_opt("w2").await.unwrap().is_none()
        })
        .await
    );
    let kid = cms.get("kid").await.unwrap();
    assert!(kid.metadata.owner_references.unwrap_or_default().is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn t26_namespace_cascade() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "demo"}})).unwrap(),
    )
    .await
    .unwrap();
    let api = widgets(&c, "demo");
    let mut w = widget("w", json!({}));
    w.metadata.finalizers = Some(vec!["example.io/hold".into()]);
    api.create(&PostParams::default(), &w).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "demo");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
    )
    .await
    .unwrap();
    let d = nss
        .delete("demo", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(d.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.message.ends_with("because it is being terminated")),
        "{err}"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            cms.get_opt("c").await.unwrap().is_none()
        })
        .await
    );
    assert!(
        nss.get_opt("demo").await.unwrap().is_some(),
        "namespace waits for the widget's finalizer"
    );
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || async {
            nss.get_opt("demo").await.unwrap().is_none()
        })
        .await
    );
    s.shutdown().await;
}

#[tokio::test]
async fn t27_fail_loudly() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    create_widget(&c, "default", "w1", json!({})).await;
    let (code, _, b) = raw(&c, Method::GET, &format!("{W}/w1/scale"), &[], None).await;
    assert_eq!(code, StatusCode::NOT_IMPLEMENTED);
    let b = j(&b);
    assert_eq!(b["reason"], "NotImplemented");
    assert!(b["message"].as_str().unwrap().starts_with("mock-apiserver: not implemented: subresource scale (GET /apis/example.io/v1/namespaces/default/widgets/w1/scale)"));
    assert_eq!(s.unsupported_requests().len(), 1);
    let (code, _, _) = raw(
        &c,
        Method::GET,
        W,
        &[("accept", "application/vnd.kubernetes.protobuf")],
        None,
    )
    .await;
    assert_eq!(code, 406);
    s.shutdown().await;
}
