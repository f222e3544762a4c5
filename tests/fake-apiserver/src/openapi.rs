//! OpenAPI v3 documents (spec §2.5): enough for `kubectl apply --server-side`
//! to see that server-side field validation is supported, and for `kubectl
//! explain` to describe custom resources from their CRD schemas.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The document of one group-version, if served.
pub fn group_version_doc(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let rs = reg.in_group_version(group, version);
    if rs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let param = json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true},
        "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields."}]);
    for r in rs {
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let base = format!("/{}", gv_path(group, version));
        let p = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let op = |verb: &str| {
            json!({"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": verb, "parameters": param,
                "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(
            p,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        let reversed: Vec<&str> = if group.is_empty() {
            vec!["io", "k8s", "api", "core"]
        } else {
            group.split('.').rev().collect()
        };
        let schema_name = format!("{}.{}.{}", reversed.join("."), version, r.kind);
        let mut schema = r.schema(version).filter(|_| !r.builtin).map_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            |s| (*s).clone(),
        );
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.entry("apiVersion").or_insert(json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            props.entry("kind").or_insert(json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            props.insert("metadata".into(), json!({"type": "object", "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}));
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name, schema);
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths, "components": {"schemas": schemas}}),
    )
}

/// A stable hash of a document, for `?hash=`.
pub fn hash(doc: &Value) -> String {
    let mut h = DefaultHasher::new();
    doc.to_string().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `GET /openapi/v3`: every served group-version with its document's URL.
pub fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, vs) in reg.groups() {
        for v in vs {
            if let Some(doc) = group_version_doc(reg, &g, &v) {
                let p = gv_path(&g, &v);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(&doc))}),
                );
            }
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_doc_has_field_validation() {
        let reg = Registry::with_builtins();
        let idx = index(&reg);
        assert!(
            idx["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        let doc = group_version_doc(&reg, "", "v1").unwrap();
        let p = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
        assert_eq!(p["parameters"][0]["name"], "fieldValidation");
    }
}
