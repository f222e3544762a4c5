//! The `tenant-operator` binary: a thin CLI over the library. Each subcommand lives in
//! its own module under `cli/`; errors become `anyhow` only here, at the edge.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// mimalloc instead of glibc malloc: with many small, short-lived allocations (JSON of
/// every request) on a multi-threaded runtime, glibc spent a fifth of the CPU in malloc and
/// kept freed memory resident in per-thread arenas. The `system-allocator` feature keeps
/// the system's malloc, for heap profilers.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tenancy controller for the Puglia regional datacenter: turns each `TenantService`
/// into isolated namespaces, network policies, quotas, RBAC, TLS certificates and metrics.
#[derive(Parser, Debug)]
#[command(name = "tenant-operator", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: cli::GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller against a cluster (in-cluster config or --kubeconfig).
    // Boxed: its flags (CA lifecycle, brakes, leader election) make it far larger than the
    // other commands' arguments.
    Run(Box<cli::run::Args>),
    /// Start an in-memory API server, install the CRDs, classes and sample tenants, and run
    /// the controller against it: the whole system on one machine, no cluster needed.
    #[cfg(feature = "dev")]
    Dev(cli::dev::Args),
    /// Print the CustomResourceDefinitions (TenantService, TenantClass) as YAML.
    Crd(cli::crd::Args),
    /// Check TenantService manifests and report every problem as file:line: object: field.
    Validate(cli::validate::Args),
    /// Print every object the operator would create for the given TenantServices.
    Render(cli::render::Args),
    /// Show what merging the given TenantServices changes, object by object: against a
    /// base tree (--base) or the cluster (like kubectl diff: exit 0 no change, 1 changes).
    Diff(cli::diff::Args),
    /// Report the effective isolation (who can reach whom, who can do what) and the
    /// Multi-Tenancy Benchmark checks, offline or of a live cluster.
    Audit(cli::audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(&cli.global, *args),
        #[cfg(feature = "dev")]
        Command::Dev(args) => cli::dev::run(&cli.global, args),
        Command::Crd(args) => cli::crd::run(&cli.global, args),
        Command::Validate(args) => cli::validate::run(&cli.global, args),
        Command::Render(args) => cli::render::run(&cli.global, args),
        Command::Diff(args) => cli::diff::run(&cli.global, args),
        Command::Audit(args) => cli::audit::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            // kubectl's convention: 1 for a failed operation.
            ExitCode::FAILURE
        }
    }
}
