//! Telemetry: Prometheus metrics ([`metrics`]), the admin port with `/livez`, `/readyz` and
//! `/metrics` ([`admin`]), and structured logs ([`init_tracing`]).

pub mod admin;
pub mod ca_metrics;
pub mod metrics;
pub mod tenant_series;
pub mod work_queue;

pub use admin::{AdminServer, Readiness, serve};
pub use metrics::{Metrics, MetricsError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Filter used when `RUST_LOG` is not set: the operator at info, the Kubernetes client
/// libraries only when something is wrong.
pub const DEFAULT_FILTER: &str = "info,kube=warn,kube_runtime=warn,hyper=warn,tower=warn";

/// Installs the global tracing subscriber (env filter from `RUST_LOG`, else
/// [`DEFAULT_FILTER`]) and logs the build version once. Calling it twice is harmless: the
/// second call leaves the first subscriber in place.
pub fn init_tracing(format: LogFormat) {
    init_tracing_with(format, DEFAULT_FILTER);
}

/// [`init_tracing`] with another default filter (e.g. quieter for `tenant-operator dev`).
pub fn init_tracing_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
    };
    if installed.is_ok() {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            "tenant-operator starting"
        );
    }
}
