//! Strategic merge patch for built-ins (spec §4.6): a JSON merge patch whose
//! associative lists (per the merge hints) merge item-wise by key, honouring
//! `$patch: replace|delete`. `$setElementOrder/*` and `$retainKeys` are stripped;
//! any other `$` directive is refused with 501 rather than silently misapplied.

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::fieldset::{ListType, Shape};

/// Applies a strategic merge patch to `doc`.
pub fn apply(doc: &mut Value, patch: &Value, shape: Shape<'_>) -> Result<(), ApiError> {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return Ok(());
    };
    if let Some(d) = p.get("$patch").and_then(Value::as_str) {
        match d {
            "replace" => {
                *doc = strip(patch)?;
                return Ok(());
            }
            "delete" => {
                *doc = Value::Object(Map::new());
                return Ok(());
            }
            "merge" => {}
            other => {
                return Err(ApiError::not_implemented(&format!(
                    "strategic merge directive $patch: {other}"
                )));
            }
        }
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if k.starts_with('$') {
            return Err(ApiError::not_implemented(&format!(
                "strategic merge directive {k}"
            )));
        }
        let Some(obj) = doc.as_object_mut() else {
            continue;
        };
        if v.is_null() {
            obj.remove(k);
            continue;
        }
        let child = shape.field(k);
        match (obj.get_mut(k), v) {
            (Some(cur @ Value::Object(_)), Value::Object(_)) if !child.atomic_map() => {
                apply(cur, v, child)?;
            }
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let ListType::Map(_) = child.list_type() {
                    merge_list(cur, items, child)?;
                } else {
                    obj.insert(k.clone(), strip(v)?);
                }
            }
            _ => {
                obj.insert(k.clone(), strip(v)?);
            }
        }
    }
    Ok(())
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], shape: Shape<'_>) -> Result<(), ApiError> {
    for it in items {
        let key = shape.item_key(it);
        let pos = cur.iter().position(|c| shape.item_key(c) == key);
        let directive = it.get("$patch").and_then(Value::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                cur.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => apply(&mut cur[i], it, shape.items())?,
            (None, _) => cur.push(strip(it)?),
        }
    }
    Ok(())
}

/// Removes directive keys from a value that is inserted whole.
fn strip(v: &Value) -> Result<Value, ApiError> {
    Ok(match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, c) in m {
                if k.starts_with('$') {
                    continue;
                }
                out.insert(k.clone(), strip(c)?);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(strip).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name() {
        let schema = crate::hints::builtin_schema("apps", "Deployment");
        let mut doc =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}],
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}}}});
        apply(&mut doc, &p, Shape::root(schema.as_ref())).unwrap();
        assert_eq!(
            doc["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(
            apply(
                &mut doc,
                &json!({"$deleteFromPrimitiveList/x": []}),
                Shape::root(None)
            )
            .is_err()
        );
    }
}
