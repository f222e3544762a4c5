//! `TenantService`: one per public body hosted in the regional datacenter.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A public body (Comune, ASL, hospital, regional agency) hosted as a tenant of the
/// regional datacenter. The operator gives it one isolated namespace per environment,
/// network policies, quotas, RBAC for its groups, TLS certificates from the regional CA
/// and metrics.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "tenancy.innova.puglia.it",
    version = "v1alpha1",
    kind = "TenantService",
    plural = "tenantservices",
    singular = "tenantservice",
    shortname = "ts",
    shortname = "tenant",
    category = "tenancy",
    status = "TenantServiceStatus",
    doc = "A public body hosted as a tenant of the regional datacenter: one isolated namespace per environment, network policies, quotas, RBAC, TLS certificates and metrics, all derived from this spec.",
    printcolumn(name = "Entity", type_ = "string", json_path = ".spec.entity.displayName", description = "Name of the public body"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.entity.type", description = "Kind of public body", priority = 1),
    printcolumn(name = "Classification", type_ = "string", json_path = ".spec.dataClassification", description = "AgID/ACN data classification"),
    printcolumn(name = "Class", type_ = "string", json_path = ".spec.class", description = "TenantClass (quota plan and policy bundle)", priority = 1),
    printcolumn(name = "Environments", type_ = "string", json_path = ".status.environments", description = "Environments provisioned"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether every concern is reconciled"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 52").message("metadata.name must be at most 52 characters, so that '<tenant>-<environment>' namespace names fit in 63"),
    validation = Rule::new("self.spec.environments.all(e, size(self.metadata.name) + 1 + size(e.name) <= 63)").message("every namespace name '<tenant>-<environment>' must be at most 63 characters; shorten the tenant or the environment name"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(self.entity.type in ['ASL', 'AziendaOspedaliera', 'IRCCS']) || self.dataClassification in ['critico', 'strategico']").message("health bodies (ASL, AziendaOspedaliera, IRCCS) hold at least 'critico' data: set dataClassification to 'critico' or 'strategico'").field_path(".dataClassification"))]
#[x_kube(validation = Rule::new("self.environments.filter(e, has(e.production) && e.production).size() <= 1").message("at most one environment is production: set production: true on one environment only").field_path(".environments"))]
pub struct TenantServiceSpec {
    /// The public body this tenant belongs to.
    pub entity: Entity,

    /// People to contact about this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Contacts>,

    /// AgID/ACN classification of the data the tenant holds: `ordinario`, `critico` or
    /// `strategico`. Health bodies hold at least `critico` data; the TenantClass must allow it.
    pub data_classification: DataClassification,

    /// Name of the TenantClass (quota plan and policy bundle) this tenant uses.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub class: String,

    /// Environments of the tenant; each gets one namespace named `<tenant>-<environment>`.
    #[schemars(length(min = 1, max = 8))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub environments: Vec<Environment>,

    /// Network access beyond the baseline (default deny; DNS, same namespace, the regional
    /// ingress gateway and the monitoring stack allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,

    /// TLS certificates issued by the regional CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,

    /// Groups of the tenant's identity provider bound to roles in the tenant namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,

    /// What happens to the namespaces when the TenantService is deleted or an environment is
    /// removed: `Retain` (default) keeps them and their data, detached from the operator;
    /// `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The public body behind a tenant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'Comune' || (has(self.istatCode) && has(self.province))").message("a Comune needs istatCode and province"))]
// The prefix rule covers Puglia's provinces, whose codes fit in a CEL literal; the Rust
// validation checks every Italian Comune against the embedded ISTAT registry. A code that is
// not six characters is left to the schema pattern (the apiserver evaluates CEL rules even
// after a pattern error; `startsWith` rather than `substring` cannot fail at run time).
#[x_kube(validation = Rule::new("!has(self.istatCode) || !has(self.province) || size(self.istatCode) != 6 || !(self.province in ['FG', 'BA', 'TA', 'BR', 'LE', 'BT']) || self.istatCode.startsWith({'FG': '071', 'BA': '072', 'TA': '073', 'BR': '074', 'LE': '075', 'BT': '110'}[self.province])").message("the first three digits of istatCode must be the province's ISTAT code (FG 071, BA 072, TA 073, BR 074, LE 075, BT 110)").field_path(".istatCode"))]
pub struct Entity {
    /// Kind of public body.
    #[serde(rename = "type")]
    pub entity_type: EntityType,

    /// Official name of the body, e.g. `Comune di Molfetta`.
    #[schemars(length(min = 1, max = 128))]
    pub display_name: String,

    /// ISTAT code of the Comune: six digits, the first three being the province
    /// (FG 071, BA 072, TA 073, BR 074, LE 075, BT 110). Required for a Comune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{6}$"))]
    pub istat_code: Option<String>,

    /// Code of the body in the national IPA index (Indice dei domicili digitali della
    /// Pubblica Amministrazione), e.g. `c_f284`.
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^[a-z0-9_]+$"))]
    pub ipa_code: String,

    /// Province of the body, by its two-letter abbreviation (`BA`, `BT`, `BR`, `FG`, `LE`,
    /// `TA` in Puglia). Required for a Comune; must be the province of its ISTAT code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub province: Option<String>,
}

/// Kind of public body.
// The variants have no doc comments on purpose: schemars would turn documented variants
// into a `oneOf` of constants in the CRD schema instead of a plain `enum`; the values are
// their own documentation (a Comune, an ASL, ...).
#[allow(missing_docs)]
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
pub enum EntityType {
    Comune,
    #[serde(rename = "ASL")]
    Asl,
    AziendaOspedaliera,
    #[serde(rename = "IRCCS")]
    Irccs,
    AgenziaRegionale,
    Regione,
    Provincia,
    UnioneDiComuni,
}

impl EntityType {
    /// The value as written in manifests and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Comune => "Comune",
            EntityType::Asl => "ASL",
            EntityType::AziendaOspedaliera => "AziendaOspedaliera",
            EntityType::Irccs => "IRCCS",
            EntityType::AgenziaRegionale => "AgenziaRegionale",
            EntityType::Regione => "Regione",
            EntityType::Provincia => "Provincia",
            EntityType::UnioneDiComuni => "UnioneDiComuni",
        }
    }

    /// Health bodies hold at least `critico` data.
    pub fn is_health_body(self) -> bool {
        matches!(
            self,
            EntityType::Asl | EntityType::AziendaOspedaliera | EntityType::Irccs
        )
    }
}

/// One e-mail address as `validate` accepts it (dot-separated atoms of the characters RFC
/// 5322 allows unquoted, `@`, and a domain of at least two DNS labels), as the CRD's
/// pattern for the contacts, so that `kubectl apply` refuses `rtd at comune...` as
/// `validate` does. A pattern, not `format: email`: the API server's email format
/// (Go's `net/mail`) takes display names and domains without a dot. The rule of
/// `validate` also bounds the local part to 64 characters, which a pattern would have to
/// spell out atom by atom; a test keeps the two in agreement otherwise.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)+$";

/// People to contact about the tenant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Contacts {
    /// E-mail of the Responsabile per la Transizione Digitale (RTD) of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub rtd: Option<String>,

    /// E-mail of the technical contact who operates the tenant's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub technical: Option<String>,

    /// E-mail for security incidents (CSIRT contact of the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 254), regex(pattern = EMAIL_PATTERN))]
    pub security: Option<String>,
}

/// AgID/ACN classification of data and services (Regolamento cloud per la PA).
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum DataClassification {
    /// Ordinary data: disruption causes limited harm.
    Ordinario,
    /// Critical data: disruption harms the functions of the body or citizens' rights.
    Critico,
    /// Strategic data: disruption harms national security.
    Strategico,
}

impl DataClassification {
    /// The value as written in manifests and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClassification::Ordinario => "ordinario",
            DataClassification::Critico => "critico",
            DataClassification::Strategico => "strategico",
        }
    }
}

/// One environment of the tenant, with its own namespace `<tenant>-<name>`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    /// Name of the environment, e.g. `prod`, `test`, `dev`: a DNS label.
    #[schemars(
        length(min = 1, max = 20),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// Whether this environment serves production: its certificate carries the tenant's
    /// hostnames as listed (`servizi.comune.molfetta.ba.it`), while every other
    /// environment's carries them prefixed with its name (`test.servizi...`). At most one
    /// environment sets it; when none does, the environment named `prod` is production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,

    /// Quota for this environment, overriding the class default; may not exceed the class's
    /// per-environment maxima, and the sum over environments may not exceed its tenant maxima.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOverride>,
}

/// The environment that is production when none declares `production: true`.
pub const DEFAULT_PRODUCTION_ENVIRONMENT: &str = "prod";

impl TenantServiceSpec {
    /// The production environment: the one that declares `production: true` (the first, if
    /// a spec the CRD would refuse declares several), else the one named
    /// [`DEFAULT_PRODUCTION_ENVIRONMENT`] unless it declares `production: false`; `None`
    /// when no environment is production.
    pub fn production_environment(&self) -> Option<&str> {
        let declared = self
            .environments
            .iter()
            .find(|e| e.production == Some(true));
        declared
            .or_else(|| {
                self.environments.iter().find(|e| {
                    e.name == DEFAULT_PRODUCTION_ENVIRONMENT && e.production != Some(false)
                })
            })
            .map(|e| e.name.as_str())
    }

    /// Whether `environment` is the production environment (see
    /// [`Self::production_environment`]).
    pub fn is_production(&self, environment: &str) -> bool {
        self.production_environment() == Some(environment)
    }
}

/// Resource amounts a tenant may request for one environment. Every field is optional; an
/// absent field takes the class default.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QuotaOverride {
    /// Total CPU requests and limits, e.g. `"8"` or `"500m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Total memory requests and limits, e.g. `16Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Total storage requested by PersistentVolumeClaims, e.g. `100Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Quantity>,
    /// Maximum number of pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub pods: Option<i64>,
    /// Maximum number of Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub services: Option<i64>,
    /// Maximum number of PersistentVolumeClaims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub persistent_volume_claims: Option<i64>,
    /// Maximum number of Services of type LoadBalancer (only if the class allows them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub load_balancers: Option<i64>,
    /// Total ephemeral storage requests and limits of all pods, e.g. `20Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<Quantity>,
    /// Maximum number of Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub secrets: Option<i64>,
    /// Maximum number of ConfigMaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub config_maps: Option<i64>,
    /// Maximum number of Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub jobs: Option<i64>,
    /// Maximum number of CronJobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cron_jobs: Option<i64>,
    /// Maximum number of Ingresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ingresses: Option<i64>,
    /// Maximum number of PodDisruptionBudgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub pod_disruption_budgets: Option<i64>,
    /// Maximum number of HorizontalPodAutoscalers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub horizontal_pod_autoscalers: Option<i64>,
    /// Maximum number of ServiceAccounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub service_accounts: Option<i64>,
}

/// Network access of the tenant beyond the baseline.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Egress allowlist: destinations outside the cluster the tenant's pods may reach. Each
    /// entry names an egress destination of the TenantClass (e.g. `pagopa`); `cidrs` and
    /// `ports` may narrow the destination, never widen it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub egress: Vec<EgressRule>,

    /// Other tenants whose pods may connect to this tenant's pods. Takes effect only when
    /// the other tenant lists this one too (consent on both sides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["tenant".into()]))]
    pub allow_from: Vec<AllowFrom>,
}

/// One egress allowlist entry.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Name of an egress destination declared by the TenantClass, e.g. `pagopa`, `spid-idp`.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,

    /// IPv4 or IPv6 networks in CIDR notation, each inside the destination's networks.
    /// Empty means all of the destination's networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub cidrs: Vec<String>,

    /// TCP ports, each among the destination's ports. Empty means all of the destination's ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ports: Vec<i32>,
}

/// Consent to receive traffic from another tenant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowFrom {
    /// Name of the other TenantService.
    #[schemars(
        length(min = 1, max = 52),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub tenant: String,

    /// Only these environments of the other tenant may connect; empty means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub environments: Vec<String>,

    /// UID of the other TenantService this consent is for (`kubectl get ts NAME -o
    /// jsonpath='{.metadata.uid}'`). Optional: without it the consent is bound to the
    /// tenant of that name the operator first sees, recorded in `status.consentedPeers`, so
    /// that a tenant deleted and created again under the same name does not inherit it. Set
    /// it to consent to such a new tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ))]
    pub uid: Option<String>,
}

/// TLS certificates for the tenant's public hostnames.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    /// DNS names the certificates are issued for. Each environment gets a
    /// `kubernetes.io/tls` Secret named `<tenant>-tls` with these names (non-production
    /// environments get `<environment>.` prefixed to each name).
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub hostnames: Vec<String>,
}

/// Groups bound to the tenant's roles. Tenant roles never allow changing the objects the
/// operator manages.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// Groups bound to the `admin` role in every tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub admin_groups: Vec<String>,
    /// Groups bound to the `edit` role in every tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub edit_groups: Vec<String>,
    /// Groups bound to the `view` role in every tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub viewer_groups: Vec<String>,
}

/// What happens to the namespaces of a deleted tenant or a removed environment.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum DeletionPolicy {
    /// Keep the namespaces and their data, detached from the operator (default).
    #[default]
    Retain,
    /// Delete the namespaces and everything in them.
    Delete,
}

/// Observed state of a TenantService, written by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TenantServiceStatus {
    /// Lifecycle phase: `Pending`, `Provisioning`, `Ready`, `Failed` or `Terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` and one condition per concern: `Namespaces`, `Network`, `Quota`, `Access`,
    /// `Certificates`, `Monitoring`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Comma-separated environment names, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<String>,

    /// Namespaces of the tenant, one per environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,

    /// Certificates issued for the tenant, one per environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,

    /// Namespaces kept from environments removed from the spec (`deletionPolicy: Retain`):
    /// detached, with their data, their own quota outside the tenant's limit, until a
    /// datacenter operator deletes them or hands them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retained: Vec<RetainedNamespace>,

    /// The tenant each `spec.network.allowFrom` entry consents to, by UID: the UID the
    /// entry names, or else the UID of the tenant of that name when the operator first saw
    /// it. Traffic is allowed only with that tenant: one deleted and created again under the
    /// same name is not consented to until the entry names its UID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["tenant".into()]))]
    pub consented_peers: Vec<ConsentedPeer>,
}

/// A namespace kept after its environment was removed from the spec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetainedNamespace {
    /// The namespace, `<tenant>-<environment>`.
    pub namespace: String,
    /// The environment it served.
    pub environment: String,
    /// When it was retained (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_at: Option<String>,
    /// What still holds data there, as its ResourceQuota counts it, e.g. `2
    /// PersistentVolumeClaim(s) (60Gi requested), 3 pod(s)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<String>,
    /// The quota it keeps, outside the tenant's limit, e.g. `cpu 4 CPU, memory 8Gi, storage
    /// 50Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
}

/// The identity an `allowFrom` consent is bound to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConsentedPeer {
    /// Name of the other TenantService.
    pub tenant: String,
    /// Its UID.
    pub uid: String,
}

/// Lifecycle phase of a tenant.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Accepted, not yet worked on.
    Pending,
    /// Objects are being created or updated.
    Provisioning,
    /// Every concern is reconciled.
    Ready,
    /// The spec is invalid or reconciliation keeps failing; see the conditions.
    Failed,
    /// The TenantService is being deleted.
    Terminating,
}

impl Phase {
    /// The value as written in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Provisioning => "Provisioning",
            Phase::Ready => "Ready",
            Phase::Failed => "Failed",
            Phase::Terminating => "Terminating",
        }
    }
}

/// A certificate issued for one environment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// Environment the certificate belongs to.
    pub environment: String,
    /// Name of the `kubernetes.io/tls` Secret in the environment's namespace.
    pub secret_name: String,
    /// Serial number, as colon-separated hex.
    pub serial: String,
    /// Expiry time (RFC 3339).
    pub not_after: String,
    /// DNS names the certificate is valid for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
}
