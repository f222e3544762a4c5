//! Load benchmark: creates many small objects (100,000 by default; set
//! `BENCH_OBJECTS`), then serves lists and watches over them, and prints
//! requests per second, events per second and bytes per object (the server
//! process's resident memory growth, and JSON size). The server runs as its own
//! process (the `fake-apiserver` binary) so that its memory is measured alone.
//! Run with `cargo bench -p fake-apiserver --bench load`.
//!
//! `BENCH_POLICIES=<dir>` first installs the ValidatingAdmissionPolicies and bindings of
//! the YAML files in `<dir>` (e.g. `policies/admission`) and labels every ConfigMap
//! `app.kubernetes.io/managed-by: tenant-operator`, so that each write is matched by the
//! project's policies and runs their CEL match conditions: the cost of enforcement.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

const NAMESPACES: usize = 10;
const CONCURRENCY: usize = 32;

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) a process has used, from `/proc/<pid>/stat`: the server's
/// cost per request, which other work on the machine does not inflate as it does rates.
fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start at ") ".
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

async fn run_parallel<F, Fut>(n: usize, f: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let f = f.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    f(i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        if let Err(e) = t.await {
            eprintln!("worker failed: {e}");
        }
    }
    start.elapsed()
}

/// Creates the ValidatingAdmissionPolicies and bindings of every YAML file in `dir`.
async fn install_policies(client: &kube::Client, dir: &std::path::Path) -> anyhow::Result<usize> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let mut installed = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text)
            .with_context(|| format!("{}: not YAML", path.display()))?;
        for doc in docs {
            let plural = match doc["kind"].as_str() {
                Some("ValidatingAdmissionPolicy") => "validatingadmissionpolicies",
                Some("ValidatingAdmissionPolicyBinding") => "validatingadmissionpolicybindings",
                other => anyhow::bail!("{}: unexpected kind {other:?}", path.display()),
            };
            let gvk = GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                doc["kind"].as_str().unwrap_or_default(),
            );
            let api: Api<DynamicObject> = Api::all_with(
                client.clone(),
                &ApiResource::from_gvk_with_plural(&gvk, plural),
            );
            api.create(&PostParams::default(), &serde_json::from_value(doc)?)
                .await
                .with_context(|| format!("{}: create", path.display()))?;
            installed += 1;
        }
    }
    Ok(installed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // The kubeconfig carries the cluster admin's token: every request is
    // authenticated, and authorized as system:masters.
    let kubeconfig = std::env::temp_dir().join(format!(
        "fake-apiserver-bench-{}.kubeconfig",
        std::process::id()
    ));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--mode",
            "test",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the fake-apiserver binary")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("server stdout")?;
    let url = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(String::from))
        .context("the server printed no address")?;
    let config = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let _ = std::fs::remove_file(&kubeconfig);
    // The admin's token from the kubeconfig, over the plain-HTTP side of the
    // port as the library clients use it: the figures measure the server, not TLS.
    let mut config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await?;
    config.cluster_url = url.parse()?;
    let client = kube::Client::try_from(config)?;
    let nss: Api<Namespace> = Api::all(client.clone());
    for i in 0..NAMESPACES {
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("bench-{i}")}}))?,
        )
        .await?;
    }
    let managed = match std::env::var_os("BENCH_POLICIES") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            let installed = install_policies(&client, &dir).await?;
            println!(
                "installed {installed} admission policies and bindings from {}",
                dir.display()
            );
            true
        }
        None => false,
    };
    let rss_before = rss_bytes(pid);
    let cpu_before = cpu_seconds(pid);

    let c = client.clone();
    let took = run_parallel(n, move |i| {
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), &format!("bench-{}", i % NAMESPACES));
        async move {
            let mut labels = json!({"app": "bench", "shard": (i % 7).to_string()});
            if managed {
                labels["app.kubernetes.io/managed-by"] = json!("tenant-operator");
            }
            let cm: ConfigMap = serde_json::from_value(
                json!({"metadata": {"name": format!("cm-{i}"), "labels": labels},
                "data": {"key": format!("value-{i}")}}),
            )
            .unwrap_or_default();
            if let Err(e) = api.create(&PostParams::default(), &cm).await {
                eprintln!("create cm-{i}: {e}");
            }
        }
    })
    .await;
    let rss_after = rss_bytes(pid);
    let create_cpu = cpu_seconds(pid) - cpu_before;
    println!(
        "create: {n} objects in {:.2?} = {:.0} requests/s (client and server on the same cores)",
        took,
        n as f64 / took.as_secs_f64()
    );
    println!(
        "create: server CPU {:.1} µs/request",
        create_cpu * 1e6 / n as f64
    );
    println!(
        "memory: {:.0} bytes/object (server resident growth; {} MiB total)",
        (rss_after.saturating_sub(rss_before)) as f64 / n as f64,
        rss_after / (1 << 20)
    );

    let all: Api<ConfigMap> = Api::all(client.clone());
    let start = Instant::now();
    let list = all.list(&ListParams::default()).await?;
    let t = start.elapsed();
    let json_len = serde_json::to_vec(&list.items)?.len();
    println!(
        "list (one page): {} items in {:.2?}; {:.0} bytes/object as JSON",
        list.items.len(),
        t,
        json_len as f64 / list.items.len().max(1) as f64
    );

    let start = Instant::now();
    let mut pages = 0;
    let mut items = 0;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = all.list(&lp).await?;
        pages += 1;
        items += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let t = start.elapsed();
    println!(
        "paged list (limit=500): {items} items in {pages} requests, {:.2?} = {:.0} requests/s",
        t,
        f64::from(pages) / t.as_secs_f64()
    );

    // Initial events of a watch from resourceVersion 0.
    let start = Instant::now();
    let mut stream = all.watch(&WatchParams::default(), "0").await?.boxed();
    let mut added = 0;
    while added < n {
        match tokio::time::timeout(Duration::from_secs(30), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(_)))) => added += 1,
            Ok(Ok(Some(_))) => {}
            _ => break,
        }
    }
    let t = start.elapsed();
    println!(
        "watch initial events: {added} in {:.2?} = {:.0} events/s",
        t,
        added as f64 / t.as_secs_f64()
    );
    drop(stream);

    // Live fan-out: 5 watchers while 10,000 merge patches are applied.
    let updates = n.min(10_000);
    let rv = all
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watchers = Vec::new();
    for _ in 0..5 {
        let mut s = all.watch(&WatchParams::default(), &rv).await?.boxed();
        watchers.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < updates {
                match tokio::time::timeout(Duration::from_secs(30), s.try_next()).await {
                    Ok(Ok(Some(WatchEvent::Modified(_)))) => seen += 1,
                    Ok(Ok(Some(_))) => {}
                    _ => break,
                }
            }
            seen
        }));
    }
    let c = client.clone();
    let start = Instant::now();
    let took = run_parallel(updates, move |i| {
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), &format!("bench-{}", i % NAMESPACES));
        async move {
            if let Err(e) = api
                .patch(
                    &format!("cm-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"key": "changed"}})),
                )
                .await
            {
                eprintln!("patch cm-{i}: {e}");
            }
        }
    })
    .await;
    let mut delivered = 0;
    for w in watchers {
        delivered += w.await.unwrap_or(0);
    }
    let all_seen = start.elapsed();
    println!(
        "patch: {updates} in {:.2?} = {:.0} requests/s; 5 watchers received {delivered} events, all within {:.2?}",
        took,
        updates as f64 / took.as_secs_f64(),
        all_seen
    );
    // Server-side apply, as the operator writes: 10,000 applies that create,
    // then the same 10,000 again, which must be no-ops (no new resourceVersion).
    let applies = n.min(10_000);
    for round in ["create", "no-op"] {
        let c = client.clone();
        let took = run_parallel(applies, move |i| {
            let api: Api<ConfigMap> = Api::namespaced(c.clone(), &format!("bench-{}", i % NAMESPACES));
            async move {
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("applied-{i}"), "labels": {"app": "bench"}}, "data": {"key": format!("v{i}")}});
                if let Err(e) = api.patch(&format!("applied-{i}"), &PatchParams::apply("bench").force(), &Patch::Apply(body)).await {
                    eprintln!("apply applied-{i}: {e}");
                }
            }
        })
        .await;
        println!(
            "server-side apply ({round}): {applies} in {:.2?} = {:.0} requests/s",
            took,
            applies as f64 / took.as_secs_f64()
        );
    }

    let counts: serde_json::Value = serde_json::from_str(
        &client
            .request_text(axum::http::Request::get("/debug/requests").body(Vec::new())?)
            .await?,
    )?;
    println!(
        "requests served: {} (mutating {})",
        counts["total"], counts["mutating"]
    );
    child.kill()?;
    child.wait()?;
    Ok(())
}
