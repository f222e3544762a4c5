//! The audit of a live cluster agrees with the audit of what render would create: the
//! controller provisions the samples on a fresh in-memory API server (with the platform
//! objects the chart installs), then the cluster is read as `audit --kubeconfig` reads it
//! (a client from the written kubeconfig, list calls only) and its reachability, access and
//! check outcomes are compared with `audit -f samples/`'s.

mod common;

use std::time::Duration;

use common::*;
use kube::api::Patch;
use tenant_operator::api::{TenantClass, TenantService};
use tenant_operator::audit::report::Report;
use tenant_operator::audit::{self, Settings, Snapshot};

/// The offline audit: the samples rendered with the default classes, on the chart's
/// platform objects.
fn offline() -> Report {
    let tenants: Vec<TenantService> = sample_manifests()
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a TenantService"))
        .collect();
    let classes: Vec<TenantClass> = class_manifests()
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a TenantClass"))
        .collect();
    let settings = Settings::default();
    let delegations = tenant_operator::samples::sample_delegations().expect("delegations parse");
    let snapshot = Snapshot::render(tenants, classes, delegations, &settings.platform)
        .expect("samples render");
    audit::audit(&snapshot, &settings).expect("audits")
}

/// What both audits must agree on: reachability and access whole, and each check's
/// outcome (the evidence may name objects differently, e.g. the live cluster's extra
/// namespaces in notes).
fn comparable(report: &Report) -> (Vec<String>, Vec<String>, Vec<String>) {
    let reach = report
        .reachability
        .iter()
        .map(|r| serde_json::to_string(r).expect("serialises"))
        .collect();
    let access = report
        .access
        .iter()
        .map(|a| serde_json::to_string(a).expect("serialises"))
        .collect();
    let checks = report
        .checks
        .iter()
        .map(|c| format!("{} {} {:?} {:?}", c.id, c.title, c.namespace, c.result))
        .collect();
    (reach, access, checks)
}

/// Fails with only the entries that differ.
fn assert_same(what: &str, live: &[String], offline: &[String]) {
    let only_live: Vec<&String> = live.iter().filter(|e| !offline.contains(e)).collect();
    let only_offline: Vec<&String> = offline.iter().filter(|e| !live.contains(e)).collect();
    assert!(
        only_live.is_empty() && only_offline.is_empty(),
        "{what} differs:\nonly live: {only_live:#?}\nonly offline: {only_offline:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_audit_matches_the_offline_audit_of_the_samples() {
    // The harness installs the platform the chart installs (its RBAC and the admission
    // policies); then the classes and tenants a GitOps tool applies.
    let h = Harness::new().await;
    let (operator, _) = h.provision_samples().await;

    // Read the cluster as `audit --kubeconfig` does.
    let kubeconfig =
        std::env::temp_dir().join(format!("audit-live-{}.kubeconfig", std::process::id()));
    h.server
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let config = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig reads");
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(config, &Default::default())
            .await
            .expect("config"),
    )
    .expect("client");
    h.wait_quiet(Duration::from_millis(300)).await;
    let reads_before = h.writes();
    let (snapshot, notes) = audit::live::snapshot(&client)
        .await
        .expect("the cluster lists");
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(h.writes(), reads_before, "the audit only reads");
    let live = audit::audit(&snapshot, &Settings::default()).expect("audits");
    let offline = offline();

    let (live_reach, live_access, live_checks) = comparable(&live);
    let (offline_reach, offline_access, offline_checks) = comparable(&offline);
    assert_same("reachability", &live_reach, &offline_reach);
    // The live cluster also holds the API server's bootstrap policy (as kube-apiserver's:
    // cluster-admin for system:masters, the self reviews for system:authenticated) and the
    // chart's binding of the operator's ClusterRole: rights cluster-wide (`*`) of system
    // groups and of the operator's ServiceAccount, which the checks below judge alike.
    let tenant_access = |entries: &[String]| -> Vec<String> {
        entries
            .iter()
            .filter(|e| !e.contains(r#""namespace":"*""#))
            .cloned()
            .collect()
    };
    assert_same(
        "access in tenant namespaces",
        &tenant_access(&live_access),
        &tenant_access(&offline_access),
    );
    let operator_account = format!("ServiceAccount:{OPERATOR_NS}/tenant-operator");
    for entry in live.access.iter().filter(|a| a.namespace == "*") {
        assert!(
            entry.subject.starts_with("Group:system:") || entry.subject == operator_account,
            "{entry:?}"
        );
    }
    assert!(offline.access.iter().all(|a| a.namespace != "*"));
    assert_same("check outcomes", &live_checks, &offline_checks);
    assert_eq!(live.summary.checks, offline.summary.checks);
    assert_eq!(live.summary.tenant_pairs, offline.summary.tenant_pairs);
    assert!(
        live.passed(),
        "{:#?}",
        live.checks
            .iter()
            .filter(|c| !matches!(c.result, audit::report::Outcome::Pass))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        live.summary.tenant_pairs_allowed, 4,
        "the consenting pair, both ways"
    );

    // A hand edit of the live cluster shows up in the next audit (before the operator
    // reverts it): drop the caller's egress towards the Region.
    let api = dynamic_api(
        &h.client,
        &serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": "asl-bari-prod"}}),
    );
    operator.stop().await.expect("operator stops");
    api.patch(
        "tenancy-allow-to-tenants",
        &kube::api::PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"egress": [{"to": [{"podSelector": {}}]}]}})),
    )
    .await
    .expect("hand edit");
    let (snapshot, _) = audit::live::snapshot(&client)
        .await
        .expect("the cluster lists");
    let edited = audit::audit(&snapshot, &Settings::default()).expect("audits");
    assert_eq!(edited.summary.tenant_pairs_allowed, 3);
    let broken: Vec<_> = edited
        .checks
        .iter()
        .filter(|c| c.id == "TENANCY-NET-3" && c.result == audit::report::Outcome::Fail)
        .filter_map(|c| c.namespace.clone())
        .collect();
    assert_eq!(broken, ["asl-bari-prod", "regione-puglia-prod"]);
    let _ = std::fs::remove_file(&kubeconfig);
}
