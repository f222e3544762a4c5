//! Which namespaces a namespace selector picks, without testing every selector against
//! every namespace. Namespaces with identical labels are grouped (a selector sees only
//! labels, so it picks a whole group or none of it), and an inverted index from label to
//! groups narrows each selector to the groups that carry the label its most selective
//! requirement needs. Results are cached per selector: the policies of thousands of tenant
//! namespaces share a handful of distinct namespace selectors (the ingress gateway, the
//! monitoring stack, the DNS namespace), so each is resolved once.

use std::collections::HashMap;
use std::rc::Rc;

use super::selector::{Labels, Requirement, Selector};

/// Namespaces grouped by label set, with an inverted index.
pub struct NamespaceIndex {
    /// Each distinct label set and the namespaces (by index) that carry it.
    groups: Vec<(Labels, Vec<usize>)>,
    /// Groups carrying each `key=value`.
    by_label: HashMap<(String, String), Vec<usize>>,
    /// Groups carrying each key.
    by_key: HashMap<String, Vec<usize>>,
    /// Namespaces each selector picked, sorted.
    cache: HashMap<Selector, Rc<Vec<usize>>>,
}

impl NamespaceIndex {
    /// Indexes namespaces given by their labels (the position in the iterator is the
    /// namespace's index).
    pub fn new<'a>(namespaces: impl IntoIterator<Item = &'a Labels>) -> NamespaceIndex {
        let mut group_of: HashMap<&Labels, usize> = HashMap::new();
        let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
        for (index, labels) in namespaces.into_iter().enumerate() {
            let group = *group_of.entry(labels).or_insert_with(|| {
                groups.push((labels.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[group].1.push(index);
        }
        let mut by_label: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (group, (labels, _)) in groups.iter().enumerate() {
            for (key, value) in labels {
                by_label
                    .entry((key.clone(), value.clone()))
                    .or_default()
                    .push(group);
                by_key.entry(key.clone()).or_default().push(group);
            }
        }
        NamespaceIndex {
            groups,
            by_label,
            by_key,
            cache: HashMap::new(),
        }
    }

    /// Number of distinct label sets.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The namespaces `selector` picks, sorted by index.
    pub fn select(&mut self, selector: &Selector) -> Rc<Vec<usize>> {
        if let Some(hit) = self.cache.get(selector) {
            return Rc::clone(hit);
        }
        let candidates = self.candidate_groups(selector);
        let mut namespaces: Vec<usize> = candidates
            .into_iter()
            .filter(|&g| selector.matches(&self.groups[g].0))
            .flat_map(|g| self.groups[g].1.iter().copied())
            .collect();
        namespaces.sort_unstable();
        let result = Rc::new(namespaces);
        self.cache.insert(selector.clone(), Rc::clone(&result));
        result
    }

    /// Groups that can match: those carrying a label that a positive requirement needs
    /// (the requirement with the fewest such groups), else every group.
    fn candidate_groups(&self, selector: &Selector) -> Vec<usize> {
        let empty = Vec::new();
        let mut best: Option<Vec<usize>> = None;
        for requirement in selector.requirements() {
            let groups: Vec<usize> = match requirement {
                Requirement::In(key, values) => {
                    let mut groups: Vec<usize> = values
                        .iter()
                        .flat_map(|v| {
                            self.by_label
                                .get(&(key.clone(), v.clone()))
                                .unwrap_or(&empty)
                                .iter()
                                .copied()
                        })
                        .collect();
                    groups.sort_unstable();
                    groups.dedup();
                    groups
                }
                Requirement::Exists(key) => self.by_key.get(key).unwrap_or(&empty).clone(),
                Requirement::NotIn(..) | Requirement::DoesNotExist(_) => continue,
            };
            if best.as_ref().is_none_or(|b| groups.len() < b.len()) {
                best = Some(groups);
            }
        }
        best.unwrap_or_else(|| (0..self.groups.len()).collect())
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::*;
    use crate::audit::selector::tests::labels;

    fn selector(match_labels: &[(&str, &str)], expressions: &[(&str, &str, &[&str])]) -> Selector {
        Selector::from_k8s(&LabelSelector {
            match_labels: Some(labels(match_labels)),
            match_expressions: Some(
                expressions
                    .iter()
                    .map(|(k, op, values)| LabelSelectorRequirement {
                        key: k.to_string(),
                        operator: op.to_string(),
                        values: (!values.is_empty()).then(|| {
                            values
                                .iter()
                                .map(std::string::ToString::to_string)
                                .collect()
                        }),
                    })
                    .collect(),
            ),
        })
        .expect("valid")
    }

    #[test]
    fn the_index_picks_what_testing_every_namespace_picks() {
        let namespaces = [
            labels(&[("tenant", "a"), ("env", "prod")]),
            labels(&[("tenant", "a"), ("env", "test")]),
            labels(&[("tenant", "b"), ("env", "prod")]),
            labels(&[("tenant", "b"), ("env", "prod")]),
            labels(&[("platform", "dns")]),
        ];
        let mut index = NamespaceIndex::new(namespaces.iter());
        assert_eq!(index.groups(), 4, "identical label sets share a group");
        let selectors = [
            selector(&[], &[]),
            selector(&[("tenant", "a")], &[]),
            selector(&[("env", "prod")], &[("tenant", "NotIn", &["a"])]),
            selector(&[], &[("env", "Exists", &[])]),
            selector(&[], &[("env", "DoesNotExist", &[])]),
            selector(
                &[],
                &[("tenant", "In", &["a", "b"]), ("env", "In", &["test"])],
            ),
            selector(&[("tenant", "c")], &[]),
        ];
        for s in &selectors {
            let expected: Vec<usize> = (0..namespaces.len())
                .filter(|&i| s.matches(&namespaces[i]))
                .collect();
            assert_eq!(*index.select(s), expected, "{s}");
            assert_eq!(*index.select(s), expected, "{s} from the cache");
        }
    }
}
