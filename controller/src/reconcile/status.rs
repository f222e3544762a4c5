//! The status step: what the TenantService status says, and writing it when it changed.
//!
//! Pure: the [`Outcome`] of a reconcile (of a successful one only from the [`Applied`] set
//! the apply step returns) and the status built from it, with `lastTransitionTime`
//! changing only when a condition's status changes, so that a reconcile that changes
//! nothing produces an identical status (and writes none). [`write()`] is the one I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{Resource, ResourceExt};

use super::apply::Applied;
use super::certificates::{self, CertificateOutcome};
use super::compare::fingerprint;
use super::context::Context;
use super::error::Error;
use super::ownership::Holder;
use super::write;
use crate::api::{
    CertificateStatus, ConsentedPeer, Phase, RetainedNamespace, TenantService, TenantServiceStatus,
    consent,
};
use crate::kinds::{Concern, ObjectCounts};
use crate::{labels, render};

/// Condition type summarising every concern.
pub const READY: &str = "Ready";
/// Reason of `Ready` and `Namespaces` when a namespace the tenant needs is someone else's.
pub const NAMESPACE_NOT_OWNED: &str = "NamespaceNotOwned";
/// Condition type present (True) while the tenant is suspended by annotation.
pub const SUSPENDED: &str = "Suspended";
/// Reason of `Network` when a tenant named in `allowFrom` is not the one consented to.
pub const PEER_REPLACED: &str = "PeerReplaced";

/// Tri-state status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The concern is as the spec says.
    True,
    /// It is not, and the reason says why.
    False,
    /// Not known yet (not reconciled since the condition appeared).
    Unknown,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::True => "True",
            State::False => "False",
            State::Unknown => "Unknown",
        }
    }
}

/// One condition to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The condition's `status`: True, False or Unknown.
    pub state: State,
    /// The condition's `reason`: CamelCase, from a fixed set (Events and alerts match on it).
    pub reason: String,
    /// What a person can act on.
    pub message: String,
}

impl Report {
    /// A report of `state` for `reason`, with `message` for people.
    pub fn new(state: State, reason: &str, message: impl Into<String>) -> Self {
        Report {
            state,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Everything the status is made from.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The tenant's phase (Pending, Provisioning, Ready, Failed, Terminating).
    pub phase: Phase,
    /// `Ready`.
    pub ready: Report,
    /// One report per concern; a concern without a report keeps its previous condition
    /// (or becomes Unknown if it never had one).
    pub concerns: BTreeMap<Concern, Report>,
    /// The tenant's namespaces, for `status.namespaces`.
    pub namespaces: Vec<String>,
    /// The environment names of the spec, for `status.environments`.
    pub environments: Vec<String>,
    /// Certificates; `None` keeps the previous list.
    pub certificates: Option<Vec<CertificateStatus>>,
    /// Namespaces retained from removed environments; `None` keeps the previous list.
    pub retained: Option<Vec<RetainedNamespace>>,
    /// The `Suspended` condition, while the tenant is suspended; absent otherwise.
    pub suspended: Option<Report>,
    /// The identities `allowFrom` consents are bound to ([`consent::bindings`]); `None`
    /// keeps the previous list.
    pub consented_peers: Option<Vec<ConsentedPeer>>,
}

impl Outcome {
    /// The outcome of a reconcile that applied everything it could: every concern True,
    /// with a stable message that counts what was applied for it; unless a namespace the
    /// tenant needs is someone else's, which makes `Namespaces` and `Ready` False with
    /// reason `NamespaceNotOwned` and the phase `Failed` (a person has to act).
    ///
    /// `peers` are the related tenants the reconcile rendered with: the `allowFrom` consents
    /// are bound to their UIDs where not bound yet, and an entry whose tenant was re-created
    /// makes `Network` False (reason `PeerReplaced`) without touching `Ready`: another
    /// tenant's deletion must not put this one out of service.
    pub fn applied(
        tenant: &TenantService,
        applied: &Applied,
        retained: Vec<RetainedNamespace>,
        peers: &[TenantService],
    ) -> Outcome {
        let replaced = consent::replaced(tenant, peers);
        // Every object applied, TLS Secrets included, counts under one concern: the counts
        // of the conditions add up to the count of `Ready`.
        let mut per_concern: BTreeMap<Concern, ObjectCounts> = BTreeMap::new();
        for key in applied.keys() {
            per_concern
                .entry(key.kind.concern(&key.name))
                .or_default()
                .add(key.kind);
        }
        let namespaces: Vec<String> = applied.namespaces().into_iter().map(String::from).collect();
        let namespace_list = namespaces.join(", ");
        let certificates = applied.certificates();
        let concerns = Concern::ALL
            .into_iter()
            .map(|concern| {
                let summary = per_concern
                    .get(&concern)
                    .map(ObjectCounts::by_kind)
                    .unwrap_or_default();
                let report = match concern {
                    Concern::Namespaces if !applied.not_owned().is_empty() => {
                        not_owned_report(tenant, applied)
                    }
                    Concern::Namespaces => Report::new(
                        State::True,
                        "Reconciled",
                        format!(
                            "{summary}: namespaces {namespace_list} exist with the tenant's labels and Pod Security level"
                        ),
                    ),
                    Concern::Network if !replaced.is_empty() => replaced_report(&replaced),
                    Concern::Certificates if certificates.is_empty() => Report::new(
                        State::True,
                        "NoHostnames",
                        format!(
                            "{summary}: spec.tls.hostnames is empty, so no certificate is issued; the CA bundle ConfigMap {} is in each namespace",
                            render::CA_BUNDLE_CONFIG_MAP
                        ),
                    ),
                    Concern::Certificates => Report::new(
                        State::True,
                        "Issued",
                        format!("{summary}: {}", certificates_message(certificates)),
                    ),
                    Concern::Monitoring if summary.is_empty() => Report::new(
                        State::True,
                        "MetricsExported",
                        "tenant metrics (readiness, quota, certificate expiry) are exported by the operator's /metrics",
                    ),
                    _ if summary.is_empty() => Report::new(
                        State::True,
                        "NothingToApply",
                        "the tenant's class and spec require no object for this concern",
                    ),
                    _ => Report::new(State::True, "Reconciled", format!("{summary} as specified")),
                };
                let report = match (concern, super::retained::quota_note(&retained)) {
                    (Concern::Quota, Some(note)) => Report {
                        message: format!("{}; {note}", report.message),
                        ..report
                    },
                    _ => report,
                };
                (concern, report)
            })
            .collect();
        let (phase, ready) = if applied.not_owned().is_empty() {
            (
                Phase::Ready,
                Report::new(
                    State::True,
                    "Reconciled",
                    format!(
                        "{} in namespaces {namespace_list} are as the spec says",
                        applied.counts()
                    ),
                ),
            )
        } else {
            (Phase::Failed, not_owned_report(tenant, applied))
        };
        Outcome {
            phase,
            ready,
            concerns,
            namespaces,
            environments: environment_names(tenant),
            certificates: Some(
                certificates
                    .iter()
                    .map(CertificateOutcome::status)
                    .collect(),
            ),
            retained: Some(retained),
            suspended: None,
            consented_peers: Some(consent::bindings(tenant, peers)),
        }
    }

    /// The outcome of a reconcile skipped because the tenant is suspended (annotation
    /// [`labels::SUSPEND`]): phase, `Ready` and every concern stay as last reported, and a
    /// `Suspended` condition says that nothing is being reconciled and how to resume.
    pub fn suspended(tenant: &TenantService) -> Outcome {
        let previous = tenant.status.as_ref();
        let ready = previous
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
            .map_or_else(
                || {
                    Report::new(
                        State::Unknown,
                        "NotReconciled",
                        "not reconciled yet: the tenant is suspended",
                    )
                },
                |c| Report {
                    state: match c.status.as_str() {
                        "True" => State::True,
                        "False" => State::False,
                        _ => State::Unknown,
                    },
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                },
            );
        let mut outcome = Outcome::stopped(
            tenant,
            previous.and_then(|s| s.phase).unwrap_or(Phase::Pending),
            ready,
        );
        outcome.suspended = Some(Report::new(
            State::True,
            "SuspendAnnotation",
            format!(
                "reconcile paused by the annotation {}=true: spec changes, drift corrections, certificate renewals and deletion wait; remove the annotation to resume",
                labels::SUSPEND
            ),
        ));
        outcome
    }

    /// The outcome of a reconcile that failed with `error`: `Ready=False` with the error's
    /// category as reason; the phase is `Failed` when retrying cannot help, `Provisioning`
    /// while it is retried.
    pub fn failed(tenant: &TenantService, error: &Error) -> Outcome {
        let phase = if error.is_permanent() {
            Phase::Failed
        } else {
            Phase::Provisioning
        };
        let report = Report::new(State::False, error.category(), error.to_string());
        let mut outcome = Outcome::stopped(tenant, phase, report.clone());
        // The concern it belongs to says so too, so that `kubectl get ts -o yaml` points at
        // the certificates, not only at Ready.
        if matches!(error, Error::CaUnavailable { .. }) {
            outcome.concerns.insert(Concern::Certificates, report);
        }
        outcome
    }

    /// The outcome of a reconcile that stopped before applying anything: only `Ready`
    /// (with the reason) and the phase change; the namespaces and certificates already
    /// reported stay as they are.
    pub fn stopped(tenant: &TenantService, phase: Phase, ready: Report) -> Outcome {
        Outcome {
            phase,
            ready,
            concerns: BTreeMap::new(),
            namespaces: tenant
                .status
                .as_ref()
                .map(|s| s.namespaces.clone())
                .unwrap_or_default(),
            environments: environment_names(tenant),
            certificates: None,
            retained: None,
            suspended: None,
            consented_peers: None,
        }
    }
}

/// `PeerReplaced`: the `allowFrom` entries whose tenant is not the one consented to, and how
/// to consent to the new one.
fn replaced_report(replaced: &[consent::Replaced]) -> Report {
    let each = replaced
        .iter()
        .map(|r| {
            // A recorded binding went stale because the tenant was re-created; a named UID
            // may also come from another cluster (or a typo): say which one it is.
            let given = if r.named {
                format!("spec.network.allowFrom[{i}].uid names uid {old}", i = r.index, old = r.consented)
            } else {
                format!(
                    "this consent was given to uid {old} (status.consentedPeers)",
                    old = r.consented
                )
            };
            format!(
                "spec.network.allowFrom[{i}]: tenant {name:?} is uid {new}, not the tenant this consent is for: {given}; a tenant deleted and created again under the same name is another tenant, so no traffic is allowed with it; to consent to it, set spec.network.allowFrom[{i}].uid to {new:?}",
                i = r.index,
                name = r.tenant,
                new = r.current
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Report::new(State::False, PEER_REPLACED, each)
}

/// `NamespaceNotOwned`: each namespace the tenant needs that is someone else's, who holds
/// it, and what a person can do about it.
fn not_owned_report(tenant: &TenantService, applied: &Applied) -> Report {
    let name = tenant.name_any();
    let each = applied
        .not_owned()
        .iter()
        .map(|n| {
            let remedy = match &n.holder {
                Holder::Tenant { .. } => {
                    "rename this environment (or the tenant)".to_string()
                }
                Holder::Unmanaged | Holder::Retained { .. } => format!(
                    "rename this environment, or have a datacenter operator hand it over with `kubectl annotate namespace {} {}={name}` (what the operator managed there for the previous holder is deleted first)",
                    n.namespace,
                    labels::HAND_OVER_TO
                ),
            };
            format!(
                "namespace {} is not this tenant's: {}; nothing was created or changed in it: {remedy}",
                n.namespace, n.holder
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Report::new(State::False, NAMESPACE_NOT_OWNED, each)
}

fn environment_names(tenant: &TenantService) -> Vec<String> {
    tenant
        .spec
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

/// `<namespace>/<secret> valid until <notAfter>, to be renewed from <time>` per certificate
/// (the renewal is due, not done: "renewed from" read as done).
fn certificates_message(certificates: &[CertificateOutcome]) -> String {
    certificates
        .iter()
        .map(|c| {
            format!(
                "{}/{} valid until {}, to be renewed from {}",
                c.key.namespace.as_deref().unwrap_or_default(),
                c.key.name,
                c.info.not_after,
                certificates::renew_at(&c.info)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the status of `outcome` if it differs from the current one. Returns whether it
/// wrote. `own_version` is the tenant's resourceVersion after this reconcile's own write to
/// it (the finalizer), if it made one: the cache may show that version too before it shows
/// the status.
pub async fn write(
    tenant: &TenantService,
    ctx: &Context,
    outcome: &Outcome,
    own_version: Option<&str>,
) -> Result<bool, Error> {
    let name = tenant.name_any();
    let status = build_status(
        tenant.status.as_ref(),
        tenant.meta().generation,
        outcome,
        jiff::Timestamp::now(),
    );
    let new_fingerprint = status_fingerprint(&status);
    let cached_version = tenant.meta().resource_version.as_deref();
    if !status_write_needed(
        tenant.status.as_ref(),
        cached_version,
        ctx.last_written_status(&name).as_ref(),
        new_fingerprint,
    ) {
        return Ok(false);
    }
    let body = serde_json::to_value(&status).map_err(|source| Error::Serialize {
        what: format!("the status of TenantService {name}"),
        source,
    })?;
    // Remembered before sending: a write whose answer is lost may still have landed.
    let mut written = WrittenStatus {
        fingerprint: new_fingerprint,
        over_versions: Vec::new(),
    };
    ctx.remember_written_status(&name, written.clone());
    let wrote = write::status(ctx, &name, &body).await?;
    if wrote {
        written.over_versions = cached_version
            .into_iter()
            .chain(own_version)
            .map(Box::from)
            .collect();
        ctx.remember_written_status(&name, written);
    }
    Ok(wrote)
}

/// Builds the new status from the outcome of a reconcile and the previous status.
/// `now` is truncated to seconds, as the API server stores it.
pub fn build_status(
    previous: Option<&TenantServiceStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: jiff::Timestamp,
) -> TenantServiceStatus {
    let now = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    // A suspended tenant's spec is not reconciled: the status and its conditions stay at
    // the generation last reconciled (so `kubectl wait` and GitOps health checks do not take
    // an unapplied change as Ready); only the Suspended condition names the current one.
    let (generation, seen_generation) = match &outcome.suspended {
        Some(_) => (previous.and_then(|s| s.observed_generation), generation),
        None => (generation, generation),
    };
    let old_conditions: &[Condition] = previous.map_or(&[], |s| s.conditions.as_slice());
    let mut conditions = Vec::with_capacity(Concern::ALL.len() + 1);
    conditions.push(condition(
        old_conditions,
        READY,
        &outcome.ready,
        generation,
        now,
    ));
    for concern in Concern::ALL {
        let report = match outcome.concerns.get(&concern) {
            Some(report) => report.clone(),
            None => match old_conditions.iter().find(|c| c.type_ == concern.as_str()) {
                Some(old) => Report {
                    state: match old.status.as_str() {
                        "True" => State::True,
                        "False" => State::False,
                        _ => State::Unknown,
                    },
                    reason: old.reason.clone(),
                    message: old.message.clone(),
                },
                None => Report::new(
                    State::Unknown,
                    "NotReconciled",
                    "not reconciled yet; see the Ready condition",
                ),
            },
        };
        conditions.push(condition(
            old_conditions,
            concern.as_str(),
            &report,
            generation,
            now,
        ));
    }
    if let Some(suspended) = &outcome.suspended {
        conditions.push(condition(
            old_conditions,
            SUSPENDED,
            suspended,
            seen_generation,
            now,
        ));
    }
    TenantServiceStatus {
        phase: Some(outcome.phase),
        observed_generation: generation,
        conditions,
        environments: Some(outcome.environments.join(",")).filter(|e| !e.is_empty()),
        namespaces: outcome.namespaces.clone(),
        certificates: match &outcome.certificates {
            Some(certificates) => certificates.clone(),
            None => previous.map(|s| s.certificates.clone()).unwrap_or_default(),
        },
        retained: match &outcome.retained {
            Some(retained) => retained.clone(),
            None => previous.map(|s| s.retained.clone()).unwrap_or_default(),
        },
        consented_peers: match &outcome.consented_peers {
            Some(bindings) => bindings.clone(),
            None => previous
                .map(|s| s.consented_peers.clone())
                .unwrap_or_default(),
        },
    }
}

/// One condition, keeping the previous `lastTransitionTime` when the status is unchanged.
fn condition(
    old: &[Condition],
    type_: &str,
    report: &Report,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    let status = report.state.as_str();
    let last_transition_time = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: report.reason.clone(),
        message: report.message.clone(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Fingerprint of a status as it would be written (its JSON).
pub fn status_fingerprint(status: &TenantServiceStatus) -> u64 {
    serde_json::to_value(status).map_or(0, |value| fingerprint(&value))
}

/// The status this replica last wrote for a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenStatus {
    /// Its [`status_fingerprint`].
    pub fingerprint: u64,
    /// The tenant's resourceVersions from before the write, once the API server took it:
    /// the one the reconcile started from and the one its finalizer write made, if any.
    /// While the cache still shows one of them, it has not seen the write yet.
    pub over_versions: Vec<Box<str>>,
}

/// Whether a new status (given by its [`status_fingerprint`]) has to be written, given the
/// cached status and resourceVersion of the tenant, and the status this replica last wrote
/// (if it remembers one).
///
/// The cache can lag behind this replica's own last write, both ways:
/// - a retry right after a failure status was written may still see the Ready status from
///   before it. Trusting the cache alone would then skip writing Ready back and leave the
///   failure in the API until the next periodic check. So a cache that agrees is trusted
///   only when the last write was this same status;
/// - a reconcile right after the one that wrote this status (one of its own writes coming
///   back retriggers it) may still see the tenant from before that write. Writing again
///   would cost a request and announce `Ready` a second time. So when the last write was
///   this same status, made over a version the cache still shows, nothing is written. Any
///   other change of the tenant gives it a new version, and the cache is then compared as
///   usual.
pub fn status_write_needed(
    cached: Option<&TenantServiceStatus>,
    cached_version: Option<&str>,
    last_written: Option<&WrittenStatus>,
    new_fingerprint: u64,
) -> bool {
    let cache_agrees = cached.is_some_and(|c| status_fingerprint(c) == new_fingerprint);
    match last_written {
        None => !cache_agrees,
        Some(last) if last.fingerprint != new_fingerprint => true,
        Some(last) => {
            let cache_has_not_seen_it = cached_version
                .is_some_and(|cached| last.over_versions.iter().any(|v| &**v == cached));
            !(cache_agrees || cache_has_not_seen_it)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(second).unwrap()
    }

    fn ready_outcome() -> Outcome {
        Outcome {
            phase: Phase::Ready,
            ready: Report::new(
                State::True,
                "Reconciled",
                "every concern is as the spec says",
            ),
            concerns: Concern::ALL
                .into_iter()
                .map(|c| (c, Report::new(State::True, "Applied", "ok")))
                .collect(),
            namespaces: vec!["a-prod".into(), "a-test".into()],
            environments: vec!["prod".into(), "test".into()],
            certificates: Some(vec![]),
            retained: Some(vec![]),
            suspended: None,
            consented_peers: Some(vec![]),
        }
    }

    #[test]
    fn a_suspended_tenant_keeps_its_conditions_and_says_it_is_suspended() {
        let ready = build_status(None, Some(1), &ready_outcome(), at(1000));
        let mut tenant = crate::fixtures::named_tenant("comune-bari", serde_json::json!({}));
        tenant.status = Some(ready.clone());
        let suspended = build_status(
            Some(&ready),
            Some(2),
            &Outcome::suspended(&tenant),
            at(2000),
        );
        assert_eq!(suspended.phase, Some(Phase::Ready));
        let find = |status: &TenantServiceStatus, type_: &str| {
            status.conditions.iter().find(|c| c.type_ == type_).cloned()
        };
        let condition = find(&suspended, SUSPENDED).expect("a Suspended condition");
        assert_eq!(condition.status, "True");
        assert_eq!(condition.reason, "SuspendAnnotation");
        assert!(condition.message.contains(labels::SUSPEND));
        assert_eq!(condition.observed_generation, Some(2));
        // Ready and the concerns are as last reported, transition times and generation
        // included: the new generation is not applied.
        assert_eq!(find(&suspended, READY), find(&ready, READY));
        assert_eq!(suspended.observed_generation, Some(1));
        // Resumed: the condition goes away.
        let resumed = build_status(Some(&suspended), Some(2), &ready_outcome(), at(3000));
        assert!(find(&resumed, SUSPENDED).is_none());
    }

    #[test]
    fn unchanged_outcome_gives_an_identical_status() {
        let first = build_status(None, Some(1), &ready_outcome(), at(1000));
        let second = build_status(Some(&first), Some(1), &ready_outcome(), at(2000));
        assert!(!status_write_needed(
            Some(&first),
            Some("5"),
            None,
            status_fingerprint(&second)
        ));
        assert_eq!(first.conditions.len(), 7);
        assert_eq!(first.conditions[0].type_, "Ready");
        assert_eq!(first.environments.as_deref(), Some("prod,test"));
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = build_status(None, Some(1), &ready_outcome(), at(1000));
        let mut failing = ready_outcome();
        failing.phase = Phase::Failed;
        failing.ready = Report::new(
            State::False,
            "InvalidSpec",
            "spec.class: no TenantClass 'gold'",
        );
        failing.concerns.clear();
        let second = build_status(Some(&first), Some(2), &failing, at(2000));
        let ready = &second.conditions[0];
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "InvalidSpec");
        assert_eq!(ready.last_transition_time, Time(at(2000)));
        assert_eq!(ready.observed_generation, Some(2));
        // Concerns without a report keep their previous condition and transition time.
        let network = second
            .conditions
            .iter()
            .find(|c| c.type_ == "Network")
            .unwrap();
        assert_eq!(network.status, "True");
        assert_eq!(network.last_transition_time, Time(at(1000)));
        assert!(status_write_needed(
            Some(&first),
            Some("5"),
            None,
            status_fingerprint(&second)
        ));
    }

    #[test]
    fn a_cache_behind_this_replicas_last_write_is_not_trusted() {
        let ready = build_status(None, Some(1), &ready_outcome(), at(1000));
        let mut failing = ready_outcome();
        failing.phase = Phase::Provisioning;
        failing.ready = Report::new(State::False, "Apply", "the API server timed out");
        let failure = build_status(Some(&ready), Some(1), &failing, at(2000));
        // The retry succeeds while the cache still holds the Ready status from before the
        // failure was written: Ready must be written back.
        let retry = build_status(Some(&ready), Some(1), &ready_outcome(), at(3000));
        let wrote = |status: &TenantServiceStatus, over: &str| WrittenStatus {
            fingerprint: status_fingerprint(status),
            over_versions: vec![over.into()],
        };
        assert!(status_write_needed(
            Some(&ready),
            Some("8"),
            Some(&wrote(&failure, "7")),
            status_fingerprint(&retry)
        ));
        // Once the last write was this status, the cache is trusted again: steady state
        // writes nothing.
        assert!(!status_write_needed(
            Some(&ready),
            Some("9"),
            Some(&wrote(&ready, "8")),
            status_fingerprint(&retry)
        ));
        // No cached status: always written.
        assert!(status_write_needed(
            None,
            Some("1"),
            None,
            status_fingerprint(&retry)
        ));
    }

    #[test]
    fn a_cache_that_has_not_seen_this_replicas_last_write_yet_does_not_repeat_it() {
        let ready = build_status(None, Some(1), &ready_outcome(), at(1000));
        // Written over version 4, after the finalizer write made it 5.
        let written = WrittenStatus {
            fingerprint: status_fingerprint(&ready),
            over_versions: vec!["4".into(), "5".into()],
        };
        // The cache still shows the new tenant as it was before Ready was written, with
        // or without its finalizer.
        for version in ["4", "5"] {
            assert!(!status_write_needed(
                None,
                Some(version),
                Some(&written),
                status_fingerprint(&ready)
            ));
        }
        // The tenant changed since (its status cleared by someone): written again.
        assert!(status_write_needed(
            None,
            Some("6"),
            Some(&written),
            status_fingerprint(&ready)
        ));
        // A write whose answer was lost is not known to be over any version: written.
        let unconfirmed = WrittenStatus {
            over_versions: Vec::new(),
            ..written
        };
        assert!(status_write_needed(
            None,
            Some("4"),
            Some(&unconfirmed),
            status_fingerprint(&ready)
        ));
    }

    fn applied_tenant() -> (TenantService, Applied) {
        use crate::fixtures::tenant;
        use crate::kinds::ManagedKind;
        use crate::pki::CertificateInfo;
        use crate::reconcile::inventory::ObjectKey;
        use crate::reconcile::write::Change;
        let key = |kind, namespace: Option<&str>, name: &str| ObjectKey::new(kind, namespace, name);
        let objects = vec![
            (
                key(ManagedKind::Namespace, None, "comune-molfetta-prod"),
                Change::Created,
            ),
            (
                key(
                    ManagedKind::NetworkPolicy,
                    Some("comune-molfetta-prod"),
                    "tenancy-default-deny",
                ),
                Change::Created,
            ),
            (
                key(
                    ManagedKind::NetworkPolicy,
                    Some("comune-molfetta-prod"),
                    "tenancy-allow-monitoring",
                ),
                Change::Unchanged,
            ),
            (
                key(
                    ManagedKind::ResourceQuota,
                    Some("comune-molfetta-prod"),
                    "tenancy-quota",
                ),
                Change::Updated,
            ),
        ];
        let certificate = CertificateOutcome {
            key: key(
                ManagedKind::Secret,
                Some("comune-molfetta-prod"),
                "comune-molfetta-tls",
            ),
            info: CertificateInfo {
                serial: "0a".into(),
                not_before: at(1000),
                not_after: at(4000),
                dns_names: vec!["servizi.comune.molfetta.ba.it".into()],
            },
            issued: None,
            change: Change::Unchanged,
            environment: "prod".into(),
            retry_after: None,
        };
        let tenant = tenant(serde_json::json!({"environments": [{"name": "prod"}]}));
        (tenant, Applied::from_parts(objects, vec![certificate]))
    }

    #[test]
    fn a_ready_outcome_reports_what_was_applied_per_concern() {
        let (tenant, applied) = applied_tenant();
        let outcome = Outcome::applied(&tenant, &applied, Vec::new(), &[]);
        assert_eq!(outcome.phase, Phase::Ready);
        assert_eq!(outcome.namespaces, ["comune-molfetta-prod"]);
        assert_eq!(outcome.environments, ["prod"]);
        assert_eq!(
            outcome.ready.message,
            "5 objects in namespaces comune-molfetta-prod are as the spec says"
        );
        let report = |concern| &outcome.concerns[&concern];
        assert_eq!(
            report(Concern::Network).message,
            "1 NetworkPolicy as specified"
        );
        assert_eq!(
            report(Concern::Quota).message,
            "1 ResourceQuota as specified"
        );
        // The monitoring policy counts under Monitoring, not Network.
        assert_eq!(
            report(Concern::Monitoring).message,
            "1 NetworkPolicy as specified"
        );
        assert_eq!(report(Concern::Access).reason, "NothingToApply");
        assert_eq!(report(Concern::Certificates).reason, "Issued");
        // One count: the conditions' counts add up to Ready's 5 objects.
        assert_eq!(
            report(Concern::Namespaces).message,
            "1 Namespace: namespaces comune-molfetta-prod exist with the tenant's labels and Pod Security level"
        );
        assert!(
            report(Concern::Certificates).message.starts_with(
                "1 Secret: comune-molfetta-prod/comune-molfetta-tls valid until 1970-01-01T01:06:40Z, to be renewed from "
            ),
            "{}",
            report(Concern::Certificates).message
        );
        assert!(outcome.concerns.values().all(|r| r.state == State::True));
        let listed = outcome.certificates.unwrap_or_default();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].serial, "0a");
    }

    #[test]
    fn a_replaced_peer_makes_network_false_and_leaves_the_tenant_ready() {
        const FIRST: &str = "11111111-1111-4111-8111-111111111111";
        const SECOND: &str = "22222222-2222-4222-8222-222222222222";
        let (mut tenant, applied) = applied_tenant();
        // The fixture consents to regione-puglia; the consent was bound to FIRST.
        tenant.status = Some(TenantServiceStatus {
            consented_peers: vec![ConsentedPeer {
                tenant: "regione-puglia".into(),
                uid: FIRST.into(),
            }],
            ..Default::default()
        });
        let mut regione = crate::fixtures::named_tenant("regione-puglia", serde_json::json!({}));
        regione.metadata.uid = Some(FIRST.into());
        let bound = Outcome::applied(
            &tenant,
            &applied,
            Vec::new(),
            std::slice::from_ref(&regione),
        );
        assert_eq!(bound.concerns[&Concern::Network].state, State::True);

        regione.metadata.uid = Some(SECOND.into());
        let outcome = Outcome::applied(&tenant, &applied, Vec::new(), &[regione]);
        assert_eq!(outcome.phase, Phase::Ready);
        assert_eq!(outcome.ready.state, State::True);
        let network = &outcome.concerns[&Concern::Network];
        assert_eq!(network.state, State::False);
        assert_eq!(network.reason, PEER_REPLACED);
        for part in [
            "spec.network.allowFrom[0]: tenant \"regione-puglia\" is uid 22222222",
            "this consent was given to uid 11111111-1111-4111-8111-111111111111 (status.consentedPeers)",
            "set spec.network.allowFrom[0].uid to \"22222222-2222-4222-8222-222222222222\"",
        ] {
            assert!(
                network.message.contains(part),
                "{part}: {}",
                network.message
            );
        }
        // The binding stays with the tenant it was given to.
        assert_eq!(
            outcome.consented_peers,
            Some(vec![ConsentedPeer {
                tenant: "regione-puglia".into(),
                uid: FIRST.into()
            }])
        );
    }

    #[test]
    fn a_failed_outcome_keeps_what_was_reported_and_names_the_category() {
        let (tenant, _) = applied_tenant();
        let invalid = Error::InvalidSpec {
            tenant: "comune-molfetta".into(),
            problems: vec![crate::api::validation::Problem {
                object: "comune-molfetta".into(),
                path: "spec.class".into(),
                message: "TenantClass \"gold\" does not exist".into(),
                severity: crate::api::validation::Severity::Error,
                rule: crate::api::validation::Rule::ClassUnknown,
            }],
        };
        let outcome = Outcome::failed(&tenant, &invalid);
        assert_eq!(outcome.phase, Phase::Failed);
        assert_eq!(outcome.ready.state, State::False);
        assert_eq!(outcome.ready.reason, "InvalidSpec");
        assert!(
            outcome
                .ready
                .message
                .contains("spec.class: TenantClass \"gold\" does not exist [CLASS-UNKNOWN]")
        );
        assert!(outcome.concerns.is_empty() && outcome.certificates.is_none());
        let transient = Error::NamespacesTerminating {
            namespaces: vec!["comune-molfetta-prod".into()],
        };
        assert_eq!(
            Outcome::failed(&tenant, &transient).phase,
            Phase::Provisioning
        );
    }

    #[test]
    fn sub_second_times_are_truncated_like_the_api_server_does() {
        let now = jiff::Timestamp::from_millisecond(1_000_500).unwrap();
        let status = build_status(None, None, &ready_outcome(), now);
        assert_eq!(status.conditions[0].last_transition_time, Time(at(1000)));
    }
}
