//! The printed form of rendered objects (sorted by [`super::sort_objects`]): multi-document
//! YAML and the JSON `v1 List`. Pure: strings in memory, printing is the caller's.

use serde_json::{Value, json};

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
