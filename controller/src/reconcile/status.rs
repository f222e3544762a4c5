//! Pure construction of the TenantService status: conditions per concern and `Ready`, with
//! `lastTransitionTime` changing only when a condition's status changes, so that a
//! reconcile that changes nothing produces an identical status (and writes none).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::compare::fingerprint;
use super::kinds::Concern;
use crate::api::{CertificateStatus, Phase, TenantService, TenantServiceStatus};

/// Condition type summarising every concern.
pub const READY: &str = "Ready";

/// Tri-state status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    True,
    False,
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
    /// True, False or Unknown.
    pub state: State,
    /// CamelCase reason.
    pub reason: String,
    /// What a person can act on.
    pub message: String,
}

impl Report {
    /// A report.
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
    /// Lifecycle phase.
    pub phase: Phase,
    /// `Ready`.
    pub ready: Report,
    /// One report per concern; a concern without a report keeps its previous condition
    /// (or becomes Unknown if it never had one).
    pub concerns: BTreeMap<Concern, Report>,
    /// Namespaces of the tenant.
    pub namespaces: Vec<String>,
    /// Environment names.
    pub environments: Vec<String>,
    /// Certificates; `None` keeps the previous list.
    pub certificates: Option<Vec<CertificateStatus>>,
}

impl Outcome {
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
            environments: tenant
                .spec
                .environments
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            certificates: None,
        }
    }
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
    let old_conditions: &[Condition] = previous.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
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
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
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

/// Whether a new status (given by its [`status_fingerprint`]) has to be written, given the
/// cached status and the fingerprint of the status this replica last wrote (if it
/// remembers one).
///
/// The cache can lag behind this replica's own last write: a retry right after a failure
/// status was written may still see the Ready status from before it. Trusting the cache
/// alone would then skip writing Ready back and leave the failure in the API until the next
/// periodic check. So the cache is trusted only when the last write was this same status.
pub fn status_write_needed(
    cached: Option<&TenantServiceStatus>,
    last_written: Option<u64>,
    new_fingerprint: u64,
) -> bool {
    let cache_agrees = cached.is_some_and(|c| status_fingerprint(c) == new_fingerprint);
    let last_write_agrees = last_written.is_none_or(|f| f == new_fingerprint);
    !(cache_agrees && last_write_agrees)
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
        }
    }

    #[test]
    fn unchanged_outcome_gives_an_identical_status() {
        let first = build_status(None, Some(1), &ready_outcome(), at(1000));
        let second = build_status(Some(&first), Some(1), &ready_outcome(), at(2000));
        assert!(!status_write_needed(
            Some(&first),
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
        assert!(status_write_needed(
            Some(&ready),
            Some(status_fingerprint(&failure)),
            status_fingerprint(&retry)
        ));
        // Once the last write was this status, the cache is trusted again: steady state
        // writes nothing.
        assert!(!status_write_needed(
            Some(&ready),
            Some(status_fingerprint(&ready)),
            status_fingerprint(&retry)
        ));
        // No cached status: always written.
        assert!(status_write_needed(None, None, status_fingerprint(&retry)));
    }

    #[test]
    fn sub_second_times_are_truncated_like_the_api_server_does() {
        let now = jiff::Timestamp::from_millisecond(1_000_500).unwrap();
        let status = build_status(None, None, &ready_outcome(), now);
        assert_eq!(status.conditions[0].last_transition_time, Time(at(1000)));
    }
}
