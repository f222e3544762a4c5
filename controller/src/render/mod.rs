//! Pure desired-state builders: a `TenantService`, its `TenantClass` and the peers it may
//! exchange traffic with go in; every child object, fully typed and labelled, comes out.
//!
//! No clock, no randomness, no I/O: the same input always gives the same objects in the
//! same order, so `tenant-operator render` can run in a pull-request pipeline and its
//! output can be diffed, and the controller can compare desired with live objects.
//!
//! Per environment the tenant gets (names are fixed: admission policies and the audit rely
//! on them):
//! - the Namespace `<tenant>-<environment>` (`namespace`);
//! - NetworkPolicies `tenancy-*`: default deny, DNS, same namespace, ingress gateway,
//!   monitoring, the egress allowlist, and consented cross-tenant traffic: ingress on the
//!   receiving side and egress on the calling side (`network`);
//! - the ResourceQuotas `tenancy-quota` (the class plan) and `tenancy-critical-priority`
//!   (no pods of the critical PriorityClasses), and the LimitRange `tenancy-limits` (`quota`);
//! - RoleBindings of the tenant's groups to the chart's ClusterRoles
//!   `tenant-operator:tenant-admin`, `-edit`, `-view`, and the monitoring Role and
//!   RoleBinding (`access`);
//! - the CA bundle ConfigMap `regional-ca.crt` with the regional CA certificate
//!   ([`ca_bundle`]);
//! - a [`CertificateRequest`] for the TLS Secret `<tenant>-tls` when the tenant has
//!   hostnames (`tls`); the controller's `pki` module issues it.
//!
//! Every object is a [`ChildObject`] of a [`ManagedKind`], and [`sort_objects`] is the one
//! order they are applied and printed in. [`set`] renders many tenants together (the CLI,
//! tests, benchmarks); [`output`] prints objects.

mod access;
pub mod ca_bundle;
mod namespace;
pub mod network;
pub mod output;
mod quota;
pub mod set;
pub mod summary;
mod tls;

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub use ca_bundle::{CA_BUNDLE_CONFIG_MAP, CA_BUNDLE_KEY};
pub use quota::QUOTA_NAME;

use crate::api::{TenantClass, TenantService};
use crate::kinds::ManagedKind;
use crate::labels;

/// Cluster-wide settings that every tenant's objects refer to. They describe the
/// datacenter, not a tenant, so they come from the operator's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// Namespace of the regional ingress gateway, allowed to reach every tenant namespace.
    pub ingress_gateway_namespace: String,
    /// Namespace of the monitoring stack, allowed to scrape every tenant namespace.
    pub monitoring_namespace: String,
    /// ServiceAccount of Prometheus in the monitoring namespace; it may discover pods,
    /// services and endpoints in tenant namespaces.
    pub monitoring_service_account: String,
    /// Namespace of the cluster DNS.
    pub dns_namespace: String,
    /// Labels of the cluster DNS pods.
    pub dns_pod_labels: BTreeMap<String, String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            ingress_gateway_namespace: labels::INGRESS_GATEWAY_NAMESPACE.to_string(),
            monitoring_namespace: labels::MONITORING_NAMESPACE.to_string(),
            monitoring_service_account: "prometheus-k8s".to_string(),
            dns_namespace: "kube-system".to_string(),
            dns_pod_labels: BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]),
        }
    }
}

impl Platform {
    /// The platform namespaces every tenant's NetworkPolicies trust, each with what it
    /// holds: no tenant may take one of these names (see
    /// [`crate::api::validation::ReservedNamespaces`]).
    pub fn trusted_namespaces(&self) -> [(&str, &'static str); 3] {
        [
            (
                self.ingress_gateway_namespace.as_str(),
                "the regional ingress gateway",
            ),
            (self.monitoring_namespace.as_str(), "the monitoring stack"),
            (self.dns_namespace.as_str(), "the cluster DNS"),
        ]
    }
}

/// What render needs besides the tenant and its class.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    /// Cluster-wide settings.
    pub platform: &'a Platform,
    /// Other tenants; only those this tenant names in `allowFrom` matter.
    pub peers: &'a [TenantService],
    /// The regional CA certificate (PEM) for the CA bundles; `None` where it is not known
    /// (see [`ca_bundle::config_map`]).
    pub ca_certificate: Option<&'a str>,
}

/// Every object the operator keeps for one tenant.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Desired {
    /// Child objects, namespaces first, in a stable order.
    pub objects: Vec<ChildObject>,
    /// TLS certificates to issue, one per environment when the tenant has hostnames.
    pub certificates: Vec<CertificateRequest>,
}

/// A TLS Secret the controller must keep issued by the regional CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRequest {
    /// Environment the certificate belongs to.
    pub environment: String,
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the `kubernetes.io/tls` Secret.
    pub secret_name: String,
    /// DNS names (subject alternative names), sorted.
    pub dns_names: Vec<String>,
    /// Labels of the Secret.
    pub labels: BTreeMap<String, String>,
}

/// One child object of a tenant: one variant per [`ManagedKind`]. Render makes all but the
/// TLS Secrets, which hold a key issued at run time (by the controller, or by
/// `tenant-operator render --ca-key`). Serialises as the object itself, with `apiVersion`
/// and `kind`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ChildObject {
    /// See [`ManagedKind::Namespace`].
    Namespace(Namespace),
    /// See [`ManagedKind::NetworkPolicy`].
    NetworkPolicy(NetworkPolicy),
    /// See [`ManagedKind::ResourceQuota`].
    ResourceQuota(ResourceQuota),
    /// See [`ManagedKind::LimitRange`].
    LimitRange(LimitRange),
    /// See [`ManagedKind::Role`].
    Role(Role),
    /// See [`ManagedKind::RoleBinding`].
    RoleBinding(RoleBinding),
    /// See [`ManagedKind::ConfigMap`].
    ConfigMap(ConfigMap),
    /// See [`ManagedKind::Secret`].
    Secret(Secret),
}

impl ChildObject {
    /// The object's kind.
    pub fn kind(&self) -> ManagedKind {
        match self {
            ChildObject::Namespace(_) => ManagedKind::Namespace,
            ChildObject::NetworkPolicy(_) => ManagedKind::NetworkPolicy,
            ChildObject::ResourceQuota(_) => ManagedKind::ResourceQuota,
            ChildObject::LimitRange(_) => ManagedKind::LimitRange,
            ChildObject::Role(_) => ManagedKind::Role,
            ChildObject::RoleBinding(_) => ManagedKind::RoleBinding,
            ChildObject::ConfigMap(_) => ManagedKind::ConfigMap,
            ChildObject::Secret(_) => ManagedKind::Secret,
        }
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            ChildObject::Namespace(o) => &o.metadata,
            ChildObject::NetworkPolicy(o) => &o.metadata,
            ChildObject::ResourceQuota(o) => &o.metadata,
            ChildObject::LimitRange(o) => &o.metadata,
            ChildObject::Role(o) => &o.metadata,
            ChildObject::RoleBinding(o) => &o.metadata,
            ChildObject::ConfigMap(o) => &o.metadata,
            ChildObject::Secret(o) => &o.metadata,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object's namespace; `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The object's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            ChildObject::Namespace(o) => serde_json::to_value(o),
            ChildObject::NetworkPolicy(o) => serde_json::to_value(o),
            ChildObject::ResourceQuota(o) => serde_json::to_value(o),
            ChildObject::LimitRange(o) => serde_json::to_value(o),
            ChildObject::Role(o) => serde_json::to_value(o),
            ChildObject::RoleBinding(o) => serde_json::to_value(o),
            ChildObject::ConfigMap(o) => serde_json::to_value(o),
            ChildObject::Secret(o) => serde_json::to_value(o),
        }
    }

    /// Where the object goes in apply order: cluster-scoped objects (the namespaces) first,
    /// then by namespace, kind (in [`ManagedKind`] order) and name.
    fn order_key(&self) -> (bool, &str, ManagedKind, &str) {
        (
            self.namespace().is_some(),
            self.namespace().unwrap_or(self.name()),
            self.kind(),
            self.name(),
        )
    }
}

/// Sorts objects in apply order (cluster-scoped objects, the namespaces, first; then by
/// namespace, [`ManagedKind`] and name): what `render` returns and
/// `tenant-operator render` prints.
///
/// The objects are large (a NetworkPolicy is most of a kilobyte) and a render of all of
/// Italy holds 200,000 of them: sorting them in place would move each one about log2(n)
/// times. The order is computed on indices instead, and each object is then moved once
/// into its place.
pub fn sort_objects(objects: &mut [ChildObject]) {
    let mut order: Vec<usize> = Vec::with_capacity(objects.len());
    // Grouped first by (namespaced, namespace or name), a hash per object instead of a
    // string comparison per step of the sort; then each group, a tenant environment's
    // dozen objects, by kind and name. The index breaks ties, so equal keys keep the order
    // they came in (as a stable sort would).
    let mut groups: HashMap<(bool, &str), Vec<usize>> = HashMap::new();
    for (index, object) in objects.iter().enumerate() {
        let (namespaced, group, _, _) = object.order_key();
        groups.entry((namespaced, group)).or_default().push(index);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (_, mut members) in groups {
        members.sort_unstable_by(|&a, &b| {
            let (_, _, kind_a, name_a) = objects[a].order_key();
            let (_, _, kind_b, name_b) = objects[b].order_key();
            (kind_a, name_a, a).cmp(&(kind_b, name_b, b))
        });
        order.extend(members);
    }
    apply_order(objects, order);
}

/// Rearranges `items` so that `items[i]` becomes the item that was at `order[i]`, following
/// the cycles of the permutation (one swap per item out of place).
fn apply_order<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut current = start;
        // Each cycle is walked once: a visited position is marked by pointing to itself.
        while order[current] != start {
            let next = order[current];
            items.swap(current, next);
            order[current] = current;
            current = next;
        }
        order[current] = current;
    }
}

/// Why a tenant could not be rendered. Validation catches all of these first; render
/// still refuses rather than guess, naming the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// An egress entry names a destination the class does not declare.
    #[error(
        "{path}: egress destination {name:?} is not declared by TenantClass {class:?}; use one of: {available}"
    )]
    UnknownEgressDestination {
        /// The field, e.g. `spec.network.egress[1].name`.
        path: String,
        /// The destination named.
        name: String,
        /// The tenant's class.
        class: String,
        /// The destinations the class declares, comma-separated.
        available: String,
    },
    /// An egress CIDR does not parse.
    #[error("{path}: {cidr:?} is not a CIDR; use e.g. 203.0.113.0/24")]
    InvalidCidr {
        /// The field, e.g. `spec.network.egress[0].cidrs[1]`.
        path: String,
        /// The text given.
        cidr: String,
    },
    /// An egress port is outside 1-65535.
    #[error("{path}: port {port} is not a TCP port; use 1-65535")]
    InvalidPort {
        /// The field, e.g. `spec.network.egress[0].ports[0]`.
        path: String,
        /// The number given.
        port: i32,
    },
    /// An egress entry lists a network or port outside its class destination.
    #[error(
        "{path}: {value} is outside egress destination {destination:?}; use values within: {allowed}"
    )]
    EgressWidens {
        /// The field of the network or port.
        path: String,
        /// The network or port given.
        value: String,
        /// The class destination it narrows.
        destination: String,
        /// The networks or ports of the destination, comma-separated.
        allowed: String,
    },
    /// Two environments have the same name, so they would share one namespace.
    #[error("{path}: environment {name:?} is listed twice; environment names must be unique")]
    DuplicateEnvironment {
        /// The field of the second entry, e.g. `spec.environments[2].name`.
        path: String,
        /// The environment's name.
        name: String,
    },
}

/// Builds every child object of `tenant`.
pub fn render(
    tenant: &TenantService,
    class: &TenantClass,
    ctx: &RenderContext,
) -> Result<Desired, RenderError> {
    let tenant_name = tenant.name_any();
    let mut desired = Desired::default();
    for (index, environment) in tenant.spec.environments.iter().enumerate() {
        if tenant
            .spec
            .environments
            .iter()
            .take(index)
            .any(|e| e.name == environment.name)
        {
            return Err(RenderError::DuplicateEnvironment {
                path: format!("spec.environments[{index}].name"),
                name: environment.name.clone(),
            });
        }
        let env = EnvironmentRef {
            tenant: &tenant_name,
            tenant_uid: tenant.metadata.uid.as_deref(),
            environment: &environment.name,
            namespace: labels::namespace_name(&tenant_name, &environment.name),
        };
        desired
            .objects
            .push(ChildObject::Namespace(namespace::namespace(
                tenant, class, &env,
            )));
        desired
            .objects
            .extend(network::policies(tenant, class, ctx, &env)?);
        desired
            .objects
            .push(ChildObject::ResourceQuota(quota::resource_quota(
                class,
                environment.quota.as_ref(),
                &env,
            )));
        desired
            .objects
            .push(ChildObject::ResourceQuota(quota::critical_priority_quota(
                &env,
            )));
        desired
            .objects
            .push(ChildObject::LimitRange(quota::limit_range(class, &env)));
        desired
            .objects
            .extend(access::objects(tenant, ctx.platform, &env));
        desired
            .objects
            .push(ChildObject::ConfigMap(ca_bundle::config_map(
                &env.namespace,
                env.labels(),
                ctx.ca_certificate,
            )));
        desired
            .certificates
            .extend(tls::certificate_request(tenant, &env));
    }
    sort_objects(&mut desired.objects);
    Ok(desired)
}

/// The environment being rendered.
struct EnvironmentRef<'a> {
    tenant: &'a str,
    /// The TenantService's UID; `None` for a manifest not created yet (`tenant-operator
    /// render` of a file), whose objects then carry no UID label.
    tenant_uid: Option<&'a str>,
    environment: &'a str,
    namespace: String,
}

impl EnvironmentRef<'_> {
    /// Labels every object of this environment carries: managed-by, the tenant's name and
    /// UID (its identity, see [`labels::TENANT_UID`]), the environment.
    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (
                labels::MANAGED_BY_KEY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::TENANT.to_string(), self.tenant.to_string()),
            (
                labels::ENVIRONMENT.to_string(),
                self.environment.to_string(),
            ),
        ]);
        if let Some(uid) = self.tenant_uid {
            labels.insert(labels::TENANT_UID.to_string(), uid.to_string());
        }
        labels
    }

    /// Metadata of a namespaced object of this environment.
    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels()),
            ..ObjectMeta::default()
        }
    }
}

#[cfg(test)]
mod tests;
