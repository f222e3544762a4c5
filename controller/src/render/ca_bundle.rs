//! The CA bundle ConfigMap: the regional CA certificate, public, in every tenant namespace
//! (and the operator's), so that workloads can verify the certificates the CA issues, as
//! Kubernetes publishes `kube-root-ca.crt`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Name of the ConfigMap.
pub const CA_BUNDLE_CONFIG_MAP: &str = "regional-ca.crt";
/// Key of the CA certificate (PEM) in the ConfigMap.
pub const CA_BUNDLE_KEY: &str = "ca.crt";

/// The CA bundle in `namespace` with `labels`. `ca_certificate` is the PEM of the regional
/// CA; when it is not known (`tenant-operator render` without `--ca-cert`) the ConfigMap
/// has no data, and the controller fills it in.
pub fn config_map(
    namespace: &str,
    labels: BTreeMap<String, String>,
    ca_certificate: Option<&str>,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CA_BUNDLE_CONFIG_MAP.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels).filter(|l| !l.is_empty()),
            ..ObjectMeta::default()
        },
        data: ca_certificate
            .map(|pem| BTreeMap::from([(CA_BUNDLE_KEY.to_string(), pem.to_string())])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_holds_the_certificate_when_it_is_known() {
        let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let known = config_map("comune-bari-prod", labels.clone(), Some(pem));
        assert_eq!(known.metadata.name.as_deref(), Some("regional-ca.crt"));
        assert_eq!(
            known.metadata.namespace.as_deref(),
            Some("comune-bari-prod")
        );
        assert_eq!(known.metadata.labels, Some(labels.clone()));
        assert_eq!(known.data.unwrap_or_default()[CA_BUNDLE_KEY], pem);
        let unknown = config_map("comune-bari-prod", labels, None);
        assert_eq!(unknown.data, None);
        assert_eq!(config_map("x", BTreeMap::new(), None).metadata.labels, None);
    }
}
