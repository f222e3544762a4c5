//! `tenant-operator run`: the controller against a cluster.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tenant_operator::client::ClientPolicy;
use tenant_operator::pki::{CaSettings, DEFAULT_CA_SECRET, NewRoot};
use tenant_operator::reconcile::context::Settings;
use tenant_operator::reconcile::controller::{self, OperatorConfig};
use tenant_operator::reconcile::leader::LeaseConfig;
use tenant_operator::render::Platform;
use tenant_operator::telemetry::{self, Metrics, Readiness};

use super::{GlobalArgs, LogFormat};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kubeconfig file; without it, the in-cluster configuration (or $KUBECONFIG, or
    /// ~/.kube/config) is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Namespace the operator runs in: holds the CA Secret, the leader Lease and the CA bundle.
    #[arg(long, env = "POD_NAMESPACE", default_value = "tenant-operator")]
    pub namespace: String,

    /// Address of the admin port serving /livez, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,

    /// Elect a leader with a Lease so that several replicas can run; only the leader writes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Identity of this replica in the Lease and in Events (default: $POD_NAME, else host-pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Name of the CA Secret in the operator namespace. Created on first start if absent
    /// and the cluster holds no tenant certificate; watched: replacing it rotates the CA.
    #[arg(long, default_value = DEFAULT_CA_SECRET)]
    pub ca_secret: String,

    /// Generate a new root CA when the CA Secret is missing even though tenant certificates
    /// exist (a deliberate re-rooting after the CA key was lost: the recorded CA stays in the
    /// trust bundle while every leaf is re-issued). Without it, a missing Secret on a cluster
    /// with tenants stops issuing and is reported, never silently replaced. Remove the flag
    /// once the new CA is in place.
    #[arg(long, default_value_t = false)]
    pub ca_allow_new_root: bool,

    /// After a CA rotation, how many leaf certificates are re-issued per minute (at most).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub ca_reissue_per_minute: u32,

    /// After a CA rotation, how long the trust bundle with both CAs is given to reach every
    /// client before the first leaf is re-issued by the new CA.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub ca_bundle_settle: Duration,

    /// While a rotated-out CA is still in the trust bundle, how often the tenant
    /// certificates are listed to see whether any still chains to it.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub ca_retire_check_interval: Duration,

    /// Lifetime of tenant certificates (renewed at two thirds), e.g. `90d`, `12h`, `30s`.
    #[arg(long, default_value = "90d", value_parser = parse_duration)]
    pub certificate_lifetime: Duration,

    /// Lifetime of a CA generated on first start.
    #[arg(long, default_value = "3650d", value_parser = parse_duration)]
    pub ca_lifetime: Duration,

    /// How often a Ready tenant is re-checked (no API request when nothing changed).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// Tenants reconciled in parallel.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,

    /// The datacenter's reserved namespaces, comma-separated (names, or prefixes followed by
    /// `*`): no tenant namespace may be one of them. Kubernetes' (`default`, `kube-*`,
    /// `openshift-*`), the platform's and the operator's own are always reserved. The chart
    /// passes `policies/reserved-namespaces.yaml` and the `reservedNamespaces` value.
    #[arg(
        long,
        value_delimiter = ',',
        env = "TENANT_OPERATOR_RESERVED_NAMESPACES"
    )]
    pub reserved_namespaces: Vec<String>,

    /// DNS subtrees a CA generated on first start may sign (X.509 name constraints),
    /// comma-separated, e.g. `it` or `comune.bari.it,regione.puglia.it`; an empty value
    /// generates an unconstrained CA. A supplied CA keeps its own constraints.
    #[arg(long, value_delimiter = ',', default_value = "it")]
    pub ca_permitted_dns_domains: Vec<String>,

    /// Install or upgrade the CRDs at start (server-side apply with the operator's field
    /// manager, forced, so that fields Helm installed are taken over); a CRD newer than this
    /// build is left as it is. Without it the CRDs must be in place, and the operator refuses
    /// to run against CRDs older than it understands.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub install_crds: bool,

    /// Leader election: how long a standby waits, after it last saw the Lease renewed,
    /// before taking it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Leader election: how long the leader keeps writing without a successful renewal
    /// before it steps down (stops writing and stands by). Shorter than --lease-duration:
    /// the difference is the margin for a write already sent to land.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: Duration,

    /// Leader election: how often the leader renews the Lease and a standby checks it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub lease_retry_period: Duration,

    /// Longest wait for the answer to an API request (watches excepted).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Global limit on the operator's writes, in requests per second (bursts of twice that),
    /// Lease renewals excepted; 0 means unlimited. A brake for a large change or a strained
    /// API server.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub write_rate_limit: f64,

    /// Compute everything and log what would be written (verb, path, body; Secrets' bodies
    /// withheld), sending each write as a server-side dry run (`dryRun=All`): the API server
    /// validates and admits it and persists nothing. Implies no leader election.
    #[arg(long)]
    pub dry_run: bool,

    /// Tenants a minute that a changed TenantClass reaches: each tenant keeps the class as it
    /// was until its turn, whatever else triggers it; 0 rolls a change out to all at once.
    /// Progress: tenant_operator_class_rollout_pending{class} and the log.
    #[arg(long, default_value_t = 0)]
    pub class_rollout_per_minute: u32,

    /// Export per-tenant metric series (readiness, certificate expiry, quota of each tenant
    /// environment, about 8 series per tenant) while there are at most this many tenants;
    /// beyond, only aggregates (tenant_operator_tenant_series_capped says so). 0: never.
    #[arg(long, default_value_t = tenant_operator::telemetry::tenant_series::DEFAULT_MAX_TENANTS)]
    pub per_tenant_metrics_limit: usize,

    /// How long one reconcile may run before /livez reports the control loop as stuck (and
    /// the kubelet restarts the container). Requests have timeouts; only a hang gets here.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub reconcile_liveness_limit: Duration,
}

/// Parses `90d`, `12h`, `30m`, `45s`, `250ms` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 90d, 12h, 30m, 45s or 250ms"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => return Ok(Duration::from_millis(number)),
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}; use d, h, m, s or ms"
            ));
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// A non-negative, finite number of requests per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate; use a number of requests per second such as 50 or 0.5, or 0 for no limit"
        )),
    }
}

/// The entries of a comma-separated list flag, trimmed, without empty ones (`--flag=`
/// gives an empty list).
fn non_empty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|entry| entry.trim().to_string())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// This replica's default identity.
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tenant-operator".to_string());
    format!("{host}-{}", std::process::id())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = futures::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

pub fn log_format(global: &GlobalArgs) -> telemetry::LogFormat {
    match global.log_format {
        LogFormat::Text => telemetry::LogFormat::Text,
        LogFormat::Json => telemetry::LogFormat::Json,
    }
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    telemetry::init_tracing(log_format(global));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

/// A client for the cluster of `kubeconfig`, else of `KUBECONFIG` or the pod's in-cluster
/// configuration.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = cluster_config(kubeconfig).await?;
    kube::Client::try_from(config).context("creating the Kubernetes client")
}

/// The configuration of the cluster of `kubeconfig`, else of `KUBECONFIG` or the pod's
/// in-cluster configuration.
pub async fn cluster_config(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no cluster configuration: run in a cluster, set KUBECONFIG or pass --kubeconfig",
        )?,
    })
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let metrics = Arc::new(
        Metrics::with_tenant_series_limit(args.per_tenant_metrics_limit)
            .context("registering metrics")?,
    );
    let policy = ClientPolicy {
        request_timeout: args.request_timeout,
        write_rate: (args.write_rate_limit > 0.0).then_some(args.write_rate_limit),
        dry_run: args.dry_run,
    };
    let client = tenant_operator::client::build(
        cluster_config(args.kubeconfig.as_deref()).await?,
        policy,
        metrics.clone(),
    )?;
    if args.dry_run {
        tracing::warn!(
            "dry run: every write is sent with dryRun=All and logged; nothing is persisted, no leader election"
        );
    }
    let readiness = Arc::new(Readiness::default());
    let admin = telemetry::serve(args.admin_addr, metrics.clone(), readiness.clone()).await?;
    tracing::info!(addr = %admin.local_addr, "admin port serving /livez /readyz /metrics");

    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let mut settings = Settings::new(&args.namespace);
    settings.certificate_lifetime = args.certificate_lifetime;
    settings.resync_interval = args.resync_interval;
    settings.concurrency = args.concurrency;
    settings.reconcile_liveness_limit = args.reconcile_liveness_limit;
    settings.ca_reissue_interval = Duration::from_secs(60) / args.ca_reissue_per_minute;
    settings.ca_retire_check_interval = args.ca_retire_check_interval;
    settings.ca_bundle_settle = args.ca_bundle_settle;
    settings.class_rollout_per_minute = args.class_rollout_per_minute;
    // A dry run persists nothing, the Lease included: it takes no part in the election and
    // never keeps the real leader from working.
    let leader_election = (args.leader_election && !args.dry_run).then(|| {
        let mut lease = LeaseConfig::new(&args.namespace, &identity);
        lease.lease_duration = args.lease_duration;
        lease.renew_deadline = args.lease_renew_deadline;
        lease.renew_interval = args.lease_retry_period;
        lease.retry_interval = args.lease_retry_period;
        lease
    });
    let operator = OperatorConfig {
        settings,
        platform: Platform::default(),
        reserved_namespaces: non_empty(&args.reserved_namespaces),
        ca_secret: args.ca_secret.clone(),
        ca_settings: CaSettings {
            lifetime: args.ca_lifetime,
            permitted_dns_domains: non_empty(&args.ca_permitted_dns_domains),
            ..CaSettings::default()
        },
        ca_new_root: if args.ca_allow_new_root {
            NewRoot::Allowed
        } else {
            NewRoot::OnlyWithoutTenantCertificates
        },
        leader_election,
        identity,
        crd_timeout: Duration::from_secs(300),
        install_crds: args.install_crds,
    };
    // Boxed: the controller's future (every watch stream) is large.
    Box::pin(controller::run(
        client,
        operator,
        metrics,
        readiness,
        shutdown_signal(),
    ))
    .await
    .context("the controller stopped")?;
    tracing::info!("shut down");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn rates_are_non_negative_numbers() {
        assert_eq!(parse_rate("50"), Ok(50.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("inf").is_err());
    }
}
