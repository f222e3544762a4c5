//! Value merging for server-side apply (structured-merge-diff `typed/merge.go`)
//! and removal of fields an applier stopped applying.

use serde_json::Value;

use crate::fieldset::{FieldSet, ListType, Shape};

/// Merges an apply configuration into the live object: config scalars win, granular
/// objects merge recursively, atomic nodes are replaced, associative lists merge
/// item-wise, sets are unioned.
pub fn merge(live: &Value, config: &Value, shape: Shape<'_>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !shape.atomic_map() => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, shape.field(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match shape.list_type() {
            ListType::Atomic => config.clone(),
            _ => Value::Array(merge_list(l, c, shape)),
        },
        _ => config.clone(),
    }
}

/// Item order as structured-merge-diff produces it: walking both lists, a
/// live-only item is emitted where it stands, a config-only item where it
/// stands, and shared items are merged in config order.
fn merge_list(live: &[Value], config: &[Value], shape: Shape<'_>) -> Vec<Value> {
    let live_keys: Vec<Option<String>> = live.iter().map(|v| shape.item_key(v)).collect();
    let config_keys: Vec<Option<String>> = config.iter().map(|v| shape.item_key(v)).collect();
    let in_config = |k: &Option<String>| k.is_some() && config_keys.contains(k);
    let in_live = |k: &Option<String>| k.is_some() && live_keys.contains(k);
    let item_shape = shape.items();
    let mut out = Vec::with_capacity(live.len() + config.len());
    let mut done_live = vec![false; live.len()];
    let (mut li, mut ri) = (0, 0);
    while li < live.len() || ri < config.len() {
        if li < live.len() && done_live[li] {
            li += 1;
            continue;
        }
        if li < live.len() && !in_config(&live_keys[li]) {
            out.push(live[li].clone());
            li += 1;
            continue;
        }
        if ri < config.len() {
            let rk = &config_keys[ri];
            if !in_live(rk) {
                out.push(config[ri].clone());
            } else if let Some(p) = live_keys.iter().position(|k| k == rk) {
                out.push(merge(&live[p], &config[ri], item_shape));
                done_live[p] = true;
            }
            ri += 1;
            continue;
        }
        li += 1;
    }
    out
}

/// Removes the paths of `remove` from `v`. An associative or set item is removed
/// whole unless `keep` still owns something inside it, in which case only the
/// listed fields go.
pub fn remove_fields(v: &mut Value, remove: &FieldSet, keep: &FieldSet, shape: Shape<'_>) {
    for (key, node) in &remove.children {
        let child_shape = shape.child(key);
        let kept = keep.children.get(key).cloned().unwrap_or_default();
        let kept_something = !kept.is_empty();
        let whole = node.member && !kept_something;
        if let Some(name) = key.strip_prefix("f:") {
            let Some(obj) = v.as_object_mut() else {
                continue;
            };
            if whole {
                obj.remove(name);
            } else if let Some(c) = obj.get_mut(name) {
                remove_fields(c, node, &kept, child_shape);
            }
        } else if let Some(items) = v.as_array_mut() {
            let idx = if let Some(i) = key.strip_prefix("i:") {
                i.parse::<usize>().ok().filter(|i| *i < items.len())
            } else {
                items
                    .iter()
                    .position(|it| shape.item_key(it).as_deref() == Some(key.as_str()))
            };
            if let Some(i) = idx {
                if whole {
                    items.remove(i);
                } else {
                    remove_fields(&mut items[i], node, &kept, child_shape);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn associative_merge_keeps_both() {
        let schema = crate::hints::builtin_schema("apps", "Deployment");
        let shape = Shape::root(schema.as_ref());
        let live =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "a"}]}}}});
        let cfg =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "y", "image": "b"}]}}}});
        let m = merge(&live, &cfg, shape);
        assert_eq!(
            m["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let cfg2 =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "c"}]}}}});
        let m2 = merge(&m, &cfg2, shape);
        assert_eq!(
            m2["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "x", "image": "c"})
        );
        assert_eq!(m2["spec"]["template"]["spec"]["containers"][1]["name"], "y");
    }

    #[test]
    fn removal_keeps_co_owned() {
        let mut v = json!({"spec": {"size": 3, "color": "red"}});
        let remove = FieldSet::from_fields_v1(&json!({"f:spec": {"f:color": {}}}));
        remove_fields(&mut v, &remove, &FieldSet::new(), Shape::root(None));
        assert_eq!(v, json!({"spec": {"size": 3}}));
    }
}
