//! A changed TenantClass rolled out to its tenants at a bounded rate
//! (`--class-rollout-per-minute`), so that one edit of a class does not rewrite thousands of
//! tenants' quotas, limits and policies at once.
//!
//! When the class watch shows a new version of a class, each of its tenants is *pinned* to
//! the version it had (the one this replica saw before), and queued. A release loop unpins
//! one tenant per period (60 s / rate) and triggers its reconcile; until then every reconcile
//! of a pinned tenant — its own changes, drift corrections, re-checks — renders with the
//! pinned version ([`ClassRollout::class_for`], read by the load step). So the new version
//! reaches at most `1 + elapsed × rate` tenants, whatever else triggers them. A tenant
//! created during a rollout, or moved to another class, takes the class as it is now.
//!
//! Every replica watches the classes and paces the same releases, so a standby that takes
//! over continues the rollout where the leader was. Pins are in memory: a replica started
//! after the change (an upgrade, both replicas restarted) never saw the previous version
//! and applies the current one. Progress: `tenant_operator_class_rollout_pending{class}` and
//! log lines at the start, every tenth of the way and at the end. The tenants' statuses are
//! not written for it: a status write per waiting tenant would be the burst the rollout
//! avoids.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::api::{TenantClass, TenantService};
use crate::telemetry::Metrics;

/// The rollout of class changes. Shared by the class watch (which reports versions), the
/// load step (which asks which version a tenant renders with) and the release loop.
pub struct ClassRollout {
    /// Releases per minute; `None`: every tenant at once (no pins).
    per_minute: Option<u32>,
    state: Mutex<State>,
    /// Wakes the release loop when tenants are queued.
    queued: Notify,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct State {
    /// The last version seen of each class, to tell a change from a re-list.
    seen: HashMap<String, Arc<TenantClass>>,
    /// Tenants waiting for their turn, with the version of their class they keep until then.
    pinned: HashMap<String, Arc<TenantClass>>,
    /// The order of the turns.
    turns: VecDeque<String>,
    /// Per class being rolled out: its tenants in this rollout and how many were released.
    progress: BTreeMap<String, Progress>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Progress {
    total: usize,
    released: usize,
}

impl ClassRollout {
    /// A rollout at `per_minute` tenants a minute; 0 rolls every change out at once.
    pub fn new(per_minute: u32, metrics: Arc<Metrics>) -> Self {
        ClassRollout {
            per_minute: (per_minute > 0).then_some(per_minute),
            state: Mutex::default(),
            queued: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain maps behind the lock: still consistent after a panic elsewhere.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A class as the watch shows it now (`None`: deleted), with the names of its tenants.
    /// Returns the tenants to reconcile at once: all of them for a new or deleted class, or
    /// for any event without a bound; under a bound, none for a change (the release loop
    /// triggers them) or for a version already seen (a re-list, a label edit).
    pub fn observe(
        &self,
        name: &str,
        class: Option<Arc<TenantClass>>,
        tenants: Vec<String>,
    ) -> Vec<String> {
        let mut state = self.lock();
        let Some(class) = class else {
            // Deleted: its tenants fail at once (no class), pinned or not.
            state.seen.remove(name);
            for tenant in &tenants {
                state.pinned.remove(tenant);
            }
            self.finish(&mut state, name);
            return tenants;
        };
        let previous = state.seen.insert(name.to_string(), class.clone());
        // A re-list (a watch that resumed too late, 410 Gone, and listed again) brings back
        // the very object seen before: nothing for its tenants to do. Under API faults that
        // happened every time the class watch had seen no event for longer than the API
        // server's event window, and reconciled every tenant of every class again.
        if previous
            .as_ref()
            .is_some_and(|previous| is_same_object(previous, &class))
        {
            return Vec::new();
        }
        // Without a bound, any other event of the class (a label edit too) triggers its
        // tenants, as it always did.
        let Some(per_minute) = self.per_minute else {
            return tenants;
        };
        let Some(previous) = previous else {
            return tenants;
        };
        if same_version(&previous, &class) {
            return Vec::new();
        }
        // Each tenant keeps the version it has: the previous one, or an older one if it is
        // still waiting from an earlier change of the class.
        let mut added = 0;
        for tenant in tenants {
            if state.pinned.contains_key(&tenant) {
                continue;
            }
            state.pinned.insert(tenant.clone(), previous.clone());
            state.turns.push_back(tenant);
            added += 1;
        }
        let progress = state.progress.entry(name.to_string()).or_default();
        progress.total += added;
        let (total, released) = (progress.total, progress.released);
        tracing::info!(
            class = name,
            tenants = added,
            per_minute,
            "TenantClass changed: rolling it out to its tenants at a bounded rate"
        );
        self.set_pending(name, total - released);
        drop(state);
        self.queued.notify_one();
        Vec::new()
    }

    /// The version of its class `tenant` renders with while it waits for its turn; `None`
    /// when it does not wait (it takes its class as the cache holds it).
    pub fn class_for(&self, tenant: &TenantService) -> Option<Arc<TenantClass>> {
        self.lock()
            .pinned
            .get(&tenant.name_any())
            .filter(|class| class.name_any() == tenant.spec.class)
            .cloned()
    }

    /// Unpins the next tenant, if any, and returns it.
    fn release_next(&self) -> Option<String> {
        let mut state = self.lock();
        loop {
            let tenant = state.turns.pop_front()?;
            let Some(class) = state.pinned.remove(&tenant) else {
                // Unpinned meanwhile (its class was deleted): not its turn any more.
                continue;
            };
            let name = class.name_any();
            if let Some(progress) = state.progress.get_mut(&name) {
                progress.released += 1;
                let Progress { total, released } = *progress;
                if released >= total {
                    self.finish(&mut state, &name);
                    tracing::info!(class = %name, tenants = total, "TenantClass rolled out to all its tenants");
                } else {
                    self.set_pending(&name, total - released);
                    if released % (total / 10).max(1) == 0 {
                        tracing::info!(class = %name, released, tenants = total, "TenantClass rollout in progress");
                    }
                }
            }
            return Some(tenant);
        }
    }

    /// Ends the rollout of `class` (every tenant released, or the class deleted).
    fn finish(&self, state: &mut State, class: &str) {
        if state.progress.remove(class).is_some() {
            self.set_pending(class, 0);
        }
    }

    fn set_pending(&self, class: &str, pending: usize) {
        self.metrics
            .class_rollout_pending
            .with_label_values(&[class])
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// The tenants whose turn has come, one per period (60 s / rate): the first of a
    /// rollout at once, the next a period after the previous release. Never ends; without a
    /// bound it yields nothing.
    pub fn releases(
        self: Arc<Self>,
    ) -> impl Stream<Item = ObjectRef<TenantService>> + Send + 'static {
        let period = self
            .per_minute
            .map(|per_minute| Duration::from_secs(60) / per_minute);
        futures::stream::unfold((self, None::<Instant>), move |(rollout, last)| async move {
            let period = period?;
            if let Some(last) = last {
                tokio::time::sleep_until(last + period).await;
            }
            let tenant = loop {
                if let Some(tenant) = rollout.release_next() {
                    break tenant;
                }
                rollout.queued.notified().await;
            };
            let released = ObjectRef::new(&tenant);
            Some((released, (rollout, Some(Instant::now()))))
        })
    }
}

/// Whether two versions of a class render the same: the same spec (a generation is not
/// enough: label and annotation edits leave it, and not every server counts it).
fn same_version(a: &TenantClass, b: &TenantClass) -> bool {
    a.spec == b.spec
}

/// Whether `b` is `a` again, unchanged: the same resourceVersion (which changes with every
/// write, a label edit included).
fn is_same_object(a: &TenantClass, b: &TenantClass) -> bool {
    a.metadata.resource_version.is_some()
        && a.metadata.resource_version == b.metadata.resource_version
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    /// Version `generation` of a default class: its description says which.
    fn class(name: &str, generation: i64) -> Arc<TenantClass> {
        written(name, generation, generation)
    }

    /// [`class`] as written at `resource_version` (a label edit keeps the generation).
    fn written(name: &str, generation: i64, resource_version: i64) -> Arc<TenantClass> {
        let mut class = fixtures::class_with(
            name,
            serde_json::json!({ "description": format!("version {generation}") }),
        );
        class.metadata.generation = Some(generation);
        class.metadata.resource_version = Some(resource_version.to_string());
        Arc::new(class)
    }

    fn tenant(name: &str, class: &str) -> TenantService {
        fixtures::named_tenant(name, serde_json::json!({ "class": class }))
    }

    fn names(tenants: &[&str]) -> Vec<String> {
        tenants.iter().map(ToString::to_string).collect()
    }

    fn pending(metrics: &Metrics, class: &str) -> i64 {
        metrics
            .class_rollout_pending
            .with_label_values(&[class])
            .get()
    }

    #[test]
    fn a_change_pins_each_tenant_to_its_version_until_its_turn() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let rollout = ClassRollout::new(60, metrics.clone());
        let tenants = names(&["a", "b", "c"]);
        // First sight (start-up): every tenant now, nothing pinned.
        assert_eq!(
            rollout.observe("small", Some(class("small", 1)), tenants.clone()),
            tenants
        );
        // The same version again (a re-list): nothing to do.
        assert!(
            rollout
                .observe("small", Some(class("small", 1)), tenants.clone())
                .is_empty()
        );
        // A change: nobody at once, all pinned to version 1.
        assert!(
            rollout
                .observe("small", Some(class("small", 2)), tenants.clone())
                .is_empty()
        );
        assert_eq!(pending(&metrics, "small"), 3);
        let version = |name: &str| {
            rollout
                .class_for(&tenant(name, "small"))
                .and_then(|c| c.metadata.generation)
        };
        assert_eq!(version("a"), Some(1));
        assert_eq!(rollout.release_next().as_deref(), Some("a"));
        assert_eq!(version("a"), None, "released: the class as it is now");
        assert_eq!(version("b"), Some(1));
        assert_eq!(pending(&metrics, "small"), 2);
        // Moved to another class meanwhile: the pin is not for that class.
        assert!(rollout.class_for(&tenant("b", "large")).is_none());

        // A second change while b and c wait: they keep version 1, a now keeps version 2.
        assert!(
            rollout
                .observe("small", Some(class("small", 3)), tenants.clone())
                .is_empty()
        );
        assert_eq!(version("b"), Some(1));
        assert_eq!(version("a"), Some(2));
        assert_eq!(pending(&metrics, "small"), 3);
        let order: Vec<String> = std::iter::from_fn(|| rollout.release_next()).collect();
        assert_eq!(order, names(&["b", "c", "a"]));
        assert_eq!(pending(&metrics, "small"), 0);
        assert!(rollout.class_for(&tenant("a", "small")).is_none());
    }

    #[test]
    fn without_a_bound_or_on_deletion_every_tenant_goes_at_once() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let unbounded = ClassRollout::new(0, metrics.clone());
        let tenants = names(&["a", "b"]);
        unbounded.observe("small", Some(class("small", 1)), tenants.clone());
        // A re-list brings back the same object: nobody.
        assert!(
            unbounded
                .observe("small", Some(class("small", 1)), tenants.clone())
                .is_empty()
        );
        // Any write, a label edit (same generation, new resourceVersion) too, triggers
        // every tenant, as it always did.
        assert_eq!(
            unbounded.observe("small", Some(written("small", 1, 7)), tenants.clone()),
            tenants
        );
        assert_eq!(
            unbounded.observe("small", Some(class("small", 2)), tenants.clone()),
            tenants
        );
        assert!(unbounded.class_for(&tenant("a", "small")).is_none());

        let bounded = ClassRollout::new(1, metrics.clone());
        bounded.observe("small", Some(class("small", 1)), tenants.clone());
        bounded.observe("small", Some(class("small", 2)), tenants.clone());
        assert_eq!(bounded.observe("small", None, tenants.clone()), tenants);
        assert!(bounded.class_for(&tenant("a", "small")).is_none());
        assert_eq!(pending(&metrics, "small"), 0);
        assert_eq!(bounded.release_next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn releases_come_one_per_period() {
        use futures::StreamExt;
        let metrics = Arc::new(Metrics::new().unwrap());
        let rollout = Arc::new(ClassRollout::new(30, metrics)); // one every 2 s
        let tenants = names(&["a", "b", "c", "d"]);
        rollout.observe("small", Some(class("small", 1)), tenants.clone());
        rollout.observe("small", Some(class("small", 2)), tenants.clone());
        let start = Instant::now();
        let mut releases = Box::pin(rollout.clone().releases());
        let mut at = Vec::new();
        for _ in 0..4 {
            let released = releases.next().await.expect("a release");
            at.push((released.name, (Instant::now() - start).as_secs()));
        }
        assert_eq!(
            at,
            vec![
                ("a".to_string(), 0),
                ("b".to_string(), 2),
                ("c".to_string(), 4),
                ("d".to_string(), 6)
            ]
        );
    }
}
