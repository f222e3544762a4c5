//! One Event resource served by two APIs, as in kube-apiserver: `events.k8s.io/v1` Events
//! are stored as core `v1` Events (upstream's only Event storage is
//! `pkg/registry/core/event`), converted field by field as upstream's
//! `pkg/apis/events/v1/conversion.go` does. What a controller emits through
//! `events.k8s.io/v1` (kube-rs's `Recorder`) is therefore what `kubectl describe` and
//! `kubectl get events` read through `v1`, and the other way round.

mod common;

use std::process::Command;
use std::time::Duration;

use axum::http::Method;
use common::*;
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventsV1;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

const CORE: &str = "/api/v1/namespaces/default/events";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

/// Publishes the same Event twice about widget `w1` through kube-rs's Recorder (a create,
/// then a merge patch adding `series`), as the operator does; returns w1's uid.
async fn recorded_twice(c: &kube::Client) -> String {
    install_widgets(c, true).await;
    let w = create_widget(c, "default", "w1", json!({})).await;
    let recorder = Recorder::new(
        c.clone(),
        Reporter {
            controller: "widget-controller".into(),
            instance: Some("widget-controller-0".into()),
        },
    );
    let reference = ObjectReference {
        api_version: Some("example.io/v1".into()),
        kind: Some("Widget".into()),
        name: w.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: w.metadata.uid.clone(),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    w.metadata.uid.unwrap()
}

/// Upstream `Convert_v1_Event_To_core_Event`: an Event written through `events.k8s.io/v1`
/// reads through core `v1` with `regarding` as `involvedObject`, `note` as `message`,
/// `reportingController` as `reportingComponent`; `series` and `eventTime` as they are.
#[tokio::test]
async fn an_events_k8s_io_event_is_a_core_event() {
    let s = server().await;
    let c = s.client();
    let uid = recorded_twice(&c).await;
    let core: Api<CoreEvent> = Api::namespaced(c.clone(), "default");
    let list = core.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "one Event, seen through core v1");
    let e = &list.items[0];
    assert_eq!(e.involved_object.name.as_deref(), Some("w1"));
    assert_eq!(e.involved_object.kind.as_deref(), Some("Widget"));
    assert_eq!(e.involved_object.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(e.message.as_deref(), Some("all good"));
    assert_eq!(e.reason.as_deref(), Some("Reconciled"));
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(e.action.as_deref(), Some("Reconcile"));
    assert_eq!(e.reporting_component.as_deref(), Some("widget-controller"));
    assert_eq!(e.reporting_instance.as_deref(), Some("widget-controller-0"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(Some(2)));
    assert!(e.event_time.is_some());
    // Neither `note` nor `regarding` leak into the core form.
    let listed = j(&raw(&c, Method::GET, CORE, &[], None).await.2);
    let item = &listed["items"][0];
    for field in [
        "note",
        "regarding",
        "reportingController",
        "deprecatedCount",
    ] {
        assert!(item.get(field).is_none(), "{field} in {item}");
    }
    let name = e.metadata.name.clone().unwrap();
    let one = j(&raw(&c, Method::GET, &format!("{CORE}/{name}"), &[], None)
        .await
        .2);
    assert_eq!(one["apiVersion"], "v1");
    assert_eq!(one["kind"], "Event");
    assert_eq!(one["message"], "all good");
    s.shutdown().await;
}

/// Upstream `Convert_core_Event_To_v1_Event`: a core Event (as `kubectl` or an older
/// controller writes it) reads through `events.k8s.io/v1` with `message` as `note`,
/// `source` as `deprecatedSource`, `count` as `deprecatedCount`, `firstTimestamp` and
/// `lastTimestamp` as `deprecatedFirstTimestamp` and `deprecatedLastTimestamp`.
#[tokio::test]
async fn a_core_event_reads_through_events_k8s_io() {
    let s = server().await;
    let c = s.client();
    let core = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "w1.legacy"},
        "involvedObject": {"apiVersion": "example.io/v1", "kind": "Widget", "name": "w1", "namespace": "default"},
        "reason": "Scaled", "message": "scaled to 3", "type": "Normal",
        "source": {"component": "legacy-controller", "host": "node-1"},
        "count": 4,
        "firstTimestamp": "2026-12-03T00:00:00Z",
        "lastTimestamp": "2026-12-03T00:10:00Z"
    });
    let (code, _, _) = raw(&c, Method::POST, CORE, &[], Some(core)).await;
    assert_eq!(code, 201);
    let events: Api<EventsV1> = Api::namespaced(c.clone(), "default");
    let e = events.get("w1.legacy").await.unwrap();
    assert_eq!(e.note.as_deref(), Some("scaled to 3"));
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("w1")
    );
    assert_eq!(e.deprecated_count, Some(4));
    assert_eq!(
        e.deprecated_source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("legacy-controller")
    );
    assert_eq!(
        e.deprecated_first_timestamp.map(|t| t.0.to_string()),
        Some("2026-12-03T00:00:00Z".to_string())
    );
    assert!(e.deprecated_last_timestamp.is_some());
    let raw_one = j(
        &raw(&c, Method::GET, &format!("{EVENTS}/w1.legacy"), &[], None)
            .await
            .2,
    );
    assert_eq!(raw_one["apiVersion"], "events.k8s.io/v1");
    for field in [
        "message",
        "involvedObject",
        "source",
        "count",
        "firstTimestamp",
    ] {
        assert!(raw_one.get(field).is_none(), "{field} in {raw_one}");
    }
    // One object: deleting it through one API deletes it from the other.
    events
        .delete("w1.legacy", &DeleteParams::default())
        .await
        .unwrap();
    let (code, _, _) = raw(&c, Method::GET, &format!("{CORE}/w1.legacy"), &[], None).await;
    assert_eq!(code, 404);
    s.shutdown().await;
}

/// Both APIs' field selectors read the one object: `kubectl describe`'s search
/// (`involvedObject.name/namespace/kind/uid` on all namespaces), `events.k8s.io`'s
/// `regarding.*` and `reportingController`, and `source`, which upstream's
/// `ToSelectableFields` takes from `source.component` or else the reporting controller.
#[tokio::test]
async fn field_selectors_of_both_apis_select_the_same_event() {
    let s = server().await;
    let c = s.client();
    let uid = recorded_twice(&c).await;
    let count = |path: String| {
        let c = c.clone();
        async move {
            let (code, _, body) = raw(&c, Method::GET, &path, &[], None).await;
            assert_eq!(code, 200, "{path}: {body}");
            j(&body)["items"].as_array().map_or(0, Vec::len)
        }
    };
    let describe = format!(
        "/api/v1/events?fieldSelector=involvedObject.name%3Dw1%2CinvolvedObject.namespace%3Ddefault%2CinvolvedObject.kind%3DWidget%2CinvolvedObject.uid%3D{uid}"
    );
    assert_eq!(count(describe).await, 1);
    for (path, selector, want) in [
        (CORE, "reportingComponent=widget-controller", 1),
        (CORE, "source=widget-controller", 1),
        (CORE, "source=someone-else", 0),
        (EVENTS, "regarding.name=w1", 1),
        (EVENTS, "regarding.kind=Widget,reason=Reconciled", 1),
        (EVENTS, "regarding.name=w2", 0),
        (EVENTS, "reportingController=widget-controller", 1),
        (EVENTS, "source=widget-controller", 1),
    ] {
        let path = format!(
            "{path}?fieldSelector={}",
            selector.replace('=', "%3D").replace(',', "%2C")
        );
        assert_eq!(count(path.clone()).await, want, "{path}");
    }
    // Each API keeps its own labels: `involvedObject.name` is not an events.k8s.io label.
    let (code, _, body) = raw(
        &c,
        Method::GET,
        &format!("{EVENTS}?fieldSelector=involvedObject.name%3Dw1"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("field label not supported: involvedObject.name"),
        "{body}"
    );
    s.shutdown().await;
}

/// A watch through either API sees changes made through the other, in its own shape.
#[tokio::test]
async fn watches_of_both_apis_see_one_stream() {
    let s = server().await;
    let c = s.client();
    install_widgets(&c, true).await;
    let core_watch = spawn_watch(&c, &format!("{CORE}?watch=true"), 2, Duration::from_secs(5));
    let events_watch = spawn_watch(
        &c,
        &format!("{EVENTS}?watch=true"),
        2,
        Duration::from_secs(5),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events: Api<EventsV1> = Api::namespaced(c.clone(), "default");
    let created: EventsV1 = serde_json::from_value(json!({
        "metadata": {"name": "w1.a"},
        "eventTime": "2026-12-03T01:00:00.000000Z",
        "reportingController": "widget-controller", "reportingInstance": "widget-controller-0",
        "action": "Reconcile", "reason": "Reconciled", "type": "Normal",
        "regarding": {"kind": "Widget", "name": "w1", "namespace": "default"},
        "note": "first"
    }))
    .unwrap();
    events
        .create(&PostParams::default(), &created)
        .await
        .unwrap();
    // A merge patch through core, in core's field names.
    let core: Api<CoreEvent> = Api::namespaced(c.clone(), "default");
    core.patch(
        "w1.a",
        &PatchParams::default(),
        &Patch::Merge(json!({"message": "second"})),
    )
    .await
    .unwrap();
    let seen_core = core_watch.await.unwrap();
    let seen_events = events_watch.await.unwrap();
    let summary = |seen: &[Value], field: &str| -> Vec<(String, String, String)> {
        seen.iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or("").to_string(),
                    e["object"]["apiVersion"].as_str().unwrap_or("").to_string(),
                    e["object"][field].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let s2 = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        summary(&seen_core, "message"),
        [s2("ADDED", "v1", "first"), s2("MODIFIED", "v1", "second")]
    );
    assert_eq!(
        summary(&seen_events, "note"),
        [
            s2("ADDED", "events.k8s.io/v1", "first"),
            s2("MODIFIED", "events.k8s.io/v1", "second")
        ]
    );
    s.shutdown().await;
}

/// `kubectl get events` asks for a Table: upstream's Event columns (LAST SEEN, TYPE,
/// REASON, OBJECT, MESSAGE, and with `-o wide` SUBOBJECT, SOURCE, FIRST SEEN, COUNT,
/// NAME), the same through either API.
#[tokio::test]
async fn events_print_with_upstreams_columns() {
    let s = server().await;
    let c = s.client();
    recorded_twice(&c).await;
    let accept = [(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    for path in [CORE, EVENTS] {
        let t = j(&raw(&c, Method::GET, path, &accept, None).await.2);
        let columns: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 0)
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            columns,
            ["Last Seen", "Type", "Reason", "Object", "Message"],
            "{path}"
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "Normal");
        assert_eq!(cells[2], "Reconciled");
        assert_eq!(cells[3], "widget/w1");
        assert_eq!(cells[5], "widget-controller, widget-controller-0");
        assert_eq!(cells[6], "all good");
        assert_eq!(cells[8], 2, "count from the series");
    }
    s.shutdown().await;
}

/// The real kubectl: `get events -A` and `describe` list what a controller emitted through
/// `events.k8s.io/v1`.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_describe_and_get_events_show_recorded_events() {
    let kubectls = kubectls();
    if kubectls.is_empty() {
        return;
    }
    let s = server().await;
    let c = s.client();
    recorded_twice(&c).await;
    let dir = scratch_dir("events");
    let kubeconfig = dir.join("kubeconfig");
    s.write_kubeconfig(&kubeconfig).unwrap();
    for bin in kubectls {
        let run = |args: &[&str]| {
            let out = Command::new(&bin)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .arg(format!("--cache-dir={}", dir.join("cache").display()))
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let listed = tokio::task::block_in_place(|| run(&["get", "events", "-A"]));
        let header: Vec<&str> = listed
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            [
                "NAMESPACE",
                "LAST",
                "SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "MESSAGE"
            ],
            "{listed}"
        );
        assert!(
            listed.lines().any(|l| l.contains("Normal")
                && l.contains("Reconciled")
                && l.contains("widget/w1")
                && l.ends_with("all good")),
            "{listed}"
        );
        let described =
            tokio::task::block_in_place(|| run(&["describe", "widget", "w1", "-n", "default"]));
        let events = described
            .split("Events:")
            .nth(1)
            .unwrap_or_else(|| panic!("no Events section:\n{described}"));
        assert!(
            events.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&"Normal")
                    && cells.get(1) == Some(&"Reconciled")
                    && l.contains("(x2 over")
                    && l.contains("widget-controller")
                    && l.ends_with("all good")
            }),
            "describe lists the Event with its series and reporting controller:\n{described}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    s.shutdown().await;
}
