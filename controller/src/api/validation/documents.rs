//! Validation of loaded manifests, as `tenant-operator validate` runs it: for every
//! TenantService and TenantClass document, the structural schema of its CRD (unknown
//! fields such as `enviroments`, wrong types, missing fields), the CRD's CEL rules, the
//! rules of this module's parent, and the rules across documents; every problem located
//! at `file:line`.
//!
//! Pure: the documents are loaded by [`crate::manifest`], the results printed by the CLI.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crd_schema::{self as schema, CelRules, FieldError, FieldErrorKind};
use kube::CustomResourceExt;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Problem, Severity, claim_keys, validate_against_peers, validate_class, validate_tenant,
};
use crate::api::{API_VERSION, GROUP, TenantClass, TenantService, crd};
use crate::manifest::{self, Document, Segment, SyntaxError};

/// A problem located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// `TenantService/comune-molfetta`, or what identifies the document otherwise
    /// (`document` for one without kind or name).
    pub object: String,
    /// Field path, empty for the document as a whole.
    pub path: String,
    /// `what is wrong; what would be valid`.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl std::fmt::Display for Finding {
    /// `file:line: object: path: message` (`warning: ` before a warning's message; no
    /// path part for the document as a whole).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}: ", self.file, self.line, self.object)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What [`Checker::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every problem, in file order and then line order.
    pub findings: Vec<Finding>,
    /// TenantService documents checked.
    pub tenants: usize,
    /// TenantClass documents checked (those passed to check, and the class library).
    pub classes: usize,
    /// Documents of other kinds, skipped: `file:line: kind`.
    pub ignored: Vec<String>,
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
}

/// A document of our kinds, parsed into its type when it could be.
struct Checked<'a> {
    doc: &'a Document,
    object: String,
    findings: Vec<Finding>,
    tenant: Option<TenantService>,
    class: Option<TenantClass>,
    /// Paths the schema found missing or mistyped, filled in to run the Rust rules.
    repaired: Vec<String>,
}

impl Checker {
    /// Compiles the CEL rules of both CRDs.
    pub fn new() -> Self {
        // The generated CRDs always have a schema (tested in api::crd).
        let tenant_schema = crd::openapi_schema(&TenantService::crd()).unwrap_or_default();
        let class_schema = crd::openapi_schema(&TenantClass::crd()).unwrap_or_default();
        Checker {
            tenant_rules: CelRules::new(&tenant_schema),
            tenant_schema,
            class_rules: CelRules::new(&class_schema),
            class_schema,
        }
    }

    /// Checks `documents` (and their syntax errors) with `library` as the TenantClasses
    /// known besides those among the documents (e.g. `policies/classes/`). A class among
    /// the documents replaces a library class of the same name, so that a pull request
    /// changing a class is checked with the change. Library classes are checked too.
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
            });
        }
        let mut mine = Vec::new();
        let mut library_checked = Vec::new();
        for (docs, from_library) in [(documents, false), (library, true)] {
            for doc in docs {
                match self.classify(doc, &mut outcome) {
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
                    Some(Kind::Class) => {
                        outcome.classes += 1;
                        let checked = self.check_document(doc, Kind::Class);
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
        let classes = class_index(&mut mine, &mut library_checked);
        check_tenants(&mut mine, &classes);
        for c in mine.into_iter().chain(library_checked) {
            outcome.findings.extend(c.findings);
        }
        let rank = |file: &str| file_order.iter().position(|f| *f == file);
        // Stable: problems on one line keep the order the rules found them in.
        outcome.findings.sort_by_key(|f| (rank(&f.file), f.line));
        outcome
    }

    /// Whether a document is one of ours; reports documents that are not objects or use
    /// an unknown version of our group, and records other kinds as ignored.
    fn classify(&self, doc: &Document, outcome: &mut Outcome) -> Option<Kind> {
        let object = object_name(doc);
        let mut fail = |path: &str, message: String| {
            outcome.findings.push(Finding {
                file: doc.file.clone(),
                line: doc.line_of(path),
                object: object.clone(),
                path: path.to_string(),
                message,
                severity: Severity::Error,
            });
        };
        let (Some(api_version), Some(kind)) = (doc.api_version(), doc.kind()) else {
            fail(
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
            _ => None,
        };
        let in_group = api_version.split('/').next() == Some(GROUP);
        match ours {
            Some(k) if api_version == API_VERSION => Some(k),
            Some(_) => {
                fail(
                    "apiVersion",
                    format!(
                        "{kind} is not served as {api_version:?}; use apiVersion: {API_VERSION}"
                    ),
                );
                None
            }
            None if in_group => {
                fail(
                    "kind",
                    format!("{GROUP} has no kind {kind:?}; use TenantService or TenantClass"),
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
        };
        let object = object_name(doc);
        let mut errors = schema::check(schema, &doc.value);
        if !schema::blocks_cel(&errors) {
            errors.extend(rules.check(&doc.value, None));
        }
        let findings = errors
            .iter()
            .map(|e| Finding {
                file: doc.file.clone(),
                line: doc.line_of(&e.path),
                object: object.clone(),
                path: e.path.clone(),
                message: schema_message(schema, kind, e),
                severity: Severity::Error,
            })
            .collect::<Vec<_>>();
        let mut checked = Checked {
            doc,
            object,
            findings,
            tenant: None,
            class: None,
            repaired: Vec::new(),
        };
        // The Rust rules need the typed object. When the schema found a missing field or a
        // wrong type, a repaired copy (that field set to an empty value of its type) still
        // gets them, so that one run reports every problem; rule problems at the repaired
        // fields are dropped, the schema errors already cover them.
        let (repaired_value, repaired) = repair(schema, &doc.value, &errors);
        checked.repaired = repaired;
        let value = repaired_value.as_ref().unwrap_or(&doc.value);
        let typed_error = match kind {
            Kind::Tenant => TenantService::deserialize(value)
                .map(|t| checked.tenant = Some(t))
                .err(),
            Kind::Class => TenantClass::deserialize(value)
                .map(|c| checked.class = Some(c))
                .err(),
        };
        // Schema errors already say why the document does not fit the type.
        if let Some(e) = typed_error
            && checked.findings.is_empty()
        {
            checked.findings.push(Finding {
                file: doc.file.clone(),
                line: doc.line,
                object: checked.object.clone(),
                path: String::new(),
                message: format!(
                    "does not fit the API types: {e}; compare with `tenant-operator crd`"
                ),
                severity: Severity::Error,
            });
        }
        checked
    }
}

/// Most rounds of [`repair`]: each round can reveal missing fields inside the objects
/// the previous one added.
const REPAIR_ROUNDS: usize = 6;

/// A copy of `value` in which every field that `errors` (and the errors of each repaired
/// copy) report as missing, of the wrong type or of an unsupported value is set to an
/// empty value of its schema type (the first allowed value of an enum), with the paths
/// set; `None` (and no paths) when there is nothing to repair.
fn repair(schema: &Value, value: &Value, errors: &[FieldError]) -> (Option<Value>, Vec<String>) {
    let fixable = |e: &FieldError| {
        !e.path.is_empty()
            && matches!(
                e.kind,
                FieldErrorKind::Required
                    | FieldErrorKind::TypeInvalid
                    | FieldErrorKind::NotSupported
            )
    };
    let mut errors: Vec<FieldError> = errors.iter().filter(|e| fixable(e)).cloned().collect();
    if errors.is_empty() {
        return (None, Vec::new());
    }
    let mut value = value.clone();
    let mut repaired = Vec::new();
    for _ in 0..REPAIR_ROUNDS {
        if errors.is_empty() {
            break;
        }
        for e in &errors {
            let segments = manifest::parse_path(&e.path);
            if let Some(node) = schema_at(schema, &segments) {
                set_at(&mut value, &segments, empty_of(node));
                repaired.push(e.path.clone());
            }
        }
        errors = schema::check(schema, &value)
            .into_iter()
            .filter(|e| fixable(e))
            .collect();
        errors.retain(|e| !repaired.contains(&e.path));
    }
    (Some(value), repaired)
}

/// The schema node at a path.
fn schema_at<'s>(schema: &'s Value, segments: &[Segment]) -> Option<&'s Value> {
    let mut node = schema;
    for segment in segments {
        node = match segment {
            Segment::Key(k) => node
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
            Segment::Index(_) => node.get("items")?,
        };
    }
    Some(node)
}

/// The empty value of a schema node's type.
fn empty_of(node: &Value) -> Value {
    if let Some(first) = node
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if node
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Value::from(0);
    }
    match node.get("type").and_then(Value::as_str) {
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(serde_json::Map::new()),
        Some("integer") | Some("number") => Value::from(0),
        Some("boolean") => Value::Bool(false),
        _ => Value::String(String::new()),
    }
}

/// Sets the value at a path, creating objects on the way; a path through a list item
/// that does not exist is left alone.
fn set_at(value: &mut Value, segments: &[Segment], new: Value) {
    let Some((last, parents)) = segments.split_last() else {
        *value = new;
        return;
    };
    let mut node = value;
    for segment in parents {
        node = match segment {
            Segment::Key(k) => {
                if !node.is_object() {
                    *node = Value::Object(serde_json::Map::new());
                }
                match node.as_object_mut() {
                    Some(map) => map.entry(k.clone()).or_insert(Value::Null),
                    None => return,
                }
            }
            Segment::Index(i) => match node.get_mut(*i) {
                Some(item) => item,
                None => return,
            },
        };
    }
    match (last, node) {
        (Segment::Key(k), Value::Object(map)) => {
            map.insert(k.clone(), new);
        }
        (Segment::Index(i), Value::Array(items)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = new;
            }
        }
        (Segment::Key(k), node) => {
            let mut map = serde_json::Map::new();
            map.insert(k.clone(), new);
            *node = Value::Object(map);
        }
        _ => {}
    }
}

/// `Kind/name` of a document.
fn object_name(doc: &Document) -> String {
    match (doc.kind(), doc.name()) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        (Some(k), None) => format!("{k}/(no name)"),
        _ => "document".to_string(),
    }
}

/// The classes by name: library classes, replaced by same-named document classes;
/// duplicates within either set are reported, and each class's own rules run.
fn class_index<'a>(
    mine: &mut [Checked<'a>],
    library: &mut [Checked<'a>],
) -> BTreeMap<String, TenantClass> {
    let mut index = BTreeMap::new();
    for set in [library, mine] {
        let mut seen = BTreeSet::new();
        for c in set.iter_mut() {
            let Some(class) = c.class.clone() else {
                continue;
            };
            let problems = validate_class(&class);
            let name = class.metadata.name.clone().unwrap_or_default();
            if !seen.insert(name.clone()) {
                let problem = Problem {
                    object: name.clone(),
                    path: "metadata.name".to_string(),
                    message: format!(
                        "another TenantClass is also named {name:?}; class names are unique: merge the two or rename one"
                    ),
                    severity: Severity::Error,
                };
                add_problems(c, vec![problem]);
            }
            add_problems(c, problems);
            index.insert(name, class);
        }
    }
    index
}

/// Rules of each tenant with its class, then across tenants: each tenant is compared
/// only with the tenants sharing a claim with it (see [`claim_keys`]; found through an
/// index), so that thousands of tenants check in linear time.
fn check_tenants(checked: &mut [Checked<'_>], classes: &BTreeMap<String, TenantClass>) {
    let mut claims: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in checked.iter().enumerate() {
        let Some(t) = &c.tenant else { continue };
        for key in claim_keys(t) {
            claims.entry(key).or_default().push(i);
        }
    }
    let tenants: Vec<Option<TenantService>> = checked.iter().map(|c| c.tenant.clone()).collect();
    for (i, c) in checked.iter_mut().enumerate() {
        let Some(t) = &tenants[i] else { continue };
        let mut problems = validate_tenant(t, classes.get(&t.spec.class));
        let mut related: Vec<usize> = claim_keys(t)
            .iter()
            .flat_map(|k| claims.get(k).into_iter().flatten().copied())
            .filter(|j| *j != i)
            .collect();
        related.sort_unstable();
        related.dedup();
        if !related.is_empty() {
            let peers: Vec<TenantService> =
                related.iter().filter_map(|j| tenants[*j].clone()).collect();
            problems.extend(validate_against_peers(t, &peers));
        }
        add_problems(c, problems);
    }
}

/// Adds the problems of the Rust rules to a document's findings. The CRD's CEL and
/// pattern rules repeat some of them with less helpful text: such a schema finding is
/// dropped when a rule error covers a related path (the same field, an ancestor or a
/// descendant; for a rule on the whole object, any error).
fn add_problems(c: &mut Checked<'_>, problems: Vec<Problem>) {
    let error_paths: Vec<&str> = problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.path.as_str())
        .collect();
    c.findings.retain(|f| {
        let repeated = !f.path.is_empty()
            && (f.message.starts_with("Invalid value") || f.message.starts_with("Duplicate value"))
            || f.path.is_empty() && !f.message.starts_with("not valid YAML");
        !(repeated && error_paths.iter().any(|p| related_paths(&f.path, p)))
    });
    for p in problems {
        if c.repaired
            .iter()
            .any(|r| related_paths(r, &p.path) && !r.is_empty())
        {
            continue;
        }
        c.findings.push(Finding {
            file: c.doc.file.clone(),
            line: c.doc.line_of(&p.path),
            object: c.object.clone(),
            path: p.path,
            message: p.message,
            severity: p.severity,
        });
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

/// A schema error in the CLI's words: unknown fields get the nearest known field name.
fn schema_message(schema: &Value, kind: Kind, e: &FieldError) -> String {
    match e.kind {
        FieldErrorKind::Unknown => {
            let (parent, field) = match e.path.rfind('.') {
                Some(i) => (&e.path[..i], &e.path[i + 1..]),
                None => ("", e.path.as_str()),
            };
            let known = known_fields(schema, parent);
            let hint = match closest(field, &known) {
                Some(best) => format!("did you mean {best:?}?"),
                None if known.is_empty() => "remove it".to_string(),
                None => format!("fields here: {}", known.join(", ")),
            };
            format!("unknown field {field:?}; {hint}")
        }
        FieldErrorKind::Required => {
            let resource = match kind {
                Kind::Tenant => "tenantservices",
                Kind::Class => "tenantclasses",
            };
            // `kubectl explain` takes the path without list indices.
            let field: String = e
                .path
                .split('.')
                .map(|p| p.split('[').next().unwrap_or(p))
                .collect::<Vec<_>>()
                .join(".");
            format!(
                "{}; add it (`kubectl explain {resource}.{field}` describes it)",
                e.message
                    .replacen("Required value", "required field is missing", 1)
            )
        }
        _ => e.message.clone(),
    }
}

/// Property names of the schema node at `path` (list indices skipped).
fn known_fields(schema: &Value, path: &str) -> Vec<String> {
    let mut node = schema;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexed) = match part.find('[') {
            Some(i) => (&part[..i], true),
            None => (part, false),
        };
        let Some(next) = node.get("properties").and_then(|p| p.get(key)) else {
            return Vec::new();
        };
        node = next;
        if indexed && let Some(items) = node.get("items") {
            node = items;
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The candidate closest to `word` by edit distance, if close enough to be a typo.
fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    const CLASS: &str = r#"apiVersion: tenancy.innova.puglia.it/v1alpha1
kind: TenantClass
metadata:
  name: standard
spec:
  allowedDataClassifications: [ordinario, critico]
  quota:
    environmentDefault: { cpu: "4", memory: 8Gi, storage: 50Gi, pods: 50, services: 20, persistentVolumeClaims: 10, loadBalancers: 0 }
    environmentMax: { cpu: "8", memory: 16Gi, storage: 200Gi, pods: 100, services: 40, persistentVolumeClaims: 20, loadBalancers: 0 }
    tenantMax: { cpu: "16", memory: 32Gi, storage: 400Gi, pods: 200, services: 80, persistentVolumeClaims: 40, loadBalancers: 0 }
  limitRange: { defaultRequestCpu: 100m, defaultRequestMemory: 128Mi, defaultLimitCpu: "1", defaultLimitMemory: 1Gi, maxCpu: "4", maxMemory: 8Gi }
  egressDestinations:
    - name: pagopa
      cidrs: ["203.0.113.0/26"]
      ports: [443]
"#;

    fn tenant_yaml(name: &str, body: &str) -> String {
        format!(
            "apiVersion: tenancy.innova.puglia.it/v1alpha1\nkind: TenantService\nmetadata:\n  name: {name}\nspec:\n  entity:\n    type: Comune\n    displayName: Comune di Molfetta\n    istatCode: \"072029\"\n    ipaCode: c_f284\n    province: BA\n  dataClassification: ordinario\n  class: standard\n{body}"
        )
    }

    fn run(text: &str) -> Outcome {
        let (docs, syntax) = manifest::parse("t.yaml", text);
        let (library, _) = manifest::parse("classes/standard.yaml", CLASS);
        Checker::new().check(&docs, &library, &syntax)
    }

    fn lines(outcome: &Outcome) -> Vec<String> {
        outcome.findings.iter().map(|f| f.to_string()).collect()
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
            l.contains(&"t.yaml:14: TenantService/comune-molfetta: spec.enviroments: unknown field \"enviroments\"; did you mean \"environments\"?".to_string()),
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
        let class = CLASS.replace("[ordinario, critico]", "[critico]");
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
    fn warnings_are_marked() {
        let o = run(
            &tenant_yaml("comune-molfetta", "  environments:\n    - name: prod\n")
                .replace("Comune di Molfetta", "Comune di Bari"),
        );
        assert_eq!(o.errors(), 0);
        assert_eq!(o.warnings(), 1);
        assert!(lines(&o)[0].contains("spec.entity.displayName: warning: "));
    }

    #[test]
    fn typo_suggestions() {
        let known = vec![
            "environments".to_string(),
            "entity".to_string(),
            "class".to_string(),
        ];
        assert_eq!(closest("enviroments", &known), Some("environments"));
        assert_eq!(closest("clas", &known), Some("class"));
        assert_eq!(closest("zzzzzz", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
