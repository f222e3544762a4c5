//! Leader election against a slow API server (the server's latency injection): a leader
//! that keeps renewing is not deposed, and one that cannot renew stops writing before the
//! standby takes over. The assertions are about outcomes and the order of events, never
//! about how long something took.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use fake_apiserver::Faults;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tenant_operator::reconcile::leader::LeaseConfig;

const LEASE: &str = "tenant-operator-leader";

/// Lease settings of these tests: a 4 s lease, a 2.5 s renew deadline, renewed every
/// 500 ms.
fn lease(identity: &str) -> LeaseConfig {
    let mut lease = LeaseConfig::new(OPERATOR_NS, identity);
    lease.lease_duration = Duration::from_secs(4);
    lease.renew_deadline = Duration::from_millis(2500);
    lease.renew_interval = Duration::from_millis(500);
    lease.retry_interval = Duration::from_millis(500);
    lease
}

fn replica(identity: &str) -> tenant_operator::reconcile::controller::OperatorConfig {
    let mut config = test_config();
    config.leader_election = Some(lease(identity));
    config.identity = identity.into();
    config
}

fn latency(millis: u64) -> Faults {
    Faults {
        latency: Duration::from_millis(millis),
        ..Faults::default()
    }
}

/// Watches the `leader` gauges of two replicas from a background task, reading the
/// standby's first and the leader's second: if the standby already leads when the old
/// leader still does, the two overlapped (a violation that cannot be explained by the
/// order of the two reads). Also records the order in which the old leader stepped down
/// and the standby took over.
struct LeaderWatch {
    overlap: Arc<AtomicBool>,
    /// Sequence number (of the polls) at which each was first seen; 0 = not yet.
    old_stepped_down_at: Arc<AtomicU64>,
    new_took_over_at: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaderWatch {
    fn start(old: &Operator, new: &Operator) -> LeaderWatch {
        let overlap = Arc::new(AtomicBool::new(false));
        let old_stepped_down_at = Arc::new(AtomicU64::new(0));
        let new_took_over_at = Arc::new(AtomicU64::new(0));
        let (old_metrics, new_metrics) = (old.metrics.clone(), new.metrics.clone());
        let leads = |metrics: &tenant_operator::telemetry::Metrics| metrics.leader.get() == 1;
        let task = tokio::spawn({
            let (overlap, down, over) = (
                overlap.clone(),
                old_stepped_down_at.clone(),
                new_took_over_at.clone(),
            );
            async move {
                let mut poll = 0u64;
                loop {
                    poll += 1;
                    let new_leads = leads(&new_metrics);
                    let old_leads = leads(&old_metrics);
                    if new_leads && old_leads {
                        overlap.store(true, Ordering::SeqCst);
                    }
                    if !old_leads && down.load(Ordering::SeqCst) == 0 {
                        down.store(poll, Ordering::SeqCst);
                    }
                    if new_leads && over.load(Ordering::SeqCst) == 0 {
                        over.store(poll, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        LeaderWatch {
            overlap,
            old_stepped_down_at,
            new_took_over_at,
            task,
        }
    }
}

impl Drop for LeaderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two replicas, `replica-a` leading with a Ready tenant, `replica-b` ready as a standby.
async fn two_replicas(h: &Harness) -> (Operator, Operator) {
    let a = h.start_operator_as_agent("replica-a", replica("replica-a"));
    h.apply(&tenant_fixture("comune-trani")).await;
    h.wait_ready("comune-trani").await;
    assert_eq!(a.metrics.leader.get(), 1);
    let b = h.start_operator_as_agent("replica-b", replica("replica-b"));
    h.eventually(Duration::from_secs(10), "standby ready", || async {
        b.readiness.problems().is_empty()
    })
    .await;
    assert_eq!(b.metrics.leader.get(), 0);
    (a, b)
}

/// The Lease's holder, renew time and transitions, read as the admin.
async fn lease_record(h: &Harness) -> (Option<String>, Option<String>, Option<i32>) {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let spec = leases.get(LEASE).await.expect("lease").spec.expect("spec");
    (
        spec.holder_identity,
        spec.renew_time.map(|t| t.0.to_string()),
        spec.lease_transitions,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_renews_through_a_second_of_latency_is_not_deposed() {
    let h = Harness::new().await;
    let (a, b) = two_replicas(&h).await;
    let watch = LeaderWatch::start(&a, &b);
    let (_, _, transitions) = lease_record(&h).await;

    // Every request now takes a second: a renewal (one request) still fits the 2.5 s
    // deadline, and the standby keeps seeing the record change within the 4 s lease.
    h.server.set_faults(latency(1000));
    let mut renewals = Vec::new();
    while renewals.len() < 8 {
        let (holder, renewed, _) = lease_record(&h).await;
        assert_eq!(
            holder.as_deref(),
            Some("replica-a"),
            "the leader was deposed"
        );
        if renewed.is_some() && renewals.last() != Some(&renewed) {
            renewals.push(renewed);
        }
    }
    h.server.set_faults(Faults::default());

    // Eight renewals observed, more than two lease durations: the leader never stepped
    // down, the standby never led, and both are still ready.
    assert_eq!(
        watch.old_stepped_down_at.load(Ordering::SeqCst),
        0,
        "the leader stepped down under latency it could renew through"
    );
    assert_eq!(watch.new_took_over_at.load(Ordering::SeqCst), 0);
    let (holder, _, after) = lease_record(&h).await;
    assert_eq!(holder.as_deref(), Some("replica-a"));
    assert_eq!(after, transitions, "the Lease changed hands");
    assert!(a.readiness.problems().is_empty() && b.readiness.problems().is_empty());
    assert!(!a.is_finished() && !b.is_finished());
    // The leader still works: a new tenant is provisioned, by it alone.
    let standby_writes = b.writes();
    h.apply(&tenant_fixture("comune-bisceglie")).await;
    h.wait_ready("comune-bisceglie").await;
    assert_eq!(b.writes(), standby_writes, "the standby wrote");
    a.stop().await.expect("clean stop");
    b.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_steps_down_before_the_standby_takes_over() {
    let h = Harness::new().await;
    let (a, b) = two_replicas(&h).await;
    let watch = LeaderWatch::start(&a, &b);

    // Every request of the leader now takes three seconds (its network path to the API
    // server is slow; the standby's is not): no renewal fits the 2.5 s deadline. The
    // standby sees the Lease unchanged for the 4 s lease and takes it.
    h.server.set_faults(Faults {
        client_latency: vec![("replica-a".into(), Duration::from_secs(3))],
        ..Faults::default()
    });
    // Waited on through the watcher, not the metric: on a busy machine the watcher's task
    // may not have polled yet when the metric turns, and its record is what is checked.
    h.eventually(Duration::from_secs(60), "the standby leads", || async {
        watch.new_took_over_at.load(Ordering::SeqCst) > 0
    })
    .await;
    h.server.set_faults(Faults::default());
    assert_eq!(b.metrics.leader.get(), 1);

    let stepped_down = watch.old_stepped_down_at.load(Ordering::SeqCst);
    let took_over = watch.new_took_over_at.load(Ordering::SeqCst);
    assert!(
        !watch.overlap.load(Ordering::SeqCst),
        "both replicas led at once"
    );
    // Seen at the same poll is possible when the watcher was not scheduled in between;
    // the overlap flag above says they did not lead at once.
    assert!(
        stepped_down > 0 && stepped_down <= took_over,
        "the old leader stepped down at poll {stepped_down}, the standby took over at poll {took_over}"
    );
    let (holder, _, _) = lease_record(&h).await;
    assert_eq!(holder.as_deref(), Some("replica-b"));
    // The old leader did not exit: it stands by, ready, and writes nothing more.
    assert!(!a.is_finished());
    assert!(
        a.readiness.problems().is_empty(),
        "{:?}",
        a.readiness.problems()
    );
    assert_eq!(a.metrics.leader.get(), 0);
    let old_writes = a.writes();
    // The new leader provisions; the old one stays out of it.
    h.apply(&tenant_fixture("comune-molfetta")).await;
    h.wait_ready("comune-molfetta").await;
    assert_eq!(
        a.writes(),
        old_writes,
        "the replica that stepped down wrote"
    );
    assert!(!watch.overlap.load(Ordering::SeqCst));
    let (holder, _, _) = lease_record(&h).await;
    assert_eq!(holder.as_deref(), Some("replica-b"), "the Lease went back");
    a.stop().await.expect("clean stop");
    b.stop().await.expect("clean stop");
}
