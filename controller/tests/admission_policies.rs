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
/// A member of the tenant's edit group (`access.editGroups`).
const TENANT_EDITOR: &str = "oidc:luca.bianchi@comune.bari.it";
const TENANT_EDITOR_GROUPS: &[&str] = &["comune-bari-sviluppatori", "system:authenticated"];
/// A CI robot whose group is (mistakenly) bound to the built-in `edit`/`admin` roles
/// cluster-wide: RBAC lets it write every namespaced kind everywhere.
const CLUSTER_EDITOR: &str = "system:serviceaccount:ci:deploy-robot";
const CLUSTER_EDITOR_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:ci",
    "platform-editors",
];
const NAMESPACE_CONTROLLER: &str = "system:serviceaccount:kube-system:namespace-controller";
const GARBAGE_COLLECTOR: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
const BREAK_GLASS: (&str, &[&str]) = ("kubernetes-admin", &["system:masters"]);

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
    /// Other objects the server holds (e.g. the CRD of a kind it then serves).
    served: Vec<Value>,
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
            served: Vec::new(),
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
    fn serving(mut self, object: Value) -> Self {
        self.served.push(object);
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
        } else if request.group == tenant_operator::api::GROUP {
            tenant_operator::api::API_VERSION.to_string()
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
    // Our own kinds are served as the CRDs define them.
    for crd in tenant_operator::api::crd::crds() {
        let crd = serde_json::to_value(&crd).expect("a CRD is JSON");
        review
            .serve_crd(&crd)
            .unwrap_or_else(|e| panic!("{file}: CRD: {e}"));
    }
    for object in [&policy.policy, &policy.binding]
        .into_iter()
        .chain(&request.served)
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

/// A namespace as the API server stores it once its deletion started.
fn terminating(mut namespace: Value) -> Value {
    namespace["metadata"]["deletionTimestamp"] = json!("2026-12-02T23:00:00Z");
    namespace["status"] = json!({ "phase": "Terminating" });
    namespace
}

fn with_annotation(mut object: Value, key: &str, value: Option<&str>) -> Value {
    match value {
        Some(v) => object["metadata"]["annotations"][key] = json!(v),
        None => {
            if let Some(a) = object["metadata"]["annotations"].as_object_mut() {
                a.remove(key);
            }
        }
    }
    object
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
        labels::TENANT_UID,
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

    // The namespace controller empties a namespace being deleted...
    let cleanup = Request::new(
        "DELETE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np.clone());
    let terminating = terminating(tenant_namespace("comune-bari-prod", "comune-bari", &[]));
    for controller in [NAMESPACE_CONTROLLER, "system:kube-controller-manager"] {
        assert_eq!(
            admit(
                &p,
                &cleanup
                    .clone()
                    .in_namespace(terminating.clone())
                    .by(controller, &[])
            ),
            Decision::NotMatched,
            "{controller}"
        );
    }
    // ...and only such a namespace: in a live one its identity is nobody special.
    let live = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    assert_denied(
        &p,
        &cleanup
            .clone()
            .in_namespace(live.clone())
            .by(NAMESPACE_CONTROLLER, &[]),
        "is managed by tenant-operator",
    );
    // It only deletes: it may not edit managed objects, terminating namespace or not.
    assert_denied(
        &p,
        &update
            .clone()
            .in_namespace(terminating)
            .by(NAMESPACE_CONTROLLER, &[]),
        "is managed by tenant-operator",
    );
    // The garbage collector is not exempt (the operator sets no ownerReferences): an
    // ownerReference added by someone else cannot get a managed object collected...
    assert_denied(
        &p,
        &cleanup.in_namespace(live).by(GARBAGE_COLLECTOR, &[]),
        "is managed by tenant-operator",
    );
    // ...nor may it edit ownerReferences of managed objects.
    let mut orphaned = np_without_owner(&update);
    orphaned.username = GARBAGE_COLLECTOR.into();
    assert_denied(&p, &orphaned, "is managed by tenant-operator");
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
    // The quota controller writes ResourceQuota status: matched (for label changes), admitted.
    let quota = namespaced(
        "ResourceQuota",
        "v1",
        "quota",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let mut used = quota.clone();
    used["status"] = json!({ "used": { "pods": "3" } });
    let status = Request::new("UPDATE", "", "resourcequotas", "ResourceQuota")
        .subresource("status")
        .old(quota.clone())
        .object(used)
        .by(
            "system:serviceaccount:kube-system:resourcequota-controller",
            &[],
        );
    assert_eq!(admit(&p, &status), Decision::Allowed);
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
    // Forging another tenant's identity (its UID, which consenting tenants' NetworkPolicies
    // select on) is the same forgery, alone or with the tenant label.
    for forged in [
        vec![(labels::TENANT_UID, "0b7e9a52-1111-4222-8333-444455556666")],
        vec![
            (labels::TENANT, "comune-bari"),
            (labels::TENANT_UID, "0b7e9a52-1111-4222-8333-444455556666"),
            (labels::MANAGED_BY_KEY, labels::MANAGED_BY_VALUE),
            (labels::ENVIRONMENT, "prod"),
        ],
    ] {
        let create = Request::new("CREATE", "", "namespaces", "Namespace")
            .object(plain_namespace("bari-shadow", &forged));
        assert_denied(&p, &create, labels::TENANT_UID);
        assert_denied(
            &p,
            &create.by("ns-automation", &["platform-automation"]),
            labels::TENANT_UID,
        );
    }
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
    // Giving the namespace another tenant's UID (a tenant of the same name created again:
    // the namespace would be let into the consents given to it).
    assert_denied(
        &p,
        &update(with_label(
            tenant_ns.clone(),
            labels::TENANT_UID,
            Some("22222222-2222-4222-8222-222222222222"),
        )),
        labels::TENANT_UID,
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
    // The garbage collector is not exempt: the operator sets no ownerReferences, so a
    // collected managed namespace would be one someone else gave an owner.
    let gc = GARBAGE_COLLECTOR;
    assert_denied(
        &p,
        &delete.by(gc, &[]),
        "namespace comune-bari-prod is managed by tenant-operator",
    );
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

// ----- restrict-isolation-writes ---------------------------------------------------------

/// A NetworkPolicy that lets every pod of the namespace receive from and send to anywhere:
/// added beside default deny, it undoes it (NetworkPolicies are additive).
fn allow_all(namespace: &str) -> Value {
    let mut np = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "allow-all",
        namespace,
        json!({}),
    );
    np["spec"] = json!({ "podSelector": {}, "ingress": [{}], "egress": [{}],
        "policyTypes": ["Ingress", "Egress"] });
    np
}

/// (apiGroup, resource, kind, apiVersion) of each kind only the operator writes in
/// tenant namespaces.
const ISOLATION_KINDS: [(&str, &str, &str, &str); 5] = [
    (
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
        "networking.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io",
        "roles",
        "Role",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
    ),
    ("", "resourcequotas", "ResourceQuota", "v1"),
    ("", "limitranges", "LimitRange", "v1"),
];

#[test]
fn nobody_but_the_operator_adds_changes_or_removes_isolation_objects_in_tenant_namespaces() {
    let p = load("restrict-isolation-writes.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    // The attack of issue 10: an allow-all NetworkPolicy beside default deny, by the
    // tenant's own admin, its editor and a mis-bound cluster-wide editor.
    let add = Request::new(
        "CREATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .object(allow_all("comune-bari-prod"))
    .in_namespace(ns.clone());
    for (user, groups) in [
        (TENANT_USER, TENANT_GROUPS),
        (TENANT_EDITOR, TENANT_EDITOR_GROUPS),
        (CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
    ] {
        assert_denied(
            &p,
            &add.clone().by(user, groups),
            &format!(
                "networkpolicies comune-bari-prod/allow-all: namespace comune-bari-prod is a tenant namespace; its NetworkPolicies, Roles, RoleBindings, ResourceQuotas and LimitRanges are written only by tenant-operator from the TenantService (operation CREATE by {user} denied)"
            ),
        );
    }
    // Every kind, every operation, whatever labels the object carries.
    for (group, resource, kind, api_version) in ISOLATION_KINDS {
        let object = namespaced(
            kind,
            api_version,
            "extra",
            "comune-bari-prod",
            json!({"team": "ci"}),
        );
        for request in [
            Request::new("CREATE", group, resource, kind).object(object.clone()),
            Request::new("UPDATE", group, resource, kind)
                .old(object.clone())
                .object(object.clone()),
            Request::new("DELETE", group, resource, kind).old(object.clone()),
        ] {
            assert_denied(
                &p,
                &request
                    .in_namespace(ns.clone())
                    .by(CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
                "is a tenant namespace",
            );
        }
    }
    // A RoleBinding granting the built-in admin role to an outsider: the RBAC escalation
    // check would let a tenant admin do it; the policy does not.
    let mut grant = namespaced(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        "friend",
        "comune-bari-prod",
        json!({}),
    );
    grant["roleRef"] =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"});
    grant["subjects"] =
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone"}]);
    assert_denied(
        &p,
        &Request::new(
            "CREATE",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "RoleBinding",
        )
        .object(grant)
        .in_namespace(ns),
        "rolebindings comune-bari-prod/friend",
    );
}

#[test]
fn tenant_work_beside_the_isolation_objects_and_other_namespaces_are_not_restricted() {
    let p = load("restrict-isolation-writes.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    // The tenant's legitimate work: deploy, scale, a Secret, a ConfigMap, an Ingress, a Service.
    let mut deployment = namespaced(
        "Deployment",
        "apps/v1",
        "web",
        "comune-bari-prod",
        json!({"app": "web"}),
    );
    deployment["spec"] = json!({"replicas": 2});
    let mut scaled = deployment.clone();
    scaled["spec"]["replicas"] = json!(5);
    for request in [
        Request::new("CREATE", "apps", "deployments", "Deployment").object(deployment.clone()),
        Request::new("UPDATE", "apps", "deployments", "Deployment")
            .old(deployment)
            .object(scaled),
        Request::new("CREATE", "", "secrets", "Secret").object(namespaced(
            "Secret",
            "v1",
            "db",
            "comune-bari-prod",
            json!({}),
        )),
        Request::new("CREATE", "", "configmaps", "ConfigMap").object(namespaced(
            "ConfigMap",
            "v1",
            "settings",
            "comune-bari-prod",
            json!({}),
        )),
        Request::new("CREATE", "networking.k8s.io", "ingresses", "Ingress").object(namespaced(
            "Ingress",
            "networking.k8s.io/v1",
            "web",
            "comune-bari-prod",
            json!({}),
        )),
        Request::new("CREATE", "", "services", "Service").object(service("comune-bari-prod", None)),
    ] {
        assert_eq!(
            admit(
                &p,
                &request
                    .in_namespace(ns.clone())
                    .by(TENANT_EDITOR, TENANT_EDITOR_GROUPS)
            ),
            Decision::NotMatched
        );
    }
    // The same NetworkPolicy in a namespace outside tenancy is its owners' business.
    let plain = plain_namespace("team-sandbox", &[]);
    let elsewhere = Request::new(
        "CREATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .object(allow_all("team-sandbox"))
    .in_namespace(plain)
    .by(CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS);
    assert_eq!(admit(&p, &elsewhere), Decision::NotMatched);
    // Retained namespaces are no longer managed: their owners take over.
    let retained = with_label(
        tenant_namespace(
            "comune-bari-old",
            "comune-bari",
            &[(labels::RETAINED, "true")],
        ),
        labels::MANAGED_BY_KEY,
        None,
    );
    let in_retained = Request::new(
        "CREATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .object(allow_all("comune-bari-old"))
    .in_namespace(retained);
    assert_eq!(admit(&p, &in_retained), Decision::NotMatched);
}

#[test]
fn the_operator_break_glass_and_namespace_cleanup_write_isolation_objects() {
    let p = load("restrict-isolation-writes.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let np = namespaced(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "default-deny",
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let create = Request::new(
        "CREATE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .object(np.clone())
    .in_namespace(ns.clone());
    assert_eq!(
        admit(
            &p,
            &create.clone().by(OPERATOR, &["system:serviceaccounts"])
        ),
        Decision::NotMatched
    );
    assert_eq!(
        admit(&p, &create.by(BREAK_GLASS.0, BREAK_GLASS.1)),
        Decision::NotMatched
    );
    let delete = Request::new(
        "DELETE",
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
    )
    .old(np);
    assert_eq!(
        admit(
            &p,
            &delete
                .clone()
                .in_namespace(terminating(ns.clone()))
                .by(NAMESPACE_CONTROLLER, &[])
        ),
        Decision::NotMatched
    );
    assert_denied(
        &p,
        &delete
            .clone()
            .in_namespace(ns.clone())
            .by(NAMESPACE_CONTROLLER, &[]),
        "is a tenant namespace",
    );
    assert_denied(
        &p,
        &delete.in_namespace(ns).by(GARBAGE_COLLECTOR, &[]),
        "is a tenant namespace",
    );
}

// ----- protect-managed-objects: quota status ---------------------------------------------

#[test]
fn status_writes_cannot_strip_the_managed_label_of_a_quota() {
    let p = load("protect-managed-objects.yaml");
    let quota = namespaced(
        "ResourceQuota",
        "v1",
        labels::MANAGED_BY_VALUE,
        "comune-bari-prod",
        managed_labels("comune-bari"),
    );
    let stripped = with_label(quota.clone(), labels::MANAGED_BY_KEY, None);
    let strip = Request::new("UPDATE", "", "resourcequotas", "ResourceQuota")
        .subresource("status")
        .old(quota.clone())
        .object(stripped);
    for (user, groups) in [
        (TENANT_USER, TENANT_GROUPS),
        (CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
        (
            "system:serviceaccount:kube-system:resourcequota-controller",
            &[][..],
        ),
    ] {
        assert_denied(
            &p,
            &strip.clone().by(user, groups),
            "labels of an object managed by tenant-operator cannot change through its status",
        );
    }
    // Relabelling to another tenant through status is the same.
    let moved = with_label(quota.clone(), labels::TENANT, Some("asl-ba"));
    assert_denied(
        &p,
        &Request::new("UPDATE", "", "resourcequotas", "ResourceQuota")
            .subresource("status")
            .old(quota)
            .object(moved),
        "cannot change through its status",
    );
    // The operator may.
    assert_eq!(admit(&p, &strip.by(OPERATOR, &[])), Decision::NotMatched);
}

// ----- protect-tenant-namespaces: subresources, annotations, owners -----------------------

#[test]
fn namespace_status_and_finalize_cannot_carry_tenancy_label_changes() {
    let p = load("protect-tenant-namespaces.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    for subresource in ["status", "finalize"] {
        let request = Request::new("UPDATE", "", "namespaces", "Namespace")
            .subresource(subresource)
            .old(ns.clone());
        assert_denied(
            &p,
            &request
                .clone()
                .object(with_label(ns.clone(), labels::TENANT, Some("asl-ba"))),
            labels::TENANT,
        );
        assert_denied(
            &p,
            &request.clone().object(with_label(
                ns.clone(),
                labels::POD_SECURITY_ENFORCE,
                Some("privileged"),
            )),
            labels::POD_SECURITY_ENFORCE,
        );
        assert_denied(
            &p,
            &request.object(with_label(ns.clone(), labels::MANAGED_BY_KEY, None)),
            labels::MANAGED_BY_KEY,
        );
    }
    // The namespace controller's own writes pass: spec.finalizers through finalize,
    // conditions through status.
    let mut with_finalizer = terminating(ns.clone());
    with_finalizer["spec"] = json!({"finalizers": ["kubernetes"]});
    let mut finalized = with_finalizer.clone();
    finalized["spec"]["finalizers"] = json!([]);
    let finalize = Request::new("UPDATE", "", "namespaces", "Namespace")
        .subresource("finalize")
        .old(with_finalizer.clone())
        .object(finalized)
        .by(NAMESPACE_CONTROLLER, &[]);
    assert_eq!(admit(&p, &finalize), Decision::Allowed);
    let mut conditions = with_finalizer.clone();
    conditions["status"]["conditions"] =
        json!([{"type": "NamespaceContentRemaining", "status": "False"}]);
    let status = Request::new("UPDATE", "", "namespaces", "Namespace")
        .subresource("status")
        .old(with_finalizer)
        .object(conditions)
        .by(NAMESPACE_CONTROLLER, &[]);
    assert_eq!(admit(&p, &status), Decision::Allowed);
}

#[test]
fn owner_references_and_finalizers_of_managed_namespaces_are_the_operators() {
    let p = load("protect-tenant-namespaces.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let mut owned = ns.clone();
    owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap",
        "name": "bait", "uid": "7f1c9a52-0000-4000-8000-000000000001"}]);
    let mut held = ns.clone();
    held["metadata"]["finalizers"] = json!(["example.com/never"]);
    for (user, groups) in [
        (TENANT_USER, TENANT_GROUPS),
        (CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
        (GARBAGE_COLLECTOR, &[][..]),
    ] {
        for changed in [&owned, &held] {
            let request = Request::new("UPDATE", "", "namespaces", "Namespace")
                .old(ns.clone())
                .object(changed.clone())
                .by(user, groups);
            assert_denied(
                &p,
                &request,
                "only the operator may change its metadata.ownerReferences or metadata.finalizers",
            );
        }
        // Removing them is a change too.
        let request = Request::new("UPDATE", "", "namespaces", "Namespace")
            .old(owned.clone())
            .object(ns.clone())
            .by(user, groups);
        assert_denied(&p, &request, "metadata.ownerReferences");
    }
    // The operator may; on namespaces outside tenancy they are free.
    let by_operator = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(ns)
        .object(owned)
        .by(OPERATOR, &[]);
    assert_eq!(admit(&p, &by_operator), Decision::NotMatched);
    let plain = plain_namespace("team-sandbox", &[]);
    let mut plain_owned = plain.clone();
    plain_owned["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let free = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(plain)
        .object(plain_owned)
        .by(CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS);
    assert_eq!(admit(&p, &free), Decision::Allowed);
}

#[test]
fn tenancy_annotations_of_namespaces_are_written_only_by_the_operator() {
    let p = load("protect-tenant-namespaces.yaml");
    let ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let update = |new: Value| {
        Request::new("UPDATE", "", "namespaces", "Namespace")
            .old(ns.clone())
            .object(new)
            .by(CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS)
    };
    for key in [
        "tenancy.innova.puglia.it/ingress-hosts",
        "tenancy.innova.puglia.it/display-name",
        "scheduler.alpha.kubernetes.io/node-selector",
        "scheduler.alpha.kubernetes.io/defaultTolerations",
    ] {
        assert_denied(
            &p,
            &update(with_annotation(ns.clone(), key, Some("x"))),
            &format!("may set, change or remove the annotations {key}"),
        );
    }
    // Forging the operator's annotations on a new namespace is refused too.
    let forged = with_annotation(
        plain_namespace("bari-shadow", &[]),
        "tenancy.innova.puglia.it/ingress-hosts",
        Some("www.comune.bari.it"),
    );
    assert_denied(
        &p,
        &Request::new("CREATE", "", "namespaces", "Namespace").object(forged),
        "tenancy.innova.puglia.it/ingress-hosts",
    );
    // Other annotations stay free, and scheduling defaults of namespaces outside tenancy too.
    assert_eq!(
        admit(
            &p,
            &update(with_annotation(
                ns.clone(),
                "owner",
                Some("servizi-demografici")
            ))
        ),
        Decision::Allowed
    );
    let plain = plain_namespace("team-sandbox", &[]);
    let scheduling = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(plain.clone())
        .object(with_annotation(
            plain,
            "scheduler.alpha.kubernetes.io/node-selector",
            Some("pool=batch"),
        ));
    assert_eq!(admit(&p, &scheduling), Decision::Allowed);
    // The operator writes them.
    assert_eq!(
        admit(
            &p,
            &update(with_annotation(
                ns.clone(),
                "tenancy.innova.puglia.it/ingress-hosts",
                Some("www.comune.bari.it")
            ))
            .by(OPERATOR, &[])
        ),
        Decision::NotMatched
    );
}

// ----- confine-operator ------------------------------------------------------------------

const OPERATOR_NAMESPACE: &str = "tenant-operator";

#[test]
fn the_operator_writes_only_in_namespaces_it_manages_and_its_own() {
    let p = load("confine-operator.yaml");
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let kube_system = plain_namespace("kube-system", &[]);
    let own = plain_namespace(OPERATOR_NAMESPACE, &[]);
    let default = plain_namespace("default", &[]);
    let secret = |ns: &str| namespaced("Secret", "v1", "tls", ns, managed_labels("comune-bari"));
    let write = |request: Request, ns: &Value| {
        admit(
            &p,
            &request
                .in_namespace(ns.clone())
                .by(OPERATOR, &["system:serviceaccounts"]),
        )
    };
    // Its work: children in tenant namespaces, its lease and CA in its own, Events in default.
    assert_eq!(
        write(
            Request::new("CREATE", "", "secrets", "Secret").object(secret("comune-bari-prod")),
            &tenant_ns
        ),
        Decision::Allowed
    );
    assert_eq!(
        write(
            Request::new(
                "DELETE",
                "networking.k8s.io",
                "networkpolicies",
                "NetworkPolicy"
            )
            .old(allow_all("comune-bari-prod")),
            &tenant_ns
        ),
        Decision::Allowed
    );
    let lease = namespaced(
        "Lease",
        "coordination.k8s.io/v1",
        "tenant-operator",
        OPERATOR_NAMESPACE,
        json!({}),
    );
    assert_eq!(
        write(
            Request::new("UPDATE", "coordination.k8s.io", "leases", "Lease")
                .old(lease.clone())
                .object(lease),
            &own
        ),
        Decision::Allowed
    );
    assert_eq!(
        write(
            Request::new("CREATE", "", "secrets", "Secret").object(secret(OPERATOR_NAMESPACE)),
            &own
        ),
        Decision::Allowed
    );
    let event = namespaced(
        "Event",
        "events.k8s.io/v1",
        "comune-bari.1",
        "default",
        json!({}),
    );
    assert_eq!(
        write(
            Request::new("CREATE", "events.k8s.io", "events", "Event").object(event),
            &default
        ),
        Decision::Allowed
    );
    // The attacks of a compromised operator: Secrets, RoleBindings and NetworkPolicies
    // outside tenancy, Events anywhere else.
    assert_denied(
        &p,
        &Request::new("CREATE", "", "secrets", "Secret")
            .object(secret("kube-system"))
            .in_namespace(kube_system.clone())
            .by(OPERATOR, &[]),
        "tenant-operator may write only in the namespaces it manages and in its own (tenant-operator): CREATE of secrets kube-system/tls denied",
    );
    let mut binding = namespaced(
        "RoleBinding",
        "rbac.authorization.k8s.io/v1",
        "tenant-admins",
        "kube-system",
        managed_labels("comune-bari"),
    );
    binding["roleRef"] = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
        "name": "tenant-operator:tenant-admin"});
    assert_denied(
        &p,
        &Request::new(
            "CREATE",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "RoleBinding",
        )
        .object(binding)
        .in_namespace(kube_system.clone())
        .by(OPERATOR, &[]),
        "CREATE of rolebindings kube-system/tenant-admins denied",
    );
    assert_denied(
        &p,
        &Request::new(
            "DELETE",
            "networking.k8s.io",
            "networkpolicies",
            "NetworkPolicy",
        )
        .old(allow_all("default"))
        .in_namespace(default)
        .by(OPERATOR, &[]),
        "DELETE of networkpolicies default/allow-all denied",
    );
    let stray_event = namespaced("Event", "events.k8s.io/v1", "x.1", "kube-system", json!({}));
    assert_denied(
        &p,
        &Request::new("CREATE", "events.k8s.io", "events", "Event")
            .object(stray_event)
            .in_namespace(kube_system)
            .by(OPERATOR, &[]),
        "may write only in the namespaces it manages",
    );
    // A retained namespace (detached, no longer managed) is out of its reach too.
    let retained = with_label(
        tenant_namespace(
            "comune-bari-old",
            "comune-bari",
            &[(labels::RETAINED, "true")],
        ),
        labels::MANAGED_BY_KEY,
        None,
    );
    assert_denied(
        &p,
        &Request::new("CREATE", "", "secrets", "Secret")
            .object(secret("comune-bari-old"))
            .in_namespace(retained)
            .by(OPERATOR, &[]),
        "CREATE of secrets comune-bari-old/tls denied",
    );
}

#[test]
fn the_operator_creates_changes_and_deletes_only_namespaces_it_manages() {
    let p = load("confine-operator.yaml");
    let tenant_ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let kube_system = plain_namespace("kube-system", &[]);
    let by_operator = |r: Request| r.by(OPERATOR, &["system:serviceaccounts"]);
    let ns_request = |op: &'static str| Request::new(op, "", "namespaces", "Namespace");
    assert_eq!(
        admit(
            &p,
            &by_operator(ns_request("CREATE").object(tenant_ns.clone()))
        ),
        Decision::Allowed
    );
    let mut relabelled = tenant_ns.clone();
    relabelled["metadata"]["labels"][labels::CLASS] = json!("large");
    assert_eq!(
        admit(
            &p,
            &by_operator(
                ns_request("UPDATE")
                    .old(tenant_ns.clone())
                    .object(relabelled)
            )
        ),
        Decision::Allowed
    );
    // Detaching (deletionPolicy Retain) removes the managed-by label: the old object is managed.
    let detached = with_label(tenant_ns.clone(), labels::MANAGED_BY_KEY, None);
    assert_eq!(
        admit(
            &p,
            &by_operator(ns_request("UPDATE").old(tenant_ns.clone()).object(detached))
        ),
        Decision::Allowed
    );
    assert_eq!(
        admit(&p, &by_operator(ns_request("DELETE").old(tenant_ns))),
        Decision::Allowed
    );
    // Taking over kube-system by labelling it, deleting it, or creating an unmanaged namespace.
    let claimed = with_label(
        kube_system.clone(),
        labels::MANAGED_BY_KEY,
        Some(labels::MANAGED_BY_VALUE),
    );
    assert_denied(
        &p,
        &by_operator(
            ns_request("UPDATE")
                .old(kube_system.clone())
                .object(claimed),
        ),
        "UPDATE of namespace kube-system denied",
    );
    assert_denied(
        &p,
        &by_operator(ns_request("DELETE").old(kube_system)),
        "DELETE of namespace kube-system denied",
    );
    assert_denied(
        &p,
        &by_operator(ns_request("CREATE").object(plain_namespace("payments", &[]))),
        "CREATE of namespace payments denied",
    );
}

/// `namespace` with the hand-over annotation naming `tenant`.
fn handed_over(mut namespace: Value, tenant: &str) -> Value {
    namespace["metadata"]["annotations"] = json!({ labels::HAND_OVER_TO: tenant });
    namespace
}

#[test]
fn a_namespace_handed_over_by_an_administrator_is_within_reach_and_the_operator_cannot_hand_one_over()
 {
    let p = load("confine-operator.yaml");
    let by_operator = |r: Request| r.by(OPERATOR, &["system:serviceaccounts"]);
    let ns_request = |op: &'static str| Request::new(op, "", "namespaces", "Namespace");
    let retained = with_label(
        tenant_namespace(
            "agenzia-sanita-prod",
            "agenzia",
            &[(labels::RETAINED, "true")],
        ),
        labels::MANAGED_BY_KEY,
        None,
    );
    let annotated = handed_over(retained.clone(), "agenzia-sanita");
    // Deleting what it managed there for the previous tenant, then taking it over.
    assert_eq!(
        admit(
            &p,
            &by_operator(
                Request::new(
                    "DELETE",
                    "networking.k8s.io",
                    "networkpolicies",
                    "NetworkPolicy"
                )
                .old(allow_all("agenzia-sanita-prod"))
                .in_namespace(annotated.clone())
            )
        ),
        Decision::Allowed
    );
    let mut taken = tenant_namespace("agenzia-sanita-prod", "agenzia-sanita", &[]);
    taken["metadata"]["annotations"] = json!({});
    assert_eq!(
        admit(
            &p,
            &by_operator(ns_request("UPDATE").old(annotated.clone()).object(taken))
        ),
        Decision::Allowed
    );
    // Not deleting it, and never annotating one itself: not a retained namespace, not
    // kube-system, not at creation.
    assert_denied(
        &p,
        &by_operator(ns_request("DELETE").old(annotated)),
        "DELETE of namespace agenzia-sanita-prod denied",
    );
    assert_denied(
        &p,
        &by_operator(
            ns_request("UPDATE")
                .old(retained.clone())
                .object(handed_over(retained, "agenzia-sanita")),
        ),
        "may not hand a namespace over itself",
    );
    let kube_system = plain_namespace("kube-system", &[]);
    assert_denied(
        &p,
        &by_operator(
            ns_request("UPDATE")
                .old(kube_system.clone())
                .object(handed_over(kube_system, "kube")),
        ),
        "may not hand a namespace over itself",
    );
    assert_denied(
        &p,
        &by_operator(ns_request("CREATE").object(handed_over(
            tenant_namespace("payments-prod", "payments", &[]),
            "payments",
        ))),
        "may not hand a namespace over itself",
    );
}

#[test]
fn only_a_break_glass_administrator_hands_a_namespace_over() {
    let p = load("protect-tenant-namespaces.yaml");
    let retained = with_label(
        tenant_namespace(
            "agenzia-sanita-prod",
            "agenzia",
            &[(labels::RETAINED, "true")],
        ),
        labels::MANAGED_BY_KEY,
        None,
    );
    let request = Request::new("UPDATE", "", "namespaces", "Namespace")
        .old(retained.clone())
        .object(handed_over(retained, "agenzia-sanita"));
    // A tenant admin of the newcomer (even with RBAC to update namespaces) is refused...
    assert_denied(
        &p,
        &request.clone().by(TENANT_USER, TENANT_GROUPS),
        labels::HAND_OVER_TO,
    );
    // ... a cluster administrator in system:masters is not subject to the policy.
    assert_eq!(
        admit(&p, &request.by(BREAK_GLASS.0, BREAK_GLASS.1)),
        Decision::NotMatched
    );
}

#[test]
fn the_operator_confinement_applies_to_the_operator_only() {
    let p = load("confine-operator.yaml");
    let kube_system = plain_namespace("kube-system", &[]);
    let create = Request::new("CREATE", "", "secrets", "Secret")
        .object(namespaced("Secret", "v1", "x", "kube-system", json!({})))
        .in_namespace(kube_system);
    assert_eq!(
        admit(&p, &create.clone().by(BREAK_GLASS.0, BREAK_GLASS.1)),
        Decision::NotMatched
    );
    // A ServiceAccount of the same name in another namespace is someone else.
    assert_eq!(
        admit(
            &p,
            &create.by(
                "system:serviceaccount:comune-bari-prod:tenant-operator",
                &[]
            )
        ),
        Decision::NotMatched
    );
}

// ----- restrict-service-exposure: ExternalName -------------------------------------------

#[test]
fn external_name_services_are_refused_in_tenant_namespaces_unless_the_class_allows_them() {
    let p = load("restrict-service-exposure.yaml");
    let plain = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let mut alias = service("comune-bari-prod", Some("ExternalName"));
    // The confused deputy: the gateway follows the alias to another tenant's Service.
    alias["spec"]["externalName"] = json!("db.asl-bari-prod.svc.cluster.local");
    let create = |ns: &Value| {
        Request::new("CREATE", "", "services", "Service")
            .object(alias.clone())
            .in_namespace(ns.clone())
    };
    for (user, groups) in [
        (TENANT_EDITOR, TENANT_EDITOR_GROUPS),
        (CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
    ] {
        assert_denied(
            &p,
            &create(&plain).by(user, groups),
            "type ExternalName is not allowed by the TenantClass of this namespace",
        );
    }
    let allowing = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::ALLOW_EXTERNAL_NAME, "true")],
    );
    assert_eq!(admit(&p, &create(&allowing)), Decision::Allowed);
    // Turning a ClusterIP Service into an alias is the same request.
    let update = Request::new("UPDATE", "", "services", "Service")
        .old(service("comune-bari-prod", None))
        .object(alias.clone())
        .in_namespace(plain);
    assert_denied(&p, &update, "type ExternalName is not allowed");
}

// ----- protect-domain-delegations --------------------------------------------------------

const DATACENTER_OPERATORS: &str = "innovapuglia:datacenter-operators";

fn delegation(domains: &[&str]) -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "DomainDelegation",
        "metadata": {"name": "comune-bari"},
        "spec": {"ipaCode": "c_a662", "domains": domains}
    })
}

fn delegation_request(operation: &'static str) -> Request {
    let request = Request::new(
        operation,
        "tenancy.innova.puglia.it",
        "domaindelegations",
        "DomainDelegation",
    );
    match operation {
        "CREATE" => request.object(delegation(&["comune.bari.it"])),
        "UPDATE" => request
            .old(delegation(&["comune.bari.it"]))
            .object(delegation(&["comune.bari.it", "regione.puglia.it"])),
        _ => request.old(delegation(&["comune.bari.it"])),
    }
}

#[test]
fn only_datacenter_operators_write_domain_delegations() {
    let p = load("protect-domain-delegations.yaml");
    for operation in ["CREATE", "UPDATE", "DELETE"] {
        let request = delegation_request(operation);
        // A tenant's admin, the operator itself, and a GitOps ServiceAccount are refused,
        // whatever RBAC they were given.
        assert_denied(&p, &request, "only datacenter operators may");
        assert_denied(
            &p,
            &request.clone().by(OPERATOR, &["system:serviceaccounts"]),
            "policies/delegations/",
        );
        assert_denied(
            &p,
            &request.clone().by(
                "system:serviceaccount:argocd:argocd-application-controller",
                &["system:serviceaccounts", "system:authenticated"],
            ),
            &format!("{} domain delegations", operation.to_lowercase()),
        );
        // A datacenter operator may; break-glass is not matched at all.
        assert_eq!(
            admit(
                &p,
                &request.clone().by(
                    "oidc:ops@innovapuglia.it",
                    &[DATACENTER_OPERATORS, "system:authenticated"]
                )
            ),
            Decision::Allowed,
            "{operation}"
        );
        assert_eq!(
            admit(&p, &request.clone().by("admin", &["system:masters"])),
            Decision::NotMatched,
            "{operation}"
        );
    }
}

// ----- protect-tenant-status -------------------------------------------------------------

/// A TenantService whose consent to `regione-puglia` is recorded as bound to `uid`.
fn tenant_with_binding(uid: &str) -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": "comune-bari", "uid": "0b7e9a52-1111-4222-8333-444455556666"},
        "spec": {"network": {"allowFrom": [{"tenant": "regione-puglia"}]}},
        "status": {"phase": "Ready", "consentedPeers": [{"tenant": "regione-puglia", "uid": uid}]}
    })
}

#[test]
fn only_the_operator_writes_the_status_of_a_tenant() {
    let p = load("protect-tenant-status.yaml");
    // Re-binding a consent to a re-created tenant, or clearing the record so that the next
    // tenant of that name is bound on first sight.
    let rebind = Request::new(
        "UPDATE",
        "tenancy.innova.puglia.it",
        "tenantservices",
        "TenantService",
    )
    .subresource("status")
    .old(tenant_with_binding("11111111-1111-4111-8111-111111111111"))
    .object(tenant_with_binding("22222222-2222-4222-8222-222222222222"));
    let mut cleared_object = tenant_with_binding("11111111-1111-4111-8111-111111111111");
    cleared_object["status"]["consentedPeers"] = json!([]);
    let clear = rebind.clone().object(cleared_object);
    for request in [&rebind, &clear] {
        // A tenant's admin, a cluster-wide editor, and a GitOps ServiceAccount given
        // RBAC on tenantservices/status are refused.
        assert_denied(&p, request, "only tenant-operator writes the status");
        assert_denied(
            &p,
            &request.clone().by(CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
            CLUSTER_EDITOR,
        );
        assert_denied(
            &p,
            &request.clone().by(
                "system:serviceaccount:argocd:argocd-application-controller",
                &["system:serviceaccounts", "system:authenticated"],
            ),
            "only tenant-operator writes the status",
        );
        // The operator and break-glass are not matched.
        assert_eq!(
            admit(
                &p,
                &request.clone().by(OPERATOR, &["system:serviceaccounts"])
            ),
            Decision::NotMatched
        );
        assert_eq!(
            admit(&p, &request.clone().by(BREAK_GLASS.0, BREAK_GLASS.1)),
            Decision::NotMatched
        );
    }
    // Writes of the object itself are RBAC's and the pipeline's business (the API server
    // drops their status).
    let spec_edit = Request::new(
        "UPDATE",
        "tenancy.innova.puglia.it",
        "tenantservices",
        "TenantService",
    )
    .old(tenant_with_binding("11111111-1111-4111-8111-111111111111"))
    .object(tenant_with_binding("11111111-1111-4111-8111-111111111111"));
    assert_eq!(admit(&p, &spec_edit), Decision::NotMatched);
}

// ----- restrict-ingress ------------------------------------------------------------------

/// A tenant namespace as render writes it: the hostnames of the environment and the
/// IngressClasses of the class in the operator's annotations.
fn namespace_with_hosts(hosts: &str, classes: &str) -> Value {
    let mut ns = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    ns["metadata"]["annotations"] = json!({
        labels::INGRESS_HOSTS_ANNOTATION: hosts,
        labels::INGRESS_CLASSES_ANNOTATION: classes,
    });
    ns
}

fn ingress(hosts: &[&str]) -> Value {
    let mut ing = namespaced(
        "Ingress",
        "networking.k8s.io/v1",
        "web",
        "comune-bari-prod",
        json!({"app": "web"}),
    );
    let backend = json!({"service": {"name": "web", "port": {"number": 443}}});
    ing["spec"] = json!({
        "ingressClassName": "regional-gateway",
        "rules": hosts.iter().map(|h| json!({"host": h, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend}]}})).collect::<Vec<_>>(),
        "tls": [{"hosts": hosts, "secretName": "comune-bari-tls"}],
    });
    ing
}

fn create_ingress(object: Value, ns: &Value) -> Request {
    Request::new("CREATE", "networking.k8s.io", "ingresses", "Ingress")
        .object(object)
        .in_namespace(ns.clone())
        .by(TENANT_EDITOR, TENANT_EDITOR_GROUPS)
}

#[test]
fn an_ingress_for_the_environments_own_hostnames_is_admitted() {
    let p = load("restrict-ingress.yaml");
    let ns = namespace_with_hosts(
        "servizi.comune.bari.it,www.comune.bari.it",
        "regional-gateway",
    );
    for hosts in [
        &["www.comune.bari.it"][..],
        &["www.comune.bari.it", "servizi.comune.bari.it"][..],
    ] {
        assert_eq!(
            admit(&p, &create_ingress(ingress(hosts), &ns)),
            Decision::Allowed,
            "{hosts:?}"
        );
    }
    // An update that keeps to them too.
    let mut moved = ingress(&["www.comune.bari.it"]);
    moved["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/portale");
    let update = Request::new("UPDATE", "networking.k8s.io", "ingresses", "Ingress")
        .old(ingress(&["www.comune.bari.it"]))
        .object(moved)
        .in_namespace(ns);
    assert_eq!(admit(&p, &update), Decision::Allowed);
}

#[test]
fn ingresses_for_other_hosts_wildcards_or_every_host_are_refused() {
    let p = load("restrict-ingress.yaml");
    let ns = namespace_with_hosts("www.comune.bari.it", "regional-gateway");
    // Another body's hostname, by the tenant's editor and by a mis-bound cluster editor.
    let other = create_ingress(ingress(&["www.asl.bari.it"]), &ns);
    for (user, groups) in [
        (TENANT_EDITOR, TENANT_EDITOR_GROUPS),
        (CLUSTER_EDITOR, CLUSTER_EDITOR_GROUPS),
        (BREAK_GLASS.0, BREAK_GLASS.1),
    ] {
        assert_denied(
            &p,
            &other.clone().by(user, groups),
            "ingresses comune-bari-prod/web: hosts www.asl.bari.it are not among the hostnames of this environment (www.comune.bari.it)",
        );
    }
    assert_denied(
        &p,
        &create_ingress(ingress(&["*.comune.bari.it"]), &ns),
        "hosts *.comune.bari.it are not among",
    );
    // A rule without host matches every host.
    let mut hostless = ingress(&["www.comune.bari.it"]);
    hostless["spec"]["rules"][0]
        .as_object_mut()
        .expect("rule")
        .remove("host");
    assert_denied(
        &p,
        &create_ingress(hostless, &ns),
        "hosts (none: every host) are not among",
    );
    // A TLS entry for someone else's name (SNI) is the same claim.
    let mut sni = ingress(&["www.comune.bari.it"]);
    sni["spec"]["tls"][0]["hosts"] = json!(["www.comune.bari.it", "pagamenti.regione.puglia.it"]);
    assert_denied(
        &p,
        &create_ingress(sni, &ns),
        "hosts pagamenti.regione.puglia.it are not among",
    );
    // A default backend without rules catches every host.
    let mut catch_all = ingress(&[]);
    catch_all["spec"] = json!({"ingressClassName": "regional-gateway",
        "defaultBackend": {"service": {"name": "web", "port": {"number": 443}}}});
    assert_denied(
        &p,
        &create_ingress(catch_all, &ns),
        "an Ingress without rules (a default backend alone) catches every host",
    );
    // A tenant without hostnames may publish nothing.
    let none = namespace_with_hosts("", "regional-gateway");
    assert_denied(
        &p,
        &create_ingress(ingress(&["www.comune.bari.it"]), &none),
        "not among the hostnames of this environment (none)",
    );
}

#[test]
fn ingresses_name_an_allowed_class_and_carry_no_gateway_configuration() {
    let p = load("restrict-ingress.yaml");
    let ns = namespace_with_hosts("www.comune.bari.it", "regional-gateway");
    let mut other_class = ingress(&["www.comune.bari.it"]);
    other_class["spec"]["ingressClassName"] = json!("nginx-internal");
    assert_denied(
        &p,
        &create_ingress(other_class, &ns),
        "ingressClassName nginx-internal is not allowed by the TenantClass; use one of: regional-gateway",
    );
    let mut no_class = ingress(&["www.comune.bari.it"]);
    no_class["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("ingressClassName");
    assert_denied(
        &p,
        &create_ingress(no_class, &ns),
        "ingressClassName (none)",
    );
    let mut legacy = ingress(&["www.comune.bari.it"]);
    legacy["metadata"]["annotations"] = json!({"kubernetes.io/ingress.class": "nginx-internal"});
    assert_denied(
        &p,
        &create_ingress(legacy, &ns),
        "(annotation kubernetes.io/ingress.class nginx-internal)",
    );
    for key in [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "nginx.ingress.kubernetes.io/server-snippet",
        "nginx.ingress.kubernetes.io/auth-snippet",
        "nginx.ingress.kubernetes.io/auth-url",
    ] {
        let mut configured = ingress(&["www.comune.bari.it"]);
        configured["metadata"]["annotations"] = json!({key: "proxy_pass http://10.0.0.1;"});
        assert_denied(
            &p,
            &create_ingress(configured, &ns),
            &format!("the annotations {key} run configuration inside the shared ingress gateway"),
        );
    }
    // Other ingress-nginx annotations are the tenant's business.
    let mut tuned = ingress(&["www.comune.bari.it"]);
    tuned["metadata"]["annotations"] =
        json!({"nginx.ingress.kubernetes.io/proxy-body-size": "20m"});
    assert_eq!(admit(&p, &create_ingress(tuned, &ns)), Decision::Allowed);
    // Outside tenancy the policy does not apply.
    let gateway = plain_namespace(labels::INGRESS_GATEWAY_NAMESPACE, &[]);
    let mut anything = ingress(&["*.example.it"]);
    anything["metadata"]["namespace"] = json!(labels::INGRESS_GATEWAY_NAMESPACE);
    assert_eq!(
        admit(
            &p,
            &Request::new("CREATE", "networking.k8s.io", "ingresses", "Ingress")
                .object(anything)
                .in_namespace(gateway)
        ),
        Decision::NotMatched
    );
}

/// The Gateway API HTTPRoute CRD, enough for the server to serve the kind.
fn httproute_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "httproutes.gateway.networking.k8s.io"},
        "spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
            "names": {"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute", "listKind": "HTTPRouteList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

#[test]
fn gateway_api_routes_name_only_the_environments_hostnames() {
    let p = load("restrict-ingress.yaml");
    let ns = namespace_with_hosts("www.comune.bari.it", "regional-gateway");
    let route = |hostnames: Option<Value>| {
        let mut r = namespaced(
            "HTTPRoute",
            "gateway.networking.k8s.io/v1",
            "web",
            "comune-bari-prod",
            json!({}),
        );
        r["spec"] = json!({"parentRefs": [{"name": "regional", "namespace": "ingress-gateway"}]});
        if let Some(h) = hostnames {
            r["spec"]["hostnames"] = h;
        }
        Request::new(
            "CREATE",
            "gateway.networking.k8s.io",
            "httproutes",
            "HTTPRoute",
        )
        .object(r)
        .serving(httproute_crd())
        .in_namespace(ns.clone())
    };
    assert_eq!(
        admit(&p, &route(Some(json!(["www.comune.bari.it"])))),
        Decision::Allowed
    );
    assert_denied(
        &p,
        &route(Some(json!(["www.asl.bari.it"]))),
        "httproutes comune-bari-prod/web: hosts www.asl.bari.it are not among",
    );
    assert_denied(
        &p,
        &route(Some(json!(["*.comune.bari.it"]))),
        "hosts *.comune.bari.it",
    );
    assert_denied(
        &p,
        &route(None),
        "a route without spec.hostnames takes every host of its Gateway",
    );
}

// ----- restrict-pod-placement ------------------------------------------------------------

const POOL_KEY: &str = labels::NODE_POOL_NODE_LABEL;

fn pod(spec_extra: Value) -> Value {
    let mut p = namespaced(
        "Pod",
        "v1",
        "web-7d9f",
        "comune-bari-prod",
        json!({"app": "web"}),
    );
    p["spec"] = json!({"containers": [{"name": "web", "image": "registry.example/web:1"}],
        // Added by kube-apiserver's DefaultTolerationSeconds plugin before validation.
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]});
    if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    p
}

fn pool_toleration(pool: &str) -> Value {
    json!({"key": POOL_KEY, "operator": "Equal", "value": pool, "effect": "NoSchedule"})
}

/// The pod created by the ReplicaSet controller for the tenant's Deployment.
fn create_pod(pod: Value, ns: &Value) -> Request {
    Request::new("CREATE", "", "pods", "Pod")
        .object(pod)
        .in_namespace(ns.clone())
        .by(
            "system:serviceaccount:kube-system:replicaset-controller",
            &["system:serviceaccounts"],
        )
}

#[test]
fn ordinary_pods_on_shared_nodes_are_admitted() {
    let p = load("restrict-pod-placement.yaml");
    let shared = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    assert_eq!(
        admit(&p, &create_pod(pod(json!({})), &shared)),
        Decision::Allowed
    );
    let topology = pod(json!({"nodeSelector": {"kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": "bari-1"}}));
    assert_eq!(admit(&p, &create_pod(topology, &shared)), Decision::Allowed);
    // A label change of a running pod (scheduled: nodeName set by the binding) passes.
    let mut running = pod(json!({"nodeName": "worker-3"}));
    let old = running.clone();
    running["metadata"]["labels"]["version"] = json!("2");
    let relabel = Request::new("UPDATE", "", "pods", "Pod")
        .old(old)
        .object(running)
        .in_namespace(shared);
    assert_eq!(admit(&p, &relabel), Decision::Allowed);
}

#[test]
fn pods_cannot_pick_their_node_tolerate_every_taint_or_select_other_nodes() {
    let p = load("restrict-pod-placement.yaml");
    let shared = tenant_namespace("comune-bari-prod", "comune-bari", &[]);
    let as_tenant = |pod: Value| create_pod(pod, &shared).by(TENANT_USER, TENANT_GROUPS);
    assert_denied(
        &p,
        &as_tenant(pod(json!({"nodeName": "control-plane-1"}))),
        "pod comune-bari-prod/web-7d9f: spec.nodeName is set by the scheduler, not by tenants",
    );
    let mut everything = pod(json!({}));
    everything["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
    assert_denied(
        &p,
        &as_tenant(everything),
        "tolerations (every key) are not allowed in this namespace",
    );
    let mut control_plane =
        pod(json!({"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}}));
    control_plane["spec"]["tolerations"] = json!([{"key": "node-role.kubernetes.io/control-plane",
        "operator": "Exists", "effect": "NoSchedule"}]);
    assert_denied(
        &p,
        &as_tenant(control_plane.clone()),
        "tolerations node-role.kubernetes.io/control-plane:NoSchedule are not allowed",
    );
    assert_denied(
        &p,
        &as_tenant(control_plane),
        "nodeSelector node-role.kubernetes.io/control-plane is not allowed",
    );
    // Another tenant's pool: by selector, by toleration, by required affinity.
    let mut health = pod(json!({"nodeSelector": {POOL_KEY: "sanita"}}));
    health["spec"]["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(pool_toleration("sanita"));
    assert_denied(
        &p,
        &as_tenant(health),
        &format!("tolerations {POOL_KEY}=sanita:NoSchedule are not allowed"),
    );
    let affinity = pod(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": POOL_KEY, "operator": "In", "values": ["sanita"]}]}]}}}}),
    );
    assert_denied(
        &p,
        &as_tenant(affinity),
        "the required node affinity is not allowed",
    );
    let by_name = pod(
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["control-plane-1"]}]}]}}}}),
    );
    assert_denied(
        &p,
        &as_tenant(by_name),
        "the required node affinity is not allowed",
    );
    // Binding a running pod elsewhere by UPDATE is refused too.
    let scheduled = pod(json!({"nodeName": "worker-3"}));
    let moved = Request::new("UPDATE", "", "pods", "Pod")
        .old(scheduled)
        .object(pod(json!({"nodeName": "control-plane-1"})))
        .in_namespace(shared);
    assert_denied(&p, &moved, "spec.nodeName is set by the scheduler");
}

#[test]
fn pods_of_a_pool_namespace_run_on_the_pool_and_only_there() {
    let p = load("restrict-pod-placement.yaml");
    let pool_ns = tenant_namespace(
        "comune-bari-prod",
        "comune-bari",
        &[(labels::NODE_POOL, "sanita")],
    );
    // What PodNodeSelector and PodTolerationRestriction add from the namespace defaults
    // (or what the tenant writes where the cluster does not run them).
    let mut placed = pod(json!({"nodeSelector": {POOL_KEY: "sanita"}}));
    placed["spec"]["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(pool_toleration("sanita"));
    assert_eq!(admit(&p, &create_pod(placed, &pool_ns)), Decision::Allowed);
    // Without the selector the pod would land on shared nodes.
    assert_denied(
        &p,
        &create_pod(pod(json!({})), &pool_ns),
        &format!(
            "the TenantClass places this namespace on node pool sanita; add nodeSelector {POOL_KEY}: sanita"
        ),
    );
    // Selecting another pool is refused.
    let mut elsewhere = pod(json!({"nodeSelector": {POOL_KEY: "strategico"}}));
    elsewhere["spec"]["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(pool_toleration("strategico"));
    assert_denied(
        &p,
        &create_pod(elsewhere, &pool_ns),
        &format!(
            "tolerations {POOL_KEY}=strategico:NoSchedule are not allowed in this namespace; tolerate {POOL_KEY}=sanita:NoSchedule"
        ),
    );
}

#[test]
fn rendered_namespaces_carry_what_the_ingress_and_placement_policies_read() {
    let ingress_policy = load("restrict-ingress.yaml");
    let placement = load("restrict-pod-placement.yaml");
    let (objects, _) = sample_tenant::rendered();
    let prod = objects
        .iter()
        .find(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == "comune-molfetta-prod")
        .expect("the prod namespace")
        .clone();
    let mut own = ingress(&["servizi.comune.molfetta.ba.it"]);
    own["metadata"]["namespace"] = json!("comune-molfetta-prod");
    assert_eq!(
        admit(&ingress_policy, &create_ingress(own, &prod)),
        Decision::Allowed,
        "the tenant's own hostname, as render publishes it"
    );
    let mut test_name = ingress(&["test.servizi.comune.molfetta.ba.it"]);
    test_name["metadata"]["namespace"] = json!("comune-molfetta-prod");
    assert_denied(
        &ingress_policy,
        &create_ingress(test_name, &prod),
        "hosts test.servizi.comune.molfetta.ba.it are not among",
    );
    let mut web = pod(json!({}));
    web["metadata"]["namespace"] = json!("comune-molfetta-prod");
    assert_eq!(
        admit(&placement, &create_pod(web, &prod)),
        Decision::Allowed
    );
}
