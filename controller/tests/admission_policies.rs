//! The ValidatingAdmissionPolicies in `policies/admission/` evaluated with the CEL engine
//! behind kube's `cel` feature (the `cel` crate plus kube-cel's Kubernetes function library)
//! against requests each policy must allow and requests it must deny.
//!
//! The API server's admission steps are reproduced here, in its order: `matchConstraints`
//! (resourceRules, objectSelector, namespaceSelector), `matchConditions`, `variables`
//! (bound as `variables.<name>`, evaluated in order), then `validations` and their
//! `messageExpression` (see <https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/>).
//!
//! Why not kube-cel's `VapEvaluator`: it converts every JSON object key with the CRD
//! property-name escaping (`app.kubernetes.io/managed-by` becomes
//! `app__dot__kubernetes__dot__io__slash__managed__dash__by`), which Kubernetes applies to
//! schema property names only, never to map keys such as labels; and it does not bind
//! `variables`. Both matter for policies that read labels, so the bindings are built here
//! from the same engine, as the API server builds them.
//!
//! Not reproduced: the API server's static type check and cost estimation of the
//! expressions (they run when the policy is created on a real cluster: `hack/e2e-kind.sh`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::core::cel::KubeCelExt;
use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::{Context, Program, Value as Cel};
use serde_json::{Value, json};
use tenant_operator::labels;

mod sample_tenant;

const OPERATOR: &str = "system:serviceaccount:tenant-operator:tenant-operator";
const TENANT_USER: &str = "oidc:mario.rossi@comune.bari.it";
const TENANT_GROUPS: &[&str] = &["comune-bari-admins", "system:authenticated"];

fn admission_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/admission")
}

/// A policy with its binding, as loaded from one file.
struct Policy {
    file: String,
    policy: Value,
    binding: Value,
}

fn load(file: &str) -> Policy {
    let path = admission_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let by_kind = |kind: &str| {
        let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "{file}: expected exactly one {kind}");
        found[0].clone()
    };
    Policy {
        file: file.to_string(),
        policy: by_kind("ValidatingAdmissionPolicy"),
        binding: by_kind("ValidatingAdmissionPolicyBinding"),
    }
}

fn policy_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(admission_dir())
        .expect("policies/admission exists")
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            std::path::Path::new(name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml"))
        })
        .collect();
    files.sort();
    files
}

/// One admission request, as the API server would present it to the policy.
#[derive(Clone)]
struct Request {
    operation: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    kind: &'static str,
    namespace: String,
    name: String,
    object: Option<Value>,
    old_object: Option<Value>,
    username: String,
    groups: Vec<String>,
    namespace_object: Option<Value>,
}

impl Request {
    fn new(
        operation: &'static str,
        group: &'static str,
        resource: &'static str,
        kind: &'static str,
    ) -> Self {
        Request {
            operation,
            group,
            resource,
            subresource: "",
            kind,
            namespace: String::new(),
            name: String::new(),
            object: None,
            old_object: None,
            username: TENANT_USER.to_string(),
            groups: TENANT_GROUPS
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            namespace_object: None,
        }
    }
    fn by(mut self, username: &str, groups: &[&str]) -> Self {
        self.username = username.to_string();
        self.groups = groups
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        self
    }
    fn object(mut self, object: Value) -> Self {
        self.name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.object = Some(object);
        self
    }
    fn old(mut self, object: Value) -> Self {
        self.name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.old_object = Some(object);
        self
    }
    fn in_namespace(mut self, namespace: Value) -> Self {
        self.namespace_object = Some(namespace);
        self
    }
    fn subresource(mut self, subresource: &'static str) -> Self {
        self.subresource = subresource;
        self
    }
}

#[derive(Debug, PartialEq)]
enum Decision {
    /// matchConstraints or matchConditions exclude the request: the policy does not apply.
    NotMatched,
    Allowed,
    Denied(Vec<String>),
}

fn labels_of(object: Option<&Value>) -> BTreeMap<String, String> {
    object
        .and_then(|o| o["metadata"]["labels"].as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A metav1.LabelSelector (matchLabels, matchExpressions) against a label set.
fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector["matchLabels"].as_object().into_iter().flatten();
    let labels_ok = match_labels
        .clone()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten();
    let expressions_ok = expressions.clone().all(|e| {
        let key = e["key"].as_str().unwrap_or_default();
        let values = strings(&e["values"]);
        match e["operator"].as_str() {
            Some("In") => labels
                .get(key)
                .is_some_and(|v| values.contains(&v.as_str())),
            Some("NotIn") => labels
                .get(key)
                .is_none_or(|v| !values.contains(&v.as_str())),
            Some("Exists") => labels.contains_key(key),
            Some("DoesNotExist") => !labels.contains_key(key),
            other => panic!("unsupported selector operator {other:?}"),
        }
    });
    labels_ok && expressions_ok
}

fn matches_constraints(constraints: &Value, request: &Request) -> bool {
    let resource = if request.subresource.is_empty() {
        request.resource.to_string()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    let rule_matches = constraints["resourceRules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            let any_or = |field: &str, value: &str| {
                strings(&rule[field])
                    .iter()
                    .any(|v| *v == "*" || *v == value)
            };
            any_or("apiGroups", request.group)
                && any_or("resources", &resource)
                && any_or("operations", request.operation)
        });
    if !rule_matches {
        return false;
    }
    // objectSelector: the new or the old object's labels (either matching is enough).
    if !constraints["objectSelector"].is_null() {
        let selector = &constraints["objectSelector"];
        let new = request
            .object
            .as_ref()
            .is_some_and(|o| selector_matches(selector, &labels_of(Some(o))));
        let old = request
            .old_object
            .as_ref()
            .is_some_and(|o| selector_matches(selector, &labels_of(Some(o))));
        if !new && !old {
            return false;
        }
    }
    // namespaceSelector: the labels of the request's namespace.
    if !constraints["namespaceSelector"].is_null() {
        let labels = labels_of(request.namespace_object.as_ref());
        if !selector_matches(&constraints["namespaceSelector"], &labels) {
            return false;
        }
    }
    true
}

/// The `request` variable as the API server binds it.
fn request_json(request: &Request) -> Value {
    json!({
        "operation": request.operation,
        "name": request.name,
        "namespace": request.namespace,
        "dryRun": false,
        "kind": { "group": request.group, "version": "v1", "kind": request.kind },
        "resource": { "group": request.group, "version": "v1", "resource": request.resource },
        "subResource": request.subresource,
        "userInfo": { "username": request.username, "uid": "", "groups": request.groups },
    })
}

/// A CEL context with Kubernetes' functions and the admission variables of `request`
/// (`object`, `oldObject`, `request`, `namespaceObject`, and the `variables` so far).
fn context(request: &Request, variables: &HashMap<Key, Cel>) -> Context<'static> {
    let to_cel =
        |value: &Value| kube::core::cel::cel::to_value(value).expect("JSON converts to CEL");
    let mut ctx = Context::default();
    ctx.register_all();
    ctx.add_variable_from_value("object", request.object.as_ref().map_or(Cel::Null, to_cel));
    ctx.add_variable_from_value(
        "oldObject",
        request.old_object.as_ref().map_or(Cel::Null, to_cel),
    );
    ctx.add_variable_from_value(
        "namespaceObject",
        request.namespace_object.as_ref().map_or(Cel::Null, to_cel),
    );
    ctx.add_variable_from_value("request", to_cel(&request_json(request)));
    ctx.add_variable_from_value(
        "variables",
        Cel::Map(Map {
            map: Arc::new(variables.clone()),
        }),
    );
    ctx
}

/// Evaluates one expression; compile and runtime errors are returned as text.
fn eval(file: &str, expression: &str, ctx: &Context<'static>) -> Result<Cel, String> {
    let program = Program::compile(expression)
        .map_err(|e| format!("{file}: does not compile: {expression}: {e}"))?;
    program
        .execute(ctx)
        .map_err(|e| format!("{file}: evaluation error in {expression}: {e}"))
}

fn eval_bool(file: &str, expression: &str, ctx: &Context<'static>) -> Result<bool, String> {
    match eval(file, expression, ctx)? {
        Cel::Bool(b) => Ok(b),
        other => Err(format!(
            "{file}: {expression} returned {other:?}, not a bool"
        )),
    }
}

fn admit(policy: &Policy, request: &Request) -> Decision {
    let file = policy.file.as_str();
    let spec = &policy.policy["spec"];
    assert_eq!(
        spec["failurePolicy"], "Fail",
        "{file}: policies fail closed"
    );
    if !matches_constraints(&spec["matchConstraints"], request) {
        return Decision::NotMatched;
    }
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or_default().to_string();
    let mut variables: HashMap<Key, Cel> = HashMap::new();
    for condition in spec["matchConditions"].as_array().into_iter().flatten() {
        // An error is decided by failurePolicy (Fail): deny. `false` skips the policy.
        match eval_bool(
            file,
            &text(condition, "expression"),
            &context(request, &variables),
        ) {
            Ok(true) => {}
            Ok(false) => return Decision::NotMatched,
            Err(e) => panic!("{e}"),
        }
    }
    for variable in spec["variables"].as_array().into_iter().flatten() {
        let value = eval(
            file,
            &text(variable, "expression"),
            &context(request, &variables),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        variables.insert(Key::String(Arc::new(text(variable, "name"))), value);
    }
    let ctx = context(request, &variables);
    let mut denied = Vec::new();
    for validation in spec["validations"].as_array().into_iter().flatten() {
        // Every expression must decide: an error would deny for the wrong reason.
        if !eval_bool(file, &text(validation, "expression"), &ctx).unwrap_or_else(|e| panic!("{e}"))
        {
            let message = match validation["messageExpression"].as_str() {
                Some(m) => match eval(file, m, &ctx).unwrap_or_else(|e| panic!("{e}")) {
                    Cel::String(s) => s.to_string(),
                    other => panic!("{file}: messageExpression returned {other:?}"),
                },
                None => text(validation, "message"),
            };
            denied.push(message);
        }
    }
    if denied.is_empty() {
        Decision::Allowed
    } else {
        Decision::Denied(denied)
    }
}

fn assert_denied(policy: &Policy, request: &Request, message_contains: &str) {
    match admit(policy, request) {
        Decision::Denied(messages) => assert!(
            messages.iter().any(|m| m.contains(message_contains)),
            "{}: denied, but no message contains {message_contains:?}: {messages:?}",
            policy.file
        ),
        other => panic!(
            "{}: expected a denial ({message_contains}), got {other:?}",
            policy.file
        ),
    }
}

// ----- objects ---------------------------------------------------------------------------

fn managed_labels(tenant: &str) -> Value {
    json!({ labels::MANAGED_BY_KEY: labels::MANAGED_BY_VALUE, labels::TENANT: tenant, labels::ENVIRONMENT: "prod" })
}

fn namespaced(kind: &str, api_version: &str, name: &str, namespace: &str, labels: Value) -> Value {
    json!({ "apiVersion": api_version, "kind": kind, "metadata": { "name": name, "namespace": namespace, "labels": labels } })
}

fn tenant_namespace(name: &str, tenant: &str, extra: &[(&str, &str)]) -> Value {
    let mut labels = managed_labels(tenant);
    labels[labels::NAMESPACE_NAME] = json!(name);
    labels[labels::POD_SECURITY_ENFORCE] = json!("restricted");
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": labels } })
}

fn plain_namespace(name: &str, extra: &[(&str, &str)]) -> Value {
    let mut labels = json!({ labels::NAMESPACE_NAME: name });
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": labels } })
}

fn with_label(mut object: Value, key: &str, value: Option<&str>) -> Value {
    match value {
        Some(v) => object["metadata"]["labels"][key] = json!(v),
        None => {
            if let Some(labels) = object["metadata"]["labels"].as_object_mut() {
                labels.remove(key);
            }
        }
    }
    object
}

fn service(namespace: &str, type_: Option<&str>) -> Value {
    let mut svc = namespaced("Service", "v1", "web", namespace, json!({"app": "web"}));
    svc["spec"] = json!({ "ports": [{ "port": 443 }] });
    if let Some(t) = type_ {
        svc["spec"]["type"] = json!(t);
    }
    svc
}

// ----- every policy ----------------------------------------------------------------------

#[test]
fn every_policy_file_explains_itself_and_is_bound_with_deny() {
    let files = policy_files();
    assert!(
        files.len() >= 3,
        "expected the admission policies in {}",
        admission_dir().display()
    );
    for file in files {
        let text = std::fs::read_to_string(admission_dir().join(&file)).expect("readable");
        assert!(
            text.starts_with("# What it protects:"),
            "{file} must begin with a comment saying what it protects and why"
        );
        assert!(text.contains("\n# Why:"), "{file} must say why");
        let p = load(&file);
        assert_eq!(
            p.binding["spec"]["policyName"], p.policy["metadata"]["name"],
            "{file}: binding names its policy"
        );
        assert_eq!(
            p.binding["spec"]["validationActions"],
            json!(["Deny"]),
            "{file}: binding denies"
        );
    }
}

#[test]
fn policies_use_the_label_keys_of_labels_rs() {
    let text = |f: &str| std::fs::read_to_string(admission_dir().join(f)).expect("readable");
    let managed = text("protect-managed-objects.yaml");
    assert!(managed.contains(&format!(
        "{}: {}",
        labels::MANAGED_BY_KEY,
        labels::MANAGED_BY_VALUE
    )));
    let namespaces = text("protect-tenant-namespaces.yaml");
    let prefix = labels::TENANT
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/"))
        .expect("prefixed label");
    for key in [
        labels::TENANT,
        labels::ENVIRONMENT,
        labels::CLASS,
        labels::ALLOW_LOAD_BALANCER,
        labels::ALLOW_NODE_PORT,
        labels::RETAINED,
    ] {
        assert!(
            key.starts_with(&prefix),
            "{key} is covered by the prefix rule of protect-tenant-namespaces.yaml"
        );
    }
    assert!(namespaces.contains(&format!("k.startsWith('{prefix}')")));
    let pod_security_prefix = labels::POD_SECURITY_ENFORCE
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/"))
        .expect("prefixed");
    assert!(namespaces.contains(&format!("k.startsWith('{pod_security_prefix}')")));
    let exposure = text("restrict-service-exposure.yaml");
    for key in [
        labels::TENANT,
        labels::ALLOW_LOAD_BALANCER,
        labels::ALLOW_NODE_PORT,
    ] {
        assert!(
            exposure.contains(key),
            "restrict-service-exposure.yaml selects on {key}"
        );
    }
}

// ----- protect-managed-objects -----------------------------------------------------------

#[test]
fn tenant_users_cannot_change_delete_or_forge_managed_objects() {
    let p = load("protect-managed-objects.yaml");
    let np = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "default-deny",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let delete_np = Request::new(
        "DELETE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np.clone());
    assert_denied(
        &p,
        &delete_np,
        "networkpolicies comune-bari-prod/default-deny is managed by tenant-operator",
    );

    let quota = namespaced(
        "ResourceQuota",
        "v1",
        "quota",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let mut raised = quota.clone();
    raised["spec"] = json!({ "hard": { "limits.cpu": "64" } });
    let raise = Request::new("UPDATE", "", "resourcequotas", "ResourceQuota")
        .old(quota.clone())
        .object(raised);
    assert_denied(
        &p,
        &raise,
        "resourcequotas comune-bari-prod/quota is managed",
    );

    // Removing the label to escape the policy is itself caught (the old object matches).
    let binding = namespaced(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        "tenant-admins",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let unlabel = Request::new(
        "UPDATE",
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
    )
    .old(binding.clone())
    .object(with_label(binding, labels::MANAGED_BY_KEY, None));
    assert_denied(&p, &unlabel, "is managed by tenant-operator");

    // Creating an object that claims to be managed (so that the operator would adopt it) is denied.
    let forged = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "allow-all",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let forge = Request::new(
        "CREATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .object(forged);
    assert_denied(
        &p,
        &forge,
        "CREATE by oidc:mario.rossi@comune.bari.it denied",
    );

    for (resource, kind) in [
        ("limitranges", "LimitRange"),
        ("secrets", "Secret"),
        ("configmaps", "ConfigMap"),
    ] {
        let object = namespaced(
            kind,
            "v1",
            "managed",
            "comune-bari-prod",
            managed_labels("comune-bari"),
        );
        assert_denied(
            &p,
            &Request::new("DELETE", "", resource, kind).old(object),
            "is managed by tenant-operator",
        );
    }
    let role = namespaced(
        "Role",
        "rbac.authorization.k8s.io/v1",
        "managed",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    assert_denied(
        &p,
        &Request::new("DELETE", "rbac.authorization.k8s.io", "roles", "Role").old(role),
        "is managed",
    );
}

#[test]
fn a_service_account_named_like_the_operator_elsewhere_is_not_the_operator() {
    let p = load("protect-managed-objects.yaml");
    let np = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "default-deny",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let impostor = Request::new(
        "DELETE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np)
    .by(
        "system:serviceaccount:comune-bari-prod:tenant-operator",
        &[
            "system:serviceaccounts",
            "system:serviceaccounts:comune-bari-prod",
        ],
    );
    assert_denied(&p, &impostor, "is managed by tenant-operator");
}

#[test]
fn the_operator_break_glass_admins_and_namespace_cleanup_may_write_managed_objects() {
    let p = load("protect-managed-objects.yaml");
    let np = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "default-deny",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let mut changed = np.clone();
    changed["spec"] = json!({ "podSelector": {} });
    let update = Request::new(
        "UPDATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np.clone())
    .object(changed);
    assert_eq!(
        admit(
            &p,
            &update.clone().by(OPERATOR, &["system:serviceaccounts"])
        ),
        Decision::NotMatched
    );
    assert_eq!(
        admit(
            &p,
            &update.clone().by(
                "kubernetes-admin",
                &["system:masters", "system:authenticated"]
            )
        ),
        Decision::NotMatched
    );

    let cleanup = Request::new(
        "DELETE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np);
    for controller in [
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:kube-controller-manager",
    ] {
        assert_eq!(
            admit(&p, &cleanup.clone().by(controller, &[])),
            Decision::NotMatched,
            "{controller}"
        );
    }
    // The garbage collector also patches ownerReferences when it orphans children...
    let mut orphaned = np_without_owner(&update);
    orphaned.username = "system:serviceaccount:kube-system:generic-garbage-collector".into();
    assert_eq!(admit(&p, &orphaned), Decision::NotMatched);
    // ...but the namespace controller only deletes: it may not edit managed objects.
    assert_denied(
        &p,
        &update.clone().by(
            "system:serviceaccount:kube-system:namespace-controller",
            &[],
        ),
        "is managed by tenant-operator",
    );
}

/// The UPDATE the garbage collector makes when it orphans an object: ownerReferences removed.
fn np_without_owner(update: &Request) -> Request {
    let mut old = update
        .old_object
        .clone()
        .expect("an update has an old object");
    old["metadata"]["ownerReferences"] = json!([{ "apiVersion": "tenancy.innova.puglia.it/v1alpha1", "kind": "TenantService", "name": "comune-bari", "uid": "1" }]);
    let mut new = old.clone();
    new["metadata"]["ownerReferences"] = json!([]);
    let mut request = update.clone();
    request.old_object = Some(old);
    request.object = Some(new);
    request
}

#[test]
fn objects_the_operator_does_not_manage_and_status_updates_are_not_touched() {
    let p = load("protect-managed-objects.yaml");
    let own = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "allow-frontend",
        "comune-bari-prod",
        json!({"app": "frontend"}),
    );
    assert_eq!(
        admit(
            &p,
            &Request::new(
                "CREATE",
                "networking.k8s.io",
                "networkpolicies",
                "NetworkPolicy"
            )
            .object(own.clone())
        ),
        Decision::NotMatched
    );
    assert_eq!(
        admit(
            &p,
            &Request::new(
                "DELETE",
                "networking.k8s.io",
                "networkpolicies",
                "NetworkPolicy"
            )
            .old(own)
        ),
        Decision::NotMatched
    );
    // The quota controller writes ResourceQuota status: a subresource the policy does not match.
    let quota = namespaced(
        "ResourceQuota",
        "v1",
        "quota",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let status = Request::new("UPDATE", "", "resourcequotas", "ResourceQuota")
        .subresource("status")
        .old(quota.clone())
        .object(quota)
        .by(
            "system:serviceaccount:kube-system:resourcequota-controller",
            &[],
        );
    assert_eq!(admit(&p, &status), Decision::NotMatched);
    // A workload kind the operator never creates.
    let deployment = namespaced(
        "Deployment",
        "apps/v1",
        "web",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    assert_eq!(
        admit(
            &p,
            &Request::new("DELETE", "apps", "deployments", "Deployment").old(deployment)
        ),
        Decision::NotMatched
    );
}

// ----- protect-tenant-namespaces ---------------------------------------------------------

#[test]
fn nobody_but_the_operator_creates_a_namespace_claiming_a_tenant() {
    let p = load("protect-tenant-namespaces.yaml");
    let claim = plain_namespace("bari-shadow", &[(labels::TENANT, "comune-bari")]);
    let create = Request::new("CREATE", "", "namespaces", "Namespace").object(claim);
    assert_denied(&p, &create, labels::TENANT);
    assert_denied(
        &p,
        &create.clone().by("ci-robot", &["platform-editors"]),
        "only tenant-operator may set",
    );
    // Claiming to be managed is the same forgery.
    let managed = plain_namespace(
        "sneaky",
        &[(labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE)],
    );
    assert_denied(
        &p,
        &Request::new("CREATE", "", "namespaces", "Namespace").object(managed),
        labels::MANAGED_BY_KEY,
    );
    // The operator and break-glass admins may.
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let by_operator = Request::new("CREATE", "", "namespaces", "Namespace")
        .object(tenant_ns)
        .by(OPERATOR, &["system:serviceaccounts"]);
    assert_eq!(admit(&p, &by_operator), Decision::NotMatched);
    assert_eq!(
        admit(&p, &by_operator.by("kubernetes-admin", &["system:masters"])),
        Decision::NotMatched
    );
}

#[test]
fn plain_namespaces_and_free_labels_stay_free() {
    let p = load("protect-tenant-namespaces.yaml");
    let ns = plain_namespace("team-sandbox", &[("team", "dati")]);
    assert_eq!(
        admit(
            &p,
            &Request::new("CREATE", "", "namespaces", "Namespace").object(ns.clone())
        ),
        Decision::Allowed
    );
    // Pod Security labels of namespaces the operator does not manage are not its business.
    let relabel = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(ns.clone())
        .object(with_label(
            ns.clone(),
            labels::POD_SECURITY_ENFORCE,
            Some("privileged"),
        ));
    assert_eq!(admit(&p, &relabel), Decision::Allowed);
    assert_eq!(
        admit(
            &p,
            &Request::new("DELETE", "", "namespaces", "Namespace").old(ns)
        ),
        Decision::Allowed
    );
    // A free label on a tenant namespace may change.
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let team = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(tenant_ns.clone())
        .object(with_label(tenant_ns, "team", Some("servizi-demografici")));
    assert_eq!(admit(&p, &team), Decision::Allowed);
}

#[test]
fn tenancy_labels_of_namespaces_cannot_be_changed_by_hand() {
    let p = load("protect-tenant-namespaces.yaml");
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let update = |new: Value| {
        Request::new("UPDATE", "", "namespaces", "Namespace")
            .old(tenant_ns.clone())
            .object(new)
    };
    // Moving a namespace to another tenant.
    assert_denied(
        &p,
        &update(with_label(
            tenant_ns.clone(),
            labels::TENANT,
            Some("asl-ba"),
        )),
        labels::TENANT,
    );
    // Removing the tenant label.
    assert_denied(
        &p,
        &update(with_label(tenant_ns.clone(), labels::TENANT, None)),
        labels::TENANT,
    );
    // Granting itself what only its class may grant.
    assert_denied(
        &p,
        &update(with_label(
            tenant_ns.clone(),
            labels::ALLOW_LOAD_BALANCER,
            Some("true"),
        )),
        labels::ALLOW_LOAD_BALANCER,
    );
    // Lowering Pod Security on a managed namespace.
    assert_denied(
        &p,
        &update(with_label(
            tenant_ns.clone(),
            labels::POD_SECURITY_ENFORCE,
            Some("privileged"),
        )),
        labels::POD_SECURITY_ENFORCE,
    );
    // Claiming a tenant on an existing plain namespace.
    let plain = plain_namespace("legacy", &[]);
    let claim = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(plain.clone())
        .object(with_label(plain, labels::TENANT, Some("comune-bari")));
    assert_denied(&p, &claim, labels::TENANT);
    // The operator may relabel.
    let by_operator = update(with_label(
        tenant_ns.clone(),
        labels::ALLOW_LOAD_BALANCER,
        Some("true"),
    ))
    .by(OPERATOR, &[]);
    assert_eq!(admit(&p, &by_operator), Decision::NotMatched);
}

#[test]
fn managed_namespaces_are_deleted_only_by_the_operator() {
    let p = load("protect-tenant-namespaces.yaml");
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let delete = Request::new("DELETE", "", "namespaces", "Namespace").old(tenant_ns);
    assert_denied(
        &p,
        &delete,
        "namespace comune-bari-prod is managed by tenant-operator",
    );
    assert_eq!(
        admit(&p, &delete.clone().by(OPERATOR, &[])),
        Decision::NotMatched
    );
    assert_eq!(
        admit(
            &p,
            &delete.clone().by("kubernetes-admin", &["system:masters"])
        ),
        Decision::NotMatched
    );
    // Under deletionPolicy: Delete the garbage collector deletes namespaces owned by the
    // deleted TenantService; it may not relabel them.
    let gc = "system:serviceaccount:kube-system:generic-garbage-collector";
    assert_eq!(admit(&p, &delete.by(gc, &[])), Decision::NotMatched);
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let relabel = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(tenant_ns.clone())
        .object(with_label(tenant_ns, labels::TENANT, Some("asl-ba")))
        .by(gc, &[]);
    assert_denied(&p, &relabel, labels::TENANT);
}

// ----- restrict-service-exposure ---------------------------------------------------------

#[test]
fn tenant_namespaces_get_no_load_balancer_or_node_port_unless_their_class_allows_it() {
    let p = load("restrict-service-exposure.yaml");
    let plain = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let create = |svc: Value, ns: &Value| {
        Request::new("CREATE", "", "services", "Service")
            .object(svc)
            .in_namespace(ns.clone())
    };

    assert_denied(
        &p,
        &create(service("comune-bari-prod", Some("LoadBalancer")), &plain),
        "type LoadBalancer is not allowed",
    );
    assert_denied(
        &p,
        &create(service("comune-bari-prod", Some("NodePort")), &plain),
        "type NodePort is not allowed",
    );
    assert_eq!(
        admit(
            &p,
            &create(service("comune-bari-prod", Some("ClusterIP")), &plain)
        ),
        Decision::Allowed
    );
    assert_eq!(
        admit(&p, &create(service("comune-bari-prod", None), &plain)),
        Decision::Allowed
    );

    let lb = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::ALLOW_LOAD_BALANCER, "true")],
    );
    assert_eq!(
        admit(
            &p,
            &create(service("comune-bari-prod", Some("LoadBalancer")), &lb)
        ),
        Decision::Allowed
    );
    // Each permission is separate.
    assert_denied(
        &p,
        &create(service("comune-bari-prod", Some("NodePort")), &lb),
        "type NodePort is not allowed",
    );
    let np = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::ALLOW_NODE_PORT, "true")],
    );
    assert_eq!(
        admit(
            &p,
            &create(service("comune-bari-prod", Some("NodePort")), &np)
        ),
        Decision::Allowed
    );
    // Only the exact value "true" allows.
    let no = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::ALLOW_LOAD_BALANCER, "false")],
    );
    assert_denied(
        &p,
        &create(service("comune-bari-prod", Some("LoadBalancer")), &no),
        "type LoadBalancer is not allowed",
    );

    // Changing an existing Service's type is an UPDATE and is checked the same way.
    let update = Request::new("UPDATE", "", "services", "Service")
        .old(service("comune-bari-prod", Some("ClusterIP")))
        .object(service("comune-bari-prod", Some("LoadBalancer")))
        .in_namespace(plain.clone());
    assert_denied(&p, &update, "type LoadBalancer is not allowed");
    // No identity is exempt: the class decides.
    assert_denied(
        &p,
        &update.by(OPERATOR, &["system:masters"]),
        "type LoadBalancer is not allowed",
    );
}

#[test]
fn external_ips_are_refused_in_tenant_namespaces() {
    let p = load("restrict-service-exposure.yaml");
    let lb = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::ALLOW_LOAD_BALANCER, "true")],
    );
    let mut svc = service("comune-bari-prod", Some("ClusterIP"));
    svc["spec"]["externalIPs"] = json!(["198.51.100.7"]);
    let create = Request::new("CREATE", "", "services", "Service")
        .object(svc)
        .in_namespace(lb);
    assert_denied(&p, &create, "spec.externalIPs is not allowed");
}

#[test]
fn namespaces_outside_tenancy_are_not_restricted() {
    let p = load("restrict-service-exposure.yaml");
    let gateway = plain_namespace(labels::INGRESS_GATEWAY_NAMESPACE, &[]);
    let create = Request::new("CREATE", "", "services", "Service")
        .object(service(
            labels::INGRESS_GATEWAY_NAMESPACE,
            Some("LoadBalancer"),
        ))
        .in_namespace(gateway);
    assert_eq!(admit(&p, &create), Decision::NotMatched);
}

// ----- what render produces is what the policies protect -----------------------------

/// (apiGroup, resource, kind) of a kind the operator creates.
fn resource_of(kind: &str) -> (&'static str, &'static str, &'static str) {
    const KINDS: [(&str, &str, &str); 9] = [
        ("", "namespaces", "Namespace"),
        ("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
        ("", "resourcequotas", "ResourceQuota"),
        ("", "limitranges", "LimitRange"),
        ("rbac.authorization.k8s.io", "roles", "Role"),
        ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
        ("", "serviceaccounts", "ServiceAccount"),
        ("", "secrets", "Secret"),
        ("", "configmaps", "ConfigMap"),
    ];
    KINDS.into_iter().find(|(_, _, k)| *k == kind).unwrap_or_else(|| {
        panic!("render produced {kind}, which no admission policy protects: add it to protect-managed-objects.yaml")
    })
}

#[test]
fn every_object_render_produces_is_protected_from_tenant_users() {
    let managed = load("protect-managed-objects.yaml");
    let namespaces = load("protect-tenant-namespaces.yaml");
    let (objects, _) = sample_tenant::rendered();
    assert!(
        objects.len() > 5,
        "the sample renders namespaces, policies, quotas, bindings"
    );
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (group, resource, kind_name) = resource_of(&kind);
        let policy = if kind == "Namespace" {
            &namespaces
        } else {
            &managed
        };
        let delete = Request::new("DELETE", group, resource, kind_name).old(object.clone());
        assert!(
            matches!(admit(policy, &delete), Decision::Denied(_)),
            "{kind} {name}: a tenant user's DELETE must be denied by {}",
            policy.file
        );
        let update = Request::new("UPDATE", group, resource, kind_name)
            .old(object.clone())
            .object(object.clone())
            .by(OPERATOR, &["system:serviceaccounts"]);
        assert_eq!(
            admit(policy, &update),
            Decision::NotMatched,
            "{kind} {name}: the operator applies it"
        );
    }
}

#[test]
fn the_tls_secrets_the_operator_issues_are_protected() {
    let managed = load("protect-managed-objects.yaml");
    let (_, secret_labels) = sample_tenant::rendered();
    assert!(
        !secret_labels.is_empty(),
        "the sample has hostnames, so certificates"
    );
    for labels in secret_labels {
        let secret = namespaced("Secret", "v1", "tls", "comune-molfetta-prod", json!(labels));
        let delete = Request::new("DELETE", "", "secrets", "Secret").old(secret);
        assert_denied(&managed, &delete, "is managed by tenant-operator");
    }
}

#[test]
fn rendered_namespaces_carry_what_the_exposure_policy_reads() {
    let exposure = load("restrict-service-exposure.yaml");
    let (objects, _) = sample_tenant::rendered();
    let rendered_namespaces: Vec<Value> = objects
        .into_iter()
        .filter(|o| o["kind"] == "Namespace")
        .collect();
    assert_eq!(rendered_namespaces.len(), 2, "prod and test");
    for ns in rendered_namespaces {
        let name = ns["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // The standard class allows neither load balancers nor node ports.
        let lb = Request::new("CREATE", "", "services", "Service")
            .object(service(&name, Some("LoadBalancer")))
            .in_namespace(ns.clone());
        assert_denied(&exposure, &lb, "type LoadBalancer is not allowed");
        let cluster_ip = Request::new("CREATE", "", "services", "Service")
            .object(service(&name, Some("ClusterIP")))
            .in_namespace(ns);
        assert_eq!(admit(&exposure, &cluster_ip), Decision::Allowed);
    }
}
