//! Authentication, impersonation, RBAC and the access reviews through
//! `kube::Api`, as kube-apiserver answers them: each behaviour with a request
//! that is allowed and one that is refused, the refusal worded as upstream's.

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

async fn make_ns(admin: &Client, name: &str) {
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}})),
        )
        .await
        .expect("namespace created");
}

/// Binds `role` (kind, name) to group `group` in `ns`.
async fn bind(admin: &Client, ns: &str, name: &str, kind: &str, role: &str, subject: Value) {
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [subject]})),
        )
        .await
        .expect("binding created");
}

fn group(name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name})
}

fn user(name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name})
}

/// The 403 message of a kube error, or a panic naming what happened instead.
fn forbidden(r: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => s.message,
        other => panic!("expected 403, got {other:?}"),
    }
}

fn deployment(name: &str) -> Deployment {
    obj(
        json!({"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}),
    )
}

/// A client authenticating with `token` and acting as `as_user`, if given.
fn token_client(s: &fake_apiserver::ServerHandle, token: &str, as_user: Option<&str>) -> Client {
    let mut cfg = kube::Config::new(s.url().parse().expect("URL"));
    let mut auth = json!({"token": token});
    if let Some(u) = as_user {
        auth["as"] = json!(u);
    }
    cfg.auth_info = serde_json::from_value(auth).expect("auth info");
    Client::try_from(cfg).expect("client")
}

#[tokio::test]
async fn requests_without_credentials_are_anonymous() {
    let s = common::server().await;
    let anon = s.anonymous_client().unwrap();
    // system:public-info-viewer lets anyone read the version.
    anon.apiserver_version().await.expect("/version is public");
    let msg = forbidden(
        Api::<ConfigMap>::namespaced(anon.clone(), "default")
            .list(&Default::default())
            .await,
    );
    assert_eq!(
        msg,
        r#"configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" in API group "" in the namespace "default""#
    );
    // An unknown token is not anonymous: it is refused.
    let wrong = token_client(&s, "nope", None);
    match wrong.apiserver_version().await {
        Err(kube::Error::Api(st)) => {
            assert_eq!((st.code, st.reason.as_str()), (401, "Unauthorized"));
        }
        other => panic!("expected 401, got {other:?}"),
    }
    s.shutdown().await;
}

#[tokio::test]
async fn static_tokens_and_impersonation_follow_upstream() {
    let s = fake_apiserver::start(fake_apiserver::Config {
        tokens: vec![fake_apiserver::StaticToken::new(
            "alice-token",
            "alice",
            &["devs"],
        )],
        ..Default::default()
    })
    .await
    .unwrap();
    let admin = s.client();
    let alice = token_client(&s, "alice-token", None);
    let review: SelfSubjectReview = Api::all(alice.clone())
        .create(&PostParams::default(), &obj(json!({})))
        .await
        .unwrap();
    let info = review.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("alice"));
    assert_eq!(info.groups.unwrap(), ["devs", "system:authenticated"]);

    // alice may not act as bob until she has `impersonate` on users/bob.
    let as_bob = token_client(&s, "alice-token", Some("bob"));
    let msg = forbidden(as_bob.apiserver_version().await);
    assert_eq!(
        msg,
        r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    let role: ClusterRole = obj(json!({"metadata": {"name": "impersonate-bob"},
        "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["bob"]}]}));
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin.clone())
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "alice-impersonates-bob"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonate-bob"},
                "subjects": [user("alice")]})),
        )
        .await
        .unwrap();
    let review: SelfSubjectReview = Api::all(as_bob)
        .create(&PostParams::default(), &obj(json!({})))
        .await
        .unwrap();
    let info = review.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("bob"));
    assert_eq!(info.groups.unwrap(), ["system:authenticated"]);
    let as_carol = token_client(&s, "alice-token", Some("carol"));
    forbidden(as_carol.apiserver_version().await);

    // A ServiceAccount impersonated without groups gets its ServiceAccount groups.
    let sa = s
        .client_as("system:serviceaccount:team-a:bot", &[])
        .unwrap();
    let review: SelfSubjectReview = Api::all(sa)
        .create(&PostParams::default(), &obj(json!({})))
        .await
        .unwrap();
    assert_eq!(
        review.status.unwrap().user_info.unwrap().groups.unwrap(),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:team-a",
            "system:authenticated"
        ]
    );
    s.shutdown().await;
}

#[tokio::test]
async fn role_bindings_grant_in_their_namespace_only() {
    let s = common::server().await;
    let admin = s.client();
    for ns in ["team-a", "team-b"] {
        make_ns(&admin, ns).await;
    }
    bind(
        &admin,
        "team-a",
        "devs-edit",
        "ClusterRole",
        "edit",
        group("devs"),
    )
    .await;
    let dev = s.client_as("dave", &["devs"]).unwrap();
    Api::<Deployment>::namespaced(dev.clone(), "team-a")
        .create(&PostParams::default(), &deployment("web"))
        .await
        .expect("edit creates deployments in its namespace");
    let msg = forbidden(
        Api::<Deployment>::namespaced(dev.clone(), "team-b")
            .create(&PostParams::default(), &deployment("web"))
            .await,
    );
    assert_eq!(
        msg,
        r#"deployments.apps is forbidden: User "dave" cannot create resource "deployments" in API group "apps" in the namespace "team-b""#
    );
    // edit holds no RBAC write, and view no secret read.
    let role: Role = obj(json!({"metadata": {"name": "r"}, "rules": []}));
    forbidden(
        Api::<Role>::namespaced(dev.clone(), "team-a")
            .create(&PostParams::default(), &role)
            .await,
    );
    bind(
        &admin,
        "team-b",
        "devs-view",
        "ClusterRole",
        "view",
        group("devs"),
    )
    .await;
    Api::<Deployment>::namespaced(dev.clone(), "team-b")
        .list(&Default::default())
        .await
        .expect("view lists");
    forbidden(
        Api::<Secret>::namespaced(dev.clone(), "team-b")
            .list(&Default::default())
            .await,
    );
    // A cluster-scope request is never granted by a RoleBinding.
    let msg = forbidden(
        Api::<Deployment>::all(dev.clone())
            .list(&Default::default())
            .await,
    );
    assert!(
        msg.ends_with(
            r#"cannot list resource "deployments" in API group "apps" at the cluster scope"#
        ),
        "{msg}"
    );
    // The namespace object itself, and its status subresource, are in the namespace.
    let nss = Api::<Namespace>::all(dev.clone());
    nss.get("team-b").await.expect("view reads its namespace");
    nss.get_status("team-b")
        .await
        .expect("view reads namespaces/status");
    let msg = forbidden(nss.get("default").await);
    assert_eq!(
        msg,
        r#"namespaces "default" is forbidden: User "dave" cannot get resource "namespaces" in API group "" in the namespace "default""#
    );
    s.shutdown().await;
}

#[tokio::test]
async fn resource_names_limit_named_requests() {
    let s = common::server().await;
    let admin = s.client();
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), "default");
    for name in ["a", "b"] {
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
    }
    Api::<Role>::namespaced(admin.clone(), "default")
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "read-a"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"], "resourceNames": ["a"]}]})),
        )
        .await
        .unwrap();
    bind(
        &admin,
        "default",
        "erin-read-a",
        "Role",
        "read-a",
        user("erin"),
    )
    .await;
    let erin = Api::<ConfigMap>::namespaced(s.client_as("erin", &[]).unwrap(), "default");
    erin.get("a").await.expect("the named object");
    forbidden(erin.get("b").await);
    forbidden(erin.list(&Default::default()).await);
    // A list narrowed to the name by a field selector carries the name, as upstream.
    let one = erin
        .list(&kube::api::ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn aggregated_cluster_roles_gather_labelled_roles() {
    let s = common::server().await;
    let admin = s.client();
    bind(
        &admin,
        "default",
        "frank-view",
        "ClusterRole",
        "view",
        user("frank"),
    )
    .await;
    let leases = Api::<Lease>::namespaced(s.client_as("frank", &[]).unwrap(), "default");
    forbidden(leases.list(&Default::default()).await);
    Api::<ClusterRole>::all(admin.clone())
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "leases-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list"]}]})),
        )
        .await
        .unwrap();
    let roles = Api::<ClusterRole>::all(admin.clone());
    let mut aggregated = false;
    for _ in 0..100 {
        let view = roles.get("view").await.unwrap();
        if view
            .rules
            .unwrap_or_default()
            .iter()
            .any(|r| r.resources.as_deref() == Some(&["leases".to_string()][..]))
        {
            aggregated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(aggregated, "view gathered the new rule");
    leases
        .list(&Default::default())
        .await
        .expect("view now lists leases");
    // admin holds what edit holds, which holds what view holds.
    let admin_rules = roles.get("admin").await.unwrap().rules.unwrap();
    assert!(
        admin_rules
            .iter()
            .any(|r| r.resources.as_deref() == Some(&["leases".to_string()][..]))
    );
    s.shutdown().await;
}

#[tokio::test]
async fn roles_and_bindings_cannot_grant_more_than_their_writer_holds() {
    let s = common::server().await;
    let admin = s.client();
    make_ns(&admin, "team-a").await;
    bind(
        &admin,
        "team-a",
        "gina-admin",
        "ClusterRole",
        "admin",
        user("gina"),
    )
    .await;
    let gina = s.client_as("gina", &["tenant-admins"]).unwrap();
    let roles = Api::<Role>::namespaced(gina.clone(), "team-a");
    roles
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "secret-reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]})),
        )
        .await
        .expect("admin may grant what it holds");
    let msg = forbidden(
        roles
            .create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": "quota-writer"},
                    "rules": [{"apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["update", "get"]}]})),
            )
            .await,
    );
    assert_eq!(
        msg,
        "roles.rbac.authorization.k8s.io \"quota-writer\" is forbidden: user \"gina\" (groups=[\"tenant-admins\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"resourcequotas\"], Verbs:[\"update\"]}"
    );
    // The bind check: view is covered by admin, cluster-admin is not.
    let rbs = Api::<RoleBinding>::namespaced(gina.clone(), "team-a");
    let binding = |name: &str, role: &str| -> RoleBinding {
        obj(json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [user("henry")]}))
    };
    rbs.create(&PostParams::default(), &binding("henry-view", "view"))
        .await
        .expect("bind what one holds");
    let msg = forbidden(
        rbs.create(
            &PostParams::default(),
            &binding("henry-root", "cluster-admin"),
        )
        .await,
    );
    assert!(
        msg.starts_with(r#"rolebindings.rbac.authorization.k8s.io "henry-root" is forbidden: user "gina" (groups=["tenant-admins" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#),
        "{msg}"
    );
    // `bind` on that ClusterRole lifts the check.
    Api::<ClusterRole>::all(admin.clone())
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "bind-cluster-admin"},
                "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}]})),
        )
        .await
        .unwrap();
    bind(
        &admin,
        "team-a",
        "gina-binds",
        "ClusterRole",
        "bind-cluster-admin",
        user("gina"),
    )
    .await;
    rbs.create(
        &PostParams::default(),
        &binding("henry-root", "cluster-admin"),
    )
    .await
    .expect("bind granted");
    // An aggregationRule needs cluster-admin's rights.
    let msg = forbidden(
        Api::<ClusterRole>::all(gina.clone())
            .create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}})),
            )
            .await,
    );
    assert!(
        msg.contains("cannot create resource \"clusterroles\""),
        "{msg}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn rbac_names_may_hold_colons_and_other_names_may_not() {
    let s = common::server().await;
    let admin = s.client();
    let role: ClusterRole =
        obj(json!({"metadata": {"name": "tenant-operator:tenant-admin"}, "rules": []}));
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("path-segment name");
    let bad: ClusterRole = obj(json!({"metadata": {"name": "a/b"}, "rules": []}));
    match Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &bad)
        .await
    {
        // The name in the body of a POST is checked (a slash could not be in a URL).
        Err(kube::Error::Api(st)) => assert_eq!(st.code, 422, "{st:?}"),
        other => panic!("expected 422, got {other:?}"),
    }
    let cm: ConfigMap = obj(json!({"metadata": {"name": "a:b"}}));
    match Api::<ConfigMap>::namespaced(admin, "default")
        .create(&PostParams::default(), &cm)
        .await
    {
        Err(kube::Error::Api(st)) => assert_eq!(st.code, 422),
        other => panic!("expected 422, got {other:?}"),
    }
    s.shutdown().await;
}

#[tokio::test]
async fn access_reviews_answer_for_self_and_others() {
    let s = common::server().await;
    let admin = s.client();
    bind(
        &admin,
        "default",
        "ivy-view",
        "ClusterRole",
        "view",
        user("ivy"),
    )
    .await;
    let ivy = s.client_as("ivy", &[]).unwrap();
    let ssar = |verb: &str, resource: &str| -> SelfSubjectAccessReview {
        obj(
            json!({"spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": resource}}}),
        )
    };
    let api = Api::<SelfSubjectAccessReview>::all(ivy.clone());
    let yes = api
        .create(&PostParams::default(), &ssar("list", "pods"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(yes.allowed);
    assert_eq!(
        yes.reason.as_deref(),
        Some(
            r#"RBAC: allowed by RoleBinding "ivy-view/default" of ClusterRole "view" to User "ivy""#
        )
    );
    let no = api
        .create(&PostParams::default(), &ssar("create", "pods"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(!no.allowed);

    // SubjectAccessReview: only for who may create it (the admin here, not ivy).
    let sar: SubjectAccessReview = obj(json!({"spec": {"user": "ivy",
        "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "configmaps"}}}));
    let st = Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &sar)
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(st.allowed);
    forbidden(
        Api::<SubjectAccessReview>::all(ivy.clone())
            .create(&PostParams::default(), &sar)
            .await,
    );

    // SelfSubjectRulesReview lists what applies in the namespace.
    let rules: SelfSubjectRulesReview = Api::all(ivy.clone())
        .create(
            &PostParams::default(),
            &obj(json!({"spec": {"namespace": "default"}})),
        )
        .await
        .unwrap();
    let status = rules.status.unwrap();
    assert!(status.resource_rules.iter().any(|r| {
        r.resources
            .as_deref()
            .is_some_and(|x| x.contains(&"pods".to_string()))
            && r.verbs.contains(&"list".to_string())
    }));
    assert!(status.non_resource_rules.iter().any(|r| {
        r.non_resource_urls
            .as_deref()
            .is_some_and(|x| x.contains(&"/api".to_string()))
    }));
    // Anonymous users may not even ask.
    forbidden(
        Api::<SelfSubjectAccessReview>::all(s.anonymous_client().unwrap())
            .create(&PostParams::default(), &ssar("get", "pods"))
            .await,
    );
    s.shutdown().await;
}

#[tokio::test]
async fn rbac_objects_are_validated_and_defaulted() {
    let s = common::server().await;
    let admin = s.client();
    let invalid = |r: Result<Role, kube::Error>| match r {
        Err(kube::Error::Api(st)) if st.code == 422 => st.message,
        other => panic!("expected 422, got {other:?}"),
    };
    let roles = Api::<Role>::namespaced(admin.clone(), "default");
    let msg = invalid(
        roles
            .create(&PostParams::default(), &obj(json!({"metadata": {"name": "r"}, "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})))
            .await,
    );
    assert_eq!(
        msg,
        r#"Role.rbac.authorization.k8s.io "r" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: namespaced rules cannot apply to non-resource URLs"#
    );
    let msg = invalid(roles.create(&PostParams::default(), &obj(json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}))).await);
    assert!(
        msg.ends_with("rules[0].verbs: Required value: verbs must contain at least one value"),
        "{msg}"
    );
    // A User subject without apiGroup is defaulted to the RBAC group; a ClusterRoleBinding
    // may not name a Role.
    let rbs = Api::<RoleBinding>::namespaced(admin.clone(), "default");
    let rb = rbs
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": "jo"}]})),
        )
        .await
        .unwrap();
    assert_eq!(
        rb.subjects.unwrap()[0].api_group.as_deref(),
        Some("rbac.authorization.k8s.io")
    );
    let crb: k8s_openapi::api::rbac::v1::ClusterRoleBinding = obj(
        json!({"metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "view"}, "subjects": [user("jo")]}),
    );
    match Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin)
        .create(&PostParams::default(), &crb)
        .await
    {
        Err(kube::Error::Api(st)) => assert!(
            st.message.contains(
                r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#
            ),
            "{}",
            st.message
        ),
        other => panic!("expected 422, got {other:?}"),
    }
    s.shutdown().await;
}

/// The kubeconfig the server writes (what `tenant-operator dev` prints) reaches
/// the server over TLS as the cluster admin, from kube-rs as from kubectl.
#[tokio::test]
async fn the_written_kubeconfig_is_the_admin_over_tls() {
    let s = common::server().await;
    let dir = common::scratch_dir("kubeconfig");
    let path = dir.join("kubeconfig");
    s.write_kubeconfig(&path).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    assert_eq!(cfg.cluster_url.scheme_str(), Some("https"));
    let client = Client::try_from(cfg).unwrap();
    let review: SelfSubjectReview = Api::all(client)
        .create(&PostParams::default(), &obj(json!({})))
        .await
        .unwrap();
    let info = review.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("admin"));
    assert!(info.groups.unwrap().contains(&"system:masters".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    s.shutdown().await;
}
