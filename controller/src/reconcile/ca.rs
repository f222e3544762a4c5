//! The regional CA at run time: which CA issues (shared by every reconcile through
//! [`CaHandle`]), the watch on the CA Secret that notices a rotation, a deletion or a
//! repair, the pace of re-issuing leaves after a rotation, and the check that drops a
//! retiring CA from the trust bundle once no leaf chains to it.
//!
//! Every change is reported four ways: the CA record ConfigMap (which CA issues, which are
//! retiring), metrics (`tenant_operator_ca_*`), a log line and an Event on the record
//! ConfigMap in the operator's namespace. While no CA can issue, the tenants that need a
//! certificate report it in their `Certificates` and `Ready` conditions.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::events::{Event, EventType};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::time::Instant;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::context::Context;
use super::error::Error;
use super::inventory::ObjectKey;
use super::write;
use crate::kinds::ManagedKind;
use crate::pki::store::{self, ca_from_secret, ca_record_config_map};
use crate::pki::{CaUnavailable, RegionalCa, Rotation, Trust};

/// The CA state every reconcile reads, and the pace of re-issuing after a rotation.
pub struct CaHandle {
    trust: RwLock<Arc<Trust>>,
    pacer: Mutex<Pacer>,
}

impl CaHandle {
    /// A handle on `trust`. After a rotation, the first leaf is re-issued `settle` after
    /// the new bundle was published, then at most one per `reissue_interval`.
    pub fn new(trust: Trust, reissue_interval: Duration, settle: Duration) -> CaHandle {
        let mut pacer = Pacer::new(reissue_interval, settle);
        if !trust.retiring().is_empty() {
            // Started in the middle of a rotation: the bundle is published again now.
            pacer.start_rotation(Instant::now());
        }
        CaHandle {
            trust: RwLock::new(Arc::new(trust)),
            pacer: Mutex::new(pacer),
        }
    }

    /// The CA state now. Cheap (an `Arc`): a reconcile takes it once and uses it throughout.
    pub fn current(&self) -> Arc<Trust> {
        self.trust
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the state.
    fn set(&self, trust: Trust) {
        *self.trust.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(trust);
    }

    /// Replaces the state if it is still `expected` (a retirement computed from a state that a
    /// rotation has meanwhile replaced is dropped). Whether it was replaced.
    fn replace(&self, expected: &Arc<Trust>, trust: Trust) -> bool {
        let mut current = self.trust.write().unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&current, expected) {
            *current = Arc::new(trust);
            true
        } else {
            false
        }
    }

    /// Whether the leaf in `key` may be re-issued now because of a rotation; if not, how long
    /// until its turn (its slot is kept for it).
    pub fn reissue_slot(&self, key: &ObjectKey) -> Result<(), Duration> {
        self.pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(key, Instant::now())
    }

    fn start_rotation(&self) {
        self.pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .start_rotation(Instant::now());
    }

    fn end_rotation(&self) {
        self.pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reservations
            .clear();
    }
}

/// Spreads the re-issuing of leaves after a rotation: none before the new bundle has had
/// `settle` to reach the clients, then one per `interval`, in turn. A leaf that asks while
/// the slots are taken gets the next free one and comes back then, so a rotation over
/// thousands of tenants costs each of them two looks, not one per interval.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    settle: Duration,
    next_free: Option<Instant>,
    reservations: HashMap<ObjectKey, Instant>,
}

impl Pacer {
    fn new(interval: Duration, settle: Duration) -> Pacer {
        Pacer {
            interval,
            settle,
            next_free: None,
            reservations: HashMap::new(),
        }
    }

    /// A rotation was just published: the first slot is `settle` from `now`.
    fn start_rotation(&mut self, now: Instant) {
        self.reservations.clear();
        self.next_free = Some(now + self.settle);
    }

    fn take(&mut self, key: &ObjectKey, now: Instant) -> Result<(), Duration> {
        if let Some(at) = self.reservations.get(key).copied() {
            if at <= now {
                self.reservations.remove(key);
                return Ok(());
            }
            return Err(at - now);
        }
        match self.next_free {
            Some(free) if free > now => {
                self.reservations.insert(key.clone(), free);
                self.next_free = Some(free + self.interval);
                Err(free - now)
            }
            _ => {
                self.next_free = Some(now + self.interval);
                Ok(())
            }
        }
    }
}

/// The Event target: the CA record ConfigMap in the operator's namespace (the Secret may be
/// missing, and Events must not name what holds the key more than needed).
fn record_reference(namespace: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("ConfigMap".to_string()),
        name: Some(store::CA_RECORD_CONFIG_MAP.to_string()),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    }
}

/// Publishes an Event about the regional CA; failure is logged (Events inform, the record
/// and the metrics are what alerts read).
async fn ca_event(ctx: &Context, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note.chars().take(1024).collect()),
        action: "Issue".to_string(),
        secondary: None,
    };
    ctx.metrics
        .writes
        .with_label_values(&["create", "Event"])
        .inc();
    if let Err(error) = ctx
        .recorder
        .publish(&event, &record_reference(&ctx.settings.operator_namespace))
        .await
    {
        tracing::warn!(%error, reason, "could not publish an Event about the regional CA");
    }
}

/// Writes the CA record (only when it changed) and the metrics of `trust`.
pub async fn publish_state(ctx: &Context, trust: &Trust) -> Result<(), Error> {
    ctx.metrics.ca.observe(trust);
    let Some(record) = trust.record() else {
        return Ok(());
    };
    let namespace = &ctx.settings.operator_namespace;
    let key = ObjectKey::new(
        ManagedKind::ConfigMap,
        Some(namespace),
        store::CA_RECORD_CONFIG_MAP,
    );
    let body = ca_record_config_map(namespace, &record)
        .and_then(serde_json::to_value)
        .map_err(|source| Error::Serialize {
            what: key.to_string(),
            source,
        })?;
    let mut body = body;
    if let Some(object) = body.as_object_mut() {
        object.insert("apiVersion".into(), "v1".into());
        object.insert("kind".into(), "ConfigMap".into());
    }
    write::ensure(ctx, &key, &body).await.map(drop)
}

/// Reports the state at start: the log line and Event of how the CA was found.
pub async fn report_start(ctx: &Context, trust: &Trust, generated: Option<&str>) {
    match (trust.issuing(), trust.problem()) {
        (Some(ca), _) => {
            if let Some(why) = generated {
                tracing::warn!(fingerprint = ca.fingerprint(), not_after = %ca.not_after(), why, "generated a new regional CA");
                ca_event(
                    ctx,
                    EventType::Normal,
                    "CAGenerated",
                    format!(
                        "generated regional CA {} (valid until {}): {why}",
                        ca.fingerprint(),
                        ca.not_after()
                    ),
                )
                .await;
            } else {
                tracing::info!(fingerprint = ca.fingerprint(), not_after = %ca.not_after(), retiring = trust.retiring().len(), "loaded the regional CA");
            }
        }
        (None, Some(problem)) => report_unavailable(ctx, problem).await,
        (None, None) => {}
    }
}

async fn report_unavailable(ctx: &Context, problem: &CaUnavailable) {
    tracing::error!(reason = problem.reason(), "{problem}");
    ca_event(
        ctx,
        EventType::Warning,
        problem.reason(),
        problem.to_string(),
    )
    .await;
}

/// What a CA Secret event means for the state.
fn next_state(
    trust: &Trust,
    secret: Option<&Secret>,
    namespace: &str,
    name: &str,
    now: jiff::Timestamp,
) -> (Trust, Option<Rotation>) {
    let Some(secret) = secret else {
        if trust.issuing().is_none() {
            // Already unavailable (and reported): a missing Secret changes nothing.
            return (trust.clone(), None);
        }
        return (
            trust.without_signer(CaUnavailable::Deleted {
                secret: format!("{namespace}/{name}"),
            }),
            None,
        );
    };
    match ca_from_secret(secret, namespace, now) {
        Ok(ca) => trust.with_signer(ca, now),
        Err(problem) => (
            trust.without_signer(CaUnavailable::Invalid {
                problem: problem.to_string(),
            }),
            None,
        ),
    }
}

/// Whether two states differ in what reconciles or clients see.
fn differs(a: &Trust, b: &Trust) -> bool {
    let fingerprint = |t: &Trust| t.issuing().map(|ca| ca.fingerprint().to_string());
    fingerprint(a) != fingerprint(b)
        || a.problem() != b.problem()
        || a.bundle_pem() != b.bundle_pem()
}

/// The watch on the CA Secret (by name, in the operator's namespace). Each change that
/// matters replaces the state, is recorded and reported, and yields `()` so that the
/// caller reconciles every tenant (new bundle, new issuer, or certificates now possible).
pub fn watch_secret(
    client: &Client,
    ctx: Arc<Context>,
    name: String,
) -> impl Stream<Item = ()> + Send + 'static {
    let namespace = ctx.settings.operator_namespace.clone();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Whether the current (re)list has found the Secret: a relist after a watch gap reports
    // what exists, not what was deleted meanwhile.
    let listed = Arc::new(AtomicBool::new(false));
    watcher(api, config)
        .default_backoff()
        .filter_map(move |event| {
            let ctx = ctx.clone();
            let namespace = namespace.clone();
            let name = name.clone();
            let listed = listed.clone();
            async move {
                let secret = match event {
                    Ok(watcher::Event::Apply(secret)) => Some(secret),
                    Ok(watcher::Event::InitApply(secret)) => {
                        listed.store(true, Ordering::Relaxed);
                        Some(secret)
                    }
                    Ok(watcher::Event::Delete(_)) => None,
                    Ok(watcher::Event::Init) => {
                        listed.store(false, Ordering::Relaxed);
                        return None;
                    }
                    Ok(watcher::Event::InitDone) if !listed.load(Ordering::Relaxed) => None,
                    Ok(watcher::Event::InitDone) => return None,
                    Err(error) => {
                        tracing::warn!(%error, "watching the regional CA Secret");
                        return None;
                    }
                };
                let before = ctx.ca.current();
                let (after, rotation) = next_state(
                    &before,
                    secret.as_ref(),
                    &namespace,
                    &name,
                    jiff::Timestamp::now(),
                );
                if !differs(&before, &after) {
                    return None;
                }
                ctx.ca.set(after.clone());
                if rotation.is_some() {
                    ctx.ca.start_rotation();
                }
                if let Err(error) = publish_state(&ctx, &after).await {
                    tracing::warn!(%error, "could not record the regional CA");
                }
                if let Some(rotation) = &rotation {
                    tracing::warn!(from = %rotation.from, to = %rotation.to, retiring = after.retiring().len(), "the regional CA was rotated: the trust bundle holds both; leaves are re-issued gradually");
                    ca_event(
                        &ctx,
                        EventType::Normal,
                        "CARotationStarted",
                        format!(
                            "the regional CA Secret now holds CA {}; CA {} stays in the trust bundle until no leaf chains to it; leaves are re-issued at the configured rate",
                            rotation.to, rotation.from
                        ),
                    )
                    .await;
                } else if let Some(problem) = after.problem() {
                    report_unavailable(&ctx, problem).await;
                } else if let (Some(ca), None) = (after.issuing(), before.issuing()) {
                    tracing::info!(fingerprint = ca.fingerprint(), "the regional CA Secret is usable again: certificates are issued");
                    ca_event(
                        &ctx,
                        EventType::Normal,
                        "CAAvailable",
                        format!("regional CA {} is usable again", ca.fingerprint()),
                    )
                    .await;
                }
                Some(())
            }
        })
}

/// Counts `secret`'s leaf in `counts` if it chains to a retiring CA (by fingerprint).
fn count_retiring(trust: &Trust, secret: &Secret, counts: &mut BTreeMap<String, usize>) {
    let Some(der) = store::leaf_der(secret) else {
        return;
    };
    let Ok((_, leaf)) = X509Certificate::from_der(&der) else {
        return;
    };
    if let Some(ca) = trust.retiring().iter().find(|ca| ca.issued(&leaf)) {
        *counts.entry(ca.fingerprint.clone()).or_insert(0) += 1;
    }
}

/// One look at the retiring CAs: counts the leaves that still chain to them (a metric),
/// and drops from the bundle each one that none chains to. Whether the state changed.
pub async fn check_retiring(ctx: &Context) -> bool {
    let trust = ctx.ca.current();
    if trust.retiring().is_empty() {
        ctx.metrics.ca.retiring_certificates.set(0);
        return false;
    }
    let mut counts = BTreeMap::new();
    if let Err(error) = store::scan_tenant_certificates(&ctx.client, |secret| {
        count_retiring(&trust, secret, &mut counts);
        ControlFlow::<()>::Continue(())
    })
    .await
    {
        tracing::warn!(%error, "listing tenant certificates to retire a rotated-out CA");
        return false;
    }
    let pending: usize = counts.values().sum();
    ctx.metrics
        .ca
        .retiring_certificates
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    let Some(next) = trust.retire(&counts, jiff::Timestamp::now()) else {
        return false;
    };
    let dropped: Vec<String> = trust
        .retiring()
        .iter()
        .filter(|ca| {
            !next
                .retiring()
                .iter()
                .any(|k| k.fingerprint == ca.fingerprint)
        })
        .map(|ca| ca.fingerprint.clone())
        .collect();
    if !ctx.ca.replace(&trust, next.clone()) {
        return false;
    }
    if next.retiring().is_empty() {
        ctx.ca.end_rotation();
    }
    if let Err(error) = publish_state(ctx, &next).await {
        tracing::warn!(%error, "could not record the regional CA");
    }
    tracing::info!(
        ?dropped,
        "no leaf chains to the rotated-out CA any more: dropped from the trust bundle"
    );
    ca_event(
        ctx,
        EventType::Normal,
        "CARetired",
        format!(
            "no tenant certificate chains to CA {} any more: removed from the trust bundle",
            dropped.join(", ")
        ),
    )
    .await;
    true
}

/// Reads the CA at start: the record, then the Secret (see [`store::load_ca`]), and the state
/// they make together. Returns the state and, if a root was generated, why; a transient API
/// error is returned for the start-up step to retry.
pub async fn load_at_start(
    client: &Client,
    namespace: &str,
    name: &str,
    settings: &crate::pki::CaSettings,
    new_root: crate::pki::NewRoot,
) -> Result<(Trust, Option<&'static str>), kube::Error> {
    let now = jiff::Timestamp::now();
    let record = store::read_ca_record(client, namespace).await?;
    let recorded = Trust::recorded(record.as_ref(), now);
    Ok(
        match store::load_ca(
            client.clone(),
            namespace,
            name,
            settings,
            (
                new_root,
                recorded.current().map(|ca| ca.fingerprint.as_str()),
            ),
            now,
        )
        .await?
        {
            store::CaLoad::Loaded(ca) => (with_logged_rotation(&recorded, ca, now), None),
            store::CaLoad::Created(ca, why) => {
                (with_logged_rotation(&recorded, ca, now), Some(why))
            }
            store::CaLoad::Unavailable(problem) => (recorded.without_signer(problem), None),
        },
    )
}

/// `recorded` with `ca` issuing; a CA other than the recorded one (replaced while no
/// replica ran) is a rotation like any other.
fn with_logged_rotation(recorded: &Trust, ca: RegionalCa, now: jiff::Timestamp) -> Trust {
    let (trust, rotation) = recorded.with_signer(ca, now);
    if let Some(rotation) = rotation {
        tracing::warn!(from = %rotation.from, to = %rotation.to, "the regional CA differs from the recorded one: rotating; the trust bundle holds both until no leaf chains to the old one");
    }
    trust
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(ManagedKind::Secret, Some("a-prod"), name)
    }

    #[test]
    fn the_pacer_hands_out_one_slot_per_interval_in_turn() {
        let interval = Duration::from_secs(10);
        let mut pacer = Pacer::new(interval, Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(pacer.take(&key("a"), t0), Ok(()));
        // b and c get the next two slots, and keep them when they ask again early.
        assert_eq!(pacer.take(&key("b"), t0), Err(interval));
        assert_eq!(pacer.take(&key("c"), t0), Err(interval * 2));
        assert_eq!(
            pacer.take(&key("b"), t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(pacer.take(&key("b"), t0 + interval), Ok(()));
        assert_eq!(
            pacer.take(&key("c"), t0 + interval),
            Err(interval),
            "c waits for its own slot"
        );
        assert_eq!(pacer.take(&key("c"), t0 + interval * 2), Ok(()));
        // After a quiet spell, the next leaf goes at once.
        assert_eq!(pacer.take(&key("d"), t0 + interval * 10), Ok(()));
        // A rotation: nothing before the bundle has settled.
        let t1 = t0 + interval * 20;
        pacer.start_rotation(t1);
        assert_eq!(pacer.take(&key("e"), t1), Err(Duration::from_secs(30)));
        assert_eq!(pacer.take(&key("f"), t1), Err(Duration::from_secs(40)));
        assert_eq!(pacer.take(&key("e"), t1 + Duration::from_secs(30)), Ok(()));
    }
}
