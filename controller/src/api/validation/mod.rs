//! Every rule a `TenantService` or `TenantClass` must satisfy beyond its structural schema:
//! the rules that need the ISTAT registry, the tenant's class, or other tenants.
//!
//! The same functions run in `tenant-operator validate` (the pull-request pipeline) and in
//! the controller before it renders anything, so a spec that passes here is one the
//! controller accepts. Rules that concern one object are also CEL rules in the CRD (the
//! apiserver applies them); they are repeated here so that offline validation is complete.
//!
//! Each [`Problem`] names the field by its Kubernetes path (`spec.environments[1].name`),
//! says what is wrong and what would be valid, and names its [`Rule`] (the one table of
//! rules, in [`rules`](mod@rules)). All functions are pure.

mod access;
mod class;
mod delegation;
mod entity;
mod environments;
mod names;
mod network;
mod peers;
mod reserved;
pub mod rules;
mod set;
#[cfg(test)]
pub(crate) mod testutil;
mod tls;

use std::fmt;

use kube::ResourceExt;

use super::{TenantClass, TenantService};

pub use access::SYSTEM_GROUP_PREFIX;
pub use class::validate_class;
pub use delegation::{Delegations, is_within, normalize as normalize_domain, validate_delegations};
pub use names::{is_dns_label, is_dns_subdomain};
pub use peers::{claim_keys, claimed_first, validate_against_peers};
pub use reserved::{InvalidReservedName, ReservedName, ReservedNamespaces};
pub use rules::{Rule, markdown as rules_markdown};
pub use set::{SetProblems, validate_set};

/// Longest tenant name: `<tenant>-<environment>` namespaces must fit in 63 characters and
/// environments have at least one character.
pub const MAX_TENANT_NAME: usize = 52;
/// Longest namespace name (a DNS label).
pub const MAX_NAMESPACE_NAME: usize = 63;

/// How serious a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The object is refused: `validate` exits 1, the controller does not render it.
    Error,
    /// Probably a mistake, but the object is usable (e.g. a display name that does not
    /// match the ISTAT registry).
    Warning,
}

impl Severity {
    /// `error` or `warning`, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Name of the object (the tenant's or the class's `metadata.name`).
    pub object: String,
    /// Kubernetes-style path of the field, e.g. `spec.entity.istatCode`.
    pub path: String,
    /// `what is wrong; what would be valid`.
    pub message: String,
    /// Error (the object is refused) or warning (printed, accepted).
    pub severity: Severity,
    /// The rule it breaks.
    pub rule: Rule,
}

impl Problem {
    /// Whether this is an [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    /// `object: path: message [RULE-ID]`, with `warning: ` before the message of a
    /// warning.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.object, self.path)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{} [{}]", self.message, self.rule)
    }
}

/// Collects the problems of one object.
#[derive(Debug)]
pub(crate) struct Report {
    object: String,
    problems: Vec<Problem>,
}

impl Report {
    pub(crate) fn new(object: impl Into<String>) -> Self {
        Report {
            object: object.into(),
            problems: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        rule: Rule,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(rule, path.into(), message.into(), Severity::Error);
    }

    pub(crate) fn warning(
        &mut self,
        rule: Rule,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(rule, path.into(), message.into(), Severity::Warning);
    }

    fn push(&mut self, rule: Rule, path: String, message: String, severity: Severity) {
        self.problems.push(Problem {
            object: self.object.clone(),
            path,
            message,
            severity,
            rule,
        });
    }

    pub(crate) fn finish(self) -> Vec<Problem> {
        self.problems
    }
}

/// Every problem of one tenant on its own and with its class. `class` is the TenantClass
/// named by `spec.class`, or `None` when no such class exists (itself a problem on
/// `spec.class`; the rules that need the class are then skipped).
pub fn validate_tenant(tenant: &TenantService, class: Option<&TenantClass>) -> Vec<Problem> {
    let name = tenant.name_any();
    let mut report = Report::new(name.clone());
    names::check_tenant_name(&name, &mut report);
    entity::check(&tenant.spec, &mut report);
    environments::check_names(&name, &tenant.spec, &mut report);
    environments::check_production(&tenant.spec, &mut report);
    network::check_allow_from(&name, &tenant.spec, &mut report);
    tls::check(&tenant.spec, &mut report);
    access::check(&tenant.spec, &mut report);
    match class {
        None => report.error(
            Rule::ClassUnknown,
            "spec.class",
            format!(
                "TenantClass {:?} does not exist; name an existing class (`kubectl get tenantclasses`, or the files of policies/classes/)",
                tenant.spec.class
            ),
        ),
        Some(class) => {
            entity::check_classification_allowed(&tenant.spec, class, &mut report);
            environments::check_quota(&tenant.spec, class, &mut report);
            network::check_egress(&tenant.spec, class, &mut report);
        }
    }
    report.finish()
}

/// What the datacenter decides and no tenant file can change: the namespaces reserved for
/// the platform and the DNS domains delegated to each body. `validate` reads it from the
/// trusted policy folder (`--classes DIR`), never from the files under review; the
/// controller from its flags and the cluster's DomainDelegations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trusted {
    /// Namespaces no tenant may take.
    pub reserved: ReservedNamespaces,
    /// Domains delegated to each body.
    pub delegations: Delegations,
}

/// Every problem of one tenant with the trusted policy: a namespace that is reserved, a
/// hostname outside `delegated` (the domains delegated to the tenant's body, see
/// [`Delegations::domains_of`]).
pub fn validate_trusted(
    tenant: &TenantService,
    reserved: &ReservedNamespaces,
    delegated: &[String],
) -> Vec<Problem> {
    let name = tenant.name_any();
    let mut report = Report::new(name.clone());
    let environments: Vec<String> = tenant
        .spec
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    reserved::check(&name, &environments, reserved, &mut report);
    delegation::check_hostnames(&tenant.spec, delegated, &mut report);
    report.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testutil::paths;
    use super::*;
    use crate::fixtures::{default_class, tenant};

    #[test]
    fn missing_class_is_a_problem_on_spec_class() {
        let t = tenant(json!({"class": "gold"}));
        assert!(validate_tenant(&t, Some(&default_class("standard"))).is_empty());
        let p = validate_tenant(&t, None);
        assert_eq!(paths(&p), ["spec.class"]);
        assert!(p[0].message.contains("\"gold\" does not exist"));
        assert!(p[0].is_error());
        assert_eq!(p[0].rule, Rule::ClassUnknown);
        assert_eq!(p[0].object, "comune-molfetta");
    }

    #[test]
    fn problems_display_object_path_and_severity() {
        let p = Problem {
            object: "a".into(),
            path: "spec.x".into(),
            message: "m".into(),
            severity: Severity::Warning,
            rule: Rule::EntityDisplayName,
        };
        assert_eq!(p.to_string(), "a: spec.x: warning: m [ENTITY-DISPLAY-NAME]");
    }
}
