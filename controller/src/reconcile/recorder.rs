//! Publishing `events.k8s.io/v1` Events, with the series semantics of client-go's event
//! recorder: the same Event (type, action, reason, reporter, regarding and related object)
//! published again within [`SERIES_WINDOW`] of the last one is counted on that Event (its
//! `series`) instead of making a new object.
//!
//! kube-runtime's `Recorder` does the same, but remembers each whole Event it sent, note and
//! object references included: about 3.5 KB per tenant, 27 MB for all of Italy, held for the
//! six minutes of the window. This recorder remembers only what a series needs: the Event's
//! name, its count and when it was last seen (under 200 bytes).

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};

/// How long after it was last seen an Event still counts repeats (as in client-go and
/// kube-runtime).
pub const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Where cluster-scoped objects' Events go: the namespace kube-runtime and client-go use.
const CLUSTER_SCOPED_EVENT_NAMESPACE: &str = "default";

/// Publishes Events as one reporter (this replica).
pub struct EventRecorder {
    client: Client,
    reporter: Reporter,
    recent: Mutex<RecentEvents>,
}

impl EventRecorder {
    /// A recorder that publishes as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        EventRecorder {
            client,
            reporter,
            recent: Mutex::new(RecentEvents::default()),
        }
    }

    /// Publishes `event` about `regarding`: a new Event, or the next count of the same
    /// Event's series when it was published within the window. A series whose Event is gone
    /// (the API server expires Events after an hour by default) starts a new Event.
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = series_key(&self.reporter, event, regarding);
        let namespace = regarding
            .namespace
            .as_deref()
            .unwrap_or(CLUSTER_SCOPED_EVENT_NAMESPACE);
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let repeat = self.lock().repeat(&key, now);
        if let Some(Repeat { name, count }) = repeat {
            let patch = serde_json::json!({
                "series": { "count": count, "lastObservedTime": MicroTime(now) }
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.lock().record(key, name, count, now);
                    return Ok(());
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let created = new_event(&self.reporter, event, regarding, now);
        let name = created.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &created).await?;
        self.lock().record(key, name.into(), 1, now);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentEvents> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What makes two Events the same one (client-go's `eventKey`), as one string: a separator
/// that cannot appear in any of the parts keeps it unambiguous. The note is not part of it.
fn series_key(reporter: &Reporter, event: &Event, regarding: &ObjectReference) -> Box<str> {
    let mut key = String::with_capacity(160);
    let mut push = |part: &str| {
        key.push_str(part);
        key.push('\0');
    };
    push(type_name(event.type_));
    push(&event.action);
    push(&event.reason);
    push(&reporter.controller);
    push(reporter.instance.as_deref().unwrap_or_default());
    for reference in std::iter::once(regarding).chain(event.secondary.as_ref()) {
        push(reference.api_version.as_deref().unwrap_or_default());
        push(reference.kind.as_deref().unwrap_or_default());
        push(reference.namespace.as_deref().unwrap_or_default());
        push(reference.name.as_deref().unwrap_or_default());
        push(reference.uid.as_deref().unwrap_or_default());
        push(reference.field_path.as_deref().unwrap_or_default());
    }
    key.into_boxed_str()
}

/// The API's name of an Event type.
fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// A new Event object, named as kube-runtime and client-go name them: the regarding object's
/// name and the time in hexadecimal nanoseconds.
fn new_event(
    reporter: &Reporter,
    event: &Event,
    regarding: &ObjectReference,
    now: Timestamp,
) -> K8sEvent {
    let object_name = regarding.name.as_deref().unwrap_or(&reporter.controller);
    K8sEvent {
        metadata: ObjectMeta {
            name: Some(format!("{object_name}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..ObjectMeta::default()
        },
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        related: event.secondary.clone(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(
            reporter
                .instance
                .clone()
                .unwrap_or_else(|| reporter.controller.clone()),
        ),
        type_: Some(type_name(event.type_).to_string()),
        ..K8sEvent::default()
    }
}

/// The next count of a series: the Event to patch and its new count.
#[derive(Debug, PartialEq, Eq)]
struct Repeat {
    name: Box<str>,
    count: i32,
}

/// An Event published within the window.
#[derive(Debug)]
struct Sent {
    name: Box<str>,
    count: i32,
    last_seen: Timestamp,
}

/// The Events published within the window, by series key. Expired ones are swept at most
/// once a minute, so that a publish costs O(1), not a scan of every tenant's Event.
#[derive(Debug, Default)]
struct RecentEvents {
    sent: HashMap<Box<str>, Sent>,
    next_sweep: Option<Timestamp>,
}

impl RecentEvents {
    /// The series that `key` continues at `now`, if its Event was seen within the window.
    fn repeat(&mut self, key: &str, now: Timestamp) -> Option<Repeat> {
        if self.next_sweep.is_none_or(|at| now >= at) {
            self.sent
                .retain(|_, sent| sent.last_seen + SERIES_WINDOW > now);
            self.next_sweep = Some(now + SignedDuration::from_mins(1));
        }
        let sent = self.sent.get(key)?;
        (sent.last_seen + SERIES_WINDOW > now).then(|| Repeat {
            name: sent.name.clone(),
            // Recorded counts start at 1: a first repeat makes a series of two, as in
            // client-go.
            count: sent.count.saturating_add(1),
        })
    }

    /// Remembers that the Event `name` of `key` was published at `now`, `count` times.
    fn record(&mut self, key: Box<str>, name: Box<str>, count: i32, now: Timestamp) {
        self.sent.insert(
            key,
            Sent {
                name,
                count,
                last_seen: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter() -> Reporter {
        Reporter {
            controller: "tenant-operator".to_string(),
            instance: Some("replica-a".to_string()),
        }
    }

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.to_string(),
            note: Some(note.to_string()),
            action: "Reconcile".to_string(),
            secondary: None,
        }
    }

    fn tenant(name: &str, uid: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("tenancy.innova.puglia.it/v1alpha1".to_string()),
            kind: Some("TenantService".to_string()),
            name: Some(name.to_string()),
            uid: Some(uid.to_string()),
            resource_version: Some("17".to_string()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn the_note_and_resource_version_do_not_make_another_event() {
        let mut later = tenant("bari", "u1");
        later.resource_version = Some("18".to_string());
        assert_eq!(
            series_key(&reporter(), &event("Updated", "one"), &tenant("bari", "u1")),
            series_key(&reporter(), &event("Updated", "two"), &later),
        );
    }

    #[test]
    fn reason_object_uid_and_reporter_each_make_another_event() {
        let base = series_key(&reporter(), &event("Updated", "n"), &tenant("bari", "u1"));
        let mut other_instance = reporter();
        other_instance.instance = Some("replica-b".to_string());
        for other in [
            series_key(&reporter(), &event("Ready", "n"), &tenant("bari", "u1")),
            series_key(&reporter(), &event("Updated", "n"), &tenant("lecce", "u1")),
            series_key(&reporter(), &event("Updated", "n"), &tenant("bari", "u2")),
            series_key(
                &other_instance,
                &event("Updated", "n"),
                &tenant("bari", "u1"),
            ),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_repeat_within_the_window_continues_the_series() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let mut recent = RecentEvents::default();
        assert_eq!(recent.repeat("k", start), None);
        recent.record("k".into(), "bari.1".into(), 1, start);

        let soon = start + SignedDuration::from_mins(5);
        let repeat = recent.repeat("k", soon).unwrap();
        assert_eq!(
            repeat,
            Repeat {
                name: "bari.1".into(),
                count: 2
            }
        );
        recent.record("k".into(), repeat.name, repeat.count, soon);
        // The window runs from the last repeat, not from the first Event.
        let later = soon + SignedDuration::from_mins(5);
        assert_eq!(recent.repeat("k", later).unwrap().count, 3);
    }

    #[test]
    fn after_the_window_a_new_event_is_made_and_the_old_one_forgotten() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let mut recent = RecentEvents::default();
        recent.repeat("k", start);
        recent.record("k".into(), "bari.1".into(), 1, start);
        recent.record("other".into(), "lecce.1".into(), 1, start);
        let after = start + SERIES_WINDOW;
        assert_eq!(recent.repeat("k", after), None);
        assert!(
            recent.sent.is_empty(),
            "the sweep drops every expired Event"
        );
    }

    #[test]
    fn a_new_event_is_named_after_its_object_and_says_who_reported_it() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let made = new_event(
            &reporter(),
            &event("Provisioned", "note"),
            &tenant("bari", "u1"),
            now,
        );
        assert_eq!(
            made.metadata.name.as_deref(),
            Some(format!("bari.{:x}", now.as_nanosecond()).as_str())
        );
        assert_eq!(made.metadata.namespace, None);
        assert_eq!(
            made.reporting_controller.as_deref(),
            Some("tenant-operator")
        );
        assert_eq!(made.reporting_instance.as_deref(), Some("replica-a"));
        assert_eq!(made.type_.as_deref(), Some("Normal"));
        assert_eq!(made.note.as_deref(), Some("note"));
        assert_eq!(made.regarding.unwrap().uid.as_deref(), Some("u1"));
    }
}
