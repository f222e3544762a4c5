//! What a change adds or removes: two reports compared, for a pull-request review
//! (`audit --compare BASE_DIR`). Only differences are kept: traffic that starts or stops
//! passing or changes ports, rights granted or taken away, checks that start or stop
//! failing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::report::{CheckResult, Outcome, Reach, Report};

/// The differences between a base report and the report after a change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Endpoint pairs whose traffic changed, sorted by `from` then `to`.
    pub reachability: Vec<ReachChange>,
    /// Rights that changed, sorted by subject, namespace and resource.
    pub access: Vec<AccessChange>,
    /// Checks whose outcome changed (or that appear or disappear), failures first.
    pub checks: Vec<CheckChange>,
}

/// Traffic between two endpoints, before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReachChange {
    /// Where traffic starts.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// Ports allowed before; `None` when blocked (or the endpoints did not exist).
    pub before: Option<Vec<String>>,
    /// Ports allowed after; `None` when blocked (or the endpoints no longer exist).
    pub after: Option<Vec<String>>,
    /// The deciding policies after the change (before, when it is gone).
    pub policies: Vec<String>,
}

/// Verbs on one resource for one subject in one namespace, gained or lost.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessChange {
    /// The subject (see [`super::report::Access::subject`]).
    pub subject: String,
    /// The namespace, or `*`.
    pub namespace: String,
    /// The resource.
    pub resource: String,
    /// Verbs the change grants.
    pub added: Vec<String>,
    /// Verbs the change takes away.
    pub removed: Vec<String>,
}

/// A check whose outcome changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckChange {
    /// Outcome before; `None` when the check did not run (e.g. a new namespace).
    pub before: Option<Outcome>,
    /// The check after the change (or before, when it no longer runs, with `after` unset).
    pub check: CheckResult,
    /// Outcome after; `None` when the check no longer runs.
    pub after: Option<Outcome>,
}

impl Comparison {
    /// Whether the change makes a check fail that did not fail before.
    pub fn adds_failures(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.after == Some(Outcome::Fail) && c.before != Some(Outcome::Fail))
    }

    /// Whether the change makes no difference to isolation.
    pub fn is_empty(&self) -> bool {
        self.reachability.is_empty() && self.access.is_empty() && self.checks.is_empty()
    }
}

/// Compares `base` with `head`, the report after a change.
pub fn compare(base: &Report, head: &Report) -> Comparison {
    Comparison {
        reachability: reachability(&base.reachability, &head.reachability),
        access: access(base, head),
        checks: checks(&base.checks, &head.checks),
    }
}

fn reachability(base: &[Reach], head: &[Reach]) -> Vec<ReachChange> {
    let index = |entries: &[Reach]| -> BTreeMap<(String, String), Reach> {
        entries
            .iter()
            .map(|r| ((r.from.clone(), r.to.clone()), r.clone()))
            .collect()
    };
    let (before, after) = (index(base), index(head));
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let ports = |r: Option<&Reach>| r.filter(|r| r.allowed).map(|r| r.ports.clone());
    keys.into_iter()
        .filter_map(|key| {
            let (b, a) = (before.get(key), after.get(key));
            let (was, is) = (ports(b), ports(a));
            (was != is).then(|| ReachChange {
                from: key.0.clone(),
                to: key.1.clone(),
                before: was,
                after: is,
                policies: a.or(b).map(|r| r.policies.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

fn access(base: &Report, head: &Report) -> Vec<AccessChange> {
    type Rights = BTreeMap<(String, String, String), BTreeSet<String>>;
    let rights = |report: &Report| -> Rights {
        let mut rights = Rights::new();
        for a in &report.access {
            for (resource, verbs) in &a.verbs {
                rights
                    .entry((a.subject.clone(), a.namespace.clone(), resource.clone()))
                    .or_default()
                    .extend(verbs.iter().cloned());
            }
        }
        rights
    };
    let (before, after) = (rights(base), rights(head));
    let empty = BTreeSet::new();
    let keys: BTreeSet<&(String, String, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (b, a) = (
                before.get(key).unwrap_or(&empty),
                after.get(key).unwrap_or(&empty),
            );
            let added: Vec<String> = a.difference(b).cloned().collect();
            let removed: Vec<String> = b.difference(a).cloned().collect();
            (!added.is_empty() || !removed.is_empty()).then(|| AccessChange {
                subject: key.0.clone(),
                namespace: key.1.clone(),
                resource: key.2.clone(),
                added,
                removed,
            })
        })
        .collect()
}

fn checks(base: &[CheckResult], head: &[CheckResult]) -> Vec<CheckChange> {
    type Key = (String, String, Option<String>);
    let index = |checks: &[CheckResult]| -> BTreeMap<Key, CheckResult> {
        checks
            .iter()
            .map(|c| {
                (
                    (c.id.clone(), c.title.clone(), c.namespace.clone()),
                    c.clone(),
                )
            })
            .collect()
    };
    let (before, after) = (index(base), index(head));
    let keys: BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    let mut changes: Vec<CheckChange> = keys
        .into_iter()
        .filter_map(|key| {
            let (b, a) = (before.get(key), after.get(key));
            let (was, is) = (b.map(|c| c.result), a.map(|c| c.result));
            // A new namespace whose checks pass is not news; a new failure is.
            let interesting = was != is && (was.is_some() || is == Some(Outcome::Fail));
            interesting.then(|| CheckChange {
                before: was,
                check: a.or(b).cloned().unwrap_or_else(|| unreachable_check(key)),
                after: is,
            })
        })
        .collect();
    changes.sort_by_key(|c| {
        (
            c.after != Some(Outcome::Fail),
            c.check.id.clone(),
            c.check.namespace.clone(),
        )
    });
    changes
}

/// A key comes from one of the two maps, so one side always has the check; this only
/// keeps the code free of a panic path.
fn unreachable_check(key: &(String, String, Option<String>)) -> CheckResult {
    CheckResult {
        id: key.0.clone(),
        title: key.1.clone(),
        namespace: key.2.clone(),
        result: Outcome::NotApplicable,
        evidence: Vec::new(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::Access;

    fn reach(from: &str, to: &str, ports: &[&str]) -> Reach {
        Reach {
            from: from.into(),
            to: to.into(),
            allowed: !ports.is_empty(),
            ports: ports.iter().map(std::string::ToString::to_string).collect(),
            unconditional_ports: None,
            policies: vec!["a/p".into()],
        }
    }

    fn check(namespace: &str, result: Outcome) -> CheckResult {
        CheckResult {
            id: "TENANCY-NET-1".into(),
            title: "t".into(),
            namespace: Some(namespace.into()),
            result,
            evidence: vec![],
            source: None,
        }
    }

    #[test]
    fn only_what_changes_is_reported() {
        let base = Report {
            reachability: vec![
                reach("a", "b", &[]),
                reach("a", "dns", &["UDP/53"]),
                reach("c", "d", &["*"]),
            ],
            access: vec![Access {
                subject: "Group:g".into(),
                namespace: "a".into(),
                verbs: BTreeMap::from([("pods".into(), vec!["get".into()])]),
                flags: vec![],
                bindings: vec![],
            }],
            checks: vec![check("a", Outcome::Pass), check("c", Outcome::Fail)],
            ..Report::default()
        };
        let head = Report {
            reachability: vec![reach("a", "b", &["TCP/80"]), reach("a", "dns", &["UDP/53"])],
            access: vec![Access {
                subject: "Group:g".into(),
                namespace: "a".into(),
                verbs: BTreeMap::from([("pods".into(), vec!["get".into(), "delete".into()])]),
                flags: vec![],
                bindings: vec![],
            }],
            checks: vec![
                check("a", Outcome::Fail),
                check("c", Outcome::Pass),
                check("new", Outcome::Pass),
            ],
            ..Report::default()
        };
        let diff = compare(&base, &head);
        let pairs: Vec<String> = diff
            .reachability
            .iter()
            .map(|r| format!("{} -> {}: {:?} => {:?}", r.from, r.to, r.before, r.after))
            .collect();
        assert_eq!(
            pairs,
            [
                r#"a -> b: None => Some(["TCP/80"])"#,
                r#"c -> d: Some(["*"]) => None"#,
            ]
        );
        assert_eq!(diff.access.len(), 1);
        assert_eq!(diff.access[0].added, ["delete"]);
        let checks: Vec<(Option<&str>, Option<Outcome>, Option<Outcome>)> = diff
            .checks
            .iter()
            .map(|c| (c.check.namespace.as_deref(), c.before, c.after))
            .collect();
        assert_eq!(
            checks,
            [
                (Some("a"), Some(Outcome::Pass), Some(Outcome::Fail)),
                (Some("c"), Some(Outcome::Fail), Some(Outcome::Pass)),
            ],
            "a new namespace whose checks pass is not listed"
        );
        assert!(diff.adds_failures());
        assert!(compare(&head, &head).is_empty());
    }
}
