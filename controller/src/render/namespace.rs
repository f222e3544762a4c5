//! The Namespace of one tenant environment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::EnvironmentRef;
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
    let annotations = BTreeMap::from([
        (
            DISPLAY_NAME_ANNOTATION.to_string(),
            tenant.spec.entity.display_name.clone(),
        ),
        (
            IPA_CODE_ANNOTATION.to_string(),
            tenant.spec.entity.ipa_code.clone(),
        ),
    ]);
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
