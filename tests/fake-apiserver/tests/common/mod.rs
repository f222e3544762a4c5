//! Helpers shared by the fake-apiserver test suites.
#![allow(dead_code)]

use std::time::Duration;

use axum::http::{Method, Request, StatusCode};
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

/// A fresh server in test mode.
pub async fn server() -> fake_apiserver::ServerHandle {
    fake_apiserver::start(fake_apiserver::Config::default())
        .await
        .expect("server starts")
}

/// A client for `server` that does not retry 429/503/504 (kube's default
/// client retries them with backoff, which a test of those answers must avoid).
pub fn client_without_retries(server: &fake_apiserver::ServerHandle) -> kube::Client {
    let mut cfg = kube::Config::new(server.url().parse().expect("server URL"));
    cfg.auth_info =
        serde_json::from_value(json!({"token": server.admin_token()})).expect("auth info");
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client builds")
}

/// The `widgets.example.io` CRD of spec §9 (namespaced, v1, status subresource).
pub fn widget_crd(status: bool) -> Value {
    let mut version = json!({"name": "v1", "served": true, "storage": true,
        "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}],
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "size": {"type": "integer", "description": "How big the widget is."},
                "color": {"type": "string"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
    if status {
        version["subresources"] = json!({"status": {}});
    }
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "versions": [version]}})
}

/// The ApiResource of widgets.
pub fn widget_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.io", "v1", "Widget"),
        "widgets",
    )
}

/// Installs the widget CRD and waits until it is served.
pub async fn install_widgets(client: &Client, status: bool) {
    let (code, _, body) = raw(
        client,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[],
        Some(widget_crd(status)),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    for _ in 0..50 {
        let (code, _, _) = raw(
            client,
            Method::GET,
            "/apis/example.io/v1/namespaces/default/widgets",
            &[],
            None,
        )
        .await;
        if code == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("widgets never served");
}

/// Widgets in `ns`.
pub fn widgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &widget_ar())
}

/// A widget object.
pub fn widget(name: &str, spec: Value) -> DynamicObject {
    let mut o = DynamicObject::new(name, &widget_ar());
    o.data = json!({"spec": spec});
    o
}

/// Creates a widget and returns it.
pub async fn create_widget(client: &Client, ns: &str, name: &str, spec: Value) -> DynamicObject {
    widgets(client, ns)
        .create(&PostParams::default(), &widget(name, spec))
        .await
        .expect("create widget")
}

/// One raw request: (status, content-type, body text).
pub async fn raw(
    client: &Client,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, String, String) {
    raw_bytes(
        client,
        method,
        path,
        headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

/// One raw request with a byte body.
pub async fn raw_bytes(
    client: &Client,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (StatusCode, String, String) {
    let mut b = Request::builder().method(method).uri(path);
    let mut has_ct = false;
    for (k, v) in headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        b = b.header(*k, *v);
    }
    if !has_ct && body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(kube::client::Body::from(body.unwrap_or_default()))
        .expect("request builds");
    let resp = client.send(req).await.expect("request is sent");
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .expect("body");
    (status, ct, String::from_utf8_lossy(&bytes).into_owned())
}

/// JSON of a raw response body.
pub fn j(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Opens a watch and collects events until `n` arrived or `max` elapsed (or the stream ended).
pub async fn watch_events(client: &Client, path: &str, n: usize, max: Duration) -> Vec<Value> {
    let req = Request::builder()
        .uri(path)
        .body(kube::client::Body::empty())
        .expect("request");
    let resp = client.send(req).await.expect("watch starts");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = axum::body::Body::new(resp.into_body()).into_data_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + max;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    out.push(serde_json::from_slice(&line).expect("event is JSON"));
                }
            }
            _ => break,
        }
    }
    out
}

/// Starts collecting a watch in the background; the handle yields the events.
pub fn spawn_watch(
    client: &Client,
    path: &str,
    n: usize,
    max: Duration,
) -> tokio::task::JoinHandle<Vec<Value>> {
    let client = client.clone();
    let path = path.to_string();
    tokio::spawn(async move { watch_events(&client, &path, n, max).await })
}

/// Polls `f` until it returns true or `max` elapses.
pub async fn eventually<F, Fut>(max: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + max;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Every kubectl to test with: `<workspace>/.tools/bin/kubectl` and the one on PATH.
/// Empty (after printing the skip line) when none is installed, unless
/// REQUIRE_TOOLS=1, which makes a missing kubectl a failure.
pub fn kubectls() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/kubectl");
    if tools.is_file() {
        out.push(tools);
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    {
        out.push(p);
    }
    if out.is_empty() {
        assert!(
            std::env::var("REQUIRE_TOOLS").as_deref() != Ok("1"),
            "kubectl is required (REQUIRE_TOOLS=1) but not installed (run hack/install-tools.sh)"
        );
        println!("skipped: kubectl not installed (run hack/install-tools.sh)");
    }
    out
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "fake-apiserver-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}
