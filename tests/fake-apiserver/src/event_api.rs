//! One Event resource served by two APIs, as kube-apiserver serves it: `events.k8s.io/v1`
//! Events are stored as core `v1` Events (kube-apiserver's `pkg/registry/core/event` is the
//! only Event storage; the `events.k8s.io` group is a second view of it). So an Event a
//! controller writes through `events.k8s.io/v1` (kube-rs's `Recorder`, the operator's own
//! recorder) is what `kubectl describe` and `kubectl get events` read through `v1`, and the
//! other way round.
//!
//! The field mapping is upstream's `pkg/apis/events/v1/conversion.go`
//! (`Convert_v1_Event_To_core_Event` and back): `regarding` ↔ `involvedObject`, `note` ↔
//! `message`, `deprecatedSource` ↔ `source`, `deprecatedFirstTimestamp` ↔
//! `firstTimestamp`, `deprecatedLastTimestamp` ↔ `lastTimestamp`, `deprecatedCount` ↔
//! `count`; `reportingController` is the internal field core `v1` serializes as
//! `reportingComponent`. `series`, `eventTime`, `action`, `reason`, `type`, `related`,
//! `reportingInstance` and `metadata` keep their names.

use serde_json::{Map, Value, json};

/// Group-version of the core Event, the one Events are stored in.
pub const CORE_API_VERSION: &str = "v1";
/// Group-version of the `events.k8s.io` view.
pub const EVENTS_API_VERSION: &str = "events.k8s.io/v1";

/// (`events.k8s.io/v1` field, core `v1` field) where the names differ.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// (`events.k8s.io/v1` field label, core `v1` field label) where the names differ: the
/// field selectors of `pkg/registry/events` (`regarding.*`, `reportingController`) read the
/// same fields as core's (`involvedObject.*`, `reportingComponent`).
const RENAMED_FIELD_LABELS: &[(&str, &str)] = &[
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
];

/// Whether `(group, plural)` is one of the two Event resources.
pub fn is_event(group: &str, plural: &str) -> bool {
    plural == "events" && (group.is_empty() || group == "events.k8s.io")
}

/// Renames the top-level fields of `obj` from one side of [`RENAMED`] to the other and sets
/// `apiVersion`; other fields are kept as they are.
fn rename(obj: &Value, to_core: bool, api_version: &str) -> Value {
    let Some(fields) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(fields.len());
    for (key, value) in fields {
        let renamed = RENAMED.iter().find_map(|(events, core)| {
            let (from, to) = if to_core {
                (events, core)
            } else {
                (core, events)
            };
            (key == from).then_some(*to)
        });
        // A field of the other API under its own name (`message` sent to events.k8s.io)
        // is not part of this version's schema: dropped, as decoding into the Go type would.
        let foreign = RENAMED.iter().any(|(events, core)| {
            let other = if to_core { core } else { events };
            key == other
        });
        match renamed {
            Some(to) => {
                out.insert(to.to_string(), value.clone());
            }
            None if foreign => {}
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out.insert("apiVersion".into(), json!(api_version));
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event as the core `v1` Event it is stored as.
pub fn to_core(event: &Value) -> Value {
    rename(event, true, CORE_API_VERSION)
}

/// A stored core `v1` Event as `events.k8s.io/v1` serves it.
pub fn to_events_v1(event: &Value) -> Value {
    rename(event, false, EVENTS_API_VERSION)
}

/// An Event (in either API's shape, told by its `apiVersion`) in the shape of `api_version`.
pub fn convert(event: &Value, api_version: &str) -> Value {
    let from = event["apiVersion"].as_str().unwrap_or(CORE_API_VERSION);
    match (from, api_version) {
        (EVENTS_API_VERSION, CORE_API_VERSION) => to_core(event),
        (CORE_API_VERSION, EVENTS_API_VERSION) => to_events_v1(event),
        _ => {
            let mut same = event.clone();
            same["apiVersion"] = json!(api_version);
            same
        }
    }
}

/// The core field label an `events.k8s.io/v1` field selector label reads.
pub fn core_field_label(label: &str) -> &str {
    RENAMED_FIELD_LABELS
        .iter()
        .find_map(|(events, core)| (*events == label).then_some(*core))
        .unwrap_or(label)
}

/// The value of the `source` field label of a stored core Event: `source.component`, or
/// `reportingComponent` when that is empty (upstream's `ToSelectableFields` in
/// `pkg/registry/core/event/strategy.go`: an Event written through `events.k8s.io` has no
/// source, and is selected by its reporting controller).
pub fn source_label(core: &Value) -> String {
    let component = core["source"]["component"].as_str().unwrap_or("");
    if component.is_empty() {
        core["reportingComponent"]
            .as_str()
            .unwrap_or("")
            .to_string()
    } else {
        component.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "w1.1", "namespace": "default"},
            "eventTime": "2026-12-03T01:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-12-03T01:01:00.000000Z"},
            "reportingController": "widget-controller", "reportingInstance": "widget-controller-0",
            "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
            "regarding": {"apiVersion": "example.io/v1", "kind": "Widget", "name": "w1", "uid": "u1"},
            "related": {"kind": "ConfigMap", "name": "c"},
            "note": "all good",
            "deprecatedSource": {"component": "old"},
            "deprecatedFirstTimestamp": "2026-12-03T00:00:00Z",
            "deprecatedLastTimestamp": "2026-12-03T00:30:00Z",
            "deprecatedCount": 3
        })
    }

    #[test]
    fn events_v1_maps_onto_core_as_upstream_converts() {
        let core = to_core(&events_v1());
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "w1.1", "namespace": "default"},
                "eventTime": "2026-12-03T01:00:00.000000Z",
                "series": {"count": 2, "lastObservedTime": "2026-12-03T01:01:00.000000Z"},
                "reportingComponent": "widget-controller", "reportingInstance": "widget-controller-0",
                "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
                "involvedObject": {"apiVersion": "example.io/v1", "kind": "Widget", "name": "w1", "uid": "u1"},
                "related": {"kind": "ConfigMap", "name": "c"},
                "message": "all good",
                "source": {"component": "old"},
                "firstTimestamp": "2026-12-03T00:00:00Z",
                "lastTimestamp": "2026-12-03T00:30:00Z",
                "count": 3
            })
        );
        // And back, losslessly.
        assert_eq!(to_events_v1(&core), events_v1());
        assert_eq!(convert(&core, EVENTS_API_VERSION), events_v1());
        assert_eq!(convert(&events_v1(), CORE_API_VERSION), core);
        assert_eq!(convert(&core, CORE_API_VERSION), core);
    }

    #[test]
    fn a_field_of_the_other_api_is_not_carried_across() {
        let core =
            to_core(&json!({"apiVersion": "events.k8s.io/v1", "note": "n", "message": "stray"}));
        assert_eq!(core, json!({"apiVersion": "v1", "message": "n"}));
    }

    #[test]
    fn field_labels_and_source() {
        assert_eq!(core_field_label("regarding.name"), "involvedObject.name");
        assert_eq!(
            core_field_label("reportingController"),
            "reportingComponent"
        );
        assert_eq!(core_field_label("reason"), "reason");
        assert_eq!(source_label(&to_core(&events_v1())), "old");
        let mut without = events_v1();
        without.as_object_mut().unwrap().remove("deprecatedSource");
        assert_eq!(source_label(&to_core(&without)), "widget-controller");
        assert!(is_event("", "events") && is_event("events.k8s.io", "events"));
        assert!(!is_event("example.io", "events"));
    }
}
