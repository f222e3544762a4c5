//! Labels, annotations and names shared by render, reconcile, audit and the policies in
//! `policies/`. They are part of the security contract: admission policies and
//! NetworkPolicies select on them, so they change only with a migration.

/// `app.kubernetes.io/managed-by` value on every object the operator creates.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_KEY`].
pub const MANAGED_BY_VALUE: &str = "tenant-operator";
/// Name of the TenantService an object belongs to.
pub const TENANT: &str = "tenancy.innova.puglia.it/tenant";
/// UID of the TenantService an object belongs to: its identity, where the name is only a
/// name (a tenant deleted and created again under the same name is another tenant). The
/// operator touches an existing namespace only when it carries this tenant's UID.
pub const TENANT_UID: &str = "tenancy.innova.puglia.it/tenant-uid";
/// Environment (e.g. `prod`) an object belongs to.
pub const ENVIRONMENT: &str = "tenancy.innova.puglia.it/environment";
/// Entity type of the tenant (`Comune`, `ASL`, ...), on namespaces.
pub const ENTITY_TYPE: &str = "tenancy.innova.puglia.it/entity-type";
/// Data classification of the tenant, on namespaces.
pub const DATA_CLASSIFICATION: &str = "tenancy.innova.puglia.it/data-classification";
/// TenantClass of the tenant, on namespaces.
pub const CLASS: &str = "tenancy.innova.puglia.it/class";
/// `"true"` on namespaces whose class allows Services of type LoadBalancer.
pub const ALLOW_LOAD_BALANCER: &str = "tenancy.innova.puglia.it/allow-load-balancer";
/// `"true"` on namespaces whose class allows Services of type NodePort.
pub const ALLOW_NODE_PORT: &str = "tenancy.innova.puglia.it/allow-node-port";
/// `"true"` on namespaces whose class allows Services of type ExternalName.
pub const ALLOW_EXTERNAL_NAME: &str = "tenancy.innova.puglia.it/allow-external-name";
/// `"true"` on namespaces kept after their tenant or environment was removed
/// (`deletionPolicy: Retain`); the operator no longer manages them.
pub const RETAINED: &str = "tenancy.innova.puglia.it/retained";
/// Annotation with the time (RFC 3339) a namespace was retained; its `tenant` and
/// `tenant-uid` labels stay and name the tenant it was retained from.
pub const RETAINED_AT: &str = "tenancy.innova.puglia.it/retained-at";
/// Annotation a datacenter operator puts on a namespace that is not a live tenant's
/// (retained, or never managed) to hand it over to the tenant it names. The operator then
/// deletes every object it managed there for the previous tenant, takes the namespace
/// for the named tenant and removes the annotation.
pub const HAND_OVER_TO: &str = "tenancy.innova.puglia.it/hand-over-to";
/// Pod Security admission label.
pub const POD_SECURITY_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
/// Pod Security admission version label.
pub const POD_SECURITY_ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
/// Standard label carrying a namespace's own name (set by the API server).
pub const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// Namespace the operator runs in unless told otherwise (`run --namespace`, the chart's
/// release namespace); `validate` reserves it.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "tenant-operator";

/// Namespace of the regional ingress gateway, allowed to reach every tenant.
pub const INGRESS_GATEWAY_NAMESPACE: &str = "ingress-gateway";
/// Namespace of the monitoring stack, allowed to scrape every tenant.
pub const MONITORING_NAMESPACE: &str = "monitoring";

/// Namespace name of a tenant environment: `<tenant>-<environment>`.
pub fn namespace_name(tenant: &str, environment: &str) -> String {
    format!("{tenant}-{environment}")
}

/// The environment whose certificates carry a tenant's hostnames as given.
pub const PRODUCTION_ENVIRONMENT: &str = "prod";

/// The DNS name a tenant hostname gets in an environment's certificate: the hostname
/// itself in [`PRODUCTION_ENVIRONMENT`], `<environment>.<hostname>` elsewhere, so that test
/// services never present production names. Lowercase, without a trailing dot.
pub fn certificate_dns_name(hostname: &str, environment: &str) -> String {
    let hostname = hostname.trim_end_matches('.').to_ascii_lowercase();
    if environment == PRODUCTION_ENVIRONMENT {
        hostname
    } else {
        format!("{environment}.{hostname}")
    }
}
