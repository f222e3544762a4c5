#![forbid(unsafe_code)]
//! Kubernetes RBAC with kube-apiserver's semantics, as pure functions over the
//! `rbac.authorization.k8s.io/v1` objects (k8s-openapi types).
//!
//! - [`allows`] / [`rule_allows`]: does a rule grant a request
//!   (`plugin/pkg/auth/authorizer/rbac/rbac.go` `RuleAllows`).
//! - [`Policy`]: the Roles, ClusterRoles and bindings of a cluster; resolves the
//!   rules that apply to a user in a namespace (`pkg/registry/rbac/validation/rule.go`
//!   `DefaultRuleResolver`), authorizes a request (`RBACAuthorizer.Authorize`), answers a
//!   rules review (`RulesFor`) and lists the subjects allowed a request
//!   (`subject_locator.go` `AllowedSubjects`).
//! - [`covers`] and [`Policy::confirm_no_escalation`]: the escalation check on writing
//!   Roles and bindings (`pkg/registry/rbac/validation/policy_comparator.go`, `rule.go`).
//! - [`aggregate`]: the rules of an aggregated ClusterRole, as kube-controller-manager's
//!   `clusterrole-aggregation` controller computes them.
//!
//! The crate has no I/O: callers load the objects (from a cluster, files or a store).

mod aggregation;
mod attributes;
mod covers;
mod matching;
mod policy;
mod selector;

pub use aggregation::aggregate;
pub use attributes::Attributes;
pub use covers::{compact_string, covers, escalation_message};
pub use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
pub use matching::{allows, rule_allows};
pub use policy::{Decision, Policy, ResolvedRules, User};
pub use selector::selector_matches;

/// Verb, group, resource or URL wildcard (`rbacv1.VerbAll`, `APIGroupAll`, ...).
pub const ALL: &str = "*";
/// The group whose members bypass authorization and the escalation checks
/// (`user.SystemPrivilegedGroup`).
pub const SYSTEM_MASTERS: &str = "system:masters";
/// The prefix of ServiceAccount user names (`serviceaccount.ServiceAccountUsernamePrefix`).
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Every permission: `*` on every resource of every group and on every URL
/// (cluster-admin's rules; upstream's `fullAuthority`).
pub fn full_authority() -> Vec<PolicyRule> {
    let all = Some(vec![ALL.to_string()]);
    vec![
        PolicyRule {
            verbs: vec![ALL.into()],
            api_groups: all.clone(),
            resources: all.clone(),
            ..Default::default()
        },
        PolicyRule {
            verbs: vec![ALL.into()],
            non_resource_urls: all,
            ..Default::default()
        },
    ]
}

/// `system:serviceaccount:NS:NAME` for a ServiceAccount.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// The namespace and name of a ServiceAccount user name, if it is one
/// (`serviceaccount.SplitUsername`: both parts non-empty, no further colon).
pub fn split_service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups every ServiceAccount of `namespace` is in
/// (`serviceaccount.MakeGroupNames`).
pub fn service_account_groups(namespace: &str) -> [String; 2] {
    [
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_authority_grants_everything_and_covers_anything() {
        let all = full_authority();
        assert!(allows(
            &all,
            &Attributes::resource("escalate", "rbac.authorization.k8s.io", "roles")
        ));
        assert!(allows(&all, &Attributes::non_resource("get", "/metrics")));
        assert_eq!(covers(&all, &all), Ok(()));
        assert!(
            covers(&all[..1], &all).is_err(),
            "resource rules do not cover URLs"
        );
    }

    #[test]
    fn service_account_names_split_as_upstream() {
        assert_eq!(
            split_service_account("system:serviceaccount:ns:sa"),
            Some(("ns", "sa"))
        );
        assert_eq!(
            service_account_username("ns", "sa"),
            "system:serviceaccount:ns:sa"
        );
        assert_eq!(split_service_account("system:serviceaccount:ns"), None);
        assert_eq!(split_service_account("system:serviceaccount::sa"), None);
        assert_eq!(split_service_account("system:serviceaccount:ns:a:b"), None);
        assert_eq!(split_service_account("alice"), None);
        assert_eq!(
            service_account_groups("ns"),
            ["system:serviceaccounts", "system:serviceaccounts:ns"]
        );
    }
}
