//! `TenantClass`: a quota plan and policy bundle that tenants pick by name.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::tenant_service::DataClassification;

/// A quota plan and policy bundle for tenants: resource maxima per environment and per
/// tenant, LimitRange defaults, the Pod Security level, the data classifications it may
/// host and the egress destinations its tenants may reference. The default classes are
/// files in `policies/classes/`, reviewed by the security team.
// clippy reads the repeated `type_ = "string"` of kube's printcolumn(...) arguments as
// duplicated attributes; they are arguments of distinct columns.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tenancy.innova.puglia.it",
    version = "v1alpha1",
    kind = "TenantClass",
    plural = "tenantclasses",
    singular = "tenantclass",
    shortname = "tc",
    category = "tenancy",
    doc = "A quota plan and policy bundle for tenants: per-environment and per-tenant maxima, LimitRange defaults, Pod Security level, allowed data classifications and egress destinations.",
    printcolumn(
        name = "Description",
        type_ = "string",
        json_path = ".spec.description"
    ),
    printcolumn(
        name = "Pod-Security",
        type_ = "string",
        json_path = ".spec.podSecurity"
    ),
    printcolumn(
        name = "Env-CPU",
        type_ = "string",
        json_path = ".spec.quota.environmentMax.cpu",
        description = "CPU maximum per environment"
    ),
    printcolumn(
        name = "Env-Memory",
        type_ = "string",
        json_path = ".spec.quota.environmentMax.memory",
        description = "Memory maximum per environment"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantClassSpec {
    /// What the class is for, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,

    /// Resource quota plan.
    pub quota: QuotaPlan,

    /// Defaults and bounds for containers that do not declare resources.
    pub limit_range: LimitRangeDefaults,

    /// Pod Security Standard enforced on the tenant namespaces.
    #[serde(default)]
    pub pod_security: PodSecurityLevel,

    /// Data classifications the class may host. A tenant's `dataClassification` must be listed.
    #[schemars(length(min = 1, max = 3))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_data_classifications: Vec<DataClassification>,

    /// Destinations outside the cluster that tenants of this class may add to their egress
    /// allowlist, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub egress_destinations: Vec<EgressDestination>,

    /// Service types that tenants may create besides ClusterIP.
    #[serde(default)]
    pub services: ServicePolicy,

    /// IngressClasses tenants' Ingresses may name in `spec.ingressClassName` (the classes
    /// of the regional ingress gateway). Empty: tenants may not create Ingresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub ingress_class_names: Vec<String>,

    /// Where tenants' pods may run. Without it, on the shared nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Nodes kept for some tenants of a class.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// The node pool of the class's tenants whose data classification is listed in
    /// `dataClassifications`. Its nodes carry the label and the `NoSchedule` taint
    /// `node-restriction.kubernetes.io/tenancy-node-pool=<nodePool>` (a label kubelets
    /// cannot set on themselves); the operator makes those tenants' pods select and
    /// tolerate it, and no other tenant's pod may.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub node_pool: String,
    /// Data classifications whose tenants run on the pool, e.g. `[critico, strategico]`.
    #[schemars(length(min = 1, max = 3))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub data_classifications: Vec<DataClassification>,
}

impl TenantClassSpec {
    /// The node pool of tenants with `classification`, if the class keeps one for them.
    pub fn node_pool_for(&self, classification: DataClassification) -> Option<&str> {
        self.placement
            .as_ref()
            .filter(|p| p.data_classifications.contains(&classification))
            .map(|p| p.node_pool.as_str())
    }
}

/// Quota plan of a class.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuotaPlan {
    /// Quota of an environment that does not override it.
    pub environment_default: ResourceAmounts,
    /// Largest quota one environment may request.
    pub environment_max: ResourceAmounts,
    /// Largest total over all environments of one tenant.
    pub tenant_max: ResourceAmounts,
}

/// A set of resource amounts, as in a ResourceQuota. Every field is required so that a
/// class states its plan completely.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAmounts {
    /// CPU, e.g. `"8"` or `"500m"`.
    pub cpu: Quantity,
    /// Memory, e.g. `16Gi`.
    pub memory: Quantity,
    /// Storage requested by PersistentVolumeClaims, e.g. `100Gi`.
    pub storage: Quantity,
    /// Number of pods.
    #[schemars(range(min = 0))]
    pub pods: i64,
    /// Number of Services.
    #[schemars(range(min = 0))]
    pub services: i64,
    /// Number of PersistentVolumeClaims.
    #[schemars(range(min = 0))]
    pub persistent_volume_claims: i64,
    /// Number of Services of type LoadBalancer.
    #[schemars(range(min = 0))]
    pub load_balancers: i64,
    /// Local ephemeral storage (`emptyDir`, container writable layers, logs) requested and
    /// used by all pods together, e.g. `20Gi`: a pod filling a node's disk evicts others.
    pub ephemeral_storage: Quantity,
    /// Number of Secrets (the operator's TLS Secret counts too). Object counts keep a
    /// tenant from filling etcd, which would stop every write in the cluster.
    #[schemars(range(min = 0))]
    pub secrets: i64,
    /// Number of ConfigMaps (the CA bundle and the API server's `kube-root-ca.crt` count too).
    #[schemars(range(min = 0))]
    pub config_maps: i64,
    /// Number of Jobs.
    #[schemars(range(min = 0))]
    pub jobs: i64,
    /// Number of CronJobs.
    #[schemars(range(min = 0))]
    pub cron_jobs: i64,
    /// Number of Ingresses.
    #[schemars(range(min = 0))]
    pub ingresses: i64,
    /// Number of PodDisruptionBudgets.
    #[schemars(range(min = 0))]
    pub pod_disruption_budgets: i64,
    /// Number of HorizontalPodAutoscalers.
    #[schemars(range(min = 0))]
    pub horizontal_pod_autoscalers: i64,
    /// Number of ServiceAccounts (the API server's `default` counts too).
    #[schemars(range(min = 0))]
    pub service_accounts: i64,
}

/// LimitRange for containers in tenant namespaces.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeDefaults {
    /// CPU request of a container that declares none.
    pub default_request_cpu: Quantity,
    /// Memory request of a container that declares none.
    pub default_request_memory: Quantity,
    /// CPU limit of a container that declares none.
    pub default_limit_cpu: Quantity,
    /// Memory limit of a container that declares none.
    pub default_limit_memory: Quantity,
    /// Largest CPU limit of one container.
    pub max_cpu: Quantity,
    /// Largest memory limit of one container.
    pub max_memory: Quantity,
    /// Ephemeral storage request of a container that declares none.
    pub default_request_ephemeral_storage: Quantity,
    /// Ephemeral storage limit of a container that declares none (the kubelet evicts a pod
    /// whose container writes more).
    pub default_limit_ephemeral_storage: Quantity,
    /// Largest ephemeral storage limit of one container.
    pub max_ephemeral_storage: Quantity,
}

/// Pod Security Standard level.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    /// Heavily restricted (default): current Pod hardening best practices.
    #[default]
    Restricted,
    /// Prevents known privilege escalations.
    Baseline,
}

impl PodSecurityLevel {
    /// The value of the `pod-security.kubernetes.io/enforce` label.
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Restricted => "restricted",
            PodSecurityLevel::Baseline => "baseline",
        }
    }
}

/// A named destination outside the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EgressDestination {
    /// Name tenants use in `spec.network.egress[].name`.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// What the destination is, e.g. `PagoPA payment nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// Networks of the destination, in CIDR notation.
    #[schemars(length(min = 1, max = 32))]
    pub cidrs: Vec<String>,
    /// TCP ports of the destination.
    #[schemars(length(min = 1, max = 16))]
    pub ports: Vec<i32>,
}

/// Which Service types tenants may create besides ClusterIP (and headless). Enforced by the admission
/// policy in `policies/admission/` through namespace labels.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServicePolicy {
    /// Allow Services of type LoadBalancer (counted by the `loadBalancers` quota).
    #[serde(default)]
    pub allow_load_balancer: bool,
    /// Allow Services of type NodePort.
    #[serde(default)]
    pub allow_node_port: bool,
    /// Allow Services of type ExternalName (DNS aliases the ingress gateway would follow).
    #[serde(default)]
    pub allow_external_name: bool,
}
