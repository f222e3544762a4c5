//! A cluster's RBAC objects and what follows from them for a user: the rules
//! that apply in a namespace (`pkg/registry/rbac/validation/rule.go`
//! `DefaultRuleResolver.VisitRulesFor`), authorization
//! (`plugin/pkg/auth/authorizer/rbac/rbac.go` `RBACAuthorizer`), the escalation
//! check (`ConfirmNoEscalation`) and the subjects allowed a request
//! (`subject_locator.go`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use crate::covers::{covers, escalation_message};
use crate::matching::rule_allows;
use crate::{Attributes, split_service_account};

/// Who asks: a user name and its groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// User name, e.g. `alice` or `system:serviceaccount:NS:NAME`.
    pub name: String,
    /// Groups, e.g. `system:authenticated`.
    pub groups: Vec<String>,
}

impl User {
    /// A user with `groups`.
    pub fn new(name: &str, groups: &[&str]) -> Self {
        User {
            name: name.into(),
            groups: groups
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }
}

/// An authorization answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True when some rule allows the request.
    pub allowed: bool,
    /// Why: `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "g"`
    /// when allowed; when refused, empty or `RBAC: [...]` naming bindings whose
    /// role is missing (as kube-apiserver's reason).
    pub reason: String,
}

/// The rules that apply to a user in a namespace, and the bindings that could
/// not be resolved (their role is missing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResolvedRules {
    /// Rules from every ClusterRoleBinding and every RoleBinding of the namespace that names the user.
    pub rules: Vec<PolicyRule>,
    /// Errors such as `clusterrole.rbac.authorization.k8s.io "x" not found`.
    pub errors: Vec<String>,
}

/// A cluster's Roles, ClusterRoles, RoleBindings and ClusterRoleBindings.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    roles: BTreeMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: BTreeMap<String, Vec<PolicyRule>>,
    role_bindings: BTreeMap<String, Vec<RoleBinding>>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

/// Whether a binding's subject names `user` (`appliesToUser`). A ServiceAccount
/// subject without a namespace means the binding's own namespace.
fn subject_applies(subject: &Subject, user: &User, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            !ns.is_empty() && split_service_account(&user.name) == Some((ns, subject.name.as_str()))
        }
        _ => false,
    }
}

/// `Kind "name"`, with `name/namespace` for ServiceAccounts (`describeSubject`).
fn describe_subject(s: &Subject, binding_namespace: &str) -> String {
    if s.kind == "ServiceAccount" {
        let ns = s
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_namespace);
        format!("{} {:?}", s.kind, format!("{}/{ns}", s.name))
    } else {
        format!("{} {:?}", s.kind, s.name)
    }
}

/// Where a rule came from, for the reason of an allowed request.
struct Source<'a> {
    binding_kind: &'static str,
    binding: String,
    role_ref: &'a RoleRef,
    subject: String,
}

impl Source<'_> {
    fn describe(&self) -> String {
        format!(
            "{} {:?} of {} {:?} to {}",
            self.binding_kind, self.binding, self.role_ref.kind, self.role_ref.name, self.subject
        )
    }
}

impl Policy {
    /// A policy from the objects of a cluster (in any order).
    pub fn new(
        roles: Vec<Role>,
        cluster_roles: Vec<ClusterRole>,
        role_bindings: Vec<RoleBinding>,
        cluster_role_bindings: Vec<ClusterRoleBinding>,
    ) -> Self {
        let mut rbs: BTreeMap<String, Vec<RoleBinding>> = BTreeMap::new();
        for b in role_bindings {
            rbs.entry(namespace_of(&b.metadata)).or_default().push(b);
        }
        for list in rbs.values_mut() {
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        }
        let mut crbs = cluster_role_bindings;
        crbs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Policy {
            roles: roles
                .into_iter()
                .map(|r| {
                    (
                        (namespace_of(&r.metadata), name_of(&r.metadata)),
                        r.rules.unwrap_or_default(),
                    )
                })
                .collect(),
            cluster_roles: cluster_roles
                .into_iter()
                .map(|r| (name_of(&r.metadata), r.rules.unwrap_or_default()))
                .collect(),
            role_bindings: rbs,
            cluster_role_bindings: crbs,
        }
    }

    /// The rules a binding in `binding_namespace` ("" for a ClusterRoleBinding)
    /// grants through `role_ref` (`GetRoleReferenceRules`): a Role of that
    /// namespace or a ClusterRole; Err names what is missing.
    pub fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<&[PolicyRule], String> {
        match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(&(binding_namespace.to_string(), role_ref.name.clone()))
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {:?} not found",
                        role_ref.name
                    )
                }),
            "ClusterRole" => self
                .cluster_roles
                .get(&role_ref.name)
                .map(Vec::as_slice)
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {:?} not found",
                        role_ref.name
                    )
                }),
            other => Err(format!("unsupported role reference kind: {other:?}")),
        }
    }

    /// Calls `visit` with every rule that applies to `user` in `namespace`: first
    /// those of ClusterRoleBindings, then those of the namespace's RoleBindings
    /// (each binding by name); stops when `visit` breaks. Returns the resolution
    /// errors met on the way.
    fn visit_rules_for(
        &self,
        user: &User,
        namespace: &str,
        mut visit: impl FnMut(&Source<'_>, &PolicyRule) -> ControlFlow<()>,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let cluster = self.cluster_role_bindings.iter().map(|b| {
            (
                "ClusterRoleBinding",
                name_of(&b.metadata),
                "",
                &b.role_ref,
                b.subjects.as_deref(),
            )
        });
        let local = (!namespace.is_empty())
            .then(|| self.role_bindings.get(namespace))
            .flatten()
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    "RoleBinding",
                    format!("{}/{namespace}", name_of(&b.metadata)),
                    namespace,
                    &b.role_ref,
                    b.subjects.as_deref(),
                )
            });
        for (kind, binding, ns, role_ref, subjects) in cluster.chain(local) {
            let Some(subject) = subjects
                .unwrap_or(&[])
                .iter()
                .find(|s| subject_applies(s, user, ns))
            else {
                continue;
            };
            let rules = match self.role_ref_rules(role_ref, ns) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let source = Source {
                binding_kind: kind,
                binding,
                role_ref,
                subject: describe_subject(subject, ns),
            };
            for rule in rules {
                if visit(&source, rule).is_break() {
                    return errors;
                }
            }
        }
        errors
    }

    /// Every rule that applies to `user` in `namespace` ("" = cluster-wide
    /// bindings only), with the bindings that could not be resolved.
    pub fn rules_for(&self, user: &User, namespace: &str) -> ResolvedRules {
        let mut rules = Vec::new();
        let errors = self.visit_rules_for(user, namespace, |_, r| {
            rules.push(r.clone());
            ControlFlow::Continue(())
        });
        ResolvedRules { rules, errors }
    }

    /// Whether RBAC allows `user` the request `attrs` (`system:masters` is not
    /// special here: it bypasses authorization before RBAC is asked).
    pub fn authorize(&self, user: &User, attrs: &Attributes) -> Decision {
        let mut allowed_by = None;
        let errors = self.visit_rules_for(user, &attrs.namespace, |source, rule| {
            if rule_allows(rule, attrs) {
                allowed_by = Some(source.describe());
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match allowed_by {
            Some(source) => Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {source}"),
            },
            None => Decision {
                allowed: false,
                reason: if errors.is_empty() {
                    String::new()
                } else {
                    format!("RBAC: [{}]", errors.join(", "))
                },
            },
        }
    }

    /// The escalation check: Err with kube-apiserver's message unless the rules
    /// `user` holds in `namespace` cover every permission of `rules`.
    pub fn confirm_no_escalation(
        &self,
        user: &User,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), String> {
        let owner = self.rules_for(user, namespace);
        covers(&owner.rules, rules)
            .map_err(|missing| escalation_message(&user.name, &user.groups, missing, &owner.errors))
    }

    /// The subjects that RBAC allows the request `attrs`: those of
    /// ClusterRoleBindings, then of RoleBindings in its namespace, whose role
    /// grants it (each subject once).
    pub fn allowed_subjects(&self, attrs: &Attributes) -> Vec<Subject> {
        let mut out: Vec<Subject> = Vec::new();
        let mut seen = BTreeSet::new();
        let cluster = self
            .cluster_role_bindings
            .iter()
            .map(|b| ("", &b.role_ref, b.subjects.as_deref()));
        let local = (!attrs.namespace.is_empty())
            .then(|| self.role_bindings.get(&attrs.namespace))
            .flatten()
            .into_iter()
            .flatten()
            .map(|b| (attrs.namespace.as_str(), &b.role_ref, b.subjects.as_deref()));
        for (ns, role_ref, subjects) in cluster.chain(local) {
            let grants = self
                .role_ref_rules(role_ref, ns)
                .is_ok_and(|rules| rules.iter().any(|r| rule_allows(r, attrs)));
            if !grants {
                continue;
            }
            for s in subjects.unwrap_or(&[]) {
                let mut s = s.clone();
                if s.kind == "ServiceAccount" && s.namespace.as_deref().unwrap_or("").is_empty() {
                    s.namespace = Some(ns.to_string());
                }
                let key = (
                    s.kind.clone(),
                    s.namespace.clone().unwrap_or_default(),
                    s.name.clone(),
                );
                if seen.insert(key) {
                    out.push(s);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::tests::{named, rule};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: (!ns.is_empty()).then(|| ns.into()),
            ..Default::default()
        }
    }

    fn subject(kind: &str, name: &str, ns: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(String::from),
            api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".into()),
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn rb(ns: &str, name: &str, rr: RoleRef, subjects: Vec<Subject>) -> RoleBinding {
        RoleBinding {
            metadata: meta(ns, name),
            role_ref: rr,
            subjects: Some(subjects),
        }
    }

    /// `edit` on deployments bound to group `devs` in `team-a`; a Role
    /// `secret-reader` for the ServiceAccount `team-a/bot`; cluster-wide `view`
    /// of namespaces for `alice`; one binding to a missing ClusterRole.
    fn policy() -> Policy {
        Policy::new(
            vec![Role {
                metadata: meta("team-a", "secret-reader"),
                rules: Some(vec![named(rule("get", "", "secrets"), "db")]),
            }],
            vec![
                ClusterRole {
                    metadata: meta("", "deployer"),
                    rules: Some(vec![rule("get,list,create", "apps", "deployments")]),
                    ..Default::default()
                },
                ClusterRole {
                    metadata: meta("", "ns-viewer"),
                    rules: Some(vec![rule("get,list", "", "namespaces")]),
                    ..Default::default()
                },
            ],
            vec![
                rb(
                    "team-a",
                    "devs",
                    role_ref("ClusterRole", "deployer"),
                    vec![subject("Group", "devs", None)],
                ),
                rb(
                    "team-a",
                    "bot",
                    role_ref("Role", "secret-reader"),
                    vec![subject("ServiceAccount", "bot", None)],
                ),
                rb(
                    "team-a",
                    "broken",
                    role_ref("ClusterRole", "gone"),
                    vec![subject("Group", "devs", None)],
                ),
            ],
            vec![ClusterRoleBinding {
                metadata: meta("", "alice-ns"),
                role_ref: role_ref("ClusterRole", "ns-viewer"),
                subjects: Some(vec![subject("User", "alice", None)]),
            }],
        )
    }

    #[test]
    fn role_bindings_grant_only_in_their_namespace() {
        let p = policy();
        let bob = User::new("bob", &["devs", "system:authenticated"]);
        let create = Attributes::resource("create", "apps", "deployments");
        let d = p.authorize(&bob, &create.clone().in_namespace("team-a"));
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by RoleBinding "devs/team-a" of ClusterRole "deployer" to Group "devs""#
        );
        let d = p.authorize(&bob, &create.clone().in_namespace("team-b"));
        assert!(!d.allowed);
        assert_eq!(d.reason, "");
        assert!(
            !p.authorize(&bob, &create).allowed,
            "a RoleBinding never grants cluster-wide"
        );
    }

    #[test]
    fn cluster_role_bindings_grant_everywhere() {
        let p = policy();
        let alice = User::new("alice", &[]);
        let list = Attributes::resource("list", "", "namespaces");
        assert!(p.authorize(&alice, &list).allowed);
        assert!(
            p.authorize(&alice, &list.clone().in_namespace("team-b"))
                .allowed
        );
        assert!(!p.authorize(&User::new("mallory", &[]), &list).allowed);
    }

    #[test]
    fn service_account_subjects_default_to_the_binding_namespace() {
        let p = policy();
        let get = Attributes::resource("get", "", "secrets")
            .in_namespace("team-a")
            .named("db");
        assert!(
            p.authorize(&User::new("system:serviceaccount:team-a:bot", &[]), &get)
                .allowed
        );
        assert!(
            !p.authorize(&User::new("system:serviceaccount:team-b:bot", &[]), &get)
                .allowed
        );
        assert!(
            !p.authorize(
                &User::new("system:serviceaccount:team-a:bot", &[]),
                &get.clone().named("other")
            )
            .allowed
        );
    }

    #[test]
    fn a_binding_to_a_missing_role_is_a_resolution_error() {
        let p = policy();
        let bob = User::new("bob", &["devs"]);
        let d = p.authorize(
            &bob,
            &Attributes::resource("delete", "apps", "deployments").in_namespace("team-a"),
        );
        assert!(!d.allowed);
        assert_eq!(
            d.reason,
            r#"RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found]"#
        );
        let r = p.rules_for(&bob, "team-a");
        assert_eq!(
            r.rules,
            vec![rule("get,list,create", "apps", "deployments")]
        );
        assert_eq!(r.errors.len(), 1);
        assert!(p.rules_for(&bob, "").rules.is_empty());
    }

    #[test]
    fn escalation_is_refused_beyond_held_rules() {
        let p = policy();
        let bob = User::new("bob", &["devs"]);
        assert_eq!(
            p.confirm_no_escalation(&bob, "team-a", &[rule("get,create", "apps", "deployments")]),
            Ok(())
        );
        let err = p
            .confirm_no_escalation(&bob, "team-a", &[rule("delete", "apps", "deployments")])
            .unwrap_err();
        assert!(err.starts_with(r#"user "bob" (groups=["devs"]) is attempting to grant RBAC permissions not currently held:"#), "{err}");
        assert!(
            err.contains(r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["delete"]}"#),
            "{err}"
        );
        assert!(
            err.ends_with(
                r#"; resolution errors: [clusterrole.rbac.authorization.k8s.io "gone" not found]"#
            ),
            "{err}"
        );
        // What bob holds in team-a he does not hold in team-b.
        assert!(
            p.confirm_no_escalation(&bob, "team-b", &[rule("get", "apps", "deployments")])
                .is_err()
        );
    }

    #[test]
    fn allowed_subjects_lists_who_can() {
        let p = policy();
        let create = Attributes::resource("create", "apps", "deployments").in_namespace("team-a");
        assert_eq!(
            p.allowed_subjects(&create),
            vec![subject("Group", "devs", None)]
        );
        let get = Attributes::resource("get", "", "secrets")
            .in_namespace("team-a")
            .named("db");
        assert_eq!(
            p.allowed_subjects(&get),
            vec![subject("ServiceAccount", "bot", Some("team-a"))]
        );
        assert!(
            p.allowed_subjects(&create.in_namespace("team-b"))
                .is_empty()
        );
    }
}
