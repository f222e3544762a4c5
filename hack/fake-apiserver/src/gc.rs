//! The server's own controllers (spec §6.3–§6.5): the ownerReference garbage
//! collector (background, foreground, orphan), the namespace controller that
//! empties a terminating namespace, and CRD cleanup that removes a deleted CRD's
//! custom resources. They run as one background task, woken after writes and
//! sweeping at least once a second while there is work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clock::Clock;
use crate::meta::{deleting, finalizers, meta_str, set_finalizers};
use crate::ops::{self, CRD_FINALIZER, DeleteOpts};
use crate::registry::ResourceInfo;
use crate::server::Server;
use crate::store::State;

/// Field manager of the garbage collector's updates.
const GC_MANAGER: &str = "generic-garbage-collector";

/// Runs until shutdown.
pub async fn run(server: Arc<Server>) {
    let mut shutdown = server.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = server.gc_notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // Coalesce bursts of writes into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..20 {
            let again = {
                let mut st = server.lock();
                pass(&mut st, &server.clock)
            };
            if !again {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

fn background() -> DeleteOpts {
    DeleteOpts {
        propagation: Some("Background".into()),
        ..DeleteOpts::default()
    }
}

/// One pass over everything; returns whether another pass is needed.
pub fn pass(st: &mut State, clock: &Clock) -> bool {
    if !st.gc_dirty {
        return false;
    }
    st.gc_dirty = false;
    namespaces(st, clock);
    crds(st, clock);
    owners(st, clock);
    st.gc_dirty
}

fn info_of(st: &State, group: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
    st.registry.get(group, plural)
}

/// Empties terminating namespaces, then finalizes them.
fn namespaces(st: &mut State, clock: &Clock) {
    let Some(ns_info) = info_of(st, "", "namespaces") else {
        return;
    };
    let terminating: Vec<String> = st
        .list(&ns_info.key(), None)
        .iter()
        .filter(|n| deleting(n))
        .map(|n| meta_str(n, "name").to_string())
        .collect();
    for ns in terminating {
        let mut remaining = 0;
        let infos: Vec<Arc<ResourceInfo>> = st
            .registry
            .all()
            .filter(|i| i.namespaced)
            .cloned()
            .collect();
        for info in infos {
            for o in st.list(&info.key(), Some(&ns)) {
                remaining += 1;
                if !deleting(&o) {
                    let name = meta_str(&o, "name").to_string();
                    if let Err(e) = ops::delete(st, clock, &info, &ns, &name, &background()) {
                        tracing::warn!(namespace = %ns, name = %name, error = %e, "namespace cleanup could not delete");
                    }
                }
            }
        }
        if remaining == 0 {
            ops::internal_update(st, clock, &ns_info, "", &ns, "namespace-controller", |o| {
                let fins: Vec<Value> = o["spec"]["finalizers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| f != "kubernetes")
                    .collect();
                o["spec"]["finalizers"] = Value::Array(fins);
            });
        }
    }
}

/// Deletes the custom resources of terminating CRDs, then releases them.
fn crds(st: &mut State, clock: &Clock) {
    let Some(crd_info) = info_of(st, "apiextensions.k8s.io", "customresourcedefinitions") else {
        return;
    };
    let terminating: Vec<Arc<Value>> = st
        .list(&crd_info.key(), None)
        .into_iter()
        .filter(|c| deleting(c) && finalizers(c).iter().any(|f| f == CRD_FINALIZER))
        .collect();
    for crd in terminating {
        let group = crd["spec"]["group"].as_str().unwrap_or("").to_string();
        let plural = crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let mut remaining = 0;
        if let Some(info) = info_of(st, &group, &plural) {
            for o in st.list(&info.key(), None) {
                remaining += 1;
                if !deleting(&o) {
                    let ns = meta_str(&o, "namespace").to_string();
                    let name = meta_str(&o, "name").to_string();
                    if let Err(e) = ops::delete(st, clock, &info, &ns, &name, &background()) {
                        tracing::warn!(crd = %plural, name = %name, error = %e, "CRD cleanup could not delete");
                    }
                }
            }
        }
        if remaining == 0 {
            let name = meta_str(&crd, "name").to_string();
            ops::internal_update(
                st,
                clock,
                &crd_info,
                "",
                &name,
                "apiextensions-controller",
                |o| {
                    let f: Vec<String> = finalizers(o)
                        .into_iter()
                        .filter(|f| f != CRD_FINALIZER)
                        .collect();
                    set_finalizers(o, &f);
                },
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    Absent,
    Alive,
    /// Alive and deleting with `foregroundDeletion`.
    Foreground,
    /// Alive and deleting with `orphan`.
    Orphaning,
    /// Kind unknown or scope mismatch: never acted on.
    Unresolvable,
}

fn resolve_owner(st: &State, dep_ns: &str, r: &Value) -> Owner {
    let api_version = r["apiVersion"].as_str().unwrap_or("");
    let kind = r["kind"].as_str().unwrap_or("");
    let uid = r["uid"].as_str().unwrap_or("");
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let Some(info) = st.registry.by_kind(group, version, kind) else {
        tracing::warn!(%api_version, %kind, "ownerReference to an unknown kind is left alone");
        return Owner::Unresolvable;
    };
    if info.namespaced && dep_ns.is_empty() {
        return Owner::Unresolvable;
    }
    let Some((key, (ons, oname))) = st.by_uid(uid).cloned() else {
        return Owner::Absent;
    };
    if key != info.key() || (info.namespaced && ons != dep_ns) {
        return Owner::Absent;
    }
    let Some(obj) = st.get(&key, &ons, &oname) else {
        return Owner::Absent;
    };
    if meta_str(&obj, "name") != r["name"].as_str().unwrap_or("") {
        return Owner::Absent;
    }
    if deleting(&obj) {
        let f = finalizers(&obj);
        if f.iter().any(|x| x == "foregroundDeletion") {
            return Owner::Foreground;
        }
        if f.iter().any(|x| x == "orphan") {
            return Owner::Orphaning;
        }
    }
    Owner::Alive
}

enum Action {
    Delete {
        info: Arc<ResourceInfo>,
        ns: String,
        name: String,
        foreground: bool,
    },
    DropRefs {
        info: Arc<ResourceInfo>,
        ns: String,
        name: String,
        uids: Vec<String>,
    },
}

/// Owner-reference garbage collection.
fn owners(st: &mut State, clock: &Clock) {
    let mut actions = Vec::new();
    // owner uid → (referenced at all, referenced with blockOwnerDeletion)
    let mut referenced: HashMap<String, (bool, bool)> = HashMap::new();
    for (key, o) in st.all_objects() {
        let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
            continue;
        };
        let Some(info) = st.registry.get(&key.0, &key.1) else {
            continue;
        };
        let ns = meta_str(o, "namespace").to_string();
        let name = meta_str(o, "name").to_string();
        let mut absent = Vec::new();
        let mut states = Vec::new();
        for r in refs {
            let uid = r["uid"].as_str().unwrap_or("").to_string();
            let blocking = r["blockOwnerDeletion"].as_bool() == Some(true);
            let e = referenced.entry(uid.clone()).or_default();
            e.0 = true;
            e.1 |= blocking;
            let s = resolve_owner(st, &ns, r);
            if s == Owner::Absent || s == Owner::Orphaning {
                absent.push(uid.clone());
            }
            states.push((s, blocking));
        }
        let live = states
            .iter()
            .filter(|(s, _)| matches!(s, Owner::Alive | Owner::Unresolvable))
            .count();
        let fg: Vec<bool> = states
            .iter()
            .filter(|(s, _)| *s == Owner::Foreground)
            .map(|(_, b)| *b)
            .collect();
        let orphaned_only = states.iter().all(|(s, _)| *s == Owner::Orphaning);
        if deleting(o) {
            continue;
        }
        if live == 0
            && !orphaned_only
            && (!fg.is_empty() || states.iter().any(|(s, _)| *s == Owner::Absent))
        {
            let foreground = fg.iter().any(|b| *b);
            actions.push(Action::Delete {
                info: info.clone(),
                ns,
                name,
                foreground,
            });
        } else if !absent.is_empty() {
            actions.push(Action::DropRefs {
                info: info.clone(),
                ns,
                name,
                uids: absent,
            });
        }
    }
    for a in actions {
        match a {
            Action::Delete {
                info,
                ns,
                name,
                foreground,
            } => {
                let opts = if foreground {
                    DeleteOpts {
                        propagation: Some("Foreground".into()),
                        ..DeleteOpts::default()
                    }
                } else {
                    background()
                };
                if let Err(e) = ops::delete(st, clock, &info, &ns, &name, &opts) {
                    tracing::debug!(name = %name, error = %e, "garbage collector could not delete");
                }
            }
            Action::DropRefs {
                info,
                ns,
                name,
                uids,
            } => {
                ops::internal_update(st, clock, &info, &ns, &name, GC_MANAGER, |o| {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| !uids.iter().any(|u| r["uid"].as_str() == Some(u)));
                    }
                });
            }
        }
    }
    // Owners waiting in foreground or orphan deletion: release them once no
    // (blocking) dependent refers to them any more.
    let waiting: Vec<(Arc<ResourceInfo>, String, String, String)> = st
        .all_objects()
        .filter(|(_, o)| {
            deleting(o)
                && finalizers(o)
                    .iter()
                    .any(|f| f == "foregroundDeletion" || f == "orphan")
        })
        .filter_map(|(k, o)| {
            let info = st.registry.get(&k.0, &k.1)?;
            Some((
                info,
                meta_str(o, "namespace").to_string(),
                meta_str(o, "name").to_string(),
                meta_str(o, "uid").to_string(),
            ))
        })
        .collect();
    for (info, ns, name, uid) in waiting {
        let (any, blocking) = referenced.get(&uid).copied().unwrap_or((false, false));
        let Some(obj) = st.get(&info.key(), &ns, &name) else {
            continue;
        };
        let fins = finalizers(&obj);
        let release_fg = fins.iter().any(|f| f == "foregroundDeletion") && !blocking;
        let release_orphan = fins.iter().any(|f| f == "orphan") && !any;
        if release_fg || release_orphan {
            ops::internal_update(st, clock, &info, &ns, &name, GC_MANAGER, |o| {
                let f: Vec<String> = finalizers(o)
                    .into_iter()
                    .filter(|f| {
                        !(release_fg && f == "foregroundDeletion"
                            || release_orphan && f == "orphan")
                    })
                    .collect();
                set_finalizers(o, &f);
            });
        }
    }
}
