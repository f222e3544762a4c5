//! Namespaces no tenant may take: Kubernetes' own, the platform's, the operator's and the
//! datacenter's. A tenant's namespaces are `<tenant>-<environment>`, so a TenantService
//! named `kube` with an environment `system` would otherwise claim `kube-system`.

use std::fmt;

use super::{Report, Rule, is_dns_label};
use crate::labels;

/// Namespaces Kubernetes and its distributions keep for themselves.
const KUBERNETES: [&str; 3] = ["default", "kube-*", "openshift-*"];

/// One reserved name: a namespace, or every namespace starting with a prefix
/// (`kube-*`), with who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedName {
    pattern: String,
    holder: String,
}

impl ReservedName {
    /// The name, or the prefix followed by `*`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Who holds it, e.g. `the regional ingress gateway`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn prefix(&self) -> Option<&str> {
        self.pattern.strip_suffix('*')
    }

    fn matches(&self, namespace: &str) -> bool {
        match self.prefix() {
            Some(prefix) => namespace.starts_with(prefix),
            None => namespace == self.pattern,
        }
    }
}

/// A reserved name that is neither a namespace name nor a prefix followed by `*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "reserved namespace {pattern:?} ({holder}) is not a namespace name or a prefix followed by '*'; write e.g. \"flux-system\" or \"cattle-*\""
)]
pub struct InvalidReservedName {
    /// The name as given.
    pub pattern: String,
    /// Where it came from.
    pub holder: String,
}

/// The namespaces tenants may not take, each with its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedNamespaces {
    names: Vec<ReservedName>,
}

impl Default for ReservedNamespaces {
    /// Kubernetes' own only: `default`, `kube-*`, `openshift-*`.
    fn default() -> Self {
        ReservedNamespaces {
            names: KUBERNETES
                .iter()
                .map(|pattern| ReservedName {
                    pattern: (*pattern).to_string(),
                    holder: "Kubernetes".to_string(),
                })
                .collect(),
        }
    }
}

impl ReservedNamespaces {
    /// Kubernetes' own namespaces, the platform namespaces the tenants' policies trust
    /// (`platform`: name and holder, from [`crate::render::Platform::trusted_namespaces`]),
    /// the operator's namespace, and the datacenter's own (`datacenter`: names or prefixes
    /// followed by `*`, e.g. `flux-system`, `argocd`, `cattle-*`).
    pub fn new<'a>(
        platform: impl IntoIterator<Item = (&'a str, &'a str)>,
        operator_namespace: &str,
        datacenter: &[String],
    ) -> Result<Self, InvalidReservedName> {
        let mut reserved = ReservedNamespaces::default();
        for (namespace, holder) in platform {
            reserved.reserve(namespace, holder)?;
        }
        reserved.reserve(operator_namespace, "the tenant operator")?;
        for pattern in datacenter {
            reserved.reserve(pattern, "the datacenter")?;
        }
        Ok(reserved)
    }

    /// Adds `pattern` (a namespace name, or a prefix followed by `*`) held by `holder`.
    pub fn reserve(&mut self, pattern: &str, holder: &str) -> Result<(), InvalidReservedName> {
        let valid = match pattern.strip_suffix('*') {
            // A prefix: what a namespace name may start with.
            Some(prefix) => {
                !prefix.is_empty()
                    && is_dns_label(prefix.trim_end_matches('-'))
                    && prefix.len() < 63
            }
            None => is_dns_label(pattern),
        };
        if !valid {
            return Err(InvalidReservedName {
                pattern: pattern.to_string(),
                holder: holder.to_string(),
            });
        }
        if !self.names.iter().any(|n| n.pattern == pattern) {
            self.names.push(ReservedName {
                pattern: pattern.to_string(),
                holder: holder.to_string(),
            });
        }
        Ok(())
    }

    /// The reserved name `namespace` falls under, if any.
    pub fn find(&self, namespace: &str) -> Option<&ReservedName> {
        self.names.iter().find(|n| n.matches(namespace))
    }

    /// Every reserved name, in the order added.
    pub fn names(&self) -> &[ReservedName] {
        &self.names
    }

    /// The prefix that reserves every namespace of tenant `tenant` (`<tenant>-...`), if any.
    fn covering_tenant(&self, tenant: &str) -> Option<&ReservedName> {
        let all = format!("{tenant}-");
        self.names
            .iter()
            .find(|n| n.prefix().is_some_and(|prefix| all.starts_with(prefix)))
    }
}

impl fmt::Display for ReservedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.pattern, self.holder)
    }
}

/// No namespace of the tenant is reserved. A name that reserves them all (`kube-...`) is
/// a problem of `metadata.name`; otherwise each reserved namespace is a problem of the
/// environment that makes it.
pub(super) fn check(
    tenant: &str,
    environments: &[String],
    reserved: &ReservedNamespaces,
    report: &mut Report,
) {
    const WHY: &str = "namespaces of Kubernetes, of the platform the tenants' policies trust and of the datacenter are never given to a tenant";
    if let Some(name) = reserved.covering_tenant(tenant) {
        report.error(
            Rule::NameReserved,
            "metadata.name",
            format!(
                "every namespace of {tenant:?} ('{tenant}-<environment>') is reserved by {name}; {WHY}: choose another tenant name, e.g. \"comune-{tenant}\""
            ),
        );
        return;
    }
    for (i, environment) in environments.iter().enumerate() {
        let namespace = labels::namespace_name(tenant, environment);
        if let Some(name) = reserved.find(&namespace) {
            report.error(
                Rule::EnvNamespaceReserved,
                format!("spec.environments[{i}].name"),
                format!(
                    "namespace {namespace:?} is reserved by {name}; {WHY}: choose another environment or tenant name"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> ReservedNamespaces {
        ReservedNamespaces::new(
            [
                ("ingress-gateway", "the regional ingress gateway"),
                ("monitoring", "the monitoring stack"),
                ("kube-system", "the cluster DNS"),
            ],
            "tenant-operator",
            &["flux-system".to_string(), "cattle-*".to_string()],
        )
        .unwrap()
    }

    fn problems(tenant: &str, environments: &[&str]) -> Vec<super::super::Problem> {
        let mut report = Report::new(tenant);
        let environments: Vec<String> = environments.iter().map(ToString::to_string).collect();
        check(tenant, &environments, &reserved(), &mut report);
        report.finish()
    }

    #[test]
    fn ordinary_namespaces_are_free() {
        assert_eq!(problems("comune-molfetta", &["prod", "test"]), []);
        // Near misses: a prefix is matched whole, a name exactly.
        assert_eq!(problems("kubernetes", &["prod"]), []);
        assert_eq!(problems("ingress", &["gateway2"]), []);
        assert_eq!(problems("flux", &["system-b"]), []);
    }

    #[test]
    fn each_kind_of_reserved_namespace_is_refused_on_the_environment_that_makes_it() {
        let environment = "spec.environments[1].name";
        for (tenant, env, holder, path) in [
            // Every namespace of `kube` is under kube-*: the name is the problem.
            ("kube", "system", "kube-* (Kubernetes)", "metadata.name"),
            (
                "openshift",
                "config",
                "openshift-* (Kubernetes)",
                "metadata.name",
            ),
            (
                "ingress",
                "gateway",
                "ingress-gateway (the regional ingress gateway)",
                environment,
            ),
            (
                "tenant",
                "operator",
                "tenant-operator (the tenant operator)",
                environment,
            ),
            (
                "flux",
                "system",
                "flux-system (the datacenter)",
                environment,
            ),
            ("moni", "toring", "", ""),
        ] {
            let p = problems(tenant, &["prod", env]);
            if holder.is_empty() {
                assert_eq!(p, [], "{tenant}-{env}");
                continue;
            }
            assert_eq!(p.len(), 1, "{tenant}-{env}: {p:?}");
            assert_eq!(p[0].path, path);
            assert!(p[0].message.contains(holder), "{}", p[0]);
            assert!(p[0].is_error());
        }
        let p = problems("default", &[]);
        assert!(
            p.is_empty(),
            "`default` itself is never <tenant>-<environment>"
        );
    }

    #[test]
    fn a_tenant_name_under_a_reserved_prefix_is_refused_on_metadata_name() {
        let p = problems("kube-tenant", &["prod", "test"]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "metadata.name");
        assert!(p[0].message.contains("kube-* (Kubernetes)"), "{}", p[0]);
        let p = problems("cattle", &["prod"]);
        assert_eq!(p[0].path, "metadata.name");
    }

    #[test]
    fn reserved_names_must_be_names_or_prefixes() {
        let mut r = ReservedNamespaces::default();
        assert!(r.reserve("argocd", "x").is_ok());
        assert!(r.reserve("cattle-*", "x").is_ok());
        for bad in ["", "*", "Flux", "a_b", "-*", "a*b"] {
            let err = r.reserve(bad, "the datacenter").unwrap_err();
            assert!(
                err.to_string().contains("not a namespace name"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            r.names()
                .iter()
                .map(ReservedName::pattern)
                .collect::<Vec<_>>(),
            ["default", "kube-*", "openshift-*", "argocd", "cattle-*"]
        );
    }
}
