//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several replicas only
//! one writes. Small on purpose (the algorithm of client-go's leaderelection):
//!
//! - a candidate takes the Lease when it does not exist, or when its record has not changed
//!   for the record's `leaseDurationSeconds` *as observed locally* (no comparison of clocks
//!   across machines);
//! - every write carries the resourceVersion read (or written) just before, so two
//!   candidates can never both succeed (409 Conflict for the loser);
//! - the holder renews every `renew_interval` by replacing the Lease as it last wrote it
//!   (one request; a GET only after a conflict), and each renewal is bounded by a deadline;
//! - the holder steps down — [`LeaderElector::hold`] returns, and the caller stops writing —
//!   when it has not renewed for `renew_deadline`, counted from the *start* of the last
//!   successful renewal. The other replicas count a record's age from when they first saw
//!   it, which is after that start, and wait `lease_duration` (longer than the deadline):
//!   so the old leader has stopped writing before anyone can take the Lease, whatever the
//!   latency of the API server. What is left to the margin (`lease_duration -
//!   renew_deadline`) is a write already sent that the server applies late.
//!
//! After stepping down, a replica is an ordinary candidate: it does not take back a Lease
//! that still names it before the record expires, so a replica that could not renew does
//! not snatch the Lease back as soon as one request gets through (no flapping).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's namespace).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (pod name, or host name and process id).
    pub identity: String,
    /// How long a Lease stays valid without renewal: how long a candidate waits, after it
    /// last saw the record change, before taking it.
    pub lease_duration: Duration,
    /// How long the holder keeps writing without a successful renewal; shorter than
    /// `lease_duration`, so that it has stopped before the Lease can be taken.
    pub renew_deadline: Duration,
    /// How often the holder renews.
    pub renew_interval: Duration,
    /// How often a candidate retries.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    /// Defaults of client-go-based controllers: a 15 s lease, a 10 s renew deadline, renewed
    /// every 2 s, retried every 2 s.
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.to_string(),
            name: "tenant-operator-leader".to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_interval: Duration::from_secs(2),
            retry_interval: Duration::from_secs(2),
        }
    }

    /// Checks that the durations can work together: `renew_interval < renew_deadline <
    /// lease_duration` (a deadline as long as the lease would let a leader write while
    /// another takes over; an interval as long as the deadline would allow no retry).
    pub fn check(&self) -> Result<(), LeaseConfigError> {
        if self.renew_deadline >= self.lease_duration {
            return Err(LeaseConfigError {
                problem: format!(
                    "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                    self.renew_deadline, self.lease_duration
                ),
            });
        }
        if self.renew_interval >= self.renew_deadline || self.renew_interval.is_zero() {
            return Err(LeaseConfigError {
                problem: format!(
                    "the renew interval ({:?}) must be positive and shorter than the renew deadline ({:?})",
                    self.renew_interval, self.renew_deadline
                ),
            });
        }
        if self.retry_interval.is_zero() {
            return Err(LeaseConfigError {
                problem: "the retry interval must be positive".to_string(),
            });
        }
        Ok(())
    }
}

/// Lease durations that cannot work together.
#[derive(Debug, thiserror::Error)]
#[error("leader election: {problem}")]
pub struct LeaseConfigError {
    problem: String,
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another replica holds the Lease now.
    #[error("lease {namespace}/{name} was taken over by {holder}")]
    TakenOver {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// The new holder.
        holder: String,
    },
    /// The Lease could not be renewed within the renew deadline.
    #[error("lease {namespace}/{name} not renewed for {elapsed:?}{}", after(.last_error.as_deref()))]
    RenewFailed {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// Time since the start of the last successful renewal.
        elapsed: Duration,
        /// Why the last renewal failed (the API server's answer, or why it could not be
        /// reached), if one failed before the deadline (rather than still waiting for an
        /// answer).
        #[source]
        last_error: Option<Box<kube::Error>>,
    },
}

/// `: <error>`, or nothing.
fn after(error: Option<&kube::Error>) -> String {
    error.map(|e| format!(": {e}")).unwrap_or_default()
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// We hold the Lease (taken or renewed).
    Held,
    /// Someone else holds it.
    HeldBy(String),
}

/// A leader-election participant.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// Last record seen from another holder and when it was first seen, to decide expiry
    /// by local observation.
    observed: Option<(String, Instant)>,
    /// The Lease as this replica last wrote it, while it holds it: a renewal replaces it
    /// directly (client-go's optimistic renewal), so that a renewal costs one round trip.
    held: Option<Lease>,
    /// Whether a record naming this replica may be taken at once. True at start (a
    /// restarted container keeps its pod name and should not wait for its own lease to
    /// expire); false after stepping down.
    may_reclaim: bool,
    /// Called after every attempt, successful or not (the liveness heartbeat).
    heartbeat: Option<Box<dyn Fn() + Send + Sync>>,
}

impl LeaderElector {
    /// A participant for `config`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            held: None,
            may_reclaim: true,
            heartbeat: None,
        }
    }

    /// Calls `beat` after every attempt to take or renew the Lease, so that a stuck election
    /// loop can be told from a live one.
    pub fn with_heartbeat(mut self, beat: impl Fn() + Send + Sync + 'static) -> Self {
        self.heartbeat = Some(Box::new(beat));
        self
    }

    fn beat(&self) {
        if let Some(beat) = &self.heartbeat {
            beat();
        }
    }

    /// The settings this participant runs with.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Longest a candidate's attempt (a read and maybe a write) waits for answers.
    pub fn candidate_timeout(&self) -> Duration {
        self.config.lease_duration * 2
    }

    /// Waits until this replica holds the Lease and returns when the successful attempt
    /// started (what [`Self::hold`] counts the renew deadline from). API errors are logged
    /// and retried; no attempt waits longer than [`Self::candidate_timeout`].
    pub async fn acquire(&mut self) -> Instant {
        loop {
            let started = Instant::now();
            // A late answer is still worth having (it is what the expiry is observed by);
            // the bound is only there so that a lost request cannot stall the loop.
            let attempt =
                tokio::time::timeout(self.candidate_timeout(), self.try_acquire_or_renew()).await;
            self.beat();
            match attempt {
                Ok(Ok(Attempt::Held)) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired leadership");
                    return started;
                }
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    tracing::debug!(%holder, "lease held by another replica; waiting");
                }
                Ok(Err(error)) => tracing::warn!(%error, "leader election attempt failed"),
                Err(_) => tracing::warn!(
                    timeout = ?self.candidate_timeout(),
                    "leader election attempt got no answer in time"
                ),
            }
            tokio::time::sleep_until((started + self.config.retry_interval).into()).await;
        }
    }

    /// Keeps renewing the Lease taken by the attempt that started at `acquired`; returns
    /// when leadership ends: taken over, or not renewed within the renew deadline. When it
    /// returns, this replica has stepped down and must not write any more.
    pub async fn hold(&mut self, acquired: Instant) -> LeaseError {
        let mut renewed = acquired;
        let mut next = acquired + self.config.renew_interval;
        let mut last_error = None;
        let error = loop {
            let deadline = renewed + self.config.renew_deadline;
            tokio::time::sleep_until(next.min(deadline).into()).await;
            let started = Instant::now();
            let attempt = tokio::time::timeout_at(deadline.into(), self.renew()).await;
            self.beat();
            match attempt {
                Ok(Ok(Attempt::Held)) => {
                    renewed = started;
                    next = started + self.config.renew_interval;
                    last_error = None;
                }
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    break LeaseError::TakenOver {
                        namespace: self.config.namespace.clone(),
                        name: self.config.name.clone(),
                        holder,
                    };
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "renewing the leader lease failed; retrying");
                    last_error = Some(Box::new(error));
                    next = started + self.config.retry_interval;
                }
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                break LeaseError::RenewFailed {
                    namespace: self.config.namespace.clone(),
                    name: self.config.name.clone(),
                    elapsed: renewed.elapsed(),
                    last_error,
                };
            }
        };
        self.step_down();
        error
    }

    /// Forgets the held Lease: from now on this replica is an ordinary candidate.
    fn step_down(&mut self) {
        self.held = None;
        self.observed = None;
        self.may_reclaim = false;
    }

    /// Gives the Lease up (on orderly shutdown) so that a standby takes over at once.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let held = self.held.take();
        self.step_down();
        let mut lease = match held {
            Some(lease) => lease,
            None => match self.api.get_opt(&self.config.name).await? {
                Some(lease) => lease,
                None => return Ok(()),
            },
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            // Someone else wrote it since: it is not ours to release any more.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// One renewal: the held Lease replaced with a new renew time; after a conflict (someone
    /// else wrote it), the full read-and-decide of a candidate.
    async fn renew(&mut self) -> Result<Attempt, kube::Error> {
        if let Some(mut lease) = self.held.clone() {
            lease.spec.get_or_insert_with(LeaseSpec::default).renew_time =
                Some(MicroTime(jiff::Timestamp::now()));
            match self
                .api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => {
                    self.held = Some(written);
                    return Ok(Attempt::Held);
                }
                Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                    self.held = None;
                }
                Err(error) => return Err(error),
            }
        }
        self.try_acquire_or_renew_as(true).await
    }

    /// An attempt of a candidate.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        self.try_acquire_or_renew_as(false).await
    }

    /// Reads the Lease and takes or renews it if it is free, expired or ours (`holding`:
    /// this replica holds it and is renewing).
    async fn try_acquire_or_renew_as(&mut self, holding: bool) -> Result<Attempt, kube::Error> {
        let now = MicroTime(jiff::Timestamp::now());
        let duration_seconds =
            i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_duration_seconds: Some(duration_seconds),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(written) => {
                    self.held = Some(written);
                    Ok(Attempt::Held)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    Ok(Attempt::HeldBy("another replica".to_string()))
                }
                Err(error) => Err(error),
            };
        };
        let record_version = lease.metadata.resource_version.clone().unwrap_or_default();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(self.config.identity.as_str());
        let ours_to_renew = mine && (holding || self.may_reclaim);
        if !ours_to_renew && let Some(holder) = holder {
            // Expired only if the record has not changed for a whole lease duration (the
            // holder's, as written in the record) since this replica first saw it.
            let valid_for = spec
                .lease_duration_seconds
                .and_then(|seconds| u64::try_from(seconds).ok())
                .filter(|seconds| *seconds > 0)
                .map_or(self.config.lease_duration, Duration::from_secs);
            let first_seen = match &self.observed {
                Some((version, seen)) if *version == record_version => *seen,
                _ => {
                    self.observed = Some((record_version, Instant::now()));
                    return Ok(Attempt::HeldBy(holder));
                }
            };
            if first_seen.elapsed() < valid_for {
                return Ok(Attempt::HeldBy(holder));
            }
        }
        if !mine {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
            spec.holder_identity = Some(self.config.identity.clone());
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(duration_seconds);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observed = None;
                self.held = Some(written);
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(Attempt::HeldBy("another replica".to_string()))
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_leave_room_to_step_down() {
        let config = LeaseConfig::new("tenant-operator", "replica-a");
        assert!(config.check().is_ok());
        let mut equal = config.clone();
        equal.renew_deadline = equal.lease_duration;
        let error = equal.check().expect_err("a deadline as long as the lease");
        assert!(
            error
                .to_string()
                .contains("shorter than the lease duration")
        );
        let mut slow = config.clone();
        slow.renew_interval = slow.renew_deadline;
        let error = slow
            .check()
            .expect_err("an interval as long as the deadline");
        assert!(error.to_string().contains("renew interval"));
        let mut eager = config;
        eager.retry_interval = Duration::ZERO;
        assert!(eager.check().is_err());
    }
}
