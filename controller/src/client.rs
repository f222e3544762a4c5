//! The operator's API client: one layer under every request the controller makes, whatever
//! module makes it, that holds the rules no single call site should have to remember:
//!
//! - **timeouts**: a request that is not a watch gets an answer (its headers) within
//!   [`ClientPolicy::request_timeout`] or fails, so no reconcile and no start-up step can
//!   hang on a lost request (watches stay open; kube's watcher has its own idle timeout);
//! - **a global write rate limit** ([`ClientPolicy::write_rate`]): mutating requests wait for
//!   a token of one bucket shared by the whole process. Lease requests are exempt: a brake on
//!   writes must never cost the leader its Lease;
//! - **dry-run** ([`ClientPolicy::dry_run`]): every mutating request is sent with
//!   `dryRun=All`, so the API server validates, admits and answers it as it would, and
//!   persists nothing; each is logged (verb, path and, except for Secrets, the body);
//! - **request metrics**: latency by verb, errors by verb and code.
//!
//! Why a layer and not the call sites: the write path (`reconcile::write`), the CA store,
//! the Event recorder and the Lease all write; a brake that one of them forgets is no brake.
//!
//! **Retries are not made here.** kube's client would retry 429, 503 and 504 by itself
//! (`Config::default_retry`, up to 15 times with delays growing to minutes) below this
//! layer; [`build`] turns that off so that a request is retried in exactly one place:
//! [`crate::retry`], in the write path (bounded) and around start-up steps, which also
//! retries 500 and dropped connections. Each retry is a new request through this layer, so
//! it waits for its own write token and carries `dryRun=All` like the first attempt: the
//! limit counts what the API server is asked to do, and a server that answered 429 is the
//! last one to ask again for free.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use axum::http::{Method, Request, Response, Uri};
use kube::client::{Body, ClientBuilder};
use tower::{BoxError, Layer, Service};

use crate::telemetry::Metrics;

/// The rules of [`ClientLayer`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClientPolicy {
    /// Longest wait for the answer to a request that is not a watch.
    pub request_timeout: Duration,
    /// Mutating requests per second (Leases excepted), with a burst of twice that; `None`:
    /// unlimited.
    pub write_rate: Option<f64>,
    /// Send every mutating request as a server-side dry run and log it.
    pub dry_run: bool,
}

impl Default for ClientPolicy {
    /// 30 s timeouts, no write limit, real writes.
    fn default() -> Self {
        ClientPolicy {
            request_timeout: Duration::from_secs(30),
            write_rate: None,
            dry_run: false,
        }
    }
}

/// Error building the client.
#[derive(Debug, thiserror::Error)]
#[error("creating the Kubernetes client: {0}")]
pub struct ClientError(#[from] kube::Error);

/// A request that got no answer within the timeout.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {path}: no answer within {timeout:?}")]
pub struct RequestTimeout {
    verb: &'static str,
    path: String,
    timeout: Duration,
}

/// A client for `config` whose every request goes through [`ClientLayer`].
pub fn build(
    mut config: kube::Config,
    policy: ClientPolicy,
    metrics: Arc<Metrics>,
) -> Result<kube::Client, ClientError> {
    // One retry layer only: crate::retry's (see the module documentation).
    config.default_retry = false;
    let builder = ClientBuilder::try_from(config)?;
    Ok(builder
        .with_layer(&ClientLayer::new(policy, metrics))
        .build())
}

/// What a request does, as kube-apiserver's audit and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH (server-side apply included).
    Patch,
    /// DELETE.
    Delete,
    /// Any other method.
    Other,
}

impl Verb {
    /// The verb of `method` on `uri`: GET is told apart by the path (an object or a
    /// collection) and the `watch` parameter.
    pub fn of(method: &Method, uri: &Uri) -> Verb {
        match *method {
            Method::GET if query_flag(uri, "watch") => Verb::Watch,
            Method::GET if names_collection(uri.path()) => Verb::List,
            Method::GET => Verb::Get,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            _ => Verb::Other,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::Other => "other",
        }
    }

    /// Whether the request changes something.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
        )
    }
}

/// Whether query parameter `name` is `true` (or `1`).
fn query_flag(uri: &Uri, name: &str) -> bool {
    uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            key == name && (value == "true" || value == "1")
        })
    })
}

/// Whether an API path names a collection (`/api/v1/namespaces`, `/apis/g/v/namespaces/ns/
/// roles`) rather than one object (`/api/v1/namespaces/ns`, `.../roles/admin`, or a
/// subresource).
fn names_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Skip the group and version: /api/v1/... or /apis/group/version/...
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    };
    let Some(rest) = rest else { return false };
    // namespaces/<ns>/<resource>[/<name>[/<sub>]] or <resource>[/<name>[/<sub>]]
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    rest.len() == 1
}

/// Whether the path is a Lease (leader election's writes are never rate limited).
fn is_lease(path: &str) -> bool {
    path.contains("/apis/coordination.k8s.io/") && path.contains("/leases")
}

/// Whether the path is a Secret or a collection of them (their bodies are never logged).
fn is_secret(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "v1", "namespaces", _, resource, ..] | ["api", "v1", resource, ..] => {
            *resource == "secrets"
        }
        _ => false,
    }
}

/// `uri` with `dryRun=All` added to its query.
fn with_dry_run(uri: &Uri) -> Uri {
    let path = uri.path();
    let target = match uri.query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}&dryRun=All"),
        _ => format!("{path}?dryRun=All"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = target.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// A token bucket that hands out slots in order: a caller takes the next slot (the bucket
/// may go negative) and sleeps until it comes, so waiting writers are served first come,
/// first served without a queue of their own.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `rate` tokens per second, at most `burst` saved up (the bucket starts full).
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes a token at `now` and says how long to wait before using it.
    pub fn reserve_at(&self, now: Instant) -> Duration {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now.max(*last);
        *tokens -= 1.0;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.rate)
        }
    }
}

/// The layer (see the module documentation).
#[derive(Clone)]
pub struct ClientLayer {
    policy: Arc<ClientPolicy>,
    limiter: Option<Arc<RateLimiter>>,
    metrics: Arc<Metrics>,
}

impl ClientLayer {
    /// A layer with `policy`, recording into `metrics`.
    pub fn new(policy: ClientPolicy, metrics: Arc<Metrics>) -> Self {
        let limiter = policy
            .write_rate
            .filter(|rate| *rate > 0.0)
            .map(|rate| Arc::new(RateLimiter::new(rate, (rate * 2.0).max(1.0))));
        ClientLayer {
            policy: Arc::new(policy),
            limiter,
            metrics,
        }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`ClientLayer`].
pub struct Guarded<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S, B> Service<Request<Body>> for Guarded<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let verb = Verb::of(request.method(), request.uri());
        let path = request.uri().path().to_string();
        let layer = self.layer.clone();
        let dry_run = layer.policy.dry_run && verb.is_write();
        let logged_body = if dry_run {
            *request.uri_mut() = with_dry_run(request.uri());
            (!is_secret(&path))
                .then(|| request.body().try_clone())
                .flatten()
        } else {
            None
        };
        let throttle = if verb.is_write() && !is_lease(&path) {
            layer.limiter.clone()
        } else {
            None
        };
        // The stack's futures are lazy (the request goes out when first polled), so the
        // wait for a write token below happens before anything is sent.
        let response = self.inner.call(request);
        Box::pin(async move {
            if let Some(limiter) = throttle {
                let wait = limiter.reserve_at(Instant::now());
                if !wait.is_zero() {
                    layer.metrics.api_writes_throttled.inc();
                    tokio::time::sleep(wait).await;
                }
            }
            if dry_run {
                let body = match logged_body {
                    Some(body) => body
                        .collect_bytes()
                        .await
                        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                        .unwrap_or_default(),
                    None => "(not logged)".to_string(),
                };
                tracing::info!(verb = verb.as_str(), %path, %body, "dry run: would write");
            }
            let started = Instant::now();
            let answer = if verb == Verb::Watch {
                response.await.map_err(Into::into)
            } else {
                match tokio::time::timeout(layer.policy.request_timeout, response).await {
                    Ok(answer) => answer.map_err(Into::into),
                    Err(_) => Err(Box::new(RequestTimeout {
                        verb: verb.as_str(),
                        path: path.clone(),
                        timeout: layer.policy.request_timeout,
                    }) as BoxError),
                }
            };
            layer.metrics.observe_request(
                verb.as_str(),
                started.elapsed(),
                match &answer {
                    Ok(response) => Outcome::Status(response.status().as_u16()),
                    Err(error) if error.is::<RequestTimeout>() => Outcome::Timeout,
                    Err(_) => Outcome::Transport,
                },
            );
            answer
        })
    }
}

/// How a request ended, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status code.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// No answer: the connection failed.
    Transport,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verb(method: Method, uri: &str) -> Verb {
        Verb::of(&method, &uri.parse().unwrap())
    }

    #[test]
    fn verbs_as_the_api_server_names_them() {
        assert_eq!(verb(Method::GET, "/api/v1/namespaces"), Verb::List);
        assert_eq!(
            verb(Method::GET, "/api/v1/namespaces/comune-bari-prod"),
            Verb::Get
        );
        assert_eq!(
            verb(
                Method::GET,
                "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles"
            ),
            Verb::List
        );
        assert_eq!(
            verb(
                Method::GET,
                "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/admin"
            ),
            Verb::Get
        );
        assert_eq!(
            verb(
                Method::GET,
                "/apis/tenancy.innova.puglia.it/v1alpha1/tenantservices?watch=true&resourceVersion=5"
            ),
            Verb::Watch
        );
        assert_eq!(
            verb(
                Method::GET,
                "/apis/tenancy.innova.puglia.it/v1alpha1/tenantservices/x/status"
            ),
            Verb::Get
        );
        assert_eq!(
            verb(Method::PATCH, "/api/v1/namespaces/a/secrets/tls"),
            Verb::Patch
        );
        assert_eq!(verb(Method::POST, "/api/v1/namespaces"), Verb::Create);
        assert!(Verb::Delete.is_write() && !Verb::Watch.is_write());
    }

    #[test]
    fn leases_and_secrets_are_told_apart() {
        assert!(is_lease(
            "/apis/coordination.k8s.io/v1/namespaces/tenant-operator/leases/tenant-operator-leader"
        ));
        assert!(!is_lease("/api/v1/namespaces/leases"));
        assert!(is_secret("/api/v1/namespaces/a/secrets/tls"));
        assert!(!is_secret("/api/v1/namespaces/secrets"));
    }

    #[test]
    fn dry_run_is_added_to_the_query() {
        let uri: Uri =
            "http://h/api/v1/namespaces/a/configmaps/b?fieldManager=tenant-operator&force=true"
                .parse()
                .unwrap();
        assert_eq!(
            with_dry_run(&uri).to_string(),
            "http://h/api/v1/namespaces/a/configmaps/b?fieldManager=tenant-operator&force=true&dryRun=All"
        );
        let bare: Uri = "/api/v1/namespaces".parse().unwrap();
        assert_eq!(
            with_dry_run(&bare).to_string(),
            "/api/v1/namespaces?dryRun=All"
        );
    }

    /// A server that answers every request 503 with `Retry-After: 0`, counting them.
    async fn always_unavailable() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let app = axum::Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [("Retry-After", "0")],
                    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":503}"#,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, count)
    }

    #[tokio::test]
    async fn the_client_sends_a_request_once_and_leaves_retries_to_the_write_path() {
        let (addr, count) = always_unavailable().await;
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        assert!(config.default_retry, "kube retries by default");
        let client = build(
            config,
            ClientPolicy::default(),
            Arc::new(Metrics::new().unwrap()),
        )
        .unwrap();
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "a");
        let answer = api.get("b").await;
        assert!(
            matches!(&answer, Err(kube::Error::Api(status)) if status.code == 503),
            "{answer:?}"
        );
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn the_bucket_gives_a_burst_then_one_slot_per_interval_in_order() {
        let limiter = RateLimiter::new(10.0, 2.0);
        let start = Instant::now();
        assert_eq!(limiter.reserve_at(start), Duration::ZERO);
        assert_eq!(limiter.reserve_at(start), Duration::ZERO);
        // The bucket is empty: the next writers get the following slots, 100 ms apart.
        let third = limiter.reserve_at(start);
        let fourth = limiter.reserve_at(start);
        assert!((third.as_secs_f64() - 0.1).abs() < 1e-6, "{third:?}");
        assert!((fourth.as_secs_f64() - 0.2).abs() < 1e-6, "{fourth:?}");
        // A second later the debt is paid and a token saved up again.
        let later = start + Duration::from_secs(1);
        assert_eq!(limiter.reserve_at(later), Duration::ZERO);
    }
}
