//! What exists and what the operator wrote, kept in memory so that a steady-state reconcile
//! needs no API call at all.
//!
//! - [`Inventory`]: every managed object in the cluster (name, resourceVersion, tenant
//!   label, whether it is being deleted), fed by metadata-only watches of each child kind and
//!   indexed by tenant for pruning. Metadata only: at 8,000 tenants, caching whole objects
//!   would cost hundreds of MiB.
//! - [`Ledger`]: for each object the operator applied, the resourceVersion the API server
//!   returned and a fingerprint of what was applied. When the live resourceVersion still
//!   equals the recorded one and the desired object has the same fingerprint, the object is
//!   known to be as desired without reading it. A different resourceVersion means someone
//!   else wrote it: the object is read and compared, and re-applied only if it differs
//!   (a drift correction).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use kube::Resource;
use kube::runtime::watcher;

use super::kinds::ManagedKind;
use crate::labels;
use crate::pki::CertificateInfo;

/// Identity of a managed object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Its kind.
    pub kind: ManagedKind,
    /// Its namespace (`None` for namespaces themselves).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl ObjectKey {
    /// A key for `kind` `namespace/name`.
    pub fn new(kind: ManagedKind, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind.as_str(), namespace, self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// What the inventory knows of a live object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveObject {
    /// Its current resourceVersion.
    pub resource_version: String,
    /// Value of the tenant label.
    pub tenant: Option<String>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
}

#[derive(Default)]
struct InventoryState {
    live: HashMap<ObjectKey, LiveObject>,
    by_tenant: HashMap<String, HashSet<ObjectKey>>,
    synced: HashSet<ManagedKind>,
    relisting: HashMap<ManagedKind, HashSet<ObjectKey>>,
}

impl InventoryState {
    fn upsert(&mut self, key: ObjectKey, object: LiveObject) {
        if let Some(old) = self.live.get(&key)
            && old.tenant != object.tenant
            && let Some(tenant) = &old.tenant
            && let Some(set) = self.by_tenant.get_mut(tenant)
        {
            set.remove(&key);
        }
        if let Some(tenant) = &object.tenant {
            self.by_tenant
                .entry(tenant.clone())
                .or_default()
                .insert(key.clone());
        }
        self.live.insert(key, object);
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(old) = self.live.remove(key)
            && let Some(tenant) = old.tenant
            && let Some(set) = self.by_tenant.get_mut(&tenant)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_tenant.remove(&tenant);
            }
        }
    }
}

/// Every managed object in the cluster, by key and by tenant.
pub struct Inventory {
    state: RwLock<InventoryState>,
    synced_tx: tokio::sync::watch::Sender<usize>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            state: RwLock::default(),
            synced_tx: tokio::sync::watch::channel(0).0,
        }
    }
}

/// The key and summary of a watched object.
fn describe<K: Resource>(kind: ManagedKind, object: &K) -> (ObjectKey, LiveObject) {
    let meta = object.meta();
    let key = ObjectKey {
        kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    };
    let live = LiveObject {
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        tenant: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::TENANT))
            .cloned(),
        deleting: meta.deletion_timestamp.is_some(),
    };
    (key, live)
}

impl Inventory {
    /// Applies one watch event of `kind`.
    pub fn apply_event<K: Resource>(&self, kind: ManagedKind, event: &watcher::Event<K>) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match event {
            watcher::Event::Init => {
                state.relisting.insert(kind, HashSet::new());
            }
            watcher::Event::InitApply(object) => {
                let (key, live) = describe(kind, object);
                state.relisting.entry(kind).or_default().insert(key.clone());
                state.upsert(key, live);
            }
            watcher::Event::InitDone => {
                let seen = state.relisting.remove(&kind).unwrap_or_default();
                let gone: Vec<ObjectKey> = state
                    .live
                    .keys()
                    .filter(|k| k.kind == kind && !seen.contains(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    state.remove(&key);
                }
                state.synced.insert(kind);
                let synced = state.synced.len();
                drop(state);
                self.synced_tx.send_replace(synced);
            }
            watcher::Event::Apply(object) => {
                let (key, live) = describe(kind, object);
                state.upsert(key, live);
            }
            watcher::Event::Delete(object) => {
                let (key, _) = describe(kind, object);
                state.remove(&key);
            }
        }
    }

    /// Whether every kind in `kinds` has been listed once.
    pub fn is_synced(&self, kinds: usize) -> bool {
        *self.synced_tx.borrow() >= kinds
    }

    /// Waits until `kinds` kinds have been listed once.
    pub async fn wait_synced(&self, kinds: usize) {
        let mut rx = self.synced_tx.subscribe();
        // The sender lives as long as `self`, so this only ends when synced.
        let _ = rx.wait_for(|synced| *synced >= kinds).await;
    }

    /// The live object at `key`, if any.
    pub fn get(&self, key: &ObjectKey) -> Option<LiveObject> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.live.get(key).cloned()
    }

    /// Every live object labelled with `tenant`.
    pub fn tenant_objects(&self, tenant: &str) -> Vec<(ObjectKey, LiveObject)> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let Some(keys) = state.by_tenant.get(tenant) else {
            return Vec::new();
        };
        let mut objects: Vec<_> = keys
            .iter()
            .filter_map(|k| state.live.get(k).map(|o| (k.clone(), o.clone())))
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    }

    /// Number of objects known, for logs.
    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .len()
    }

    /// Whether no object is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the operator last applied to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// resourceVersion returned by the API server for the write (or seen when the live
    /// object was found equal to the desired one).
    pub resource_version: String,
    /// Fingerprint of the desired object (see [`super::compare::fingerprint`]).
    pub fingerprint: u64,
    /// For TLS Secrets: the certificate in it.
    pub certificate: Option<Box<CertificateInfo>>,
}

/// Objects the operator has applied, with the resourceVersion it got back.
#[derive(Default)]
pub struct Ledger {
    applied: RwLock<HashMap<ObjectKey, Applied>>,
}

impl Ledger {
    /// What was last applied to `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Applied> {
        self.applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Records an apply (or a verified match).
    pub fn record(&self, key: ObjectKey, applied: Applied) {
        self.applied
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, applied);
    }

    /// Whether `object` (of `kind`) is exactly what this operator last wrote: its own
    /// write coming back through the watch, which needs no reconcile.
    pub fn is_own_write<K: Resource>(&self, kind: ManagedKind, object: &K) -> bool {
        let (key, live) = describe(kind, object);
        self.applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .is_some_and(|a| a.resource_version == live.resource_version)
    }

    /// Forgets `key` (deleted or detached).
    pub fn forget(&self, key: &ObjectKey) {
        self.applied
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Forgets every object in `namespace` and the namespace itself.
    pub fn forget_namespace(&self, namespace: &str) {
        self.applied
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| {
                k.namespace.as_deref() != Some(namespace)
                    && !(k.kind == ManagedKind::Namespace && k.name == namespace)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use kube::api::ObjectMeta;
    use std::collections::BTreeMap;

    fn policy(ns: &str, name: &str, tenant: &str, rv: &str) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                resource_version: Some(rv.into()),
                labels: Some(BTreeMap::from([(
                    labels::TENANT.to_string(),
                    tenant.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..NetworkPolicy::default()
        }
    }

    #[test]
    fn relist_drops_vanished_objects_and_index_follows_tenant_label() {
        let inventory = Inventory::default();
        let kind = ManagedKind::NetworkPolicy;
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("a-prod", "deny", "a", "1")),
        );
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("b-prod", "deny", "b", "2")),
        );
        assert!(!inventory.is_synced(1));
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        assert!(inventory.is_synced(1));
        assert_eq!(inventory.tenant_objects("a").len(), 1);
        // Relabel to another tenant moves it in the index.
        inventory.apply_event(
            kind,
            &watcher::Event::Apply(policy("a-prod", "deny", "b", "3")),
        );
        assert!(inventory.tenant_objects("a").is_empty());
        assert_eq!(inventory.tenant_objects("b").len(), 2);
        let key = ObjectKey::new(kind, Some("a-prod"), "deny");
        assert_eq!(inventory.get(&key).unwrap().resource_version, "3");
        // A relist that no longer contains b-prod/deny drops it.
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("a-prod", "deny", "b", "3")),
        );
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        assert_eq!(inventory.tenant_objects("b").len(), 1);
        inventory.apply_event(
            kind,
            &watcher::Event::Delete(policy("a-prod", "deny", "b", "4")),
        );
        assert!(inventory.is_empty());
    }

    #[test]
    fn ledger_forgets_whole_namespaces() {
        let ledger = Ledger::default();
        let applied = Applied {
            resource_version: "1".into(),
            fingerprint: 7,
            certificate: None,
        };
        ledger.record(
            ObjectKey::new(ManagedKind::Namespace, None, "a-prod"),
            applied.clone(),
        );
        ledger.record(
            ObjectKey::new(ManagedKind::Role, Some("a-prod"), "r"),
            applied.clone(),
        );
        ledger.record(
            ObjectKey::new(ManagedKind::Role, Some("a-test"), "r"),
            applied.clone(),
        );
        ledger.forget_namespace("a-prod");
        assert!(
            ledger
                .get(&ObjectKey::new(ManagedKind::Namespace, None, "a-prod"))
                .is_none()
        );
        assert!(
            ledger
                .get(&ObjectKey::new(ManagedKind::Role, Some("a-prod"), "r"))
                .is_none()
        );
        assert_eq!(
            ledger.get(&ObjectKey::new(ManagedKind::Role, Some("a-test"), "r")),
            Some(applied)
        );
    }
}
