//! The apply step: makes every rendered object as desired (namespaces first, then what goes
//! in them), keeps each environment's TLS Secret issued, and returns the [`Applied`] set.
//! A namespace is claimed first ([`ownership::claim`]): an environment whose namespace is
//! not this tenant's gets nothing, and the others proceed.
//!
//! [`Applied`] can only be built here, from writes that succeeded: the status step takes
//! it as input, so the types say that a Ready status reflects objects that were applied.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::ResourceExt;
use serde_json::Value;

use super::certificates::{self, CertificateOutcome};
use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::ownership::{self, Claim, Holder};
use super::write::{self, Change};
use crate::api::TenantService;
use crate::kinds::ManagedKind;
use crate::render::Desired;

/// What the apply step made: every desired object with what writing it did, and the
/// certificates now in the TLS Secrets.
#[derive(Clone, Debug)]
pub struct Applied {
    objects: Vec<(ObjectKey, Change)>,
    certificates: Vec<CertificateOutcome>,
    not_owned: Vec<NotOwned>,
    handed_over: Vec<HandedOver>,
}

/// A namespace the tenant needs that is someone else's: nothing was written in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotOwned {
    /// The namespace.
    pub namespace: String,
    /// Who holds it.
    pub holder: Holder,
}

/// A namespace handed over to the tenant by a datacenter operator in this reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandedOver {
    /// The namespace.
    pub namespace: String,
    /// Who held it.
    pub previous: Holder,
    /// The previous holder's managed objects, deleted before anything was granted.
    pub purged: Vec<ObjectKey>,
}

impl Applied {
    /// Every object applied, TLS Secrets included, with what writing it did.
    pub fn changes(&self) -> impl Iterator<Item = (&ObjectKey, Change)> {
        self.objects
            .iter()
            .map(|(key, change)| (key, *change))
            .chain(self.certificates.iter().map(|c| (&c.key, c.change)))
    }

    /// Every object applied, TLS Secrets included.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.changes().map(|(key, _)| key)
    }

    /// How many objects of each kind were applied, TLS Secrets included: the count the
    /// status gives (see [`crate::kinds::ObjectCounts`]).
    pub fn counts(&self) -> crate::kinds::ObjectCounts {
        let mut counts = crate::kinds::ObjectCounts::default();
        for key in self.keys() {
            counts.add(key.kind);
        }
        counts
    }

    /// The objects applied other than TLS Secrets.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.iter().map(|(key, _)| key)
    }

    /// The tenant's namespaces, sorted.
    pub fn namespaces(&self) -> BTreeSet<&str> {
        self.objects()
            .filter(|key| key.kind == ManagedKind::Namespace)
            .map(|key| &*key.name)
            .collect()
    }

    /// The certificate of each TLS Secret.
    pub fn certificates(&self) -> &[CertificateOutcome] {
        &self.certificates
    }

    /// The namespaces the tenant needs that are someone else's.
    pub fn not_owned(&self) -> &[NotOwned] {
        &self.not_owned
    }

    /// The namespaces handed over to the tenant in this reconcile.
    pub fn handed_over(&self) -> &[HandedOver] {
        &self.handed_over
    }

    /// When to look at the tenant again without a trigger: after `resync`, or earlier when
    /// a certificate is due for renewal.
    pub fn next_check(&self, resync: Duration, now: jiff::Timestamp) -> Duration {
        self.certificates.iter().fold(resync, |next, certificate| {
            let due = certificates::renew_at(&certificate.info).as_second() - now.as_second();
            let next = next.min(Duration::from_secs(due.max(1).unsigned_abs()));
            // A leaf waiting for its turn to be re-issued after a CA rotation.
            certificate.retry_after.map_or(next, |wait| next.min(wait))
        })
    }

    /// An applied set made of given parts, for unit tests of what is computed from it.
    #[cfg(test)]
    pub(crate) fn from_parts(
        objects: Vec<(ObjectKey, Change)>,
        certificates: Vec<CertificateOutcome>,
    ) -> Applied {
        Applied {
            objects,
            certificates,
            not_owned: Vec::new(),
            handed_over: Vec::new(),
        }
    }
}

/// Applies `desired` for `tenant`. Fails before writing anything if one of its namespaces
/// is being deleted (it must be gone before it can be made again). Writes nothing in a
/// namespace that is not the tenant's (see [`ownership`]): such environments are listed in
/// [`Applied::not_owned`].
pub async fn apply(
    tenant: &TenantService,
    ctx: &Context,
    desired: &Desired,
    now: jiff::Timestamp,
) -> Result<Applied, Error> {
    let objects = desired_objects(desired)?;
    let terminating: Vec<String> = objects
        .iter()
        .filter(|(key, _)| key.kind == ManagedKind::Namespace)
        .filter(|(key, _)| ctx.inventory.live(key).is_some_and(|live| live.deleting))
        .map(|(key, _)| key.name.to_string())
        .collect();
    if !terminating.is_empty() {
        return Err(Error::NamespacesTerminating {
            namespaces: terminating,
        });
    }
    let mut applied = Applied {
        objects: Vec::with_capacity(objects.len()),
        certificates: Vec::with_capacity(desired.certificates.len()),
        not_owned: Vec::new(),
        handed_over: Vec::new(),
    };
    // Namespaces come first (render's order), so each is claimed before what goes in it.
    let mut owned = BTreeSet::new();
    for (key, body) in objects {
        if key.kind == ManagedKind::Namespace {
            let change = match ownership::claim(tenant, ctx, &key, &body).await? {
                Claim::Owned(change) => change,
                Claim::HandedOver {
                    change,
                    previous,
                    purged,
                } => {
                    applied.handed_over.push(HandedOver {
                        namespace: key.name.to_string(),
                        previous,
                        purged,
                    });
                    change
                }
                Claim::NotOwned(holder) => {
                    applied.not_owned.push(NotOwned {
                        namespace: key.name.to_string(),
                        holder,
                    });
                    continue;
                }
            };
            owned.insert(key.name.clone());
            applied.objects.push((key, change));
        } else if key
            .namespace
            .as_deref()
            .is_some_and(|ns| owned.contains(ns))
        {
            let change = write::ensure(ctx, &key, &body).await?;
            applied.objects.push((key, change));
        }
    }
    let name = tenant.name_any();
    for request in desired
        .certificates
        .iter()
        .filter(|request| owned.contains(request.namespace.as_str()))
    {
        let outcome = certificates::ensure(ctx, request, now).await?;
        ctx.metrics
            .set_certificate_expiry(&name, &outcome.environment, outcome.info.not_after);
        applied.certificates.push(outcome);
    }
    Ok(applied)
}

/// The rendered objects with their keys, as JSON, in the order render gives (namespaces
/// first).
fn desired_objects(desired: &Desired) -> Result<Vec<(ObjectKey, Value)>, Error> {
    desired
        .objects
        .iter()
        .map(|child| {
            let key = ObjectKey::new(child.kind(), child.namespace(), child.name());
            match child.to_json() {
                Ok(body) => Ok((key, body)),
                Err(source) => Err(Error::Serialize {
                    what: key.to_string(),
                    source,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertificateInfo;

    fn certificate(not_before: i64, not_after: i64) -> CertificateOutcome {
        CertificateOutcome {
            key: ObjectKey::new(ManagedKind::Secret, Some("a-prod"), "a-tls"),
            info: CertificateInfo {
                serial: "01".into(),
                not_before: jiff::Timestamp::from_second(not_before).unwrap(),
                not_after: jiff::Timestamp::from_second(not_after).unwrap(),
                dns_names: vec!["a.example.it".into()],
            },
            issued: None,
            change: Change::Unchanged,
            environment: "prod".into(),
            retry_after: None,
        }
    }

    #[test]
    fn the_next_check_is_the_resync_or_the_first_renewal() {
        let resync = Duration::from_secs(300);
        let now = jiff::Timestamp::from_second(1000).unwrap();
        let none = Applied::from_parts(vec![], vec![]);
        assert_eq!(none.next_check(resync, now), resync);
        // Valid 1000..4000: renewed from 3000, 2000 s from now; later than the resync.
        let far = Applied::from_parts(vec![], vec![certificate(1000, 4000)]);
        assert_eq!(far.next_check(resync, now), resync);
        // Valid 1000..1300: renewed from 1200, 200 s from now.
        let soon = Applied::from_parts(vec![], vec![certificate(1000, 1300)]);
        assert_eq!(soon.next_check(resync, now), Duration::from_secs(200));
        // Overdue: at once, but never a zero delay.
        let overdue = Applied::from_parts(vec![], vec![certificate(0, 900)]);
        assert_eq!(overdue.next_check(resync, now), Duration::from_secs(1));
    }

    #[test]
    fn namespaces_and_keys_include_what_was_applied() {
        let namespace = ObjectKey::new(ManagedKind::Namespace, None, "a-prod");
        let policy = ObjectKey::new(ManagedKind::NetworkPolicy, Some("a-prod"), "deny");
        let applied = Applied::from_parts(
            vec![
                (namespace.clone(), Change::Created),
                (policy.clone(), Change::Unchanged),
            ],
            vec![certificate(1000, 4000)],
        );
        assert_eq!(
            applied.namespaces().into_iter().collect::<Vec<_>>(),
            ["a-prod"]
        );
        assert_eq!(applied.keys().count(), 3);
        assert_eq!(applied.objects().count(), 2);
        assert_eq!(
            applied.changes().map(|(_, c)| c).collect::<Vec<_>>(),
            [Change::Created, Change::Unchanged, Change::Unchanged]
        );
    }
}
