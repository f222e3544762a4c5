//! The TLS certificate of one tenant environment.

use super::{CertificateRequest, EnvironmentRef, Platform};
use crate::api::TenantService;

/// Name of the `kubernetes.io/tls` Secret `<tenant>-tls`.
pub fn secret_name(tenant: &str) -> String {
    format!("{tenant}-tls")
}

/// The certificate request of one environment, when the tenant has hostnames. The
/// production environment gets the hostnames as given; every other environment gets
/// `<environment>.<hostname>`, so test services never present production names.
pub(super) fn certificate_request(
    tenant: &TenantService,
    platform: &Platform,
    env: &EnvironmentRef,
) -> Option<CertificateRequest> {
    let hostnames = &tenant.spec.tls.as_ref()?.hostnames;
    if hostnames.is_empty() {
        return None;
    }
    let mut dns_names: Vec<String> = hostnames
        .iter()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .map(|h| {
            if env.environment == platform.production_environment {
                h
            } else {
                format!("{}.{h}", env.environment)
            }
        })
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
