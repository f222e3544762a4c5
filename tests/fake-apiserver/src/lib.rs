#![forbid(unsafe_code)]
//! An in-memory Kubernetes API server for tests, benchmarks and
//! `tenant-operator dev`: a real HTTP server speaking the subset of the
//! Kubernetes API that kube-rs and `kubectl` use (discovery, CRUD with status
//! subresources, list+watch with resourceVersions and bookmarks, server-side
//! apply with managedFields, finalizers, garbage collection, CRDs served at run
//! time, Table output). [`SPEC.md`](../SPEC.md) beside this crate is the behaviour it follows.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fake_apiserver::Error> {
//! let server = fake_apiserver::start(fake_apiserver::Config::default()).await?;
//! let client = server.client();
//! # let _ = client;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod admission;
mod aggregation;
pub mod authn;
mod authz;
mod bootstrap;
mod clock;
mod discovery;
pub mod errors;
mod event_api;
mod faults;
mod fieldset;
mod gc;
mod hints;
mod http;
pub mod identity;
mod managed;
mod merge;
mod meta;
mod metrics;
mod openapi;
mod ops;
mod policy_review;
mod protobuf;
mod quota;
mod rbac_writes;
mod registry;
mod reviews;
mod scale;
mod selectors;
mod server;
mod store;
mod stored;
mod strategic;
mod table;
mod tls;
pub mod tools;
pub mod validate;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::json;

pub use admission::policy::BindingReview;
pub use admission::{AuditRecord, Operation};
pub use authn::StaticToken;
pub use faults::Faults;
pub use identity::UserInfo;
pub use metrics::RequestCounts;
pub use policy_review::{PolicyReview, ReviewRequest};

/// Clock and identity behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Deterministic clock (fixed start, +1 s per reading), sequential UIDs,
    /// resourceVersions from 1000, 1 s bookmarks.
    #[default]
    Test,
    /// Wall clock, random UIDs, resourceVersions from the epoch in milliseconds
    /// (so clients of a previous run get 410 rather than "too large").
    Embedded,
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Test or embedded behaviour.
    pub mode: Mode,
    /// Injected faults.
    pub faults: Faults,
    /// First resourceVersion; `None` = 1000 (Test) or epoch milliseconds (Embedded).
    pub rv_base: Option<u64>,
    /// Retained watch events (older resourceVersions get 410). Larger than
    /// `watch_queue`, so that a watcher closed for falling behind can resume
    /// from its last resourceVersion instead of relisting everything.
    pub history: usize,
    /// Per-watch queue length; a watcher that falls this far behind is closed.
    pub watch_queue: usize,
    /// Bookmark interval; `None` = 1 s (Test) or 60 s (Embedded).
    pub bookmark_interval: Option<Duration>,
    /// Minor version reported by `/version` (matches k8s-openapi's `v1_34`).
    pub version_minor: u32,
    /// Users beyond the cluster admin, each with its bearer token
    /// (kube-apiserver's `--token-auth-file`).
    pub tokens: Vec<authn::StaticToken>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mode: Mode::Test,
            faults: Faults::default(),
            rv_base: None,
            history: 100_000,
            watch_queue: 16_384,
            bookmark_interval: None,
            version_minor: 34,
            tokens: Vec::new(),
        }
    }
}

/// Errors starting the server or building a client for it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server URL did not parse (cannot happen for a bound socket address).
    #[error("invalid server URL {url}: {source}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        source: axum::http::uri::InvalidUri,
    },
    /// The TLS certificate could not be made.
    #[error("setting up TLS: {0}")]
    Tls(tls::TlsError),
    /// A kube client could not be built.
    #[error("cannot build a kube client for {url}: {source}")]
    Client {
        /// The server URL.
        url: String,
        /// Why.
        source: kube::Error,
    },
}

/// A running server. Dropping it stops the server (without waiting).
pub struct ServerHandle {
    server: Arc<server::Server>,
    addr: SocketAddr,
    client: kube::Client,
    admin_token: String,
    cert_pem: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts a server.
pub async fn start(config: Config) -> Result<ServerHandle, Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let deterministic = config.mode == Mode::Test;
    let rv_base = config.rv_base.unwrap_or(if deterministic {
        1000
    } else {
        u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(1000)
    });
    let bookmark_interval = config.bookmark_interval.unwrap_or(if deterministic {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(60)
    });
    let opts = server::Options {
        bookmark_interval,
        version_minor: config.version_minor,
        address: addr.to_string(),
    };
    // The admin's token: random, so that another local user cannot guess it
    // (the server listens on loopback only, for tests and `dev`).
    let admin_token = format!("admin-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let mut tokens = config.tokens.clone();
    tokens.push(authn::StaticToken {
        token: admin_token.clone(),
        user: identity::UserInfo::admin(),
    });
    let srv = server::Server::new(
        deterministic,
        rv_base,
        config.history,
        config.watch_queue,
        config.faults,
        opts,
        authn::Authenticator::new(&tokens),
    );
    let url = format!("http://{addr}");
    let client = build_client(&url, &auth_info(&admin_token, None))?;
    let tls = tls::ServerTls::generate().map_err(Error::Tls)?;
    let listener = tls::DualListener::new(listener, &tls).map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    let app = http::router(srv.clone());
    let mut stop = srv.shutdown.subscribe();
    let serve = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "fake-apiserver stopped serving");
        }
    });
    let gc = tokio::spawn(gc::run(srv.clone()));
    tracing::info!(%url, "fake-apiserver listening");
    Ok(ServerHandle {
        server: srv,
        addr,
        client,
        admin_token,
        cert_pem: tls.cert_pem,
        tasks: vec![serve, gc],
    })
}

/// The kubeconfig user: the admin's token, and whom to act as.
fn auth_info(token: &str, acting_as: Option<(&str, &[&str])>) -> serde_json::Value {
    let mut user = json!({"token": token});
    if let Some((name, groups)) = acting_as {
        user["as"] = json!(name);
        if !groups.is_empty() {
            user["as-groups"] = json!(groups);
        }
    }
    user
}

fn build_client(url: &str, user: &serde_json::Value) -> Result<kube::Client, Error> {
    build_client_with(url, user, None)
}

fn build_client_with(
    url: &str,
    user: &serde_json::Value,
    user_agent: Option<&str>,
) -> Result<kube::Client, Error> {
    let uri: axum::http::Uri = url.parse().map_err(|source| Error::Url {
        url: url.to_string(),
        source,
    })?;
    let mut cfg = kube::Config::new(uri);
    cfg.auth_info = serde_json::from_value(user.clone()).map_err(|e| Error::Client {
        url: url.to_string(),
        source: kube::Error::Service(Box::new(e)),
    })?;
    // Watches stay open up to their timeoutSeconds; do not cut them client-side.
    cfg.read_timeout = None;
    if let Some(agent) = user_agent {
        let value = axum::http::HeaderValue::from_str(agent).map_err(|e| Error::Client {
            url: url.to_string(),
            source: kube::Error::Service(Box::new(e)),
        })?;
        cfg.headers.push((axum::http::header::USER_AGENT, value));
    }
    kube::Client::try_from(cfg).map_err(|source| Error::Client {
        url: url.to_string(),
        source,
    })
}

impl ServerHandle {
    /// `http://127.0.0.1:PORT`: plain HTTP, for library clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT`: the same port over TLS, as the kubeconfig
    /// names it (kubectl sends the token only over TLS).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The server's certificate (PEM): the CA that trusts [`Self::https_url`].
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube client talking to this server as the cluster admin (user
    /// `admin` in `system:masters`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kube client acting as `user` in `groups` (`system:authenticated` is
    /// added), through impersonation by the admin, as `kubectl --as=USER
    /// --as-group=GROUP` does. A ServiceAccount user
    /// (`system:serviceaccount:NS:NAME`) without groups gets its ServiceAccount groups.
    pub fn client_as(&self, user: &str, groups: &[&str]) -> Result<kube::Client, Error> {
        build_client(
            &self.url(),
            &auth_info(&self.admin_token, Some((user, groups))),
        )
    }

    /// [`Self::client_as`] with a `User-Agent`, which [`Faults::client_latency`] can single
    /// out (one replica of several on a slow network path).
    pub fn client_as_agent(
        &self,
        user: &str,
        groups: &[&str],
        user_agent: &str,
    ) -> Result<kube::Client, Error> {
        build_client_with(
            &self.url(),
            &auth_info(&self.admin_token, Some((user, groups))),
            Some(user_agent),
        )
    }

    /// A kube client without credentials (`system:anonymous`).
    pub fn anonymous_client(&self) -> Result<kube::Client, Error> {
        build_client(&self.url(), &json!({}))
    }

    /// The cluster admin's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A kubeconfig with one cluster, context and user: the cluster admin.
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        // The JSON below always matches Kubeconfig's serde shape.
        serde_json::from_value(self.kubeconfig_json()).unwrap_or_default()
    }

    fn kubeconfig_json(&self) -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "fake-apiserver", "cluster": {"server": self.https_url(),
                "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&self.cert_pem)}}],
            "users": [{"name": "fake-apiserver", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "fake-apiserver", "context": {"cluster": "fake-apiserver", "user": "fake-apiserver", "namespace": "default"}}],
            "current-context": "fake-apiserver",
            "preferences": {},
        })
    }

    /// Writes the kubeconfig (JSON, which kubectl reads as YAML).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        let text =
            serde_json::to_string_pretty(&self.kubeconfig_json()).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// Requests served so far, by (verb, resource, code).
    pub fn request_counts(&self) -> RequestCounts {
        self.server.metrics.snapshot()
    }

    /// Zeroes the request counts.
    pub fn reset_request_counts(&self) {
        self.server.metrics.reset();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.server.set_faults(faults);
    }

    /// Requests that reached an unimplemented feature (HTTP 501).
    pub fn unsupported_requests(&self) -> Vec<String> {
        self.server.metrics.unsupported_requests()
    }

    /// Drops the watch event history: every watch from an older resourceVersion gets 410.
    pub fn compact(&self) {
        self.server.lock().compact();
    }

    /// Ends every open watch stream, as an apiserver restart would; clients
    /// reconnect from their last resourceVersion.
    pub fn close_watches(&self) {
        self.server.lock().close_all_watchers();
    }

    /// Audit annotations that admission recorded (Pod Security audit violations, a
    /// ValidatingAdmissionPolicy's `auditAnnotations` and `Audit` failures), oldest first.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.server.lock().admission.audit_records()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.server.lock().rv()
    }

    /// Number of open watch streams.
    pub fn watch_count(&self) -> usize {
        self.server.lock().watcher_count()
    }

    /// Stops serving: closes watches, waits briefly for connections to finish.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in std::mem::take(&mut self.tasks) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn stop(&self) {
        self.server.shutdown.send_replace(true);
        self.server.lock().close_all_watchers();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}
