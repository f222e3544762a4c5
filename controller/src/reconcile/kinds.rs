//! The kinds of child objects the operator manages: one table that the apply, prune, watch
//! and RBAC code all read, so that adding a kind is one line here.

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::ApiResource;

/// A kind of object the operator creates for tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ManagedKind {
    Namespace,
    NetworkPolicy,
    ResourceQuota,
    LimitRange,
    Role,
    RoleBinding,
    Secret,
    ConfigMap,
}

/// Which status condition an object of a kind contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concern {
    Namespaces,
    Network,
    Quota,
    Access,
    Certificates,
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
    /// Every managed kind. Namespaces come first: they must exist before what goes in them.
    pub const ALL: [ManagedKind; 8] = [
        ManagedKind::Namespace,
        ManagedKind::NetworkPolicy,
        ManagedKind::ResourceQuota,
        ManagedKind::LimitRange,
        ManagedKind::Role,
        ManagedKind::RoleBinding,
        ManagedKind::Secret,
        ManagedKind::ConfigMap,
    ];

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

    /// Parses a `kind:` value; `None` for a kind the operator does not manage.
    pub fn from_kind(kind: &str) -> Option<Self> {
        ManagedKind::ALL.into_iter().find(|k| k.as_str() == kind)
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

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        self != ManagedKind::Namespace
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_resources_match() {
        for kind in ManagedKind::ALL {
            assert_eq!(ManagedKind::from_kind(kind.as_str()), Some(kind));
            assert_eq!(kind.api_resource().kind, kind.as_str());
        }
        assert_eq!(ManagedKind::from_kind("Deployment"), None);
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
