//! Which other tenants matter to a tenant, kept as an index so that a reconcile does not
//! scan all 8,000 tenants: tenants it consents to receive traffic from or that consent to
//! it (`allowFrom`), and tenants sharing one of its claims (namespace names, certificate
//! DNS names: see [`validation::claim_keys`]), which validation reports as conflicts. When
//! a tenant's facts change, the index says whose reconcile is affected.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;

use crate::api::{TenantService, validation};

/// What of a tenant other tenants depend on, each list sorted and without repeats. Boxed
/// slices, not sets: the index holds this for every tenant, and a `BTreeSet` allocates a
/// node of eleven slots for the one or two names most tenants have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Facts {
    claims: Box<[Box<str>]>,
    allow_from: Box<[Box<str>]>,
    /// The UIDs `allowFrom` entries name: naming one (re)binds a consent, which the peer's
    /// policies follow.
    consent_uids: Box<[(Box<str>, Box<str>)]>,
}

/// `items` sorted, without repeats, in a boxed slice.
fn sorted<T: Ord>(items: impl IntoIterator<Item = T>) -> Box<[T]> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort_unstable();
    items.dedup();
    items.into_boxed_slice()
}

impl Facts {
    fn of(tenant: &TenantService) -> Self {
        let allow_from = || tenant.spec.network.iter().flat_map(|n| &n.allow_from);
        Facts {
            claims: sorted(
                validation::claim_keys(tenant)
                    .into_iter()
                    .map(String::into_boxed_str),
            ),
            allow_from: sorted(allow_from().map(|a| Box::from(a.tenant.as_str()))),
            consent_uids: sorted(allow_from().filter_map(|a| {
                Some((Box::from(a.tenant.as_str()), Box::from(a.uid.as_deref()?)))
            })),
        }
    }
}

/// Tenants by a name they share (a claim, a consented peer). Nearly every name has one
/// tenant, so a short vector, its names shared with the facts' keys.
type NameIndex = HashMap<Box<str>, Vec<Arc<str>>>;

#[derive(Default)]
struct State {
    facts: HashMap<Arc<str>, Facts>,
    by_claim: NameIndex,
    /// tenant X -> tenants whose allowFrom names X.
    allowed_by: NameIndex,
}

fn index_add(map: &mut NameIndex, key: &str, tenant: &Arc<str>) {
    let tenants = map.entry(Box::from(key)).or_default();
    if let Err(at) = tenants.binary_search(tenant) {
        tenants.insert(at, tenant.clone());
    }
}

fn index_remove(map: &mut NameIndex, key: &str, tenant: &str) {
    if let Some(tenants) = map.get_mut(key) {
        tenants.retain(|t| &**t != tenant);
        if tenants.is_empty() {
            map.remove(key);
        }
    }
}

impl State {
    fn related(&self, name: &str, facts: &Facts) -> BTreeSet<String> {
        let mut related = BTreeSet::new();
        for claim in &facts.claims {
            related.extend(
                self.by_claim
                    .get(claim)
                    .into_iter()
                    .flatten()
                    .map(ToString::to_string),
            );
        }
        related.extend(facts.allow_from.iter().map(ToString::to_string));
        related.extend(
            self.allowed_by
                .get(name)
                .into_iter()
                .flatten()
                .map(ToString::to_string),
        );
        related.remove(name);
        related
    }

    fn insert(&mut self, name: &str, facts: Facts) {
        let name: Arc<str> = Arc::from(name);
        for claim in &facts.claims {
            index_add(&mut self.by_claim, claim, &name);
        }
        for peer in &facts.allow_from {
            index_add(&mut self.allowed_by, peer, &name);
        }
        self.facts.insert(name, facts);
    }

    fn remove(&mut self, name: &str) -> Option<Facts> {
        let facts = self.facts.remove(name)?;
        for claim in &facts.claims {
            index_remove(&mut self.by_claim, claim, name);
        }
        for peer in &facts.allow_from {
            index_remove(&mut self.allowed_by, peer, name);
        }
        Some(facts)
    }
}

/// Index of tenant relationships.
#[derive(Default)]
pub struct PeerIndex {
    state: RwLock<State>,
}

impl PeerIndex {
    /// Records a tenant's current spec. Returns the tenants whose reconcile depends on what
    /// changed (related before or after), empty when nothing relevant changed.
    pub fn update(&self, tenant: &TenantService) -> BTreeSet<String> {
        let name = tenant.name_any();
        let facts = Facts::of(tenant);
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.facts.get(name.as_str()) == Some(&facts) {
            return BTreeSet::new();
        }
        let mut affected = BTreeSet::new();
        if let Some(old) = state.remove(&name) {
            affected.extend(state.related(&name, &old));
        }
        affected.extend(state.related(&name, &facts));
        state.insert(&name, facts);
        affected
    }

    /// Forgets a deleted tenant; returns the tenants related to it.
    pub fn remove(&self, name: &str) -> BTreeSet<String> {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.remove(name) {
            Some(old) => state.related(name, &old),
            None => BTreeSet::new(),
        }
    }

    /// Names of the tenants relevant to `tenant` now (for validation and render).
    pub fn peers_of(&self, tenant: &TenantService) -> BTreeSet<String> {
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.related(&tenant.name_any(), &Facts::of(tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, envs: &[&str], hosts: &[&str], allow: &[&str]) -> TenantService {
        let mut spec = serde_json::json!({
            "entity": {"type": "Regione", "displayName": "x", "ipaCode": "r_puglia"},
            "dataClassification": "ordinario",
            "class": "standard",
            "environments": envs.iter().map(|e| serde_json::json!({"name": e})).collect::<Vec<_>>(),
            "tls": {"hostnames": hosts},
        });
        spec["network"] = serde_json::json!({"allowFrom": allow.iter().map(|t| serde_json::json!({"tenant": t})).collect::<Vec<_>>()});
        TenantService::new(name, serde_json::from_value(spec).unwrap())
    }

    #[test]
    fn consent_hostnames_and_namespaces_relate_tenants() {
        let index = PeerIndex::default();
        assert!(
            index
                .update(&tenant("a", &["prod"], &["x.it"], &["b"]))
                .contains("b")
        );
        index.update(&tenant("b", &["prod"], &[], &[]));
        index.update(&tenant("c", &["prod"], &["x.it"], &[]));
        // "d-x" + "prod" and "d" + "x-prod" collide on namespace d-x-prod.
        index.update(&tenant("d-x", &["prod"], &[], &[]));
        let d = tenant("d", &["x-prod"], &[], &[]);
        assert_eq!(index.update(&d), BTreeSet::from(["d-x".to_string()]));
        assert_eq!(
            index.peers_of(&tenant("b", &["prod"], &[], &[])),
            BTreeSet::from(["a".to_string()])
        );
        assert_eq!(
            index.peers_of(&tenant("a", &["prod"], &["x.it"], &["b"])),
            BTreeSet::from(["b".to_string(), "c".to_string()])
        );
        // Unchanged facts affect nobody; dropping the consent affects the old peer.
        assert!(
            index
                .update(&tenant("a", &["prod"], &["x.it"], &["b"]))
                .is_empty()
        );
        let affected = index.update(&tenant("a", &["prod"], &["x.it"], &[]));
        assert!(
            affected.contains("b") && affected.contains("c"),
            "{affected:?}"
        );
        assert!(index.peers_of(&tenant("b", &["prod"], &[], &[])).is_empty());
        assert_eq!(index.remove("c"), BTreeSet::from(["a".to_string()]));
        // e's test certificate carries test.y.it, which f lists for production.
        index.update(&tenant("e", &["prod", "test"], &["y.it"], &[]));
        assert_eq!(
            index.update(&tenant("f", &["prod"], &["test.y.it"], &[])),
            BTreeSet::from(["e".to_string()])
        );
    }
}
