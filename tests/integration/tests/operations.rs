//! Running the operator: two replicas with leader election, and a restart in the middle of
//! provisioning.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kube::Api;
use kube::api::ListParams;
use tenant_operator::api::TenantService;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_leader_writes_and_the_standby_takes_over() {
    let h = Harness::new().await;
    let mut first = test_config();
    first.leader_election = Some(test_lease("replica-a"));
    first.identity = "replica-a".into();
    let a = h.start_operator(first);
    h.apply(&tenant_fixture("comune-andria")).await;
    h.wait_ready("comune-andria").await;

    let mut second = test_config();
    second.leader_election = Some(test_lease("replica-b"));
    second.identity = "replica-b".into();
    let b = h.start_operator(second);
    // The standby is ready as soon as its caches have synced, without the Lease: a rollout
    // (zero unavailable) and a PodDisruptionBudget can count it.
    h.eventually(Duration::from_secs(10), "standby ready", || async {
        b.readiness.problems().is_empty()
    })
    .await;
    assert_eq!(b.metric("tenant_operator_leader"), Some(0.0));
    h.apply(&tenant_fixture("comune-barletta")).await;
    h.wait_ready("comune-barletta").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // more than a lease duration
    assert_eq!(a.metric("tenant_operator_leader"), Some(1.0));
    assert_eq!(b.metric("tenant_operator_leader"), Some(0.0));
    assert!(a.writes() > 0);
    assert_eq!(b.writes(), 0, "the standby wrote");
    assert!(
        b.readiness.problems().is_empty(),
        "the standby stopped being ready"
    );
    assert!(!b.is_finished());

    // The leader stops (releasing the Lease): the standby takes over and provisions.
    a.stop().await.expect("clean stop");
    h.apply(&tenant_fixture("comune-canosa")).await;
    h.wait_ready("comune-canosa").await;
    assert_eq!(b.metric("tenant_operator_leader"), Some(1.0));
    assert!(b.writes() > 0);
    b.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_its_lease_stands_by_ready_and_leads_again_when_it_expires() {
    let h = Harness::new().await;
    let mut config = test_config();
    config.leader_election = Some(test_lease("replica-a"));
    let a = h.start_operator(config);
    h.apply(&tenant_fixture("comune-minervino")).await;
    h.wait_ready("comune-minervino").await;
    // Someone else takes the Lease (as after a network partition).
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(h.client.clone(), OPERATOR_NS);
    let mut lease = leases.get("tenant-operator-leader").await.expect("lease");
    lease.spec.as_mut().expect("spec").holder_identity = Some("intruder".into());
    leases
        .replace("tenant-operator-leader", &Default::default(), &lease)
        .await
        .expect("take lease");
    h.eventually(Duration::from_secs(5), "replica stepped down", || async {
        a.metric("tenant_operator_leader") == Some(0.0)
    })
    .await;
    // It stands by: still running, still ready, no restart.
    assert!(!a.is_finished());
    assert!(
        a.readiness.problems().is_empty(),
        "{:?}",
        a.readiness.problems()
    );
    // The intruder never renews: once its record has expired, the replica leads again and
    // provisions what was applied meanwhile.
    h.apply(&tenant_fixture("comune-spinazzola")).await;
    h.wait_ready("comune-spinazzola").await;
    assert_eq!(a.metric("tenant_operator_leader"), Some(1.0));
    let lease = leases.get("tenant-operator-leader").await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-a"));
    assert_eq!(spec.lease_transitions, Some(1), "taken back once");
    a.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_provisioning_converges_without_duplicates_or_orphans() {
    let h = Harness::new().await;
    let names: Vec<String> = (0..30).map(|i| format!("comune-test-{i:02}")).collect();
    for name in &names {
        h.apply(&tenant_fixture(name)).await;
    }
    let first = h.start_operator(test_config());
    // Crash as soon as some, but not all, tenants are Ready.
    h.eventually(
        Duration::from_secs(20),
        "some tenants provisioned",
        || async {
            let tenants = Api::<TenantService>::all(h.client.clone())
                .list(&ListParams::default())
                .await
                .expect("list");
            tenants.items.iter().any(is_ready)
        },
    )
    .await;
    first.kill();

    let second = h.start_operator(test_config());
    for name in &names {
        h.wait_ready(name).await;
    }
    // Exactly the desired namespaces, each once; every managed object belongs to a tenant.
    let namespaces: Vec<String> =
        Api::<k8s_openapi::api::core::v1::Namespace>::all(h.client.clone())
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=tenant-operator"))
            .await
            .expect("list namespaces")
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|n| [format!("{n}-prod"), format!("{n}-test")])
        .collect();
    assert_eq!(
        namespaces.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(namespaces.len(), expected.len());
    for name in &names {
        let secrets = h.children("v1", "Secret", name).await;
        assert_eq!(secrets.len(), 2, "{name}: one TLS Secret per environment");
    }
    // And a restarted operator with a cold cache writes nothing once converged.
    tokio::time::sleep(Duration::from_secs(1)).await;
    second.stop().await.expect("clean stop");
    h.server.reset_request_counts();
    let third = h.start_operator(test_config());
    h.eventually(Duration::from_secs(10), "third replica synced", || async {
        third.readiness.problems().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        third
            .metric("tenant_operator_reconciles_total")
            .unwrap_or(0.0)
            >= names.len() as f64
    );
    assert_eq!(h.writes(), 0, "{:?}", h.server.request_counts().counts);
    third.stop().await.expect("clean stop");
}
