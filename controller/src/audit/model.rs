//! A snapshot read once for the audit: namespaces with the labels the API server gives
//! them, NetworkPolicies compiled and grouped by namespace, tenant namespaces and tenants
//! found, and the platform namespaces every tenant's policies refer to.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use kube::ResourceExt;

use super::netpol::{Cluster, NamespaceRef, Policy, PolicyError};
use super::selector::Labels;
use super::snapshot::Snapshot;
use crate::api::{TenantClass, TenantService};
use crate::labels;
use crate::render::Platform;

/// What the audit assumes about the cluster it audits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The platform namespaces (DNS, ingress gateway, monitoring) tenants are wired to.
    pub platform: Platform,
    /// Networks pod IPs come from; an `ipBlock` overlapping one of them may admit pods.
    pub pod_networks: Vec<IpNet>,
}

impl Default for Settings {
    /// The default platform; as pod networks, every private range (RFC 1918, the RFC 6598
    /// shared range some plugins use, IPv6 unique local addresses), since a snapshot does
    /// not say which one the cluster uses: an `ipBlock` over any of them is reported as
    /// possibly reaching pods. Give the cluster's own to sharpen that.
    fn default() -> Settings {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "fc00::/7",
        ];
        Settings {
            platform: Platform::default(),
            pod_networks: nets.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }
}

/// A namespace as the audit sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// Its labels, with `kubernetes.io/metadata.name`.
    pub labels: Labels,
    /// The tenant it belongs to (`tenancy.innova.puglia.it/tenant`).
    pub tenant: Option<String>,
    /// Its environment (`tenancy.innova.puglia.it/environment`).
    pub environment: Option<String>,
}

impl NamespaceInfo {
    fn new(name: &str, mut labels: Labels) -> NamespaceInfo {
        // kube-apiserver sets this label on every namespace (and keeps it equal to the
        // name); rendered namespaces do not carry it yet, policies select on it.
        labels.insert(labels::NAMESPACE_NAME.to_string(), name.to_string());
        NamespaceInfo {
            name: name.to_string(),
            tenant: labels.get(labels::TENANT).cloned(),
            environment: labels.get(labels::ENVIRONMENT).cloned(),
            labels,
        }
    }

    /// The namespace as NetworkPolicies see it.
    pub fn as_ref(&self) -> NamespaceRef<'_> {
        NamespaceRef {
            name: &self.name,
            labels: &self.labels,
        }
    }
}

/// Indices of the platform namespaces (present in every model: added when the snapshot
/// lacks them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformNamespaces {
    /// Where the cluster DNS runs.
    pub dns: usize,
    /// The regional ingress gateway's.
    pub ingress_gateway: usize,
    /// The monitoring stack's.
    pub monitoring: usize,
}

/// The snapshot, read for the audit.
pub struct Model<'s> {
    /// The objects.
    pub snapshot: &'s Snapshot,
    /// The assumptions.
    pub settings: &'s Settings,
    /// Every namespace: the snapshot's, then platform namespaces it lacks.
    pub namespaces: Vec<NamespaceInfo>,
    /// Namespace index by name.
    pub by_name: HashMap<String, usize>,
    /// The NetworkPolicies of each namespace (same index), in name order.
    pub policies: Vec<Vec<Policy>>,
    /// Namespaces that belong to a tenant, sorted by name.
    pub tenant_namespaces: Vec<usize>,
    /// The platform namespaces: cluster DNS, ingress gateway, monitoring.
    pub platform_namespaces: PlatformNamespaces,
    /// TenantServices by name.
    pub tenants: BTreeMap<String, &'s TenantService>,
    /// TenantClasses by name.
    pub classes: BTreeMap<String, &'s TenantClass>,
    /// Assumptions for the evaluator.
    pub cluster: Cluster,
    /// What was left out, for the report.
    pub notes: Vec<String>,
}

impl<'s> Model<'s> {
    /// Reads the snapshot; a NetworkPolicy the API server would refuse is an error.
    pub fn build(snapshot: &'s Snapshot, settings: &'s Settings) -> Result<Model<'s>, PolicyError> {
        let mut notes = Vec::new();
        let mut namespaces: Vec<NamespaceInfo> = snapshot
            .namespaces
            .iter()
            .map(|n| NamespaceInfo::new(&n.name_any(), n.labels().clone()))
            .collect();
        let mut by_name: HashMap<String, usize> = namespaces
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let platform = &settings.platform;
        let mut platform_namespace = |name: &str| {
            if let Some(&i) = by_name.get(name) {
                i
            } else {
                notes.push(format!(
                "namespace {name} is not among the inputs: audited as existing with no NetworkPolicies"
            ));
                by_name.insert(name.to_string(), namespaces.len());
                namespaces.push(NamespaceInfo::new(name, Labels::new()));
                namespaces.len() - 1
            }
        };
        let platform_namespaces = PlatformNamespaces {
            dns: platform_namespace(&platform.dns_namespace),
            ingress_gateway: platform_namespace(&platform.ingress_gateway_namespace),
            monitoring: platform_namespace(&platform.monitoring_namespace),
        };
        let mut policies: Vec<Vec<Policy>> = vec![Vec::new(); namespaces.len()];
        for np in &snapshot.network_policies {
            let policy = Policy::from_k8s(np)?;
            match by_name.get(&policy.namespace) {
                Some(&i) => policies[i].push(policy),
                None => notes.push(format!(
                    "NetworkPolicy {}/{}: namespace {} is not among the inputs; not audited",
                    policy.namespace, policy.name, policy.namespace
                )),
            }
        }
        for list in &mut policies {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let mut tenant_namespaces: Vec<usize> = namespaces
            .iter()
            .enumerate()
            .filter(|(_, n)| n.tenant.is_some())
            .map(|(i, _)| i)
            .collect();
        tenant_namespaces.sort_by(|&a, &b| namespaces[a].name.cmp(&namespaces[b].name));
        Ok(Model {
            snapshot,
            settings,
            tenants: snapshot.tenants.iter().map(|t| (t.name_any(), t)).collect(),
            classes: snapshot.classes.iter().map(|c| (c.name_any(), c)).collect(),
            namespaces,
            by_name,
            policies,
            tenant_namespaces,
            platform_namespaces,
            cluster: Cluster {
                pod_networks: settings.pod_networks.clone(),
            },
            notes,
        })
    }

    /// The index of a namespace by name.
    pub fn namespace(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// `namespace/name` of a policy.
    pub fn policy_name(&self, namespace: usize, policy: usize) -> String {
        let p = &self.policies[namespace][policy];
        format!("{}/{}", p.namespace, p.name)
    }

    /// The TenantService a namespace belongs to, if among the inputs.
    pub fn tenant_of(&self, namespace: usize) -> Option<&'s TenantService> {
        self.namespaces[namespace]
            .tenant
            .as_ref()
            .and_then(|t| self.tenants.get(t).copied())
    }

    /// The TenantClass of a namespace: its tenant's class, else its class label.
    pub fn class_of(&self, namespace: usize) -> Option<&'s TenantClass> {
        let name = self
            .tenant_of(namespace)
            .map(|t| t.spec.class.clone())
            .or_else(|| {
                self.namespaces[namespace]
                    .labels
                    .get(labels::CLASS)
                    .cloned()
            })?;
        self.classes.get(&name).copied()
    }
}
