//! Object semantics beyond the §9 list: strategic merge patch on built-ins,
//! multi-version CRDs sharing one store, generateName, Secret stringData,
//! protected namespaces, resourceVersions from the future, and the `scale` subresource of
//! workloads.

mod common;

use axum::http::Method;
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn strategic_merge_patch_merges_containers_by_name() {
    let s = server().await;
    let c = s.client();
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}})).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}, {"name": "a", "$patch": "delete"}]}}}});
    let d = api
        .patch("d", &PatchParams::default(), &Patch::Strategic(p))
        .await
        .unwrap();
    let got: Vec<(String, Option<String>)> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| (c.name, c.image))
        .collect();
    assert_eq!(
        got,
        [
            ("b".to_string(), Some("b:2".to_string())),
            ("c".to_string(), Some("c:1".to_string()))
        ]
    );
    let err = api
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Strategic(json!({"$deleteFromPrimitiveList/x": ["y"]})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 501),
        "{err}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn crd_versions_share_one_store() {
    let s = server().await;
    let c = s.client();
    let mut crd = widget_crd(true);
    let v1 = crd["spec"]["versions"][0].clone();
    let mut v2 = v1.clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    crd["spec"]["versions"] = json!([v1, v2]);
    let (code, _, b) = raw(
        &c,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[],
        Some(crd),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let body = json!({"apiVersion": "example.io/v2", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2}});
    let (code, _, b) = raw(
        &c,
        Method::POST,
        "/apis/example.io/v2/namespaces/default/widgets",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(j(&b)["apiVersion"], "example.io/v2");
    let (_, _, b) = raw(
        &c,
        Method::GET,
        "/apis/example.io/v1/namespaces/default/widgets/w",
        &[],
        None,
    )
    .await;
    assert_eq!(j(&b)["apiVersion"], "example.io/v1");
    assert_eq!(j(&b)["spec"]["size"], 2);
    let apis = j(&raw(&c, Method::GET, "/apis", &[], None).await.2);
    let g = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.io")
        .unwrap()
        .clone();
    assert_eq!(g["preferredVersion"]["version"], "v2", "v2 outranks v1");
    s.shutdown().await;
}

#[tokio::test]
async fn generate_name_string_data_and_protected_namespaces() {
    let s = server().await;
    let c = s.client();
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "default");
    let sec: Secret = serde_json::from_value(
        json!({"metadata": {"generateName": "tls-"}, "stringData": {"a": "hello"}}),
    )
    .unwrap();
    let created = secrets.create(&PostParams::default(), &sec).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("tls-") && name.len() == 9, "{name}");
    assert_eq!(created.data.unwrap()["a"].0, b"hello");
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let nss: Api<Namespace> = Api::all(c.clone());
    let err = nss
        .delete("default", &DeleteParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.message.contains("this namespace may not be deleted")),
        "{err}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn resource_versions_from_the_future() {
    let s = server().await;
    let c = client_without_retries(&s);
    let future = s.resource_version() + 100;
    let (code, _, b) = raw(
        &c,
        Method::GET,
        &format!("/api/v1/namespaces/default/configmaps?resourceVersion={future}"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 504, "{b}");
    assert!(
        j(&b)["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Too large resource version: {future}"))
    );
    let ev = watch_events(
        &c,
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={future}"),
        2,
        std::time::Duration::from_secs(1),
    )
    .await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["type"], "ERROR");
    assert_eq!(ev[0]["object"]["code"], 504);
    let (code, _, _) = raw(
        &c,
        Method::GET,
        "/api/v1/namespaces/default/configmaps?resourceVersionMatch=NotOlderThan",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 422, "resourceVersionMatch needs a resourceVersion");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.clone(), "default");
    assert!(cms.list(&ListParams::default().match_any()).await.is_ok());
    s.shutdown().await;
}

/// The `scale` subresource of a Deployment (upstream `ScaleREST`): an `autoscaling/v1`
/// Scale whose `spec.replicas` is the Deployment's; a stale resourceVersion is a 409,
/// negative replicas a 422; RBAC authorizes `deployments/scale` apart from `deployments`.
#[tokio::test]
async fn the_scale_subresource_reads_and_writes_the_workload_replicas() {
    let s = server().await;
    let c = s.client();
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}})).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();

    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.map(|s| s.selector),
        Some(Some("app=web".to_string()))
    );
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(5));
    let live = api.get("web").await.unwrap();
    assert_eq!(live.spec.and_then(|s| s.replicas), Some(5));

    let stale: k8s_openapi::api::autoscaling::v1::Scale =
        serde_json::from_value(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
            "spec": {"replicas": 1}}))
        .unwrap();
    let code = |e: kube::Error| match e {
        kube::Error::Api(status) => status.code,
        other => panic!("{other}"),
    };
    let err = api
        .replace_scale("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(code(err), 409);
    let err = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -1}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), 422);

    // A reader of Deployments may not scale them.
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(c.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "viewers"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "viewers"}]}))
            .unwrap(),
        )
        .await
        .unwrap();
    let viewer: Api<Deployment> =
        Api::namespaced(s.client_as("vera", &["viewers"]).unwrap(), "default");
    assert_eq!(
        viewer
            .get_scale("web")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.replicas),
        Some(5)
    );
    let err = viewer
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}})),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            r#"User "vera" cannot patch resource "deployments/scale" in API group "apps" in the namespace "default""#
        ),
        "{err}"
    );
    assert!(s.unsupported_requests().is_empty());
    s.shutdown().await;
}
