//! The TLS certificate of one tenant environment.

use super::{CertificateRequest, EnvironmentRef};
use crate::api::TenantService;
use crate::labels;

/// Name of the `kubernetes.io/tls` Secret `<tenant>-tls`.
pub fn secret_name(tenant: &str) -> String {
    format!("{tenant}-tls")
}

/// The hostnames of one environment, sorted: its certificate's DNS names and the only
/// hosts its Ingresses may name (per [`labels::certificate_dns_name`]).
pub(super) fn environment_hostnames(tenant: &TenantService, environment: &str) -> Vec<String> {
    let production = tenant.spec.is_production(environment);
    let mut names: Vec<String> = tenant
        .spec
        .tls
        .iter()
        .flat_map(|tls| &tls.hostnames)
        .map(|h| labels::certificate_dns_name(h, environment, production))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The certificate request of one environment, when the tenant has hostnames (named per
/// [`labels::certificate_dns_name`]).
pub(super) fn certificate_request(
    tenant: &TenantService,
    env: &EnvironmentRef,
) -> Option<CertificateRequest> {
    let dns_names = environment_hostnames(tenant, env.environment);
    if dns_names.is_empty() {
        return None;
    }
    Some(CertificateRequest {
        environment: env.environment.to_string(),
        namespace: env.namespace.clone(),
        secret_name: secret_name(env.tenant),
        dns_names,
        labels: env.labels(),
    })
}
