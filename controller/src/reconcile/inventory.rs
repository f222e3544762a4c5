//! What exists and what the operator wrote, kept in memory so that a steady-state reconcile
//! needs no API call at all.
//!
//! The [`Inventory`] holds, for each managed object, in one entry:
//! - what is live in the cluster ([`LiveObject`]: resourceVersion, tenant label, whether it
//!   is being deleted), fed by metadata-only watches of each child kind and indexed by
//!   tenant for pruning. Metadata only: at 8,000 tenants, caching whole objects would cost
//!   hundreds of MiB;
//! - what the operator last applied to it ([`LastApplied`]: the resourceVersion the API server
//!   returned and a fingerprint of what was applied). When the live resourceVersion still
//!   equals the applied one and the desired object has the same fingerprint, the object is
//!   known to be as desired without reading it. A different resourceVersion means someone
//!   else wrote it: the object is read and compared, and re-applied only if it differs (a
//!   drift correction).
//!
//! After a restart only the live half is known: the [`labels::APPLIED_FINGERPRINT`]
//! annotation on each object (kept from the metadata watch, with whether another manager
//! owns fields of it) then stands in for the applied half, so that a restarted operator
//! knows without reading that an unchanged object is as desired.
//!
//! Both halves share one key, and the tenant index points at that same key, because at
//! 110,000 objects every copy of a key costs megabytes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::runtime::watcher;

use super::FIELD_MANAGER;
use super::compare;
use crate::kinds::ManagedKind;
use crate::labels;
use crate::pki::CertificateInfo;

/// Identity of a managed object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Its kind (which API resource it is).
    pub kind: ManagedKind,
    /// Its namespace (`None` for namespaces themselves, which are cluster-scoped). Shared:
    /// the inventory keeps one copy per namespace for the dozen objects in it.
    pub namespace: Option<Arc<str>>,
    /// Its `metadata.name`.
    pub name: Box<str>,
}

impl ObjectKey {
    /// A key for `kind` `namespace/name`.
    pub fn new(kind: ManagedKind, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: namespace.map(Arc::from),
            name: Box::from(name),
        }
    }

    /// The key of a watched object of `kind`.
    pub fn of<K: Resource>(kind: ManagedKind, object: &K) -> Self {
        let meta = object.meta();
        ObjectKey {
            kind,
            namespace: meta.namespace.as_deref().map(Arc::from),
            name: Box::from(meta.name.as_deref().unwrap_or_default()),
        }
    }

    /// Whether this is `namespace` itself or an object in it.
    fn is_in_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_deref() == Some(namespace)
            || (self.kind == ManagedKind::Namespace && *self.name == *namespace)
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
    /// Value of the tenant label (shared with the tenant index).
    pub tenant: Option<Arc<str>>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
    /// The fingerprint of what the operator applied to it, from its
    /// [`labels::APPLIED_FINGERPRINT`] annotation: what a restarted operator goes by.
    pub fingerprint: Option<u64>,
    /// Whether another manager owns fields of its content (someone edited it): then the
    /// fingerprint alone does not say that it is as applied.
    pub foreign: bool,
    /// For TLS Secrets: the [`labels::CERTIFICATE_VALIDITY`] annotation.
    pub certificate: Option<Box<str>>,
}

/// What the operator last applied to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastApplied {
    /// resourceVersion returned by the API server for the write (or seen when the live
    /// object was found equal to the desired one).
    pub resource_version: String,
    /// Fingerprint of the desired object (see [`super::compare::fingerprint`]).
    pub fingerprint: u64,
    /// For TLS Secrets: the certificate in it.
    pub certificate: Option<Box<CertificateInfo>>,
}

/// A resourceVersion as the inventory keeps it. To clients it is an opaque string, but the
/// API server's are decimal numbers (etcd revisions): those are kept as one, without a heap
/// string each, and any other text as it is. At 240,000 objects with two each, that is
/// 15 MB.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Version {
    Number(u64),
    Text(Box<str>),
}

impl Version {
    fn new(text: &str) -> Self {
        match canonical_number(text) {
            Some(number) => Version::Number(number),
            None => Version::Text(text.into()),
        }
    }

    fn is(&self, text: &str) -> bool {
        match self {
            Version::Number(number) => canonical_number(text) == Some(*number),
            Version::Text(own) => **own == *text,
        }
    }
}

/// `text` as a number if it is one in canonical decimal form: "007" or "+7" are kept as
/// text, so that they come back as they were.
fn canonical_number(text: &str) -> Option<u64> {
    let canonical = !text.starts_with('+') && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::Number(number) => write!(f, "{number}"),
            Version::Text(text) => f.write_str(text),
        }
    }
}

/// [`LiveObject`] as the inventory keeps it (see [`Entry`]).
#[derive(Debug)]
struct StoredLive {
    version: Version,
    tenant: Option<Arc<str>>,
    fingerprint: u64,
    has_fingerprint: bool,
    deleting: bool,
    foreign: bool,
    /// Seen in the current (re)list of its kind: what the end of the list keeps. A flag in
    /// the entry, where a set of the listed keys would cost 237,000 slots at a restart.
    listed: bool,
    /// Only TLS Secrets have one: a thin box (8 bytes, where `Box<str>` takes 16) keeps
    /// the other objects' entries small.
    #[allow(clippy::box_collection)]
    certificate: Option<Box<String>>,
}

impl StoredLive {
    fn new(live: LiveObject, listed: bool) -> Self {
        StoredLive {
            listed,
            version: Version::new(&live.resource_version),
            tenant: live.tenant,
            fingerprint: live.fingerprint.unwrap_or_default(),
            has_fingerprint: live.fingerprint.is_some(),
            deleting: live.deleting,
            foreign: live.foreign,
            certificate: live.certificate.map(|text| Box::new(text.into_string())),
        }
    }

    fn to_live(&self) -> LiveObject {
        LiveObject {
            resource_version: self.version.to_string(),
            tenant: self.tenant.clone(),
            deleting: self.deleting,
            fingerprint: self.has_fingerprint.then_some(self.fingerprint),
            foreign: self.foreign,
            certificate: self.certificate.as_deref().map(|text| text.as_str().into()),
        }
    }
}

/// [`LastApplied`] as the inventory keeps it.
#[derive(Debug)]
struct StoredApplied {
    version: Version,
    fingerprint: u64,
    certificate: Option<Box<CertificateInfo>>,
}

impl StoredApplied {
    fn new(applied: LastApplied) -> Self {
        StoredApplied {
            version: Version::new(&applied.resource_version),
            fingerprint: applied.fingerprint,
            certificate: applied.certificate,
        }
    }

    fn to_applied(&self) -> LastApplied {
        LastApplied {
            resource_version: self.version.to_string(),
            fingerprint: self.fingerprint,
            certificate: self.certificate.clone(),
        }
    }
}

/// One object: live, applied by the operator, or both. Dropped when it is neither. Kept
/// within 96 bytes (a test pins it): there is one per managed object.
#[derive(Debug, Default)]
struct Entry {
    live: Option<StoredLive>,
    applied: Option<StoredApplied>,
}

#[derive(Default)]
struct InventoryState {
    /// Entries are boxed: the table holds one slot per power of two above the number of
    /// objects (over 200,000 for all of Italy), and a slot of an unboxed entry is over a
    /// hundred bytes. Growing such a table allocated 70 MB at once, near the end of a
    /// large provisioning, with the old table still held: the operator's peak.
    objects: HashMap<Arc<ObjectKey>, Box<Entry>>,
    /// Live objects by their tenant label. A vector, not a set: a tenant has a few dozen
    /// objects, and a set's table would cost more than the keys.
    by_tenant: HashMap<Arc<str>, Vec<Arc<ObjectKey>>>,
    synced: HashSet<ManagedKind>,
    /// One copy of each namespace name for the keys of the objects in it. A name is dropped
    /// with the last key holding it, or else at the end of the next re-list.
    namespaces: HashSet<Arc<str>>,
}

impl InventoryState {
    /// The entry at `key`, created empty if absent, and the shared key.
    fn entry(&mut self, mut key: ObjectKey) -> (Arc<ObjectKey>, &mut Entry) {
        let shared = if let Some((shared, _)) = self.objects.get_key_value(&key) {
            shared.clone()
        } else {
            key.namespace = key
                .namespace
                .map(|namespace| self.shared_namespace(namespace));
            Arc::new(key)
        };
        let entry = self.objects.entry(shared.clone()).or_default();
        (shared, entry)
    }

    /// The inventory's copy of `namespace`.
    fn shared_namespace(&mut self, namespace: Arc<str>) -> Arc<str> {
        if let Some(shared) = self.namespaces.get(&namespace) {
            shared.clone()
        } else {
            self.namespaces.insert(namespace.clone());
            namespace
        }
    }

    /// Drops the namespace names that no key holds any more.
    fn drop_unused_namespaces(&mut self) {
        self.namespaces
            .retain(|namespace| Arc::strong_count(namespace) > 1);
    }

    /// Drops the entry at `key` if it is neither live nor applied.
    fn drop_if_empty(&mut self, key: &ObjectKey) {
        if self
            .objects
            .get(key)
            .is_some_and(|e| e.live.is_none() && e.applied.is_none())
            && let Some((removed, _)) = self.objects.remove_entry(key)
        {
            // The last object of its namespace: only the shared copy and this key hold it.
            if let Some(namespace) = removed.namespace.as_ref()
                && Arc::strong_count(&removed) == 1
                && Arc::strong_count(namespace) == 2
            {
                self.namespaces.remove(namespace);
            }
        }
    }

    /// The shared tenant name, so that every object of a tenant points at one string.
    fn tenant_name(&self, tenant: &str) -> Arc<str> {
        match self.by_tenant.get_key_value(tenant) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(tenant),
        }
    }

    fn unindex(&mut self, tenant: &str, key: &ObjectKey) {
        if let Some(keys) = self.by_tenant.get_mut(tenant) {
            keys.retain(|k| **k != *key);
            if keys.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
    }

    /// Records a live object seen by a watch, `listed` if by a (re)list.
    fn upsert_live<K: Resource>(&mut self, kind: ManagedKind, object: &K, listed: bool) {
        let meta = object.meta();
        let tenant = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::TENANT))
            .map(|t| self.tenant_name(t));
        let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key));
        let live = LiveObject {
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            tenant: tenant.clone(),
            deleting: meta.deletion_timestamp.is_some(),
            fingerprint: annotation(labels::APPLIED_FINGERPRINT)
                .and_then(|text| compare::parse_fingerprint(text)),
            foreign: meta
                .managed_fields
                .as_deref()
                .is_some_and(|entries| compare::has_foreign_manager(entries, FIELD_MANAGER)),
            certificate: annotation(labels::CERTIFICATE_VALIDITY).map(|text| text.as_str().into()),
        };
        let (key, entry) = self.entry(ObjectKey::of(kind, object));
        let old_tenant = entry
            .live
            .replace(StoredLive::new(live, listed))
            .and_then(|old| old.tenant);
        if old_tenant != tenant
            && let Some(old) = old_tenant
        {
            self.unindex(&old, &key);
        }
        if let Some(tenant) = tenant {
            let keys = self.by_tenant.entry(tenant).or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }

    /// Records that a live object is gone.
    fn remove_live(&mut self, key: &ObjectKey) {
        let Some(entry) = self.objects.get_mut(key) else {
            return;
        };
        if let Some(tenant) = entry.live.take().and_then(|old| old.tenant) {
            self.unindex(&tenant, key);
        }
        self.drop_if_empty(key);
    }
}

/// Every managed object in the cluster and what the operator applied to it, by key and by
/// tenant.
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

impl Inventory {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, InventoryState> {
        // A panic while holding the lock leaves consistent entries: each update is one
        // insert or remove.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, InventoryState> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one watch event of `kind`.
    pub fn apply_event<K: Resource>(&self, kind: ManagedKind, event: &watcher::Event<K>) {
        let mut state = self.write();
        match event {
            watcher::Event::Init => {
                // A list cut short before its end leaves marks behind: start from none.
                for (_, entry) in state.objects.iter_mut().filter(|(k, _)| k.kind == kind) {
                    if let Some(live) = entry.live.as_mut() {
                        live.listed = false;
                    }
                }
            }
            watcher::Event::InitApply(object) => {
                state.upsert_live(kind, object, true);
            }
            watcher::Event::InitDone => {
                let gone: Vec<Arc<ObjectKey>> = state
                    .objects
                    .iter()
                    .filter(|(k, e)| {
                        k.kind == kind && e.live.as_ref().is_some_and(|live| !live.listed)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in gone {
                    state.remove_live(&key);
                }
                state.drop_unused_namespaces();
                state.synced.insert(kind);
                let synced = state.synced.len();
                drop(state);
                self.synced_tx.send_replace(synced);
            }
            watcher::Event::Apply(object) => {
                state.upsert_live(kind, object, false);
            }
            watcher::Event::Delete(object) => {
                state.remove_live(&ObjectKey::of(kind, object));
            }
        }
    }

    /// Whether every kind in `kinds` has been listed once.
    pub fn is_synced(&self, kinds: usize) -> bool {
        *self.synced_tx.borrow() >= kinds
    }

    /// Whether `kind` has been listed once: only then does the absence of an object of that
    /// kind from the inventory mean that it does not exist.
    pub fn is_kind_synced(&self, kind: ManagedKind) -> bool {
        self.read().synced.contains(&kind)
    }

    /// Waits until `kinds` kinds have been listed once.
    pub async fn wait_synced(&self, kinds: usize) {
        let mut rx = self.synced_tx.subscribe();
        // The sender lives as long as `self`, so this only ends when synced.
        let _ = rx.wait_for(|synced| *synced >= kinds).await;
    }

    /// The live object at `key`, if any.
    pub fn live(&self, key: &ObjectKey) -> Option<LiveObject> {
        self.read()
            .objects
            .get(key)?
            .live
            .as_ref()
            .map(StoredLive::to_live)
    }

    /// Every live object labelled with `tenant`, sorted by key.
    pub fn tenant_objects(&self, tenant: &str) -> Vec<(ObjectKey, LiveObject)> {
        let state = self.read();
        let Some(keys) = state.by_tenant.get(tenant) else {
            return Vec::new();
        };
        let mut objects: Vec<_> = keys
            .iter()
            .filter_map(|k| {
                let live = state.objects.get(k)?.live.as_ref()?.to_live();
                Some((ObjectKey::clone(k), live))
            })
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    }

    /// Number of live objects known, for logs.
    pub fn len(&self) -> usize {
        self.read()
            .objects
            .values()
            .filter(|e| e.live.is_some())
            .count()
    }

    /// Whether no live object is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the operator last applied to `key`.
    pub fn applied(&self, key: &ObjectKey) -> Option<LastApplied> {
        self.read()
            .objects
            .get(key)?
            .applied
            .as_ref()
            .map(StoredApplied::to_applied)
    }

    /// Records an apply (or a verified match).
    pub fn record_applied(&self, key: ObjectKey, applied: LastApplied) {
        self.write().entry(key).1.applied = Some(StoredApplied::new(applied));
    }

    /// Whether the inventory knows `key`: seen live, or written by this operator.
    pub fn knows(&self, key: &ObjectKey) -> bool {
        self.read()
            .objects
            .get(key)
            .is_some_and(|entry| entry.live.is_some() || entry.applied.is_some())
    }

    /// Carries what was applied to `key` from resourceVersion `from` to `to`: the object
    /// changed only in what the operator does not manage (a ResourceQuota's status,
    /// recounted by the quota controller), so it is still as applied and needs neither a
    /// reconcile nor a read. Nothing changes unless what was applied is at `from`.
    pub fn carry_applied(&self, key: &ObjectKey, from: &str, to: &str) {
        let mut state = self.write();
        if let Some(applied) = state
            .objects
            .get_mut(key)
            .and_then(|entry| entry.applied.as_mut())
            && applied.version.is(from)
        {
            applied.version = Version::new(to);
        }
    }

    /// Whether `object` (of `kind`) is exactly what this operator last wrote: its own
    /// write coming back through the watch, which needs no reconcile.
    pub fn is_own_write<K: Resource>(&self, kind: ManagedKind, object: &K) -> bool {
        let resource_version = object
            .meta()
            .resource_version
            .as_deref()
            .unwrap_or_default();
        self.read()
            .objects
            .get(&ObjectKey::of(kind, object))
            .and_then(|e| e.applied.as_ref())
            .is_some_and(|a| a.version.is(resource_version))
    }

    /// Forgets what was applied to `key` (deleted or detached).
    pub fn forget_applied(&self, key: &ObjectKey) {
        let mut state = self.write();
        if let Some(entry) = state.objects.get_mut(key) {
            entry.applied = None;
            state.drop_if_empty(key);
        }
    }

    /// Forgets what was applied to `namespace` and to every object in it.
    pub fn forget_applied_in_namespace(&self, namespace: &str) {
        let mut state = self.write();
        state.objects.retain(|key, entry| {
            if key.is_in_namespace(namespace) {
                entry.applied = None;
            }
            entry.live.is_some() || entry.applied.is_some()
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
    fn what_was_applied_is_carried_only_from_the_version_it_is_at() {
        let inventory = Inventory::default();
        let key = ObjectKey::new(ManagedKind::ResourceQuota, Some("a-prod"), "tenancy-quota");
        let applied = |rv: &str| LastApplied {
            resource_version: rv.into(),
            fingerprint: 7,
            certificate: None,
        };
        // Nothing applied: nothing to carry.
        inventory.carry_applied(&key, "10", "11");
        assert_eq!(inventory.applied(&key), None);
        inventory.record_applied(key.clone(), applied("10"));
        inventory.carry_applied(&key, "10", "11");
        assert_eq!(inventory.applied(&key), Some(applied("11")));
        // From a version it is not at (a write of the operator's own came in between).
        inventory.carry_applied(&key, "10", "12");
        assert_eq!(inventory.applied(&key), Some(applied("11")));
    }

    #[test]
    fn resource_versions_come_back_as_they_were() {
        for text in [
            "0",
            "7",
            "18446744073709551615",
            "007",
            "+7",
            "",
            "a1b2",
            "99999999999999999999",
        ] {
            let version = Version::new(text);
            assert_eq!(version.to_string(), text);
            assert!(version.is(text), "{text}");
        }
        assert!(matches!(Version::new("123456"), Version::Number(123_456)));
        assert!(!Version::new("7").is("07"));
        assert!(!Version::new("07").is("7"));
        assert!(!Version::new("7").is("8"));
    }

    #[test]
    fn objects_of_one_namespace_share_its_name_until_none_is_left() {
        let inventory = Inventory::default();
        let kind = ManagedKind::NetworkPolicy;
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        for name in ["deny", "allow-dns"] {
            inventory.apply_event(
                kind,
                &watcher::Event::InitApply(policy("a-prod", name, "a", "1")),
            );
        }
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        {
            let state = inventory.read();
            let namespaces: Vec<&Arc<str>> = state
                .objects
                .keys()
                .filter_map(|k| k.namespace.as_ref())
                .collect();
            assert_eq!(namespaces.len(), 2);
            assert!(Arc::ptr_eq(namespaces[0], namespaces[1]));
            assert_eq!(state.namespaces.len(), 1);
        }
        for name in ["deny", "allow-dns"] {
            inventory.apply_event(
                kind,
                &watcher::Event::Delete(policy("a-prod", name, "a", "2")),
            );
        }
        assert!(inventory.read().namespaces.is_empty());
        // Keys handed out keep their own copy: nothing read from the inventory changes.
        let key = ObjectKey::new(kind, Some("a-prod"), "deny");
        inventory.record_applied(
            key.clone(),
            LastApplied {
                resource_version: "3".into(),
                fingerprint: 1,
                certificate: None,
            },
        );
        assert_eq!(inventory.applied(&key).map(|a| a.fingerprint), Some(1));
    }

    #[test]
    fn an_entry_stays_within_96_bytes() {
        // One per managed object: 240,000 for all of Italy in the full shape.
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn live_and_applied_halves_read_back_as_recorded() {
        let inventory = Inventory::default();
        let key = ObjectKey::new(ManagedKind::Secret, Some("a-prod"), "tls");
        let applied = LastApplied {
            resource_version: "0042".into(),
            fingerprint: 0,
            certificate: None,
        };
        inventory.record_applied(key.clone(), applied.clone());
        assert_eq!(inventory.applied(&key), Some(applied));
        let mut secret = policy("a-prod", "tls", "a", "0042");
        secret.metadata.annotations = Some(BTreeMap::from([
            (
                labels::APPLIED_FINGERPRINT.to_string(),
                compare::format_fingerprint(9),
            ),
            (
                labels::CERTIFICATE_VALIDITY.to_string(),
                "validity".to_string(),
            ),
        ]));
        inventory.apply_event(ManagedKind::Secret, &watcher::Event::Apply(secret));
        let live = inventory.live(&key).expect("live");
        assert_eq!(live.resource_version, "0042");
        assert_eq!(live.fingerprint, Some(9));
        assert_eq!(live.certificate.as_deref(), Some("validity"));
        assert!(!live.deleting && !live.foreign);
        assert_eq!(live.tenant.as_deref(), Some("a"));
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
        assert!(!inventory.is_kind_synced(kind));
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        assert!(inventory.is_synced(1));
        assert!(inventory.is_kind_synced(kind));
        assert!(!inventory.is_kind_synced(ManagedKind::Role));
        assert_eq!(inventory.tenant_objects("a").len(), 1);
        // Relabel to another tenant moves it in the index.
        inventory.apply_event(
            kind,
            &watcher::Event::Apply(policy("a-prod", "deny", "b", "3")),
        );
        assert!(inventory.tenant_objects("a").is_empty());
        assert_eq!(inventory.tenant_objects("b").len(), 2);
        let key = ObjectKey::new(kind, Some("a-prod"), "deny");
        assert_eq!(inventory.live(&key).unwrap().resource_version, "3");
        // A relist that no longer contains b-prod/deny drops it.
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("a-prod", "deny", "b", "3")),
        );
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        assert_eq!(inventory.tenant_objects("b").len(), 1);
        // A re-list cut short (the watcher starts over with Init) counts for nothing: what
        // only it saw is dropped at the end of the next one.
        inventory.apply_event(
            kind,
            &watcher::Event::Apply(policy("c-prod", "deny", "b", "5")),
        );
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("c-prod", "deny", "b", "5")),
        );
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::Init);
        inventory.apply_event(
            kind,
            &watcher::Event::InitApply(policy("a-prod", "deny", "b", "3")),
        );
        inventory.apply_event(kind, &watcher::Event::<NetworkPolicy>::InitDone);
        assert_eq!(inventory.tenant_objects("b").len(), 1);
        assert!(
            inventory
                .live(&ObjectKey::new(kind, Some("c-prod"), "deny"))
                .is_none()
        );
        inventory.apply_event(
            kind,
            &watcher::Event::Delete(policy("a-prod", "deny", "b", "4")),
        );
        assert!(inventory.is_empty());
    }

    #[test]
    fn applied_and_live_halves_are_independent_and_forgotten_by_namespace() {
        let inventory = Inventory::default();
        let applied = LastApplied {
            resource_version: "1".into(),
            fingerprint: 7,
            certificate: None,
        };
        let namespace = ObjectKey::new(ManagedKind::Namespace, None, "a-prod");
        let role_prod = ObjectKey::new(ManagedKind::Role, Some("a-prod"), "r");
        let role_test = ObjectKey::new(ManagedKind::Role, Some("a-test"), "r");
        let policy_key = ObjectKey::new(ManagedKind::NetworkPolicy, Some("a-prod"), "deny");
        for key in [&namespace, &role_prod, &role_test, &policy_key] {
            inventory.record_applied(key.clone(), applied.clone());
        }
        // The watch sees the policy: the operator's own write, by resourceVersion.
        let live_policy = policy("a-prod", "deny", "a", "1");
        assert!(inventory.is_own_write(ManagedKind::NetworkPolicy, &live_policy));
        inventory.apply_event(
            ManagedKind::NetworkPolicy,
            &watcher::Event::Apply(live_policy),
        );
        assert!(!inventory.is_own_write(
            ManagedKind::NetworkPolicy,
            &policy("a-prod", "deny", "a", "2")
        ));
        // Only what was applied is known of the roles: nothing live, nothing to prune.
        assert!(inventory.live(&role_prod).is_none());
        assert_eq!(inventory.len(), 1);

        inventory.forget_applied_in_namespace("a-prod");
        assert!(inventory.applied(&namespace).is_none());
        assert!(inventory.applied(&role_prod).is_none());
        assert!(inventory.applied(&policy_key).is_none());
        assert_eq!(inventory.applied(&role_test), Some(applied));
        // The live half stays until the watch says the object is gone.
        assert_eq!(inventory.tenant_objects("a").len(), 1);
        inventory.apply_event(
            ManagedKind::NetworkPolicy,
            &watcher::Event::Delete(policy("a-prod", "deny", "a", "3")),
        );
        assert!(inventory.is_empty());
        inventory.forget_applied(&role_test);
        assert!(
            inventory.read().objects.is_empty(),
            "no empty entry is kept"
        );
    }
}
