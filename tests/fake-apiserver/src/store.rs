//! The object store: every object of every resource, one global resourceVersion
//! counter, a bounded event history, and the registered watchers. Everything
//! here runs under the server's single write lock, so resourceVersions and
//! events are totally ordered; fan-out to watchers never blocks (a full queue
//! closes that watcher, and the client resumes from its last resourceVersion).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::registry::{Registry, ResourceKey};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::stored::StoredObject;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created (or started matching a selector).
    Added,
    /// Object changed.
    Modified,
    /// Object removed (or stopped matching a selector).
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A stored object, shared between the store, the history and watch queues.
pub type Obj = Arc<StoredObject>;

/// One change, as kept in the history.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Which resource.
    pub key: ResourceKey,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for DELETED: the last state with the deletion RV).
    pub obj: Obj,
    /// The object before the change, for selector transitions.
    pub old: Option<Obj>,
}

/// What a watcher is interested in.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    /// Only this namespace, if set.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl WatchFilter {
    /// Whether an object passes the filter.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && obj["metadata"]["namespace"].as_str().unwrap_or("") != ns
        {
            return false;
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// Whether a stored object passes the filter (parsing it only for unusual field selectors).
    pub fn matches_stored(&self, o: &StoredObject) -> bool {
        if let Some(ns) = &self.namespace
            && o.namespace() != ns
        {
            return false;
        }
        if !self.labels.matches_with(|k| o.label(k)) {
            return false;
        }
        if self.fields.only_identity() {
            self.fields.matches_identity(o.namespace(), o.name())
        } else {
            self.fields.matches(&o.value())
        }
    }

    /// The event a watcher with this filter sees, given whether the object
    /// matched before and matches now (spec §5.2 transitions).
    fn decide(kind: EventType, before: bool, now: bool) -> Option<(EventType, bool)> {
        match kind {
            EventType::Deleted => now.then_some((EventType::Deleted, false)),
            EventType::Added => now.then_some((EventType::Added, false)),
            EventType::Modified => match (before, now) {
                (true, true) => Some((EventType::Modified, false)),
                (false, true) => Some((EventType::Added, false)),
                // Stopped matching: DELETED with the old content and the event's RV.
                (true, false) => Some((EventType::Deleted, true)),
                (false, false) => None,
            },
        }
    }

    /// What this watcher sees of a history event.
    pub fn view(&self, e: &Event) -> Option<WatchMsg> {
        let now = self.matches_stored(&e.obj);
        let before = e.old.as_ref().is_some_and(|o| self.matches_stored(o));
        let (t, use_old) = Self::decide(e.kind, before, now)?;
        Some((
            t,
            if use_old {
                old_at(e.old.as_deref(), e.rv)
            } else {
                e.obj.clone()
            },
        ))
    }

    /// What this watcher sees of a change whose parsed states are at hand.
    fn view_values(&self, e: &Event, new: &Value, old: Option<&Value>) -> Option<WatchMsg> {
        let now = self.matches(new);
        let before = old.is_some_and(|o| self.matches(o));
        let (t, use_old) = Self::decide(e.kind, before, now)?;
        Some((
            t,
            if use_old {
                old_at(e.old.as_deref(), e.rv)
            } else {
                e.obj.clone()
            },
        ))
    }
}

/// The previous state of an object, stamped with the resourceVersion of the
/// change that made it stop matching.
fn old_at(old: Option<&StoredObject>, rv: u64) -> Obj {
    let mut v = old.map_or(Value::Null, StoredObject::value);
    v["metadata"]["resourceVersion"] = json!(rv.to_string());
    Arc::new(StoredObject::new(&v))
}

/// A message to a watch stream.
pub type WatchMsg = (EventType, Obj);

struct Watcher {
    id: u64,
    filter: WatchFilter,
    tx: mpsc::Sender<WatchMsg>,
}

/// Position within an object map: (namespace, name).
pub type ObjKey = (String, String);

/// A saved list snapshot for `continue` tokens.
struct Snapshot {
    rv: u64,
    items: Arc<Vec<Obj>>,
}

/// All mutable server state.
pub struct State {
    /// Served resources.
    pub registry: Registry,
    objects: HashMap<ResourceKey, BTreeMap<ObjKey, Obj>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    /// Events with rv > floor are all retained.
    floor: u64,
    watchers: HashMap<ResourceKey, Vec<Watcher>>,
    next_id: u64,
    watch_queue: usize,
    snapshots: VecDeque<(u64, Snapshot)>,
    /// uid → location, for garbage collection.
    uids: HashMap<String, (ResourceKey, ObjKey)>,
    /// What the garbage collector has to look at next.
    pub gc_work: GcWork,
    /// owner uid → dependents naming it in an ownerReference.
    dependents: HashMap<String, BTreeSet<(ResourceKey, ObjKey)>>,
    /// Namespaces and CRDs being deleted (their contents must go first).
    terminating: BTreeSet<(ResourceKey, ObjKey)>,
    /// The RBAC objects as the authorizer reads them; dropped by every RBAC write.
    pub rbac_policy: Option<Arc<rbac::Policy>>,
    /// A ClusterRole changed: aggregated ClusterRoles must be recomputed.
    pub aggregation_pending: bool,
    /// What admission keeps between requests (compiled policies, audit records).
    pub admission: crate::admission::Memory,
}

/// Pending garbage-collector work, filled by writes.
#[derive(Debug, Default)]
pub struct GcWork {
    /// Dependents whose owners must be checked.
    pub checks: BTreeSet<(ResourceKey, ObjKey)>,
    /// Owners (by uid) that were deleted, started deleting or lost a dependent.
    pub owners: BTreeSet<String>,
}

impl GcWork {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.owners.is_empty()
    }
}

/// The owner uids an object's ownerReferences name.
pub fn owner_uids(o: &Value) -> BTreeSet<String> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_container(key: &ResourceKey) -> bool {
    (key.0.is_empty() && key.1 == "namespaces")
        || (key.0 == "apiextensions.k8s.io" && key.1 == "customresourcedefinitions")
}

/// Longest kept continue-token snapshots.
const SNAPSHOTS: usize = 64;

impl State {
    /// A fresh store whose counter starts at `rv_base`.
    pub fn new(registry: Registry, rv_base: u64, history_cap: usize, watch_queue: usize) -> Self {
        State {
            registry,
            objects: HashMap::new(),
            rv: rv_base,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            floor: rv_base,
            watchers: HashMap::new(),
            next_id: 1,
            watch_queue: watch_queue.max(1),
            snapshots: VecDeque::new(),
            uids: HashMap::new(),
            gc_work: GcWork::default(),
            dependents: HashMap::new(),
            terminating: BTreeSet::new(),
            rbac_policy: None,
            aggregation_pending: false,
            admission: crate::admission::Memory::default(),
        }
    }

    /// The current global resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may resume from.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// One object, parsed.
    pub fn get(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.get_stored(key, ns, name).map(|o| Arc::new(o.value()))
    }

    /// One object as stored.
    pub fn get_stored(&self, key: &ResourceKey, ns: &str, name: &str) -> Option<Obj> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Where an object with this uid lives.
    pub fn by_uid(&self, uid: &str) -> Option<&(ResourceKey, ObjKey)> {
        self.uids.get(uid)
    }

    /// Every object of a resource (optionally in one namespace), ordered by (namespace, name).
    pub fn list(&self, key: &ResourceKey, ns: Option<&str>) -> Vec<Obj> {
        let Some(m) = self.objects.get(key) else {
            return Vec::new();
        };
        match ns {
            None => m.values().cloned().collect(),
            Some(ns) => m
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Like [`Self::list`], parsed.
    pub fn list_values(&self, key: &ResourceKey, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.list(key, ns)
            .iter()
            .map(|o| Arc::new(o.value()))
            .collect()
    }

    /// Stores `obj` (already carrying every field except its new resourceVersion),
    /// assigns the next RV, records and fans out the event. Returns the stored object.
    pub fn put(
        &mut self,
        key: &ResourceKey,
        mut obj: Value,
        old: Option<Arc<Value>>,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if let Some(uid) = obj["metadata"]["uid"].as_str() {
            self.uids
                .insert(uid.to_string(), (key.clone(), (ns.clone(), name.clone())));
        }
        self.index_for_gc(key, (&ns, &name), old.as_deref(), Some(&obj));
        let stored = Arc::new(StoredObject::new(&obj));
        let previous = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns, name), stored.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let e = Event {
            rv,
            key: key.clone(),
            kind,
            obj: stored,
            old: previous,
        };
        self.record(e, &obj, old.as_deref());
        Arc::new(obj)
    }

    /// Removes an object, emitting DELETED with the deletion's RV; the event carries `last` (the final state of
    /// the write that removed it, e.g. without its last finalizer) when given.
    pub fn remove_with(
        &mut self,
        key: &ResourceKey,
        ns: &str,
        name: &str,
        last: Option<Value>,
    ) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        let old_value = old.value();
        self.rv += 1;
        let rv = self.rv;
        if let Some(uid) = old_value["metadata"]["uid"].as_str() {
            self.uids.remove(uid);
        }
        self.index_for_gc(key, (ns, name), Some(&old_value), None);
        let mut last = last.unwrap_or_else(|| old_value.clone());
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        let e = Event {
            rv,
            key: key.clone(),
            kind: EventType::Deleted,
            obj: Arc::new(StoredObject::new(&last)),
            old: Some(old),
        };
        self.record(e, &last, Some(&old_value));
        Some(Arc::new(last))
    }

    /// Keeps the dependents index current and queues garbage-collector work for
    /// a write that turned `old` into `new` (None = absent).
    fn index_for_gc(
        &mut self,
        key: &ResourceKey,
        at: (&str, &str),
        old: Option<&Value>,
        new: Option<&Value>,
    ) {
        let loc = (key.clone(), (at.0.to_string(), at.1.to_string()));
        let before = old.map(owner_uids).unwrap_or_default();
        let after = new.map(owner_uids).unwrap_or_default();
        for u in before.difference(&after) {
            if let Some(d) = self.dependents.get_mut(u) {
                d.remove(&loc);
                if d.is_empty() {
                    self.dependents.remove(u);
                }
            }
            // The owner may be waiting for this dependent (foreground, orphan).
            self.gc_work.owners.insert(u.clone());
        }
        for u in after.difference(&before) {
            self.dependents
                .entry(u.clone())
                .or_default()
                .insert(loc.clone());
        }
        if !after.is_empty() && (before != after || old.is_none()) {
            self.gc_work.checks.insert(loc.clone());
        }
        let own_uid = new
            .or(old)
            .and_then(|o| o["metadata"]["uid"].as_str())
            .unwrap_or("")
            .to_string();
        match new {
            None => {
                // Gone: its dependents lose an owner.
                self.gc_work.owners.insert(own_uid);
                self.terminating.remove(&loc);
            }
            Some(n) if n["metadata"]["deletionTimestamp"].is_string() => {
                if old.is_none_or(|o| {
                    o["metadata"]["finalizers"] != n["metadata"]["finalizers"]
                        || !o["metadata"]["deletionTimestamp"].is_string()
                }) {
                    self.gc_work.owners.insert(own_uid);
                }
                if is_container(key) {
                    self.terminating.insert(loc);
                }
            }
            Some(_) => {}
        }
    }

    /// Dependents of an owner uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<(ResourceKey, ObjKey)> {
        self.dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Namespaces and CRDs being deleted.
    pub fn terminating(&self) -> Vec<(ResourceKey, ObjKey)> {
        self.terminating.iter().cloned().collect()
    }

    /// Drops every object of a resource without events (used after a CRD is gone).
    pub fn drop_resource(&mut self, key: &ResourceKey) {
        if let Some(m) = self.objects.remove(key) {
            for v in m.values() {
                if let Some(uid) = v.value()["metadata"]["uid"].as_str() {
                    self.uids.remove(uid);
                    self.gc_work.owners.insert(uid.to_string());
                }
            }
        }
        // Watchers of a resource that no longer exists end.
        self.watchers.remove(key);
    }

    fn record(&mut self, e: Event, new: &Value, old: Option<&Value>) {
        if e.key.0 == crate::authz::RBAC_GROUP {
            self.rbac_policy = None;
            self.aggregation_pending |= e.key.1 == "clusterroles";
        }
        if let Some(ws) = self.watchers.get_mut(&e.key) {
            ws.retain(|w| match w.filter.view_values(&e, new, old) {
                None => !w.tx.is_closed(),
                // A full queue closes the watcher: the client resumes from its last RV.
                Some(msg) => w.tx.try_send(msg).is_ok(),
            });
        }
        let e = Arc::new(e);
        if self.history.len() >= self.history_cap
            && let Some(old) = self.history.pop_front()
        {
            self.floor = old.rv;
        }
        self.history.push_back(e);
    }

    /// Forgets the event history: watches from any earlier RV get 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
        self.snapshots.clear();
    }

    /// Events after `rv` for one resource (the caller checked `rv >= floor`).
    pub fn events_since(&self, key: &ResourceKey, rv: u64) -> Vec<Arc<Event>> {
        let start = self.history.partition_point(|e| e.rv <= rv);
        self.history
            .range(start..)
            .filter(|e| &e.key == key)
            .cloned()
            .collect()
    }

    /// Registers a watcher; returns its id and receiver.
    pub fn add_watcher(
        &mut self,
        key: &ResourceKey,
        filter: WatchFilter,
    ) -> (u64, mpsc::Receiver<WatchMsg>) {
        let (tx, rx) = mpsc::channel(self.watch_queue);
        let id = self.next_id;
        self.next_id += 1;
        self.watchers
            .entry(key.clone())
            .or_default()
            .push(Watcher { id, filter, tx });
        (id, rx)
    }

    /// Unregisters a watcher.
    pub fn remove_watcher(&mut self, key: &ResourceKey, id: u64) {
        if let Some(ws) = self.watchers.get_mut(key) {
            ws.retain(|w| w.id != id);
        }
    }

    /// Closes every watcher (shutdown).
    pub fn close_all_watchers(&mut self) {
        self.watchers.clear();
    }

    /// Number of open watchers.
    pub fn watcher_count(&self) -> usize {
        self.watchers.values().map(Vec::len).sum()
    }

    /// Saves a list snapshot and returns its id.
    pub fn save_snapshot(&mut self, rv: u64, items: Arc<Vec<Obj>>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.snapshots.len() >= SNAPSHOTS {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back((id, Snapshot { rv, items }));
        id
    }

    /// A saved snapshot (rv, items) by id.
    pub fn snapshot(&self, id: u64) -> Option<(u64, Arc<Vec<Obj>>)> {
        self.snapshots
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| (s.rv, s.items.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "d", "labels": labels}})
    }

    #[test]
    fn a_full_queue_closes_only_that_watcher() {
        let key: ResourceKey = (String::new(), "configmaps".into());
        let mut st = State::new(Registry::with_builtins(), 1000, 100, 2);
        let (_, mut slow) = st.add_watcher(&key, WatchFilter::default());
        let (_, mut fast) = st.add_watcher(&key, WatchFilter::default());
        for i in 0..5 {
            st.put(&key, cm(&format!("c{i}"), json!({})), None);
            // The fast watcher keeps up; the slow one never reads.
            assert!(fast.try_recv().is_ok());
        }
        assert_eq!(
            st.watcher_count(),
            1,
            "the slow watcher was closed, writers went on"
        );
        assert_eq!(st.rv(), 1005);
        // The slow watcher gets what was queued, then the end of its stream.
        assert!(slow.try_recv().is_ok() && slow.try_recv().is_ok());
        assert!(matches!(
            slow.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn selector_transitions_and_history() {
        let key: ResourceKey = (String::new(), "configmaps".into());
        let mut st = State::new(Registry::with_builtins(), 1000, 2, 10);
        let filter = WatchFilter {
            labels: LabelSelector::parse("app=a").unwrap_or_default(),
            ..WatchFilter::default()
        };
        let (_, mut rx) = st.add_watcher(&key, filter);
        let v1 = st.put(&key, cm("c", json!({"app": "a"})), None);
        st.put(&key, cm("c", json!({"app": "b"})), Some(v1));
        let (t1, _) = rx.try_recv().unwrap_or((
            EventType::Modified,
            Arc::new(StoredObject::new(&Value::Null)),
        ));
        let (t2, o2) = rx.try_recv().unwrap_or((
            EventType::Modified,
            Arc::new(StoredObject::new(&Value::Null)),
        ));
        assert_eq!((t1, t2), (EventType::Added, EventType::Deleted));
        assert_eq!(
            o2.label("app"),
            Some("a"),
            "the DELETED event carries the last matching state"
        );
        assert_eq!(o2.value()["metadata"]["resourceVersion"], "1002");
        // History of 2: the first event is gone, so RV 1000 is too old.
        assert_eq!(st.floor(), 1000);
        st.put(&key, cm("d", json!({})), None);
        assert_eq!(st.floor(), 1001);
        assert_eq!(st.events_since(&key, 1001).len(), 2);
    }
}
