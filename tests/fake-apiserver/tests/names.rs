//! Object names, per kind, as kube-apiserver 1.34 validates them: each row says which
//! upstream function it pins, and a name upstream accepts must be accepted here (the chart's
//! `tenant-operator:tenant-admin` ClusterRole was once refused, so `helm install` failed).

mod common;

use axum::http::Method;
use common::*;
use serde_json::{Value, json};

/// One create: the collection, the object, the status upstream answers, what it pins.
struct Row {
    path: &'static str,
    body: Value,
    code: u16,
    pins: &'static str,
}

fn row(path: &'static str, body: Value, code: u16, pins: &'static str) -> Row {
    Row {
        path,
        body,
        code,
        pins,
    }
}

fn named(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

fn rows() -> Vec<Row> {
    const RBAC: &str = "rbac.authorization.k8s.io/v1";
    let role_ref =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"});
    let subjects =
        json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g:x"}]);
    let mut crb = named(
        RBAC,
        "ClusterRoleBinding",
        "tenant-operator:tenant-operator",
    );
    crb["roleRef"] = role_ref.clone();
    crb["subjects"] = subjects.clone();
    let mut rb = named(RBAC, "RoleBinding", "tenant:view");
    rb["roleRef"] = role_ref;
    rb["subjects"] = subjects;
    let event = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "ConfigMap", "namespace": "default", "name": "c"},
            "reason": "Test", "message": "m", "type": "Normal"})
    };
    let events_v1 = |name: &str| {
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x.io/c",
            "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal",
            "regarding": {"kind": "ConfigMap", "namespace": "default", "name": "c"}})
    };
    let cron = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "i"}]}}}}}})
    };
    let priority = |name: &str, value: i64| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value})
    };
    vec![
        // rbac/validation: ValidateRBACName = path.IsValidPathSegmentName.
        row(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            named(RBAC, "ClusterRole", "tenant-operator:tenant-admin"),
            201,
            "ValidateRBACName: colons",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            named(RBAC, "ClusterRole", "Upper_Case.and spaces"),
            201,
            "ValidateRBACName: any path segment",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            named(RBAC, "ClusterRole", "a%b"),
            422,
            "IsValidPathSegmentName: no '%'",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            named(RBAC, "ClusterRole", ".."),
            422,
            "IsValidPathSegmentName: not '..'",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            crb,
            201,
            "ValidateRBACName (bindings)",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
            named(RBAC, "Role", "leases:writer"),
            201,
            "ValidateRBACName (Role)",
        ),
        row(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            rb,
            201,
            "ValidateRBACName (RoleBinding)",
        ),
        // core/validation: ValidateNamespaceName = DNS-1123 label.
        row(
            "/api/v1/namespaces",
            named("v1", "Namespace", "a.b"),
            422,
            "ValidateNamespaceName: no dots",
        ),
        row(
            "/api/v1/namespaces",
            named("v1", "Namespace", &"n".repeat(64)),
            422,
            "ValidateNamespaceName: 63 characters",
        ),
        row(
            "/api/v1/namespaces",
            named("v1", "Namespace", "1-tenant"),
            201,
            "ValidateNamespaceName: may start with a digit",
        ),
        // ValidateServiceName = DNS-1035 label.
        row(
            "/api/v1/namespaces/default/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}),
            422,
            "ValidateServiceName: starts with a letter",
        ),
        row(
            "/api/v1/namespaces/default/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
            201,
            "ValidateServiceName",
        ),
        // NameIsDNSSubdomain: dots allowed, colons and capitals not.
        row(
            "/api/v1/namespaces/default/configmaps",
            named("v1", "ConfigMap", "kube-root-ca.crt"),
            201,
            "ValidateConfigMapName: dots",
        ),
        row(
            "/api/v1/namespaces/default/configmaps",
            named("v1", "ConfigMap", "1web"),
            201,
            "ValidateConfigMapName: may start with a digit",
        ),
        row(
            "/api/v1/namespaces/default/configmaps",
            named("v1", "ConfigMap", "a:b"),
            422,
            "ValidateConfigMapName: no colons",
        ),
        row(
            "/api/v1/namespaces/default/secrets",
            named("v1", "Secret", "Tls"),
            422,
            "ValidateSecretName: lower case",
        ),
        row(
            "/api/v1/namespaces/default/serviceaccounts",
            named("v1", "ServiceAccount", "sa.v2"),
            201,
            "ValidateServiceAccountName",
        ),
        row(
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            named(
                "coordination.k8s.io/v1",
                "Lease",
                "tenant-operator.tenancy.innova.puglia.it",
            ),
            201,
            "ValidateLeaseName",
        ),
        row(
            "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow:dns"}, "spec": {"podSelector": {}}}),
            422,
            "ValidateNetworkPolicyName",
        ),
        row(
            "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "tenant-operator:x"}, "spec": {"validations": [{"expression": "true"}]}}),
            422,
            "ValidateValidatingAdmissionPolicy: NameIsDNSSubdomain",
        ),
        // Core Events: legacyValidateEvent checks no name; the storage key refuses '%'.
        row(
            "/api/v1/namespaces/default/events",
            event("c.17a:B_x"),
            201,
            "legacyValidateEvent: no name rule",
        ),
        row(
            "/api/v1/namespaces/default/events",
            event("a%b"),
            400,
            "NamespaceKeyFunc: Name parameter invalid",
        ),
        // events.k8s.io/v1: ValidateEventCreate's strict path (NameIsDNSSubdomain).
        row(
            "/apis/events.k8s.io/v1/namespaces/default/events",
            events_v1("c.17a:b"),
            422,
            "ValidateEventCreate (events.k8s.io/v1)",
        ),
        // batch/validation: ValidateCronJob (52 characters: the controller's job suffix).
        row(
            "/apis/batch/v1/namespaces/default/cronjobs",
            cron(&"c".repeat(52)),
            201,
            "ValidateCronJob: 52 characters",
        ),
        row(
            "/apis/batch/v1/namespaces/default/cronjobs",
            cron(&"c".repeat(53)),
            422,
            "ValidateCronJob: more than 52",
        ),
        // scheduling/validation: ValidatePriorityClass ('system-' is reserved).
        row(
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            priority("tenant-high", 1000),
            201,
            "ValidatePriorityClass",
        ),
        row(
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            priority("system-tenant", 1000),
            422,
            "ValidatePriorityClass: system- prefix",
        ),
    ]
}

#[tokio::test]
async fn names_follow_the_rule_of_each_kind() {
    let s = server().await;
    let c = s.client();
    let mut wrong = Vec::new();
    for r in rows() {
        let (code, _, body) = raw(&c, Method::POST, r.path, &[], Some(r.body.clone())).await;
        if code.as_u16() != r.code {
            wrong.push(format!(
                "{} {} ({}): {} instead of {}: {body}",
                r.path,
                r.body["metadata"]["name"],
                r.pins,
                code.as_u16(),
                r.code
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    s.shutdown().await;
}

#[tokio::test]
async fn a_refused_name_says_why_as_upstream_does() {
    let s = server().await;
    let c = s.client();
    let (_, _, body) = raw(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        &[],
        Some(named("v1", "ConfigMap", "a:b")),
    )
    .await;
    let status = j(&body);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("a lowercase RFC 1123 subdomain")),
        "{status}"
    );
    let (_, _, body) = raw(
        &c,
        Method::POST,
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        &[],
        Some(
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "system-tenant"}, "value": 7}),
        ),
    )
    .await;
    let status = j(&body);
    assert_eq!(status["code"], 422, "{status}");
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueForbidden"
    );
    assert!(
        status["message"].as_str().is_some_and(|m| m.contains(
            "priority class names with 'system-' prefix are reserved for system use only. error: system-tenant is not a known system priority class"
        )),
        "{status}"
    );
    let (code, _, body) = raw(
        &c,
        Method::POST,
        "/api/v1/namespaces/default/events",
        &[],
        Some(
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "x%y"},
            "involvedObject": {"kind": "ConfigMap", "namespace": "default", "name": "c"}}),
        ),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        j(&body)["message"],
        "Name parameter invalid: \"x%y\": may not contain '%'"
    );
    s.shutdown().await;
}
