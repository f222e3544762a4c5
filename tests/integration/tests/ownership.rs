//! Whose a namespace is: the controller creates a namespace only when none exists, enters
//! one only when it carries the tenant's identity (name and UID), revokes access when it
//! retains one, and re-attaches a retained namespace only when a datacenter operator hands
//! it over, after deleting what the previous tenant had there.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tenant_operator::api::TenantService;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

const TENANT_UID: &str = "tenancy.innova.puglia.it/tenant-uid";
const HAND_OVER_TO: &str = "tenancy.innova.puglia.it/hand-over-to";
const ALLOW_LOAD_BALANCER: &str = "tenancy.innova.puglia.it/allow-load-balancer";

/// Creates a namespace as a cluster administrator would (`kubectl create namespace`).
async fn create_namespace(h: &Harness, name: &str, labels: Value) {
    Api::<Namespace>::all(h.client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("namespace"),
        )
        .await
        .expect("create namespace");
}

/// Waits until the tenant's Ready condition has `reason`.
async fn wait_reason(h: &Harness, tenant: &str, reason: &str) -> TenantService {
    h.wait_tenant(tenant, Duration::from_secs(20), reason, |t| {
        t.and_then(|t| condition(t, "Ready"))
            .is_some_and(|c| c.reason == reason)
    })
    .await
    .expect("tenant")
}

/// Reasons and notes of the Events about `tenant`.
async fn events(h: &Harness, tenant: &str) -> Vec<(String, String)> {
    let list = Api::<Event>::namespaced(h.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(tenant))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Names of the objects of `kind` (core or networking, plural) in `namespace`.
async fn names_in(h: &Harness, api_version: &str, kind: &str, namespace: &str) -> Vec<String> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource =
        kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind));
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(h.client.clone(), namespace, &resource);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// Whether `client` may list ConfigMaps in `namespace` (what a tenant group's role grants).
async fn can_read(client: &Client, namespace: &str) -> bool {
    match Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 403 => false,
        Err(other) => panic!("listing ConfigMaps in {namespace}: {other}"),
    }
}

/// Annotates a namespace; returns it as written (its resourceVersion marks the moment).
async fn annotate(h: &Harness, namespace: &str, key: &str, value: &str) -> Namespace {
    Api::<Namespace>::all(h.client.clone())
        .patch(
            namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate namespace")
}

/// One change seen by a watch: resourceVersion, event type, kind, name, and the tenant
/// and UID labels of the object (for a deletion: as it was last).
#[derive(Debug)]
struct Seen {
    rv: u64,
    event: &'static str,
    kind: String,
    name: String,
    tenant: Option<String>,
    tenant_uid: Option<String>,
}

/// Every change to the objects of `kind` in `namespace` (or to the namespace itself, for
/// kind `Namespace`) after resourceVersion `since`, replayed by a watch from it. The API
/// server's resourceVersions are one global, ordered counter, so changes of different
/// kinds can be put in the order they happened.
async fn changes_since(
    h: &Harness,
    api_version: &str,
    kind: &str,
    namespace: &str,
    since: &str,
) -> Vec<Seen> {
    use futures::StreamExt;
    use kube::api::{DynamicObject, WatchEvent, WatchParams};
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource =
        kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind));
    let (api, params): (Api<DynamicObject>, WatchParams) = if kind == "Namespace" {
        (
            Api::all_with(h.client.clone(), &resource),
            WatchParams::default().fields(&format!("metadata.name={namespace}")),
        )
    } else {
        (
            Api::namespaced_with(h.client.clone(), namespace, &resource),
            WatchParams::default(),
        )
    };
    let mut stream = api.watch(&params, since).await.expect("watch").boxed();
    let mut seen = Vec::new();
    // The history is replayed at once; a quiet second means it is all there.
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
        let (event, object) = match event.expect("watch event") {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("watching {kind} in {namespace}: {e:?}"),
        };
        let label = |key: &str| object.labels().get(key).cloned();
        seen.push(Seen {
            rv: object
                .resource_version()
                .and_then(|rv| rv.parse().ok())
                .expect("numeric resourceVersion"),
            event,
            kind: kind.to_string(),
            name: object.name_any(),
            tenant: label("tenancy.innova.puglia.it/tenant"),
            tenant_uid: label(TENANT_UID),
        });
    }
    seen
}

fn uid(tenant: &TenantService) -> String {
    tenant.metadata.uid.clone().expect("uid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmanaged_namespace_is_never_entered_and_the_other_environments_proceed() {
    let h = Harness::new().await;
    create_namespace(&h, "comune-terlizzi-prod", json!({"team": "sistemi"})).await;
    let before = h
        .namespace("comune-terlizzi-prod")
        .await
        .expect("namespace");
    let operator = h.start_operator(test_config());
    h.apply(&tenant_fixture("comune-terlizzi")).await;

    let tenant = wait_reason(&h, "comune-terlizzi", "NamespaceNotOwned").await;
    let ready = condition(&tenant, "Ready").expect("Ready");
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("comune-terlizzi-prod")
            && ready.message.contains("tenant-operator does not manage it")
            && ready.message.contains(HAND_OVER_TO),
        "{}",
        ready.message
    );
    assert_eq!(
        condition(&tenant, "Namespaces").map(|c| c.reason.as_str()),
        Some("NamespaceNotOwned")
    );
    // The other environment is provisioned.
    h.eventually(
        Duration::from_secs(10),
        "test environment provisioned",
        || async {
            !names_in(
                &h,
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "comune-terlizzi-test",
            )
            .await
            .is_empty()
        },
    )
    .await;
    // Nothing was labelled, created or changed in the namespace that is not the tenant's.
    let after = h
        .namespace("comune-terlizzi-prod")
        .await
        .expect("namespace");
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    for (api_version, kind) in [
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "Secret"),
        ("v1", "ResourceQuota"),
    ] {
        assert_eq!(
            names_in(&h, api_version, kind, "comune-terlizzi-prod").await,
            Vec::<String>::new(),
            "{kind}"
        );
    }
    h.eventually(
        Duration::from_secs(10),
        "NamespaceNotOwned Event",
        || async {
            events(&h, "comune-terlizzi")
                .await
                .iter()
                .any(|(reason, note)| {
                    reason == "NamespaceNotOwned" && note.contains("comune-terlizzi-prod")
                })
        },
    )
    .await;
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_namespace_stays_its_own_and_only_the_newcomer_is_refused() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    // `agenzia` + `sanita-prod` first; `agenzia-sanita` + `prod` spells the same namespace.
    let mut holder = tenant_fixture("agenzia");
    holder["spec"]["environments"] = json!([{"name": "sanita-prod"}]);
    h.apply(&holder).await;
    let holder = h.wait_ready("agenzia").await;
    let before = h.namespace("agenzia-sanita-prod").await.expect("namespace");

    let mut newcomer = tenant_fixture("agenzia-sanita");
    newcomer["spec"]["environments"] = json!([{"name": "prod"}]);
    h.apply(&newcomer).await;
    let refused = wait_reason(&h, "agenzia-sanita", "InvalidSpec").await;
    let message = &condition(&refused, "Ready").expect("Ready").message;
    assert!(
        message.contains("spec.environments[0].name")
            && message.contains("\"agenzia\"")
            && message.contains("first claim wins")
            && message.contains("[ENV-NAMESPACE-TAKEN]"),
        "{message}"
    );
    // The Warning Event names the rule as the condition and `validate` do.
    h.eventually(
        Duration::from_secs(10),
        "InvalidSpec Event naming its rule",
        || async {
            events(&h, "agenzia-sanita")
                .await
                .iter()
                .any(|(reason, note)| {
                    reason == "InvalidSpec" && note.contains("[ENV-NAMESPACE-TAKEN]")
                })
        },
    )
    .await;
    // The holder stays Ready, its namespace untouched and still carrying its UID.
    let still = h.wait_ready("agenzia").await;
    assert_eq!(uid(&still), uid(&holder));
    let after = h.namespace("agenzia-sanita-prod").await.expect("namespace");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(
        after.labels().get(TENANT_UID).map(String::as_str),
        Some(uid(&holder).as_str())
    );
    assert!(
        h.children(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "agenzia-sanita"
        )
        .await
        .is_empty()
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_namespace_is_revoked_not_adopted_and_handed_over_only_after_a_purge() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let old_admin = h
        .server
        .client_as("anna", &["agenzia-admins"])
        .expect("client");
    let new_admin = h
        .server
        .client_as("bruno", &["agenzia-sanita-admins"])
        .expect("client");
    let namespace = "agenzia-sanita-prod";

    // The first body, with data in its namespace; its class allows load balancers.
    h.apply(&default_class_value("large")).await;
    let mut first = tenant_fixture("agenzia");
    first["spec"]["class"] = json!("large");
    first["spec"]["environments"] = json!([{"name": "sanita-prod"}]);
    h.apply(&first).await;
    let first = h.wait_ready("agenzia").await;
    Api::<ConfigMap>::namespaced(old_admin.clone(), namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "archivio"}, "data": {"k": "v"}}))
                .expect("configmap"),
        )
        .await
        .expect("the tenant's admins write their data");

    // Deleted under Retain: the data stays, the groups' access goes.
    Api::<TenantService>::all(h.client.clone())
        .delete("agenzia", &DeleteParams::default())
        .await
        .expect("delete tenant");
    h.wait_tenant("agenzia", Duration::from_secs(20), "gone", |t| t.is_none())
        .await;
    let retained = h.namespace(namespace).await.expect("retained");
    let labels = retained.labels();
    assert_eq!(
        labels
            .get("tenancy.innova.puglia.it/retained")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get(TENANT_UID), Some(&uid(&first)));
    assert!(
        retained
            .annotations()
            .contains_key("tenancy.innova.puglia.it/retained-at")
    );
    assert_eq!(
        names_in(&h, "rbac.authorization.k8s.io/v1", "RoleBinding", namespace).await,
        Vec::<String>::new(),
        "detaching revokes every RoleBinding"
    );
    assert!(
        !can_read(&old_admin, namespace).await,
        "the old body's admins lost access"
    );
    let old_policies = names_in(&h, "networking.k8s.io/v1", "NetworkPolicy", namespace).await;
    assert!(!old_policies.is_empty(), "the rest stays with the data");

    // A newcomer whose name and environment spell the same namespace: no adoption.
    let mut newcomer = tenant_fixture("agenzia-sanita");
    newcomer["spec"]["environments"] = json!([{"name": "prod"}, {"name": "test"}]);
    h.apply(&newcomer).await;
    let refused = wait_reason(&h, "agenzia-sanita", "NamespaceNotOwned").await;
    let message = &condition(&refused, "Ready").expect("Ready").message;
    assert!(
        message.contains(namespace)
            && message.contains("retained from tenant \"agenzia\"")
            && message.contains(&uid(&first)),
        "{message}"
    );
    h.wait_tenant(
        "agenzia-sanita",
        Duration::from_secs(20),
        "test provisioned",
        |t| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.namespaces == ["agenzia-sanita-test"])
        },
    )
    .await;
    let untouched = h.namespace(namespace).await.expect("namespace");
    assert_eq!(
        untouched.metadata.resource_version,
        retained.metadata.resource_version
    );
    assert!(
        !can_read(&new_admin, namespace).await,
        "the newcomer got nothing"
    );

    // Before the hand-over nothing in the retained namespace is the newcomer's.
    for (api_version, kind) in [
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "Secret"),
        ("v1", "ResourceQuota"),
    ] {
        assert!(
            h.children(api_version, kind, "agenzia-sanita")
                .await
                .iter()
                .all(|o| o["metadata"]["namespace"] != namespace),
            "{kind} of the newcomer in {namespace} before any hand-over"
        );
    }
    // What the previous tenant has there, by kind and name.
    let mut previous: Vec<(String, String)> = Vec::new();
    for (api_version, kind) in [
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("v1", "ResourceQuota"),
        ("v1", "LimitRange"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
    ] {
        for object in h.children(api_version, kind, "agenzia").await {
            if object["metadata"]["namespace"] == namespace {
                previous.push((kind.to_string(), name_of(&object)));
            }
        }
    }
    assert!(
        previous.iter().any(|(kind, _)| kind == "Secret"),
        "the previous tenant's TLS Secret is there: {previous:?}"
    );

    // The explicit hand-over: the old objects go first, then the newcomer is granted.
    let marked = annotate(&h, namespace, HAND_OVER_TO, "agenzia-sanita").await;
    let since = marked
        .metadata
        .resource_version
        .clone()
        .expect("resourceVersion");
    let handed = h.wait_ready("agenzia-sanita").await;
    let taken = h.namespace(namespace).await.expect("namespace");
    assert_eq!(taken.labels().get(TENANT_UID), Some(&uid(&handed)));
    assert!(
        !taken
            .labels()
            .contains_key("tenancy.innova.puglia.it/retained")
    );
    assert!(!taken.annotations().contains_key(HAND_OVER_TO));
    assert!(
        !taken.labels().contains_key(ALLOW_LOAD_BALANCER),
        "the newcomer's class allows no load balancer; the previous holder's did: {:?}",
        taken.labels()
    );
    assert!(
        h.children("networking.k8s.io/v1", "NetworkPolicy", "agenzia")
            .await
            .is_empty(),
        "the previous tenant's policies were deleted"
    );
    assert!(
        h.children("v1", "Secret", "agenzia").await.is_empty(),
        "the previous tenant's TLS Secret was deleted"
    );
    let (_, note) = events(&h, "agenzia-sanita")
        .await
        .into_iter()
        .find(|(reason, _)| reason == "NamespaceHandedOver")
        .expect("NamespaceHandedOver Event");
    assert!(
        !note.contains("RoleBinding"),
        "the RoleBindings were revoked when it was retained: {note}"
    );
    for purged in ["NetworkPolicy", "ResourceQuota", "LimitRange", "Secret"] {
        assert!(
            note.contains(&format!("{purged} {namespace}/")),
            "{purged}: {note}"
        );
    }
    // The order, from the API server's own record of the changes: every object of the
    // previous tenant was deleted before the namespace took the newcomer's identity, and
    // that before anything was written for the newcomer inside it (its access above all).
    let mut changes = Vec::new();
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "ResourceQuota"),
        ("v1", "LimitRange"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
    ] {
        changes.extend(changes_since(&h, api_version, kind, namespace, &since).await);
    }
    changes.sort_by_key(|c| c.rv);
    let new_uid = uid(&handed);
    let taken_at = changes
        .iter()
        .find(|c| c.kind == "Namespace" && c.tenant_uid.as_deref() == Some(new_uid.as_str()))
        .unwrap_or_else(|| panic!("the namespace never took the newcomer's UID: {changes:#?}"))
        .rv;
    for (kind, name) in &previous {
        let deleted = changes
            .iter()
            .find(|c| c.event == "DELETED" && &c.kind == kind && &c.name == name)
            .unwrap_or_else(|| {
                panic!("{kind} {name} of the previous tenant was never deleted: {changes:#?}")
            });
        assert_eq!(deleted.tenant.as_deref(), Some("agenzia"), "{deleted:?}");
        assert!(
            deleted.rv < taken_at,
            "{kind} {name} deleted at {} after the namespace was taken at {taken_at}",
            deleted.rv
        );
    }
    let first_grant = changes
        .iter()
        .filter(|c| c.kind != "Namespace" && c.tenant.as_deref() == Some("agenzia-sanita"))
        .map(|c| c.rv)
        .min()
        .expect("the newcomer's objects were written");
    assert!(
        taken_at < first_grant,
        "an object of the newcomer was written at {first_grant}, before the namespace was taken at {taken_at}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.kind == "RoleBinding" && c.tenant.as_deref() == Some("agenzia-sanita")),
        "the newcomer's access was granted: {changes:#?}"
    );
    assert!(
        can_read(&new_admin, namespace).await,
        "the new body's admins are granted"
    );
    assert!(!can_read(&old_admin, namespace).await);
    assert!(
        Api::<ConfigMap>::namespaced(h.client.clone(), namespace)
            .get_opt("archivio")
            .await
            .expect("get")
            .is_some(),
        "the data stays"
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_claiming_a_hostname_is_refused_while_the_incumbent_stays_ready_and_renews() {
    let h = Harness::new().await;
    let mut config = test_config();
    // 6-second certificates: renewed after 4 s, during the conflict.
    config.settings.certificate_lifetime = Duration::from_secs(6);
    let operator = h.start_operator(config);
    h.apply(&tenant_fixture("comune-ruvo")).await;
    h.wait_ready("comune-ruvo").await;

    let mut newcomer = tenant_fixture("comune-corato");
    newcomer["spec"]["tls"] = json!({"hostnames": ["servizi.comune-ruvo.example.it"]});
    h.apply(&newcomer).await;
    let refused = wait_reason(&h, "comune-corato", "InvalidSpec").await;
    let message = &condition(&refused, "Ready").expect("Ready").message;
    assert!(
        message.contains("spec.tls.hostnames[0]")
            && message.contains("\"comune-ruvo\"")
            && message.contains("first claim wins"),
        "{message}"
    );
    assert!(h.namespace("comune-corato-prod").await.is_none());

    // The conflict is on from here: the certificates the incumbent holds now are the ones
    // that must be renewed while it lasts (taken after the refusal, so that a renewal
    // before the newcomer arrived does not count).
    let at_conflict = h.tenant("comune-ruvo").await.expect("incumbent");
    assert!(is_ready(&at_conflict), "{:?}", at_conflict.status);
    let first: Vec<String> = at_conflict
        .status
        .as_ref()
        .expect("status")
        .certificates
        .iter()
        .map(|c| c.serial.clone())
        .collect();
    assert_eq!(first.len(), 2, "one certificate per environment");

    // The incumbent keeps being reconciled: Ready all along, certificates renewed.
    let renewed = h
        .wait_tenant("comune-ruvo", Duration::from_secs(15), "renewed", |t| {
            let t = t.expect("the incumbent exists");
            assert!(is_ready(t), "the incumbent left Ready: {:?}", t.status);
            t.status.as_ref().is_some_and(|s| {
                s.certificates.len() == first.len()
                    && s.certificates.iter().all(|c| !first.contains(&c.serial))
            })
        })
        .await
        .expect("tenant");
    assert!(is_ready(&renewed));
    // What the workloads mount was renewed, not only the status: each TLS Secret holds the
    // certificate the status names, for the incumbent's own hostname.
    for certificate in &renewed.status.as_ref().expect("status").certificates {
        let namespace = format!("comune-ruvo-{}", certificate.environment);
        let secret = Api::<Secret>::namespaced(h.client.clone(), &namespace)
            .get(&certificate.secret_name)
            .await
            .expect("TLS Secret");
        let pem = secret
            .data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .expect("tls.crt")
            .0
            .clone();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM certificate");
        let (_, cert) = X509Certificate::from_der(&pem.contents).expect("X.509 certificate");
        assert_eq!(
            cert.raw_serial_as_string(),
            certificate.serial,
            "{namespace}"
        );
        assert!(!first.contains(&cert.raw_serial_as_string()), "{namespace}");
        assert!(
            certificate
                .dns_names
                .iter()
                .any(|n| n.ends_with("servizi.comune-ruvo.example.it")),
            "{:?}",
            certificate.dns_names
        );
    }
    assert_eq!(
        condition(&h.tenant("comune-corato").await.expect("newcomer"), "Ready")
            .map(|c| c.reason.as_str()),
        Some("InvalidSpec")
    );
    operator.stop().await.expect("clean stop");
}

/// The consenting NetworkPolicies (`tenancy-allow-from-tenants`) in `namespace`, as the
/// `matchLabels` of each namespace selector they admit.
async fn consent_selectors(h: &Harness, namespace: &str) -> Vec<Value> {
    let api: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(h.client.clone(), namespace);
    match api
        .get_opt("tenancy-allow-from-tenants")
        .await
        .expect("get")
    {
        None => Vec::new(),
        Some(policy) => {
            let value = serde_json::to_value(policy).expect("json");
            value["spec"]["ingress"][0]["from"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|peer| peer["namespaceSelector"]["matchLabels"].clone())
                .collect()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_bound_to_the_peer_it_was_given_to_not_to_a_recreated_one() {
    let h = Harness::new().await;
    let operator = h.start_operator(test_config());
    let mut bari = tenant_fixture("comune-bari");
    bari["spec"]["network"]["allowFrom"] = json!([{"tenant": "regione-puglia"}]);
    let mut regione = tenant_fixture("regione-puglia");
    regione["spec"]["network"]["allowFrom"] = json!([{"tenant": "comune-bari"}]);
    regione["spec"]["deletionPolicy"] = json!("Delete");
    h.apply(&bari).await;
    h.apply(&regione).await;
    let first = uid(&h.wait_ready("regione-puglia").await);
    h.eventually(
        Duration::from_secs(10),
        "consent bound and opened",
        || async {
            let bound = h.tenant("comune-bari").await.is_some_and(|t| {
                t.status.is_some_and(|s| {
                    s.consented_peers.len() == 1 && s.consented_peers[0].uid == first
                })
            });
            let selectors = consent_selectors(&h, "comune-bari-prod").await;
            bound
                && selectors.len() == 1
                && selectors[0][TENANT_UID] == first.as_str()
                && selectors[0]["tenancy.innova.puglia.it/tenant"] == "regione-puglia"
        },
    )
    .await;

    // Deleted, then created again under the same name (by another body, say).
    Api::<TenantService>::all(h.client.clone())
        .delete("regione-puglia", &DeleteParams::default())
        .await
        .expect("delete");
    h.wait_tenant("regione-puglia", Duration::from_secs(20), "gone", |t| {
        t.is_none()
    })
    .await;
    h.apply(&regione).await;
    let second = uid(&h.wait_ready("regione-puglia").await);
    assert_ne!(first, second);
    let bari_now = h
        .wait_tenant(
            "comune-bari",
            Duration::from_secs(20),
            "PeerReplaced",
            |t| {
                t.and_then(|t| condition(t, "Network"))
                    .is_some_and(|c| c.reason == "PeerReplaced")
            },
        )
        .await
        .expect("tenant");
    assert!(
        is_ready(&bari_now),
        "another tenant's re-creation leaves it Ready"
    );
    let network = condition(&bari_now, "Network").expect("Network");
    assert_eq!(network.status, "False");
    assert!(
        network.message.contains("spec.network.allowFrom[0].uid")
            && network.message.contains(&first)
            && network.message.contains(&second),
        "{}",
        network.message
    );
    // No traffic either way: neither side has a consent policy for the other.
    h.eventually(Duration::from_secs(10), "no consent policies", || async {
        consent_selectors(&h, "comune-bari-prod").await.is_empty()
            && consent_selectors(&h, "regione-puglia-prod")
                .await
                .is_empty()
    })
    .await;

    // Consenting to the new tenant is explicit: the entry names its UID.
    bari["spec"]["network"]["allowFrom"] = json!([{"tenant": "regione-puglia", "uid": second}]);
    h.apply(&bari).await;
    h.eventually(
        Duration::from_secs(10),
        "consent to the new tenant",
        || async {
            let ours = consent_selectors(&h, "comune-bari-prod").await;
            let theirs = consent_selectors(&h, "regione-puglia-prod").await;
            ours.len() == 1 && ours[0][TENANT_UID] == second.as_str() && theirs.len() == 1
        },
    )
    .await;
    let bari_now = h.wait_ready("comune-bari").await;
    assert_eq!(
        condition(&bari_now, "Network").map(|c| c.status.as_str()),
        Some("True")
    );
    operator.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_but_the_operator_records_or_rebinds_a_consent() {
    /// A UID of no tenant: what the robot would bind the consent to.
    const FORGED: &str = "99999999-9999-4999-8999-999999999999";
    let h = Harness::new().await;
    // A GitOps robot that a cluster administrator gave every right on TenantServices, their
    // status included (a mis-bound role: RBAC alone would let it write the status).
    let robot_name = "system:serviceaccount:argocd:argocd-application-controller";
    h.apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "gitops-tenantservices"},
        "rules": [{"apiGroups": ["tenancy.innova.puglia.it"],
                   "resources": ["tenantservices", "tenantservices/status"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    }))
    .await;
    h.apply(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "gitops-tenantservices"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gitops-tenantservices"},
        "subjects": [{"kind": "User", "name": robot_name}]
    }))
    .await;
    let robot = h
        .server
        .client_as(robot_name, &["system:serviceaccounts"])
        .expect("client");
    let robot_tenants: Api<TenantService> = Api::all(robot.clone());
    let operator = h.start_operator(test_config());

    // The robot applies a tenant whose status is pre-seeded with a binding of its choosing:
    // the API server drops a status sent with the object.
    let mut bari = tenant_fixture("comune-bari");
    bari["spec"]["network"]["allowFrom"] = json!([{"tenant": "regione-puglia"}]);
    bari["status"] = json!({"consentedPeers": [{"tenant": "regione-puglia", "uid": FORGED}]});
    dynamic_api(&robot, &bari)
        .patch(
            "comune-bari",
            &PatchParams::apply("argocd").force(),
            &Patch::Apply(&bari),
        )
        .await
        .expect("the robot may apply TenantServices");
    let mut regione = tenant_fixture("regione-puglia");
    regione["spec"]["network"]["allowFrom"] = json!([{"tenant": "comune-bari"}]);
    h.apply(&regione).await;
    let regione_uid = uid(&h.wait_ready("regione-puglia").await);
    let bound = h
        .wait_tenant(
            "comune-bari",
            Duration::from_secs(20),
            "bound to the real tenant",
            |t| {
                t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
                    s.consented_peers.len() == 1 && s.consented_peers[0].uid == regione_uid
                })
            },
        )
        .await
        .expect("tenant");
    assert!(is_ready(&bound));

    // Re-binding the consent (to a tenant re-created under the same name) or clearing it
    // (so that the next tenant of that name is bound on first sight) is refused.
    for forged in [
        json!({"status": {"consentedPeers": [{"tenant": "regione-puglia", "uid": FORGED}]}}),
        json!({"status": {"consentedPeers": []}}),
    ] {
        match robot_tenants
            .patch_status(
                "comune-bari",
                &PatchParams::default(),
                &Patch::Merge(&forged),
            )
            .await
        {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403, "{status:?}");
                assert!(
                    status
                        .message
                        .contains("only tenant-operator writes the status of a TenantService"),
                    "{}",
                    status.message
                );
            }
            other => panic!("the robot wrote a status: {other:?}"),
        }
    }
    let after = h.tenant("comune-bari").await.expect("tenant");
    assert_eq!(
        after.status.as_ref().map(|s| s.consented_peers.clone()),
        bound.status.as_ref().map(|s| s.consented_peers.clone()),
        "the binding is the operator's"
    );
    operator.stop().await.expect("clean stop");
}
