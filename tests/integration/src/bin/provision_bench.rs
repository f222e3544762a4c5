//! Controller benchmark: provisions N tenants from a cold start and prints seconds to all
//! Ready, mutating requests per tenant (and objects per tenant, what they are compared
//! with), writes during a full resync after Ready (must be 0), and peak RSS.
//!
//! - `--shape full`: every tenant with two environments, a hostname (a certificate per
//!   environment), two egress destinations, admin and viewer groups;
//! - `--faults`: the API server answers 5 % of requests with 500 and 2 % with 429, and cuts
//!   every watch within 10 s (the benchmark's own requests are retried as the operator's);
//! - `--restart`: after the resync, the operator is stopped and started again; reports the
//!   seconds until every tenant has been reconciled once and the writes made meanwhile
//!   (must be 0).
//!
//! The operator is the real `tenant-operator run` binary and the API server the real
//! `fake-apiserver` binary, each in its own process, so that the RSS figure is the
//! operator's alone. Build them first (same profile as this binary):
//!
//! ```sh
//! cargo build --release -p tenant-operator -p fake-apiserver -p tenant-operator-tests
//! target/release/provision-bench --dataset puglia     # 257 Comuni of Puglia
//! target/release/provision-bench --dataset italia     # 7,896 Comuni of Italy
//! target/release/provision-bench --shape full --faults --restart
//! ```
//!
//! Targets (issue 13, for `--dataset italia --shape full`): all Ready within 60 s, peak RSS
//! 192 MiB, a restart reconciled within 15 s with no write, objects + 2 mutating requests
//! per tenant. Figures are printed with their ratio to these targets.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tenant_operator::api::{
    Access, DomainDelegation, Environment, TenantClass, TenantService, crd,
};
use tenant_operator::kinds::ManagedKind;
use tenant_operator::retry;
use tenant_operator::samples::{self, Scope};

/// Seconds to all Ready from a cold start (creation included).
const TARGET_READY_SECONDS: f64 = 60.0;
/// Peak RSS of the operator, MiB.
const TARGET_RSS_MIB: f64 = 192.0;
/// Seconds until every tenant has been reconciled once after a restart.
const TARGET_RESTART_SECONDS: f64 = 15.0;
/// Mutating requests per tenant beyond its objects (the finalizer and the status).
const TARGET_EXTRA_WRITES: f64 = 2.0;

/// The tenants' shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Shape {
    /// As the samples generate them (environments, egress and groups by size class).
    Default,
    /// Two environments, a hostname, two egress destinations, admin and viewer groups.
    Full,
}

#[derive(Parser, Debug)]
#[command(about = "Provision N tenants from cold start and report figures")]
struct Args {
    /// Which tenants: `puglia` (257 Comuni) or `italia` (7,896 Comuni).
    #[arg(long, default_value = "puglia")]
    dataset: String,
    /// Use only the first N tenants of the dataset.
    #[arg(long)]
    limit: Option<usize>,
    /// Tenants the operator reconciles in parallel.
    #[arg(long, default_value_t = 32)]
    concurrency: u16,
    /// The tenants' shape.
    #[arg(long, value_enum, default_value_t = Shape::Default)]
    shape: Shape,
    /// Inject the faults of a busy cluster: 5 % of requests answered 500, 2 % 429, every
    /// watch cut within 10 s.
    #[arg(long)]
    faults: bool,
    /// After the resync, restart the operator and measure until every tenant has been
    /// reconciled once.
    #[arg(long)]
    restart: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Run the operator under this command, split at spaces, e.g.
    /// `valgrind --tool=massif --massif-out-file=massif.out` to see where its memory goes.
    #[arg(long)]
    operator_wrapper: Option<String>,
}

/// A process's `VmHWM` (peak RSS) or `VmRSS` from /proc, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A child process stopped when dropped: SIGTERM first, so that it shuts down in order
/// (and a profiler wrapping it writes its report), SIGKILL if it is still running after
/// ten seconds.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let stopped_in_order = i32::try_from(self.0.id()).is_ok_and(|pid| {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            )
            .is_ok()
        }) && {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match self.0.try_wait() {
                    Ok(Some(_)) => break true,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => break false,
                }
            }
        };
        if !stopped_in_order {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A binary built next to this one.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("binary without directory")?.join(name);
    if !path.exists() {
        bail!(
            "{} not found; build it first: cargo build [--release] -p tenant-operator -p fake-apiserver -p tenant-operator-tests",
            path.display()
        );
    }
    Ok(path)
}

/// A free loopback port.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A minimal HTTP/1.1 GET; returns the body.
async fn http_get(authority: &str, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // Concatenate the chunks.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            out.push_str(&after[..size]);
            rest = after[size..].trim_start_matches("\r\n");
        }
        Ok(out)
    } else {
        Ok(body.to_string())
    }
}

/// The API server's request counts (`/debug/requests`, read as the benchmark's user: the
/// server authorizes it as any other path).
async fn request_counts(server: &Client) -> anyhow::Result<Value> {
    let text = retry::request("get", &"/debug/requests", || async {
        let request = http::Request::get("/debug/requests")
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        server.request_text(request).await
    })
    .await?;
    Ok(serde_json::from_str(&text)?)
}

/// Mutating requests the API server has answered so far, with an error (injected faults
/// included) or not.
async fn mutating(server: &Client) -> anyhow::Result<u64> {
    request_counts(server).await?["mutating"]
        .as_u64()
        .context("no mutating count in /debug/requests")
}

/// Mutating requests the API server has answered so far with success: the writes made.
async fn writes(server: &Client) -> anyhow::Result<u64> {
    Ok(write_bill(server).await?.values().sum())
}

/// The writes made so far by `verb resource` (`patch tenantservices/status`), as the API
/// server counts them.
async fn write_bill(server: &Client) -> anyhow::Result<BTreeMap<String, u64>> {
    request_bill(
        server,
        &["create", "update", "patch", "delete", "deletecollection"],
        |code| code < 400,
    )
    .await
}

/// The reads of single objects made so far (`get resource`), found or not: lists and
/// watches are the operator's caches, these are what it had to look up.
async fn read_bill(server: &Client) -> anyhow::Result<BTreeMap<String, u64>> {
    request_bill(server, &["get"], |_| true).await
}

/// The requests made so far with one of `verbs` whose status code passes `counted`, by
/// `verb resource`, as the API server counts them.
async fn request_bill(
    server: &Client,
    verbs: &[&str],
    counted: impl Fn(u64) -> bool,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let counts = request_counts(server).await?;
    let rows = counts["requests"]
        .as_array()
        .context("no requests in /debug/requests")?;
    let mut bill = BTreeMap::new();
    for row in rows {
        let verb = row["verb"].as_str().unwrap_or_default();
        let code = row["code"].as_u64().unwrap_or(0);
        if !counted(code) || !verbs.contains(&verb) {
            continue;
        }
        let resource = row["resource"].as_str().unwrap_or_default();
        *bill.entry(format!("{verb} {resource}")).or_insert(0) +=
            row["count"].as_u64().unwrap_or(0);
    }
    Ok(bill)
}

/// `after` less `before`, line by line, lines that did not change left out.
fn bill_since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(line, n)| {
            (
                line.clone(),
                n - before.get(line).copied().unwrap_or(0).min(*n),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// What a tenant's writes paid for: its finalizer (a patch of the TenantService), its
/// status, its Events, and everything else (its objects).
#[derive(Debug, Default)]
struct Bill {
    finalizer: u64,
    status: u64,
    events: u64,
    objects: u64,
}

impl Bill {
    fn of(lines: &BTreeMap<String, u64>) -> Bill {
        let mut bill = Bill::default();
        for (line, n) in lines {
            let resource = line.split_once(' ').map_or("", |(_, resource)| resource);
            let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            let slot = match (resource.split('.').next().unwrap_or_default(), subresource) {
                ("tenantservices", "status") => &mut bill.status,
                ("tenantservices", _) => &mut bill.finalizer,
                ("events", _) => &mut bill.events,
                _ => &mut bill.objects,
            };
            *slot += n;
        }
        bill
    }
}

/// A sample value of the operator's /metrics.
async fn metric(admin: &str, series: &str) -> f64 {
    let Ok(text) = http_get(admin, "/metrics").await else {
        return 0.0;
    };
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Failed reconciles so far, every category.
async fn errors(admin: &str) -> f64 {
    let Ok(text) = http_get(admin, "/metrics").await else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with("tenant_operator_reconcile_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // A fold from 0.0: `sum` of no samples is -0.0, printed as "-0".
        .fold(0.0, |total, n| total + n)
}

/// Starts the API server; returns it, its address and a client.
async fn start_server(
    dir: &Path,
    faults: bool,
) -> anyhow::Result<(Process, String, Client, PathBuf)> {
    let kubeconfig = dir.join("kubeconfig");
    let port = free_port()?;
    let mut command = Command::new(sibling("fake-apiserver")?);
    command.args([
        "--mode",
        "embedded",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    if faults {
        command.args([
            "--fault-error-rate",
            "0.05",
            "--fault-throttle-rate",
            "0.02",
            "--fault-watch-cut-secs",
            "10",
        ]);
    }
    let child = command
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting fake-apiserver")?;
    let process = Process(child);
    let authority = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get(&authority, "/version").await.is_err() || !kubeconfig.exists() {
        if Instant::now() > deadline {
            bail!("fake-apiserver did not come up on {authority}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let client =
        Client::try_from(kube::Config::from_custom_kubeconfig(config, &Default::default()).await?)?;
    Ok((process, authority, client, kubeconfig))
}

/// Server-side applies every object, 32 at a time, as the benchmark's field manager.
async fn apply_all<K>(client: &Client, objects: &[K]) -> anyhow::Result<()>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::ClusterResourceScope>
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + k8s_openapi::serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    futures::stream::iter(objects)
        .map(|object| {
            let api = api.clone();
            async move {
                let name = object.name_any();
                let params = PatchParams::apply("bench").force();
                let patch = Patch::Apply(object);
                retry::request("apply", &name, || api.patch(&name, &params, &patch)).await
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// The dataset's tenants: one per Comune, generated as `gen_tenants` does, each valid
/// against the default classes, with the DomainDelegation of each Comune's domain (in
/// the same order), as the datacenter would keep them.
fn dataset(name: &str) -> anyhow::Result<(Vec<TenantService>, Vec<DomainDelegation>)> {
    let scope = match name {
        "puglia" => Scope::Puglia,
        "italia" => Scope::Italia,
        other => bail!("unknown dataset {other:?}; use puglia or italia"),
    };
    Ok((
        samples::comuni_tenants(scope),
        samples::comuni_delegations(scope),
    ))
}

/// The `--shape full` tenant: two environments, two egress destinations, admin and
/// viewer groups (the hostname the samples already have).
fn full_shape(tenant: &mut TenantService) {
    let name = tenant.name_any();
    tenant.spec.environments = ["prod", "test"]
        .into_iter()
        .map(|environment| Environment {
            name: environment.to_string(),
            quota: None,
            production: None,
        })
        .collect();
    if let Some(network) = tenant.spec.network.as_mut() {
        network.egress.truncate(2);
    }
    tenant.spec.access = Some(Access {
        admin_groups: vec![format!("{name}-admins")],
        edit_groups: Vec::new(),
        viewer_groups: vec![format!("{name}-auditors")],
    });
}

/// Objects labelled with a tenant, of every managed kind: what the tenants cost at least.
async fn tenant_objects(client: &Client) -> anyhow::Result<u64> {
    let mut total = 0;
    for kind in ManagedKind::ALL {
        let api: Api<kube::api::DynamicObject> =
            Api::all_with(client.clone(), &kind.api_resource());
        let params = ListParams::default().labels(tenant_operator::labels::TENANT);
        let list = retry::request("list", &kind.as_str(), || api.list_metadata(&params)).await?;
        total += list.items.len() as u64;
    }
    Ok(total)
}

/// Starts `tenant-operator run` against the server, its log in `log`.
fn start_operator(
    args: &Args,
    kubeconfig: &Path,
    admin: &str,
    log: &Path,
) -> anyhow::Result<Process> {
    let operator_binary = sibling("tenant-operator")?;
    let mut operator_command = match args.operator_wrapper.as_deref() {
        Some(wrapper) => {
            let mut words = wrapper.split_whitespace();
            let mut command = Command::new(words.next().context("--operator-wrapper is empty")?);
            command.args(words).arg(operator_binary);
            command
        }
        None => Command::new(operator_binary),
    };
    Ok(Process(
        operator_command
            .args([
                "run",
                "--namespace",
                "tenant-operator",
                "--leader-election=false",
                "--log-format",
                "json",
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "--admin-addr",
                admin,
                "--concurrency",
                &args.concurrency.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log)?))
            .spawn()
            .context("starting tenant-operator run")?,
    ))
}

/// `0.52 of the target 60` (a target that is not whole, as objects + 2 per tenant, with
/// one decimal).
fn ratio(value: f64, target: f64) -> String {
    if target.fract() == 0.0 {
        format!("{:.2} of the target {target}", value / target)
    } else {
        format!("{:.2} of the target {target:.1}", value / target)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let (mut tenants, mut delegations) = dataset(&args.dataset)?;
    if let Some(limit) = args.limit {
        tenants.truncate(limit);
        delegations.truncate(limit);
    }
    if args.shape == Shape::Full {
        tenants.iter_mut().for_each(full_shape);
    }
    let n = tenants.len();
    let dir = std::env::temp_dir().join(format!("provision-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (server, _server_addr, client, kubeconfig) = start_server(&dir, args.faults).await?;

    // The cluster as an operator finds it: CRDs, its namespace, the classes, the tenants.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let create = PostParams::default();
    for crd in crd::crds() {
        retry::request("create CRD", &crd.name_any(), || crds.create(&create, &crd)).await?;
    }
    let operator_namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "tenant-operator"}}))?;
    let namespaces = Api::<Namespace>::all(client.clone());
    retry::request("create namespace", &"tenant-operator", || {
        namespaces.create(&create, &operator_namespace)
    })
    .await?;
    // The classes the chart installs, so the benchmark provisions what production would.
    let classes = samples::default_classes()?;
    apply_all(&client, &classes).await?;
    // The delegations are in place before the operator starts, as in production (they are
    // not part of the timed load, which is the tenants').
    apply_all(&client, &delegations).await?;
    let load_started = Instant::now();
    apply_all(&client, &tenants).await?;
    drop(tenants);
    println!(
        "loaded {n} TenantServices in {:.1}s",
        load_started.elapsed().as_secs_f64()
    );

    // Cold start of the operator.
    let before = mutating(&client).await?;
    let bill_before = write_bill(&client).await?;
    let reads_before = read_bill(&client).await?;
    let admin = format!("127.0.0.1:{}", free_port()?);
    let started = Instant::now();
    let operator = start_operator(&args, &kubeconfig, &admin, &dir.join("operator.log"))?;
    let operator_pid = operator.0.id();
    let mut last_report = Instant::now();
    let ready_after = loop {
        let ready = metric(&admin, "tenant_operator_tenants{phase=\"Ready\"}").await;
        if ready == n as f64 {
            break started.elapsed();
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!(
                "  {:>6.1}s: {ready}/{n} Ready, operator RSS {} MiB",
                started.elapsed().as_secs_f64(),
                proc_status_kib(operator_pid, "VmRSS:").unwrap_or(0) / 1024
            );
            last_report = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(args.timeout) {
            bail!(
                "only {ready}/{n} tenants Ready after {:?}; see {}",
                started.elapsed(),
                dir.join("operator.log").display()
            );
        }
        // Each look is a scrape of /metrics that the operator renders in full (per-tenant
        // series included): twice a second keeps the bench's own cost small and the figure
        // within half a second.
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The peak so far, before the bench's own checks and the resync add to it.
    let operator_rss_at_ready = proc_status_kib(operator_pid, "VmHWM:").unwrap_or(0);
    let provisioning_requests = mutating(&client).await? - before;
    let provisioning_bill = bill_since(&bill_before, &write_bill(&client).await?);
    let provisioning_reads = bill_since(&reads_before, &read_bill(&client).await?);
    let provisioning_writes: u64 = provisioning_bill.values().sum();
    let objects = tenant_objects(&client).await?;
    // The API agrees with the operator's gauge.
    let tenant_api = Api::<TenantService>::all(client.clone());
    let all = ListParams::default();
    let listed = retry::request("list", &"TenantServices", || tenant_api.list(&all)).await?;
    let ready_in_api = listed.items.iter().filter(|t| is_ready(t)).count();
    drop(listed);
    if ready_in_api != n {
        bail!("the operator counts {n} Ready tenants but the API shows {ready_in_api}");
    }

    // Full resync after Ready: touching every class triggers every tenant.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let class_api = Api::<TenantClass>::all(client.clone());
    for class in &classes {
        let name = class.name_any();
        let touch = json!({
            "apiVersion": "tenancy.innova.puglia.it/v1alpha1", "kind": "TenantClass",
            "metadata": {"name": name, "labels": {"bench-resync": "1"}}
        });
        let params = PatchParams::apply("bench-touch");
        let patch = Patch::Apply(&touch);
        retry::request("touch class", &name, || {
            class_api.patch(&name, &params, &patch)
        })
        .await?;
    }
    let resync_before = writes(&client).await?;
    let reconciles_before = metric(&admin, "tenant_operator_reconciles_total").await;
    let resync_started = Instant::now();
    while metric(&admin, "tenant_operator_reconciles_total").await - reconciles_before < n as f64
        && resync_started.elapsed() < Duration::from_secs(args.timeout)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resync_seconds = resync_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resync_writes = writes(&client).await? - resync_before;
    let resync_reconciles =
        metric(&admin, "tenant_operator_reconciles_total").await - reconciles_before;

    let operator_rss = proc_status_kib(operator_pid, "VmHWM:").unwrap_or(0);
    let server_rss = proc_status_kib(server.0.id(), "VmHWM:").unwrap_or(0);
    let operator_cpu = cpu_seconds(operator_pid).unwrap_or(0.0);
    let server_cpu = cpu_seconds(server.0.id()).unwrap_or(0.0);
    let reconcile_seconds = metric(&admin, "tenant_operator_reconcile_duration_seconds_sum").await;
    let reconcile_count = metric(&admin, "tenant_operator_reconcile_duration_seconds_count").await;
    let reconcile_errors = errors(&admin).await;
    drop(operator);

    // Restart with every tenant Ready: the new process must find out that nothing changed.
    let restart = if args.restart {
        let writes_before = writes(&client).await?;
        let started = Instant::now();
        let operator = start_operator(&args, &kubeconfig, &admin, &dir.join("restart.log"))?;
        while metric(&admin, "tenant_operator_reconciles_total").await < n as f64 {
            if started.elapsed() > Duration::from_secs(args.timeout) {
                bail!(
                    "the restarted operator did not reconcile every tenant within {} s",
                    args.timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let restart_writes = writes(&client).await? - writes_before;
        let rss = proc_status_kib(operator.0.id(), "VmHWM:").unwrap_or(0);
        drop(operator);
        Some((seconds, restart_writes, rss))
    } else {
        None
    };
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    let ready_seconds = ready_after.as_secs_f64();
    let n_f = n as f64;
    let per_tenant = provisioning_writes as f64 / n_f;
    let objects_per_tenant = objects as f64 / n as f64;
    let operator_mib = operator_rss as f64 / 1024.0;
    println!(
        "dataset:                          {} ({n} tenants, {:?} shape{})",
        args.dataset,
        args.shape,
        if args.faults { ", faults" } else { "" }
    );
    println!(
        "seconds to all Ready:             {ready_seconds:.1} ({})",
        ratio(ready_seconds, TARGET_READY_SECONDS)
    );
    println!(
        "writes (provisioning):            {provisioning_writes} ({per_tenant:.1} per tenant for {objects_per_tenant:.1} objects: {}); {provisioning_requests} mutating requests with the failed ones",
        ratio(per_tenant, objects_per_tenant + TARGET_EXTRA_WRITES)
    );
    let bill = Bill::of(&provisioning_bill);
    let each = |n: u64| n as f64 / n_f;
    println!(
        "  per tenant: finalizer {:.2} + status {:.2} + Events {:.2} + objects {:.2} (of {objects_per_tenant:.1})",
        each(bill.finalizer),
        each(bill.status),
        each(bill.events),
        each(bill.objects),
    );
    // The target counts the finalizer and the status on top of the objects; the issue
    // also allows one Event per tenant per provisioning, shown apart.
    let without_events = each(provisioning_writes - bill.events);
    println!(
        "  without the Events:             {without_events:.2} per tenant ({})",
        ratio(without_events, objects_per_tenant + TARGET_EXTRA_WRITES)
    );
    for (line, count) in &provisioning_bill {
        println!("    {line}: {:.2} per tenant", each(*count));
    }
    println!(
        "reads (provisioning):             {:.2} per tenant",
        each(provisioning_reads.values().sum())
    );
    for (line, count) in &provisioning_reads {
        println!("    {line}: {:.2} per tenant", each(*count));
    }
    println!("reconcile errors (provisioning):  {reconcile_errors}");
    println!(
        "full resync after Ready:          {resync_reconciles} reconciles in {resync_seconds:.1}s, {resync_writes} writes"
    );
    println!(
        "peak RSS, operator process:       {operator_mib:.0} MiB ({}); {:.0} MiB until all were Ready",
        ratio(operator_mib, TARGET_RSS_MIB),
        operator_rss_at_ready as f64 / 1024.0
    );
    if let Some((seconds, restart_writes, rss)) = restart {
        println!(
            "restart, every tenant reconciled: {seconds:.1}s ({}), {restart_writes} writes, peak RSS {:.0} MiB",
            ratio(seconds, TARGET_RESTART_SECONDS),
            rss as f64 / 1024.0
        );
        if restart_writes != 0 {
            bail!("the restart made {restart_writes} writes (must be 0)");
        }
    }
    println!(
        "peak RSS, API server process:     {:.0} MiB",
        server_rss as f64 / 1024.0
    );
    println!("CPU seconds: operator {operator_cpu:.1}, API server {server_cpu:.1}");
    println!(
        "reconciles: {reconcile_count} (mean {:.1} ms)",
        1000.0 * reconcile_seconds / reconcile_count.max(1.0)
    );
    if resync_writes != 0 {
        bail!("a full resync after Ready made {resync_writes} writes (must be 0)");
    }
    Ok(())
}

fn is_ready(tenant: &TenantService) -> bool {
    tenant.status.as_ref().is_some_and(|s| {
        s.observed_generation == tenant.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}
