//! The TLS certificate of one tenant environment.

use super::{CertificateRequest, EnvironmentRef};
use crate::api::TenantService;
use crate::labels;

/// Name of the `kubernetes.io/tls` Secret `<tenant>-tls`.
pub fn secret_name(tenant: &str) -> String {
    format!("{tenant}-tls")
}

/// The certificate request of one environment, when the tenant has hostnames (named per
/// [`labels::certificate_dns_name`]).
pub(super) fn certificate_request(
    tenant: &TenantService,
    env: &EnvironmentRef,
) -> Option<CertificateRequest> {
    let hostnames = &tenant.spec.tls.as_ref()?.hostnames;
    if hostnames.is_empty() {
        return None;
    }
    let mut dns_names: Vec<String> = hostnames
        .iter()
        .map(|h| labels::certificate_dns_name(h, env.environment))
        .collect();
    dns_names.sort();
    dns_names.dedup();
    Some(CertificateRequest {
        environment: env.environment.to_string(),
        namespace: env.namespace.clone(),
        secret_name: secret_name(env.tenant),
        dns_names,
        labels: env.labels(),
    })
}
