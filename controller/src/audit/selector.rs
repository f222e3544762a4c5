//! Label selectors as kube-apiserver reads them (`metav1.LabelSelector`): `matchLabels`
//! and `matchExpressions` are ANDed; the empty selector matches everything. Besides
//! matching a known label set, a selector can be asked about a pod whose labels are not
//! known (the audit reasons about namespaces, not about individual pods): it matches every
//! such pod, some of them, or none.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// Whether something holds: for every pod in question, for some of them, or for none.
/// Ordered `No < Maybe < Yes`, so that "both hold" is the minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tri {
    /// For none.
    No,
    /// For some but not necessarily all: it depends on labels the audit does not know.
    Maybe,
    /// For all.
    Yes,
}

impl Tri {
    /// Both hold.
    pub fn and(self, other: Tri) -> Tri {
        self.min(other)
    }

    /// `Yes` for true, `No` for false.
    pub fn from_bool(value: bool) -> Tri {
        if value { Tri::Yes } else { Tri::No }
    }
}

/// One requirement on one label key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Requirement {
    /// The label is present with one of these values (`matchLabels` entries are `In` one
    /// value).
    In(String, BTreeSet<String>),
    /// The label is absent, or present with none of these values.
    NotIn(String, BTreeSet<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

impl Requirement {
    /// The label key the requirement is about.
    pub fn key(&self) -> &str {
        match self {
            Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A validated label selector.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    /// Every requirement, sorted; all must hold. Empty: matches everything.
    requirements: Vec<Requirement>,
}

/// A selector the API server would have refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SelectorError {
    /// Field path inside the selector, e.g. `matchExpressions[0].operator`.
    pub path: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Selector {
    /// The selector that matches everything (`{}`).
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Reads a `LabelSelector`, refusing what kube-apiserver's validation refuses: an
    /// unknown operator, `In`/`NotIn` without values, `Exists`/`DoesNotExist` with values.
    pub fn from_k8s(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::In(
                key.clone(),
                BTreeSet::from([value.clone()]),
            ));
        }
        for (index, expression) in selector.match_expressions.iter().flatten().enumerate() {
            let values: BTreeSet<String> = expression.values.iter().flatten().cloned().collect();
            let key = expression.key.clone();
            let error = |field: &str, message: String| SelectorError {
                path: format!("matchExpressions[{index}].{field}"),
                message,
            };
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(error(
                        "values",
                        format!("operator {} needs at least one value", expression.operator),
                    ));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(error(
                        "values",
                        format!("operator {} takes no values", expression.operator),
                    ));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    return Err(error(
                        "operator",
                        format!(
                            "{other:?} is not an operator; use In, NotIn, Exists or DoesNotExist"
                        ),
                    ));
                }
            };
            requirements.push(requirement);
        }
        requirements.sort();
        requirements.dedup();
        Ok(Selector { requirements })
    }

    /// Whether the selector is `{}`, which matches every object.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector matches objects whose labels are not known: every one of them
    /// (`{}`), some (a label set exists that it matches), or none (it contradicts itself,
    /// e.g. `a In [x]` with `a In [y]`).
    pub fn matches_unknown(&self) -> Tri {
        if self.is_everything() {
            Tri::Yes
        } else if self.satisfiable() {
            Tri::Maybe
        } else {
            Tri::No
        }
    }

    /// Whether some label set satisfies every requirement. Requirements on different keys
    /// are independent, so each key is checked alone: the values it may take must not be
    /// empty, and it must not be required both present and absent.
    fn satisfiable(&self) -> bool {
        let mut keys: BTreeMap<&str, Vec<&Requirement>> = BTreeMap::new();
        for requirement in &self.requirements {
            keys.entry(requirement.key()).or_default().push(requirement);
        }
        keys.values().all(|requirements| {
            let must_exist = requirements
                .iter()
                .any(|r| matches!(r, Requirement::In(..) | Requirement::Exists(_)));
            let must_be_absent = requirements
                .iter()
                .any(|r| matches!(r, Requirement::DoesNotExist(_)));
            if !must_exist {
                // Absent satisfies NotIn and DoesNotExist.
                return true;
            }
            if must_be_absent {
                return false;
            }
            // Present: the value must lie in every In set and outside every NotIn set.
            // Without an In, some fresh value satisfies every NotIn.
            let mut allowed: Option<BTreeSet<&String>> = None;
            for requirement in requirements {
                if let Requirement::In(_, values) = requirement {
                    allowed = Some(match allowed {
                        None => values.iter().collect(),
                        Some(set) => set.into_iter().filter(|v| values.contains(*v)).collect(),
                    });
                }
            }
            let Some(allowed) = allowed else { return true };
            allowed.iter().any(|value| {
                requirements.iter().all(|r| match r {
                    Requirement::NotIn(_, excluded) => !excluded.contains(*value),
                    _ => true,
                })
            })
        })
    }
}

impl std::fmt::Display for Selector {
    /// kubectl's selector syntax: `a=b,c in (d,e),!f`; `{}` for the empty selector.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("{}");
        }
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::In(k, values) if values.len() == 1 => {
                    format!("{k}={}", values.iter().next().map_or("", String::as_str))
                }
                Requirement::In(k, values) => format!("{k} in ({})", join(values)),
                Requirement::NotIn(k, values) => format!("{k} notin ({})", join(values)),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn join(values: &BTreeSet<String>) -> String {
    values
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    /// Labels from pairs (also used by the other test modules of the audit).
    pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: (!values.is_empty()).then(|| {
                values
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect()
            }),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        expressions: Vec<LabelSelectorRequirement>,
    ) -> Selector {
        Selector::from_k8s(&LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!expressions.is_empty()).then_some(expressions),
        })
        .expect("valid selector")
    }

    #[test]
    fn the_empty_selector_matches_everything() {
        let s = selector(&[], vec![]);
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("role", "db")])));
        assert_eq!(s.matches_unknown(), Tri::Yes);
        assert_eq!(s.to_string(), "{}");
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let s = selector(&[("role", "db"), ("tier", "backend")], vec![]);
        assert!(s.matches(&labels(&[("role", "db"), ("tier", "backend"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("role", "db")])));
        assert!(!s.matches(&labels(&[("role", "frontend"), ("tier", "backend")])));
        assert_eq!(s.matches_unknown(), Tri::Maybe);
    }

    #[test]
    fn each_operator_with_a_match_and_a_miss() {
        let cases = [
            (
                "In",
                vec!["prod", "test"],
                labels(&[("env", "test")]),
                labels(&[("env", "dev")]),
            ),
            (
                "NotIn",
                vec!["prod"],
                labels(&[]),
                labels(&[("env", "prod")]),
            ),
            ("Exists", vec![], labels(&[("env", "")]), labels(&[])),
            (
                "DoesNotExist",
                vec![],
                labels(&[("other", "x")]),
                labels(&[("env", "prod")]),
            ),
        ];
        for (operator, values, matching, missing) in cases {
            let s = selector(&[], vec![expression("env", operator, &values)]);
            assert!(s.matches(&matching), "{operator} should match {matching:?}");
            assert!(
                !s.matches(&missing),
                "{operator} should not match {missing:?}"
            );
        }
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = selector(&[("app", "web")], vec![expression("env", "In", &["prod"])]);
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "test")])));
        assert_eq!(s.to_string(), "app=web,env=prod");
    }

    #[test]
    fn contradictions_match_no_unknown_pod() {
        let contradictory = [
            selector(&[("a", "x")], vec![expression("a", "In", &["y"])]),
            selector(
                &[],
                vec![
                    expression("a", "Exists", &[]),
                    expression("a", "DoesNotExist", &[]),
                ],
            ),
            selector(&[("a", "x")], vec![expression("a", "NotIn", &["x"])]),
        ];
        for s in contradictory {
            assert_eq!(s.matches_unknown(), Tri::No, "{s}");
        }
        let satisfiable = [
            selector(
                &[],
                vec![
                    expression("a", "NotIn", &["x"]),
                    expression("a", "DoesNotExist", &[]),
                ],
            ),
            selector(
                &[],
                vec![
                    expression("a", "In", &["x", "y"]),
                    expression("a", "NotIn", &["x"]),
                ],
            ),
            selector(
                &[],
                vec![
                    expression("a", "Exists", &[]),
                    expression("a", "NotIn", &["x"]),
                ],
            ),
        ];
        for s in satisfiable {
            assert_eq!(s.matches_unknown(), Tri::Maybe, "{s}");
        }
    }

    #[test]
    fn invalid_selectors_are_refused_with_the_field() {
        let refused = |e: LabelSelectorRequirement| {
            Selector::from_k8s(&LabelSelector {
                match_expressions: Some(vec![e]),
                ..LabelSelector::default()
            })
            .expect_err("invalid")
        };
        assert_eq!(
            refused(expression("a", "Equals", &["x"])).path,
            "matchExpressions[0].operator"
        );
        assert_eq!(
            refused(expression("a", "In", &[])).path,
            "matchExpressions[0].values"
        );
        assert_eq!(
            refused(expression("a", "Exists", &["x"])).path,
            "matchExpressions[0].values"
        );
    }
}
