//! ClusterRole aggregation, as kube-controller-manager's `clusterrole-aggregation`
//! controller does it (`pkg/controller/clusterroleaggregation`): the rules of an
//! aggregated ClusterRole are the union of the rules of every other ClusterRole
//! matched by one of its `clusterRoleSelectors`.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};

use crate::selector::selector_matches;

/// The rules `role` should hold, or None when it has no `aggregationRule`.
/// Selectors are taken in order; within one, matching roles by name; each rule
/// appears once, in the order first seen (as upstream, so that the result is
/// stable and an unchanged set causes no write).
pub fn aggregate(role: &ClusterRole, all: &[ClusterRole]) -> Option<Vec<PolicyRule>> {
    let selectors = role
        .aggregation_rule
        .as_ref()?
        .cluster_role_selectors
        .as_deref()
        .unwrap_or(&[]);
    let own_name = role.metadata.name.as_deref().unwrap_or("");
    let mut by_name: Vec<&ClusterRole> = all
        .iter()
        .filter(|r| r.metadata.name.as_deref().unwrap_or("") != own_name)
        .collect();
    by_name.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    let empty = Default::default();
    for selector in selectors {
        for r in &by_name {
            let labels = r.metadata.labels.as_ref().unwrap_or(&empty);
            if !selector_matches(selector, labels) {
                continue;
            }
            for rule in r.rules.iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    Some(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::tests::rule;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn role(name: &str, label: Option<&str>, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: label.map(|l| [(l.to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            rules: Some(rules),
            ..Default::default()
        }
    }

    fn aggregated(name: &str, label: &str) -> ClusterRole {
        ClusterRole {
            aggregation_rule: Some(AggregationRule {
                cluster_role_selectors: Some(vec![LabelSelector {
                    match_labels: Some([(label.to_string(), "true".to_string())].into()),
                    ..Default::default()
                }]),
            }),
            ..role(name, None, vec![])
        }
    }

    #[test]
    fn gathers_the_rules_of_matching_roles_once_each() {
        let target = aggregated("monitoring", "aggregate-to-monitoring");
        let all = vec![
            role(
                "b",
                Some("aggregate-to-monitoring"),
                vec![rule("get", "", "pods"), rule("list", "", "pods")],
            ),
            role(
                "a",
                Some("aggregate-to-monitoring"),
                vec![rule("get", "", "pods")],
            ),
            role(
                "other",
                Some("aggregate-to-view"),
                vec![rule("get", "", "secrets")],
            ),
            target.clone(),
        ];
        assert_eq!(
            aggregate(&target, &all),
            Some(vec![rule("get", "", "pods"), rule("list", "", "pods")])
        );
        assert_eq!(aggregate(&all[0], &all), None);
    }

    #[test]
    fn a_role_without_matches_aggregates_to_nothing() {
        let target = aggregated("monitoring", "aggregate-to-monitoring");
        let all = vec![role(
            "x",
            Some("aggregate-to-view"),
            vec![rule("get", "", "pods")],
        )];
        assert_eq!(aggregate(&target, &all), Some(vec![]));
    }
}
