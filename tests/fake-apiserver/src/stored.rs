//! The in-memory form of an object: its compact JSON plus the few fields that
//! list and watch filters read. A parsed `serde_json::Value` costs about
//! fourteen times its JSON size (one B-tree node per map); at the operator's
//! scale (over 100,000 objects) that is the difference between ~100 MB and
//! ~1 GB. Objects are parsed only when a write or a transformation needs them,
//! and lists and watches copy the stored bytes as they are.

use serde_json::Value;

/// One stored object.
#[derive(Debug)]
pub struct StoredObject {
    json: Box<[u8]>,
    namespace: Box<str>,
    name: Box<str>,
    labels: Box<[(Box<str>, Box<str>)]>,
    deleting: bool,
}

impl StoredObject {
    /// Encodes an object.
    pub fn new(v: &Value) -> Self {
        let meta = &v["metadata"];
        let labels = meta["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
                    .collect()
            })
            .unwrap_or_default();
        StoredObject {
            json: serde_json::to_vec(v).unwrap_or_default().into_boxed_slice(),
            namespace: meta["namespace"].as_str().unwrap_or("").into(),
            name: meta["name"].as_str().unwrap_or("").into(),
            labels,
            deleting: crate::meta::deleting(v),
        }
    }

    /// The object, parsed.
    pub fn value(&self) -> Value {
        // The bytes were produced by serde_json from a Value, so they parse.
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The compact JSON.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// metadata.namespace ("" for cluster-scoped).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// metadata.name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it has a deletionTimestamp (read on every namespaced write, for its
    /// namespace: not worth parsing the namespace for).
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// One label's value.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| &**key == k)
            .map(|(_, v)| &**v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_fields() {
        let v = json!({"metadata": {"name": "a", "namespace": "n", "labels": {"k": "v"}}, "data": {"x": "y"}});
        let s = StoredObject::new(&v);
        assert_eq!(s.value(), v);
        assert!(!s.deleting());
        let gone = json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(StoredObject::new(&gone).deleting());
        assert_eq!(
            (s.name(), s.namespace(), s.label("k"), s.label("z")),
            ("a", "n", Some("v"), None)
        );
    }
}
