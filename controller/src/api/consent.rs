//! Consent bound to identity: an `allowFrom` entry names a tenant, and the consent holds
//! only for the tenant of that name it was given to, by UID, so that a tenant deleted and
//! created again (possibly by another body) under the same name does not inherit it.
//!
//! Why the UID is recorded rather than required in the spec: tenancy requests are files in
//! Git, written before the peer exists and applied to more than one cluster (and restored
//! from backups), where UIDs differ; a UID in every entry would make the common case
//! unwritable. So an entry may name the UID (`allowFrom[].uid`), and when it does not, the
//! operator binds it to the UID of the tenant of that name when it first sees one, and
//! records the binding in `status.consentedPeers` (trust on first use, the way SSH binds a
//! host name to its key). A peer whose UID differs from the binding is another tenant: no
//! traffic with it until the entry names its UID. Both sides' bindings must hold for the
//! pair to be connected, and the rendered NetworkPolicies select the peer's namespaces by
//! its UID label too, so a re-created peer's namespaces do not match even before the
//! operator has reconciled the tenant that consented.
//!
//! The record is only as trustworthy as the status it is kept in: `status` is written by the
//! operator alone (the `protect-tenant-status` admission policy refuses every other writer
//! of `tenantservices/status`, and the API server drops a `status` sent with the object),
//! so nobody can pre-seed or clear a binding to steer the next first sight. What first
//! sight cannot know: a consent written before its peer exists binds to whichever tenant of
//! that name is created first; naming the UID removes that choice.
//!
//! A tenant being deleted is never bound on first sight: it is on its way out, and binding
//! to it would refuse its successor for no reason.
//!
//! Pure; a tenant or peer without UID (a manifest not created yet, as `render` and `audit`
//! see files) is bound to nothing and treated by name, as before it exists.

use kube::ResourceExt;

use super::{ConsentedPeer, TenantService};

/// The UID `tenant`'s consent to the tenant named `peer` is bound to: the UID its entry
/// names, else the one recorded in its status; `None` when not bound yet.
pub fn bound_uid<'a>(tenant: &'a TenantService, peer: &str) -> Option<&'a str> {
    let entry = tenant
        .spec
        .network
        .as_ref()?
        .allow_from
        .iter()
        .find(|entry| entry.tenant == peer)?;
    entry.uid.as_deref().or_else(|| {
        tenant
            .status
            .as_ref()?
            .consented_peers
            .iter()
            .find(|record| record.tenant == peer)
            .map(|record| record.uid.as_str())
    })
}

/// Whether `tenant`'s consent to `peer` (if it gives one) holds for `peer` as it is: bound
/// to its UID, or not bound yet (it will be bound to this one).
pub fn holds_for(tenant: &TenantService, peer: &TenantService) -> bool {
    match (
        bound_uid(tenant, &peer.name_any()),
        peer.metadata.uid.as_deref(),
    ) {
        (Some(bound), Some(current)) => bound == current,
        _ => true,
    }
}

/// The bindings to record in `status.consentedPeers`, one per `allowFrom` entry that is
/// bound: to the UID it names, to the UID recorded before, or (first sight) to the UID of
/// the tenant of that name among `peers`. Sorted by tenant.
pub fn bindings(tenant: &TenantService, peers: &[TenantService]) -> Vec<ConsentedPeer> {
    let Some(network) = &tenant.spec.network else {
        return Vec::new();
    };
    let mut bindings: Vec<ConsentedPeer> = network
        .allow_from
        .iter()
        .filter_map(|entry| {
            let uid = bound_uid(tenant, &entry.tenant)
                .map(str::to_string)
                .or_else(|| {
                    peers
                        .iter()
                        .find(|peer| peer.metadata.name.as_deref() == Some(entry.tenant.as_str()))
                        .filter(|peer| peer.metadata.deletion_timestamp.is_none())
                        .and_then(|peer| peer.metadata.uid.clone())
                })?;
            Some(ConsentedPeer {
                tenant: entry.tenant.clone(),
                uid,
            })
        })
        .collect();
    bindings.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    bindings.dedup_by(|a, b| a.tenant == b.tenant);
    bindings
}

/// An `allowFrom` entry whose tenant exists, but is not the one the consent is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// Index of the entry in `spec.network.allowFrom`.
    pub index: usize,
    /// The tenant it names.
    pub tenant: String,
    /// The UID the consent is bound to.
    pub consented: String,
    /// The UID of the tenant of that name now.
    pub current: String,
    /// Whether `consented` is the UID the entry names (`allowFrom[].uid`), rather than the
    /// one recorded on first sight.
    pub named: bool,
}

/// The entries of `tenant` whose tenant among `peers` is not the one consented to.
pub fn replaced(tenant: &TenantService, peers: &[TenantService]) -> Vec<Replaced> {
    let Some(network) = &tenant.spec.network else {
        return Vec::new();
    };
    network
        .allow_from
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let consented = bound_uid(tenant, &entry.tenant)?;
            let current = peers
                .iter()
                .find(|peer| peer.metadata.name.as_deref() == Some(entry.tenant.as_str()))?
                .metadata
                .uid
                .as_deref()?;
            (consented != current).then(|| Replaced {
                index,
                tenant: entry.tenant.clone(),
                consented: consented.to_string(),
                current: current.to_string(),
                named: entry.uid.is_some(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::named_tenant;

    const FIRST: &str = "11111111-1111-4111-8111-111111111111";
    const SECOND: &str = "22222222-2222-4222-8222-222222222222";

    fn with_uid(mut tenant: TenantService, uid: &str) -> TenantService {
        tenant.metadata.uid = Some(uid.to_string());
        tenant
    }

    fn regione(uid: &str) -> TenantService {
        with_uid(
            named_tenant(
                "regione-puglia",
                json!({"network": {"allowFrom": [{"tenant": "comune-molfetta"}]}}),
            ),
            uid,
        )
    }

    #[test]
    fn a_consent_is_bound_on_first_sight_and_does_not_pass_to_a_recreated_tenant() {
        // comune-molfetta's fixture consents to regione-puglia.
        let molfetta = named_tenant("comune-molfetta", json!({}));
        assert_eq!(bound_uid(&molfetta, "regione-puglia"), None);
        assert!(holds_for(&molfetta, &regione(FIRST)));
        let recorded = bindings(&molfetta, &[regione(FIRST)]);
        assert_eq!(
            recorded,
            [ConsentedPeer {
                tenant: "regione-puglia".into(),
                uid: FIRST.into()
            }]
        );
        // Once recorded, it stays bound to that tenant.
        let mut bound = molfetta.clone();
        bound.status = Some(crate::api::TenantServiceStatus {
            consented_peers: recorded,
            ..Default::default()
        });
        assert!(holds_for(&bound, &regione(FIRST)));
        assert!(!holds_for(&bound, &regione(SECOND)));
        assert_eq!(bindings(&bound, &[regione(SECOND)])[0].uid, FIRST);
        assert_eq!(
            replaced(&bound, &[regione(SECOND)]),
            [Replaced {
                index: 0,
                tenant: "regione-puglia".into(),
                consented: FIRST.into(),
                current: SECOND.into(),
                named: false
            }]
        );
        assert!(replaced(&bound, &[regione(FIRST)]).is_empty());
        // The entry naming the new UID consents to the new tenant.
        let mut renewed = bound.clone();
        renewed.spec.network.as_mut().expect("network").allow_from[0].uid = Some(SECOND.into());
        assert!(holds_for(&renewed, &regione(SECOND)));
        assert_eq!(bindings(&renewed, &[regione(SECOND)])[0].uid, SECOND);
        // A removed entry drops its binding.
        let mut withdrawn = bound;
        withdrawn
            .spec
            .network
            .as_mut()
            .expect("network")
            .allow_from
            .clear();
        assert!(bindings(&withdrawn, &[regione(FIRST)]).is_empty());
    }

    #[test]
    fn a_tenant_being_deleted_is_not_bound_on_first_sight() {
        let molfetta = named_tenant("comune-molfetta", json!({}));
        let mut leaving = regione(FIRST);
        leaving.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert!(bindings(&molfetta, &[leaving.clone()]).is_empty());
        // Its successor is then bound, and is not reported as a replacement.
        assert_eq!(bindings(&molfetta, &[regione(SECOND)])[0].uid, SECOND);
        assert!(replaced(&molfetta, &[regione(SECOND)]).is_empty());
        // A binding made before the deletion began stays.
        let mut bound = molfetta;
        bound.status = Some(crate::api::TenantServiceStatus {
            consented_peers: bindings(&bound, &[regione(FIRST)]),
            ..Default::default()
        });
        assert_eq!(bindings(&bound, &[leaving])[0].uid, FIRST);
    }

    #[test]
    fn a_named_uid_that_is_not_the_tenants_is_reported_as_named() {
        let molfetta = named_tenant(
            "comune-molfetta",
            json!({"network": {"allowFrom": [{"tenant": "regione-puglia", "uid": FIRST}]}}),
        );
        let replaced = replaced(&molfetta, &[regione(SECOND)]);
        assert_eq!(replaced.len(), 1);
        assert!(replaced[0].named);
        assert_eq!(replaced[0].consented, FIRST);
    }

    #[test]
    fn manifests_without_uids_are_taken_by_name() {
        let molfetta = named_tenant(
            "comune-molfetta",
            json!({"network": {"allowFrom": [{"tenant": "regione-puglia", "uid": FIRST}]}}),
        );
        let file = named_tenant("regione-puglia", json!({}));
        assert!(holds_for(&molfetta, &file));
        assert!(bindings(&named_tenant("comune-molfetta", json!({})), &[file]).is_empty());
    }
}
