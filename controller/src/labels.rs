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
/// Node pool of the namespace's pods, on namespaces whose class keeps one for the tenant's
/// data classification (read by the placement admission policy).
pub const NODE_POOL: &str = "tenancy.innova.puglia.it/node-pool";
/// Label and `NoSchedule` taint key of the nodes of a pool (value: the pool's name). Under
/// `node-restriction.kubernetes.io/`, which the NodeRestriction admission plugin keeps
/// kubelets from setting on their own Node, so a compromised node cannot join a pool.
pub const NODE_POOL_NODE_LABEL: &str = "node-restriction.kubernetes.io/tenancy-node-pool";
/// Namespace annotation: the hostnames the environment's Ingresses and routes may name,
/// comma-separated (read by the ingress admission policy).
pub const INGRESS_HOSTS_ANNOTATION: &str = "tenancy.innova.puglia.it/ingress-hosts";
/// Namespace annotation: the IngressClasses the environment's Ingresses may name,
/// comma-separated (read by the ingress admission policy).
pub const INGRESS_CLASSES_ANNOTATION: &str = "tenancy.innova.puglia.it/ingress-classes";
/// Namespace annotation of the PodNodeSelector admission plugin: the node selector every
/// pod of the namespace gets (`key=value,...`).
pub const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";
/// Namespace annotation of the PodTolerationRestriction admission plugin: tolerations
/// every pod of the namespace gets (JSON list).
pub const DEFAULT_TOLERATIONS_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/defaultTolerations";
/// Annotation on the egress NetworkPolicy (`tenancy-allow-egress`): the names of the egress
/// destinations its rules allow, as the tenant wrote them (`pagopa,spid-cie`), comma-separated
/// in rule order (the first name is the first rule's), so that a reviewer of the rendered
/// objects and an administrator of the cluster read which destination a CIDR is.
pub const EGRESS_DESTINATIONS_ANNOTATION: &str = "tenancy.innova.puglia.it/egress-destinations";
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
/// Annotation on a TenantService that pauses its reconcile while its value is `"true"`:
/// nothing is applied, pruned, corrected or cleaned up for it (deletion waits too), and
/// its status carries a `Suspended` condition. An emergency brake for one tenant.
pub const SUSPEND: &str = "tenancy.innova.puglia.it/suspend";
/// Annotation on every object the operator applies: the fingerprint (16 hex digits) of what
/// it applied. A restarted operator compares it with what it would apply now and, when equal
/// and no other manager owns fields of the object, knows the object is as desired without
/// reading it.
pub const APPLIED_FINGERPRINT: &str = "tenancy.innova.puglia.it/applied";
/// Annotation on a TLS Secret: `<serial> <notBefore> <notAfter>` (Unix seconds) of the
/// certificate in it, so that a restarted operator knows when to renew without reading it.
pub const CERTIFICATE_VALIDITY: &str = "tenancy.innova.puglia.it/certificate";
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

/// The DNS name a tenant hostname gets in an environment's certificate: the hostname
/// itself in the production environment (`production`; see
/// `TenantServiceSpec::production_environment`), `<environment>.<hostname>` elsewhere, so
/// that test services never present production names. Lowercase, without a trailing dot.
pub fn certificate_dns_name(hostname: &str, environment: &str, production: bool) -> String {
    let hostname = hostname.trim_end_matches('.').to_ascii_lowercase();
    if production {
        hostname
    } else {
        format!("{environment}.{hostname}")
    }
}
