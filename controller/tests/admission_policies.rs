//! The ValidatingAdmissionPolicies in `policies/admission/` against requests each policy
//! must allow and requests it must deny, evaluated by the in-memory API server's admission
//! (`fake_apiserver::PolicyReview`): the same evaluator that `tenant-operator dev` and the
//! integration tests run on every write, following kube-apiserver's steps and order
//! (`matchConstraints`, the binding, `matchConditions`, lazily evaluated `variables`,
//! `validations` with `messageExpression`). Requests here come from users the tests
//! could not impersonate and objects in states a server would not reach, so they are
//! reviewed without being sent.
//!
//! Not reproduced: the API server's static type check and cost estimation of the
//! expressions (they run when the policy is created on a real cluster: `hack/e2e-kind.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fake_apiserver::identity::UserInfo;
use fake_apiserver::{Operation, PolicyReview, ReviewRequest};
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
    /// matchConstraints, the binding or matchConditions exclude the request: the policy
    /// does not apply.
    NotMatched,
    Allowed,
    Denied(Vec<String>),
}

/// The request as the server's admission sees it.
fn review_request(request: &Request) -> ReviewRequest {
    let operation = match request.operation {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        other => panic!("unknown operation {other}"),
    };
    ReviewRequest {
        operation,
        api_version: if request.group.is_empty() {
            "v1".to_string()
        } else {
            format!("{}/v1", request.group)
        },
        resource: request.resource.to_string(),
        subresource: request.subresource.to_string(),
        name: request.name.clone(),
        namespace: request.namespace.clone(),
        object: request.object.clone(),
        old_object: request.old_object.clone(),
        user: UserInfo {
            username: request.username.clone(),
            uid: String::new(),
            groups: request.groups.clone(),
            extra: BTreeMap::new(),
        },
    }
}

fn admit(policy: &Policy, request: &Request) -> Decision {
    let file = policy.file.as_str();
    assert_eq!(
        policy.policy["spec"]["failurePolicy"], "Fail",
        "{file}: policies fail closed"
    );
    assert_eq!(
        request.kind,
        request
            .object
            .as_ref()
            .or(request.old_object.as_ref())
            .map_or(request.kind, |o| o["kind"].as_str().unwrap_or(request.kind)),
        "{file}: the request's kind is its object's"
    );
    let mut review = PolicyReview::new();
    for object in [&policy.policy, &policy.binding]
        .into_iter()
        .chain(request.namespace_object.as_ref())
    {
        review.add(object).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let decided = review
        .review(&review_request(request))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    // Every expression must decide: an error would deny for the wrong reason.
    for r in &decided {
        assert!(
            r.errors.is_empty(),
            "{file}: evaluation errors: {:?}",
            r.errors
        );
    }
    // Each pair listed matched the request; no failed validation means admitted.
    if decided.is_empty() {
        return Decision::NotMatched;
    }
    let denied: Vec<String> = decided.into_iter().flat_map(|r| r.failed).collect();
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
