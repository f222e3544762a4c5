//! `tenant-operator validate`: checks TenantService (and TenantClass) manifests and prints
//! every problem as `file:line: object: field.path: what is wrong; what would be valid
//! [RULE-ID]`, the rule from the one table of rules (`docs/rules.md`).
//!
//! Exit status: 0 when there is no error (warnings alone pass), 1 when there is one,
//! 2 when the inputs cannot be read (as kubectl does for usage errors).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use tenant_operator::annotations::{self, Annotation, Level, RuleText};
use tenant_operator::api::validation::Severity;
use tenant_operator::manifest;
use tenant_operator::manifest::check::{Checker, Finding, Outcome};

use super::GlobalArgs;

/// The trusted policy folder (TenantClasses, DomainDelegations, reserved namespaces),
/// relative to the working directory (the repository root in a pull-request pipeline).
pub const DEFAULT_POLICIES: &str = "policies";

/// Arguments of `tenant-operator validate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    tenant-operator validate -f tenants/\n  \
    tenant-operator validate -f comune-molfetta.yaml --classes policies -o json\n  \
    cat tenant.yaml | tenant-operator validate -f -")]
pub struct Args {
    /// Manifest file, directory (read recursively: *.yaml, *.yml, *.json) or `-` for
    /// standard input. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<PathBuf>,

    /// The trusted policy folder, read recursively [default: policies]: the
    /// TenantClasses tenants may name, the DomainDelegations (the DNS domains of each
    /// body: hostnames must lie inside them) and the `reserved-namespaces` ConfigMap.
    /// TenantClasses among the -f files replace same-named ones; delegations and reserved
    /// namespaces are taken from here only, never from the -f files.
    #[arg(long, value_name = "DIR")]
    pub classes: Option<PathBuf>,

    /// Output format: `text` (one line per problem), `json` (for machines), or
    /// annotations on the line for forges: `github` (workflow commands, also Gitea and
    /// Forgejo Actions), `gitlab` (Code Quality JSON), `sarif` (code scanning).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Output format of `validate`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Github,
    Gitlab,
    Sarif,
}

/// Exit status when the inputs cannot be read.
const EXIT_USAGE: u8 = 2;

/// Checks the manifests, prints the problems and a summary; the exit status says whether
/// there was an error.
pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let (outcome, files) = match check(&args) {
        Ok(result) => result,
        Err(e) => {
            // `{e}`: the errors of `manifest` already name their cause.
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let annotations = || -> Vec<Annotation> { outcome.findings.iter().map(annotation).collect() };
    let text = match args.output {
        Format::Text => text_report(&outcome, files),
        Format::Json => json_report(&outcome, files)?,
        Format::Github => annotations::github(&annotations()),
        Format::Gitlab => annotations::gitlab(&annotations()),
        Format::Sarif => annotations::sarif("tenant-operator validate", &annotations()),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(if outcome.errors() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads the inputs and the class library and checks them; also returns the number of
/// files read.
fn check(args: &Args) -> anyhow::Result<(Outcome, usize)> {
    // Without --classes, the default folder must exist too: run outside the repository,
    // every tenant would otherwise name a class that "does not exist".
    let class_dir = args
        .classes
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICIES));
    let manifests = manifest::load_with_library(&args.files, Some(&class_dir))?;
    let outcome = Checker::new().check(&manifests.documents, &manifests.library, &manifests.syntax);
    Ok((outcome, manifests.files))
}

/// A finding as an annotation on its line, under its rule (`ENTITY-IPA-CODE`) with the
/// rule's description from the table, so that forges group the same problem and explain
/// it.
pub fn annotation(finding: &Finding) -> Annotation {
    Annotation {
        file: finding.file.clone(),
        line: finding.line,
        level: match finding.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        },
        rule: finding.rule.id().to_string(),
        rule_text: Some(RuleText {
            summary: finding.rule.summary().to_string(),
            valid: finding.rule.valid().to_string(),
        }),
        title: if finding.path.is_empty() {
            finding.object.clone()
        } else {
            format!("{}: {}", finding.object, finding.path)
        },
        message: finding.message.clone(),
    }
}

/// One line per problem, then a summary line.
fn text_report(outcome: &Outcome, files: usize) -> String {
    let mut text = String::new();
    for finding in &outcome.findings {
        text.push_str(&finding.to_string());
        text.push('\n');
    }
    text.push_str(&summary(outcome, files));
    text.push('\n');
    text
}

/// E.g. `2 errors, 1 warning in 3 TenantServices and 4 TenantClasses (5 files, 1 other document ignored)`.
fn summary(outcome: &Outcome, files: usize) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let verdict = match (outcome.errors(), outcome.warnings()) {
        (0, 0) => "valid:".to_string(),
        (0, w) => format!("valid with {}:", plural(w, "warning")),
        (e, 0) => format!("invalid: {} in", plural(e, "error")),
        (e, w) => format!(
            "invalid: {}, {} in",
            plural(e, "error"),
            plural(w, "warning")
        ),
    };
    let mut line = format!(
        "{verdict} {} and {} ({}",
        plural(outcome.tenants, "TenantService"),
        plural(outcome.classes, "TenantClass"),
        plural(files, "file")
    )
    .replace("TenantClasss", "TenantClasses");
    if !outcome.ignored.is_empty() {
        line.push_str(&format!(
            ", {} ignored",
            plural(outcome.ignored.len(), "document of another kind")
                .replace("documents of another kind", "documents of other kinds")
        ));
    }
    line.push(')');
    line
}

/// The outcome as one JSON object.
fn json_report(outcome: &Outcome, files: usize) -> anyhow::Result<String> {
    let problems: Vec<_> = outcome
        .findings
        .iter()
        .map(|f| {
            json!({
                "file": f.file, "line": f.line, "object": f.object, "path": f.path,
                "message": f.message, "severity": f.severity.as_str(), "rule": f.rule.id(),
            })
        })
        .collect();
    let report = json!({
        "valid": outcome.errors() == 0,
        "errors": outcome.errors(),
        "warnings": outcome.warnings(),
        "tenants": outcome.tenants,
        "classes": outcome.classes,
        "files": files,
        "ignored": outcome.ignored,
        "problems": problems,
        "summary": summary(outcome, files),
    });
    Ok(serde_json::to_string_pretty(&report)? + "\n")
}
