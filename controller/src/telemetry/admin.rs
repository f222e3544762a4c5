//! The admin HTTP port: `/livez`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What `/readyz` reports: ready only once the CRDs are established and the controller's
/// caches have synced. Both flags are set by the controller as it gets there.
#[derive(Debug, Default)]
pub struct Readiness {
    crds_established: AtomicBool,
    caches_synced: AtomicBool,
}

impl Readiness {
    /// Records that the TenantService and TenantClass CRDs are established.
    pub fn set_crds_established(&self, value: bool) {
        self.crds_established.store(value, Ordering::Release);
    }

    /// Records that the controller's watches have listed everything once.
    pub fn set_caches_synced(&self, value: bool) {
        self.caches_synced.store(value, Ordering::Release);
    }

    /// Problems that keep the operator from being ready; empty when it is ready.
    pub fn problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if !self.crds_established.load(Ordering::Acquire) {
            problems.push(
                "CRDs tenantservices/tenantclasses.tenancy.innova.puglia.it are not established",
            );
        }
        if !self.caches_synced.load(Ordering::Acquire) {
            problems.push("caches have not synced yet");
        }
        problems
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// Error starting the admin server.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on admin address {addr}: {source}")]
pub struct AdminError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// A running admin server.
pub struct AdminServer {
    /// The address it listens on (useful when started on port 0).
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Stops the server.
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The admin routes, separate from the listener so that tests can call them directly.
pub fn router(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { metrics, readiness })
}

/// Binds `addr` and serves the admin routes until the returned server is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> Result<AdminServer, AdminError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| AdminError { addr, source })?;
    let app = router(metrics, readiness);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "admin server stopped");
        }
    });
    Ok(AdminServer { local_addr, task })
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let problems = state.readiness.problems();
    if problems.is_empty() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n"))
    }
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    match state.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "text/plain; version=0.0.4")],
            text,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(CONTENT_TYPE, "text/plain")],
            error.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let code = response[9..12].parse().unwrap();
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        (code, body)
    }

    #[tokio::test]
    async fn readyz_follows_crds_and_caches_and_metrics_are_served() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let readiness = Arc::new(Readiness::default());
        let server = serve(
            "127.0.0.1:0".parse().unwrap(),
            metrics.clone(),
            readiness.clone(),
        )
        .await
        .unwrap();
        let addr = server.local_addr;
        assert_eq!(get(addr, "/livez").await.0, 200);
        let (code, body) = get(addr, "/readyz").await;
        assert_eq!(code, 503);
        assert!(body.contains("CRDs") && body.contains("caches"), "{body}");
        readiness.set_crds_established(true);
        let (code, body) = get(addr, "/readyz").await;
        assert_eq!(code, 503);
        assert!(!body.contains("CRDs") && body.contains("caches"), "{body}");
        readiness.set_caches_synced(true);
        assert_eq!(get(addr, "/readyz").await, (200, "ok".to_string()));
        metrics.reconciles.inc();
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains("tenant_operator_reconciles_total 1"),
            "{body}"
        );
        server.abort();
    }
}
