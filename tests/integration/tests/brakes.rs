//! Brakes on one tenant: the suspend annotation, as a datacenter operator uses it
//! (`kubectl annotate ts NAME tenancy.innova.puglia.it/suspend=true`).

mod common;

use std::time::Duration;

use common::*;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tenant_operator::api::TenantService;
use tenant_operator::labels;

/// `kubectl annotate` (a merge patch of the annotation; `None` removes it).
async fn annotate(h: &Harness, tenant: &str, value: Option<&str>) {
    Api::<TenantService>::all(h.client.clone())
        .patch(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {labels::SUSPEND: value}}})),
        )
        .await
        .expect("annotate the tenant");
}

fn suspended_for(tenant: &TenantService) -> Option<i64> {
    condition(tenant, "Suspended")
        .filter(|c| c.status == "True")
        .and_then(|c| c.observed_generation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_is_left_alone_until_the_annotation_goes() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-ruvo")).await;
    h.wait_ready("comune-ruvo").await;

    annotate(&h, "comune-ruvo", Some("true")).await;
    h.wait_tenant("comune-ruvo", Duration::from_secs(10), "Suspended", |t| {
        t.and_then(suspended_for).is_some()
    })
    .await;

    // A spec change while suspended: the operator sees it (the Suspended condition names
    // the new generation) and applies none of it.
    let mut changed = tenant_fixture("comune-ruvo");
    changed["spec"]["environments"] = json!([{"name": "prod"}, {"name": "test"}, {"name": "dev"}]);
    h.apply(&changed).await;
    let tenant = h.tenant("comune-ruvo").await.expect("tenant");
    let generation = tenant.metadata.generation.expect("generation");
    let seen = h
        .wait_tenant(
            "comune-ruvo",
            Duration::from_secs(10),
            "suspended at the new generation",
            |t| t.and_then(suspended_for) == Some(generation),
        )
        .await
        .expect("tenant");
    assert!(
        h.namespace("comune-ruvo-dev").await.is_none(),
        "a suspended tenant got a new namespace"
    );
    let ready = condition(&seen, "Ready").expect("Ready condition");
    assert_eq!(
        ready.status, "True",
        "suspension keeps the last Ready report"
    );
    assert!(
        !is_ready(&seen),
        "an unapplied generation reported as Ready"
    );
    assert!(
        condition(&seen, "Suspended")
            .is_some_and(|c| c.message.contains("remove the annotation to resume"))
    );

    // Resumed: the change is applied and the condition goes away.
    annotate(&h, "comune-ruvo", None).await;
    h.wait_tenant(
        "comune-ruvo",
        Duration::from_secs(20),
        "resumed and Ready",
        |t| t.is_some_and(|t| is_ready(t) && condition(t, "Suspended").is_none()),
    )
    .await;
    assert!(h.namespace("comune-ruvo-dev").await.is_some());
    operator.stop().await.expect("clean stop");
}
