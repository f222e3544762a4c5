//! The server's own controllers (spec §6.3–§6.5): the ownerReference garbage
//! collector (background, foreground, orphan), the namespace controller that
//! empties a terminating namespace, and CRD cleanup that removes a deleted CRD's
//! custom resources. They run as one background task woken after writes. Work is
//! incremental: writes queue the dependents and owners to look at (see
//! [`crate::store::GcWork`]), so a pass costs what changed, not what is stored.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clock::Clock;
use crate::identity::UserInfo;
use crate::meta::{deleting, finalizers, meta_str, set_finalizers};
use crate::ops::{self, CRD_FINALIZER, DeleteOpts};
use crate::registry::{ResourceInfo, ResourceKey};
use crate::server::Server;
use crate::store::{ObjKey, State};

/// Field manager of the garbage collector's updates.
const GC_MANAGER: &str = "generic-garbage-collector";

/// The identities kube-controller-manager's controllers and kube-apiserver's CRD cleanup
/// use; admission (e.g. a policy that exempts the garbage collector) sees these.
fn garbage_collector() -> UserInfo {
    UserInfo::service_account("kube-system", "generic-garbage-collector")
}

fn namespace_controller() -> UserInfo {
    UserInfo::service_account("kube-system", "namespace-controller")
}

/// Runs until shutdown.
pub async fn run(server: Arc<Server>) {
    let mut shutdown = server.shutdown.subscribe();
    loop {
        tokio::select! {
            () = server.gc_notify.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // Coalesce bursts of writes into one pass.
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..50 {
            let again = {
                let mut st = server.lock();
                crate::aggregation::sync(&mut st, &server.clock);
                pass(&mut st, &server.clock)
            };
            if !again {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// An internal update whose failure is logged: the next pass retries, since
/// the work that caused it stays observable (the object is still there).
fn update(
    st: &mut State,
    clock: &Clock,
    (info, ns, name): (&Arc<ResourceInfo>, &str, &str),
    (manager, user): (&str, &UserInfo),
    f: impl FnOnce(&mut Value),
) {
    let req = ops::controller_write(info, ns, manager, user);
    if let Err(e) = ops::internal_update(st, clock, &req, name, f) {
        tracing::warn!(%manager, namespace = %ns, %name, error = %e, "internal update failed");
    }
}

fn background() -> DeleteOpts {
    DeleteOpts {
        propagation: Some("Background".into()),
        ..DeleteOpts::default()
    }
}

/// One pass over the queued work; returns whether more work was queued meanwhile.
pub fn pass(st: &mut State, clock: &Clock) -> bool {
    let work = std::mem::take(&mut st.gc_work);
    for uid in &work.owners {
        for dep in st.dependents_of(uid) {
            check_dependent(st, clock, &dep);
        }
        release_owner(st, clock, uid);
    }
    for dep in &work.checks {
        check_dependent(st, clock, dep);
    }
    for (key, (_, name)) in st.terminating() {
        if key.1 == "namespaces" {
            empty_namespace(st, clock, &name);
        } else {
            empty_crd(st, clock, &name);
        }
    }
    !st.gc_work.is_empty()
}

/// Deletes what is in a terminating namespace, then finalizes it.
fn empty_namespace(st: &mut State, clock: &Clock, ns: &str) {
    let Some(ns_info) = st.registry.get("", "namespaces") else {
        return;
    };
    let mut remaining = 0;
    let infos: Vec<Arc<ResourceInfo>> = st
        .registry
        .all()
        // A resource stored as another (events.k8s.io Events) is emptied with it.
        .filter(|i| i.namespaced && !i.stored_elsewhere())
        .cloned()
        .collect();
    for info in infos {
        for o in st.list_values(&info.key(), Some(ns)) {
            remaining += 1;
            if !deleting(&o) {
                let name = meta_str(&o, "name").to_string();
                let deleted = ops::delete(
                    st,
                    clock,
                    &info,
                    (ns, &name),
                    &background(),
                    &namespace_controller(),
                );
                if let Err(e) = deleted {
                    tracing::warn!(namespace = %ns, name = %name, error = %e, "namespace cleanup could not delete");
                }
            }
        }
    }
    if remaining == 0 {
        let who = ("namespace-controller", &namespace_controller());
        update(st, clock, (&ns_info, "", ns), who, |o| {
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

/// Deletes the custom resources of a terminating CRD, then releases it.
fn empty_crd(st: &mut State, clock: &Clock, name: &str) {
    let Some(crd_info) = st
        .registry
        .get("apiextensions.k8s.io", "customresourcedefinitions")
    else {
        return;
    };
    let Some(crd) = st.get(&crd_info.key(), "", name) else {
        return;
    };
    if !finalizers(&crd).iter().any(|f| f == CRD_FINALIZER) {
        return;
    }
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    let mut remaining = 0;
    if let Some(info) = st.registry.get(group, plural) {
        for o in st.list_values(&info.key(), None) {
            remaining += 1;
            if !deleting(&o) {
                let ns = meta_str(&o, "namespace").to_string();
                let n = meta_str(&o, "name").to_string();
                let cleanup = UserInfo::apiserver();
                if let Err(e) = ops::delete(st, clock, &info, (&ns, &n), &background(), &cleanup) {
                    tracing::warn!(crd = %plural, name = %n, error = %e, "CRD cleanup could not delete");
                }
            }
        }
    }
    if remaining == 0 {
        let who = ("apiextensions-controller", &UserInfo::apiserver());
        update(st, clock, (&crd_info, "", name), who, |o| {
            let f: Vec<String> = finalizers(o)
                .into_iter()
                .filter(|f| f != CRD_FINALIZER)
                .collect();
            set_finalizers(o, &f);
        });
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
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
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
    if key != info.storage_key()
        || (info.namespaced && ons != dep_ns)
        || oname != r["name"].as_str().unwrap_or("")
    {
        return Owner::Absent;
    }
    let Some(obj) = st.get(&key, &ons, &oname) else {
        return Owner::Absent;
    };
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

/// Looks at one dependent: delete it when no owner is left, or when an owner
/// waits for it in foreground deletion; drop references to absent or orphaning owners.
fn check_dependent(st: &mut State, clock: &Clock, loc: &(ResourceKey, ObjKey)) {
    let (key, (ns, name)) = loc;
    let Some(o) = st.get(key, ns, name) else {
        return;
    };
    if deleting(&o) {
        return;
    }
    let Some(refs) = o["metadata"]["ownerReferences"].as_array() else {
        return;
    };
    let Some(info) = st.registry.get(&key.0, &key.1) else {
        return;
    };
    let mut dangling = Vec::new();
    let (mut live, mut absent, mut foreground, mut blocking_fg) = (0, 0, 0, false);
    for r in refs {
        let uid = r["uid"].as_str().unwrap_or("").to_string();
        match resolve_owner(st, ns, r) {
            Owner::Alive | Owner::Unresolvable => live += 1,
            Owner::Absent => {
                absent += 1;
                dangling.push(uid);
            }
            Owner::Orphaning => dangling.push(uid),
            Owner::Foreground => {
                foreground += 1;
                blocking_fg |= r["blockOwnerDeletion"].as_bool() == Some(true);
            }
        }
    }
    if live == 0 && (absent > 0 || foreground > 0) {
        let opts = if blocking_fg {
            DeleteOpts {
                propagation: Some("Foreground".into()),
                ..DeleteOpts::default()
            }
        } else {
            background()
        };
        if let Err(e) = ops::delete(st, clock, &info, (ns, name), &opts, &garbage_collector()) {
            tracing::debug!(name = %name, error = %e, "garbage collector could not delete");
        }
    } else if !dangling.is_empty() {
        update(
            st,
            clock,
            (&info, ns, name),
            (GC_MANAGER, &garbage_collector()),
            |o| {
                if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| !dangling.iter().any(|u| r["uid"].as_str() == Some(u)));
                }
            },
        );
    }
}

/// Releases an owner waiting in foreground deletion (no blocking dependent left)
/// or orphan deletion (no dependent refers to it any more).
fn release_owner(st: &mut State, clock: &Clock, uid: &str) {
    let Some((key, (ns, name))) = st.by_uid(uid).cloned() else {
        return;
    };
    let Some(obj) = st.get(&key, &ns, &name) else {
        return;
    };
    if !deleting(&obj) {
        return;
    }
    let fins = finalizers(&obj);
    let has_fg = fins.iter().any(|f| f == "foregroundDeletion");
    let has_orphan = fins.iter().any(|f| f == "orphan");
    if !has_fg && !has_orphan {
        return;
    }
    let deps = st.dependents_of(uid);
    let blocking = deps.iter().any(|(k, (dns, dname))| {
        st.get(k, dns, dname).is_some_and(|d| {
            d["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r["uid"].as_str() == Some(uid)
                            && r["blockOwnerDeletion"].as_bool() == Some(true)
                    })
                })
        })
    });
    let release_fg = has_fg && !blocking;
    let release_orphan = has_orphan && deps.is_empty();
    if !release_fg && !release_orphan {
        return;
    }
    let Some(info) = st.registry.get(&key.0, &key.1) else {
        return;
    };
    update(
        st,
        clock,
        (&info, &ns, &name),
        (GC_MANAGER, &garbage_collector()),
        |o| {
            let f: Vec<String> = finalizers(o)
                .into_iter()
                .filter(|f| {
                    !(release_fg && f == "foregroundDeletion" || release_orphan && f == "orphan")
                })
                .collect();
            set_finalizers(o, &f);
        },
    );
}
