//! managedFields bookkeeping (spec §4.2, §4.4, §4.5): who owns which field, apply
//! conflicts, and the ownership update that every write performs.

use serde_json::{Value, json};

use crate::errors::{ApiError, Cause};
use crate::fieldset::{FieldSet, Shape, render_path};
use crate::merge::{merge, remove_fields};

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// API version the fields were written through.
    pub api_version: String,
    /// RFC 3339 time of the last change.
    pub time: String,
    /// `status` for /status writes, empty otherwise.
    pub subresource: String,
    /// Owned fields.
    pub set: FieldSet,
}

impl Entry {
    fn same_identity(&self, o: &Entry) -> bool {
        self.manager == o.manager
            && self.operation == o.operation
            && self.api_version == o.api_version
            && self.subresource == o.subresource
    }

    fn describe(&self) -> String {
        if self.operation == "Apply" {
            format!("\"{}\"", self.manager)
        } else {
            let mut s = format!(
                "\"{}\" using {} at {}",
                self.manager, self.api_version, self.time
            );
            if !self.subresource.is_empty() {
                s.push_str(&format!(" with subresource \"{}\"", self.subresource));
            }
            s
        }
    }
}

/// Reads `metadata.managedFields`.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or("").into(),
                    operation: e["operation"].as_str().unwrap_or("").into(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").into(),
                    time: e["time"].as_str().unwrap_or("").into(),
                    subresource: e["subresource"].as_str().unwrap_or("").into(),
                    set: FieldSet::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `metadata.managedFields` (sorted, at most 10 Update entries).
pub fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    // Cap Update entries at 10; older ones merge into `ancient-changes`.
    let mut updates: Vec<usize> = (0..entries.len())
        .filter(|i| entries[*i].operation == "Update")
        .collect();
    if updates.len() > 10 {
        // Oldest first, and an existing `ancient-changes` before everything, so
        // that it is always merged into the new one rather than duplicated.
        updates.sort_by(|a, b| {
            let rank = |i: usize| {
                (
                    entries[i].manager != "ancient-changes",
                    entries[i].time.clone(),
                )
            };
            rank(*a).cmp(&rank(*b))
        });
        let excess: Vec<usize> = updates[..updates.len() - 9].to_vec();
        let mut ancient = Entry {
            manager: "ancient-changes".into(),
            operation: "Update".into(),
            api_version: entries[excess[0]].api_version.clone(),
            time: String::new(),
            subresource: String::new(),
            set: FieldSet::new(),
        };
        for i in &excess {
            ancient.set = ancient.set.union(&entries[*i].set);
            ancient.time = ancient.time.clone().max(entries[*i].time.clone());
        }
        let mut idx = 0;
        entries.retain(|_| {
            idx += 1;
            !excess.contains(&(idx - 1))
        });
        entries.push(ancient);
    }
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then(a.time.cmp(&b.time))
            .then(a.manager.cmp(&b.manager))
            .then(a.api_version.cmp(&b.api_version))
            .then(a.subresource.cmp(&b.subresource))
    });
    let arr: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "fieldsType": "FieldsV1", "fieldsV1": e.set.to_fields_v1()});
            if !e.time.is_empty() {
                v["time"] = json!(e.time);
            }
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(m) = obj["metadata"].as_object_mut() {
        if arr.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Who is writing and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// apiVersion of the request.
    pub api_version: &'a str,
    /// `status` or empty.
    pub subresource: &'a str,
    /// Current time (RFC 3339).
    pub now: &'a str,
}

fn changes(live: &Value, new: &Value, shape: Shape<'_>) -> (FieldSet, FieldSet) {
    let before = FieldSet::of_value(live, shape);
    let after = FieldSet::of_value(new, shape);
    let added = after.difference(&before);
    let modified = after.intersection(&before).modified(live, new, shape);
    let removed = before.difference(&after);
    (added.union(&modified), removed)
}

/// Ownership after a non-apply write (create, update, merge/JSON patch): other
/// entries lose what changed; the writer's Update entry gains it. `created`
/// means the writer owns every field. Returns the new entries, or `None` when
/// the object is untracked (empty managedFields on an existing object).
pub fn after_update(
    old: Option<&Value>,
    new: &Value,
    shape: Shape<'_>,
    w: &Writer<'_>,
) -> Option<Vec<Entry>> {
    let mut entries = old.map(read_entries).unwrap_or_default();
    if old.is_some() && entries.is_empty() {
        return None;
    }
    let empty = json!({});
    let live = old.unwrap_or(&empty);
    let (changed, removed) = changes(live, new, shape);
    let lost = changed.union(&removed);
    let me = Entry {
        manager: w.manager.into(),
        operation: "Update".into(),
        api_version: w.api_version.into(),
        time: w.now.into(),
        subresource: w.subresource.into(),
        set: FieldSet::new(),
    };
    let prev = entries.iter().position(|e| e.same_identity(&me));
    let mut mine = me.clone();
    if let Some(p) = prev {
        mine = entries.remove(p);
    }
    for e in &mut entries {
        e.set = e.set.difference(&lost);
    }
    if !changed.is_empty() || !removed.is_empty() {
        mine.set = mine.set.difference(&removed).union(&changed);
        mine.time = w.now.into();
    }
    entries.push(mine);
    Some(entries)
}

/// Server-side apply (spec §4.4). `live` is the stored object (or an empty
/// object of the kind), `config` the applied body with reset fields already
/// removed. Returns the merged object (managedFields written) or a 409 conflict.
pub fn apply(
    live: &Value,
    config: &Value,
    shape: Shape<'_>,
    w: &Writer<'_>,
    force: bool,
) -> Result<Value, ApiError> {
    let mut entries = read_entries(live);
    let new_set = FieldSet::of_value(config, shape);
    let mut merged = merge(live, config, shape);
    let me_id = Entry {
        manager: w.manager.into(),
        operation: "Apply".into(),
        api_version: w.api_version.into(),
        time: w.now.into(),
        subresource: w.subresource.into(),
        set: FieldSet::new(),
    };
    let prev_set = entries
        .iter()
        .position(|e| e.same_identity(&me_id))
        .map(|p| entries.remove(p))
        .map(|e| (e.set, e.time));

    // Conflicts: other owners of fields whose value this apply changes.
    let (changed, _) = changes(live, &merged, shape);
    let mut conflicts: Vec<(String, Vec<String>)> = Vec::new();
    for e in &mut entries {
        if e.manager == w.manager && e.operation == "Apply" {
            continue;
        }
        let c = e.set.intersection(&changed);
        if c.is_empty() {
            continue;
        }
        if force {
            e.set = e.set.difference(&c);
        } else {
            conflicts.push((
                e.describe(),
                c.paths().iter().map(|p| render_path(p)).collect(),
            ));
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        return Err(conflict_error(&conflicts));
    }

    // Prune what this manager applied before and no longer applies, unless co-owned.
    if let Some((prev, _)) = &prev_set {
        let others = entries
            .iter()
            .fold(FieldSet::new(), |acc, e| acc.union(&e.set));
        let remove = prev.difference(&new_set).difference(&others);
        if !remove.is_empty() {
            remove_fields(&mut merged, &remove, &others.union(&new_set), shape);
        }
    }
    let (_, removed) = changes(live, &merged, shape);
    for e in &mut entries {
        e.set = e.set.difference(&removed);
    }
    let object_changed = !without_mf_equal(live, &merged);
    // The entry's time moves only when the object changed.
    let time = match prev_set {
        Some((_, t)) if !object_changed => t,
        _ => w.now.into(),
    };
    entries.push(Entry {
        time,
        set: new_set,
        ..me_id
    });
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Equality of two objects where the keys `skip_top` (top level) and
/// `skip_meta` (inside metadata) are ignored, without cloning either.
pub fn equal_except(a: &Value, b: &Value, skip_top: &[&str], skip_meta: &[&str]) -> bool {
    let (Some(am), Some(bm)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let keys = |m: &'_ serde_json::Map<String, Value>, skip: &[&str]| {
        m.iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .count()
    };
    if keys(am, skip_top) != keys(bm, skip_top) {
        return false;
    }
    for (k, av) in am {
        if skip_top.contains(&k.as_str()) {
            continue;
        }
        let Some(bv) = bm.get(k) else { return false };
        let same = if k == "metadata" && !skip_meta.is_empty() {
            equal_except(av, bv, skip_meta, &[])
        } else {
            av == bv
        };
        if !same {
            return false;
        }
    }
    true
}

fn without_mf_equal(a: &Value, b: &Value) -> bool {
    equal_except(a, b, &[], &["managedFields"])
}

fn conflict_error(conflicts: &[(String, Vec<String>)]) -> ApiError {
    let total: usize = conflicts.iter().map(|c| c.1.len()).sum();
    let mut causes = Vec::new();
    for (who, paths) in conflicts {
        for p in paths {
            causes.push(Cause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {who}"),
                field: p.clone(),
            });
        }
    }
    let message = if total == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0, conflicts[0].1[0]
        )
    } else {
        let mut m = format!("Apply failed with {total} conflicts: ");
        let parts: Vec<String> = conflicts
            .iter()
            .map(|(who, paths)| {
                let mut s = format!("conflicts with {who}:");
                for p in paths {
                    s.push_str(&format!("\n- {p}"));
                }
                s
            })
            .collect();
        m.push_str(&parts.join("\n"));
        m
    };
    ApiError::apply_conflict(message, causes)
}

/// Compares two objects ignoring managedFields timestamps (no-op detection, §3.8).
pub fn equal_ignoring_times(a: &Value, b: &Value) -> bool {
    if !without_mf_equal(a, b) {
        return false;
    }
    let (ma, mb) = (
        &a["metadata"]["managedFields"],
        &b["metadata"]["managedFields"],
    );
    match (ma.as_array(), mb.as_array()) {
        (Some(x), Some(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(e, f)| equal_except(e, f, &["time"], &[]))
        }
        _ => ma == mb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(m: &str) -> Writer<'_> {
        Writer {
            manager: m,
            api_version: "example.io/v1",
            subresource: "",
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn apply_conflict_and_force() {
        let sh = Shape::root(None);
        let base =
            json!({"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}});
        let a = apply(
            &base,
            &json!({"spec": {"size": 3, "color": "red"}}),
            sh,
            &w("a"),
            false,
        )
        .unwrap();
        assert_eq!(
            a["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:color": {}, "f:size": {}}})
        );
        let err = apply(&a, &json!({"spec": {"size": 4}}), sh, &w("b"), false).unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.size"
        );
        let forced = apply(&a, &json!({"spec": {"size": 4}}), sh, &w("b"), true).unwrap();
        assert_eq!(forced["spec"]["size"], 4);
        let entries = read_entries(&forced);
        let a_entry = entries.iter().find(|e| e.manager == "a").unwrap();
        assert_eq!(
            a_entry.set.to_fields_v1(),
            json!({"f:spec": {"f:color": {}}})
        );
        // Shared ownership with the same value.
        let shared = apply(&a, &json!({"spec": {"size": 3}}), sh, &w("b"), false).unwrap();
        // a stops applying color: removed; size stays co-owned.
        let pruned = apply(&shared, &json!({"spec": {"size": 3}}), sh, &w("a"), false).unwrap();
        assert_eq!(pruned["spec"], json!({"size": 3}));
    }
}
