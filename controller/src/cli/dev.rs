//! `tenant-operator dev`: the whole system on one machine. Starts the in-memory API server,
//! installs the CRDs (from the Rust types), the chart's RBAC (rendered from the chart's
//! templates), the admission policies of `policies/admission` and the default TenantClasses,
//! applies the sample tenants (or the manifests of `-f DIR`), runs the controller as its own
//! ServiceAccount under that RBAC and those policies, reports progress and a summary, and
//! leaves everything running for `kubectl --kubeconfig PATH get ts` (and `--as` a tenant's
//! user).
//!
//! The chart files, policies, classes and samples are embedded in the binary, so `dev` works
//! from any directory and without `helm`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use tenant_operator::api::{DomainDelegation, Phase, TenantClass, TenantService, crd};
use tenant_operator::chart;
use tenant_operator::kinds::ManagedKind;
use tenant_operator::labels;
use tenant_operator::manifest::{self, Document};
use tenant_operator::pki::CaSettings;
use tenant_operator::reconcile::context::Settings;
use tenant_operator::reconcile::controller::{self, OperatorConfig};
use tenant_operator::render::Platform;
use tenant_operator::samples::{self, DEFAULT_CLASSES, SAMPLE_DELEGATIONS};
use tenant_operator::telemetry::{self, Metrics, Readiness};

use super::GlobalArgs;
use super::run::{log_format, parse_duration, shutdown_signal};

/// Sample tenants (`samples/`), embedded.
const EMBEDDED_SAMPLES: &[(&str, &str)] = &[
    (
        "samples/regione-puglia.yaml",
        include_str!("../../../samples/regione-puglia.yaml"),
    ),
    (
        "samples/asl-bari.yaml",
        include_str!("../../../samples/asl-bari.yaml"),
    ),
    (
        "samples/comune-bari.yaml",
        include_str!("../../../samples/comune-bari.yaml"),
    ),
    (
        "samples/comune-poggiorsini.yaml",
        include_str!("../../../samples/comune-poggiorsini.yaml"),
    ),
];

/// The chart's release in dev mode: the default one, so the operator's namespace is
/// `tenant-operator`.
const DEV_RELEASE: chart::Release<'static> = chart::Release::DEFAULT;
/// Namespace of the operator in dev mode.
const DEV_NAMESPACE: &str = DEV_RELEASE.namespace;
/// Field manager of the TenantServices, TenantClasses and DomainDelegations `dev` applies:
/// the one `kubectl apply --server-side` uses by default. Under any other manager, a later
/// `kubectl apply --server-side` of the edited file would become a second owner of every
/// field, and an entry the user deletes from a list (an environment) would stay, owned by
/// the first manager; with `kubectl`, kubectl simply takes over.
const MANIFEST_MANAGER: &str = "kubectl";
/// Field manager of the chart's RBAC and admission policies, which `dev` installs in place
/// of `helm`.
const CHART_MANAGER: &str = "tenant-operator-dev";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply the TenantService and TenantClass manifests of these files, directories (read
    /// recursively: *.yaml, *.yml, *.json) or `-` (standard input) instead of the built-in
    /// samples, as `validate` and `render` read them. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub filename: Vec<PathBuf>,

    /// Address of the in-memory API server.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Where to write the kubeconfig (default: a file in the system temp directory).
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,

    /// Address of the admin port (/livez, /readyz, /metrics).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub admin_addr: SocketAddr,

    /// Exit once every tenant is Ready or Failed (for tests and CI); exit code 1 if any failed.
    #[arg(long)]
    pub exit_when_ready: bool,

    /// Give up waiting for tenants after this long.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Lifetime of tenant certificates (short values show renewal at work).
    #[arg(long, default_value = "90d", value_parser = parse_duration)]
    pub certificate_lifetime: Duration,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    // Progress goes to stdout; logs only when something is wrong, unless RUST_LOG says more.
    telemetry::init_tracing_with(log_format(global), "warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

/// The manifests `dev` applies: the default classes and the delegations of
/// `policies/delegations/`, then the built-in samples or the manifests of `files` (through
/// the loader of `validate` and `render`; DomainDelegations among them are applied too, as
/// the datacenter operator a local playground plays). A document that does not parse stops
/// `dev` with its `file:line`.
fn manifests(files: &[PathBuf]) -> anyhow::Result<Vec<Document>> {
    let mut documents = Vec::new();
    let mut syntax = Vec::new();
    let policies = DEFAULT_CLASSES.iter().chain(SAMPLE_DELEGATIONS);
    let embedded = if files.is_empty() {
        policies.chain(EMBEDDED_SAMPLES).collect::<Vec<_>>()
    } else {
        policies.collect()
    };
    for (source, text) in embedded {
        let (parsed, errors) = manifest::parse(source, text);
        documents.extend(parsed);
        syntax.extend(errors);
    }
    if !files.is_empty() {
        let (loaded, errors) = manifest::load(files)?;
        documents.extend(loaded);
        syntax.extend(errors);
    }
    if let Some(error) = syntax.first() {
        bail!("{error}; fix the syntax (indentation, quotes, ':' after keys)");
    }
    Ok(documents)
}

/// Applies a TenantClass, DomainDelegation or TenantService manifest.
async fn apply_manifest(client: &Client, document: &Document) -> anyhow::Result<()> {
    let location = format!("{}:{}", document.file, document.line);
    let kind = document.kind().unwrap_or_default();
    let name = document
        .name()
        .with_context(|| format!("{location}: metadata.name is missing"))?;
    // Without `force`, as `kubectl apply --server-side` applies.
    let params = PatchParams::apply(MANIFEST_MANAGER);
    let result = match kind {
        "TenantClass" => Api::<TenantClass>::all(client.clone())
            .patch(name, &params, &Patch::Apply(&document.value))
            .await
            .map(|_| ()),
        "TenantService" => Api::<TenantService>::all(client.clone())
            .patch(name, &params, &Patch::Apply(&document.value))
            .await
            .map(|_| ()),
        "DomainDelegation" => Api::<DomainDelegation>::all(client.clone())
            .patch(name, &params, &Patch::Apply(&document.value))
            .await
            .map(|_| ()),
        other => bail!(
            "{location}: kind {other:?} is not applied by `dev`; use TenantService, TenantClass or DomainDelegation manifests"
        ),
    };
    result.with_context(|| format!("{location}: applying {kind} {name}"))
}

async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crd::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .with_context(|| format!("installing CRD {}", crd.name_any()))?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(DEV_NAMESPACE.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .context("creating the operator namespace")?;
    Ok(())
}

/// Counts of tenants per phase.
fn phase_counts(tenants: &[TenantService]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for tenant in tenants {
        let phase = tenant
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map_or("Pending", Phase::as_str);
        *counts.entry(phase).or_insert(0) += 1;
    }
    counts
}

/// Whether every tenant has reached a resting phase for its current generation.
fn settled(tenants: &[TenantService]) -> bool {
    tenants.iter().all(|t| {
        t.status.as_ref().is_some_and(|s| {
            s.observed_generation == t.metadata.generation
                && matches!(s.phase, Some(Phase::Ready | Phase::Failed))
        })
    })
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let server = fake_apiserver::start(fake_apiserver::Config {
        listen: args.listen,
        mode: fake_apiserver::Mode::Embedded,
        ..Default::default()
    })
    .await
    .context("starting the in-memory API server")?;
    let client = server.client();
    println!("in-memory API server listening on {}", server.https_url());

    install_crds(&client).await?;
    // What the chart installs that decides who may do what: its RBAC and the policies.
    let access = chart::access_objects(DEV_RELEASE)?;
    chart::install(&client, &access, CHART_MANAGER).await?;
    let operator_user = chart::operator_username(DEV_RELEASE)?;
    let operator_client = server
        .client_as(&operator_user, &[])
        .context("a client for the operator's ServiceAccount")?;
    let mut manifests = manifests(&args.filename)?;
    // Classes and delegations before tenants, so that the first reconcile finds them.
    manifests.sort_by_key(|m| m.kind() == Some("TenantService"));
    for manifest in &manifests {
        apply_manifest(&client, manifest).await?;
    }
    let count = |kind: &str| manifests.iter().filter(|m| m.kind() == Some(kind)).count();
    println!(
        "installed CRDs, the chart's RBAC, {} admission policies, {} TenantClasses, {} DomainDelegations and {} TenantServices",
        access
            .iter()
            .filter(|o| o["kind"] == "ValidatingAdmissionPolicy")
            .count(),
        count("TenantClass"),
        count("DomainDelegation"),
        count("TenantService")
    );

    let kubeconfig_path = match &args.kubeconfig_out {
        Some(path) => path.clone(),
        None => std::env::temp_dir().join(format!(
            "tenant-operator-dev-{}.kubeconfig",
            std::process::id()
        )),
    };
    server
        .write_kubeconfig(&kubeconfig_path)
        .with_context(|| format!("writing {}", kubeconfig_path.display()))?;

    let metrics = Arc::new(Metrics::new()?);
    let readiness = Arc::new(Readiness::default());
    let admin = telemetry::serve(args.admin_addr, metrics.clone(), readiness.clone()).await?;
    let mut settings = Settings::new(DEV_NAMESPACE);
    settings.certificate_lifetime = args.certificate_lifetime;
    let config = OperatorConfig {
        settings,
        platform: Platform::default(),
        reserved_namespaces: samples::reserved_namespaces(),
        ca_secret: tenant_operator::pki::DEFAULT_CA_SECRET.to_string(),
        ca_settings: CaSettings::default(),
        ca_new_root: tenant_operator::pki::NewRoot::default(),
        leader_election: None,
        identity: "dev".to_string(),
        crd_timeout: Duration::from_secs(30),
        // dev installs the CRDs itself before the controller starts.
        install_crds: false,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(controller::run(
        operator_client,
        config,
        metrics,
        readiness,
        async move {
            let _ = stop_rx.await;
        },
    ));
    println!(
        "controller started as {operator_user}; admin port http://{}/metrics",
        admin.local_addr
    );

    // Progress until every tenant is Ready or Failed.
    let tenants_api: Api<TenantService> = Api::all(client.clone());
    let mut last = String::new();
    let tenants = loop {
        let tenants = tenants_api.list(&ListParams::default()).await?.items;
        let counts = phase_counts(&tenants);
        let line = counts
            .iter()
            .map(|(phase, n)| format!("{n} {phase}"))
            .collect::<Vec<_>>()
            .join(", ");
        if line != last {
            println!(
                "[{:>5.1}s] {} tenants: {line}",
                started.elapsed().as_secs_f64(),
                tenants.len()
            );
            last = line;
        }
        if settled(&tenants) {
            break tenants;
        }
        if started.elapsed() > args.timeout {
            bail!("tenants not settled after {:?}: {last}", args.timeout);
        }
        if operator.is_finished() {
            break tenants;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if operator.is_finished() {
        let result = operator.await.context("controller task")?;
        result.context("the controller stopped")?;
        bail!("the controller stopped unexpectedly");
    }
    print_summary(&client, &tenants).await?;
    for line in explore_hints(&kubeconfig_path.display().to_string(), &tenants) {
        println!("{line}");
    }
    let failed = tenants
        .iter()
        .filter(|t| t.status.as_ref().and_then(|s| s.phase) == Some(Phase::Failed))
        .count();
    if !args.exit_when_ready {
        println!("press Ctrl-C to stop");
        shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(10), operator).await {
        Ok(Ok(result)) => result.context("the controller stopped")?,
        Ok(Err(join)) => bail!("controller task failed: {join}"),
        Err(_) => bail!("the controller did not stop within 10 s"),
    }
    server.shutdown().await;
    let _ = std::fs::remove_file(&kubeconfig_path);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What to try with kubectl: as the cluster admin (the kubeconfig's user), and as a user
/// of the first tenant with an admin group and a namespace, through impersonation, so that
/// RBAC and the admission policies apply as they would to that tenant.
fn explore_hints(kubeconfig: &str, tenants: &[TenantService]) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        "explore it while this runs (as the cluster admin):".to_string(),
        format!("  kubectl --kubeconfig {kubeconfig} get ts"),
        format!("  kubectl --kubeconfig {kubeconfig} get ns,networkpolicies,resourcequotas -A"),
    ];
    let tenant_user = tenants.iter().find_map(|tenant| {
        let group = tenant.spec.access.as_ref()?.admin_groups.first()?;
        let namespace = tenant.status.as_ref()?.namespaces.first()?;
        Some((tenant.name_any(), group.clone(), namespace.clone()))
    });
    if let Some((tenant, group, namespace)) = tenant_user {
        let as_user = format!("--as={tenant}-admin --as-group={group}");
        lines.extend([
            format!("as a user of {tenant}'s admin group (RBAC and admission policies apply):"),
            format!("  kubectl --kubeconfig {kubeconfig} {as_user} -n {namespace} auth can-i --list"),
            format!("  kubectl --kubeconfig {kubeconfig} {as_user} -n {namespace} create deployment web --image=nginx"),
            format!("  kubectl --kubeconfig {kubeconfig} {as_user} -n {namespace} delete networkpolicy --all   # refused"),
        ]);
    }
    lines
}

/// One tenant's line of the summary, and why it failed, if it did.
struct SummaryRow {
    cells: [String; 7],
    failure: Option<String>,
}

/// The summary as `kubectl get` lays out a table: each column as wide as its widest cell,
/// three spaces apart, counts right-aligned; a failed tenant's reason under its line.
fn summary_table(rows: &[SummaryRow]) -> Vec<String> {
    let header = [
        "TENANT",
        "PHASE",
        "NAMESPACES",
        "OBJECTS",
        "NETPOLS",
        "BINDINGS",
        "CERTS",
    ]
    .map(String::from);
    let widths: [usize; 7] = std::array::from_fn(|i| {
        rows.iter()
            .map(|row| row.cells[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    });
    let line = |cells: &[String; 7]| {
        let [w0, w1, w2, w3, w4, w5, w6] = widths;
        format!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {:>w3$}   {:>w4$}   {:>w5$}   {:>w6$}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    let mut lines = vec![line(&header)];
    for row in rows {
        lines.push(line(&row.cells));
        if let Some(failure) = &row.failure {
            lines.push(format!("    {failure}"));
        }
    }
    lines
}

async fn print_summary(client: &Client, tenants: &[TenantService]) -> anyhow::Result<()> {
    let selector = format!("{}={}", labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE);
    let per_tenant = |labels_list: Vec<BTreeMap<String, String>>| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for l in labels_list {
            if let Some(tenant) = l.get(labels::TENANT) {
                *counts.entry(tenant.clone()).or_insert(0) += 1;
            }
        }
        counts
    };
    let params = ListParams::default().labels(&selector);
    let policies = per_tenant(
        Api::<NetworkPolicy>::all(client.clone())
            .list(&params)
            .await?
            .items
            .into_iter()
            .map(|p| p.metadata.labels.unwrap_or_default())
            .collect(),
    );
    let bindings = per_tenant(
        Api::<RoleBinding>::all(client.clone())
            .list(&params)
            .await?
            .items
            .into_iter()
            .map(|p| p.metadata.labels.unwrap_or_default())
            .collect(),
    );
    // Every object of each tenant, counted as its status counts them (TLS Secrets
    // included): the managed objects in, or being, one of the namespaces its status lists.
    let homes: BTreeMap<&str, String> = tenants
        .iter()
        .flat_map(|t| {
            let name = t.name_any();
            t.status
                .iter()
                .flat_map(|s| s.namespaces.iter())
                .map(move |ns| (ns.as_str(), name.clone()))
        })
        .collect();
    let mut objects: BTreeMap<String, usize> = BTreeMap::new();
    for kind in ManagedKind::ALL {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
        for object in api.list_metadata(&params).await?.items {
            let home = if kind == ManagedKind::Namespace {
                object.metadata.name
            } else {
                object.metadata.namespace
            };
            if let Some(tenant) = home.and_then(|ns| homes.get(ns.as_str())) {
                *objects.entry(tenant.clone()).or_insert(0) += 1;
            }
        }
    }
    let rows: Vec<SummaryRow> = tenants
        .iter()
        .map(|tenant| {
            let name = tenant.name_any();
            let status = tenant.status.clone().unwrap_or_default();
            let failure = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .filter(|_| status.phase == Some(Phase::Failed))
                .map(|ready| format!("{}: {}", ready.reason, ready.message));
            let cells = [
                name.clone(),
                status.phase.map_or("Pending", Phase::as_str).to_string(),
                status.namespaces.join(","),
                objects.get(&name).copied().unwrap_or(0).to_string(),
                policies.get(&name).copied().unwrap_or(0).to_string(),
                bindings.get(&name).copied().unwrap_or(0).to_string(),
                status.certificates.len().to_string(),
            ];
            SummaryRow { cells, failure }
        })
        .collect();
    println!();
    for line in summary_table(&rows) {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;

    use super::*;

    #[test]
    fn summary_columns_are_as_wide_as_their_widest_cell() {
        let row = |name: &str, namespaces: &str, failure: Option<&str>| SummaryRow {
            cells: [name, "Ready", namespaces, "41", "18", "12", "3"].map(String::from),
            failure: failure.map(String::from),
        };
        let lines = summary_table(&[
            row(
                "comune-bari",
                "comune-bari-dev,comune-bari-prod,comune-bari-test",
                None,
            ),
            row(
                "asl-bari",
                "asl-bari-prod",
                Some("InvalidSpec: spec.class: no such class"),
            ),
        ]);
        assert_eq!(
            lines,
            [
                "TENANT        PHASE   NAMESPACES                                          OBJECTS   NETPOLS   BINDINGS   CERTS",
                "comune-bari   Ready   comune-bari-dev,comune-bari-prod,comune-bari-test        41        18         12       3",
                "asl-bari      Ready   asl-bari-prod                                            41        18         12       3",
                "    InvalidSpec: spec.class: no such class",
            ]
        );
    }

    #[test]
    fn embedded_manifests_parse() {
        let documents = manifests(&[]).unwrap();
        assert_eq!(
            documents.len(),
            DEFAULT_CLASSES.len() + SAMPLE_DELEGATIONS.len() + EMBEDDED_SAMPLES.len()
        );
        for document in documents {
            assert!(
                matches!(
                    document.kind(),
                    Some("TenantClass" | "DomainDelegation" | "TenantService")
                ),
                "{}:{}",
                document.file,
                document.line
            );
        }
    }

    #[test]
    fn manifests_of_f_are_read_as_validate_reads_them() {
        let dir = std::env::temp_dir().join(format!("dev-manifests-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let tenant = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/asl-bari.yaml"),
        )
        .unwrap();
        let as_json: Value = serde_saphyr::from_str(&tenant).unwrap();
        // A directory, recursively, YAML and JSON alike.
        std::fs::write(dir.join("sub/asl-bari.json"), as_json.to_string()).unwrap();
        let documents = manifests(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<Option<&str>> = documents.iter().map(Document::name).collect();
        assert_eq!(
            names.len(),
            DEFAULT_CLASSES.len() + SAMPLE_DELEGATIONS.len() + 1
        );
        assert_eq!(names.last(), Some(&Some("asl-bari")));
        // A syntax error names its file and line.
        std::fs::write(dir.join("broken.yaml"), "kind: [\n").unwrap();
        let error = manifests(std::slice::from_ref(&dir))
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("broken.yaml:1: "), "{error}");
    }
}
