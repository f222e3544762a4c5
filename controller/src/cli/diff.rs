//! `tenant-operator diff`: what merging a pull request changes, object by object.
//!
//! - `diff -f NEW --base OLD` (offline): both trees are checked as `validate` checks them
//!   and rendered, each with its classes (`--classes`, `--base-classes`): a changed
//!   TenantClass re-validates every tenant of that class and shows every namespace whose
//!   quota or policies change.
//! - `diff -f NEW [--kubeconfig PATH]` (live, as `kubectl diff`): the rendered objects are
//!   applied as a server-side dry run (the operator's field manager, forced: what the
//!   controller will do) and compared with the live objects; the live objects of the
//!   tenants that are no longer rendered are removed (or retained, under
//!   `deletionPolicy: Retain`). Read-only: get, list and dry-run patches.
//!
//! Exit status as `kubectl diff`: 0 no change, 1 changes, 2 an error (unreadable or invalid
//! input, an unreachable cluster).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::Value;
use tenant_operator::annotations::{self, Annotation, Level};
use tenant_operator::api::DeletionPolicy;
use tenant_operator::diff::{self, ObjectChange};
use tenant_operator::kinds::ManagedKind;
use tenant_operator::labels;
use tenant_operator::manifest::check::Finding;
use tenant_operator::reconcile::FIELD_MANAGER;
use tenant_operator::render::set::render_all;
use tenant_operator::render::{CA_BUNDLE_CONFIG_MAP, Platform, RenderContext, sort_objects};

use super::GlobalArgs;
use super::render::{CheckedTree, TreeError, check_tree};

/// Exit status of an error, as `kubectl diff` (1 means "there are changes").
const EXIT_ERROR: u8 = 2;

/// Show what merging the given TenantServices changes: against a base tree, or the cluster.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    tenant-operator diff -f tenants/ --base base/tenants/ --base-classes base/policies\n  \
    tenant-operator diff -f tenants/ --base base/tenants/ -o markdown > diff.md\n  \
    tenant-operator diff -f tenants/comune-molfetta.yaml --kubeconfig ~/.kube/config\n\n\
    Exit status: 0 no change, 1 changes, 2 error.")]
pub struct Args {
    /// TenantService manifests after the change: files, directories or `-`.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub files: Vec<PathBuf>,

    /// TenantService manifests before the change (e.g. the base branch checked out):
    /// compare two trees offline instead of the cluster.
    #[arg(long, value_name = "FILE|DIR", conflicts_with = "kubeconfig")]
    pub base: Vec<PathBuf>,

    /// The trusted policy folder after the change: TenantClasses, DomainDelegations,
    /// reserved namespaces (see `validate --help`).
    #[arg(long, value_name = "DIR", default_value = super::validate::DEFAULT_POLICIES)]
    pub classes: PathBuf,

    /// The trusted policy folder before the change [default: --classes].
    #[arg(long, value_name = "DIR", requires = "base")]
    pub base_classes: Option<PathBuf>,

    /// Compare with the cluster of this kubeconfig [default: KUBECONFIG, or in-cluster].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Output: `text` (unified diffs), `markdown` (a pull-request comment), or annotations
    /// for forges: `github` (workflow commands), `gitlab` (Code Quality JSON), `sarif`.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Output format of `diff`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Github,
    Gitlab,
    Sarif,
}

/// Runs `diff`.
pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let after = match check_tree(&args.files, &args.classes) {
        Ok(tree) => tree,
        Err(error) => return Ok(refuse(&args, "", error)),
    };
    let rendered = render_tree(&after)?;
    let (before, base) = if args.base.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        match runtime.block_on(live_before_after(&args, &rendered)) {
            Ok(before_after) => (before_after, None),
            Err(error) => {
                eprintln!("error: {error:#}");
                return Ok(ExitCode::from(EXIT_ERROR));
            }
        }
    } else {
        let classes = args.base_classes.as_deref().unwrap_or(&args.classes);
        let base = match check_tree(&args.base, classes) {
            Ok(tree) => tree,
            Err(error) => return Ok(refuse(&args, "the base (--base) ", error)),
        };
        let base_rendered = render_tree(&base)?;
        (
            (base_rendered.objects.clone(), rendered.objects.clone()),
            Some((base, base_rendered)),
        )
    };
    let (before, after_objects) = before;
    // A tenant keeps its namespaces under Retain: its policy after the change, or before
    // it for a tenant the change deletes.
    let mut policies = base
        .as_ref()
        .map(|(_, r)| r.policies.clone())
        .unwrap_or_default();
    policies.extend(rendered.policies.clone());
    let retains = |tenant: &str| policies.get(tenant) != Some(&DeletionPolicy::Delete);
    let changes = diff::compare(&before, &after_objects, &retains);
    // Offline, the classes and delegations of the two trees are compared too: every
    // tenant was checked again with those after the change (check_tree above), and each
    // changed one is listed with its tenants and their namespaces whose quota or policies
    // change.
    let policies = match &base {
        Some((base, _)) => diff::policy_changes(
            &policy_objects(base)?,
            &policy_objects(&after)?,
            &tenant_policies(&after),
            &changes,
        ),
        None => Vec::new(),
    };

    let text = match args.output {
        Format::Text => diff::text(&changes, &policies),
        Format::Markdown => diff::markdown(&changes, &policies),
        Format::Github | Format::Gitlab | Format::Sarif => {
            let mut located = after.documents.clone();
            located.extend(after.library.iter().cloned());
            if let Some((base, _)) = &base {
                located.extend(base.documents.iter().cloned());
                located.extend(base.library.iter().cloned());
            }
            let mut notes = change_annotations(&changes, &located, &after.outcome.findings);
            notes.extend(policy_annotations(&policies, &located));
            annotations_in(args.output, &notes)
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(if changes.is_empty() && policies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a tree renders to, for comparing.
struct RenderedTree {
    /// Every object as JSON, sorted.
    objects: Vec<Value>,
    /// `(namespace, name)` of the TLS Secrets the controller issues at run time: not
    /// rendered, not compared, never removed.
    issued_secrets: BTreeSet<(String, String)>,
    /// Each tenant's deletion policy.
    policies: BTreeMap<String, DeletionPolicy>,
}

fn render_tree(tree: &CheckedTree) -> anyhow::Result<RenderedTree> {
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    let inputs = &tree.outcome.inputs;
    let rendered = render_all(&inputs.tenants, &inputs.classes, &ctx)?;
    let mut objects: Vec<_> = rendered
        .iter()
        .flat_map(|t| t.desired.objects.iter().cloned())
        .collect();
    sort_objects(&mut objects);
    let issued_secrets = rendered
        .iter()
        .flat_map(|t| &t.desired.certificates)
        .map(|c| (c.namespace.clone(), c.secret_name.clone()))
        .collect();
    let policies = inputs
        .tenants
        .iter()
        .filter_map(|t| {
            let name = t.metadata.name.clone()?;
            Some((name, t.spec.deletion_policy))
        })
        .collect();
    Ok(RenderedTree {
        objects: objects
            .iter()
            .map(tenant_operator::render::ChildObject::to_json)
            .collect::<Result<_, _>>()?,
        issued_secrets,
        policies,
    })
}

/// The live objects of the tenants (before) and the rendered objects as the API server
/// would make them (after: a server-side dry run of each).
async fn live_before_after(
    args: &Args,
    rendered: &RenderedTree,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let client = super::run::client(args.kubeconfig.as_deref()).await?;
    let tenants: Vec<&String> = rendered.policies.keys().collect();
    let mut before: BTreeMap<diff::ObjectKey, Value> = BTreeMap::new();
    if !tenants.is_empty() {
        let selector = format!(
            "{}={},{} in ({})",
            labels::MANAGED_BY_KEY,
            labels::MANAGED_BY_VALUE,
            labels::TENANT,
            tenants
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        for kind in ManagedKind::ALL {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .with_context(|| format!("listing {}s of the tenants", kind.as_str()))?;
            for item in list.items {
                let mut value = serde_json::to_value(&item)?;
                value["apiVersion"] = Value::String(kind.api_resource().api_version);
                value["kind"] = Value::String(kind.as_str().to_string());
                if !is_issued_secret(&value, &rendered.issued_secrets) {
                    before.insert(diff::ObjectKey::of(&value), value);
                }
            }
        }
    }
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    let mut live_namespaces: BTreeMap<String, bool> = BTreeMap::new();
    let mut after = Vec::new();
    for object in &rendered.objects {
        let kind = ManagedKind::ALL
            .into_iter()
            .find(|k| object["kind"] == k.as_str())
            .with_context(|| format!("rendered an unmanaged kind: {}", object["kind"]))?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str();
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.api_resource()),
            None => Api::all_with(client.clone(), &kind.api_resource()),
        };
        // A namespace that does not exist yet cannot take a dry run of its contents: they
        // are created as rendered.
        if let Some(ns) = namespace
            && !namespace_exists(&client, ns, &mut live_namespaces).await?
        {
            after.push(object.clone());
            continue;
        }
        let live = api
            .get_opt(name)
            .await
            .with_context(|| format!("reading {} {name}", kind.as_str()))?;
        let mut desired = object.clone();
        if let Some(live) = &live {
            let mut value = serde_json::to_value(live)?;
            value["apiVersion"] = object["apiVersion"].clone();
            value["kind"] = object["kind"].clone();
            // The CA bundle's certificate is the controller's to fill in: keep the live one.
            if name == CA_BUNDLE_CONFIG_MAP
                && desired.get("data").is_none()
                && let Some(data) = value.get("data")
            {
                desired["data"] = data.clone();
            }
            before.insert(diff::ObjectKey::of(&value), value);
        }
        let made = api
            .patch(name, &params, &Patch::Apply(&desired))
            .await
            .with_context(|| format!("dry-run apply of {} {name}", kind.as_str()))?;
        let mut made = serde_json::to_value(&made)?;
        made["apiVersion"] = object["apiVersion"].clone();
        made["kind"] = object["kind"].clone();
        after.push(made);
    }
    Ok((before.into_values().collect(), after))
}

/// Whether namespace `ns` exists, asked once per namespace.
async fn namespace_exists(
    client: &kube::Client,
    ns: &str,
    known: &mut BTreeMap<String, bool>,
) -> anyhow::Result<bool> {
    if let Some(exists) = known.get(ns) {
        return Ok(*exists);
    }
    let namespaces: Api<DynamicObject> =
        Api::all_with(client.clone(), &ManagedKind::Namespace.api_resource());
    let exists = namespaces
        .get_opt(ns)
        .await
        .with_context(|| format!("reading Namespace {ns}"))?
        .is_some();
    known.insert(ns.to_string(), exists);
    Ok(exists)
}

fn is_issued_secret(object: &Value, issued: &BTreeSet<(String, String)>) -> bool {
    object["kind"] == "Secret"
        && issued.contains(&(
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
}

/// One notice per tenant whose objects change, at its TenantService (after the change, or
/// before it for a deleted tenant), and the warnings of the checks.
fn change_annotations(
    changes: &[ObjectChange],
    documents: &[tenant_operator::manifest::Document],
    findings: &[Finding],
) -> Vec<Annotation> {
    let mut by_tenant: BTreeMap<&str, Vec<&ObjectChange>> = BTreeMap::new();
    for c in changes {
        if let Some(tenant) = c.tenant.as_deref() {
            by_tenant.entry(tenant).or_default().push(c);
        }
    }
    let mut notes: Vec<Annotation> = findings.iter().map(super::validate::annotation).collect();
    for (tenant, changes) in by_tenant {
        let document = documents
            .iter()
            .find(|d| d.kind() == Some("TenantService") && d.name() == Some(tenant));
        let (file, line) = document.map_or((String::new(), 1), |d| {
            (d.file.clone(), d.line_of("metadata.name"))
        });
        notes.push(Annotation {
            file,
            line,
            level: Level::Notice,
            rule: "tenant-operator/diff".to_string(),
            rule_text: None,
            title: format!("TenantService/{tenant}"),
            message: diff::tenant_summary(&changes),
        });
    }
    notes
}

/// The TenantClasses and DomainDelegations in effect in a tree, by their specs.
fn policy_objects(tree: &CheckedTree) -> anyhow::Result<Vec<diff::PolicyObject>> {
    let inputs = &tree.outcome.inputs;
    let classes = inputs.classes.iter().map(|c| -> serde_json::Result<_> {
        Ok(diff::PolicyObject {
            kind: "TenantClass".to_string(),
            name: c.metadata.name.clone().unwrap_or_default(),
            spec: serde_json::to_value(&c.spec)?,
        })
    });
    let delegations = inputs.delegations.iter().map(|d| -> serde_json::Result<_> {
        Ok(diff::PolicyObject {
            kind: "DomainDelegation".to_string(),
            name: d.metadata.name.clone().unwrap_or_default(),
            spec: serde_json::to_value(&d.spec)?,
        })
    });
    classes
        .chain(delegations)
        .collect::<serde_json::Result<_>>()
        .context("reading the classes and delegations")
}

/// What each tenant of a tree takes from the trusted policy folder.
fn tenant_policies(tree: &CheckedTree) -> Vec<diff::TenantPolicies> {
    tree.outcome
        .inputs
        .tenants
        .iter()
        .filter_map(|t| {
            Some(diff::TenantPolicies {
                tenant: t.metadata.name.clone()?,
                class: t.spec.class.clone(),
                ipa_code: t.spec.entity.ipa_code.clone(),
            })
        })
        .collect()
}

/// One notice per class or delegation changed, at its document (after the change, or
/// before it for a removed one): the line of the pull request a reviewer reads.
fn policy_annotations(
    policies: &[diff::PolicyChange],
    documents: &[tenant_operator::manifest::Document],
) -> Vec<Annotation> {
    policies
        .iter()
        .map(|p| {
            let document = documents
                .iter()
                .find(|d| d.kind() == Some(p.kind.as_str()) && d.name() == Some(p.name.as_str()));
            let (file, line) = document.map_or((String::new(), 1), |d| {
                (d.file.clone(), d.line_of("metadata.name"))
            });
            Annotation {
                file,
                line,
                level: Level::Notice,
                rule: "tenant-operator/diff".to_string(),
                rule_text: None,
                title: format!("{}/{}", p.kind, p.name),
                message: diff::policy_summary(p),
            }
        })
        .collect()
}

fn annotations_in(format: Format, notes: &[Annotation]) -> String {
    match format {
        Format::Github => annotations::github(notes),
        Format::Gitlab => annotations::gitlab(notes),
        _ => annotations::sarif("tenant-operator diff", notes),
    }
}

/// Reports a tree that cannot be rendered (its problems, in the chosen format) and returns
/// the error status.
fn refuse(args: &Args, which: &str, error: TreeError) -> ExitCode {
    match error {
        TreeError::Unreadable(message) => eprintln!("error: {which}{message}"),
        TreeError::Invalid(outcome) => {
            let errors: Vec<Annotation> = outcome
                .findings
                .iter()
                .map(super::validate::annotation)
                .collect();
            match args.output {
                Format::Github | Format::Gitlab | Format::Sarif => {
                    print!("{}", annotations_in(args.output, &errors));
                }
                Format::Text | Format::Markdown => {
                    for finding in &outcome.findings {
                        eprintln!("{finding}");
                    }
                }
            }
            eprintln!(
                "error: {which}does not validate: nothing compared (tenant-operator validate lists the same problems)"
            );
        }
    }
    ExitCode::from(EXIT_ERROR)
}
