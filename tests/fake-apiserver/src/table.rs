//! `as=Table` responses (meta.k8s.io/v1 Table): columns from a CRD version's
//! additionalPrinterColumns (JSONPath), or NAME/AGE for everything else.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::clock::{human_duration, parse_seconds};
use crate::registry::{PrinterColumn, ResourceInfo};

/// What rows carry in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// PartialObjectMetadata (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(Vec<String>, bool, Value),
}

fn parse_path(p: &str) -> Option<Vec<Step>> {
    let p = p.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                if !name.is_empty() {
                    steps.push(if name == "*" {
                        Step::All
                    } else {
                        Step::Field(name)
                    });
                }
                i = j;
            }
            '[' => {
                let mut depth = 0;
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let inner: String = chars[i + 1..j.min(chars.len())].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                    let (lhs, rhs, eq) = if let Some((l, r)) = f.split_once("==") {
                        (l, r, true)
                    } else if let Some((l, r)) = f.split_once("!=") {
                        (l, r, false)
                    } else {
                        return None;
                    };
                    let path: Vec<String> = lhs
                        .trim()
                        .strip_prefix("@.")?
                        .split('.')
                        .map(String::from)
                        .collect();
                    let rhs = rhs.trim();
                    let lit =
                        if let Some(s) = rhs.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                            json!(s)
                        } else if let Some(s) =
                            rhs.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                        {
                            json!(s)
                        } else {
                            serde_json::from_str(rhs).ok()?
                        };
                    steps.push(Step::Filter(path, eq, lit));
                } else if let Some(name) =
                    inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                {
                    steps.push(Step::Field(name.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = j + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Evaluates a kubectl-style JSONPath (`.status.conditions[?(@.type=="Ready")].status`).
pub fn jsonpath<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse_path(path) else {
        return Vec::new();
    };
    let mut cur: Vec<&Value> = vec![obj];
    for s in &steps {
        let mut next = Vec::new();
        for v in cur {
            match s {
                Step::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x);
                    }
                }
                Step::Index(i) => {
                    if let Some(x) = v.get(*i) {
                        next.push(x);
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(p, eq, lit) => {
                    if let Some(a) = v.as_array() {
                        for it in a {
                            let mut x = it;
                            for seg in p {
                                x = &x[seg.as_str()];
                            }
                            if (x == lit) == *eq {
                                next.push(it);
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn name_column() -> Value {
    json!({"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"})
}

fn columns_of(info: &ResourceInfo, version: &str) -> Vec<PrinterColumn> {
    let cols = info
        .version(version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    if cols.is_empty() {
        vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created."
                .into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }]
    } else {
        cols
    }
}

/// Upstream's Event columns (`pkg/printers/internalversion`, `eventColumnDefinitions`), for
/// both Event APIs: `kubectl get events` prints LAST SEEN, TYPE, REASON, OBJECT, MESSAGE,
/// and `-o wide` the rest. The server fills every cell; the client hides priority 1.
const EVENT_COLUMNS: &[(&str, i64, &str)] = &[
    (
        "Last Seen",
        0,
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    (
        "Type",
        0,
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    (
        "Reason",
        0,
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    ("Object", 0, "The object that this event is about."),
    (
        "Subobject",
        1,
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    (
        "Source",
        1,
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    (
        "Message",
        0,
        "A human-readable description of the status of this operation.",
    ),
    (
        "First Seen",
        1,
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    ("Count", 1, "The number of times this event has occurred."),
    ("Name", 1, "Name must be unique within a namespace."),
];

/// The cells of one Event, read from its core `v1` form (upstream's `printEvent`: the
/// first time is `firstTimestamp` or else `eventTime`; the last is `series.lastObservedTime`,
/// else `lastTimestamp`, else the first; the count is `series.count`, else `count`, else 1).
fn event_cells(obj: &Value, now: i64) -> Vec<Value> {
    let core = crate::event_api::convert(obj, crate::event_api::CORE_API_VERSION);
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let since = |v: &Value| {
        v.as_str()
            .and_then(parse_seconds)
            .map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - t))
    };
    let first = if core["firstTimestamp"].is_string() {
        since(&core["firstTimestamp"])
    } else {
        since(&core["eventTime"])
    };
    let mut last = if core["lastTimestamp"].is_string() {
        since(&core["lastTimestamp"])
    } else {
        first.clone()
    };
    let mut count = core["count"].as_i64().unwrap_or(0);
    if core["series"].is_object() {
        last = since(&core["series"]["lastObservedTime"]);
        count = core["series"]["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let involved = &core["involvedObject"];
    let kind = text(&involved["kind"]).to_lowercase();
    let name = text(&involved["name"]);
    let object = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let or = |a: String, b: String| if a.is_empty() { b } else { a };
    let component = or(
        text(&core["source"]["component"]),
        text(&core["reportingComponent"]),
    );
    let instance = or(
        text(&core["source"]["host"]),
        text(&core["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(text(&core["type"])),
        json!(text(&core["reason"])),
        json!(object),
        json!(text(&involved["fieldPath"])),
        json!(source),
        json!(text(&core["message"]).trim()),
        json!(first),
        json!(count),
        json!(text(&core["metadata"]["name"])),
    ]
}

/// Whether `info` is printed with the Event columns.
fn prints_events(info: &ResourceInfo) -> bool {
    crate::event_api::is_event(&info.group, &info.plural)
}

/// Column definitions for a resource version.
pub fn column_definitions(info: &ResourceInfo, version: &str) -> Vec<Value> {
    if prints_events(info) {
        return EVENT_COLUMNS
            .iter()
            .map(|(name, priority, description)| {
                json!({"name": name, "type": "string", "format": "", "priority": priority, "description": description})
            })
            .collect();
    }
    let mut out = vec![name_column()];
    for c in columns_of(info, version) {
        out.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    out
}

fn cell(c: &PrinterColumn, obj: &Value, now: i64) -> Value {
    let found = jsonpath(obj, &c.json_path);
    let Some(v) = found.first() else {
        return Value::Null;
    };
    match c.type_.as_str() {
        "date" => match v.as_str().and_then(parse_seconds) {
            Some(t) => json!(human_duration(now - t)),
            None => Value::Null,
        },
        "integer" | "number" | "boolean" => (*v).clone(),
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// PartialObjectMetadata of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"].clone()})
}

/// One table row.
pub fn row(
    info: &ResourceInfo,
    version: &str,
    obj: &Value,
    include: IncludeObject,
    now: i64,
) -> Value {
    let cells = if prints_events(info) {
        event_cells(obj, now)
    } else {
        let mut cells = vec![obj["metadata"]["name"].clone()];
        for c in columns_of(info, version) {
            cells.push(cell(&c, obj, now));
        }
        cells
    };
    let mut r = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(obj),
        IncludeObject::Object => r["object"] = crate::ops::served(obj, info, version),
    }
    r
}

/// A Table of objects.
pub fn table(
    info: &ResourceInfo,
    version: &str,
    objs: &[Arc<Value>],
    rv: &str,
    cont: Option<&str>,
    include: IncludeObject,
    now: i64,
) -> Value {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
        "columnDefinitions": column_definitions(info, version),
        "rows": objs.iter().map(|o| row(info, version, o, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_filters() {
        let o = json!({"status": {"phase": "Ready", "conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]},
            "spec": {"items": [1, 2]}});
        assert_eq!(jsonpath(&o, ".status.phase"), vec![&json!("Ready")]);
        assert_eq!(
            jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![&json!("True")]
        );
        assert_eq!(jsonpath(&o, "{.spec.items[1]}"), vec![&json!(2)]);
        assert_eq!(jsonpath(&o, ".spec.items[*]").len(), 2);
        assert!(jsonpath(&o, ".nope").is_empty());
    }
}
