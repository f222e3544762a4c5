//! The objects the Helm chart installs that decide tenants' isolation, embedded so that
//! an offline audit sees the same platform a cluster has: the tenant ClusterRoles that
//! render binds tenant groups to, and the admission policies of `policies/admission/`.

use crate::manifest::{self, Document};

/// The chart template holding the tenant ClusterRoles. Its rules are kept free of Helm
/// templating (`controller/tests/chart_rbac.rs` reads them the same way), so dropping the
/// template directives leaves the objects the chart renders, minus the chart's labels.
pub const TENANT_ROLES: (&str, &str) = (
    "charts/tenant-operator/templates/tenant-clusterroles.yaml",
    include_str!("../../../charts/tenant-operator/templates/tenant-clusterroles.yaml"),
);

/// The admission policies and bindings the chart installs (`policies/admission/`).
pub const ADMISSION_POLICIES: &[(&str, &str)] = &[
    (
        "policies/admission/confine-operator.yaml",
        include_str!("../../../policies/admission/confine-operator.yaml"),
    ),
    (
        "policies/admission/protect-domain-delegations.yaml",
        include_str!("../../../policies/admission/protect-domain-delegations.yaml"),
    ),
    (
        "policies/admission/protect-managed-objects.yaml",
        include_str!("../../../policies/admission/protect-managed-objects.yaml"),
    ),
    (
        "policies/admission/protect-tenant-namespaces.yaml",
        include_str!("../../../policies/admission/protect-tenant-namespaces.yaml"),
    ),
    (
        "policies/admission/protect-tenant-status.yaml",
        include_str!("../../../policies/admission/protect-tenant-status.yaml"),
    ),
    (
        "policies/admission/restrict-ingress.yaml",
        include_str!("../../../policies/admission/restrict-ingress.yaml"),
    ),
    (
        "policies/admission/restrict-isolation-writes.yaml",
        include_str!("../../../policies/admission/restrict-isolation-writes.yaml"),
    ),
    (
        "policies/admission/restrict-pod-placement.yaml",
        include_str!("../../../policies/admission/restrict-pod-placement.yaml"),
    ),
    (
        "policies/admission/restrict-service-exposure.yaml",
        include_str!("../../../policies/admission/restrict-service-exposure.yaml"),
    ),
];

/// The admission policy that refuses changes to managed objects by anyone but the
/// operator (`policies/admission/protect-managed-objects.yaml`).
pub const MANAGED_OBJECTS_POLICY: &str = "tenant-operator-protect-managed-objects";

/// An embedded file that does not parse: a build from a broken tree.
#[derive(Debug, thiserror::Error)]
#[error("embedded platform manifest {0}")]
pub struct PlatformError(String);

/// Every platform object, as documents of the embedded files.
pub fn documents() -> Result<Vec<Document>, PlatformError> {
    let mut documents = Vec::new();
    let (path, template) = TENANT_ROLES;
    for (path, text) in std::iter::once((path, without_templating(template)))
        .chain(ADMISSION_POLICIES.iter().map(|(p, t)| (*p, t.to_string())))
    {
        let (docs, errors) = manifest::parse(path, &text);
        if let Some(error) = errors.first() {
            return Err(PlatformError(error.to_string()));
        }
        documents.extend(docs);
    }
    Ok(documents)
}

/// The admission policies and their bindings, as documents of `policies/admission/`.
pub fn admission_policies() -> Result<Vec<Document>, PlatformError> {
    let mut documents = Vec::new();
    for (path, text) in ADMISSION_POLICIES {
        let (docs, errors) = manifest::parse(path, text);
        if let Some(error) = errors.first() {
            return Err(PlatformError(error.to_string()));
        }
        documents.extend(docs);
    }
    Ok(documents)
}

/// Names of the admission policies the project ships (the audit checks they are in force).
pub fn admission_policy_names() -> Result<Vec<String>, PlatformError> {
    Ok(admission_policies()?
        .iter()
        .filter(|d| d.kind() == Some("ValidatingAdmissionPolicy"))
        .filter_map(|d| d.name().map(str::to_string))
        .collect())
}

/// A chart template without its Helm directives: `{{/* comments */}}` and every line that
/// holds an action (here only the chart's common labels, which the audit does not need).
fn without_templating(template: &str) -> String {
    let mut text = template.to_string();
    while let Some(start) = text.find("{{- /*").or_else(|| text.find("{{/*")) {
        let Some(length) = text[start..].find("*/") else {
            break;
        };
        let end = text[start + length..]
            .find("}}")
            .map_or(text.len(), |i| start + length + i + 2);
        text.replace_range(start..end, "");
    }
    text.lines()
        .filter(|line| !line.contains("{{"))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_platform_parses_into_the_tenant_roles_and_the_policies() {
        let documents = documents().expect("embedded files parse");
        let roles: Vec<&str> = documents
            .iter()
            .filter(|d| d.kind() == Some("ClusterRole"))
            .filter_map(Document::name)
            .collect();
        assert_eq!(
            roles,
            [
                "tenant-operator:tenant-view",
                "tenant-operator:tenant-edit",
                "tenant-operator:tenant-admin",
                "tenant-operator:tenant-monitoring"
            ]
        );
        for d in documents.iter().filter(|d| d.kind() == Some("ClusterRole")) {
            assert!(
                d.value["rules"].as_array().is_some_and(|r| !r.is_empty()),
                "{:?} has rules",
                d.name()
            );
        }
        let names = admission_policy_names().expect("parse");
        assert_eq!(names.len(), ADMISSION_POLICIES.len());
        assert!(names.iter().any(|n| n == MANAGED_OBJECTS_POLICY));
    }

    #[test]
    fn every_admission_policy_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/admission");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("policies/admission exists")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .filter_map(|p| {
                p.file_name()
                    .map(|n| format!("policies/admission/{}", n.to_string_lossy()))
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ADMISSION_POLICIES
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "add new policy files to ADMISSION_POLICIES"
        );
    }
}
