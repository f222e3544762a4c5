//! Rules of a set of tenants and classes checked together, as `tenant-operator validate`,
//! `tenant-operator render` and the benchmarks check a directory of manifests: each class
//! on its own, each tenant with its class, and each tenant against the tenants it could
//! clash with. (The controller checks one tenant at a time, against the peers its caches
//! relate to it: see `reconcile::validate`.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::ResourceExt;

use super::{
    Problem, Rule, Severity, Trusted, claim_keys, validate_against_peers, validate_class,
    validate_tenant, validate_trusted,
};
use crate::api::{TenantClass, TenantService};

/// The problems of a set, by position in the slices given to [`validate_set`], so that
/// each can be reported where its object came from (two manifests may name one object).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetProblems {
    /// The problems of each class.
    pub classes: Vec<Vec<Problem>>,
    /// The problems of each tenant.
    pub tenants: Vec<Vec<Problem>>,
}

impl SetProblems {
    /// Every problem, classes first, in input order.
    pub fn into_all(self) -> Vec<Problem> {
        self.classes
            .into_iter()
            .chain(self.tenants)
            .flatten()
            .collect()
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.classes
            .iter()
            .chain(&self.tenants)
            .flatten()
            .any(Problem::is_error)
    }
}

/// Every problem of the set: each class on its own, and as a second class of the same name;
/// each tenant with its class (the last class of that name, so that a class given later
/// replaces an earlier one), with the trusted policy (reserved namespaces, delegated
/// domains; see [`validate_trusted`]) and with the tenants sharing one of its claims (same
/// name, namespace or DNS name; see [`claim_keys`]). Related tenants are found through an
/// index, so a set of every Comune of Italy is checked in linear time.
pub fn validate_set(
    tenants: &[TenantService],
    classes: &[TenantClass],
    trusted: &Trusted,
) -> SetProblems {
    let mut by_name: BTreeMap<String, &TenantClass> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let class_problems = classes
        .iter()
        .map(|class| {
            let name = class.name_any();
            let mut problems = Vec::new();
            if !seen.insert(name.clone()) {
                problems.push(Problem {
                    object: name.clone(),
                    path: "metadata.name".to_string(),
                    message: format!(
                        "another TenantClass is also named {name:?}; class names are unique: merge the two or rename one"
                    ),
                    severity: Severity::Error,
                    rule: Rule::ClassDuplicate,
                });
            }
            problems.extend(validate_class(class));
            by_name.insert(name, class);
            problems
        })
        .collect();
    let related = clash_candidates(tenants);
    let tenant_problems = tenants
        .iter()
        .enumerate()
        .map(|(index, tenant)| {
            let class = by_name.get(tenant.spec.class.as_str()).copied();
            let mut problems = validate_tenant(tenant, class);
            problems.extend(validate_trusted(
                tenant,
                &trusted.reserved,
                trusted.delegations.domains_of(&tenant.spec.entity.ipa_code),
            ));
            if let Some(others) = related.get(&index) {
                let peers: Vec<TenantService> =
                    others.iter().map(|&i| tenants[i].clone()).collect();
                problems.extend(validate_against_peers(tenant, &peers));
            }
            problems
        })
        .collect();
    SetProblems {
        classes: class_problems,
        tenants: tenant_problems,
    }
}

/// For each tenant (by index), the other tenants that share one of its claims: the only
/// ones [`validate_against_peers`] can object to.
fn clash_candidates(tenants: &[TenantService]) -> HashMap<usize, BTreeSet<usize>> {
    let mut holders: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, tenant) in tenants.iter().enumerate() {
        for key in claim_keys(tenant) {
            let list = holders.entry(key).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
    }
    let mut related: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for list in holders.values().filter(|list| list.len() > 1) {
        for &a in list {
            related
                .entry(a)
                .or_default()
                .extend(list.iter().copied().filter(|&b| b != a));
        }
    }
    related
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{class_with, default_class, named_tenant, trusted};

    fn errors(problems: &[Problem]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| (p.object.as_str(), p.path.as_str()))
            .collect()
    }

    #[test]
    fn a_valid_set_has_no_problem() {
        let tenants = [
            named_tenant("comune-molfetta", json!({})),
            named_tenant(
                "comune-bari",
                json!({"entity": {"displayName": "Comune di Bari", "istatCode": "072006", "ipaCode": "c_a662"},
                       "tls": {"hostnames": ["www.comune.bari.it"]}}),
            ),
        ];
        let problems = validate_set(&tenants, &[default_class("standard")], &trusted());
        assert_eq!(problems.tenants.len(), 2);
        assert!(!problems.has_errors(), "{problems:?}");
    }

    #[test]
    fn clashes_are_reported_on_both_sides() {
        // `comune-a` + `b-prod` and `comune-a-b` + `prod` both make `comune-a-b-prod`,
        // and both list the same hostname.
        let tenants = [
            named_tenant(
                "comune-a",
                json!({"environments": [{"name": "b-prod"}], "tls": {"hostnames": ["www.comune.molfetta.ba.it"]}}),
            ),
            named_tenant(
                "comune-a-b",
                json!({"environments": [{"name": "prod"}], "tls": {"hostnames": ["www.comune.molfetta.ba.it"]}}),
            ),
            named_tenant(
                "comune-c",
                json!({"environments": [{"name": "prod"}], "tls": {"hostnames": []}}),
            ),
        ];
        let problems = validate_set(&tenants, &[default_class("standard")], &trusted());
        assert_eq!(
            errors(&problems.tenants[0]),
            [
                ("comune-a", "spec.environments[0].name"),
                ("comune-a", "spec.tls.hostnames[0]")
            ]
        );
        assert_eq!(
            errors(&problems.tenants[1]),
            [
                ("comune-a-b", "spec.environments[0].name"),
                ("comune-a-b", "spec.tls.hostnames[0]")
            ]
        );
        assert_eq!(errors(&problems.tenants[2]), []);
    }

    #[test]
    fn a_later_class_replaces_an_earlier_one_and_a_second_name_is_an_error() {
        let tenant = named_tenant("comune-molfetta", json!({}));
        // `standard` without ordinario: the tenant's classification is refused.
        let critical_only = class_with(
            "standard",
            json!({"allowedDataClassifications": ["critico"]}),
        );
        let problems = validate_set(
            std::slice::from_ref(&tenant),
            &[default_class("standard"), critical_only],
            &trusted(),
        );
        assert_eq!(errors(&problems.classes[0]), []);
        assert_eq!(
            errors(&problems.classes[1]),
            [("standard", "metadata.name")]
        );
        assert_eq!(
            errors(&problems.tenants[0]),
            [("comune-molfetta", "spec.dataClassification")]
        );
    }

    #[test]
    fn the_trusted_policy_applies_to_every_tenant_of_the_set() {
        let tenants = [
            named_tenant("comune-molfetta", json!({})),
            // `ingress` + `gateway` makes the ingress gateway's namespace; Molfetta's IPA
            // code has no delegation of puglia.it.
            named_tenant(
                "ingress",
                json!({"environments": [{"name": "gateway"}], "tls": {"hostnames": ["www.regione.puglia.it"]}}),
            ),
        ];
        let problems = validate_set(&tenants, &[default_class("standard")], &trusted());
        assert_eq!(errors(&problems.tenants[0]), []);
        assert_eq!(
            errors(&problems.tenants[1]),
            [
                ("ingress", "spec.environments[0].name"),
                ("ingress", "spec.tls.hostnames[0]")
            ]
        );
        // Without the policy, nothing is delegated: every hostname is refused.
        let problems = validate_set(
            &tenants[..1],
            &[default_class("standard")],
            &Trusted::default(),
        );
        assert_eq!(
            errors(&problems.tenants[0]),
            [("comune-molfetta", "spec.tls.hostnames[0]")]
        );
    }

    #[test]
    fn a_missing_class_is_an_error_on_spec_class() {
        let tenant = named_tenant("comune-molfetta", json!({"class": "gold"}));
        let problems = validate_set(std::slice::from_ref(&tenant), &[], &trusted());
        assert_eq!(
            errors(&problems.tenants[0]),
            [("comune-molfetta", "spec.class")]
        );
        assert_eq!(problems.into_all().len(), 1);
    }

    #[test]
    fn a_clash_with_a_known_older_tenant_is_reported_on_the_newer_file_only() {
        // comune-a exists (exported with its creationTimestamp); comune-a-b is the file of
        // the pull request and claims the same namespace and hostname.
        let mut older: serde_json::Value = crate::fixtures::tenant_value(
            "comune-a",
            json!({"environments": [{"name": "b-prod"}], "tls": {"hostnames": ["www.comune.molfetta.ba.it"]}}),
        );
        older["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        older["metadata"]["uid"] = json!("5d1c7e1e-0000-4000-8000-000000000001");
        let tenants = [
            serde_json::from_value(older).expect("tenant"),
            named_tenant(
                "comune-a-b",
                json!({"environments": [{"name": "prod"}], "tls": {"hostnames": ["www.comune.molfetta.ba.it"]}}),
            ),
        ];
        let problems = validate_set(&tenants, &[default_class("standard")], &trusted());
        assert_eq!(errors(&problems.tenants[0]), []);
        assert_eq!(
            errors(&problems.tenants[1]),
            [
                ("comune-a-b", "spec.environments[0].name"),
                ("comune-a-b", "spec.tls.hostnames[0]")
            ]
        );
    }
}
