//! The Namespace of one tenant environment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::{EnvironmentRef, tls};
use crate::api::{TenantClass, TenantService};
use crate::labels;

/// Annotation with the body's official name, for people browsing namespaces.
pub const DISPLAY_NAME_ANNOTATION: &str = "tenancy.innova.puglia.it/display-name";
/// Annotation with the body's IPA code.
pub const IPA_CODE_ANNOTATION: &str = "tenancy.innova.puglia.it/ipa-code";

/// The namespace `<tenant>-<environment>`. Its labels carry everything that policies
/// select on: tenant, environment, entity type, classification, class, Pod Security
/// level, and the Service types the class allows (read by the admission policy).
pub(super) fn namespace(
    tenant: &TenantService,
    class: &TenantClass,
    env: &EnvironmentRef,
) -> Namespace {
    let mut labels = env.labels();
    let pod_security = class.spec.pod_security.as_str();
    labels.extend([
        (
            labels::ENTITY_TYPE.to_string(),
            tenant.spec.entity.entity_type.as_str().to_string(),
        ),
        (
            labels::DATA_CLASSIFICATION.to_string(),
            tenant.spec.data_classification.as_str().to_string(),
        ),
        (labels::CLASS.to_string(), class.name_any()),
        (
            labels::POD_SECURITY_ENFORCE.to_string(),
            pod_security.to_string(),
        ),
        (
            labels::POD_SECURITY_ENFORCE_VERSION.to_string(),
            "latest".to_string(),
        ),
        (
            "pod-security.kubernetes.io/audit".to_string(),
            pod_security.to_string(),
        ),
        (
            "pod-security.kubernetes.io/warn".to_string(),
            pod_security.to_string(),
        ),
    ]);
    if class.spec.services.allow_load_balancer {
        labels.insert(labels::ALLOW_LOAD_BALANCER.to_string(), "true".to_string());
    }
    if class.spec.services.allow_node_port {
        labels.insert(labels::ALLOW_NODE_PORT.to_string(), "true".to_string());
    }
    if class.spec.services.allow_external_name {
        labels.insert(labels::ALLOW_EXTERNAL_NAME.to_string(), "true".to_string());
    }
    let mut annotations = BTreeMap::from([
        (
            DISPLAY_NAME_ANNOTATION.to_string(),
            tenant.spec.entity.display_name.clone(),
        ),
        (
            IPA_CODE_ANNOTATION.to_string(),
            tenant.spec.entity.ipa_code.clone(),
        ),
        // Read by the ingress admission policy: hostnames are DNS names and class names
        // DNS subdomains (validated), so a comma cannot occur inside one.
        (
            labels::INGRESS_HOSTS_ANNOTATION.to_string(),
            tls::environment_hostnames(tenant, env.environment).join(","),
        ),
        (
            labels::INGRESS_CLASSES_ANNOTATION.to_string(),
            class.spec.ingress_class_names.join(","),
        ),
    ]);
    if let Some(pool) = class.spec.node_pool_for(tenant.spec.data_classification) {
        labels.insert(labels::NODE_POOL.to_string(), pool.to_string());
        annotations.extend(node_pool_defaults(pool));
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(env.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The namespace defaults that place pods on `pool`, for the in-tree admission plugins that
/// read them where the cluster enables them: PodNodeSelector merges the node selector into
/// every pod, PodTolerationRestriction adds the toleration. The placement admission policy
/// requires both of every pod either way, so a cluster without the plugins refuses pods
/// that lack them rather than placing them on shared nodes.
fn node_pool_defaults(pool: &str) -> [(String, String); 2] {
    let toleration = serde_json::json!([{
        "key": labels::NODE_POOL_NODE_LABEL,
        "operator": "Equal",
        "value": pool,
        "effect": "NoSchedule",
    }]);
    [
        (
            labels::NODE_SELECTOR_ANNOTATION.to_string(),
            format!("{}={pool}", labels::NODE_POOL_NODE_LABEL),
        ),
        (
            labels::DEFAULT_TOLERATIONS_ANNOTATION.to_string(),
            toleration.to_string(),
        ),
    ]
}
