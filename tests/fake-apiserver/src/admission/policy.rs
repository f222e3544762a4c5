//! ValidatingAdmissionPolicy (`admissionregistration.k8s.io/v1`): every policy with a
//! binding whose match constraints select the request is evaluated with CEL, and each
//! failed validation is handled as the binding's `validationActions` say (Deny refuses,
//! Warn adds a `Warning` header, Audit records an audit annotation).
//!
//! Follows `k8s.io/apiserver/pkg/admission/plugin/policy/validating` (`dispatcher.go`:
//! bindings, params, actions and the refusal's wording; `validator.go`: matchConditions,
//! validations, messages and failurePolicy) and `.../policy/matching/matching.go` with
//! `.../webhook/predicates/rules/rules.go` (matchConstraints). Defaults the API server
//! would have written are applied when reading: `failurePolicy: Fail`,
//! `matchPolicy: Equivalent`, empty selectors, `parameterNotFoundAction: Deny` is not a
//! default (unset means Allow, as upstream treats a nil action).
//!
//! CEL is kube's (`kube::core::cel`: the `cel` crate with Kubernetes' function library).
//! kube-cel's `VapEvaluator` is not used: its JSON conversion escapes every map key as a
//! CRD property name (`app.kubernetes.io/name` becomes `app__dot__kubernetes...`), so a
//! lookup of a label by its key fails, and it does not bind `variables`. The context is
//! built here instead: `object`, `oldObject`, `request` (with `userInfo`, `dryRun`,
//! `options`), `params`, `namespaceObject` and `variables`, each variable evaluated
//! lazily (only when an expression names it) and at most once per evaluation.
//! `authorizer` is not bound: an expression using it fails, and `failurePolicy` decides.
//! Expressions are not type-checked when a policy is stored (kube-apiserver does that and
//! reports it in the policy's status); a wrong one fails at evaluation, like a runtime
//! error. Compiled programs are cached per policy uid and generation.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use kube::core::cel::KubeCelExt;
use kube::core::cel::cel::common::ast::{EntryExpr, Expr};
use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::{Context, IdedExpr, Program, Value as Cel};
use serde_json::{Value, json};

use super::{Attributes, Operation, Verdict};
use crate::errors::ApiError;
use crate::selectors::LabelSelector;
use crate::store::{Obj, State};

const GROUP: &str = "admissionregistration.k8s.io";
/// Audit annotation of failed validations under the `Audit` action.
const VALIDATION_FAILURE_ANNOTATION: &str = "validation.policy.admission.k8s.io/validation_failure";

// ----- compiled policies and bindings ---------------------------------------------------

/// One CEL expression, compiled once.
struct Expression {
    text: String,
    program: Result<Program, String>,
    /// The `variables.<name>` it reads.
    refs: Refs,
    /// The admission variables (`object`, `request`, ...) it names, with the top-level
    /// fields it reads of each: only those are bound.
    inputs: Vec<(Input, Refs)>,
}

/// The variables of an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Object,
    OldObject,
    Request,
    NamespaceObject,
    Params,
    Variables,
}

impl Input {
    const ALL: [(Input, &'static str); 6] = [
        (Input::Object, "object"),
        (Input::OldObject, "oldObject"),
        (Input::Request, "request"),
        (Input::NamespaceObject, "namespaceObject"),
        (Input::Params, "params"),
        (Input::Variables, "variables"),
    ];
}

/// Which composited variables an expression reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refs {
    Names(BTreeSet<String>),
    /// `variables` used whole (e.g. passed to a function): all of them.
    All,
}

impl Expression {
    fn compile(text: &str) -> Expression {
        let text = text.trim().to_string();
        match Program::compile(&text) {
            Ok(program) => {
                let refs = fields_of(&program, "variables");
                let used = program.references();
                let inputs = Input::ALL
                    .iter()
                    .filter(|(_, name)| used.has_variable(name))
                    .map(|(i, name)| (*i, fields_of(&program, name)))
                    .collect();
                Expression {
                    text,
                    program: Ok(program),
                    refs,
                    inputs,
                }
            }
            Err(e) => Expression {
                program: Err(format!("compilation failed: {e}")),
                text,
                refs: Refs::Names(BTreeSet::new()),
                inputs: Vec::new(),
            },
        }
    }
}

/// Collects the fields selected on identifier `ident` (`request.userInfo` → `userInfo`);
/// false when `ident` appears otherwise (used whole, indexed, passed to a function).
fn field_refs(e: &IdedExpr, ident: &str, names: &mut BTreeSet<String>) -> bool {
    let mut walk = |x: &IdedExpr| field_refs(x, ident, names);
    match &e.expr {
        Expr::Select(s) => {
            if matches!(&s.operand.expr, Expr::Ident(i) if i == ident) {
                names.insert(s.field.clone());
                true
            } else {
                walk(&s.operand)
            }
        }
        Expr::Ident(i) => i != ident,
        Expr::Call(c) => c.target.as_deref().is_none_or(&mut walk) && c.args.iter().all(&mut walk),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()
        .all(walk),
        Expr::List(l) => l.elements.iter().all(walk),
        Expr::Map(m) => m.entries.iter().all(|x| entry_refs(&x.expr, &mut walk)),
        Expr::Struct(s) => s.entries.iter().all(|x| entry_refs(&x.expr, &mut walk)),
        Expr::Literal(_) | Expr::Unspecified => true,
    }
}

fn entry_refs(e: &EntryExpr, walk: &mut impl FnMut(&IdedExpr) -> bool) -> bool {
    match e {
        EntryExpr::MapEntry(me) => walk(&me.key) && walk(&me.value),
        EntryExpr::StructField(f) => walk(&f.value),
    }
}

/// The top-level fields of `input` an expression reads.
fn fields_of(program: &Program, name: &str) -> Refs {
    let mut names = BTreeSet::new();
    if field_refs(program.expression(), name, &mut names) {
        Refs::Names(names)
    } else {
        Refs::All
    }
}

impl Refs {
    fn merge(&mut self, other: &Refs) {
        match (&mut *self, other) {
            (Refs::All, _) => {}
            (_, Refs::All) => *self = Refs::All,
            (Refs::Names(a), Refs::Names(b)) => a.extend(b.iter().cloned()),
        }
    }

    /// Whether every field `other` reads is in `self`.
    fn covers(&self, other: &Refs) -> bool {
        match (self, other) {
            (Refs::All, _) => true,
            (Refs::Names(_), Refs::All) => false,
            (Refs::Names(a), Refs::Names(b)) => b.is_subset(a),
        }
    }

    fn includes(&self, field: &str) -> bool {
        match self {
            Refs::All => true,
            Refs::Names(n) => n.contains(field),
        }
    }
}

struct Validation {
    expression: Expression,
    message: Option<String>,
    message_expression: Option<Expression>,
    reason: Option<String>,
}

/// A policy ready to evaluate.
struct CompiledPolicy {
    name: String,
    uid: String,
    generation: i64,
    /// `failurePolicy: Ignore`.
    ignore_errors: bool,
    constraints: Result<Matcher, String>,
    /// `paramKind` as (group, version, kind).
    param_kind: Option<(String, String, String)>,
    conditions: Vec<(String, Expression)>,
    variables: Vec<(String, Expression)>,
    validations: Vec<Validation>,
    audit_annotations: Vec<(String, Expression)>,
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn strings(v: &Value) -> Vec<String> {
    items(v)
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

impl CompiledPolicy {
    fn compile(obj: &Value) -> CompiledPolicy {
        let spec = &obj["spec"];
        let named = |list: &Value, expr_key: &str, name_key: &str| -> Vec<(String, Expression)> {
            items(list)
                .map(|x| {
                    (
                        text(x, name_key).to_string(),
                        Expression::compile(text(x, expr_key)),
                    )
                })
                .collect()
        };
        let param_kind = spec["paramKind"].is_object().then(|| {
            let av = text(&spec["paramKind"], "apiVersion");
            let (g, v) = av.split_once('/').unwrap_or(("", av));
            (
                g.to_string(),
                v.to_string(),
                text(&spec["paramKind"], "kind").to_string(),
            )
        });
        CompiledPolicy {
            name: text(&obj["metadata"], "name").to_string(),
            uid: text(&obj["metadata"], "uid").to_string(),
            generation: obj["metadata"]["generation"].as_i64().unwrap_or(0),
            ignore_errors: spec["failurePolicy"] == "Ignore",
            constraints: Matcher::parse(&spec["matchConstraints"]),
            param_kind,
            conditions: named(&spec["matchConditions"], "expression", "name"),
            variables: named(&spec["variables"], "expression", "name"),
            validations: items(&spec["validations"])
                .map(|v| Validation {
                    expression: Expression::compile(text(v, "expression")),
                    message: v["message"]
                        .as_str()
                        .map(|m| m.trim().to_string())
                        .filter(|m| !m.is_empty()),
                    message_expression: v["messageExpression"].as_str().map(Expression::compile),
                    reason: v["reason"].as_str().map(String::from),
                })
                .collect(),
            audit_annotations: named(&spec["auditAnnotations"], "valueExpression", "key"),
        }
    }
}

/// A binding, as read.
struct Binding {
    name: String,
    policy: String,
    match_resources: Option<Result<Matcher, String>>,
    param_ref: Option<Value>,
    actions: Vec<String>,
}

impl Binding {
    fn parse(obj: &Value) -> Binding {
        let spec = &obj["spec"];
        Binding {
            name: text(&obj["metadata"], "name").to_string(),
            policy: text(spec, "policyName").to_string(),
            match_resources: spec["matchResources"]
                .is_object()
                .then(|| Matcher::parse(&spec["matchResources"])),
            param_ref: spec["paramRef"]
                .is_object()
                .then(|| spec["paramRef"].clone()),
            actions: strings(&spec["validationActions"]),
        }
    }
}

/// The policies and bindings as last read, rebuilt only when one of them changed
/// (stored objects are replaced on every write, so pointer equality means unchanged).
#[derive(Default)]
pub struct Cache {
    policy_objs: Vec<Obj>,
    binding_objs: Vec<Obj>,
    policies: Vec<Arc<CompiledPolicy>>,
    bindings: Vec<Arc<Binding>>,
}

fn same_objects(a: &[Obj], b: &[Obj]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

impl Cache {
    /// Brings the cache up to date with the stored policies and bindings.
    fn refresh(&mut self, policy_objs: Vec<Obj>, binding_objs: Vec<Obj>) {
        if !same_objects(&policy_objs, &self.policy_objs) {
            let mut compiled: HashMap<(String, i64), Arc<CompiledPolicy>> = self
                .policies
                .drain(..)
                .map(|p| ((p.uid.clone(), p.generation), p))
                .collect();
            self.policies = policy_objs
                .iter()
                .map(|o| {
                    let v = o.value();
                    let key = (
                        text(&v["metadata"], "uid").to_string(),
                        v["metadata"]["generation"].as_i64().unwrap_or(0),
                    );
                    compiled
                        .remove(&key)
                        .unwrap_or_else(|| Arc::new(CompiledPolicy::compile(&v)))
                })
                .collect();
            self.policies.sort_by(|a, b| a.name.cmp(&b.name));
            self.policy_objs = policy_objs;
        }
        if !same_objects(&binding_objs, &self.binding_objs) {
            self.bindings = binding_objs
                .iter()
                .map(|o| Arc::new(Binding::parse(&o.value())))
                .collect();
            self.bindings.sort_by(|a, b| a.name.cmp(&b.name));
            self.binding_objs = binding_objs;
        }
    }
}

// ----- matching ---------------------------------------------------------------------------

/// One `NamedRuleWithOperations`.
struct Rule {
    operations: Vec<String>,
    groups: Vec<String>,
    versions: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    scope: String,
}

/// `matchConstraints` of a policy or `matchResources` of a binding.
struct Matcher {
    namespace_selector: LabelSelector,
    object_selector: LabelSelector,
    rules: Vec<Rule>,
    exclude: Vec<Rule>,
    exact: bool,
}

impl Matcher {
    fn parse(v: &Value) -> Result<Matcher, String> {
        let rules = |k: &str| -> Vec<Rule> {
            items(&v[k])
                .map(|r| Rule {
                    operations: strings(&r["operations"]),
                    groups: strings(&r["apiGroups"]),
                    versions: strings(&r["apiVersions"]),
                    resources: strings(&r["resources"]),
                    names: strings(&r["resourceNames"]),
                    scope: r["scope"].as_str().unwrap_or("*").to_string(),
                })
                .collect()
        };
        Ok(Matcher {
            namespace_selector: LabelSelector::from_json(&v["namespaceSelector"])
                .map_err(|e| format!("namespaceSelector.{e}"))?,
            object_selector: LabelSelector::from_json(&v["objectSelector"])
                .map_err(|e| format!("objectSelector.{e}"))?,
            rules: rules("resourceRules"),
            exclude: rules("excludeResourceRules"),
            exact: v["matchPolicy"] == "Exact",
        })
    }

    /// `Matcher.Matches`: namespace selector, object selector, exclusions, then rules
    /// (exactly, or for another served version of the resource under `Equivalent`).
    fn matches(&self, st: &State, attrs: &Attributes<'_>) -> bool {
        if !self.namespace_selector.is_empty()
            && !namespace_matches(st, attrs, &self.namespace_selector)
        {
            return false;
        }
        if !self.object_selector.is_empty() {
            let hit = |o: Option<&Value>| o.is_some_and(|o| self.object_selector.matches(o));
            if !hit(attrs.object) && !hit(attrs.old_object) {
                return false;
            }
        }
        let any = |rules: &[Rule], version: &str| rules.iter().any(|r| r.matches(attrs, version));
        if any(&self.exclude, attrs.version) {
            return false;
        }
        if self.rules.is_empty() || any(&self.rules, attrs.version) {
            return true;
        }
        !self.exact
            && attrs
                .info
                .versions
                .iter()
                .any(|v| v.name != attrs.version && any(&self.rules, &v.name))
    }
}

/// `namespace/matcher.go` `MatchNamespaceSelector`: cluster-scoped requests other than
/// namespaces always match; a namespace being created or updated is judged by its new
/// labels, anything else by the labels of its stored namespace.
fn namespace_matches(st: &State, attrs: &Attributes<'_>, selector: &LabelSelector) -> bool {
    let ns = attrs.request_namespace();
    if ns.is_empty() && !attrs.is_namespace() {
        return true;
    }
    if attrs.is_namespace()
        && attrs.subresource.is_empty()
        && attrs.operation != Operation::Delete
        && let Some(o) = attrs.object
    {
        return selector.matches(o);
    }
    st.get_stored(&(String::new(), "namespaces".into()), "", ns)
        .is_some_and(|n| selector.matches_with(|k| n.label(k)))
}

fn one_of(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

impl Rule {
    /// `rules.Matcher.Matches` for the request seen through `version`, then `resourceNames`.
    fn matches(&self, attrs: &Attributes<'_>, version: &str) -> bool {
        let namespaced_request = !attrs.is_namespace() && !attrs.request_namespace().is_empty();
        let scope = match self.scope.as_str() {
            "Namespaced" => namespaced_request,
            "Cluster" => !namespaced_request,
            _ => true,
        };
        let resource = self.resources.iter().any(|r| {
            let (res, sub) = r.split_once('/').unwrap_or((r, ""));
            (res == "*" || res == attrs.info.plural) && (sub == "*" || sub == attrs.subresource)
        });
        scope
            && one_of(&self.operations, attrs.operation.as_str())
            && one_of(&self.groups, &attrs.info.group)
            && one_of(&self.versions, version)
            && resource
            && (self.names.is_empty() || self.names.iter().any(|n| n == attrs.name))
    }
}

// ----- evaluation ---------------------------------------------------------------------

/// kube's CEL functions, registered once; each evaluation adds its variables in a child scope.
fn functions() -> &'static Context<'static> {
    static ROOT: OnceLock<Context<'static>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let mut ctx = Context::default();
        ctx.register_all();
        ctx
    })
}

/// JSON to CEL as the API server presents objects: map keys verbatim (labels keep their
/// dots and slashes), integers as `int`.
fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => Cel::Map(Map {
            map: Arc::new(
                m.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                    .collect(),
            ),
        }),
    }
}

/// The variables of one request, converted when an evaluation first names them and
/// only as far as its policy reads them: the CEL interpreter copies a variable's whole
/// value when it is bound, so an object is bound with the top-level fields the
/// policy's expressions select (`metadata` for a policy on labels), not its whole spec.
struct Inputs<'a> {
    st: &'a State,
    attrs: &'a Attributes<'a>,
    namespace_object: OnceCell<Option<Arc<Value>>>,
}

/// A JSON object as CEL, keeping only the top-level `fields`.
fn to_cel_fields(v: &Value, fields: &Refs) -> Cel {
    match (v, fields) {
        (Value::Object(m), Refs::Names(names)) => Cel::Map(Map {
            map: Arc::new(
                m.iter()
                    .filter(|(k, _)| names.contains(*k))
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                    .collect(),
            ),
        }),
        _ => to_cel(v),
    }
}

impl<'a> Inputs<'a> {
    fn new(st: &'a State, attrs: &'a Attributes<'a>) -> Self {
        Inputs {
            st,
            attrs,
            namespace_object: OnceCell::new(),
        }
    }

    /// An admission variable, with the top-level `fields` that will be read.
    fn get(&self, input: Input, fields: &Refs) -> Cel {
        let (st, attrs) = (self.st, self.attrs);
        let json = |o: Option<&Value>| o.map_or(Cel::Null, |v| to_cel_fields(v, fields));
        match input {
            Input::Object => json(attrs.object),
            Input::OldObject => json(attrs.old_object),
            Input::Request => request_cel(attrs, fields),
            Input::NamespaceObject => {
                let ns = self.namespace_object.get_or_init(|| {
                    // The namespace of a Namespace object is itself: upstream unsets it
                    // (dispatcher.go); cluster-scoped requests have none.
                    if attrs.is_namespace() || attrs.request_namespace().is_empty() {
                        return None;
                    }
                    st.get(
                        &(String::new(), "namespaces".into()),
                        "",
                        attrs.request_namespace(),
                    )
                });
                json(ns.as_deref())
            }
            Input::Params | Input::Variables => Cel::Null,
        }
    }
}

/// A CEL string.
fn text_cel(s: &str) -> Cel {
    Cel::String(Arc::new(s.to_string()))
}

/// A CEL map with string keys.
fn map_cel<const N: usize>(entries: [(&str, Cel); N]) -> Cel {
    Cel::Map(Map {
        map: Arc::new(
            entries
                .into_iter()
                .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
                .collect(),
        ),
    })
}

/// The `request` variable (`admission/v1` AdmissionRequest as CEL sees it), built as
/// CEL values directly and only with the top-level `fields` that will be read: it is made
/// for every request a policy evaluates.
fn request_cel(attrs: &Attributes<'_>, fields: &Refs) -> Cel {
    let info = attrs.info;
    let kind = || {
        map_cel([
            ("group", text_cel(&info.group)),
            ("version", text_cel(attrs.version)),
            ("kind", text_cel(&info.kind)),
        ])
    };
    let resource = || {
        map_cel([
            ("group", text_cel(&info.group)),
            ("version", text_cel(attrs.version)),
            ("resource", text_cel(&info.plural)),
        ])
    };
    let options = || {
        let kind = match attrs.operation {
            Operation::Create => "CreateOptions",
            Operation::Update => "UpdateOptions",
            Operation::Delete => "DeleteOptions",
        };
        let mut options = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
        if attrs.dry_run {
            options["dryRun"] = json!(["All"]);
        }
        if attrs.operation != Operation::Delete && !attrs.manager.is_empty() {
            options["fieldManager"] = json!(attrs.manager);
        }
        to_cel(&options)
    };
    let user_info = || {
        let user = attrs.user;
        map_cel([
            ("username", text_cel(&user.username)),
            ("uid", text_cel(&user.uid)),
            (
                "groups",
                Cel::List(Arc::new(user.groups.iter().map(|g| text_cel(g)).collect())),
            ),
            ("extra", to_cel(&json!(user.extra))),
        ])
    };
    let entries: [(&str, &dyn Fn() -> Cel); 13] = [
        ("uid", &|| text_cel("")),
        ("kind", &kind),
        ("resource", &resource),
        ("subResource", &|| text_cel(attrs.subresource)),
        ("requestKind", &kind),
        ("requestResource", &resource),
        ("requestSubResource", &|| text_cel(attrs.subresource)),
        ("name", &|| text_cel(attrs.name)),
        ("namespace", &|| text_cel(attrs.request_namespace())),
        ("operation", &|| text_cel(attrs.operation.as_str())),
        ("userInfo", &user_info),
        ("dryRun", &|| Cel::Bool(attrs.dry_run)),
        ("options", &options),
    ];
    Cel::Map(Map {
        map: Arc::new(
            entries
                .iter()
                .filter(|(k, _)| fields.includes(k))
                .map(|(k, make)| (Key::String(Arc::new(k.to_string())), make()))
                .collect(),
        ),
    })
}

/// One evaluation of a policy (for one binding and one param): the base variables and
/// the composited variables evaluated so far.
struct Evaluation<'a> {
    policy: &'a CompiledPolicy,
    inputs: &'a Inputs<'a>,
    params: Cel,
    variables: HashMap<String, Result<Cel, String>>,
    /// The admission variables bound so far, with the top-level fields bound. Binding
    /// converts a value into the CEL interpreter's representation (a deep copy), so each
    /// is bound when an expression first reads it, with the fields it reads, and bound
    /// again only when a later expression reads more.
    scope: Context<'static>,
    bound: Vec<(Input, Refs)>,
}

impl<'a> Evaluation<'a> {
    fn new(policy: &'a CompiledPolicy, inputs: &'a Inputs<'a>, params: Cel) -> Self {
        Evaluation {
            policy,
            inputs,
            params,
            variables: HashMap::new(),
            scope: functions().new_inner_scope(),
            bound: Vec::new(),
        }
    }

    /// Evaluates the variables `refs` names (and those they read), in declaration order.
    fn resolve(&mut self, refs: &Refs) {
        if matches!(refs, Refs::Names(names) if names.is_empty()) {
            return;
        }
        let wanted: Vec<usize> = match refs {
            Refs::All => (0..self.policy.variables.len()).collect(),
            Refs::Names(names) => self
                .policy
                .variables
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| names.contains(n))
                .map(|(i, _)| i)
                .collect(),
        };
        for i in wanted {
            let (name, expr) = &self.policy.variables[i];
            if self.variables.contains_key(name) {
                continue;
            }
            // Only earlier variables are visible to a variable.
            let refs = match &expr.refs {
                Refs::All => Refs::Names(
                    self.policy.variables[..i]
                        .iter()
                        .map(|(n, _)| n.clone())
                        .collect(),
                ),
                r @ Refs::Names(_) => r.clone(),
            };
            self.resolve(&refs);
            let value = self
                .run(expr)
                .map_err(|e| format!("composited variable \"{name}\" fails to evaluate: {e}"));
            self.variables.insert(name.clone(), value);
        }
    }

    /// Runs one expression with the variables it reads.
    fn eval(&mut self, expr: &Expression) -> Result<Cel, String> {
        self.resolve(&expr.refs);
        self.run(expr)
    }

    /// Binds the admission variables `expr` names that are not bound yet.
    fn bind(&mut self, expr: &Expression) {
        for (input, name) in Input::ALL {
            let Some((_, wanted)) = expr.inputs.iter().find(|(i, _)| *i == input) else {
                continue;
            };
            if input == Input::Variables {
                continue;
            }
            let fields = match self.bound.iter_mut().find(|(i, _)| *i == input) {
                Some((_, have)) if have.covers(wanted) => continue,
                Some((_, have)) => {
                    have.merge(wanted);
                    have.clone()
                }
                None => {
                    self.bound.push((input, wanted.clone()));
                    wanted.clone()
                }
            };
            let value = match input {
                Input::Params => self.params.clone(),
                other => self.inputs.get(other, &fields),
            };
            self.scope.add_variable_from_value(name, value);
        }
    }

    fn run(&mut self, expr: &Expression) -> Result<Cel, String> {
        let program = expr.program.as_ref().map_err(Clone::clone)?;
        self.bind(expr);
        let result = if expr.inputs.iter().any(|(i, _)| *i == Input::Variables) {
            let known: HashMap<Key, Cel> = self
                .variables
                .iter()
                .filter_map(|(k, v)| Some((Key::String(Arc::new(k.clone())), v.clone().ok()?)))
                .collect();
            let mut scope = self.scope.new_inner_scope();
            scope.add_variable_from_value(
                "variables",
                Cel::Map(Map {
                    map: Arc::new(known),
                }),
            );
            program.execute(&scope)
        } else {
            program.execute(&self.scope)
        };
        result.map_err(|e| {
            // A failed variable explains the failure better than "no such key".
            let failed = self
                .variables
                .iter()
                .find_map(|(n, v)| match (&expr.refs, v) {
                    (Refs::Names(names), Err(why)) if names.contains(n) => Some(why.clone()),
                    _ => None,
                });
            failed.unwrap_or_else(|| format!("expression '{}' resulted in error: {e}", expr.text))
        })
    }

    fn eval_bool(&mut self, expr: &Expression) -> Result<bool, String> {
        match self.eval(expr)? {
            Cel::Bool(b) => Ok(b),
            other => Err(format!(
                "expression '{}' resulted in a {:?} value, not a bool",
                expr.text,
                other.type_of()
            )),
        }
    }
}

/// The outcome of one validation (`PolicyDecision`).
enum Decision {
    Deny {
        message: String,
        reason: String,
        index: usize,
    },
    /// An evaluation error under `failurePolicy: Fail`.
    Error { message: String },
}

/// `validator.Validate`: matchConditions, then each validation and audit annotation.
/// `None`: the conditions exclude the request.
fn validate(
    ev: &mut Evaluation<'_>,
    annotations: &mut BTreeMap<String, String>,
) -> Option<Vec<Decision>> {
    let policy = ev.policy;
    let on_error = |message: String| (!policy.ignore_errors).then_some(Decision::Error { message });
    // Any false condition excludes; otherwise an error decides by failurePolicy.
    let mut condition_error = None;
    for (name, cond) in &policy.conditions {
        match ev.eval_bool(cond) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                condition_error.get_or_insert(format!("matchCondition '{name}': {e}"));
            }
        }
    }
    if let Some(e) = condition_error {
        return Some(on_error(e).into_iter().collect());
    }
    let mut decisions = Vec::new();
    for (index, v) in policy.validations.iter().enumerate() {
        match ev.eval_bool(&v.expression) {
            Ok(true) => {}
            Ok(false) => decisions.push(Decision::Deny {
                message: failure_message(ev, v),
                reason: v.reason.clone().unwrap_or_else(|| "Invalid".into()),
                index,
            }),
            Err(e) => decisions.extend(on_error(e)),
        }
    }
    for (key, expr) in &policy.audit_annotations {
        match ev.eval(expr) {
            Ok(Cel::String(s)) => {
                annotations.insert(format!("{}/{key}", policy.name), s.to_string());
            }
            Ok(Cel::Null) => {}
            Ok(other) => decisions.extend(on_error(format!(
                "valueExpression '{}' resulted in a {:?} value, not a string",
                expr.text,
                other.type_of()
            ))),
            Err(e) => decisions.extend(on_error(e)),
        }
    }
    Some(decisions)
}

/// The message of a failed validation: `messageExpression` when it yields a non-empty
/// single line, else `message`, else `failed expression: <expression>`.
fn failure_message(ev: &mut Evaluation<'_>, v: &Validation) -> String {
    if let Some(me) = &v.message_expression
        && let Ok(Cel::String(s)) = ev.eval(me)
    {
        let s = s.trim();
        if !s.is_empty() && !s.contains('\n') {
            return s.to_string();
        }
    }
    v.message
        .clone()
        .unwrap_or_else(|| format!("failed expression: {}", v.expression.text))
}

/// `reasonToCode` of `dispatcher.go`.
fn code_of(reason: &str) -> u16 {
    match reason {
        "Forbidden" => 403,
        "Unauthorized" => 401,
        "RequestEntityTooLarge" => 413,
        _ => 422,
    }
}

/// A refusal worded as kube-apiserver words it.
struct Denial {
    message: String,
    reason: String,
}

/// `CollectParams`: the param objects a binding selects, or why it cannot be used.
fn collect_params(
    st: &State,
    attrs: &Attributes<'_>,
    policy: &CompiledPolicy,
    binding: &Binding,
) -> Result<Vec<Cel>, String> {
    let Some((group, version, kind)) = &policy.param_kind else {
        return Ok(vec![Cel::Null]);
    };
    let Some(param_ref) = &binding.param_ref else {
        return Ok(vec![Cel::Null]);
    };
    let Some(info) = st.registry.by_kind(group, version, kind) else {
        let av = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        return Err(format!(
            "failed to find resource referenced by paramKind: '{av}, Kind={kind}'"
        ));
    };
    let ref_ns = text(param_ref, "namespace");
    let namespace = match (ref_ns.is_empty(), info.namespaced) {
        (false, false) => {
            return Err(
                "paramRef.namespace must not be provided for a cluster-scoped `paramKind`".into(),
            );
        }
        (false, true) => ref_ns.to_string(),
        (true, false) => String::new(),
        (true, true) if attrs.request_namespace().is_empty() => {
            return Err(
                "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources"
                    .into(),
            );
        }
        (true, true) => attrs.request_namespace().to_string(),
    };
    let name = text(param_ref, "name");
    let found: Vec<Cel> = if name.is_empty() {
        let selector = LabelSelector::from_json(&param_ref["selector"])
            .map_err(|e| format!("paramRef.selector.{e}"))?;
        st.list(&info.key(), info.namespaced.then_some(namespace.as_str()))
            .into_iter()
            .filter(|o| selector.matches_with(|k| o.label(k)))
            .map(|o| to_cel(&o.value()))
            .collect()
    } else {
        if param_ref["selector"].is_object() {
            return Err("paramRef.name and paramRef.selector are mutually exclusive".into());
        }
        st.get(&info.key(), &namespace, name)
            .map(|p| to_cel(&p))
            .into_iter()
            .collect()
    };
    if found.is_empty() && param_ref["parameterNotFoundAction"] == "Deny" {
        return Err(
            "no params found for policy binding with `Deny` parameterNotFoundAction".into(),
        );
    }
    Ok(found)
}

/// What one binding of a policy decided for a request.
enum Outcome {
    /// Constraints, the binding's matchResources or matchConditions exclude the request
    /// (or no param was found under `parameterNotFoundAction: Allow`).
    NotMatched,
    /// The policy or binding cannot be used (under `failurePolicy: Fail`).
    ConfigError(String),
    /// The failed validations and evaluation errors (none: admitted).
    Decided(Vec<Decision>),
}

/// The stored policies and bindings, compiled (cached in the state).
fn current(st: &mut State) -> (Vec<Arc<CompiledPolicy>>, Vec<Arc<Binding>>) {
    let policy_objs = st.list(&(GROUP.into(), "validatingadmissionpolicies".into()), None);
    if policy_objs.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let binding_objs = st.list(
        &(GROUP.into(), "validatingadmissionpolicybindings".into()),
        None,
    );
    st.admission.policies.refresh(policy_objs, binding_objs);
    (
        st.admission.policies.policies.clone(),
        st.admission.policies.bindings.clone(),
    )
}

/// Evaluates every binding of every policy, in name order, calling `each` with the
/// outcome of each (policy, binding) pair; audit annotations go to `annotations`.
fn evaluate_all(
    st: &mut State,
    attrs: &Attributes<'_>,
    annotations: &mut BTreeMap<String, String>,
    mut each: impl FnMut(&CompiledPolicy, Option<&Binding>, Outcome),
) {
    let (policies, bindings) = current(st);
    let st: &State = st;
    let inputs = Inputs::new(st, attrs);
    for policy in &policies {
        let mut bound = bindings
            .iter()
            .filter(|b| b.policy == policy.name)
            .peekable();
        if bound.peek().is_none() {
            continue;
        }
        match &policy.constraints {
            Err(e) => {
                each(policy, None, Outcome::ConfigError(e.clone()));
                continue;
            }
            Ok(m) if !m.matches(st, attrs) => continue,
            Ok(_) => {}
        }
        for binding in bound {
            let outcome = evaluate_binding(st, attrs, policy, binding, &inputs, annotations);
            each(policy, Some(binding), outcome);
        }
    }
}

/// One binding of a policy whose constraints match: its matchResources, params,
/// matchConditions and validations.
fn evaluate_binding(
    st: &State,
    attrs: &Attributes<'_>,
    policy: &CompiledPolicy,
    binding: &Binding,
    inputs: &Inputs<'_>,
    annotations: &mut BTreeMap<String, String>,
) -> Outcome {
    match &binding.match_resources {
        Some(Err(e)) => return Outcome::ConfigError(e.clone()),
        Some(Ok(m)) if !m.matches(st, attrs) => return Outcome::NotMatched,
        _ => {}
    }
    let params = match collect_params(st, attrs, policy, binding) {
        Ok(p) => p,
        Err(e) => return Outcome::ConfigError(e),
    };
    let mut matched = false;
    let mut decisions = Vec::new();
    for param in params {
        let mut ev = Evaluation::new(policy, inputs, param);
        if let Some(d) = validate(&mut ev, annotations) {
            matched = true;
            decisions.extend(d);
        }
    }
    if matched {
        Outcome::Decided(decisions)
    } else {
        Outcome::NotMatched
    }
}

/// The plugin: every binding of every matching policy, in name order; the first denial
/// refuses the request, after warnings and audit annotations of all of them are collected.
pub fn admit(
    st: &mut State,
    attrs: &Attributes<'_>,
    verdict: &mut Verdict,
) -> Result<(), ApiError> {
    let mut denials: Vec<Denial> = Vec::new();
    let mut audit_failures: Vec<Value> = Vec::new();
    let mut warnings = Vec::new();
    evaluate_all(
        st,
        attrs,
        &mut verdict.annotations,
        |policy, binding, outcome| {
            let decisions = match outcome {
                Outcome::NotMatched => return,
                Outcome::ConfigError(_) if policy.ignore_errors => return,
                Outcome::ConfigError(e) => {
                    let (what, with) = match binding {
                        Some(b) => ("binding", format!(" with binding '{}'", b.name)),
                        None => ("policy", String::new()),
                    };
                    denials.push(Denial {
                    message: format!(
                        "ValidatingAdmissionPolicy '{}'{with} denied request: failed to configure {what}: {e}",
                        policy.name
                    ),
                    reason: "Invalid".into(),
                });
                    return;
                }
                Outcome::Decided(d) => d,
            };
            let Some(binding) = binding else { return };
            for d in decisions {
                let (message, reason, index) = match d {
                    Decision::Deny {
                        message,
                        reason,
                        index,
                    } => (message, reason, Some(index)),
                    Decision::Error { message } => (message, "Invalid".to_string(), None),
                };
                for action in &binding.actions {
                    match action.as_str() {
                    "Deny" => denials.push(Denial {
                        message: format!(
                            "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
                            policy.name, binding.name
                        ),
                        reason: reason.clone(),
                    }),
                    "Warn" => warnings.push(format!(
                        "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {message}",
                        policy.name, binding.name
                    )),
                    "Audit" => audit_failures.push(json!({
                        "message": message, "policy": policy.name, "binding": binding.name,
                        "expressionIndex": index, "validationActions": binding.actions,
                    })),
                    _ => {}
                }
                }
            }
        },
    );
    verdict.warnings.extend(warnings);
    if !audit_failures.is_empty() {
        verdict.annotations.insert(
            VALIDATION_FAILURE_ANNOTATION.into(),
            Value::Array(audit_failures).to_string(),
        );
    }
    match denials.into_iter().next() {
        None => Ok(()),
        Some(d) => {
            let mut e = super::forbidden(attrs, &d.message);
            e.code = code_of(&d.reason);
            e.reason = status_reason(&d.reason);
            if let Some(details) = e.details.as_mut() {
                details["causes"] = json!([{"message": d.message}]);
            }
            Err(e)
        }
    }
}

/// What one (policy, binding) pair decided, for [`crate::PolicyReview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingReview {
    /// The policy.
    pub policy: String,
    /// The binding (empty when the policy itself cannot be used).
    pub binding: String,
    /// The binding's `validationActions`.
    pub actions: Vec<String>,
    /// Messages of the validations that failed.
    pub failed: Vec<String>,
    /// Evaluation and configuration errors (decided by `failurePolicy`).
    pub errors: Vec<String>,
}

/// Every (policy, binding) pair that matched the request, with what it decided.
pub fn review(st: &mut State, attrs: &Attributes<'_>) -> Vec<BindingReview> {
    let mut out = Vec::new();
    let mut annotations = BTreeMap::new();
    evaluate_all(st, attrs, &mut annotations, |policy, binding, outcome| {
        let mut r = BindingReview {
            policy: policy.name.clone(),
            binding: binding.map(|b| b.name.clone()).unwrap_or_default(),
            actions: binding.map(|b| b.actions.clone()).unwrap_or_default(),
            failed: Vec::new(),
            errors: Vec::new(),
        };
        match outcome {
            Outcome::NotMatched => return,
            Outcome::ConfigError(e) => r.errors.push(e),
            Outcome::Decided(decisions) => {
                for d in decisions {
                    match d {
                        Decision::Deny { message, .. } => r.failed.push(message),
                        Decision::Error { message } => r.errors.push(message),
                    }
                }
            }
        }
        out.push(r);
    });
    out
}

/// The Status reason of a validation's `reason` (the ones the API allows; others Invalid).
fn status_reason(reason: &str) -> &'static str {
    match reason {
        "Forbidden" => "Forbidden",
        "Unauthorized" => "Unauthorized",
        "RequestEntityTooLarge" => "RequestEntityTooLarge",
        _ => "Invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(e: &str) -> Refs {
        Expression::compile(e).refs
    }

    #[test]
    fn variable_references_are_found_through_macros() {
        let names = |v: &[&str]| Refs::Names(v.iter().map(ToString::to_string).collect());
        assert_eq!(refs("variables.a && object.x"), names(&["a"]));
        assert_eq!(
            refs("variables.keys.all(k, k in variables.allowed)"),
            names(&["allowed", "keys"])
        );
        assert_eq!(refs("size(variables) > 0"), Refs::All);
        assert_eq!(refs("object.metadata.name == 'x'"), names(&[]));
    }

    #[test]
    fn only_the_top_level_fields_read_are_bound() {
        let names = |v: &[&str]| Refs::Names(v.iter().map(ToString::to_string).collect());
        let p = Program::compile(
            "has(object.spec) && object.metadata.name == 'x' && request.userInfo.username != ''",
        )
        .unwrap();
        assert_eq!(fields_of(&p, "object"), names(&["metadata", "spec"]));
        assert_eq!(fields_of(&p, "request"), names(&["userInfo"]));
        let whole = Program::compile("object == null || object.kind == 'Pod'").unwrap();
        assert_eq!(fields_of(&whole, "object"), Refs::All);
        let pruned = to_cel_fields(
            &json!({"metadata": {"name": "x"}, "spec": {"big": [1, 2, 3]}, "status": {}}),
            &names(&["metadata"]),
        );
        let mut ctx = functions().new_inner_scope();
        ctx.add_variable_from_value("object", pruned);
        let p = Program::compile("object.metadata.name == 'x' && !has(object.spec)").unwrap();
        assert_eq!(p.execute(&ctx).unwrap(), Cel::Bool(true));
    }

    #[test]
    fn map_keys_are_not_escaped() {
        let labels = to_cel(&json!({"app.kubernetes.io/name": "web", "n": 3}));
        let mut ctx = functions().new_inner_scope();
        ctx.add_variable_from_value("l", labels);
        let p = Program::compile("l['app.kubernetes.io/name'] == 'web' && l.n >= 0").unwrap();
        assert_eq!(p.execute(&ctx).unwrap(), Cel::Bool(true));
    }
}
