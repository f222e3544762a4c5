//! `tenant-operator render`: every object the operator would create for the given
//! TenantServices, sorted and ready for `kubectl apply -f -` or a pull-request diff.
//!
//! Input goes through the checks of `tenant-operator validate` (the same engine: the CRD
//! schema with its CEL rules, then the rules the controller applies, across the set); an
//! invalid set is refused with every problem as `file:line: object: field: message`, and
//! a valid one rendered without checking it again.
//!
//! A summary comes first, for the reviewer of a pull request: per tenant and environment the
//! namespace, the quota, who gets which role, the egress destinations by name, the tenants
//! traffic is consented with, the hostnames and the Secret of their certificate, and how
//! many objects (the count the controller's status gives). With `-o yaml` it is a block of
//! YAML comments before the first object: a reviewer reads it first in the rendered file,
//! and `kubectl apply -f`, `kubectl diff` and schema checkers skip comments, so the output
//! stays a valid manifest. JSON has no comments, so with `-o json` (what a pipeline feeds to
//! tools) the summary goes to standard error and standard output stays a `v1 List`.
//!
//! The regional CA is known to the controller at run time. With `--ca-cert` (its public
//! certificate) the CA bundle ConfigMap of each namespace holds it; without, the
//! ConfigMap is printed without data, which the controller fills in. TLS Secrets hold a
//! key issued at run time, so by default only a note says which ones the controller will
//! issue; with `--ca-key` as well they are issued here, their private keys printed only
//! with `--show-private-keys`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tenant_operator::manifest::check::{Checker, Outcome};
use tenant_operator::manifest::{self, Document};
use tenant_operator::pki::{self, RegionalCa};
use tenant_operator::render::set::{self, RenderedTenant};
use tenant_operator::render::summary;
use tenant_operator::render::{
    CA_BUNDLE_CONFIG_MAP, CertificateRequest, ChildObject, Platform, RenderContext, output,
    sort_objects,
};

use super::{GlobalArgs, OutputFormat};

/// Exit status when the inputs cannot be read (as `validate`).
const EXIT_USAGE: u8 = 2;

/// Bytes buffered before a write to standard output.
const OUTPUT_BUFFER: usize = 64 * 1024;

/// Print every object the operator would create for the given TenantServices.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    tenant-operator render -f samples/\n  \
    tenant-operator render -f comune-molfetta.yaml -o json\n  \
    tenant-operator render -f tenants/ | kubectl apply --dry-run=server -f -\n  \
    tenant-operator render -f tenants/ --ca-cert ca.crt\n  \
    tenant-operator render -f tenants/ --ca-cert ca.crt --ca-key ca.key")]
pub struct Args {
    /// TenantService manifests: files, directories (every *.yaml, *.yml, *.json below
    /// them) or `-` for standard input. TenantClasses found here take precedence over
    /// those of `--classes`.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub files: Vec<PathBuf>,

    /// The trusted policy folder (or a file): the TenantClasses the tenants refer to, the
    /// DomainDelegations their hostnames must lie in, the reserved namespaces (see
    /// `validate --help`).
    #[arg(long, value_name = "DIR", default_value = super::validate::DEFAULT_POLICIES)]
    pub classes: PathBuf,

    /// Output format: multi-document YAML or a JSON `v1 List`.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,

    /// PEM certificate of the regional CA (public): printed in the CA bundle ConfigMaps,
    /// which are otherwise printed without data for the controller to fill in.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// PEM private key of the regional CA: issue the TLS Secrets here instead of leaving
    /// them to the controller. Needs `--ca-cert`.
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,

    /// Lifetime of certificates issued with `--ca-key`, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=825))]
    pub certificate_days: u64,

    /// Include `tls.key` in the printed TLS Secrets. Without it the Secrets carry only the
    /// certificate and the CA certificate, so output can be shared safely.
    #[arg(long, requires = "ca_key")]
    pub show_private_keys: bool,
}

/// Runs `render`: exit 0 with the objects on stdout, or 1 with the problems on stderr.
pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let checked = match check_tree(&args.files, &args.classes) {
        Ok(checked) => checked,
        Err(TreeError::Unreadable(message)) => {
            // As `validate`: unreadable inputs are a usage error (2), not invalid manifests (1).
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(TreeError::Invalid(outcome)) => {
            let lines: Vec<String> = outcome.findings.iter().map(ToString::to_string).collect();
            return Ok(refuse(&lines));
        }
    };
    for finding in &checked.outcome.findings {
        eprintln!("{finding}");
    }
    let inputs = checked.outcome.inputs;
    if inputs.tenants.is_empty() {
        eprintln!(
            "error: no TenantService in {}; give manifests with -f",
            join_paths(&args.files)
        );
        return Ok(ExitCode::FAILURE);
    }

    let ca = match (&args.ca_cert, &args.ca_key) {
        (Some(cert), Some(key)) => Some(CaInput::Issuer(Box::new(load_ca(cert, key)?))),
        (Some(cert), None) => Some(CaInput::Certificate(load_ca_certificate(cert)?)),
        _ => None,
    };
    let ca_certificate = ca.as_ref().map(CaInput::certificate_pem);

    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate,
    };
    let rendered = set::render_all(&inputs.tenants, &inputs.classes, &ctx)?;
    let summary = summary::summary(&rendered);
    // The TLS Secrets, issued here when a CA key is given, are made while `rendered` is
    // borrowed for its certificate requests; the rendered objects are then moved out.
    let mut tls_secrets: Vec<ChildObject> = Vec::new();
    if ca_certificate.is_none() {
        eprintln!(
            "note: the CA bundle ConfigMaps ({CA_BUNDLE_CONFIG_MAP}, one per namespace) are printed without data: the controller fills in the regional CA certificate; give --ca-cert to include it"
        );
    }
    let requests: Vec<&CertificateRequest> = rendered
        .iter()
        .flat_map(|t: &RenderedTenant| &t.desired.certificates)
        .collect();
    match &ca {
        Some(CaInput::Issuer(ca)) => {
            // A certificate cannot usefully outlive its CA: clients stop trusting it then.
            let requested = Duration::from_secs(args.certificate_days * 24 * 3600);
            let ca_left = ca.not_after().as_second() - jiff::Timestamp::now().as_second();
            let lifetime = requested.min(Duration::from_secs(ca_left.max(1).unsigned_abs()));
            if lifetime < requested && !requests.is_empty() {
                eprintln!(
                    "note: certificates end with the CA at {} instead of after {} days",
                    ca.not_after(),
                    args.certificate_days
                );
            }
            for request in &requests {
                tls_secrets.push(tls_secret(ca, request, lifetime, args.show_private_keys)?);
            }
            if !requests.is_empty() && !args.show_private_keys {
                eprintln!(
                    "note: tls.key is left out of the {} TLS Secret(s); add --show-private-keys to include it",
                    requests.len()
                );
            }
        }
        _ => {
            for request in &requests {
                eprintln!(
                    "note: Secret {}/{} ({}) is issued by the controller at run time from the regional CA; give --ca-cert and --ca-key to issue it here",
                    request.namespace,
                    request.secret_name,
                    request.dns_names.join(", ")
                );
            }
        }
    }

    let mut objects: Vec<ChildObject> = rendered
        .into_iter()
        .flat_map(|tenant| tenant.desired.objects)
        .chain(tls_secrets)
        .collect();
    sort_objects(&mut objects);
    // Streamed: each object is written as it is serialised, through one buffer of a few
    // kilobytes (all of Italy is about 100 MB of YAML). The summary goes first: as YAML
    // comments before the objects, or to standard error beside the JSON.
    let mut out = std::io::BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout().lock());
    match args.output {
        OutputFormat::Yaml => out
            .write_all(summary_comment(&summary).as_bytes())
            .and_then(|()| output::write_yaml(&mut out, &objects)),
        OutputFormat::Json => {
            for line in &summary {
                eprintln!("{line}");
            }
            output::write_json_list(&mut out, &objects)
        }
    }
    .and_then(|()| out.flush())
    .context("writing to standard output")?;
    // The process ends next: freeing 200,000 objects (all of Italy) one allocation at a
    // time would cost a third of the render (see the `render_italy` bench); the operating
    // system takes the memory back at exit at once.
    std::mem::forget(objects);
    Ok(ExitCode::SUCCESS)
}

/// The summary as a block of YAML comments, then an empty comment line before the objects.
fn summary_comment(lines: &[String]) -> String {
    let mut block = String::new();
    for line in lines {
        if line.is_empty() {
            block.push_str("#\n");
        } else {
            block.push_str("# ");
            block.push_str(line);
            block.push('\n');
        }
    }
    block.push_str("#\n");
    block
}

/// A tree of manifests (the `-f` inputs and the class library) with the outcome of the
/// `validate` checks, which found no error.
pub struct CheckedTree {
    /// What the checks found (warnings only) and the typed objects.
    pub outcome: Outcome,
    /// The documents of the inputs, to locate each TenantService at its `file:line`.
    pub documents: Vec<Document>,
    /// The documents of the trusted policy folder, to locate each TenantClass and
    /// DomainDelegation.
    pub library: Vec<Document>,
}

/// Why a tree cannot be rendered.
pub enum TreeError {
    /// A file or the class directory cannot be read (a usage error: exit 2).
    Unreadable(String),
    /// The checks of `validate` found errors (boxed: an outcome holds every finding).
    Invalid(Box<Outcome>),
}

/// Loads `files` with the classes of `classes` and runs the checks of `validate` on them:
/// what `render` and `diff` render.
pub fn check_tree(files: &[PathBuf], classes: &Path) -> Result<CheckedTree, TreeError> {
    if let Err(error) = std::fs::metadata(classes) {
        return Err(TreeError::Unreadable(format!(
            "--classes {}: {error}; --classes names the trusted policy folder of TenantClasses, DomainDelegations and reserved namespaces (default policies, relative to the working directory)",
            classes.display()
        )));
    }
    let manifests = manifest::load_with_library(files, Some(classes))
        .map_err(|error| TreeError::Unreadable(error.to_string()))?;
    // The checks of `tenant-operator validate`: schema, CEL rules, the rules of each tenant
    // with its class and with the others.
    let outcome = Checker::new().check(&manifests.documents, &manifests.library, &manifests.syntax);
    if outcome.errors() > 0 {
        return Err(TreeError::Invalid(Box::new(outcome)));
    }
    Ok(CheckedTree {
        outcome,
        documents: manifests.documents,
        library: manifests.library,
    })
}

/// What was given of the regional CA.
enum CaInput {
    /// Its certificate only (`--ca-cert`).
    Certificate(String),
    /// Its certificate and key (`--ca-cert` and `--ca-key`): Secrets can be issued.
    Issuer(Box<RegionalCa>),
}

impl CaInput {
    fn certificate_pem(&self) -> &str {
        match self {
            CaInput::Certificate(pem) => pem,
            CaInput::Issuer(ca) => ca.trust_anchor_pem(),
        }
    }
}

/// Prints problems, one per line, and the exit code of a refused input.
fn refuse(problems: &[String]) -> ExitCode {
    for problem in problems {
        eprintln!("{problem}");
    }
    eprintln!(
        "error: nothing rendered: fix the problems above (tenant-operator validate lists the same)"
    );
    ExitCode::FAILURE
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_ca(cert: &Path, key: &Path) -> anyhow::Result<RegionalCa> {
    let cert_pem = std::fs::read_to_string(cert)
        .with_context(|| format!("reading the CA certificate {}", cert.display()))?;
    let key_pem = std::fs::read_to_string(key)
        .with_context(|| format!("reading the CA key {}", key.display()))?;
    RegionalCa::from_pem(&cert_pem, &key_pem, jiff::Timestamp::now()).map_err(|problem| {
        anyhow::anyhow!(
            "{} and {} are not a usable CA: {problem}",
            cert.display(),
            key.display()
        )
    })
}

/// The PEM of the CA certificate in `cert`, checked to be a CA certificate valid now.
fn load_ca_certificate(cert: &Path) -> anyhow::Result<String> {
    let cert_pem = std::fs::read_to_string(cert)
        .with_context(|| format!("reading the CA certificate {}", cert.display()))?;
    RegionalCa::check_certificate(&cert_pem, jiff::Timestamp::now()).map_err(|problem| {
        anyhow::anyhow!(
            "{} is not a usable CA certificate: {problem}",
            cert.display()
        )
    })?;
    Ok(cert_pem)
}

/// The TLS Secret of one request, issued now by `ca`; without `tls.key` unless asked.
fn tls_secret(
    ca: &RegionalCa,
    request: &CertificateRequest,
    lifetime: Duration,
    show_private_key: bool,
) -> anyhow::Result<ChildObject> {
    let issued = ca
        .issue(&request.dns_names, jiff::Timestamp::now(), lifetime)
        .with_context(|| {
            format!(
                "issuing Secret {}/{}",
                request.namespace, request.secret_name
            )
        })?;
    let mut secret = pki::tls_secret(
        &request.namespace,
        &request.secret_name,
        &request.labels,
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
        ca.trust_anchor_pem(),
    );
    if !show_private_key && let Some(data) = secret.data.as_mut() {
        data.remove(pki::TLS_KEY_KEY);
    }
    Ok(ChildObject::Secret(secret))
}
