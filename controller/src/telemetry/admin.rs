//! The admin HTTP port: `/livez`, `/readyz` and `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What `/readyz` and `/livez` report.
///
/// Ready only once the CRDs are established and the controller's caches have synced; both
/// flags are set by the controller as it gets there. Readiness is about serving, never about
/// leading: a standby with synced caches is ready to take over, so a rollout and a node drain
/// can proceed while it waits for the Lease.
///
/// Live unless the control loop is stuck: a reconcile has run for longer than its limit
/// (requests are bounded by timeouts, so only a hang gets there), or the leader-election
/// loop has made no attempt for longer than its limit. A failing `/livez` makes the kubelet
/// restart the container; a slow API server must not, so the limits are minutes, far above
/// any latency that the election and the requests tolerate.
#[derive(Debug, Default)]
pub struct Readiness {
    crds_established: AtomicBool,
    caches_synced: AtomicBool,
    liveness: Mutex<Liveness>,
    /// What a start-up step is waiting for (a transient error being retried), if anything.
    waiting: Mutex<Option<String>>,
}

/// What the liveness checks look at.
#[derive(Debug, Default)]
struct Liveness {
    /// Longest a reconcile may run; `None` until the controller sets it.
    reconcile_limit: Option<Duration>,
    /// Longest the election loop may go without an attempt, and its last attempt.
    election: Option<(Duration, Instant)>,
    /// Reconciles running now: tenant and start, by a running number.
    running: BTreeMap<u64, (String, Instant)>,
    next_id: u64,
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

    /// Records what start-up is waiting for (`None` once the step succeeded), e.g.
    /// `reading CA Secret tenant-operator/x: ApiError: ... (retrying in 1.6s)`.
    pub fn set_waiting(&self, reason: Option<String>) {
        *self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = reason;
    }

    /// Problems that keep the operator from being ready; empty when it is ready.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(waiting) = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            problems.push(format!("waiting for {waiting}"));
        }
        if !self.crds_established.load(Ordering::Acquire) {
            problems.push(
                "CRDs tenantservices/tenantclasses.tenancy.innova.puglia.it are not established"
                    .to_string(),
            );
        }
        if !self.caches_synced.load(Ordering::Acquire) {
            problems.push("caches have not synced yet".to_string());
        }
        problems
    }

    fn liveness(&self) -> std::sync::MutexGuard<'_, Liveness> {
        // Plain bookkeeping: still valid after a panic elsewhere.
        self.liveness
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets how long a reconcile may run before the operator counts as stuck.
    pub fn set_reconcile_limit(&self, limit: Duration) {
        self.liveness().reconcile_limit = Some(limit);
    }

    /// Starts checking that the leader-election loop makes an attempt at least every
    /// `limit` (counted from now).
    pub fn watch_election(&self, limit: Duration) {
        self.liveness().election = Some((limit, Instant::now()));
    }

    /// Records an attempt of the leader-election loop.
    pub fn election_beat(&self) {
        if let Some((_, last)) = &mut self.liveness().election {
            *last = Instant::now();
        }
    }

    /// Records that a reconcile of `tenant` starts; it counts as running until the returned
    /// guard is dropped.
    pub fn reconcile_started(self: &Arc<Self>, tenant: &str) -> RunningReconcile {
        let mut liveness = self.liveness();
        let id = liveness.next_id;
        liveness.next_id = liveness.next_id.wrapping_add(1);
        liveness
            .running
            .insert(id, (tenant.to_string(), Instant::now()));
        RunningReconcile {
            readiness: self.clone(),
            id,
        }
    }

    /// Problems that make the operator not live at `now`; empty when it is live.
    pub fn liveness_problems_at(&self, now: Instant) -> Vec<String> {
        let liveness = self.liveness();
        let mut problems = Vec::new();
        if let Some(limit) = liveness.reconcile_limit
            && let Some((tenant, started)) = liveness.running.values().min_by_key(|(_, s)| *s)
        {
            let running = now.saturating_duration_since(*started);
            if running > limit {
                problems.push(format!(
                    "the reconcile of tenant {tenant} has been running for {}s (limit {}s)",
                    running.as_secs(),
                    limit.as_secs()
                ));
            }
        }
        if let Some((limit, last)) = liveness.election {
            let quiet = now.saturating_duration_since(last);
            if quiet > limit {
                problems.push(format!(
                    "leader election has made no attempt for {}s (limit {}s)",
                    quiet.as_secs(),
                    limit.as_secs()
                ));
            }
        }
        problems
    }
}

/// A reconcile counted as running (see [`Readiness::reconcile_started`]).
#[derive(Debug)]
pub struct RunningReconcile {
    readiness: Arc<Readiness>,
    id: u64,
}

impl Drop for RunningReconcile {
    fn drop(&mut self) {
        self.readiness.liveness().running.remove(&self.id);
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
        .route("/livez", get(livez))
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

async fn livez(State(state): State<AdminState>) -> impl IntoResponse {
    let problems = state.readiness.liveness_problems_at(Instant::now());
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
        readiness.set_waiting(Some("reading CA Secret x/y: 503 (retrying in 2s)".into()));
        readiness.set_caches_synced(true);
        let (code, body) = get(addr, "/readyz").await;
        assert_eq!(code, 503);
        assert!(body.contains("waiting for reading CA Secret x/y"), "{body}");
        readiness.set_waiting(None);
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

    #[tokio::test]
    async fn livez_fails_on_a_stuck_reconcile_or_a_silent_election_loop() {
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
        readiness.set_reconcile_limit(Duration::from_secs(600));
        readiness.watch_election(Duration::from_secs(60));
        let running = readiness.reconcile_started("comune-bari");
        assert_eq!(get(addr, "/livez").await, (200, "ok".to_string()));

        // Eleven minutes on: the reconcile is stuck, and so is the election loop.
        let later = Instant::now() + Duration::from_secs(660);
        let problems = readiness.liveness_problems_at(later);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("comune-bari") && problems[0].contains("limit 600s"));
        assert!(problems[1].contains("leader election"));
        // A beat of the election loop and the end of the reconcile clear both.
        readiness.election_beat();
        drop(running);
        let fine = Instant::now() + Duration::from_secs(30);
        assert!(readiness.liveness_problems_at(fine).is_empty());
        // Liveness never depends on readiness: a replica that is not ready is still live.
        assert_eq!(get(addr, "/livez").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        server.abort();
    }
}
