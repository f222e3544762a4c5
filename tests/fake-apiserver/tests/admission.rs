//! Admission conformance (SPEC.md §11): ValidatingAdmissionPolicy, Pod Security and
//! ResourceQuota, each with a request that is allowed and one that is refused, driven
//! through `kube::Api` as the operator and tests drive the server, plus raw requests
//! where a `Warning` header is the behaviour.

mod common;

use std::time::Duration;

use axum::http::{Method, Request, StatusCode};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};

/// A request's status, `Warning` headers and body.
async fn send(
    client: &kube::Client,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Vec<String>, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .expect("request builds");
    let resp = client.send(req).await.expect("request is sent");
    let status = resp.status();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, warnings, body)
}

/// The `message` of a refusal returned by kube::Api.
fn refusal(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn create_ns(client: &kube::Client, name: &str, labels: Value) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

async fn apply_raw(client: &kube::Client, path: &str, body: Value) {
    let (code, _, out) = send(client, Method::POST, path, body).await;
    assert_eq!(code, StatusCode::CREATED, "{out}");
}

const VAP: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const VAPB: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";

fn binding(name: &str, policy: &str, actions: &[&str], extra: Value) -> Value {
    let mut b = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name}, "spec": {"policyName": policy, "validationActions": actions}});
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            b["spec"][k] = v.clone();
        }
    }
    b
}

/// A policy on ConfigMaps: no data key named `forbidden`, read through a variable.
fn no_forbidden_key() -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "no-forbidden-key"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}]},
            "variables": [{"name": "keys", "expression": "has(object.data) ? object.data : {}"}],
            "validations": [{"expression": "!('forbidden' in variables.keys)", "reason": "Forbidden",
                "messageExpression": "'configmap ' + object.metadata.name + ' carries the key forbidden'"}],
            "auditAnnotations": [{"key": "keys", "valueExpression": "string(size(variables.keys))"}]}})
}

fn cm(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).unwrap()
}

#[tokio::test]
async fn a01_policy_deny_warn_and_audit() {
    let s = server().await;
    let c = s.client();
    apply_raw(&c, VAP, no_forbidden_key()).await;
    apply_raw(
        &c,
        VAPB,
        binding("deny-it", "no-forbidden-key", &["Deny"], json!({})),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    // Allowed: no such key.
    cms.create(&PostParams::default(), &cm("fine", json!({"a": "1"})))
        .await
        .expect("a ConfigMap without the key is admitted");
    // Refused with the upstream wording, code of the validation's reason.
    let (code, reason, message) = refusal(
        cms.create(
            &PostParams::default(),
            &cm("bad", json!({"forbidden": "x"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "configmaps \"bad\" is forbidden: ValidatingAdmissionPolicy 'no-forbidden-key' with binding 'deny-it' denied request: configmap bad carries the key forbidden"
    );
    // An update that adds the key is refused too; a dry run is evaluated the same way.
    let patch = Patch::Merge(json!({"data": {"forbidden": "x"}}));
    assert!(
        cms.patch("fine", &PatchParams::default(), &patch)
            .await
            .is_err()
    );
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    assert!(cms.patch("fine", &dry, &patch).await.is_err());
    // Switch the binding to Warn + Audit: admitted, with a Warning header and an audit record.
    let bindings: Api<DynamicObject> = Api::all_with(
        c.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingAdmissionPolicyBinding",
            ),
            "validatingadmissionpolicybindings",
        ),
    );
    bindings
        .patch(
            "deny-it",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"validationActions": ["Warn", "Audit"]}})),
        )
        .await
        .expect("binding patched");
    let (code, warnings, _) = send(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata": {"name": "warned"}, "data": {"forbidden": "x"}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(
        warnings,
        [
            "299 - \"Validation failed for ValidatingAdmissionPolicy 'no-forbidden-key' with binding 'deny-it': configmap warned carries the key forbidden\""
        ]
    );
    let audit = s.audit_records();
    let record = audit
        .iter()
        .find(|r| r.name == "warned")
        .expect("the warned request is audited");
    let failure: Value = serde_json::from_str(
        &record.annotations["validation.policy.admission.k8s.io/validation_failure"],
    )
    .unwrap();
    assert_eq!(
        failure,
        json!([{"message": "configmap warned carries the key forbidden", "policy": "no-forbidden-key",
            "binding": "deny-it", "expressionIndex": 0, "validationActions": ["Warn", "Audit"]}])
    );
    assert_eq!(record.annotations["no-forbidden-key/keys"], "1");
    assert_eq!(record.username, "admin");
    s.shutdown().await;
}

/// A policy that only the garbage collector may delete `protected` ConfigMaps, and
/// that a ConfigMap's `version` never goes down: request.userInfo, oldObject on UPDATE
/// and DELETE, matchConditions and an objectSelector.
fn protect_versions() -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "protect-versions"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                    "operations": ["UPDATE", "DELETE"], "resources": ["configmaps"]}],
                "objectSelector": {"matchLabels": {"protected": "true"}}},
            "matchConditions": [{"name": "not-the-gc",
                "expression": "request.userInfo.username != 'system:serviceaccount:kube-system:generic-garbage-collector'"}],
            "validations": [
                {"expression": "request.operation != 'DELETE' || object == null && oldObject != null",
                 "message": "object is null on DELETE"},
                {"expression": "request.operation == 'DELETE' || int(object.data.version) >= int(oldObject.data.version)",
                 "messageExpression": "'version may not go down from ' + oldObject.data.version"},
                {"expression": "request.operation != 'DELETE'",
                 "messageExpression": "request.userInfo.username + ' may not delete ' + request.name + ' (groups ' + request.userInfo.groups.join(',') + ')'"}]}})
}

#[tokio::test]
async fn a02_policy_sees_the_user_and_the_old_object() {
    let s = server().await;
    let c = s.client();
    apply_raw(&c, VAP, protect_versions()).await;
    apply_raw(
        &c,
        VAPB,
        binding("protect-versions", "protect-versions", &["Deny"], json!({})),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let owner = cms
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let mut v = cm("v", json!({"version": "2"}));
    v.metadata.labels = Some([("protected".to_string(), "true".to_string())].into());
    v.metadata.owner_references = Some(vec![
        serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.metadata.uid.clone().unwrap()}),
        )
        .unwrap(),
    ]);
    cms.create(&PostParams::default(), &v).await.unwrap();
    let up = |n: &str| Patch::Merge(json!({"data": {"version": n}}));
    cms.patch("v", &PatchParams::default(), &up("3"))
        .await
        .expect("the version may go up");
    let (code, _, message) = refusal(
        cms.patch("v", &PatchParams::default(), &up("1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422, "a validation without a reason is Invalid");
    assert!(
        message.ends_with("denied request: version may not go down from 3"),
        "{message}"
    );
    let (_, _, message) = refusal(cms.delete("v", &DeleteParams::default()).await.unwrap_err());
    assert!(
        message.ends_with(
            "denied request: admin may not delete v (groups system:masters,system:authenticated)"
        ),
        "{message}"
    );
    // The same refusal for another user, whose RBAC allows the delete: the policy sees
    // who asks; an unlabelled ConfigMap beside it is not selected.
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "devs-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"}]}))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let alice: Api<ConfigMap> =
        Api::namespaced(s.client_as("alice", &["devs"]).unwrap(), "default");
    let (code, _, message) = refusal(
        alice
            .delete("v", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message
            .ends_with("denied request: alice may not delete v (groups devs,system:authenticated)"),
        "{message}"
    );
    cms.create(&PostParams::default(), &cm("free", json!({})))
        .await
        .unwrap();
    alice
        .delete("free", &DeleteParams::default())
        .await
        .expect("an unlabelled ConfigMap is not selected");
    // The garbage collector is let through by the matchCondition: deleting the owner
    // takes the protected ConfigMap with it.
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(3), || async {
            cms.get_opt("v").await.unwrap().is_none()
        })
        .await,
        "the garbage collector deleted the protected dependent"
    );
    s.shutdown().await;
}

/// Replica limits from a param ConfigMap; namespace selector; failure policies.
fn replica_limit(failure_policy: &str) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": format!("replica-limit-{}", failure_policy.to_lowercase())},
        "spec": {
            "failurePolicy": failure_policy,
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {
                "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["*"],
                    "operations": ["*"], "resources": ["deployments", "deployments/scale"]}],
                "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
            "validations": [{"expression": "object.spec.replicas <= int(params.data.maxReplicas)",
                "messageExpression": "'at most ' + params.data.maxReplicas + ' replicas in ' + namespaceObject.metadata.name"}]}})
}

fn deployment(name: &str, replicas: i64) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}))
    .unwrap()
}

#[tokio::test]
async fn a03_policy_params_selectors_and_failure_policy() {
    let s = server().await;
    let c = s.client();
    create_ns(&c, "team-a", json!({"team": "a"})).await;
    create_ns(&c, "team-b", json!({"team": "b"})).await;
    create_ns(&c, "other", json!({})).await;
    for (ns, max) in [("team-a", "3"), ("other", "1")] {
        Api::<ConfigMap>::namespaced(c.clone(), ns)
            .create(
                &PostParams::default(),
                &cm("limits", json!({"maxReplicas": max})),
            )
            .await
            .unwrap();
    }
    apply_raw(&c, VAP, replica_limit("Fail")).await;
    apply_raw(
        &c,
        VAPB,
        binding(
            "replica-limit",
            "replica-limit-fail",
            &["Deny"],
            json!({"paramRef": {"name": "limits", "parameterNotFoundAction": "Deny"}}),
        ),
    )
    .await;
    let in_ns = |ns: &str| Api::<Deployment>::namespaced(c.clone(), ns);
    in_ns("team-a")
        .create(&PostParams::default(), &deployment("ok", 3))
        .await
        .expect("within the namespace's param");
    let (_, _, message) = refusal(
        in_ns("team-a")
            .create(&PostParams::default(), &deployment("big", 4))
            .await
            .unwrap_err(),
    );
    assert!(
        message.ends_with("denied request: at most 3 replicas in team-a"),
        "{message}"
    );
    // The namespace selector leaves `other` alone, although its param says 1.
    in_ns("other")
        .create(&PostParams::default(), &deployment("big", 4))
        .await
        .expect("namespace not selected");
    // team-b has no param: parameterNotFoundAction Deny refuses.
    let (code, _, message) = refusal(
        in_ns("team-b")
            .create(&PostParams::default(), &deployment("any", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.ends_with("denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"),
        "{message}"
    );
    // An expression that fails: Fail refuses, Ignore admits.
    let mut broken = replica_limit("Ignore");
    broken["spec"]["validations"][0]["expression"] = json!("object.spec.noSuchField > 0");
    broken["spec"]["paramKind"] = Value::Null;
    apply_raw(&c, VAP, broken.clone()).await;
    apply_raw(
        &c,
        VAPB,
        binding(
            "broken-ignore",
            "replica-limit-ignore",
            &["Deny"],
            json!({}),
        ),
    )
    .await;
    Api::<ConfigMap>::namespaced(c.clone(), "team-b")
        .create(
            &PostParams::default(),
            &cm("limits", json!({"maxReplicas": "5"})),
        )
        .await
        .unwrap();
    in_ns("team-b")
        .create(&PostParams::default(), &deployment("ignored", 1))
        .await
        .expect("evaluation errors are ignored under failurePolicy Ignore");
    broken["metadata"]["name"] = json!("broken-fail");
    broken["spec"]["failurePolicy"] = json!("Fail");
    apply_raw(&c, VAP, broken).await;
    apply_raw(
        &c,
        VAPB,
        binding("broken-fail", "broken-fail", &["Deny"], json!({})),
    )
    .await;
    let (_, _, message) = refusal(
        in_ns("team-b")
            .create(&PostParams::default(), &deployment("failed", 1))
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("ValidatingAdmissionPolicy 'broken-fail' with binding 'broken-fail' denied request: expression 'object.spec.noSuchField > 0' resulted in error"),
        "{message}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a04_policy_rules_names_exclusions_and_subresources() {
    let s = server().await;
    let c = s.client();
    // Only the status subresource of Deployments, except the one named `free`.
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "status-guard"},
        "spec": {"matchConstraints": {
                "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"],
                    "resources": ["deployments/status"]}],
                "excludeResourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["*"],
                    "resources": ["*/*"], "resourceNames": ["free"]}]},
            "validations": [{"expression": "request.subResource == 'status' && !has(object.status.replicas)",
                "message": "status.replicas is written by the controller"}]}});
    apply_raw(&c, VAP, policy).await;
    apply_raw(
        &c,
        VAPB,
        binding("status-guard", "status-guard", &["Deny"], json!({})),
    )
    .await;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    for n in ["guarded", "free"] {
        deploys
            .create(&PostParams::default(), &deployment(n, 1))
            .await
            .unwrap();
    }
    let status = Patch::Merge(json!({"status": {"replicas": 1}}));
    let (_, _, message) = refusal(
        deploys
            .patch_status("guarded", &PatchParams::default(), &status)
            .await
            .unwrap_err(),
    );
    assert!(
        message.ends_with("status.replicas is written by the controller"),
        "{message}"
    );
    deploys
        .patch_status("free", &PatchParams::default(), &status)
        .await
        .expect("excluded by name");
    deploys
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("the main resource is not matched");
    // A binding's matchResources narrows the policy: only namespaces labelled strict.
    apply_raw(&c, VAP, no_forbidden_key()).await;
    apply_raw(
        &c,
        VAPB,
        binding(
            "strict-only",
            "no-forbidden-key",
            &["Deny"],
            json!({"matchResources": {"namespaceSelector": {"matchLabels": {"strict": "true"}}}}),
        ),
    )
    .await;
    create_ns(&c, "strict", json!({"strict": "true"})).await;
    Api::<ConfigMap>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &cm("k", json!({"forbidden": "1"})))
        .await
        .expect("default is not selected by the binding");
    assert!(
        Api::<ConfigMap>::namespaced(c.clone(), "strict")
            .create(&PostParams::default(), &cm("k", json!({"forbidden": "1"})))
            .await
            .is_err()
    );
    s.shutdown().await;
}

// ----- Pod Security ----------------------------------------------------------------------

fn pod(name: &str, spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn plain_spec() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx:1"}]})
}

fn hardened_spec() -> Value {
    json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "nginx:1", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]})
}

const RESTRICTED_DETAIL: &str = "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

#[tokio::test]
async fn a05_pod_security_enforces_restricted() {
    let s = server().await;
    let c = s.client();
    create_ns(
        &c,
        "secure",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "secure");
    let (code, reason, message) = refusal(
        pods.create(&PostParams::default(), &pod("web", plain_spec()))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        format!(
            "pods \"web\" is forbidden: violates PodSecurity \"restricted:latest\": {RESTRICTED_DETAIL}"
        )
    );
    pods.create(&PostParams::default(), &pod("web", hardened_spec()))
        .await
        .expect("a hardened pod is admitted");
    // Changing an image is re-evaluated; a label change is not.
    pods.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
    )
    .await
    .unwrap();
    let escalate = Patch::Strategic(
        json!({"spec": {"containers": [{"name": "app", "image": "nginx:2",
        "securityContext": {"allowPrivilegeEscalation": true}}]}}),
    );
    let (_, _, message) = refusal(
        pods.patch("web", &PatchParams::default(), &escalate)
            .await
            .unwrap_err(),
    );
    assert!(message.contains("allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)"), "{message}");
    // The enforce policy is recorded for audit.
    assert!(s.audit_records().iter().any(|r| {
        r.name == "web"
            && r.annotations
                .get("pod-security.kubernetes.io/enforce-policy")
                .map(String::as_str)
                == Some("restricted:latest")
    }));
    s.shutdown().await;
}

#[tokio::test]
async fn a06_pod_security_baseline_versions_and_warnings() {
    let s = server().await;
    let c = s.client();
    create_ns(
        &c,
        "base",
        json!({"pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "v1.21"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "base");
    let mut privileged = plain_spec();
    privileged["hostNetwork"] = json!(true);
    privileged["containers"][0]["securityContext"] = json!({"privileged": true});
    privileged["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]);
    let (_, _, message) = refusal(
        pods.create(&PostParams::default(), &pod("root", privileged))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "pods \"root\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), hostPort (container \"app\" uses hostPort 8080), privileged (container \"app\" must not set securityContext.privileged=true)"
    );
    // A plain pod passes baseline and is warned about restricted as of v1.21, before
    // `capabilities_restricted` (1.22) existed.
    let (code, warnings, _) = send(
        &c,
        Method::POST,
        "/api/v1/namespaces/base/pods",
        json!({"metadata": {"name": "plain"}, "spec": plain_spec()}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(
        warnings,
        [
            "299 - \"would violate PodSecurity \\\"restricted:v1.21\\\": allowPrivilegeEscalation != false (container \\\"app\\\" must set securityContext.allowPrivilegeEscalation=false), runAsNonRoot != true (pod or container \\\"app\\\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \\\"app\\\" must set securityContext.seccompProfile.type to \\\"RuntimeDefault\\\" or \\\"Localhost\\\")\""
        ]
    );
    // Workloads are never refused, only warned about (their pods would be).
    create_ns(
        &c,
        "strict",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    let (code, warnings, _) = send(
        &c,
        Method::POST,
        "/apis/apps/v1/namespaces/strict/deployments",
        serde_json::to_value(deployment("web", 1)).unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("299 - \"would violate PodSecurity \\\"restricted:latest\\\": allowPrivilegeEscalation != false"), "{warnings:?}");
    // Tightening a namespace with violating pods warns about them.
    let req = Request::builder()
        .method(Method::PATCH)
        .uri("/api/v1/namespaces/base")
        .header("content-type", "application/merge-patch+json")
        .body(kube::client::Body::from(
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
                .to_string()
                .into_bytes(),
        ))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        warnings,
        [
            "299 - \"existing pods in namespace \\\"base\\\" violate the new PodSecurity enforce level \\\"restricted:latest\\\"\"",
            "299 - \"plain: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile\""
        ]
    );
    // Invalid labels are refused.
    let bad: Namespace = serde_json::from_value(
        json!({"metadata": {"name": "bad", "labels": {"pod-security.kubernetes.io/enforce": "strict"}}}),
    )
    .unwrap();
    let (code, _, message) = refusal(
        Api::<Namespace>::all(c.clone())
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Namespace \"bad\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted"
    );
    s.shutdown().await;
}

// ----- ResourceQuota ---------------------------------------------------------------------

fn quota(name: &str, spec: Value) -> ResourceQuota {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn sized_pod(name: &str, cpu: &str, memory: &str) -> Pod {
    pod(
        name,
        json!({"containers": [{"name": "app", "image": "nginx", "resources": {
            "requests": {"cpu": cpu}, "limits": {"memory": memory}}}]}),
    )
}

async fn used(quotas: &Api<ResourceQuota>, name: &str) -> Value {
    let q = quotas.get(name).await.unwrap();
    serde_json::to_value(q.status.unwrap_or_default().used).unwrap()
}

#[tokio::test]
async fn a07_quota_limits_and_records_usage() {
    let s = server().await;
    let c = s.client();
    create_ns(&c, "q", json!({})).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.clone(), "q");
    quotas
        .create(
            &PostParams::default(),
            &quota(
                "compute",
                json!({"hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi",
                "count/configmaps": "1", "services.loadbalancers": "0", "services": "5"}}),
            ),
        )
        .await
        .unwrap();
    let q = quotas.get("compute").await.unwrap();
    let status = serde_json::to_value(q.status.unwrap()).unwrap();
    assert_eq!(status["hard"]["requests.cpu"], "1");
    assert_eq!(
        status["used"],
        json!({"count/configmaps": "0", "limits.memory": "0", "pods": "0", "requests.cpu": "0",
            "services": "0", "services.loadbalancers": "0"})
    );
    let pods: Api<Pod> = Api::namespaced(c.clone(), "q");
    // A container that declares no memory limit is refused while a quota limits memory.
    let (code, _, message) = refusal(
        pods.create(&PostParams::default(), &pod("bare", plain_spec()))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "pods \"bare\" is forbidden: failed quota: compute: must specify limits.memory for: app; requests.cpu for: app"
    );
    pods.create(&PostParams::default(), &sized_pod("a", "500m", "512Mi"))
        .await
        .unwrap();
    assert_eq!(
        used(&quotas, "compute").await,
        json!({"count/configmaps": "0", "limits.memory": "512Mi", "pods": "1", "requests.cpu": "500m",
            "services": "0", "services.loadbalancers": "0"})
    );
    let (code, _, message) = refusal(
        pods.create(&PostParams::default(), &sized_pod("b", "600m", "256Mi"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1"
    );
    // A dry run is checked but not charged.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    pods.create(&dry, &sized_pod("c", "500m", "512Mi"))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "compute").await["pods"], "1");
    pods.create(&PostParams::default(), &sized_pod("c", "500m", "512Mi"))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "compute").await["limits.memory"], "1Gi");
    // Deleting a pod gives its usage back; a terminal pod only counts as an object.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    pods.patch_status(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .unwrap();
    let after = used(&quotas, "compute").await;
    assert_eq!(
        (after["pods"].as_str(), after["requests.cpu"].as_str()),
        (Some("0"), Some("0"))
    );
    // Object counts and services.
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "q");
    cms.create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap();
    let (_, _, message) = refusal(
        cms.create(&PostParams::default(), &cm("two", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "configmaps \"two\" is forbidden: exceeded quota: compute, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1"
    );
    let svcs: Api<Service> = Api::namespaced(c.clone(), "q");
    let svc = |name: &str, t: &str| -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"type": t, "ports": [{"port": 80}]}}),
        )
        .unwrap()
    };
    svcs.create(&PostParams::default(), &svc("web", "ClusterIP"))
        .await
        .unwrap();
    let (_, _, message) = refusal(
        svcs.create(&PostParams::default(), &svc("lb", "LoadBalancer"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "services \"lb\" is forbidden: exceeded quota: compute, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"
    );
    // Changing a Service's type is an update the quota checks.
    assert!(
        svcs.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "LoadBalancer"}}))
        )
        .await
        .is_err()
    );
    assert_eq!(used(&quotas, "compute").await["services"], "1");
    // Invalid hard limits are refused.
    let (code, _, message) = refusal(
        quotas
            .create(
                &PostParams::default(),
                &quota("bad", json!({"hard": {"pods": "lots"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.starts_with(
            "ResourceQuota \"bad\" is invalid: spec.hard[pods]: Invalid value: \"lots\""
        ),
        "{message}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a08_quota_scopes_select_pods() {
    let s = server().await;
    let c = s.client();
    create_ns(&c, "q", json!({})).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.clone(), "q");
    quotas
        .create(
            &PostParams::default(),
            &quota("high", json!({"hard": {"pods": "1"},
                "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}})),
        )
        .await
        .unwrap();
    quotas
        .create(
            &PostParams::default(),
            &quota(
                "best-effort",
                json!({"hard": {"pods": "2"}, "scopes": ["BestEffort"]}),
            ),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), "q");
    let mut high = plain_spec();
    high["priorityClassName"] = json!("high");
    pods.create(&PostParams::default(), &pod("h1", high.clone()))
        .await
        .unwrap();
    let (_, _, message) = refusal(
        pods.create(&PostParams::default(), &pod("h2", high))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "pods \"h2\" is forbidden: exceeded quota: high, requested: pods=1, used: pods=1, limited: pods=1"
    );
    // Pods of another class are not counted by `high`; best-effort pods by the other quota.
    pods.create(&PostParams::default(), &pod("p1", plain_spec()))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "high").await, json!({"pods": "1"}));
    assert_eq!(used(&quotas, "best-effort").await, json!({"pods": "2"}));
    let (_, _, message) = refusal(
        pods.create(&PostParams::default(), &pod("p2", plain_spec()))
            .await
            .unwrap_err(),
    );
    assert!(message.contains("exceeded quota: best-effort"), "{message}");
    // A pod that is not best effort is outside that quota.
    pods.create(&PostParams::default(), &sized_pod("sized", "100m", "64Mi"))
        .await
        .unwrap();
    assert_eq!(used(&quotas, "best-effort").await, json!({"pods": "2"}));
    s.shutdown().await;
}
