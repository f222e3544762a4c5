#![forbid(unsafe_code)]
//! `fake-apiserver --listen 127.0.0.1:0 --kubeconfig-out PATH`: runs the
//! in-memory Kubernetes API server until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

/// The operator's allocator (see its `main.rs`), so that a benchmark does not measure
/// glibc malloc in the server that shares the machine with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// In-memory Kubernetes API server for tests and local development.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig pointing at the server to this path.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// `embedded` uses the wall clock and random UIDs; `test` is deterministic.
    #[arg(long, value_enum, default_value_t = ModeArg::Embedded)]
    mode: ModeArg,
    /// Watch bookmark interval in seconds.
    #[arg(long)]
    bookmark_interval: Option<u64>,
    /// Share of resource requests answered with 500 (fault injection).
    #[arg(long, default_value_t = 0.0)]
    fault_error_rate: f64,
    /// Share of resource requests answered with 429 (fault injection).
    #[arg(long, default_value_t = 0.0)]
    fault_throttle_rate: f64,
    /// Milliseconds of latency added to every resource request.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Cut every watch stream after a random time up to this many seconds.
    #[arg(long)]
    fault_watch_cut_secs: Option<u64>,
    /// Users beyond the cluster admin, as kube-apiserver's static token file:
    /// one `token,user,uid[,"group1,group2"]` line per user.
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Test,
    Embedded,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let tokens = match &args.token_auth_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            fake_apiserver::StaticToken::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("token file {}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let config = fake_apiserver::Config {
        tokens,
        listen: args.listen,
        mode: match args.mode {
            ModeArg::Test => fake_apiserver::Mode::Test,
            ModeArg::Embedded => fake_apiserver::Mode::Embedded,
        },
        faults: fake_apiserver::Faults {
            error_rate: args.fault_error_rate,
            throttle_rate: args.fault_throttle_rate,
            latency: Duration::from_millis(args.fault_latency_ms),
            watch_cut_after: args.fault_watch_cut_secs.map(Duration::from_secs),
            ..fake_apiserver::Faults::default()
        },
        bookmark_interval: args.bookmark_interval.map(Duration::from_secs),
        ..fake_apiserver::Config::default()
    };
    let server = fake_apiserver::start(config)
        .await
        .context("starting the fake API server")?;
    if let Some(path) = &args.kubeconfig_out {
        server
            .write_kubeconfig(path)
            .with_context(|| format!("writing the kubeconfig to {}", path.display()))?;
        println!("kubeconfig written to {}", path.display());
    }
    println!("listening on {}", server.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}
