//! The kinds of child objects the operator manages: one table that render (the kinds it
//! returns and the order it prints them in), the controller (apply, prune, watches) and
//! the RBAC permission table all read, so that adding a kind starts here.

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::ApiResource;

/// A kind of object the operator creates for tenants. Declared in apply order (the order
/// `tenant-operator render` prints them in within a namespace): namespaces before what goes
/// in them, the CA bundle before the TLS Secret it verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ManagedKind {
    /// One per tenant environment.
    Namespace,
    /// Default deny, baseline allows, egress allowlist, consented cross-tenant ingress.
    NetworkPolicy,
    /// The environment's quota, from the class.
    ResourceQuota,
    /// Container defaults and maxima, from the class.
    LimitRange,
    /// No longer rendered: watched and pruned only, for the monitoring Role that earlier
    /// releases wrote (see [`ManagedKind::is_rendered`]).
    Role,
    /// The tenant's groups and the monitoring stack, bound to their roles.
    RoleBinding,
    /// The regional CA bundle.
    ConfigMap,
    /// The environment's TLS certificate.
    Secret,
}

/// Which status condition an object of a kind contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concern {
    /// The namespaces exist with the tenant's labels.
    Namespaces,
    /// The NetworkPolicies.
    Network,
    /// The ResourceQuota and the LimitRange.
    Quota,
    /// The RoleBindings of the tenant's groups.
    Access,
    /// The TLS Secrets and the CA bundle.
    Certificates,
    /// What lets the monitoring stack scrape the tenant.
    Monitoring,
}

impl Concern {
    /// Every concern, in the order conditions are written.
    pub const ALL: [Concern; 6] = [
        Concern::Namespaces,
        Concern::Network,
        Concern::Quota,
        Concern::Access,
        Concern::Certificates,
        Concern::Monitoring,
    ];

    /// The condition type.
    pub fn as_str(self) -> &'static str {
        match self {
            Concern::Namespaces => "Namespaces",
            Concern::Network => "Network",
            Concern::Quota => "Quota",
            Concern::Access => "Access",
            Concern::Certificates => "Certificates",
            Concern::Monitoring => "Monitoring",
        }
    }
}

impl ManagedKind {
    /// Every managed kind, in apply order (as declared).
    pub const ALL: [ManagedKind; 8] = [
        ManagedKind::Namespace,
        ManagedKind::NetworkPolicy,
        ManagedKind::ResourceQuota,
        ManagedKind::LimitRange,
        ManagedKind::Role,
        ManagedKind::RoleBinding,
        ManagedKind::ConfigMap,
        ManagedKind::Secret,
    ];

    /// Whether render produces objects of this kind. Roles are not rendered (every binding
    /// names a ClusterRole of the chart), so the operator holds no right to write them; the
    /// kind stays in the table so that Roles of earlier releases are pruned.
    pub fn is_rendered(self) -> bool {
        self != ManagedKind::Role
    }

    /// The kind as in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedKind::Namespace => "Namespace",
            ManagedKind::NetworkPolicy => "NetworkPolicy",
            ManagedKind::ResourceQuota => "ResourceQuota",
            ManagedKind::LimitRange => "LimitRange",
            ManagedKind::Role => "Role",
            ManagedKind::RoleBinding => "RoleBinding",
            ManagedKind::Secret => "Secret",
            ManagedKind::ConfigMap => "ConfigMap",
        }
    }

    /// Group, version and plural, for dynamic API calls.
    pub fn api_resource(self) -> ApiResource {
        match self {
            ManagedKind::Namespace => ApiResource::erase::<Namespace>(&()),
            ManagedKind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            ManagedKind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
            ManagedKind::LimitRange => ApiResource::erase::<LimitRange>(&()),
            ManagedKind::Role => ApiResource::erase::<Role>(&()),
            ManagedKind::RoleBinding => ApiResource::erase::<RoleBinding>(&()),
            ManagedKind::Secret => ApiResource::erase::<Secret>(&()),
            ManagedKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
        }
    }

    /// The status condition an object of this kind (and name) belongs to. Objects whose
    /// name mentions monitoring (the scrape NetworkPolicy, the monitoring RoleBinding) are
    /// reported under `Monitoring`.
    pub fn concern(self, name: &str) -> Concern {
        if name.contains("monitoring") && self != ManagedKind::Namespace {
            return Concern::Monitoring;
        }
        match self {
            ManagedKind::Namespace => Concern::Namespaces,
            ManagedKind::NetworkPolicy => Concern::Network,
            ManagedKind::ResourceQuota | ManagedKind::LimitRange => Concern::Quota,
            ManagedKind::Role | ManagedKind::RoleBinding => Concern::Access,
            ManagedKind::Secret | ManagedKind::ConfigMap => Concern::Certificates,
        }
    }
}

/// How many objects of each kind: the one count of a tenant's objects that its status,
/// its conditions, its Events, the `dev` table and the `render` summary all give. A TLS
/// Secret counts as a Secret whether the controller issues it or `render --ca-key` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts(std::collections::BTreeMap<ManagedKind, usize>);

impl ObjectCounts {
    /// Counts one object of `kind`.
    pub fn add(&mut self, kind: ManagedKind) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// Adds every object of `other`.
    pub fn extend(&mut self, other: &ObjectCounts) {
        for (kind, n) in &other.0 {
            *self.0.entry(*kind).or_default() += n;
        }
    }

    /// Every object counted.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// `2 Namespace, 10 NetworkPolicy, ...` in apply order; empty when nothing was counted.
    pub fn by_kind(&self) -> String {
        self.0
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(kind, n)| format!("{n} {}", kind.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for ObjectCounts {
    /// `26 objects` (`1 object`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.total();
        write!(f, "{total} object{}", if total == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_read_in_apply_order() {
        let mut counts = ObjectCounts::default();
        assert_eq!(counts.to_string(), "0 objects");
        counts.add(ManagedKind::Secret);
        assert_eq!(counts.to_string(), "1 object");
        let mut more = ObjectCounts::default();
        more.add(ManagedKind::NetworkPolicy);
        more.add(ManagedKind::Namespace);
        more.add(ManagedKind::NetworkPolicy);
        counts.extend(&more);
        assert_eq!(counts.total(), 4);
        assert_eq!(counts.by_kind(), "1 Namespace, 2 NetworkPolicy, 1 Secret");
    }

    #[test]
    fn the_table_lists_every_kind_once_in_apply_order() {
        let mut sorted = ManagedKind::ALL;
        sorted.sort();
        assert_eq!(sorted, ManagedKind::ALL);
        assert_eq!(ManagedKind::ALL[0], ManagedKind::Namespace);
        assert!(ManagedKind::ConfigMap < ManagedKind::Secret);
    }

    #[test]
    fn kinds_name_their_api_resources() {
        for kind in ManagedKind::ALL {
            assert_eq!(kind.api_resource().kind, kind.as_str());
        }
        assert_eq!(
            ManagedKind::NetworkPolicy.api_resource().group,
            "networking.k8s.io"
        );
        assert_eq!(
            ManagedKind::RoleBinding.api_resource().plural,
            "rolebindings"
        );
    }

    #[test]
    fn concerns_follow_kind_and_monitoring_names() {
        assert_eq!(
            ManagedKind::NetworkPolicy.concern("default-deny"),
            Concern::Network
        );
        assert_eq!(
            ManagedKind::NetworkPolicy.concern("allow-monitoring"),
            Concern::Monitoring
        );
        assert_eq!(ManagedKind::LimitRange.concern("defaults"), Concern::Quota);
        assert_eq!(
            ManagedKind::Namespace.concern("monitoring-x-prod"),
            Concern::Namespaces
        );
    }
}
