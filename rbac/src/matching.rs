//! Whether a rule grants a request: `plugin/pkg/auth/authorizer/rbac/rbac.go`
//! `RuleAllows` and the matchers of `pkg/apis/rbac/v1/evaluation_helpers.go`.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::{ALL, Attributes};

fn strings(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    strings(&rule.api_groups)
        .iter()
        .any(|g| g == ALL || g == group)
}

/// `pods/log` matches a rule naming `pods/log`, `*/log` or `*`; a rule naming
/// `pods` does not grant its subresources.
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    strings(&rule.resources).iter().any(|r| {
        r == ALL
            || r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/").is_some_and(|s| s == subresource))
    })
}

/// A rule without resourceNames grants every name; one with names grants only
/// those, so never a request without a name (create, list across names).
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = strings(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// `*` grants every path, `/apis/*` every path under `/apis/`, else exact match.
fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    strings(&rule.non_resource_urls).iter().any(|u| {
        u == ALL
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Whether `rule` grants the request `attrs`.
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if attrs.resource_request {
        verb_matches(rule, &attrs.verb)
            && api_group_matches(rule, &attrs.api_group)
            && resource_matches(rule, &attrs.combined_resource(), &attrs.subresource)
            && resource_name_matches(rule, &attrs.name)
    } else {
        verb_matches(rule, &attrs.verb) && non_resource_url_matches(rule, &attrs.path)
    }
}

/// Whether any of `rules` grants the request `attrs`.
pub fn allows(rules: &[PolicyRule], attrs: &Attributes) -> bool {
    rules.iter().any(|r| rule_allows(r, attrs))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A rule from comma-separated `verbs`, `groups` (`""` is the core group)
    /// and `resources` (empty = none).
    pub fn rule(verbs: &str, groups: &str, resources: &str) -> PolicyRule {
        let list = |s: &str| -> Option<Vec<String>> {
            if s.is_empty() {
                None
            } else {
                Some(s.split(',').map(String::from).collect())
            }
        };
        PolicyRule {
            verbs: list(verbs).unwrap_or_default(),
            api_groups: Some(groups.split(',').map(String::from).collect()),
            resources: list(resources),
            ..Default::default()
        }
    }

    pub fn urls(verbs: &str, urls: &str) -> PolicyRule {
        PolicyRule {
            non_resource_urls: Some(urls.split(',').map(String::from).collect()),
            api_groups: None,
            ..rule(verbs, "", "")
        }
    }

    pub fn named(mut r: PolicyRule, names: &str) -> PolicyRule {
        r.resource_names = Some(names.split(',').map(String::from).collect());
        r
    }

    fn pods(verb: &str) -> Attributes {
        Attributes::resource(verb, "", "pods").in_namespace("ns")
    }

    #[test]
    fn verbs_match_exactly_or_by_wildcard() {
        assert!(rule_allows(&rule("get,list", "", "pods"), &pods("list")));
        assert!(!rule_allows(&rule("get,list", "", "pods"), &pods("watch")));
        assert!(rule_allows(
            &rule("*", "", "pods"),
            &pods("deletecollection")
        ));
        // `list` does not imply `watch`, nor `delete` `deletecollection`.
        assert!(!rule_allows(
            &rule("delete", "", "pods"),
            &pods("deletecollection")
        ));
    }

    #[test]
    fn api_groups_match_exactly_or_by_wildcard() {
        let deploy = Attributes::resource("get", "apps", "deployments");
        assert!(rule_allows(&rule("get", "apps", "deployments"), &deploy));
        assert!(rule_allows(&rule("get", "*", "deployments"), &deploy));
        assert!(!rule_allows(
            &rule("get", "extensions", "deployments"),
            &deploy
        ));
        // The core group is the empty string, not a wildcard.
        assert!(!rule_allows(&rule("get", "", "deployments"), &deploy));
        let no_groups = PolicyRule {
            api_groups: None,
            ..rule("get", "", "pods")
        };
        // A rule with no apiGroups grants no resource.
        assert!(!rule_allows(
            &no_groups,
            &Attributes::resource("get", "", "pods")
        ));
    }

    #[test]
    fn resources_and_subresources() {
        let log = pods("get").named("p").subresource("log");
        assert!(rule_allows(&rule("get", "", "pods/log"), &log));
        assert!(rule_allows(&rule("get", "", "*/log"), &log));
        assert!(rule_allows(&rule("get", "", "*"), &log));
        // `pods` does not grant `pods/log`, nor `pods/log` the pod itself.
        assert!(!rule_allows(&rule("get", "", "pods"), &log));
        assert!(!rule_allows(
            &rule("get", "", "pods/log"),
            &pods("get").named("p")
        ));
        assert!(!rule_allows(&rule("get", "", "*/status"), &log));
        let ns_status = Attributes::resource("get", "", "namespaces")
            .named("a")
            .subresource("status");
        assert!(rule_allows(
            &rule("get", "", "namespaces/status"),
            &ns_status
        ));
        assert!(!rule_allows(&rule("get", "", "namespaces"), &ns_status));
    }

    #[test]
    fn resource_names_restrict_named_requests_only() {
        let r = named(rule("get,update,create,list", "", "configmaps"), "a,b");
        let cm = |verb: &str| Attributes::resource(verb, "", "configmaps").in_namespace("ns");
        assert!(rule_allows(&r, &cm("get").named("a")));
        assert!(!rule_allows(&r, &cm("get").named("c")));
        // Create and list carry no name: a rule with resourceNames cannot grant them.
        assert!(!rule_allows(&r, &cm("create")));
        assert!(!rule_allows(&r, &cm("list")));
        // A list or watch narrowed to one object by metadata.name carries its name.
        assert!(rule_allows(&r, &cm("list").named("b")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let healthz = Attributes::non_resource("get", "/healthz");
        assert!(rule_allows(&urls("get", "/healthz"), &healthz));
        assert!(!rule_allows(&urls("post", "/healthz"), &healthz));
        assert!(!rule_allows(&urls("get", "/healthz/x"), &healthz));
        let api = Attributes::non_resource("get", "/apis/apps/v1");
        assert!(rule_allows(&urls("get", "/apis/*"), &api));
        assert!(rule_allows(&urls("get", "*"), &api));
        assert!(!rule_allows(&urls("get", "/api/*"), &api));
        // Resource rules never grant paths, and URL rules never grant resources.
        assert!(!rule_allows(&rule("*", "*", "*"), &healthz));
        assert!(!rule_allows(&urls("*", "*"), &pods("get")));
    }

    #[test]
    fn any_rule_of_a_list_grants() {
        let rules = [rule("get", "", "secrets"), rule("list", "", "pods")];
        assert!(allows(&rules, &pods("list")));
        assert!(!allows(&rules, &pods("get")));
        assert!(!allows(&[], &pods("get")));
    }
}
