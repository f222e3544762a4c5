//! `tenant-operator audit`: the effective isolation of the objects `render` would create
//! for some TenantServices (offline, what the pull-request pipeline runs), or of a live
//! cluster (read-only). See the library's `audit` module for what is computed.
//!
//! Offline, the inputs are checked as `validate` checks them and rendered as `render`
//! renders them; the platform objects the chart installs (tenant ClusterRoles, admission
//! policies) are added, then every other manifest found in the inputs, as if applied with
//! `kubectl apply` (it replaces an object of the same kind and name): "what if this were
//! applied". `--compare BASE_DIR` audits the base the same way and prints only what the
//! change adds or removes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tenant_operator::api::API_VERSION;
use tenant_operator::audit::compare::{self, Comparison};
use tenant_operator::audit::output::{self, Location};
use tenant_operator::audit::report::Source;
use tenant_operator::audit::{self, AuditError, Report, Settings, Snapshot};
use tenant_operator::manifest::check::{Checker, Inputs};
use tenant_operator::manifest::{self, Document};
use tenant_operator::render::RenderContext;
use tenant_operator::render::set;

use super::GlobalArgs;

/// Exit status when every check passes.
const EXIT_PASS: u8 = 0;
/// Exit status when a check fails (with `--compare`: when the change makes one fail).
const EXIT_FAIL: u8 = 1;
/// Exit status when the inputs cannot be read or audited.
const EXIT_UNREADABLE: u8 = 2;

/// Report the effective isolation: who can reach whom, who can do what, and the checks.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    tenant-operator audit -f samples/\n  \
    tenant-operator audit -f tenants/ -o sarif > audit.sarif\n  \
    tenant-operator audit -f tenants/ --compare base/tenants/ -o markdown\n  \
    tenant-operator audit --kubeconfig ~/.kube/config -o json\n\n\
Exit status: 0 every check passes, 1 a check fails (with --compare: the change makes one fail),\n\
2 the inputs cannot be read.")]
pub struct Args {
    /// Manifests to audit offline: TenantServices (rendered as `render` would), and any
    /// other manifests (NetworkPolicies, RoleBindings, ...) audited as if applied. Files,
    /// directories (every *.yaml, *.yml, *.json below them) or `-`. Without -f, the cluster
    /// of --kubeconfig (or KUBECONFIG, or the pod's service account) is audited.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        conflicts_with = "kubeconfig"
    )]
    pub files: Vec<PathBuf>,

    /// The trusted policy folder (or a file): TenantClasses, DomainDelegations, reserved
    /// namespaces, as for `validate` (offline only).
    #[arg(long, value_name = "DIR", default_value = super::validate::DEFAULT_POLICIES)]
    pub classes: PathBuf,

    /// Audit the cluster of this kubeconfig (read-only: list calls only).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,

    /// Audit this directory (or file) of manifests too, as the state before the change,
    /// and report only what the -f inputs add or remove.
    #[arg(long, value_name = "BASE_DIR", requires = "files")]
    pub compare: Option<PathBuf>,

    /// Network pod IPs come from (repeatable); an ipBlock overlapping one may reach pods.
    /// Default: every private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
    /// 100.64.0.0/10, fc00::/7).
    #[arg(long = "pod-network", value_name = "CIDR")]
    pub pod_networks: Vec<ipnet::IpNet>,
}

/// Output formats of `audit`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person: failures first, then a matrix per tenant.
    Text,
    /// For a pull-request comment or a security review.
    Markdown,
    /// The report as JSON.
    Json,
    /// SARIF 2.1.0, failures located on the TenantService that caused them.
    Sarif,
}

/// Why an audit did not run: messages for standard error (exit status 2).
struct Unreadable(Vec<String>);

impl Unreadable {
    fn one(message: impl Into<String>) -> Unreadable {
        Unreadable(vec![message.into()])
    }
}

/// An offline audit and the documents its tenants came from (for locating failures).
struct Offline {
    report: Report,
    documents: Vec<Document>,
}

/// Runs `audit`.
pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::default();
    if !args.pod_networks.is_empty() {
        settings.pod_networks = args.pod_networks.iter().map(ipnet::IpNet::trunc).collect();
    }
    if args.files.is_empty() {
        return live(&args, &settings);
    }
    let head = match offline(&args.files, &args.classes, &settings) {
        Ok(head) => head,
        Err(unreadable) => return Ok(refuse(&unreadable)),
    };
    let locate = |source: &Source| locate(&head.documents, source);
    let Some(base_dir) = &args.compare else {
        print(&formatted(&head.report, args.output, &locate)?)?;
        return Ok(exit(head.report.passed()));
    };
    let base = match offline(std::slice::from_ref(base_dir), &args.classes, &settings) {
        Ok(base) => base,
        Err(Unreadable(mut messages)) => {
            messages.push(format!("(while auditing the base {})", base_dir.display()));
            return Ok(refuse(&Unreadable(messages)));
        }
    };
    let comparison: Comparison = compare::compare(&base.report, &head.report);
    print(&match args.output {
        Format::Text => output::comparison_text(&comparison),
        Format::Markdown => output::comparison_markdown(&comparison),
        Format::Json => output::comparison_json(&comparison).context("writing JSON")?,
        Format::Sarif => output::comparison_sarif(&comparison, &locate).context("writing SARIF")?,
    })?;
    Ok(exit(!comparison.adds_failures()))
}

/// The report in the format asked for; `locate` places SARIF results in files.
fn formatted(
    report: &Report,
    format: Format,
    locate: &dyn Fn(&Source) -> Option<Location>,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => output::text(report),
        Format::Markdown => output::markdown(report),
        Format::Json => output::json(report).context("writing JSON")?,
        Format::Sarif => output::sarif(report, locate).context("writing SARIF")?,
    })
}

fn exit(passed: bool) -> ExitCode {
    ExitCode::from(if passed { EXIT_PASS } else { EXIT_FAIL })
}

fn print(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")
}

fn refuse(unreadable: &Unreadable) -> ExitCode {
    for message in &unreadable.0 {
        eprintln!("{message}");
    }
    eprintln!("error: nothing audited: the inputs above cannot be read");
    ExitCode::from(EXIT_UNREADABLE)
}

/// Where a TenantService field is written.
fn locate(documents: &[Document], source: &Source) -> Option<Location> {
    let document = documents.iter().find(|d| {
        d.api_version() == Some(API_VERSION)
            && d.kind() == Some("TenantService")
            && d.name() == Some(source.tenant.as_str())
    })?;
    Some(Location {
        uri: document.file.clone(),
        line: document.line_of(&source.field),
    })
}

/// Checks the manifests of `files` as `validate` does, renders them as `render` does, adds
/// the other manifests as if applied, and audits the result.
fn offline(files: &[PathBuf], classes: &Path, settings: &Settings) -> Result<Offline, Unreadable> {
    if let Err(error) = std::fs::metadata(classes) {
        return Err(Unreadable::one(format!(
            "error: --classes {}: {error}; --classes names the trusted policy folder of TenantClasses, DomainDelegations and reserved namespaces (default policies, relative to the working directory)",
            classes.display()
        )));
    }
    let manifests = manifest::load_with_library(files, Some(classes))
        .map_err(|e| Unreadable::one(format!("error: {e}")))?;
    // The checks of `tenant-operator validate`: schema, CEL rules, the rules of each tenant
    // with its class and with the others.
    let outcome = Checker::new().check(&manifests.documents, &manifests.library, &manifests.syntax);
    if outcome.errors() > 0 {
        return Err(Unreadable(
            outcome.findings.iter().map(ToString::to_string).collect(),
        ));
    }
    let Inputs {
        tenants,
        classes,
        delegations,
        ..
    } = outcome.inputs;
    if tenants.is_empty() {
        return Err(Unreadable::one(format!(
            "error: no TenantService in {}; give manifests with -f",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let ctx = RenderContext {
        platform: &settings.platform,
        peers: &[],
        ca_certificate: None,
    };
    let rendered = set::render_all(&tenants, &classes, &ctx)
        .map_err(|e| Unreadable::one(format!("error: {e}")))?;
    let mut snapshot = Snapshot::rendered(tenants, classes, rendered)
        .map_err(|e| Unreadable::one(format!("error: {e}")))?;
    snapshot.delegations = delegations;
    let documents = manifests.documents;
    let others: Vec<&Document> = documents
        .iter()
        .filter(|d| d.api_version() != Some(API_VERSION))
        .collect();
    let mut notes = Vec::new();
    for document in &others {
        let at = format!("{}:{}", document.file, document.line);
        match snapshot.apply(&document.value) {
            Ok(true) => {}
            Ok(false) => notes.push(format!(
                "{at}: {} {}: not a kind the audit reads; left out",
                document.kind().unwrap_or("document"),
                document.name().unwrap_or("(unnamed)")
            )),
            Err(e) => return Err(Unreadable::one(format!("{at}: {e}"))),
        }
    }
    let mut report = audit::audit(&snapshot, settings).map_err(|e| match &e {
        AuditError::Policy(p) => {
            let document = others.iter().find(|d| {
                d.kind() == Some("NetworkPolicy")
                    && d.name() == Some(p.name.as_str())
                    && d.value["metadata"]["namespace"].as_str() == Some(p.namespace.as_str())
            });
            match document {
                Some(d) => Unreadable::one(format!("{}:{}: {e}", d.file, d.line_of(&p.path))),
                None => Unreadable::one(format!("error: {e}")),
            }
        }
        AuditError::Platform(_) => Unreadable::one(format!("error: {e}")),
    })?;
    report.notes.extend(notes);
    Ok(Offline { report, documents })
}

/// Audits the cluster (read-only).
fn live(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let read = runtime.block_on(async {
        let client = super::run::client(args.kubeconfig.as_deref()).await?;
        audit::live::snapshot(&client)
            .await
            .map_err(anyhow::Error::from)
    });
    let (snapshot, notes) = match read {
        Ok(read) => read,
        Err(e) => return Ok(refuse(&Unreadable::one(format!("error: {e:#}")))),
    };
    let mut report = match audit::audit(&snapshot, settings) {
        Ok(report) => report,
        Err(e) => return Ok(refuse(&Unreadable::one(format!("error: {e}")))),
    };
    report.notes.extend(notes);
    // No files to point at: SARIF results carry the namespace as a logical location.
    print(&formatted(&report, args.output, &|_: &Source| None)?)?;
    Ok(exit(report.passed()))
}
