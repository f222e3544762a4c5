//! Whose a namespace is, decided before anything is written in it.
//!
//! A tenant's identity is its name **and** its UID ([`labels::TENANT_UID`]): a tenant deleted
//! and created again under the same name, or a new tenant whose `<name>-<environment>`
//! spells the namespace of another, is someone else. The rules ([`decide`], pure):
//!
//! - no namespace of that name: the operator creates it as desired, identity included, in
//!   one write ([`write::create`], never a server-side apply, which would take over a
//!   namespace created meanwhile);
//! - a namespace managed for this tenant's UID (or, made before UIDs were recorded,
//!   managed for this tenant's name): this tenant's;
//! - anything else — a namespace the operator never managed, another tenant's, a retained
//!   one (even this tenant's own, from an environment it removed) — is not: nothing is
//!   labelled, created or changed in it, and the tenant reports `NamespaceNotOwned` naming
//!   the namespace and its holder. A retained namespace is detached: the admission policy
//!   `confine-operator` keeps the operator out of it, and only a person brings it back;
//! - unless a datacenter operator annotated it with [`labels::HAND_OVER_TO`] naming this
//!   tenant and no live tenant holds it: then every object the operator managed there (for
//!   the previous tenant: bindings, policies, quota, limits, CA bundle, TLS Secret) is
//!   deleted first ([`purge`]), and only then does the namespace take this tenant's
//!   identity, in one write that also consumes the annotation ([`take_over_patch`]).
//!
//! A hand-over or a retain ([`retain_patch`]) is one merge patch of the identity labels and
//! marks only; after a hand-over, what else the namespace holds is applied like any object,
//! by server-side apply. What the create or a holder change wrote is held by the
//! operator's `Update` entry, which apply does not prune: [`write::write_if_changed`]
//! removes it once the desired namespace drops it (a class that no longer allows load
//! balancers, a previous holder's labels after a hand-over).
//!
//! The steady state costs nothing: a namespace the inventory shows unchanged since the
//! operator applied it (with this tenant's UID) is not read. Nor is one the inventory knows
//! nothing of: it is created at once, and only if that create finds the name taken is the
//! namespace read and decided on.

use std::fmt;

use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};

use super::compare::fingerprint;
use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::write::{self, Change};
use crate::api::TenantService;
use crate::kinds::ManagedKind;
use crate::labels;

/// A tenant's identity: its name and UID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The TenantService's name.
    pub name: &'a str,
    /// Its UID; `None` only for a manifest that was never created.
    pub uid: Option<&'a str>,
}

impl<'a> Identity<'a> {
    /// The identity of `tenant`.
    pub fn of(tenant: &'a TenantService) -> Self {
        Identity {
            name: tenant.metadata.name.as_deref().unwrap_or_default(),
            uid: tenant.metadata.uid.as_deref(),
        }
    }
}

/// Who holds a namespace, as its labels and annotations say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The operator never managed it (or someone removed every tenancy label).
    Unmanaged,
    /// Managed by the operator for a tenant.
    Tenant {
        /// The tenant's name.
        name: String,
        /// Its UID; `None` on namespaces made before UIDs were recorded.
        uid: Option<String>,
    },
    /// Kept after its tenant or environment was removed (`deletionPolicy: Retain`).
    Retained {
        /// The tenant it was retained from.
        name: String,
        /// That tenant's UID, when recorded.
        uid: Option<String>,
        /// When it was retained (RFC 3339), when recorded.
        since: Option<String>,
    },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uid = |uid: &Option<String>| {
            uid.as_deref()
                .map_or_else(String::new, |uid| format!(" (uid {uid})"))
        };
        match self {
            Holder::Unmanaged => f.write_str("it exists and tenant-operator does not manage it"),
            Holder::Tenant { name, uid: u } => {
                write!(f, "it belongs to tenant {name:?}{}", uid(u))
            }
            Holder::Retained {
                name,
                uid: u,
                since,
            } => {
                write!(f, "it was retained from tenant {name:?}{}", uid(u))?;
                match since {
                    Some(since) => write!(f, " at {since}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What to do with the namespace a tenant's environment needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// None exists: create it.
    Create,
    /// It is this tenant's.
    Owned,
    /// A datacenter operator hands it over to this tenant; `previous` held it.
    HandOver {
        /// Who held it until now.
        previous: Holder,
    },
    /// It is someone else's: leave it alone.
    NotOwned {
        /// Who holds it.
        holder: Holder,
    },
}

fn label<'v>(object: &'v Value, section: &str, key: &str) -> Option<&'v str> {
    object.get("metadata")?.get(section)?.get(key)?.as_str()
}

/// Who holds the live namespace `live`.
pub fn holder_of(live: &Value) -> Holder {
    let managed = label(live, "labels", labels::MANAGED_BY_KEY) == Some(labels::MANAGED_BY_VALUE);
    let tenant = label(live, "labels", labels::TENANT).map(str::to_string);
    let uid = label(live, "labels", labels::TENANT_UID).map(str::to_string);
    match tenant {
        Some(name) if managed => Holder::Tenant { name, uid },
        Some(name) => Holder::Retained {
            name,
            uid,
            since: label(live, "annotations", labels::RETAINED_AT).map(str::to_string),
        },
        None => Holder::Unmanaged,
    }
}

/// Whether the live namespace is managed for `me`: carrying its UID, or (a namespace made
/// before UIDs were recorded, which only the operator could label so) its name. A retained
/// namespace is not managed, whoever it was retained from.
pub fn is_owned(live: &Value, me: &Identity) -> bool {
    match holder_of(live) {
        Holder::Tenant { name, uid } => match (uid.as_deref(), me.uid) {
            (Some(theirs), Some(mine)) => theirs == mine,
            (Some(_), None) => false,
            (None, _) => name == me.name,
        },
        Holder::Unmanaged | Holder::Retained { .. } => false,
    }
}

/// Decides what `me` may do with the namespace `live` (`None`: there is none).
/// `is_live_tenant(name, uid)` says whether a TenantService of that name (and UID, when
/// given) exists: a live tenant's namespace is never handed over by annotation.
pub fn decide(
    live: Option<&Value>,
    me: &Identity,
    is_live_tenant: impl Fn(&str, Option<&str>) -> bool,
) -> Decision {
    let Some(live) = live else {
        return Decision::Create;
    };
    if is_owned(live, me) {
        return Decision::Owned;
    }
    let holder = holder_of(live);
    let handed_to_me = label(live, "annotations", labels::HAND_OVER_TO) == Some(me.name);
    let held_by_live_tenant = match &holder {
        Holder::Tenant { name, uid } => is_live_tenant(name, uid.as_deref()),
        Holder::Unmanaged | Holder::Retained { .. } => false,
    };
    if handed_to_me && !held_by_live_tenant && me.uid.is_some() {
        Decision::HandOver { previous: holder }
    } else {
        Decision::NotOwned { holder }
    }
}

/// The merge patch that gives the live namespace `me`'s identity and consumes the hand-over:
/// the tenant and UID labels set, the retained marks and the hand-over annotation removed,
/// on the condition (its resourceVersion) that nobody changed the namespace since it was
/// decided on.
pub fn take_over_patch(live: &Value, me: &Identity) -> Value {
    json!({
        "metadata": {
            "resourceVersion": live.pointer("/metadata/resourceVersion"),
            "labels": {
                labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE,
                labels::TENANT: me.name,
                labels::TENANT_UID: me.uid,
                labels::RETAINED: null,
            },
            "annotations": {
                labels::HAND_OVER_TO: null,
                labels::RETAINED_AT: null,
            },
        }
    })
}

/// The merge patch that retains (detaches) the live namespace of `me`: `managed-by`
/// removed, `retained: "true"` and the time (`retained_at`, RFC 3339) recorded, the tenant
/// and UID labels kept to say whom it was retained from; on the resourceVersion it was
/// decided on.
pub fn retain_patch(live: &Value, me: &Identity, retained_at: &str) -> Value {
    json!({
        "metadata": {
            "resourceVersion": live.pointer("/metadata/resourceVersion"),
            "labels": {
                labels::MANAGED_BY_KEY: null,
                labels::RETAINED: "true",
                labels::TENANT: me.name,
                labels::TENANT_UID: me.uid,
            },
            "annotations": {
                labels::RETAINED_AT: retained_at,
            },
        }
    })
}

/// What claiming a namespace did.
#[derive(Clone, Debug)]
pub enum Claim {
    /// The namespace is this tenant's and now as desired.
    Owned(Change),
    /// It was handed over to this tenant: what the previous holder had was deleted first.
    HandedOver {
        /// What writing the namespace did.
        change: Change,
        /// Who held it.
        previous: Holder,
        /// The managed objects of the previous holder, deleted.
        purged: Vec<ObjectKey>,
    },
    /// It is someone else's; nothing was written.
    NotOwned(Holder),
}

/// Makes the namespace `key` as `body` (the rendered namespace) if it is, or may become,
/// `tenant`'s; see the module documentation.
pub async fn claim(
    tenant: &TenantService,
    ctx: &Context,
    key: &ObjectKey,
    body: &Value,
) -> Result<Claim, Error> {
    let fingerprint = fingerprint(body);
    if write::known_as_desired(ctx, key, fingerprint).is_some() {
        return Ok(Claim::Owned(Change::Unchanged));
    }
    let me = Identity::of(tenant);
    let desired = write::Desired {
        key,
        body,
        fingerprint,
        certificate: None,
        renewal: false,
    };
    // Nothing is known of a namespace of that name: there most likely is none (a new
    // tenant or environment), so it is created straight away, without reading first. The
    // create fails if a namespace of that name exists, whoever made it; that one is then
    // read and decided on below, as any namespace the inventory knows.
    if !ctx.inventory.knows(key) {
        match write::create(ctx, &desired).await {
            Ok(change) => return Ok(Claim::Owned(change)),
            Err(error) if error.is_already_exists() => {}
            Err(error) => return Err(error),
        }
    }
    // Unmanaged namespaces are not in the inventory: read it whatever the inventory says.
    let live = write::read_live(ctx, key).await?;
    let is_live_tenant = |name: &str, uid: Option<&str>| {
        ctx.tenants
            .get(&ObjectRef::new(name))
            .is_some_and(|t| uid.is_none_or(|uid| t.metadata.uid.as_deref() == Some(uid)))
    };
    match (decide(live.as_ref(), &me, is_live_tenant), &live) {
        (Decision::Owned, _) => Ok(Claim::Owned(
            write::write_if_changed(ctx, &desired, live.as_ref()).await?,
        )),
        (Decision::Create, _) => Ok(Claim::Owned(write::create(ctx, &desired).await?)),
        (Decision::HandOver { previous }, Some(live)) => {
            let purged = purge(ctx, &key.name).await?;
            let taken = write::set_holder(ctx, key, &take_over_patch(live, &me)).await?;
            ctx.inventory.forget_applied_in_namespace(&key.name);
            // From the namespace as taken over: what the previous holder's create wrote
            // and this tenant does not want is removed, not kept.
            let change = write::write_if_changed(ctx, &desired, Some(&taken)).await?;
            tracing::info!(namespace = %key.name, %previous, purged = purged.len(), "namespace handed over");
            Ok(Claim::HandedOver {
                change,
                previous,
                purged,
            })
        }
        (Decision::NotOwned { holder }, _) | (Decision::HandOver { previous: holder }, None) => {
            Ok(Claim::NotOwned(holder))
        }
    }
}

/// Deletes every object the operator manages in `namespace`, whoever it was made for.
/// Returns what it deleted.
pub async fn purge(ctx: &Context, namespace: &str) -> Result<Vec<ObjectKey>, Error> {
    delete_managed(ctx, namespace, &ManagedKind::ALL[1..]).await
}

/// Removes the access that tenants' groups (and the monitoring stack) were given in
/// `namespace`: its managed RoleBindings. Returns what it deleted.
pub async fn revoke_access(ctx: &Context, namespace: &str) -> Result<Vec<ObjectKey>, Error> {
    delete_managed(ctx, namespace, &[ManagedKind::RoleBinding]).await
}

async fn delete_managed(
    ctx: &Context,
    namespace: &str,
    kinds: &[ManagedKind],
) -> Result<Vec<ObjectKey>, Error> {
    let mut deleted = Vec::new();
    for &kind in kinds {
        for key in write::list_managed(ctx, kind, namespace).await? {
            write::delete(ctx, &key).await?;
            ctx.inventory.forget_applied(&key);
            deleted.push(key);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINE: &str = "11111111-1111-4111-8111-111111111111";
    const THEIRS: &str = "22222222-2222-4222-8222-222222222222";

    fn me() -> Identity<'static> {
        Identity {
            name: "agenzia-sanita",
            uid: Some(MINE),
        }
    }

    fn namespace(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "agenzia-sanita-prod", "resourceVersion": "7",
                            "labels": labels, "annotations": annotations}})
    }

    fn managed(tenant: &str, uid: Option<&str>) -> Value {
        let mut labels =
            json!({labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE, labels::TENANT: tenant});
        if let Some(uid) = uid {
            labels[labels::TENANT_UID] = json!(uid);
        }
        labels
    }

    fn nobody_is_live(_: &str, _: Option<&str>) -> bool {
        false
    }

    #[test]
    fn an_absent_namespace_is_created_and_one_with_this_tenants_uid_is_its_own() {
        assert_eq!(decide(None, &me(), nobody_is_live), Decision::Create);
        let ours = namespace(managed("agenzia-sanita", Some(MINE)), json!({}));
        assert_eq!(decide(Some(&ours), &me(), nobody_is_live), Decision::Owned);
        // Its own namespace, retained when the environment was removed, is detached: it
        // comes back only by a hand-over.
        let retained = namespace(
            json!({labels::TENANT: "agenzia-sanita", labels::TENANT_UID: MINE, labels::RETAINED: "true"}),
            json!({}),
        );
        assert!(matches!(
            decide(Some(&retained), &me(), nobody_is_live),
            Decision::NotOwned {
                holder: Holder::Retained { .. }
            }
        ));
        // Made by a version that did not record UIDs: managed for this name.
        let legacy = namespace(managed("agenzia-sanita", None), json!({}));
        assert_eq!(
            decide(Some(&legacy), &me(), nobody_is_live),
            Decision::Owned
        );
    }

    #[test]
    fn unmanaged_another_tenants_and_retained_namespaces_are_not_owned() {
        let unmanaged = namespace(json!({"team": "x"}), json!({}));
        assert_eq!(
            decide(Some(&unmanaged), &me(), nobody_is_live),
            Decision::NotOwned {
                holder: Holder::Unmanaged
            }
        );
        // `agenzia` + `sanita-prod` holds it.
        let other = namespace(managed("agenzia", Some(THEIRS)), json!({}));
        let Decision::NotOwned { holder } = decide(Some(&other), &me(), nobody_is_live) else {
            panic!("another tenant's namespace")
        };
        assert_eq!(
            holder.to_string(),
            format!("it belongs to tenant \"agenzia\" (uid {THEIRS})")
        );
        // The same name, another UID: a deleted tenant of the same name.
        let same_name = namespace(managed("agenzia-sanita", Some(THEIRS)), json!({}));
        assert!(matches!(
            decide(Some(&same_name), &me(), nobody_is_live),
            Decision::NotOwned { .. }
        ));
        let retained = namespace(
            json!({labels::TENANT: "agenzia", labels::TENANT_UID: THEIRS, labels::RETAINED: "true"}),
            json!({labels::RETAINED_AT: "2026-11-30T10:00:00Z"}),
        );
        let Decision::NotOwned { holder } = decide(Some(&retained), &me(), nobody_is_live) else {
            panic!("a retained namespace")
        };
        assert_eq!(
            holder.to_string(),
            format!(
                "it was retained from tenant \"agenzia\" (uid {THEIRS}) at 2026-11-30T10:00:00Z"
            )
        );
        // A legacy namespace without UID is not adopted by a tenant with another name.
        let legacy = namespace(managed("agenzia", None), json!({}));
        assert!(!is_owned(&legacy, &me()));
    }

    #[test]
    fn a_hand_over_names_the_tenant_and_never_takes_a_live_tenants_namespace() {
        let hand_over = json!({labels::HAND_OVER_TO: "agenzia-sanita"});
        let retained = namespace(
            json!({labels::TENANT: "agenzia", labels::TENANT_UID: THEIRS, labels::RETAINED: "true"}),
            hand_over.clone(),
        );
        assert!(matches!(
            decide(Some(&retained), &me(), nobody_is_live),
            Decision::HandOver {
                previous: Holder::Retained { .. }
            }
        ));
        let unmanaged = namespace(json!({}), hand_over.clone());
        assert_eq!(
            decide(Some(&unmanaged), &me(), nobody_is_live),
            Decision::HandOver {
                previous: Holder::Unmanaged
            }
        );
        // Named for another tenant: not for this one.
        let elsewhere = namespace(json!({}), json!({labels::HAND_OVER_TO: "agenzia"}));
        assert!(matches!(
            decide(Some(&elsewhere), &me(), nobody_is_live),
            Decision::NotOwned { .. }
        ));
        // A live tenant's namespace stays its own, annotation or not.
        let live = namespace(managed("agenzia", Some(THEIRS)), hand_over.clone());
        let agenzia_lives =
            |name: &str, uid: Option<&str>| name == "agenzia" && uid == Some(THEIRS);
        assert!(matches!(
            decide(Some(&live), &me(), agenzia_lives),
            Decision::NotOwned { .. }
        ));
        // ... but one whose tenant is gone (deleted without its finalizer) may be handed over.
        assert!(matches!(
            decide(Some(&live), &me(), nobody_is_live),
            Decision::HandOver { .. }
        ));
    }

    #[test]
    fn the_take_over_sets_the_identity_and_consumes_the_marks_on_the_version_decided_on() {
        let retained = namespace(
            json!({labels::TENANT: "agenzia", labels::TENANT_UID: THEIRS, labels::RETAINED: "true"}),
            json!({labels::HAND_OVER_TO: "agenzia-sanita", labels::RETAINED_AT: "2026-11-30T10:00:00Z"}),
        );
        let mut after = retained.clone();
        crate::fixtures::merge(&mut after, take_over_patch(&retained, &me()));
        assert_eq!(after["metadata"]["resourceVersion"], "7");
        assert_eq!(
            after["metadata"]["labels"],
            json!({labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE,
                   labels::TENANT: "agenzia-sanita", labels::TENANT_UID: MINE})
        );
        assert_eq!(after["metadata"]["annotations"], json!({}));
        assert!(is_owned(&after, &me()));
        // Retaining it again: detached, marked, still naming whom it was retained from.
        let mut retained_again = after.clone();
        crate::fixtures::merge(
            &mut retained_again,
            retain_patch(&after, &me(), "2026-12-02T23:00:00Z"),
        );
        assert!(!is_owned(&retained_again, &me()));
        assert_eq!(
            holder_of(&retained_again),
            Holder::Retained {
                name: "agenzia-sanita".into(),
                uid: Some(MINE.into()),
                since: Some("2026-12-02T23:00:00Z".into())
            }
        );
    }
}
