//! Field sets as server-side apply tracks them (structured-merge-diff's
//! `fieldpath.Set`), in the FieldsV1 key syntax: `f:<field>`, `k:{<keys>}` for an
//! associative-list item, `v:<json>` for a set member, `i:<n>` for an index; a
//! node is a *member* when the path itself is owned (`".":{}` or a leaf `{}`).
//! Also the schema walker ([`Shape`]) that says how each node merges.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::hints::{KEY_DEFAULTS, OBJECT_META};

/// How a list merges.
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// Replaced whole.
    Atomic,
    /// Scalar set, unioned.
    Set,
    /// Associative list keyed by these fields.
    Map(Vec<String>),
}

/// A position in a schema (CRD openAPIV3Schema or built-in hint schema). `None` is
/// the deduced schema: granular objects, atomic lists.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    schema: Option<&'a Value>,
    root: bool,
}

impl<'a> Shape<'a> {
    /// The root of an object with this schema.
    pub fn root(schema: Option<&'a Value>) -> Self {
        Shape { schema, root: true }
    }

    /// The schema of field `name` of this object.
    pub fn field(&self, name: &str) -> Shape<'a> {
        if self.root && name == "metadata" {
            return Shape {
                schema: Some(&OBJECT_META),
                root: false,
            };
        }
        let s = self.schema.and_then(|s| {
            s.get("properties")
                .and_then(|p| p.get(name))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
        });
        Shape {
            schema: s,
            root: false,
        }
    }

    /// The schema of this list's items.
    pub fn items(&self) -> Shape<'a> {
        Shape {
            schema: self.schema.and_then(|s| s.get("items")),
            root: false,
        }
    }

    /// How this list merges.
    pub fn list_type(&self) -> ListType {
        let Some(s) = self.schema else {
            return ListType::Atomic;
        };
        match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                s.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    /// Whether this object is replaced whole (`x-kubernetes-map-type: atomic`).
    pub fn atomic_map(&self) -> bool {
        self.schema
            .and_then(|s| s.get("x-kubernetes-map-type"))
            .and_then(Value::as_str)
            == Some("atomic")
    }

    fn key_defaults(&self) -> Option<&'a Map<String, Value>> {
        self.schema
            .and_then(|s| s.get(KEY_DEFAULTS))
            .and_then(Value::as_object)
    }

    /// The FieldsV1 key (`k:{...}` or `v:...`) identifying `item` in this list, if it is associative or a set.
    pub fn item_key(&self, item: &Value) -> Option<String> {
        match self.list_type() {
            ListType::Atomic => None,
            ListType::Set => Some(format!(
                "v:{}",
                serde_json::to_string(item).unwrap_or_default()
            )),
            ListType::Map(keys) => {
                let defaults = self.key_defaults();
                let mut sorted: Vec<&String> = keys.iter().collect();
                sorted.sort();
                let mut parts = Vec::new();
                for k in sorted {
                    let v = item
                        .get(k.as_str())
                        .or_else(|| defaults.and_then(|d| d.get(k.as_str())));
                    if let Some(v) = v {
                        parts.push(format!(
                            "{}:{}",
                            Value::String(k.clone()),
                            serde_json::to_string(v).unwrap_or_default()
                        ));
                    }
                }
                Some(format!("k:{{{}}}", parts.join(",")))
            }
        }
    }

    /// The shape below a FieldsV1 key.
    pub fn child(&self, key: &str) -> Shape<'a> {
        match key.split_at(2.min(key.len())) {
            ("f:", name) => self.field(name),
            _ => self.items(),
        }
    }
}

/// A set of field paths, as a tree keyed by FieldsV1 path elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// The path ending here is itself in the set.
    pub member: bool,
    /// Deeper paths.
    pub children: BTreeMap<String, FieldSet>,
}

/// Paths never tracked in managedFields.
fn untracked(root: bool, in_metadata: bool, key: &str) -> bool {
    (root && matches!(key, "apiVersion" | "kind"))
        || (in_metadata
            && matches!(
                key,
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "selfLink"
                    | "managedFields"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
                    | "generateName"
            ))
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Parses a `fieldsV1` object.
    pub fn from_fields_v1(v: &Value) -> Self {
        let mut s = FieldSet::new();
        if let Some(m) = v.as_object() {
            if m.is_empty() {
                s.member = true;
            }
            for (k, c) in m {
                if k == "." {
                    s.member = true;
                } else {
                    s.children.insert(k.clone(), FieldSet::from_fields_v1(c));
                }
            }
        }
        s
    }

    /// Serialises as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                m.insert(k.clone(), c.to_fields_v1());
            }
        }
        Value::Object(m)
    }

    /// Set union.
    pub fn union(&self, o: &FieldSet) -> FieldSet {
        let mut r = self.clone();
        r.member |= o.member;
        for (k, c) in &o.children {
            let merged = match r.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            r.children.insert(k.clone(), merged);
        }
        r
    }

    /// Set difference `self − o`.
    pub fn difference(&self, o: &FieldSet) -> FieldSet {
        let mut r = FieldSet {
            member: self.member && !o.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match o.children.get(k) {
                Some(oc) => c.difference(oc),
                None => c.clone(),
            };
            if !d.is_empty() {
                r.children.insert(k.clone(), d);
            }
        }
        r
    }

    /// Set intersection.
    pub fn intersection(&self, o: &FieldSet) -> FieldSet {
        let mut r = FieldSet {
            member: self.member && o.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(oc) = o.children.get(k) {
                let i = c.intersection(oc);
                if !i.is_empty() {
                    r.children.insert(k.clone(), i);
                }
            }
        }
        r
    }

    /// Every member path, each as its list of path elements.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The set of fields `v` holds under `shape` (spec §4.4 step 3): scalar leaves,
    /// atomic nodes as leaves, associative items with `.` plus their fields, set members.
    pub fn of_value(v: &Value, shape: Shape<'_>) -> FieldSet {
        let mut s = FieldSet::new();
        s.fill(v, shape, true, false);
        s
    }

    fn fill(&mut self, v: &Value, shape: Shape<'_>, root: bool, in_metadata: bool) {
        match v {
            Value::Object(m) if !m.is_empty() && !shape.atomic_map() => {
                for (k, c) in m {
                    if untracked(root, in_metadata, k) {
                        continue;
                    }
                    let child_shape = shape.field(k);
                    let mut node = FieldSet::new();
                    match c {
                        Value::Object(cm) if cm.is_empty() || child_shape.atomic_map() => {
                            node.member = true;
                        }
                        Value::Object(_) => {
                            node.fill(c, child_shape, false, root && k == "metadata");
                        }
                        Value::Array(items) => node.fill_list(items, child_shape),
                        _ => node.member = true,
                    }
                    if !node.is_empty() {
                        self.children.insert(format!("f:{k}"), node);
                    }
                }
            }
            _ => self.member = true,
        }
    }

    fn fill_list(&mut self, items: &[Value], shape: Shape<'_>) {
        match shape.list_type() {
            ListType::Atomic => self.member = true,
            ListType::Set => {
                for it in items {
                    if let Some(k) = shape.item_key(it) {
                        self.children.insert(
                            k,
                            FieldSet {
                                member: true,
                                children: BTreeMap::new(),
                            },
                        );
                    }
                }
                if items.is_empty() {
                    self.member = true;
                }
            }
            ListType::Map(_) => {
                let item_shape = shape.items();
                for it in items {
                    if let Some(k) = shape.item_key(it) {
                        let mut node = FieldSet {
                            member: true,
                            children: BTreeMap::new(),
                        };
                        if it.is_object() {
                            node.fill(it, item_shape, false, false);
                            node.member = true;
                        }
                        self.children.insert(k, node);
                    }
                }
                if items.is_empty() {
                    self.member = true;
                }
            }
        }
    }

    /// Leaves of `self` whose values differ between `old` and `new`.
    pub fn modified(&self, old: &Value, new: &Value, shape: Shape<'_>) -> FieldSet {
        let mut out = FieldSet::new();
        for (k, c) in &self.children {
            let (o, n) = (resolve(old, k, shape), resolve(new, k, shape));
            if c.children.is_empty() {
                if c.member && o != n {
                    out.children.insert(
                        k.clone(),
                        FieldSet {
                            member: true,
                            children: BTreeMap::new(),
                        },
                    );
                }
            } else if let (Some(o), Some(n)) = (o, n) {
                let sub = c.modified(o, n, shape.child(k));
                if !sub.is_empty() {
                    out.children.insert(k.clone(), sub);
                }
            }
        }
        out
    }
}

/// The value under one FieldsV1 path element.
pub fn resolve<'v>(v: &'v Value, key: &str, shape: Shape<'_>) -> Option<&'v Value> {
    if let Some(name) = key.strip_prefix("f:") {
        return v.get(name);
    }
    let items = v.as_array()?;
    if let Some(i) = key.strip_prefix("i:") {
        return items.get(i.parse::<usize>().ok()?);
    }
    items
        .iter()
        .find(|it| shape.item_key(it).as_deref() == Some(key))
}

/// Renders a path as apply conflict messages do: `.spec.containers[name="c"].image`.
pub fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let inner: Option<Map<String, Value>> = serde_json::from_str(k).ok();
            let parts: Vec<String> = inner
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            format!("{k}={}", serde_json::to_string(v).unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        } else if let Some(i) = el.strip_prefix("i:") {
            out.push_str(&format!("[{i}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_of_simple_spec() {
        let v = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"size": 3, "color": "red"}});
        let s = FieldSet::of_value(&v, Shape::root(None));
        assert_eq!(
            s.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {"f:k": {}}}, "f:spec": {"f:color": {}, "f:size": {}}})
        );
        let back = FieldSet::from_fields_v1(&s.to_fields_v1());
        assert_eq!(back, s);
    }

    #[test]
    fn associative_items_and_port_defaults() {
        let schema = crate::hints::builtin_schema("apps", "Deployment");
        let v = json!({"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "i",
            "ports": [{"containerPort": 80}]}]}}}});
        let s = FieldSet::of_value(&v, Shape::root(schema.as_ref()));
        let f = s.to_fields_v1();
        let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"x\"}"];
        assert_eq!(c["."], json!({}));
        assert!(c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object());
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_fields_v1(&json!({"f:spec": {"f:a": {}, "f:b": {}}}));
        let b = FieldSet::from_fields_v1(&json!({"f:spec": {"f:b": {}}}));
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:spec": {"f:a": {}}})
        );
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:spec": {"f:b": {}}})
        );
        assert_eq!(render_path(&a.difference(&b).paths()[0]), ".spec.a");
    }
}
