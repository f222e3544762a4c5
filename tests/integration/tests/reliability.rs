//! The operator on a server that fails: start-up waits through transient errors and ends
//! only on a permanent one, naming what to fix; a request that fails is retried in place,
//! so faults cost retries rather than failed reconciles; a restart of a Ready set writes
//! nothing. Outcomes and counts are asserted, never durations.

mod common;

use std::time::Duration;

use common::{Harness, tenant_fixture, test_config};
use fake_apiserver::Faults;
use kube::Api;
use kube::api::ListParams;
use tenant_operator::api::TenantService;

/// Failed reconciles, every category, from the replica's metrics.
fn reconcile_errors(operator: &common::Operator) -> u64 {
    let text = operator.metrics.encode().expect("metrics encode");
    text.lines()
        .filter(|l| l.starts_with("tenant_operator_reconcile_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Tenants the replica counts as Ready.
fn ready_tenants(operator: &common::Operator) -> f64 {
    operator
        .metric("tenant_operator_tenants{phase=\"Ready\"}")
        .unwrap_or(0.0)
}

/// Waits until `/readyz` reports a start-up step that starts with `waiting` and is being
/// retried (the operator waits for it instead of exiting).
async fn wait_until_start_up_waits(
    h: &Harness,
    operator: &common::Operator,
    waiting: &str,
    within: Duration,
) {
    h.eventually(
        within,
        &format!("/readyz saying start-up is {waiting}… and retrying"),
        || async {
            operator
                .readiness
                .problems()
                .iter()
                .any(|p| p.starts_with(waiting) && p.contains("retrying in"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_started_while_the_server_fails_waits_then_provisions() {
    let h = Harness::new().await;
    h.apply(&tenant_fixture("comune-attesa")).await;
    // Every request fails from now on, as during an API server restart.
    h.server.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    h.server.reset_request_counts();
    let operator = h.start_operator(test_config());
    wait_until_start_up_waits(&h, &operator, "waiting for CRD ", Duration::from_secs(20)).await;
    // Several requests failed, and the process is still there, waiting.
    h.eventually(
        Duration::from_secs(20),
        "several failed requests",
        || async { h.server.request_counts().code(500) >= 3 },
    )
    .await;
    assert!(!operator.is_finished(), "a transient error ended the run");

    h.server.set_faults(Faults::default());
    h.wait_ready("comune-attesa").await;
    assert!(
        !operator
            .readiness
            .problems()
            .iter()
            .any(|p| p.starts_with("waiting for")),
        "{:?}",
        operator.readiness.problems()
    );
    operator.stop().await.expect("clean stop");
}

/// Secrets failing while the operator starts on a fresh cluster: neither the CA Secret can
/// be read nor the tenant certificates counted. That is a wait, not a finding: had the failed
/// read been taken for "no CA, and a new root not allowed", nothing would ever read again
/// (the Secret watch finds no Secret to report) and no tenant would get a certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_secret_that_cannot_be_read_at_start_is_waited_for_not_taken_as_missing() {
    let h = Harness::new().await;
    h.apply(&tenant_fixture("comune-segreto")).await;
    h.server.set_faults(Faults {
        failing_resources: vec!["secrets".to_string()],
        ..Faults::default()
    });
    let operator = h.start_operator(test_config());
    wait_until_start_up_waits(
        &h,
        &operator,
        "waiting for the regional CA",
        Duration::from_secs(30),
    )
    .await;
    assert!(!operator.is_finished(), "a transient error ended the run");
    assert_eq!(
        operator
            .metric("tenant_operator_reconciles_total")
            .unwrap_or(0.0),
        0.0,
        "a tenant was reconciled before the CA was known"
    );

    h.server.set_faults(Faults::default());
    h.wait_ready("comune-segreto").await;
    assert_eq!(
        h.children("v1", "Secret", "comune-segreto").await.len(),
        2,
        "one certificate per environment, from the CA generated once Secrets could be read"
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_20_percent_fault_rate_requests_are_retried_not_reconciles() {
    let h = Harness::new().await;
    let names: Vec<String> = (0..4).map(|i| format!("comune-guasti-{i}")).collect();
    for name in &names {
        h.apply(&tenant_fixture(name)).await;
    }
    h.server.reset_request_counts();
    h.server.set_faults(Faults {
        error_rate: 0.2,
        ..Faults::default()
    });
    let operator = h.start_operator(test_config());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ready_tenants(&operator) != names.len() as f64 {
        assert!(
            std::time::Instant::now() < deadline,
            "not every tenant Ready under faults after 60 s; readiness: {:?}; {}",
            operator.readiness.problems(),
            operator
                .metrics
                .encode()
                .expect("metrics encode")
                .lines()
                .filter(|l| l.starts_with("tenant_operator_reconcile")
                    || l.starts_with("tenant_operator_tenants"))
                .filter(|l| !l.contains("_bucket"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let injected = h.server.request_counts().code(500);
    h.server.set_faults(Faults::default());

    // The faults were there, and the retries absorbed them: no reconcile failed more than
    // once, so no tenant's backoff grew beyond its first step. (A reconcile fails only if
    // one request fails six times in a row: 0.2^6 per request.)
    assert!(injected >= 10, "only {injected} requests answered 500");
    assert!(
        reconcile_errors(&operator) <= 1,
        "{} failed reconciles with {injected} injected faults: {}",
        reconcile_errors(&operator),
        operator
            .metrics
            .encode()
            .expect("metrics encode")
            .lines()
            .filter(|l| l.starts_with("tenant_operator_reconcile_errors_total{"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let tenants = Api::<TenantService>::all(h.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list tenants");
    for name in &names {
        let tenant = tenants
            .items
            .iter()
            .find(|t| t.metadata.name.as_deref() == Some(name.as_str()))
            .expect("tenant listed");
        assert!(common::is_ready(tenant), "{name} is not Ready in the API");
        assert_eq!(
            h.children("v1", "Secret", name).await.len(),
            2,
            "{name}: one TLS Secret per environment"
        );
    }
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_a_ready_set_neither_writes_nor_reads_the_objects() {
    let h = Harness::new().await;
    let names: Vec<String> = (0..5).map(|i| format!("comune-riavvio-{i}")).collect();
    for name in &names {
        h.apply(&tenant_fixture(name)).await;
    }
    let first = h.start_operator(test_config());
    for name in &names {
        h.wait_ready(name).await;
    }
    h.wait_quiet(Duration::from_millis(500)).await;
    first.stop().await.expect("clean stop");

    h.server.reset_request_counts();
    let second = h.start_operator(test_config());
    h.eventually(
        Duration::from_secs(20),
        "every tenant reconciled once",
        || async {
            second
                .metric("tenant_operator_reconciles_total")
                .unwrap_or(0.0)
                >= names.len() as f64
        },
    )
    .await;
    h.wait_quiet(Duration::from_millis(500)).await;
    let counts = h.server.request_counts();
    assert_eq!(h.writes(), 0, "{:?}", counts.counts);
    // Each object's fingerprint annotation, listed by the watches, says it is as applied:
    // no tenant object is read one by one (the five tenants have 25 objects each). Start-up
    // reads at most four of the operator's own: the CA Secret and the CA record, and the CA
    // record and bundle ConfigMaps again if they are compared before the ConfigMap watch has
    // listed them (a race: sometimes zero of these two, sometimes both).
    let reads: u64 = counts
        .counts
        .iter()
        .filter(|((verb, resource, _), _)| {
            verb == "get" && !resource.starts_with("customresourcedefinitions")
        })
        .map(|(_, n)| n)
        .sum();
    assert!(
        reads <= 4,
        "objects read one by one on restart: {:?}",
        counts.counts
    );
    second.stop().await.expect("clean stop");
}
