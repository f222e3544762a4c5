//! Schema validation of custom resources (the schema section): pruning of
//! unknown fields per `fieldValidation`, types, required fields, enums, patterns
//! and CEL `x-kubernetes-validations`, answered as a real apiserver would.

mod common;

use axum::http::Method;
use common::*;
use serde_json::{Value, json};

fn gadget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"],
                        "x-kubernetes-validations": [{"rule": "self.size <= self.max", "message": "size must not exceed max"}],
                        "properties": {
                            "size": {"type": "integer"},
                            "max": {"type": "integer", "default": 10},
                            "color": {"type": "string", "enum": ["red", "blue"]},
                            "code": {"type": "string", "pattern": "^[0-9]{6}$"}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
}

const G: &str = "/apis/example.io/v1/namespaces/default/gadgets";

fn gadget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec})
}

async fn setup() -> (fake_apiserver::ServerHandle, kube::Client) {
    let s = server().await;
    let c = s.client();
    let (code, _, body) = raw(
        &c,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[],
        Some(gadget_crd()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(
        eventually(std::time::Duration::from_secs(1), || async {
            raw(&c, Method::GET, G, &[], None).await.0 == 200
        })
        .await
    );
    (s, c)
}

#[tokio::test]
async fn valid_objects_are_stored() {
    let (s, c) = setup().await;
    let (code, _, body) = raw(
        &c,
        Method::POST,
        G,
        &[],
        Some(gadget(
            "ok",
            json!({"size": 3, "max": 5, "color": "red", "code": "072029"}),
        )),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    s.shutdown().await;
}

#[tokio::test]
async fn types_required_enum_pattern_and_cel_are_enforced() {
    let (s, c) = setup().await;
    for (spec, field) in [
        (json!({"size": "three", "max": 5}), "spec.size"),
        (json!({"max": 5}), "spec.size"),
        (json!({"size": 1, "max": 5, "color": "green"}), "spec.color"),
        (json!({"size": 1, "max": 5, "code": "12"}), "spec.code"),
        (json!({"size": 9, "max": 5}), "spec"),
    ] {
        let (code, _, body) =
            raw(&c, Method::POST, G, &[], Some(gadget("bad", spec.clone()))).await;
        assert_eq!(code, 422, "{spec}: {body}");
        let b = j(&body);
        assert_eq!(b["reason"], "Invalid");
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .starts_with("Gadget.example.io \"bad\" is invalid: "),
            "{body}"
        );
        let causes = b["details"]["causes"].as_array().unwrap();
        assert!(
            causes
                .iter()
                .any(|c| c["field"].as_str().unwrap_or("").starts_with(field)),
            "{spec}: {body}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_fields_follow_field_validation() {
    let (s, c) = setup().await;
    let ct = [("content-type", "application/apply-patch+yaml")];
    let body = gadget("g", json!({"size": 1, "max": 5, "bogus": true}));
    let (code, _, b) = raw(
        &c,
        Method::PATCH,
        &format!("{G}/g?fieldManager=t&fieldValidation=Strict"),
        &ct,
        Some(body.clone()),
    )
    .await;
    assert_eq!(code, 400, "{b}");
    assert_eq!(
        j(&b)["message"],
        "Gadget in version \"v1\" cannot be handled as a Gadget: strict decoding error: unknown field \"spec.bogus\""
    );
    // Warn (the default): stored without the field, with a Warning header.
    let (code, _, b) = raw(
        &c,
        Method::POST,
        G,
        &[],
        Some(gadget("w", json!({"size": 1, "max": 5, "bogus": true}))),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    assert!(j(&b)["spec"].get("bogus").is_none());
    let (code, _, b) = raw(
        &c,
        Method::PATCH,
        &format!("{G}/g?fieldManager=t&fieldValidation=Ignore"),
        &ct,
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    assert!(j(&b)["spec"].get("bogus").is_none(), "pruned: {b}");
    s.shutdown().await;
}
