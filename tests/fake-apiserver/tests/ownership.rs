//! Field ownership details beyond spec §9: status applies are tracked per
//! subresource, Update writes take ownership from appliers, at most ten Update
//! managers are kept, and deletecollection honours selectors.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn status_apply_is_owned_per_subresource() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let api = widgets(&c, "default");
    let applied = |spec: serde_json::Value| json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    api.patch(
        "w",
        &PatchParams::apply("ctl"),
        &Patch::Apply(applied(json!({"size": 1}))),
    )
    .await
    .unwrap();
    let status = json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Ready"}});
    let o = api
        .patch_status(
            "w",
            &PatchParams::apply("ctl").force(),
            &Patch::Apply(status),
        )
        .await
        .unwrap();
    assert_eq!(o.data["status"]["phase"], "Ready");
    assert_eq!(
        o.data["spec"]["size"], 1,
        "a status apply leaves spec alone"
    );
    let mf = o.metadata.managed_fields.unwrap();
    let st = mf
        .iter()
        .find(|e| e.subresource.as_deref() == Some("status"))
        .expect("a status entry");
    assert_eq!(st.manager.as_deref(), Some("ctl"));
    assert_eq!(
        serde_json::to_value(&st.fields_v1).unwrap(),
        json!({"f:status": {"f:phase": {}}})
    );
    // The spec entry is untouched by the status apply.
    let main = mf
        .iter()
        .find(|e| e.subresource.is_none() && e.operation.as_deref() == Some("Apply"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&main.fields_v1).unwrap(),
        json!({"f:spec": {"f:size": {}}})
    );
    s.shutdown().await;
}

#[tokio::test]
async fn update_takes_ownership_and_managers_are_capped() {
    let s = server().await;
    let c = s.client();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "1"}});
    cms.patch("c", &PatchParams::apply("applier"), &Patch::Apply(cm))
        .await
        .unwrap();
    // A merge patch by another manager changes `a`: the applier loses it, keeps `b`.
    let pp = PatchParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let o = cms
        .patch("c", &pp, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    let mf = o.metadata.managed_fields.unwrap();
    let owner = |m: &str| {
        serde_json::to_value(
            &mf.iter()
                .find(|e| e.manager.as_deref() == Some(m))
                .unwrap()
                .fields_v1,
        )
        .unwrap()
    };
    assert_eq!(owner("applier"), json!({"f:data": {"f:b": {}}}));
    assert_eq!(owner("editor")["f:data"]["f:a"], json!({}));
    // Twelve more Update managers: at most ten Update entries stay, older ones merge.
    for i in 0..12 {
        let pp = PatchParams {
            field_manager: Some(format!("m{i:02}")),
            ..Default::default()
        };
        cms.patch(
            "c",
            &pp,
            &Patch::Merge(json!({"data": {format!("k{i}"): "v"}})),
        )
        .await
        .unwrap();
    }
    let mf = cms.get("c").await.unwrap().metadata.managed_fields.unwrap();
    let updates: Vec<&str> = mf
        .iter()
        .filter(|e| e.operation.as_deref() == Some("Update"))
        .filter_map(|e| e.manager.as_deref())
        .collect();
    assert_eq!(updates.len(), 10, "{updates:?}");
    assert!(updates.contains(&"ancient-changes"), "{updates:?}");
    assert!(
        updates.contains(&"m11"),
        "the newest manager stays: {updates:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn delete_collection_uses_selectors() {
    let s = server().await;
    let c = s.client();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for (n, tier) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"tier": tier}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let gone = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=x"),
        )
        .await
        .unwrap();
    assert_eq!(gone.left().map(|l| l.items.len()), Some(2));
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
    s.shutdown().await;
}
