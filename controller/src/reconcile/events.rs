//! Events on the TenantService: which changes make which Event (pure, [`change_events`]),
//! and publishing them. A reconcile that changes nothing publishes nothing.

use std::collections::BTreeSet;

use kube::runtime::events::{Event, EventType};

use super::apply::Applied;
use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::prune::Pruned;
use super::write::{self, Change};
use crate::api::{DeletionPolicy, TenantService};
use crate::labels;

/// Longest Event note the API server accepts (1 kB).
const MAX_NOTE: usize = 1000;

/// One Event to publish on a TenantService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Normal or Warning.
    pub type_: EventType,
    /// CamelCase reason, from a fixed set.
    pub reason: &'static str,
    /// The step that acted, from a fixed set.
    pub action: &'static str,
    /// What happened, for people.
    pub note: String,
}

impl Notice {
    fn normal(reason: &'static str, action: &'static str, note: String) -> Notice {
        Notice {
            type_: EventType::Normal,
            reason,
            action,
            note,
        }
    }
}

/// The Events of a successful reconcile, from what it applied and pruned:
///
/// | what happened | Event |
/// | --- | --- |
/// | objects created (a new tenant or environment) | `Provisioned`, with the certificates issued |
/// | certificates issued, nothing created | `CertificateIssued` |
/// | objects updated (the spec changed) | `Updated` |
/// | objects restored after someone changed them | Warning `DriftCorrected` |
/// | objects deleted from kept namespaces | `Pruned` |
/// | namespaces of removed environments | `NamespacesRetained` or `NamespacesDeleting` |
/// | a namespace handed over to the tenant | `NamespaceHandedOver`, with what was deleted |
/// | a namespace the tenant needs is someone else's (when the status says so anew) | Warning `NamespaceNotOwned` |
/// | the status became Ready without a creation | `Ready` |
pub fn change_events(
    applied: &Applied,
    pruned: &Pruned,
    status_changed: bool,
    was_ready: bool,
) -> Vec<Notice> {
    let with = |wanted: Change| -> Vec<&ObjectKey> {
        applied
            .changes()
            .filter(|(_, change)| *change == wanted)
            .map(|(key, _)| key)
            .collect()
    };
    let created = with(Change::Created);
    let updated = with(Change::Updated);
    let drifted = with(Change::DriftCorrected);
    let issued: Vec<String> = applied
        .certificates()
        .iter()
        .filter_map(|c| {
            c.issued.as_ref().map(|reason| {
                format!(
                    "certificate {} for {} in {} ({}), valid until {}",
                    c.info.serial,
                    c.info.dns_names.join(", "),
                    c.key,
                    reason.as_str(),
                    c.info.not_after
                )
            })
        })
        .collect();
    let mut notices = Vec::new();
    for handed in applied.handed_over() {
        let purged: Vec<&ObjectKey> = handed.purged.iter().collect();
        notices.push(Notice::normal(
            "NamespaceHandedOver",
            "Apply",
            format!(
                "namespace {} handed over to this tenant by the {} annotation ({}); deleted first what the operator managed there: {}",
                handed.namespace,
                labels::HAND_OVER_TO,
                handed.previous,
                if purged.is_empty() { "nothing".to_string() } else { join(&purged) }
            ),
        ));
    }
    if !created.is_empty() {
        // One Event for a new tenant (or environment): what was created, certificates
        // included, so that provisioning 8,000 tenants costs 8,000 Events, not 24,000.
        let namespaces: BTreeSet<&str> = created
            .iter()
            .map(|k| k.namespace.as_deref().unwrap_or(&k.name))
            .collect();
        // Counted as the status counts (one count everywhere, see `ObjectCounts`).
        let mut counts = crate::kinds::ObjectCounts::default();
        for key in &created {
            counts.add(key.kind);
        }
        let mut note = format!(
            "created {counts} in {}",
            namespaces.into_iter().collect::<Vec<_>>().join(", ")
        );
        if !issued.is_empty() {
            note.push_str("; issued ");
            note.push_str(&issued.join("; "));
        }
        notices.push(Notice::normal("Provisioned", "Apply", note));
    } else if !issued.is_empty() {
        notices.push(Notice::normal(
            "CertificateIssued",
            "Issue",
            format!("issued {}", issued.join("; ")),
        ));
    }
    if !updated.is_empty() {
        notices.push(Notice::normal(
            "Updated",
            "Apply",
            format!("updated {}", join(&updated)),
        ));
    }
    if !drifted.is_empty() {
        notices.push(Notice {
            type_: EventType::Warning,
            reason: "DriftCorrected",
            action: "Apply",
            note: format!(
                "restored objects changed or deleted outside the operator: {}",
                join(&drifted)
            ),
        });
    }
    if !pruned.deleted.is_empty() {
        let deleted: Vec<&ObjectKey> = pruned.deleted.iter().collect();
        notices.push(Notice::normal(
            "Pruned",
            "Delete",
            format!("deleted objects no longer in the spec: {}", join(&deleted)),
        ));
    }
    if !pruned.retained_namespaces.is_empty() {
        notices.push(Notice::normal(
            "NamespacesRetained",
            "Delete",
            format!(
                "environment removed; deletionPolicy Retain keeps namespaces {} (labelled {}=true, no longer managed)",
                pruned.retained_namespaces.join(", "),
                labels::RETAINED
            ),
        ));
    }
    if !pruned.deleted_namespaces.is_empty() {
        notices.push(Notice::normal(
            "NamespacesDeleting",
            "Delete",
            format!(
                "environment removed; deletionPolicy Delete deletes namespaces {}",
                pruned.deleted_namespaces.join(", ")
            ),
        ));
    }
    if status_changed && !applied.not_owned().is_empty() {
        notices.push(Notice {
            type_: EventType::Warning,
            reason: crate::reconcile::status::NAMESPACE_NOT_OWNED,
            action: "Apply",
            note: applied
                .not_owned()
                .iter()
                .map(|n| {
                    format!(
                        "namespace {} is not this tenant's: {}",
                        n.namespace, n.holder
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    if status_changed && !was_ready && created.is_empty() && applied.not_owned().is_empty() {
        notices.push(Notice::normal(
            "Ready",
            "Reconcile",
            "every concern is reconciled".to_string(),
        ));
    }
    notices
}

/// The Event of a failed reconcile: the error's category as reason, its step as action.
pub fn failure_event(error: &Error) -> Notice {
    Notice {
        type_: EventType::Warning,
        reason: error.category(),
        action: error.action(),
        note: error.to_string(),
    }
}

/// The Event of a deleted tenant whose `namespaces` were detached or deleted.
pub fn deletion_event(policy: DeletionPolicy, namespaces: &[String]) -> Notice {
    match policy {
        DeletionPolicy::Retain => Notice::normal(
            "NamespacesRetained",
            "Delete",
            format!(
                "deletionPolicy Retain: namespaces {} kept with their data, labelled {}=true and no longer managed",
                namespaces.join(", "),
                labels::RETAINED
            ),
        ),
        DeletionPolicy::Delete => Notice::normal(
            "NamespacesDeleting",
            "Delete",
            format!(
                "deletionPolicy Delete: deleting namespaces {}",
                namespaces.join(", ")
            ),
        ),
    }
}

fn join(keys: &[&ObjectKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Publishes Events on the TenantService. Failure to publish is logged, not fatal: Events
/// are informative, the status is the record.
pub async fn publish(tenant: &TenantService, ctx: &Context, notices: Vec<Notice>) {
    for notice in notices {
        let event = Event {
            type_: notice.type_,
            reason: notice.reason.to_string(),
            note: Some(notice.note.chars().take(MAX_NOTE).collect()),
            action: notice.action.to_string(),
            secondary: None,
        };
        if let Err(error) = write::event(ctx, tenant, &event).await {
            tracing::warn!(%error, reason = notice.reason, "could not publish an Event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::ManagedKind;
    use crate::pki::{CertificateInfo, RenewReason};
    use crate::reconcile::certificates::CertificateOutcome;

    fn key(kind: ManagedKind, namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(kind, namespace, name)
    }

    fn certificate(issued: Option<RenewReason>) -> CertificateOutcome {
        CertificateOutcome {
            key: key(ManagedKind::Secret, Some("a-prod"), "a-tls"),
            info: CertificateInfo {
                serial: "0a".into(),
                not_before: jiff::Timestamp::from_second(1000).unwrap(),
                not_after: jiff::Timestamp::from_second(4000).unwrap(),
                dns_names: vec!["a.example.it".into()],
            },
            change: match issued {
                None => Change::Unchanged,
                Some(RenewReason::Missing) => Change::Created,
                Some(_) => Change::Updated,
            },
            issued,
            retry_after: None,
            environment: "prod".into(),
        }
    }

    fn reasons(notices: &[Notice]) -> Vec<&str> {
        notices.iter().map(|n| n.reason).collect()
    }

    #[test]
    fn nothing_changed_publishes_nothing() {
        let applied = Applied::from_parts(
            vec![(
                key(ManagedKind::Namespace, None, "a-prod"),
                Change::Unchanged,
            )],
            vec![certificate(None)],
        );
        assert_eq!(change_events(&applied, &Pruned::default(), false, true), []);
    }

    #[test]
    fn a_new_tenant_is_one_provisioned_event_with_its_certificates() {
        let applied = Applied::from_parts(
            vec![
                (key(ManagedKind::Namespace, None, "a-prod"), Change::Created),
                (
                    key(ManagedKind::NetworkPolicy, Some("a-prod"), "deny"),
                    Change::Created,
                ),
            ],
            vec![certificate(Some(RenewReason::Missing))],
        );
        // The status changed too, but the Provisioned Event already says so.
        let notices = change_events(&applied, &Pruned::default(), true, false);
        assert_eq!(reasons(&notices), ["Provisioned"]);
        assert_eq!(notices[0].type_, EventType::Normal);
        assert!(
            notices[0]
                .note
                .starts_with("created 3 objects in a-prod; issued certificate 0a"),
            "{}",
            notices[0].note
        );
    }

    #[test]
    fn updates_drift_renewals_and_pruning_each_have_their_event() {
        let applied = Applied::from_parts(
            vec![
                (
                    key(ManagedKind::ResourceQuota, Some("a-prod"), "quota"),
                    Change::Updated,
                ),
                (
                    key(ManagedKind::NetworkPolicy, Some("a-prod"), "deny"),
                    Change::DriftCorrected,
                ),
            ],
            vec![certificate(Some(RenewReason::DueForRenewal))],
        );
        let pruned = Pruned {
            deleted: vec![key(ManagedKind::RoleBinding, Some("a-prod"), "old")],
            retained_namespaces: vec!["a-dev".into()],
            deleted_namespaces: vec!["a-test".into()],
        };
        let notices = change_events(&applied, &pruned, true, false);
        assert_eq!(
            reasons(&notices),
            [
                "CertificateIssued",
                "Updated",
                "DriftCorrected",
                "Pruned",
                "NamespacesRetained",
                "NamespacesDeleting",
                "Ready"
            ]
        );
        let drift = &notices[2];
        assert_eq!(drift.type_, EventType::Warning);
        assert!(
            drift.note.ends_with("NetworkPolicy a-prod/deny"),
            "{}",
            drift.note
        );
        assert_eq!(
            notices[3].note,
            "deleted objects no longer in the spec: RoleBinding a-prod/old"
        );
    }

    #[test]
    fn ready_is_announced_only_when_it_is_news() {
        let applied = Applied::from_parts(
            vec![(
                key(ManagedKind::Namespace, None, "a-prod"),
                Change::Unchanged,
            )],
            vec![],
        );
        let pruned = Pruned::default();
        assert_eq!(
            reasons(&change_events(&applied, &pruned, true, false)),
            ["Ready"]
        );
        assert_eq!(change_events(&applied, &pruned, true, true), []);
        assert_eq!(change_events(&applied, &pruned, false, false), []);
    }

    #[test]
    fn failures_are_warnings_named_by_category_and_step() {
        let error = Error::NamespacesTerminating {
            namespaces: vec!["a-prod".into()],
        };
        let notice = failure_event(&error);
        assert_eq!(notice.type_, EventType::Warning);
        assert_eq!(
            (notice.reason, notice.action),
            ("NamespacesTerminating", "Delete")
        );
        assert_eq!(notice.note, error.to_string());
    }

    #[test]
    fn deletion_events_follow_the_policy() {
        let namespaces = ["a-prod".to_string(), "a-test".to_string()];
        let retain = deletion_event(DeletionPolicy::Retain, &namespaces);
        assert_eq!(retain.reason, "NamespacesRetained");
        assert!(retain.note.contains("a-prod, a-test kept with their data"));
        assert_eq!(
            deletion_event(DeletionPolicy::Delete, &namespaces).reason,
            "NamespacesDeleting"
        );
    }
}
