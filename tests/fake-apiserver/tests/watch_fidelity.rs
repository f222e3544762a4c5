//! Watch fidelity: a kube-rs `watcher` + reflector against the server survives
//! cut streams, injected 500/429 answers and a forced 410 (history compacted
//! while it is disconnected), and ends with exactly the store a fresh list gives.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

fn snapshot(items: impl Iterator<Item = ConfigMap>) -> BTreeMap<String, (String, Option<String>)> {
    items
        .map(|c| {
            let v = c.data.as_ref().and_then(|d| d.get("v").cloned());
            (
                c.metadata.name.unwrap_or_default(),
                (c.metadata.resource_version.unwrap_or_default(), v),
            )
        })
        .collect()
}

#[tokio::test]
async fn watcher_survives_cuts_errors_and_410() {
    let s = server().await;
    let c = s.client();
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for i in 0..20 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm{i}")}, "data": {"v": "0"}}),
        )
        .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();

    s.set_faults(fake_apiserver::Faults {
        error_rate: 0.05,
        throttle_rate: 0.05,
        watch_cut_after: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    // Mutate while streams are being cut; the writer retries injected failures.
    let writer_api = Api::<ConfigMap>::namespaced(s.client(), "default");
    for round in 0..30u32 {
        let name = format!("cm{}", round % 25);
        let r = match round % 3 {
            0 => writer_api
                .patch(
                    &name,
                    &PatchParams::apply("fidelity"),
                    &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name}, "data": {"v": round.to_string()}})),
                )
                .await
                .map(|_| ()),
            1 => writer_api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": format!("m{round}")}})),
                )
                .await
                .map(|_| ()),
            _ => writer_api
                .delete(&name, &DeleteParams::default())
                .await
                .map(|_| ()),
        };
        if let Err(e) = r {
            // 404 after a delete of a deleted object, or an injected fault: both fine.
            let _ = e;
        }
        if round == 15 {
            // Watchers that reconnect from an RV before this point now get 410 and relist.
            s.compact();
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // Force a 410: keep watchers out while changes happen and history is
    // compacted, so they come back with a resourceVersion that is too old.
    s.set_faults(fake_apiserver::Faults {
        watch_error_rate: 1.0,
        ..Default::default()
    });
    s.close_watches();
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("late{i}")}, "data": {"v": "late"}}),
        )
        .unwrap();
        writer_api
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    s.compact();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.set_faults(fake_apiserver::Faults::default());
    let fresh = || async {
        snapshot(
            api.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter(),
        )
    };
    let want = fresh().await;
    let converged = eventually(Duration::from_secs(15), || {
        let reader = reader.clone();
        let want = want.clone();
        async move { snapshot(reader.state().into_iter().map(|a| (*a).clone())) == want }
    })
    .await;
    assert!(
        converged,
        "store {:?}\nlist  {:?}",
        snapshot(reader.state().into_iter().map(|a| (*a).clone())),
        want
    );
    let counts = s.request_counts();
    assert!(
        counts.code(500) + counts.code(429) > 0,
        "faults were injected: {counts:?}"
    );
    // The initial list plus at least one relist caused by the in-stream 410.
    assert!(
        counts.get("list", "configmaps") >= 3,
        "relisted after 410: {counts:?}"
    );
    task.abort();
    s.shutdown().await;
}
