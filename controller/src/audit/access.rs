//! Who may do what in each tenant namespace, with the RBAC semantics of kube-apiserver
//! (the workspace's `rbac` crate: rule matching with wildcards and resourceNames,
//! ClusterRole aggregation, RoleBinding subjects, the authorizer).
//!
//! A subject is what a binding names: a group, a user or a ServiceAccount. Its rights are
//! those its own bindings grant (a group member also holds what other groups of theirs
//! hold, such as `system:authenticated`; those appear under that group). Subjects of
//! RoleBindings in tenant namespaces are reported per namespace; subjects of
//! ClusterRoleBindings once, as `*` (their rights are the same in every namespace).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use rbac::{Attributes, Policy, User};

use super::model::Model;
use super::report::Access;

/// A subject, as bindings name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectKey {
    /// A group.
    Group(String),
    /// A user.
    User(String),
    /// A ServiceAccount: namespace, name.
    ServiceAccount(String, String),
}

impl SubjectKey {
    /// The subject of a binding in `binding_namespace` ("" for a ClusterRoleBinding); a
    /// ServiceAccount without a namespace is in the binding's.
    fn of(subject: &Subject, binding_namespace: &str) -> Option<SubjectKey> {
        match subject.kind.as_str() {
            "Group" => Some(SubjectKey::Group(subject.name.clone())),
            "User" => Some(SubjectKey::User(subject.name.clone())),
            "ServiceAccount" => {
                let ns = subject
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| binding_namespace.to_string());
                Some(SubjectKey::ServiceAccount(ns, subject.name.clone()))
            }
            _ => None,
        }
    }

    /// The user the authorizer sees for this subject alone: a group as a user in only that
    /// group (a name no binding can name), a user without groups, a ServiceAccount by its
    /// user name without its implicit groups.
    pub fn user(&self) -> User {
        match self {
            SubjectKey::Group(g) => User {
                name: String::new(),
                groups: vec![g.clone()],
            },
            SubjectKey::User(u) => User {
                name: u.clone(),
                groups: Vec::new(),
            },
            SubjectKey::ServiceAccount(ns, name) => User {
                name: rbac::service_account_username(ns, name),
                groups: Vec::new(),
            },
        }
    }

    /// Whether this is a `system:` group other than `system:masters` (which bypasses
    /// authorization by design, the break-glass identity).
    pub fn is_system_group(&self) -> bool {
        matches!(self, SubjectKey::Group(g) if g.starts_with("system:") && g != rbac::SYSTEM_MASTERS)
    }
}

impl std::fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectKey::Group(g) => write!(f, "Group:{g}"),
            SubjectKey::User(u) => write!(f, "User:{u}"),
            SubjectKey::ServiceAccount(ns, name) => write!(f, "ServiceAccount:{ns}/{name}"),
        }
    }
}

/// The RBAC objects of a snapshot, indexed by subject.
pub struct Rbac {
    /// The authorizer's view (aggregated ClusterRoles resolved).
    pub policy: Policy,
    /// For each tenant namespace, the subjects its RoleBindings name, with the bindings.
    pub bound_in: HashMap<usize, BTreeMap<SubjectKey, Vec<String>>>,
    /// For each subject, the tenant namespaces whose RoleBindings name it.
    pub namespaces_of: HashMap<SubjectKey, BTreeSet<usize>>,
    /// Subjects of ClusterRoleBindings, with the bindings.
    pub cluster_wide: BTreeMap<SubjectKey, Vec<String>>,
    /// The rules ClusterRoleBindings give each of those subjects (in every namespace and
    /// at cluster scope).
    cluster_rules: HashMap<SubjectKey, Vec<PolicyRule>>,
}

/// What one subject holds in one namespace, resolved once: requests in the namespace are
/// decided by the rules of ClusterRoleBindings and of the namespace's RoleBindings,
/// requests at cluster scope by those of ClusterRoleBindings alone (as the authorizer
/// visits bindings).
pub struct Rights<'r> {
    /// Rules that apply in the namespace.
    pub namespaced: Vec<PolicyRule>,
    /// Rules that apply at cluster scope.
    pub cluster: &'r [PolicyRule],
}

impl Rights<'_> {
    /// Whether these rights allow the request (its namespace must be the one the rights
    /// were resolved for, or empty for cluster scope).
    pub fn allows(&self, attributes: &Attributes) -> bool {
        let rules = if attributes.namespace.is_empty() {
            self.cluster
        } else {
            &self.namespaced
        };
        rbac::allows(rules, attributes)
    }
}

/// Cluster-scoped resources, as (API group, resource): requests for them carry no
/// namespace, so only ClusterRoleBindings grant them. The built-in kinds of Kubernetes
/// 1.34 that hold state, and this project's kinds; the review APIs are in [`REVIEWS`].
pub const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "apiservices"),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    ("certificates.k8s.io", "certificatesigningrequests"),
    ("certificates.k8s.io", "clustertrustbundles"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
    ),
    ("networking.k8s.io", "ingressclasses"),
    ("networking.k8s.io", "ipaddresses"),
    ("networking.k8s.io", "servicecidrs"),
    ("node.k8s.io", "runtimeclasses"),
    ("scheduling.k8s.io", "priorityclasses"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "volumeattributesclasses"),
    ("resource.k8s.io", "deviceclasses"),
    ("tenancy.innova.puglia.it", "tenantservices"),
    ("tenancy.innova.puglia.it", "tenantclasses"),
];

/// The review APIs: cluster-scoped like [`CLUSTER_SCOPED`], but creating one reveals
/// nothing about others and kube-apiserver's bootstrap policy lets every authenticated
/// user create the self reviews, so the benchmark's access check leaves them out.
pub const REVIEWS: &[(&str, &str)] = &[
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
];

/// Whether a rule grants something on a namespaced resource (or on every resource).
pub fn grants_namespaced(rule: &PolicyRule) -> bool {
    rule.resources.iter().flatten().any(|resource| {
        let base = resource.split('/').next().unwrap_or(resource);
        resource == "*"
            || !CLUSTER_SCOPED.iter().chain(REVIEWS).any(|(g, r)| {
                *r == base
                    && rule
                        .api_groups
                        .iter()
                        .flatten()
                        .any(|rg| rg == g || rg == "*")
            })
    })
}

/// The verbs of the benchmark's access checks.
pub const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// The verbs that change objects.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// The isolation objects of a tenant namespace, as (API group, resource).
pub const ISOLATION: [(&str, &str); 5] = [
    ("networking.k8s.io", "networkpolicies"),
    ("", "resourcequotas"),
    ("", "limitranges"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
];

impl Rbac {
    /// Indexes the RBAC objects of the model's snapshot.
    pub fn build(model: &Model) -> Rbac {
        let snapshot = model.snapshot;
        let cluster_roles = aggregated(&snapshot.cluster_roles);
        let policy = Policy::new(
            snapshot.roles.clone(),
            cluster_roles,
            snapshot.role_bindings.clone(),
            snapshot.cluster_role_bindings.clone(),
        );
        let mut bound_in: HashMap<usize, BTreeMap<SubjectKey, Vec<String>>> = HashMap::new();
        let mut namespaces_of: HashMap<SubjectKey, BTreeSet<usize>> = HashMap::new();
        for binding in &snapshot.role_bindings {
            let namespace = binding.metadata.namespace.as_deref().unwrap_or_default();
            let Some(n) = model.namespace(namespace) else {
                continue;
            };
            if model.namespaces[n].tenant.is_none() {
                continue;
            }
            let name = format!(
                "{namespace}/{}",
                binding.metadata.name.as_deref().unwrap_or_default()
            );
            for subject in binding.subjects.iter().flatten() {
                if let Some(key) = SubjectKey::of(subject, namespace) {
                    bound_in
                        .entry(n)
                        .or_default()
                        .entry(key.clone())
                        .or_default()
                        .push(name.clone());
                    namespaces_of.entry(key).or_default().insert(n);
                }
            }
        }
        let mut cluster_wide: BTreeMap<SubjectKey, Vec<String>> = BTreeMap::new();
        for binding in &snapshot.cluster_role_bindings {
            let name = binding.metadata.name.clone().unwrap_or_default();
            for subject in binding.subjects.iter().flatten() {
                if let Some(key) = SubjectKey::of(subject, "") {
                    cluster_wide.entry(key).or_default().push(name.clone());
                }
            }
        }
        let cluster_rules = cluster_wide
            .keys()
            .map(|s| (s.clone(), policy.rules_for(&s.user(), "").rules))
            .collect();
        Rbac {
            policy,
            bound_in,
            namespaces_of,
            cluster_wide,
            cluster_rules,
        }
    }

    /// The rules ClusterRoleBindings give `subject` (alone).
    pub fn cluster_rules(&self, subject: &SubjectKey) -> &[PolicyRule] {
        self.cluster_rules.get(subject).map_or(&[], Vec::as_slice)
    }

    /// What `subject` (alone) holds in `namespace`; "" for cluster scope.
    pub fn rights(&self, subject: &SubjectKey, namespace: &str) -> Rights<'_> {
        let cluster = self.cluster_rules(subject);
        Rights {
            namespaced: if namespace.is_empty() {
                cluster.to_vec()
            } else {
                self.policy.rules_for(&subject.user(), namespace).rules
            },
            cluster,
        }
    }

    /// Whether the subject belongs to the platform rather than to a tenant: a
    /// ServiceAccount of a namespace that is not a tenant's (the monitoring stack, the
    /// operator), or `system:masters`.
    pub fn is_platform(model: &Model, subject: &SubjectKey) -> bool {
        match subject {
            SubjectKey::ServiceAccount(ns, _) => model
                .namespace(ns)
                .is_none_or(|n| model.namespaces[n].tenant.is_none()),
            SubjectKey::Group(g) => g == rbac::SYSTEM_MASTERS,
            SubjectKey::User(_) => false,
        }
    }
}

/// The ClusterRoles with the rules aggregation gives them, as kube-controller-manager
/// leaves them: an aggregated role may pick another aggregated role (`view` into `edit`
/// into `admin`), so passes repeat until nothing changes (each pass that changes something
/// completes one more level, so there are at most as many as roles).
pub fn aggregated(roles: &[ClusterRole]) -> Vec<ClusterRole> {
    let mut roles = roles.to_vec();
    for _ in 0..=roles.len() {
        let next: Vec<ClusterRole> = roles
            .iter()
            .map(|role| match rbac::aggregate(role, &roles) {
                Some(rules) => ClusterRole {
                    rules: Some(rules),
                    ..role.clone()
                },
                None => role.clone(),
            })
            .collect();
        if next == roles {
            break;
        }
        roles = next;
    }
    roles
}

/// Verbs by resource, as the report summarises rules: `pods`, `apps/deployments`,
/// `pods/exec`, `*` (every resource of every group), `apps/*`; a rule limited to names
/// adds them in brackets (`clusterroles[tenant-admin]`). Rules on URLs are left out.
pub fn summarise(rules: &[PolicyRule]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        let names = rule.resource_names.as_deref().unwrap_or(&[]);
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                let mut key = match (group.as_str(), resource.as_str()) {
                    ("*", "*") => "*".to_string(),
                    ("", r) => r.to_string(),
                    (g, r) => format!("{g}/{r}"),
                };
                if !names.is_empty() {
                    key = format!("{key}[{}]", names.join(","));
                }
                map.entry(key)
                    .or_default()
                    .extend(rule.verbs.iter().cloned());
            }
        }
    }
    map.into_iter()
        .map(|(k, verbs)| {
            let verbs = if verbs.contains("*") {
                vec!["*".to_string()]
            } else {
                verbs.into_iter().collect()
            };
            (k, verbs)
        })
        .collect()
}

/// What a reviewer looks for first in `rights` held in `namespace` ("" for rights held
/// in every namespace).
pub fn flags(rights: &Rights, namespace: &str) -> Vec<String> {
    let allows = |attributes: &Attributes| rights.allows(attributes);
    let can = |verb: &str, group: &str, resource: &str| {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let mut attributes = Attributes::resource(verb, group, resource).in_namespace(namespace);
        if !subresource.is_empty() {
            attributes = attributes.subresource(subresource);
        }
        allows(&attributes)
    };
    let mut flags = Vec::new();
    let writes_isolation = ISOLATION
        .iter()
        .any(|(g, r)| WRITE_VERBS.iter().any(|v| can(v, g, r)))
        || ["update", "patch", "delete"].iter().any(|v| {
            // The namespace object carries the Pod Security and tenancy labels; requests
            // for it carry its own name as their namespace.
            allows(
                &Attributes::resource(v, "", "namespaces")
                    .in_namespace(namespace)
                    .named(namespace),
            )
        });
    if writes_isolation {
        flags.push("writes-isolation".to_string());
    }
    if ["get", "list", "watch"]
        .iter()
        .any(|v| can(v, "", "secrets"))
    {
        flags.push("reads-secrets".to_string());
    }
    if ["create", "get"]
        .iter()
        .any(|v| can(v, "", "pods/exec") || can(v, "", "pods/attach"))
    {
        flags.push("exec".to_string());
    }
    if escalation(rights, namespace).is_some() {
        flags.push("escalates".to_string());
    }
    flags
}

/// The first way `rights` held in `namespace` let their holder raise them: `escalate` or
/// `bind` on roles, or impersonation (MTB-PL2-CC-TI-1).
pub fn escalation(rights: &Rights, namespace: &str) -> Option<String> {
    let rbac_group = "rbac.authorization.k8s.io";
    let tries = [
        Attributes::resource("escalate", rbac_group, "roles").in_namespace(namespace),
        Attributes::resource("escalate", rbac_group, "clusterroles").in_namespace(namespace),
        Attributes::resource("bind", rbac_group, "clusterroles")
            .in_namespace(namespace)
            .named("cluster-admin"),
        Attributes::resource("bind", rbac_group, "roles").in_namespace(namespace),
        Attributes::resource("impersonate", "", "users"),
        Attributes::resource("impersonate", "", "groups"),
        Attributes::resource("impersonate", "", "serviceaccounts").in_namespace(namespace),
    ];
    tries.iter().find(|a| rights.allows(a)).map(|a| {
        let name = if a.name.is_empty() {
            String::new()
        } else {
            format!(" {}", a.name)
        };
        format!("{} {}{name}", a.verb, a.resource)
    })
}

/// The access report: for every tenant namespace, each subject its RoleBindings name;
/// and each subject of a ClusterRoleBinding once, as `*`.
pub fn entries(model: &Model, rbac: &Rbac) -> Vec<Access> {
    let mut entries = Vec::new();
    for &n in &model.tenant_namespaces {
        let namespace = &model.namespaces[n].name;
        for (subject, bindings) in rbac.bound_in.get(&n).into_iter().flatten() {
            let mut bindings = bindings.clone();
            bindings.extend(
                rbac.cluster_wide
                    .get(subject)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            let rights = rbac.rights(subject, namespace);
            entries.push(Access {
                subject: subject.to_string(),
                namespace: namespace.clone(),
                verbs: summarise(&rights.namespaced),
                flags: flags(&rights, namespace),
                bindings,
            });
        }
    }
    for (subject, bindings) in &rbac.cluster_wide {
        let rights = rbac.rights(subject, "");
        let verbs = summarise(&rights.namespaced);
        if verbs.is_empty() {
            continue;
        }
        entries.push(Access {
            subject: subject.to_string(),
            namespace: "*".to_string(),
            verbs,
            flags: flags(&rights, ""),
            bindings: bindings.clone(),
        });
    }
    entries.sort();
    entries
}

#[cfg(test)]
mod tests;
