//! The printed form of rendered objects: one order for everything `render` prints (the
//! order `kubectl apply -f` needs: namespaces before what goes in them), multi-document
//! YAML and the JSON `v1 List`. Pure: strings in memory, printing is the caller's.

use std::cmp::Ordering;

use serde_json::{Value, json};

/// Apply order of the kinds `render` prints; unknown kinds go last, by name.
const KIND_ORDER: [&str; 8] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
];

/// Sorts objects for printing: cluster-scoped objects first (the Namespaces), then by
/// namespace, kind (in apply order) and name.
pub fn sort_objects(objects: &mut [Value]) {
    objects.sort_by(compare);
}

fn compare(a: &Value, b: &Value) -> Ordering {
    key(a).cmp(&key(b))
}

fn key(object: &Value) -> (bool, &str, usize, &str, &str) {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let kind = text("/kind").unwrap_or_default();
    let namespace = text("/metadata/namespace");
    (
        namespace.is_some(),
        namespace.unwrap_or_default(),
        KIND_ORDER
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(KIND_ORDER.len()),
        kind,
        text("/metadata/name").unwrap_or_default(),
    )
}

/// Objects as multi-document YAML, one document per object, separated by `---`.
pub fn to_yaml(objects: &[Value]) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string_multiple(objects)
}

/// Objects as a `v1 List`, pretty-printed, as `kubectl get -o json` prints several objects.
pub fn to_json_list(objects: &[Value]) -> Result<String, serde_json::Error> {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    serde_json::to_string_pretty(&list).map(|mut s| {
        s.push('\n');
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, namespace: Option<&str>, name: &str) -> Value {
        let mut meta = json!({"name": name});
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": "v1", "kind": kind, "metadata": meta})
    }

    #[test]
    fn namespaces_first_then_by_namespace_kind_and_name() {
        let mut objects = vec![
            object("Secret", Some("a-prod"), "a-tls"),
            object("RoleBinding", Some("a-prod"), "x"),
            object("NetworkPolicy", Some("b-prod"), "a"),
            object("Namespace", None, "b-prod"),
            object("NetworkPolicy", Some("a-prod"), "z"),
            object("NetworkPolicy", Some("a-prod"), "b"),
            object("Namespace", None, "a-prod"),
        ];
        sort_objects(&mut objects);
        let order: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["namespace"].as_str().unwrap_or("-"),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                "Namespace/-/a-prod",
                "Namespace/-/b-prod",
                "NetworkPolicy/a-prod/b",
                "NetworkPolicy/a-prod/z",
                "RoleBinding/a-prod/x",
                "Secret/a-prod/a-tls",
                "NetworkPolicy/b-prod/a",
            ]
        );
    }

    #[test]
    fn yaml_keeps_quantities_strings_and_separates_documents() {
        let objects = vec![
            json!({"kind": "ResourceQuota", "spec": {"hard": {"pods": "20", "limits.cpu": "2"}}}),
            json!({"kind": "Namespace"}),
        ];
        let yaml = to_yaml(&objects).expect("serializes");
        assert_eq!(yaml.matches("\n---\n").count(), 1, "{yaml}");
        let back: Vec<Value> = serde_saphyr::from_multiple(&yaml).expect("parses back");
        assert_eq!(back, objects);
    }

    #[test]
    fn json_is_a_v1_list() {
        let list: Value = serde_json::from_str(
            &to_json_list(&[object("Namespace", None, "a-prod")]).expect("serializes"),
        )
        .expect("parses");
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][0]["metadata"]["name"], "a-prod");
    }
}
