//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several replicas only
//! one writes. Small on purpose (the algorithm of client-go's leaderelection):
//!
//! - a candidate takes the Lease when it does not exist, or when its record has not changed
//!   for `lease_duration` *as observed locally* (no comparison of clocks across machines);
//! - the holder renews every `renew_interval`; every write carries the resourceVersion read
//!   just before, so two candidates can never both succeed (409 Conflict for the loser);
//! - if the holder cannot renew for `lease_duration`, [`LeaderElector::hold`] returns and the
//!   process must stop writing (the binary exits).

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
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews.
    pub renew_interval: Duration,
    /// How often a candidate retries.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    /// Defaults of client-go-based controllers (15 s lease, renew every 5 s, retry every 2 s).
    pub fn new(namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.to_string(),
            name: "tenant-operator-leader".to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(2),
        }
    }
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
    /// The Lease could not be renewed within its duration.
    #[error("lease {namespace}/{name} not renewed for {elapsed:?}{}", after(.last_error.as_deref()))]
    RenewFailed {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// Time since the last successful renewal.
        elapsed: Duration,
        /// Why the last renewal failed (the API server's answer, or why it could not be
        /// reached), if a renewal failed at all.
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
}

impl LeaderElector {
    /// A participant for `config`.
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    /// Waits until this replica holds the Lease. API errors are logged and retried.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired leadership");
                    return;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    tracing::debug!(%holder, "lease held by another replica; waiting");
                }
                Err(error) => tracing::warn!(%error, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.retry_interval).await;
        }
    }

    /// Keeps renewing the Lease; returns only when leadership is lost.
    pub async fn hold(mut self) -> LeaseError {
        let mut last_renewed = Instant::now();
        let mut last_error = None;
        loop {
            tokio::time::sleep(self.config.renew_interval).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => last_renewed = Instant::now(),
                Ok(Attempt::HeldBy(holder)) => {
                    return LeaseError::TakenOver {
                        namespace: self.config.namespace.clone(),
                        name: self.config.name.clone(),
                        holder,
                    };
                }
                Err(error) => last_error = Some(Box::new(error)),
            }
            let elapsed = last_renewed.elapsed();
            if elapsed >= self.config.lease_duration {
                return LeaseError::RenewFailed {
                    namespace: self.config.namespace.clone(),
                    name: self.config.name.clone(),
                    elapsed,
                    last_error,
                };
            }
        }
    }

    /// Gives the Lease up (on orderly shutdown) so that a standby takes over at once.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
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
                Ok(_) => Ok(Attempt::Held),
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
        if !mine && let Some(holder) = holder {
            // Expired only if the record has not changed for a whole lease duration since
            // this replica first saw it.
            let first_seen = match &self.observed {
                Some((version, seen)) if *version == record_version => *seen,
                _ => {
                    self.observed = Some((record_version, Instant::now()));
                    return Ok(Attempt::HeldBy(holder));
                }
            };
            if first_seen.elapsed() < self.config.lease_duration {
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
            Ok(_) => {
                self.observed = None;
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(Attempt::HeldBy("another replica".to_string()))
            }
            Err(error) => Err(error),
        }
    }
}
