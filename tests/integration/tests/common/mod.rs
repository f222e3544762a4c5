//! Test harness: a fresh in-memory API server with the CRDs, the operator namespace, the
//! chart's RBAC, the admission policies of `policies/admission` and a TenantClass, and the
//! real controller running in-process against it as its own ServiceAccount
//! (`system:serviceaccount:tenant-operator:tenant-operator`), so that a permission missing
//! from the chart, or a policy that blocks the operator, fails the tests.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_apiserver::{Config, ServerHandle};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tenant_operator::api::{TenantClass, TenantService};
use tenant_operator::chart;
pub use tenant_operator::fixtures::default_class_value;
use tenant_operator::pki::CaSettings;
use tenant_operator::reconcile::context::Settings;
use tenant_operator::reconcile::controller::{self, OperatorConfig, RunError};
use tenant_operator::reconcile::leader::LeaseConfig;
use tenant_operator::render::Platform;
use tenant_operator::telemetry::{Metrics, Readiness};
use tokio::sync::oneshot;

/// Namespace the operator runs in.
pub const OPERATOR_NS: &str = "tenant-operator";
/// Field manager of the tests' own writes (playing the user or a GitOps tool).
pub const TEST_MANAGER: &str = "integration-test";

/// A fresh API server prepared for the operator.
pub struct Harness {
    pub server: ServerHandle,
    /// The cluster admin (`system:masters`): the tests' own writes, playing the datacenter
    /// operator or a GitOps tool.
    pub client: Client,
    /// The operator's ServiceAccount, bound by the chart's RBAC: what the controller uses.
    pub operator_client: Client,
}

/// A running operator replica.
pub struct Operator {
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
}

impl Operator {
    /// Orderly shutdown; returns what `run` returned.
    pub async fn stop(mut self) -> Result<(), RunError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => panic!("operator task panicked: {join}"),
            Err(_) => {
                self.task.abort();
                panic!("operator did not stop within 10 s");
            }
        }
    }

    /// Abrupt stop (a crash): no lease release, in-flight work dropped.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Writes this replica made, from its own metrics.
    pub fn writes(&self) -> u64 {
        let text = self.metrics.encode().expect("metrics encode");
        text.lines()
            .filter(|l| l.starts_with("tenant_operator_api_writes_total{"))
            // Counters of whole writes: printed as integers.
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Value of a metric line that starts with `prefix` (name and labels).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let text = self.metrics.encode().expect("metrics encode");
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Operator settings for tests: fast backoff and debounce, long resync (tests that need a
/// resync set it), 90-day certificates.
pub fn test_config() -> OperatorConfig {
    let mut settings = Settings::new(OPERATOR_NS);
    settings.backoff_base = Duration::from_millis(100);
    settings.backoff_max = Duration::from_secs(2);
    settings.debounce = Duration::from_millis(50);
    settings.resync_interval = Duration::from_secs(300);
    OperatorConfig {
        settings,
        platform: Platform::default(),
        reserved_namespaces: tenant_operator::samples::reserved_namespaces(),
        ca_secret: tenant_operator::pki::DEFAULT_CA_SECRET.to_string(),
        ca_settings: CaSettings::default(),
        ca_new_root: tenant_operator::pki::NewRoot::default(),
        leader_election: None,
        identity: "test-replica".to_string(),
        crd_timeout: Duration::from_secs(10),
        install_crds: false,
    }
}

/// Lease settings short enough for tests.
pub fn test_lease(identity: &str) -> LeaseConfig {
    let mut lease = LeaseConfig::new(OPERATOR_NS, identity);
    lease.lease_duration = Duration::from_secs(2);
    lease.renew_deadline = Duration::from_millis(1400);
    lease.renew_interval = Duration::from_millis(400);
    lease.retry_interval = Duration::from_millis(200);
    lease
}

/// The delegation of `example.it` to the body of [`tenant_fixture`] (IPA `c_f284`), so
/// that the fixture's hostnames `servizi.<name>.example.it` are its own.
pub fn fixture_delegation() -> Value {
    tenant_operator::fixtures::delegation_value("fixture-tenants", "c_f284", &["example.it"])
}

/// A Comune tenant (Molfetta, ISTAT 072029) with two environments, PagoPA egress, one
/// hostname and groups.
pub fn tenant_fixture(name: &str) -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": name},
        "spec": {
            "entity": {"type": "Comune", "displayName": "Comune di Molfetta", "istatCode": "072029", "ipaCode": "c_f284", "province": "BA"},
            "contacts": {"rtd": "rtd@comune.molfetta.ba.it"},
            "dataClassification": "ordinario",
            "class": "standard",
            "environments": [{"name": "prod"}, {"name": "test"}],
            "network": {"egress": [{"name": "pagopa"}]},
            "tls": {"hostnames": [format!("servizi.{name}.example.it")]},
            "access": {"adminGroups": [format!("{name}-admins")], "viewerGroups": [format!("{name}-auditors")]},
            "deletionPolicy": "Retain"
        }
    })
}

impl Harness {
    /// A fresh server with CRDs (from the Rust types), the operator namespace, the chart's
    /// RBAC, the admission policies and the default `standard` class of `policies/classes`.
    pub async fn new() -> Harness {
        Harness::with_tokens(Vec::new()).await
    }

    /// [`Harness::new`] with users who authenticate with their own bearer tokens (and so
    /// go through RBAC for impersonation, as a real user's `kubectl --as-group` does).
    pub async fn with_tokens(tokens: Vec<fake_apiserver::StaticToken>) -> Harness {
        let server = fake_apiserver::start(Config {
            tokens,
            ..Config::default()
        })
        .await
        .expect("start fake API server");
        let client = server.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in tenant_operator::api::crd::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("create CRD");
        }
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": OPERATOR_NS}}))
                    .expect("namespace"),
            )
            .await
            .expect("create operator namespace");
        install_platform(&client).await;
        let operator_client = server
            .client_as(&operator_username(), &[])
            .expect("client for the operator's ServiceAccount");
        let harness = Harness {
            server,
            client,
            operator_client,
        };
        harness.apply(&default_class_value("standard")).await;
        harness.apply(&fixture_delegation()).await;
        harness
    }

    /// Starts an operator replica with `config`.
    pub fn start_operator(&self, config: OperatorConfig) -> Operator {
        self.start_operator_with(self.operator_client.clone(), config)
    }

    /// Starts an operator replica with `config` that sends `User-Agent: <agent>` (as the
    /// operator's ServiceAccount), so that faults can single it out.
    pub fn start_operator_as_agent(&self, agent: &str, config: OperatorConfig) -> Operator {
        let client = self
            .server
            .client_as_agent(&operator_username(), &[], agent)
            .expect("client for the operator's ServiceAccount");
        self.start_operator_with(client, config)
    }

    fn start_operator_with(&self, client: Client, config: OperatorConfig) -> Operator {
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let readiness = Arc::new(Readiness::default());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(controller::run(
            client,
            config,
            metrics.clone(),
            readiness.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Operator {
            shutdown: Some(tx),
            task,
            metrics,
            readiness,
        }
    }

    /// The samples as `tenant-operator dev` provisions them: the default classes applied, an
    /// operator started, the sample tenants applied and waited for until Ready. Returns the
    /// operator and the tenants' manifests.
    pub async fn provision_samples(&self) -> (Operator, Vec<Value>) {
        for class in class_manifests() {
            self.apply(&class).await;
        }
        // The samples' domains, as the chart installs them from policies/delegations/.
        for delegation in tenant_operator::samples::sample_delegations().expect("delegations parse")
        {
            self.apply(&serde_json::to_value(delegation).expect("JSON"))
                .await;
        }
        let operator = self.start_operator(test_config());
        let tenants = sample_manifests();
        for tenant in &tenants {
            self.apply(tenant).await;
        }
        for tenant in &tenants {
            let name = tenant["metadata"]["name"].as_str().expect("named");
            self.wait_ready(name).await;
        }
        (operator, tenants)
    }

    /// Server-side applies a manifest as the test's field manager.
    pub async fn apply(&self, manifest: &Value) {
        let api = dynamic_api(&self.client, manifest);
        let name = manifest["metadata"]["name"].as_str().expect("name");
        api.patch(
            name,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(manifest),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }

    /// Mutating requests since the last reset, leases excluded (leader election renews
    /// them by design).
    pub fn writes(&self) -> u64 {
        let counts = self.server.request_counts();
        let leases: u64 = counts
            .counts
            .iter()
            .filter(|((verb, resource, _), _)| {
                resource.starts_with("leases")
                    && ["create", "update", "patch", "delete"].contains(&verb.as_str())
            })
            .map(|(_, n)| n)
            .sum();
        counts.mutating() - leases
    }

    /// Waits until the server has taken no mutating request (leases aside) for `quiet`:
    /// after a tenant turns Ready, its last Events and status writes may still be in flight.
    /// Panics after 10 s of continuous writes.
    pub async fn wait_quiet(&self, quiet: Duration) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.writes();
        loop {
            tokio::time::sleep(quiet).await;
            let now = self.writes();
            if now == last {
                return;
            }
            assert!(Instant::now() < deadline, "the server kept taking writes");
            last = now;
        }
    }

    /// The tenant, if it exists.
    pub async fn tenant(&self, name: &str) -> Option<TenantService> {
        Api::<TenantService>::all(self.client.clone())
            .get_opt(name)
            .await
            .expect("get tenant")
    }

    /// Waits until `predicate` holds for the tenant, or panics after `timeout` with the last
    /// state seen.
    pub async fn wait_tenant(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        predicate: impl Fn(Option<&TenantService>) -> bool,
    ) -> Option<TenantService> {
        let deadline = Instant::now() + timeout;
        loop {
            let tenant = self.tenant(name).await;
            if predicate(tenant.as_ref()) {
                return tenant;
            }
            assert!(
                Instant::now() <= deadline,
                "tenant {name}: not {what} after {timeout:?}; last seen: {}",
                serde_json::to_string_pretty(&tenant.map(|t| t.status)).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the tenant is Ready for its current generation.
    pub async fn wait_ready(&self, name: &str) -> TenantService {
        self.wait_tenant(name, Duration::from_secs(20), "Ready", |t| {
            t.is_some_and(is_ready)
        })
        .await
        .expect("ready tenant exists")
    }

    /// Objects of `kind` (plural, group/version) labelled with the tenant.
    pub async fn children(&self, api_version: &str, kind: &str, tenant: &str) -> Vec<Value> {
        let resource = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            api_version.split_once('/').map_or("", |(g, _)| g),
            api_version.rsplit('/').next().unwrap_or(api_version),
            kind,
        ));
        let api: Api<kube::api::DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let list = api
            .list(
                &ListParams::default().labels(&format!("tenancy.innova.puglia.it/tenant={tenant}")),
            )
            .await
            .expect("list children");
        list.items
            .into_iter()
            .map(|o| serde_json::to_value(o).expect("json"))
            .collect()
    }

    /// Whether a namespace exists.
    pub async fn namespace(&self, name: &str) -> Option<Namespace> {
        Api::<Namespace>::all(self.client.clone())
            .get_opt(name)
            .await
            .expect("get namespace")
    }

    /// Waits until `check` returns true (polling), panicking with `what` after `timeout`.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while !check().await {
            assert!(Instant::now() <= deadline, "not {what} after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The operator's user name: its ServiceAccount in [`OPERATOR_NS`], as the chart names it.
pub fn operator_username() -> String {
    chart::operator_username(chart_release()).expect("the chart's values name a ServiceAccount")
}

/// The chart's release the tests install: the default one, in [`OPERATOR_NS`].
pub fn chart_release() -> chart::Release<'static> {
    chart::Release {
        name: "tenant-operator",
        namespace: OPERATOR_NS,
    }
}

/// Installs, as the cluster admin, what the chart installs that decides who may do what:
/// its RBAC (rendered from the chart's templates) and the admission policies.
pub async fn install_platform(admin: &Client) {
    let access = chart::access_objects(chart_release()).expect("the chart's RBAC renders");
    chart::install(admin, &access, TEST_MANAGER)
        .await
        .expect("install the chart's RBAC and admission policies");
}

/// The samples' TenantServices (`samples/*.yaml`), as manifests, by file name.
pub fn sample_manifests() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("samples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable sample");
            serde_saphyr::from_str(&text).expect("a sample parses")
        })
        .collect()
}

/// The default TenantClasses (`policies/classes`), as manifests.
pub fn class_manifests() -> Vec<Value> {
    tenant_operator::samples::DEFAULT_CLASSES
        .iter()
        .map(|(_, text)| serde_saphyr::from_str(text).expect("a class parses"))
        .collect()
}

/// Labels a TenantClass (a change that triggers every tenant of the class, changing
/// nothing they render).
pub async fn touch_class(h: &Harness, name: &str) {
    Api::<TenantClass>::all(h.client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": jiff::Timestamp::now().as_second().to_string()}}})),
        )
        .await
        .expect("touch class");
}

/// A dynamic Api for a manifest's apiVersion/kind (plural by lowercase + "s" rules of the
/// kinds used in tests).
pub fn dynamic_api(client: &Client, manifest: &Value) -> Api<kube::api::DynamicObject> {
    let api_version = manifest["apiVersion"].as_str().expect("apiVersion");
    let kind = manifest["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "TenantClass" => "tenantclasses".to_string(),
        "DomainDelegation" => "domaindelegations".to_string(),
        "NetworkPolicy" => "networkpolicies".to_string(),
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies".to_string(),
        other => format!("{}s", other.to_lowercase()),
    };
    let resource = kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural);
    match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Ready=True for the current generation.
pub fn is_ready(tenant: &TenantService) -> bool {
    let Some(status) = &tenant.status else {
        return false;
    };
    status.observed_generation == tenant.metadata.generation
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The condition `type_` of the tenant.
pub fn condition<'a>(
    tenant: &'a TenantService,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    tenant
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Labels of a JSON object.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default()
}

/// Name of a JSON object.
pub fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Tenant name of a TenantService.
pub fn tenant_name(tenant: &TenantService) -> String {
    tenant.name_any()
}
