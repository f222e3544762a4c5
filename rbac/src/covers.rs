//! The escalation check's comparison: whether the rules a user holds cover the
//! rules they try to grant (`pkg/registry/rbac/validation/policy_comparator.go`
//! `Covers`, `BreakdownRule`, `ruleCovers`), and the refusal text
//! (`rule.go` `ConfirmNoEscalation`, `CompactRules`, `rbacv1helpers.CompactString`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::ALL;

fn strings(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

fn one(s: &str) -> Option<Vec<String>> {
    Some(vec![s.to_string()])
}

/// Splits a rule into rules of one group, resource, verb and (if any) name, and
/// one URL with one verb: each is then covered by a single owner rule or not at all.
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for group in strings(&rule.api_groups) {
        for resource in strings(&rule.resources) {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: vec![verb.clone()],
                    ..Default::default()
                };
                let names = strings(&rule.resource_names);
                if names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in strings(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: one(url),
                verbs: vec![verb.clone()],
                ..Default::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| set.contains(w))
}

/// `*` covers everything, `*/status` covers every `R/status`.
fn resources_cover(owner: &[String], wanted: &[String]) -> bool {
    if owner.iter().any(|r| r == ALL) {
        return true;
    }
    wanted.iter().all(|w| {
        owner.contains(w)
            || w.split_once('/')
                .is_some_and(|(_, sub)| owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)))
    })
}

fn url_covers(owner: &str, wanted: &str) -> bool {
    owner == wanted || (owner.ends_with('*') && wanted.starts_with(owner.trim_end_matches('*')))
}

/// Whether one owner rule covers a broken-down rule.
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = owner.verbs.iter().any(|v| v == ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups = strings(&owner.api_groups).iter().any(|g| g == ALL)
        || has_all(strings(&owner.api_groups), strings(&sub.api_groups));
    let resources = resources_cover(strings(&owner.resources), strings(&sub.resources));
    let urls = strings(&sub.non_resource_urls).iter().all(|w| {
        strings(&owner.non_resource_urls)
            .iter()
            .any(|o| url_covers(o, w))
    });
    // An owner rule limited to names covers only requests for those names.
    let (owner_names, sub_names) = (strings(&owner.resource_names), strings(&sub.resource_names));
    let names =
        owner_names.is_empty() || (!sub_names.is_empty() && has_all(owner_names, sub_names));
    verbs && groups && resources && urls && names
}

/// Whether `owner` rules cover every permission of `wanted`; `Err` holds the
/// uncovered permissions, one group/resource/verb/name (or URL/verb) each.
pub fn covers(owner: &[PolicyRule], wanted: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let missing: Vec<PolicyRule> = wanted
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// Merges rules of one group, one resource and at most one name that differ only
/// by verb (`CompactRules`), so that a refusal lists `Verbs:["get" "list"]` once.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let mut simple: BTreeMap<(String, String, Option<String>), PolicyRule> = BTreeMap::new();
    for r in rules {
        let groups = strings(&r.api_groups);
        let resources = strings(&r.resources);
        let names = strings(&r.resource_names);
        if groups.len() == 1
            && resources.len() == 1
            && names.len() <= 1
            && r.non_resource_urls.is_none()
        {
            let key = (
                groups[0].clone(),
                resources[0].clone(),
                names.first().cloned(),
            );
            match simple.get_mut(&key) {
                Some(existing) => existing.verbs.extend(r.verbs),
                None => {
                    simple.insert(key, r);
                }
            }
        } else {
            out.push(r);
        }
    }
    out.extend(simple.into_values());
    out
}

/// Go's `%q` of a string list: `["a" "b"]`.
fn quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// A rule in one line, as `rbacv1helpers.CompactString` prints it:
/// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (label, list) in [
        ("APIGroups", strings(&rule.api_groups)),
        ("Resources", strings(&rule.resources)),
        ("NonResourceURLs", strings(&rule.non_resource_urls)),
        ("ResourceNames", strings(&rule.resource_names)),
        ("Verbs", rule.verbs.as_slice()),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}:{}", quoted(list)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// The refusal of a grant beyond the user's own permissions
/// (`ConfirmNoEscalation`): `user "x" (groups=["a" "b"]) is attempting to grant
/// RBAC permissions not currently held:` then one sorted line per missing
/// permission, then `; resolution errors: [...]` when some binding of the user
/// could not be resolved.
pub fn escalation_message(
    user: &str,
    groups: &[String],
    missing: Vec<PolicyRule>,
    resolution_errors: &[String],
) -> String {
    let lines: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    let mut msg = format!(
        "user {user:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        quoted(groups),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !resolution_errors.is_empty() {
        msg.push_str(&format!(
            "; resolution errors: [{}]",
            resolution_errors.join(", ")
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::tests::{named, rule, urls};

    #[test]
    fn same_or_wider_rules_cover() {
        let owner = [rule("get,list,watch", "", "pods,secrets")];
        assert_eq!(covers(&owner, &[rule("get,list", "", "pods")]), Ok(()));
        let missing = covers(&owner, &[rule("get,delete", "", "pods")]).unwrap_err();
        assert_eq!(missing, vec![rule("delete", "", "pods")]);
    }

    #[test]
    fn verb_and_group_wildcards_cover() {
        assert_eq!(
            covers(
                &[rule("*", "*", "*")],
                &[rule("escalate", "rbac.authorization.k8s.io", "roles")]
            ),
            Ok(())
        );
        assert!(covers(&[rule("*", "apps", "*")], &[rule("get", "batch", "jobs")]).is_err());
    }

    #[test]
    fn subresource_wildcards_cover_only_their_subresource() {
        let owner = [rule("get", "", "*/status")];
        assert_eq!(covers(&owner, &[rule("get", "", "pods/status")]), Ok(()));
        assert!(covers(&owner, &[rule("get", "", "pods")]).is_err());
        assert!(covers(&[rule("get", "", "pods")], &[rule("get", "", "pods/log")]).is_err());
    }

    #[test]
    fn resource_names_narrow_what_is_covered() {
        let owner = [named(rule("get", "", "secrets"), "a")];
        assert_eq!(
            covers(&owner, &[named(rule("get", "", "secrets"), "a")]),
            Ok(())
        );
        assert!(covers(&owner, &[named(rule("get", "", "secrets"), "b")]).is_err());
        // A rule for every name is not covered by a rule for some names.
        assert!(covers(&owner, &[rule("get", "", "secrets")]).is_err());
        assert_eq!(
            covers(
                &[rule("get", "", "secrets")],
                &[named(rule("get", "", "secrets"), "b")]
            ),
            Ok(())
        );
    }

    #[test]
    fn non_resource_urls_cover_by_prefix() {
        let owner = [urls("get", "/apis/*")];
        assert_eq!(covers(&owner, &[urls("get", "/apis/apps")]), Ok(()));
        assert!(covers(&owner, &[urls("get", "/healthz")]).is_err());
        assert!(covers(&owner, &[urls("post", "/apis/apps")]).is_err());
        // Resource rules never cover URLs.
        assert!(covers(&[rule("*", "*", "*")], &[urls("get", "/healthz")]).is_err());
    }

    #[test]
    fn the_refusal_lists_missing_permissions_compacted_and_sorted() {
        let missing = covers(
            &[],
            &[
                rule("get,list", "apps", "deployments"),
                rule("create", "", "pods"),
            ],
        )
        .unwrap_err();
        let msg = escalation_message(
            "bob",
            &["g1".into(), "system:authenticated".into()],
            missing,
            &[],
        );
        assert_eq!(
            msg,
            "user \"bob\" (groups=[\"g1\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"create\"]}\n\
             {APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"get\" \"list\"]}"
        );
        assert_eq!(
            compact_string(&named(rule("get", "", "secrets"), "a")),
            "{APIGroups:[\"\"], Resources:[\"secrets\"], ResourceNames:[\"a\"], Verbs:[\"get\"]}"
        );
        assert_eq!(
            compact_string(&urls("get", "/healthz")),
            "{NonResourceURLs:[\"/healthz\"], Verbs:[\"get\"]}"
        );
    }
}
