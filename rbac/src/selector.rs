//! Label selector matching (`metav1.LabelSelectorAsSelector`), for the
//! `clusterRoleSelectors` of aggregated ClusterRoles.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` match `selector`: every `matchLabels` pair and every
/// `matchExpressions` requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`). An
/// empty selector matches everything; an unknown operator matches nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    pairs && expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_need_every_pair() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("a", "1"), ("b", "2")])),
            ..Default::default()
        };
        assert!(selector_matches(
            &sel,
            &labels(&[("a", "1"), ("b", "2"), ("c", "3")])
        ));
        assert!(!selector_matches(&sel, &labels(&[("a", "1")])));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn expressions_follow_their_operator() {
        let expr = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: op.into(),
                values: Some(
                    values
                        .iter()
                        .map(std::string::ToString::to_string)
                        .collect(),
                ),
            }]),
            ..Default::default()
        };
        let web = labels(&[("tier", "web")]);
        let none = labels(&[]);
        assert!(selector_matches(&expr("In", &["web", "db"]), &web));
        assert!(!selector_matches(&expr("In", &["db"]), &web));
        assert!(!selector_matches(&expr("In", &["web"]), &none));
        assert!(selector_matches(&expr("NotIn", &["db"]), &web));
        assert!(selector_matches(&expr("NotIn", &["db"]), &none));
        assert!(!selector_matches(&expr("NotIn", &["web"]), &web));
        assert!(selector_matches(&expr("Exists", &[]), &web));
        assert!(!selector_matches(&expr("Exists", &[]), &none));
        assert!(selector_matches(&expr("DoesNotExist", &[]), &none));
        assert!(!selector_matches(&expr("DoesNotExist", &[]), &web));
        assert!(!selector_matches(&expr("Bogus", &[]), &web));
    }
}
