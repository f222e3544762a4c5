//! The DomainDelegations as the controller knows them: the domains delegated to each
//! body, by IPA code, kept from the watch. A change returns the IPA codes whose domains
//! changed, so that their tenants are checked again (a hostname may have left the
//! delegation, or entered it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use kube::ResourceExt;
use kube::runtime::watcher;
use tokio::sync::watch;

use crate::api::DomainDelegation;
use crate::api::validation::normalize_domain;

/// Delegated domains by IPA code, from the DomainDelegation watch.
#[derive(Debug)]
pub struct DelegationIndex {
    state: Mutex<State>,
    synced: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    /// Delegation name → (IPA code, domains).
    by_name: HashMap<String, (String, Vec<String>)>,
    /// IPA code → names of its delegations: a reconcile looks up one body without
    /// scanning every delegation.
    names_by_ipa: HashMap<String, BTreeSet<String>>,
    /// A relist in progress (between `Init` and `InitDone`).
    relist: Option<HashMap<String, (String, Vec<String>)>>,
}

impl State {
    fn insert(&mut self, name: String, entry: (String, Vec<String>)) {
        self.remove(&name);
        self.names_by_ipa
            .entry(entry.0.clone())
            .or_default()
            .insert(name.clone());
        self.by_name.insert(name, entry);
    }

    fn remove(&mut self, name: &str) {
        if let Some((ipa, _)) = self.by_name.remove(name)
            && let Some(names) = self.names_by_ipa.get_mut(&ipa)
        {
            names.remove(name);
            if names.is_empty() {
                self.names_by_ipa.remove(&ipa);
            }
        }
    }
}

impl Default for DelegationIndex {
    fn default() -> Self {
        DelegationIndex {
            state: Mutex::default(),
            synced: watch::Sender::new(false),
        }
    }
}

impl DelegationIndex {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one watch event; returns the IPA codes whose delegated domains changed. The
    /// first complete list changes nothing that was ever checked (every tenant is
    /// reconciled after it), so it returns none.
    pub fn apply_event(&self, event: &watcher::Event<DomainDelegation>) -> BTreeSet<String> {
        let mut state = self.lock();
        match event {
            watcher::Event::Init => {
                state.relist = Some(HashMap::new());
                return BTreeSet::new();
            }
            watcher::Event::InitApply(delegation) => {
                let entry = entry(delegation);
                state
                    .relist
                    .get_or_insert_with(HashMap::new)
                    .insert(delegation.name_any(), entry);
                return BTreeSet::new();
            }
            _ => {}
        }
        let before: BTreeMap<String, BTreeSet<String>> = domains_by_ipa(&state.by_name);
        match event {
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            watcher::Event::InitDone => {
                let listed = state.relist.take().unwrap_or_default();
                state.by_name.clear();
                state.names_by_ipa.clear();
                for (name, entry) in listed {
                    state.insert(name, entry);
                }
                if !*self.synced.borrow() {
                    self.synced.send_replace(true);
                    return BTreeSet::new();
                }
            }
            watcher::Event::Apply(delegation) => {
                state.insert(delegation.name_any(), entry(delegation));
            }
            watcher::Event::Delete(delegation) => {
                state.remove(&delegation.name_any());
            }
        }
        let after = domains_by_ipa(&state.by_name);
        before
            .keys()
            .chain(after.keys())
            .filter(|ipa| before.get(*ipa) != after.get(*ipa))
            .cloned()
            .collect()
    }

    /// The domains delegated to `ipa_code`, sorted, each once.
    pub fn domains_of(&self, ipa_code: &str) -> Vec<String> {
        let state = self.lock();
        let domains: BTreeSet<&String> = state
            .names_by_ipa
            .get(ipa_code)
            .into_iter()
            .flatten()
            .filter_map(|name| state.by_name.get(name))
            .flat_map(|(_, domains)| domains)
            .collect();
        domains.into_iter().cloned().collect()
    }

    /// Waits until the first complete list has been seen.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives as long as `self`, so this only ends when synced.
        let _ = rx.wait_for(|synced| *synced).await;
    }
}

/// What the index keeps of a delegation: its IPA code and its domains, normalized as
/// validation compares them (lower case, no trailing dot).
fn entry(delegation: &DomainDelegation) -> (String, Vec<String>) {
    (
        delegation.spec.ipa_code.clone(),
        delegation
            .spec
            .domains
            .iter()
            .map(|d| normalize_domain(d))
            .collect(),
    )
}

/// The domains of every IPA code (a copy: compared before and after a change).
fn domains_by_ipa(
    by_name: &HashMap<String, (String, Vec<String>)>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_ipa: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (ipa, domains) in by_name.values() {
        by_ipa
            .entry(ipa.clone())
            .or_default()
            .extend(domains.iter().cloned());
    }
    by_ipa
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::delegation;

    fn codes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn changes_return_the_bodies_whose_domains_changed() {
        let index = DelegationIndex::default();
        let molfetta = delegation("molfetta", "c_f284", &["comune.molfetta.ba.it"]);
        let bari = delegation("bari", "c_a662", &["comune.bari.it"]);
        assert_eq!(index.apply_event(&watcher::Event::Init), codes(&[]));
        assert_eq!(
            index.apply_event(&watcher::Event::InitApply(molfetta.clone())),
            codes(&[])
        );
        assert_eq!(index.apply_event(&watcher::Event::InitDone), codes(&[]));
        index.wait_synced().await;
        assert_eq!(index.domains_of("c_f284"), ["comune.molfetta.ba.it"]);
        assert_eq!(index.domains_of("c_a662"), [] as [String; 0]);

        assert_eq!(
            index.apply_event(&watcher::Event::Apply(bari)),
            codes(&["c_a662"])
        );
        // The same delegation given to another body: both bodies change.
        let moved = delegation("molfetta", "c_a662", &["comune.molfetta.ba.it"]);
        assert_eq!(
            index.apply_event(&watcher::Event::Apply(moved.clone())),
            codes(&["c_a662", "c_f284"])
        );
        assert_eq!(
            index.domains_of("c_a662"),
            ["comune.bari.it", "comune.molfetta.ba.it"]
        );
        // Unchanged content: nothing to check again.
        assert_eq!(
            index.apply_event(&watcher::Event::Apply(moved.clone())),
            codes(&[])
        );
        assert_eq!(
            index.apply_event(&watcher::Event::Delete(moved)),
            codes(&["c_a662"])
        );
        // A relist after a watch error reports what changed meanwhile.
        index.apply_event(&watcher::Event::Init);
        index.apply_event(&watcher::Event::InitApply(molfetta));
        assert_eq!(
            index.apply_event(&watcher::Event::InitDone),
            codes(&["c_a662", "c_f284"])
        );
    }
}
