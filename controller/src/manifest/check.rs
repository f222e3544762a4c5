//! The `validate` engine: every TenantService, TenantClass and DomainDelegation document
//! checked against the structural schema of its CRD (unknown fields such as `enviroments`,
//! wrong types, missing fields), the CRD's CEL rules, the rules of
//! [`crate::api::validation`] with its class, and the rules across documents
//! ([`validate_set`]); every problem located at `file:line`, and said once.
//!
//! The library (`--classes DIR`) is the trusted policy folder: its TenantClasses, its
//! DomainDelegations and its list of reserved namespaces (the ConfigMap
//! [`RESERVED_NAMESPACES_CONFIG_MAP`]). Delegations and reserved names are taken from there
//! only, never from the documents under review: a pull request cannot delegate a domain
//! to its own body.
//!
//! Pure: the documents are loaded by [`super::load()`], the results printed by the CLI
//! (`tenant-operator validate`, and `tenant-operator render` before it renders).

use std::collections::BTreeSet;

use crd_schema::{self as schema, CelRules, FieldError, FieldErrorKind};
use kube::CustomResourceExt;
use serde::Deserialize;
use serde_json::Value;

use super::document::{Document, SyntaxError, parse_path};
use super::{hints, repair, traps};
use crate::api::validation::{
    Delegations, Problem, ReservedNamespaces, Rule, Severity, Trusted, validate_delegations,
    validate_set,
};
use crate::api::{API_VERSION, DomainDelegation, GROUP, TenantClass, TenantService, crd};
use crate::labels;
use crate::render::Platform;

/// Name of the ConfigMap of the trusted policy folder that lists the datacenter's reserved
/// namespaces (`policies/reserved-namespaces.yaml`; the chart passes the same list to the
/// operator).
pub const RESERVED_NAMESPACES_CONFIG_MAP: &str = "reserved-namespaces";
/// Key of [`RESERVED_NAMESPACES_CONFIG_MAP`]: one namespace, or prefix followed by `*`, per
/// line.
pub const RESERVED_NAMESPACES_KEY: &str = "namespaces";

/// The names of a reserved-namespaces list: one per line, blank lines and `#` comments
/// skipped (the format of [`RESERVED_NAMESPACES_KEY`] and of the operator's
/// `--reserved-namespaces-file`).
pub fn parse_reserved_names(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// A problem located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file as given on the command line (`<stdin>` for standard input).
    pub file: String,
    /// 1-based line of the field (or of its nearest written ancestor).
    pub line: usize,
    /// `TenantService/comune-molfetta`, or what identifies the document otherwise
    /// (`document` for one without kind or name).
    pub object: String,
    /// Field path, empty for the document as a whole.
    pub path: String,
    /// `what is wrong; what would be valid`.
    pub message: String,
    /// Error (`validate` exits 1) or warning (printed, does not fail).
    pub severity: Severity,
    /// The rule it breaks.
    pub rule: Rule,
}

impl std::fmt::Display for Finding {
    /// `file:line: object: path: message [RULE-ID]` (`warning: ` before a warning's
    /// message; no path part for the document as a whole).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}: ", self.file, self.line, self.object)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{} [{}]", self.message, self.rule)
    }
}

/// What [`Checker::check`] found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every problem, in file order and then line order.
    pub findings: Vec<Finding>,
    /// TenantService documents checked.
    pub tenants: usize,
    /// TenantClass documents checked (those passed to check, and the class library).
    pub classes: usize,
    /// Documents of other kinds, skipped: `file:line: kind`.
    pub ignored: Vec<String>,
    /// The objects checked, typed: what `render` renders when there is no error.
    pub inputs: Inputs,
}

/// The TenantServices and TenantClasses of a check, typed, and the trusted policy they
/// were checked with.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The TenantServices that fit the API types, in document order.
    pub tenants: Vec<TenantService>,
    /// The TenantClasses in effect: those of the library not replaced by a same-named
    /// document, then those of the documents.
    pub classes: Vec<TenantClass>,
    /// The DomainDelegations of the library (the trusted policy folder).
    pub delegations: Vec<DomainDelegation>,
    /// Reserved namespaces and delegated domains, from the library.
    pub trusted: Trusted,
}

impl Outcome {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

/// The CRD schemas and their compiled CEL rules, built once for any number of documents.
pub struct Checker {
    tenant_schema: Value,
    tenant_rules: CelRules,
    class_schema: Value,
    class_rules: CelRules,
    delegation_schema: Value,
    delegation_rules: CelRules,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").finish_non_exhaustive()
    }
}

impl Default for Checker {
    fn default() -> Self {
        Self::new()
    }
}

/// Which of our kinds a document is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tenant,
    Class,
    Delegation,
}

impl Kind {
    /// The resource, as `kubectl explain` takes it.
    fn plural(self) -> &'static str {
        match self {
            Kind::Tenant => "tenantservices",
            Kind::Class => "tenantclasses",
            Kind::Delegation => "domaindelegations",
        }
    }
}

/// Where a finding of a document came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The CRD's structural schema or CEL rules, with the kind of error.
    Schema(FieldErrorKind),
    /// The conversion into the Rust type.
    Types,
    /// The rules of `api::validation`.
    Rules,
}

impl Source {
    /// Whether a rule error at a related path says the same better: the CRD repeats some
    /// rules (patterns, CEL) in the API server's words, and a whole-object schema error
    /// or a failed conversion only says that something is wrong.
    fn repeats_rules(self, path: &str) -> bool {
        match self {
            Source::Schema(kind) => {
                path.is_empty()
                    || matches!(
                        kind,
                        FieldErrorKind::Invalid
                            | FieldErrorKind::TypeInvalid
                            | FieldErrorKind::Duplicate
                    )
            }
            Source::Types => true,
            Source::Rules => false,
        }
    }
}

/// A document of our kinds, parsed into its type when it could be.
struct Checked<'a> {
    doc: &'a Document,
    object: String,
    findings: Vec<(Source, Finding)>,
    tenant: Option<TenantService>,
    class: Option<TenantClass>,
    delegation: Option<DomainDelegation>,
    /// Paths the schema found missing or mistyped, filled in to run the Rust rules.
    repaired: Vec<String>,
}

impl Checker {
    /// Compiles the CEL rules of the CRDs.
    pub fn new() -> Self {
        // The generated CRDs always have a schema (tested in api::crd).
        let tenant_schema = crd::openapi_schema(&TenantService::crd()).unwrap_or_default();
        let class_schema = crd::openapi_schema(&TenantClass::crd()).unwrap_or_default();
        let delegation_schema = crd::openapi_schema(&DomainDelegation::crd()).unwrap_or_default();
        Checker {
            tenant_rules: CelRules::new(&tenant_schema),
            tenant_schema,
            class_rules: CelRules::new(&class_schema),
            class_schema,
            delegation_rules: CelRules::new(&delegation_schema),
            delegation_schema,
        }
    }

    /// Checks `documents` (and their syntax errors) with `library` as the TenantClasses
    /// known besides those among the documents (e.g. `policies/classes/`). A class among
    /// the documents replaces a library class of the same name, so that a pull request
    /// changing a class is checked with the change; the library classes in effect are
    /// checked too.
    pub fn check(
        &self,
        documents: &[Document],
        library: &[Document],
        syntax: &[SyntaxError],
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut file_order: Vec<&str> = Vec::new();
        for name in documents
            .iter()
            .chain(library)
            .map(|d| d.file.as_str())
            .chain(syntax.iter().map(|e| e.file.as_str()))
        {
            if !file_order.contains(&name) {
                file_order.push(name);
            }
        }
        for e in syntax {
            outcome.findings.push(Finding {
                file: e.file.clone(),
                line: e.line,
                object: "document".to_string(),
                path: String::new(),
                message: format!(
                    "not valid YAML: {}; fix the syntax (indentation, quotes, ':' after keys)",
                    e.message
                ),
                severity: Severity::Error,
                rule: Rule::YamlSyntax,
            });
        }
        let mut mine = Vec::new();
        let mut library_checked = Vec::new();
        let mut reserved_lists = Vec::new();
        for (docs, from_library) in [(documents, false), (library, true)] {
            for doc in docs {
                if from_library && is_reserved_namespaces(doc) {
                    reserved_lists.push(doc);
                    continue;
                }
                if from_library && !is_ours(doc) {
                    // The rest of the trusted folder (admission policies): not under review.
                    continue;
                }
                match Self::classify(doc, &mut outcome) {
                    Some(Kind::Tenant) if !from_library => {
                        outcome.tenants += 1;
                        mine.push(self.check_document(doc, Kind::Tenant));
                    }
                    Some(Kind::Tenant) => {
                        outcome.ignored.push(format!(
                            "{}:{}: TenantService (in the class directory)",
                            doc.file, doc.line
                        ));
                    }
                    Some(kind @ (Kind::Class | Kind::Delegation)) => {
                        if kind == Kind::Class {
                            outcome.classes += 1;
                        }
                        let checked = self.check_document(doc, kind);
                        if from_library {
                            library_checked.push(checked);
                        } else {
                            mine.push(checked);
                        }
                    }
                    None => {}
                }
            }
        }
        let reserved = Self::reserved_namespaces(&reserved_lists, &mut outcome);
        outcome.inputs = check_set(&mut mine, &mut library_checked, reserved);
        for c in mine.into_iter().chain(library_checked) {
            outcome
                .findings
                .extend(c.findings.into_iter().map(|(_, finding)| finding));
        }
        let rank = |file: &str| file_order.iter().position(|f| *f == file);
        // Stable: problems on one line keep the order the rules found them in.
        outcome.findings.sort_by_key(|f| (rank(&f.file), f.line));
        outcome
    }

    /// Whether a document is one of ours; reports documents that are not objects or use
    /// an unknown version of our group, and records other kinds as ignored.
    fn classify(doc: &Document, outcome: &mut Outcome) -> Option<Kind> {
        let object = object_name(doc);
        let mut fail = |rule: Rule, path: &str, message: String| {
            outcome.findings.push(Finding {
                file: doc.file.clone(),
                line: doc.line_of(path),
                object: object.clone(),
                path: path.to_string(),
                message,
                severity: Severity::Error,
                rule,
            });
        };
        let (Some(api_version), Some(kind)) = (doc.api_version(), doc.kind()) else {
            fail(
                Rule::DocNotObject,
                if doc.api_version().is_none() {
                    "apiVersion"
                } else {
                    "kind"
                },
                format!(
                    "not a Kubernetes object (apiVersion and kind are required); start the document with apiVersion: {API_VERSION} and kind: TenantService or TenantClass"
                ),
            );
            return None;
        };
        let ours = match kind {
            "TenantService" => Some(Kind::Tenant),
            "TenantClass" => Some(Kind::Class),
            "DomainDelegation" => Some(Kind::Delegation),
            _ => None,
        };
        let in_group = api_version.split('/').next() == Some(GROUP);
        match ours {
            Some(k) if api_version == API_VERSION => Some(k),
            Some(_) => {
                fail(
                    Rule::DocApiVersion,
                    "apiVersion",
                    format!(
                        "{kind} is not served as {api_version:?}; use apiVersion: {API_VERSION}"
                    ),
                );
                None
            }
            None if in_group => {
                fail(
                    Rule::DocKind,
                    "kind",
                    format!(
                        "{GROUP} has no kind {kind:?}; use TenantService, TenantClass or DomainDelegation"
                    ),
                );
                None
            }
            None => {
                outcome
                    .ignored
                    .push(format!("{}:{}: {kind}", doc.file, doc.line));
                None
            }
        }
    }

    /// Schema, CEL and typed parsing of one document.
    fn check_document<'a>(&self, doc: &'a Document, kind: Kind) -> Checked<'a> {
        let (schema, rules) = match kind {
            Kind::Tenant => (&self.tenant_schema, &self.tenant_rules),
            Kind::Class => (&self.class_schema, &self.class_rules),
            Kind::Delegation => (&self.delegation_schema, &self.delegation_rules),
        };
        let object = object_name(doc);
        let mut errors = schema::check(schema, &doc.value);
        let structural = errors.len();
        if !schema::blocks_cel(&errors) {
            errors.extend(rules.check(&doc.value, None));
        }
        let findings = errors
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (rule, message) = match trap_message(schema, doc, e) {
                    Some(message) => (Rule::YamlUnquoted, message),
                    None => (
                        if i < structural {
                            schema_rule(e.kind)
                        } else {
                            cel_rule(&e.message).unwrap_or(Rule::SchemaFormat)
                        },
                        hints::schema_message(schema, kind.plural(), e),
                    ),
                };
                let finding = Finding {
                    file: doc.file.clone(),
                    line: doc.line_of(&e.path),
                    object: object.clone(),
                    path: e.path.clone(),
                    message,
                    severity: Severity::Error,
                    rule,
                };
                (Source::Schema(e.kind), finding)
            })
            .collect();
        let mut checked = Checked {
            doc,
            object,
            findings,
            tenant: None,
            class: None,
            delegation: None,
            repaired: Vec::new(),
        };
        // The Rust rules need the typed object. When the schema found a missing field or a
        // wrong type, a repaired copy (that field set to an empty value of its type) still
        // gets them, so that one run reports every problem; rule problems at the repaired
        // fields are dropped, the schema errors already cover them.
        let (repaired_value, repaired) = repair::repair(schema, &doc.value, &errors);
        checked.repaired = repaired;
        let value = repaired_value.as_ref().unwrap_or(&doc.value);
        let typed_error = match kind {
            Kind::Tenant => TenantService::deserialize(value)
                .map(|t| checked.tenant = Some(t))
                .err(),
            Kind::Class => TenantClass::deserialize(value)
                .map(|c| checked.class = Some(c))
                .err(),
            Kind::Delegation => DomainDelegation::deserialize(value)
                .map(|d| checked.delegation = Some(d))
                .err(),
        };
        // Schema errors already say why the document does not fit the type.
        if let Some(e) = typed_error
            && checked.findings.is_empty()
        {
            let finding = Finding {
                file: doc.file.clone(),
                line: doc.line,
                object: checked.object.clone(),
                path: String::new(),
                message: format!(
                    "does not fit the API types: {e}; compare with `tenant-operator crd`"
                ),
                severity: Severity::Error,
                rule: Rule::SchemaTypes,
            };
            checked.findings.push((Source::Types, finding));
        }
        checked
    }
}

impl Checker {
    /// Kubernetes' namespaces, the default platform's and the default operator namespace
    /// (what the chart installs; another release namespace is listed in the library's
    /// ConfigMap), and those the library's reserved-namespaces ConfigMaps list; a name
    /// that is not a namespace or prefix is an error on its ConfigMap.
    fn reserved_namespaces(lists: &[&Document], outcome: &mut Outcome) -> ReservedNamespaces {
        let base = ReservedNamespaces::new(
            Platform::default().trusted_namespaces(),
            labels::DEFAULT_OPERATOR_NAMESPACE,
            &[],
        );
        let mut reserved = base.unwrap_or_else(|error| {
            outcome.findings.push(Finding {
                file: String::new(),
                line: 0,
                object: "platform".to_string(),
                path: String::new(),
                message: error.to_string(),
                severity: Severity::Error,
                rule: Rule::ReservedEntry,
            });
            ReservedNamespaces::default()
        });
        for doc in lists {
            let path = format!("data.{RESERVED_NAMESPACES_KEY}");
            let text = doc
                .value
                .pointer(&format!("/data/{RESERVED_NAMESPACES_KEY}"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            for name in parse_reserved_names(text) {
                if let Err(error) = reserved.reserve(&name, "the datacenter") {
                    outcome.findings.push(Finding {
                        file: doc.file.clone(),
                        line: doc.line_of(&path),
                        object: object_name(doc),
                        path: path.clone(),
                        message: error.to_string(),
                        severity: Severity::Error,
                        rule: Rule::ReservedEntry,
                    });
                }
            }
        }
        reserved
    }
}

/// Whether a document is one of the API group's kinds (or claims to be).
fn is_ours(doc: &Document) -> bool {
    doc.api_version()
        .is_some_and(|v| v.split('/').next() == Some(GROUP))
}

/// Whether a document is the datacenter's list of reserved namespaces.
fn is_reserved_namespaces(doc: &Document) -> bool {
    doc.api_version() == Some("v1")
        && doc.kind() == Some("ConfigMap")
        && doc.name() == Some(RESERVED_NAMESPACES_CONFIG_MAP)
}

/// The message of a schema error at a plain scalar that YAML read as a boolean, number or
/// null where the schema wants text (`province: NO`, `istatCode: 072034`, `displayName: ~`):
/// what was written, what YAML made of it, and the same in quotes.
fn trap_message(schema: &Value, doc: &Document, e: &FieldError) -> Option<String> {
    if !matches!(
        e.kind,
        FieldErrorKind::TypeInvalid | FieldErrorKind::Required
    ) {
        return None;
    }
    let written = doc.plain_scalar(&e.path)?;
    let node = repair::schema_at(schema, &parse_path(&e.path))?;
    let read = doc.value_at(&e.path).unwrap_or(&Value::Null);
    traps::quote_hint(written, read, node)
}

/// The rule of a structural schema error, by its kind.
fn schema_rule(kind: FieldErrorKind) -> Rule {
    match kind {
        FieldErrorKind::Unknown => Rule::SchemaUnknownField,
        FieldErrorKind::Required => Rule::SchemaRequired,
        FieldErrorKind::TypeInvalid => Rule::SchemaType,
        FieldErrorKind::NotSupported => Rule::SchemaEnum,
        FieldErrorKind::Invalid => Rule::SchemaFormat,
        FieldErrorKind::TooLong => Rule::SchemaTooLong,
        FieldErrorKind::TooMany => Rule::SchemaTooMany,
        FieldErrorKind::Duplicate => Rule::SchemaDuplicate,
    }
}

/// The rule each CEL rule of the CRDs repeats (the CRD says it in the API server's words,
/// the Rust rule in ours), by the start of the CEL rule's message. Every
/// `x-kubernetes-validations` rule of the generated CRDs is here (tested).
const CEL_RULES: [(&str, Rule); 6] = [
    (
        "metadata.name must be at most 52 characters",
        Rule::NameFormat,
    ),
    (
        "every namespace name '<tenant>-<environment>' must be at most 63 characters",
        Rule::EnvNamespaceLength,
    ),
    (
        "health bodies (ASL, AziendaOspedaliera, IRCCS)",
        Rule::ClassificationHealth,
    ),
    (
        "at most one environment is production",
        Rule::EnvProductionOnce,
    ),
    (
        "a Comune needs istatCode and province",
        Rule::EntityComuneFields,
    ),
    (
        "the first three digits of istatCode",
        Rule::EntityIstatProvince,
    ),
];

/// The rule of a CEL rule's error, whose message ends with the rule's message.
fn cel_rule(message: &str) -> Option<Rule> {
    CEL_RULES
        .iter()
        .find(|(start, _)| message.contains(start))
        .map(|(_, rule)| *rule)
}

/// `Kind/name` of a document.
fn object_name(doc: &Document) -> String {
    match (doc.kind(), doc.name()) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        (Some(k), None) => format!("{k}/(no name)"),
        _ => "document".to_string(),
    }
}

/// The rules of the set ([`validate_set`]): the classes in effect (the library's not
/// replaced by a document, then the documents'), each tenant with its class and the
/// others. Each problem goes to the document it concerns; returns the typed objects.
fn check_set<'a>(
    mine: &mut [Checked<'a>],
    library: &mut [Checked<'a>],
    reserved: ReservedNamespaces,
) -> Inputs {
    check_delegations(mine, library);
    let delegations: Vec<DomainDelegation> = library
        .iter()
        .filter_map(|c| c.delegation.clone())
        .collect();
    let replaced: BTreeSet<String> = mine
        .iter()
        .filter_map(|c| c.class.as_ref())
        .filter_map(|class| class.metadata.name.clone())
        .collect();
    let library_in_effect = library.iter_mut().filter(|c| {
        c.class.as_ref().is_some_and(|class| {
            !replaced.contains(class.metadata.name.as_deref().unwrap_or_default())
        })
    });
    let (mine_classes, mine_tenants): (Vec<_>, Vec<_>) = mine
        .iter_mut()
        .filter(|c| c.class.is_some() || c.tenant.is_some())
        .partition(|c| c.class.is_some());
    let mut class_docs: Vec<&mut Checked<'a>> = library_in_effect.collect();
    class_docs.extend(mine_classes);
    let mut tenant_docs = mine_tenants;
    let inputs = Inputs {
        tenants: tenant_docs
            .iter()
            .filter_map(|c| c.tenant.clone())
            .collect(),
        classes: class_docs.iter().filter_map(|c| c.class.clone()).collect(),
        trusted: Trusted {
            reserved,
            delegations: Delegations::new(&delegations),
        },
        delegations,
    };
    let problems = validate_set(&inputs.tenants, &inputs.classes, &inputs.trusted);
    for (checked, found) in class_docs.iter_mut().zip(problems.classes) {
        add_problems(checked, found);
    }
    for (checked, found) in tenant_docs.iter_mut().zip(problems.tenants) {
        add_problems(checked, found);
    }
    inputs
}

/// The rules of the DomainDelegations, those of the library and those under review
/// together (a domain delegated twice is a problem wherever the second one is). A
/// delegation under review is checked but delegates nothing: a warning says so.
fn check_delegations<'a>(mine: &mut [Checked<'a>], library: &mut [Checked<'a>]) {
    let trusted = library.iter().filter(|c| c.delegation.is_some()).count();
    let mut docs: Vec<&mut Checked<'a>> = library
        .iter_mut()
        .chain(mine.iter_mut())
        .filter(|c| c.delegation.is_some())
        .collect();
    let delegations: Vec<DomainDelegation> =
        docs.iter().filter_map(|c| c.delegation.clone()).collect();
    for (i, (checked, mut found)) in docs
        .iter_mut()
        .zip(validate_delegations(&delegations))
        .enumerate()
    {
        if i >= trusted {
            found.push(Problem {
                object: checked.object.clone(),
                path: "metadata.name".to_string(),
                message: "DomainDelegations are taken only from the trusted policy folder (--classes), never from the files under review: this one is checked but delegates nothing here; datacenter operators add it to policies/delegations/".to_string(),
                severity: Severity::Warning,
                rule: Rule::DelegationUntrusted,
            });
        }
        add_problems(checked, found);
    }
}

/// Adds the problems of the Rust rules to a document's findings. A rule problem at a field
/// the schema found missing or mistyped is dropped (the rule saw the repaired, empty value,
/// and the schema's finding says it first); a schema finding that a kept rule error
/// repeats (see [`Source::repeats_rules`]) at a related path (the same field, an ancestor
/// or a descendant) is dropped in its favour. Only kept rule errors replace schema
/// findings: `environments: prod`, repaired to an empty list, must not lose its type
/// error to the "at least one environment" problem of the repaired value.
fn add_problems(c: &mut Checked<'_>, problems: Vec<Problem>) {
    let kept: Vec<Problem> = problems
        .into_iter()
        .filter(|p| {
            !c.repaired
                .iter()
                .any(|r| !r.is_empty() && related_paths(r, &p.path))
        })
        .collect();
    let error_paths: Vec<&str> = kept
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.path.as_str())
        .collect();
    c.findings.retain(|(source, f)| {
        !(source.repeats_rules(&f.path) && error_paths.iter().any(|p| related_paths(&f.path, p)))
    });
    for p in kept {
        let finding = Finding {
            file: c.doc.file.clone(),
            line: c.doc.line_of(&p.path),
            object: c.object.clone(),
            path: p.path,
            message: p.message,
            severity: p.severity,
            rule: p.rule,
        };
        c.findings.push((Source::Rules, finding));
    }
}

/// Whether one path is the other or an ancestor of it (the empty path is everything's).
fn related_paths(a: &str, b: &str) -> bool {
    let within = |outer: &str, inner: &str| {
        outer.is_empty()
            || inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    within(a, b) || within(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::default_class_yaml;
    use crate::manifest;

    fn tenant_yaml(name: &str, body: &str) -> String {
        format!(
            "apiVersion: tenancy.innova.puglia.it/v1alpha1\nkind: TenantService\nmetadata:\n  name: {name}\nspec:\n  entity:\n    type: Comune\n    displayName: Comune di Molfetta\n    istatCode: \"072029\"\n    ipaCode: c_f284\n    province: BA\n  dataClassification: ordinario\n  class: standard\n{body}"
        )
    }

    fn run(text: &str) -> Outcome {
        let (docs, syntax) = manifest::parse("t.yaml", text);
        let (library, _) = manifest::parse("classes/standard.yaml", default_class_yaml("standard"));
        Checker::new().check(&docs, &library, &syntax)
    }

    fn lines(outcome: &Outcome) -> Vec<String> {
        outcome
            .findings
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_tenant_and_class_library() {
        let o = run(&tenant_yaml(
            "comune-molfetta",
            "  environments:\n    - name: prod\n",
        ));
        assert_eq!(lines(&o), Vec::<String>::new());
        assert_eq!((o.tenants, o.classes), (1, 1));
    }

    #[test]
    fn typo_is_an_unknown_field_with_a_suggestion_at_its_line() {
        let o = run(&tenant_yaml(
            "comune-molfetta",
            "  enviroments:\n    - name: prod\n",
        ));
        let l = lines(&o);
        assert!(
            l.contains(&"t.yaml:14: TenantService/comune-molfetta: spec.enviroments: unknown field \"enviroments\"; did you mean \"environments\"? [SCHEMA-UNKNOWN-FIELD]".to_string()),
            "{l:#?}"
        );
        assert!(
            l.iter().any(|x| x.starts_with("t.yaml:5: TenantService/comune-molfetta: spec.environments: required field is missing")),
            "{l:#?}"
        );
    }

    #[test]
    fn missing_and_mistyped_fields_do_not_hide_rule_problems() {
        let o = run(&tenant_yaml(
            "comune-molfetta",
            "  enviroments:\n    - name: prod\n  tls:\n    hostnames: \"*.example.it\"\n  network:\n    egress:\n      - name: pagopa\n        ports: [80]\n",
        )
        .replace("province: BA", "province: LE")
        .replace("dataClassification: ordinario", "dataClassification: ordinary"));
        let paths: Vec<&str> = o.findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.environments",
                "spec.entity.istatCode",
                "spec.dataClassification",
                "spec.enviroments",
                "spec.tls.hostnames",
                "spec.network.egress[0].ports[0]"
            ],
            "{:#?}",
            lines(&o)
        );
    }

    #[test]
    fn a_scalar_where_a_list_belongs_is_a_type_error_whatever_the_rules_say_of_the_repair() {
        // Repaired to an empty list, `environments` also breaks the "at least one
        // environment" rule; that problem of the repair must not replace the type error.
        for (field, body) in [
            ("spec.environments", "  environments: prod\n"),
            (
                "spec.tls.hostnames",
                "  environments:\n    - name: prod\n  tls:\n    hostnames: a.b.it\n",
            ),
            (
                "spec.access.adminGroups",
                "  environments:\n    - name: prod\n  access:\n    adminGroups: admins\n",
            ),
        ] {
            let o = run(&tenant_yaml("comune-molfetta", body));
            let l = lines(&o);
            assert_eq!(o.errors(), 1, "{l:#?}");
            assert!(
                l[0].contains(&format!("{field}: ")) && l[0].contains("must be of type array"),
                "{l:#?}"
            );
        }
    }

    #[test]
    fn rule_problems_replace_the_crd_rules_that_repeat_them() {
        let o = run(
            &tenant_yaml("comune-molfetta", "  environments:\n    - name: prod\n")
                .replace("province: BA", "province: LE"),
        );
        let l = lines(&o);
        assert_eq!(l.len(), 1, "{l:#?}");
        assert!(l[0].starts_with("t.yaml:9: TenantService/comune-molfetta: spec.entity.istatCode: \"072029\" starts with 072"), "{l:#?}");
    }

    #[test]
    fn unknown_class_and_other_kinds() {
        let text = format!(
            "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
            tenant_yaml("comune-molfetta", "  environments:\n    - name: prod\n")
                .replace("class: standard", "class: nope")
        );
        let o = run(&text);
        let l = lines(&o);
        assert_eq!(l.len(), 1, "{l:#?}");
        assert!(l[0].starts_with("t.yaml:13: TenantService/comune-molfetta: spec.class: TenantClass \"nope\" does not exist"));
        assert_eq!(o.ignored, ["t.yaml:17: ConfigMap"]);
    }

    #[test]
    fn cross_document_conflicts() {
        let a = tenant_yaml("a-b", "  environments:\n    - name: c\n");
        let b = tenant_yaml("a", "  environments:\n    - name: b-c\n");
        let o = run(&format!("{a}---\n{b}---\n{a}"));
        let l = lines(&o);
        assert!(
            l.iter().any(|x| x.starts_with(
                "t.yaml:15: TenantService/a-b: spec.environments[0].name: namespace \"a-b-c\""
            )),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|x| x
                    .contains("TenantService/a: spec.environments[0].name: namespace \"a-b-c\"")),
            "{l:#?}"
        );
        assert_eq!(
            l.iter()
                .filter(|x| x.contains("also named \"a-b\""))
                .count(),
            2,
            "{l:#?}"
        );
    }

    #[test]
    fn syntax_errors_and_non_objects() {
        let o = run(
            "kind: [\n---\nfoo: bar\n---\napiVersion: tenancy.innova.puglia.it/v1\nkind: TenantService\nmetadata: {name: x}\n",
        );
        let l = lines(&o);
        assert_eq!(l.len(), 3, "{l:#?}");
        assert!(
            l[0].starts_with("t.yaml:1: document: not valid YAML"),
            "{l:#?}"
        );
        assert!(
            l[1].starts_with("t.yaml:3: document: apiVersion: not a Kubernetes object"),
            "{l:#?}"
        );
        assert!(
            l[2].contains("use apiVersion: tenancy.innova.puglia.it/v1alpha1"),
            "{l:#?}"
        );
    }

    #[test]
    fn document_classes_replace_library_classes() {
        let class = default_class_yaml("standard").replace("[ordinario, critico]", "[critico]");
        let t = tenant_yaml("comune-molfetta", "  environments:\n    - name: prod\n");
        let o = run(&format!("{class}---\n{t}"));
        let l = lines(&o);
        assert_eq!(l.len(), 1, "{l:#?}");
        assert!(
            l[0].contains("spec.dataClassification: TenantClass \"standard\" does not host"),
            "{l:#?}"
        );
    }

    #[test]
    fn delegations_and_reserved_names_come_from_the_trusted_folder_only() {
        let trusted = format!(
            "{}---\n{}---\n{}",
            default_class_yaml("standard"),
            "apiVersion: tenancy.innova.puglia.it/v1alpha1\nkind: DomainDelegation\nmetadata:\n  name: comune-molfetta\nspec:\n  ipaCode: c_f284\n  domains: [comune.molfetta.ba.it]\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: reserved-namespaces\ndata:\n  namespaces: |\n    flux-system  # Flux\n    cattle-*\n",
        );
        let (library, _) = manifest::parse("policies/trusted.yaml", &trusted);
        let check = |text: &str| {
            let (docs, syntax) = manifest::parse("t.yaml", text);
            let outcome = Checker::new().check(&docs, &library, &syntax);
            let found: Vec<(String, Severity)> = outcome
                .findings
                .iter()
                .map(|f| (format!("{}: {}", f.object, f.path), f.severity))
                .collect();
            (found, lines(&outcome))
        };
        // Inside the delegated domain, in an ordinary namespace: valid.
        let valid = tenant_yaml(
            "comune-molfetta",
            "  environments:\n    - name: prod\n      production: true\n  tls:\n    hostnames: [servizi.comune.molfetta.ba.it]\n",
        );
        assert_eq!(check(&valid).0, []);
        // The datacenter's reserved name, from the trusted folder's ConfigMap.
        let (found, l) = check(&tenant_yaml(
            "flux",
            "  environments:\n    - name: system\n",
        ));
        assert_eq!(
            found,
            [(
                "TenantService/flux: spec.environments[0].name".to_string(),
                Severity::Error
            )],
            "{l:#?}"
        );
        assert!(
            l[0].contains("\"flux-system\" is reserved by flux-system (the datacenter)"),
            "{l:#?}"
        );
        // A delegation under review delegates nothing: the hostname is still refused.
        let (found, l) = check(&format!(
            "{}---\napiVersion: tenancy.innova.puglia.it/v1alpha1\nkind: DomainDelegation\nmetadata:\n  name: self\nspec:\n  ipaCode: c_f284\n  domains: [google.com]\n",
            tenant_yaml(
                "comune-molfetta",
                "  environments:\n    - name: prod\n      production: true\n  tls:\n    hostnames: [www.google.com]\n"
            )
        ));
        assert_eq!(
            found,
            [
                (
                    "TenantService/comune-molfetta: spec.tls.hostnames[0]".to_string(),
                    Severity::Error
                ),
                (
                    "DomainDelegation/self: metadata.name".to_string(),
                    Severity::Warning
                ),
            ],
            "{l:#?}"
        );
        assert!(l[0].contains("(comune.molfetta.ba.it)"), "{l:#?}");
        // A broken reserved name in the trusted folder is an error on its ConfigMap.
        let (broken, _) = manifest::parse(
            "policies/reserved.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: reserved-namespaces\ndata:\n  namespaces: |\n    Flux_System\n",
        );
        let (docs, _) = manifest::parse("t.yaml", &valid);
        let outcome = Checker::new().check(&docs, &broken, &[]);
        let l = lines(&outcome);
        assert!(
            l.iter().any(|x| x.starts_with("policies/reserved.yaml:6: ConfigMap/reserved-namespaces: data.namespaces: reserved namespace \"Flux_System\"")),
            "{l:#?}"
        );
    }

    #[test]
    fn every_cel_rule_of_the_crds_names_a_rule_of_the_table() {
        fn messages(node: &Value, out: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                        out.extend(rules.iter().filter_map(|r| {
                            r.get("message").and_then(Value::as_str).map(str::to_string)
                        }));
                    }
                    map.values().for_each(|v| messages(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| messages(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        for c in crd::crds() {
            messages(&crd::openapi_schema(&c).expect("a schema"), &mut found);
        }
        assert_eq!(found.len(), CEL_RULES.len(), "{found:#?}");
        for message in found {
            assert!(
                cel_rule(&format!("Invalid value: \"object\": {message}")).is_some(),
                "the CEL rule {message:?} names no rule: add it to CEL_RULES"
            );
        }
    }

    #[test]
    fn every_finding_names_its_rule() {
        // A schema error, a trap, an unknown field, a rule problem and a document problem.
        let o = run(&format!(
            "{}---\nkind: x\n",
            tenant_yaml(
                "comune-molfetta",
                "  enviroments:\n    - name: prod\n  contacts:\n    rtd: nobody\n"
            )
            .replace("\"072029\"", "072029")
        ));
        let rules: Vec<(&str, Rule)> = o
            .findings
            .iter()
            .map(|f| (f.path.as_str(), f.rule))
            .collect();
        assert_eq!(
            rules,
            [
                ("spec.environments", Rule::SchemaRequired),
                ("spec.entity.istatCode", Rule::YamlUnquoted),
                ("spec.enviroments", Rule::SchemaUnknownField),
                ("spec.contacts.rtd", Rule::ContactEmail),
                ("apiVersion", Rule::DocNotObject),
            ],
            "{:#?}",
            lines(&o)
        );
        assert!(
            lines(&o)[1].ends_with("\"072029\" [YAML-UNQUOTED]"),
            "{:#?}",
            lines(&o)
        );
    }

    #[test]
    fn warnings_are_marked() {
        let o = run(
            &tenant_yaml("comune-molfetta", "  environments:\n    - name: prod\n")
                .replace("Comune di Molfetta", "Comune di Bari"),
        );
        assert_eq!(o.errors(), 0);
        assert_eq!(o.warnings(), 1);
        assert!(lines(&o)[0].contains("spec.entity.displayName: warning: "));
        assert!(lines(&o)[0].ends_with(" [ENTITY-DISPLAY-NAME]"));
    }
}
