//! Delegated domains: a tenant's hostnames lie inside the DNS domains delegated to its
//! public body ([`DomainDelegation`], by IPA code), and delegations themselves are sound.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::ResourceExt;

use super::names::hostname_problem;
use super::{Problem, Report, Rule};
use crate::api::{DomainDelegation, TenantServiceSpec};

/// The domains delegated to each public body, by IPA code: the union of its
/// DomainDelegations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delegations {
    by_ipa_code: HashMap<String, Vec<String>>,
}

impl Delegations {
    /// The delegations of `delegations`, merged per IPA code (each domain once, sorted).
    pub fn new<'a>(delegations: impl IntoIterator<Item = &'a DomainDelegation>) -> Self {
        let mut merged: HashMap<String, BTreeSet<String>> = HashMap::new();
        for delegation in delegations {
            merged
                .entry(delegation.spec.ipa_code.clone())
                .or_default()
                .extend(delegation.spec.domains.iter().map(|d| normalize(d)));
        }
        Delegations {
            by_ipa_code: merged
                .into_iter()
                .map(|(ipa, domains)| (ipa, domains.into_iter().collect()))
                .collect(),
        }
    }

    /// The domains delegated to the body with IPA code `ipa_code` (empty if none).
    pub fn domains_of(&self, ipa_code: &str) -> &[String] {
        self.by_ipa_code.get(ipa_code).map_or(&[], Vec::as_slice)
    }
}

/// Lower case, without a trailing dot: how hostnames and domains are compared.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` is `domain` or a name below it (`servizi.comune.bari.it` is within
/// `comune.bari.it`; `evilcomune.bari.it` is not). Both as [`normalize`] gives them.
pub fn is_within(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// Each hostname of the tenant lies inside a domain delegated to its body (`delegated`,
/// the domains of its IPA code). Hostnames that are not DNS names are left to the TLS rule.
pub(super) fn check_hostnames(spec: &TenantServiceSpec, delegated: &[String], report: &mut Report) {
    let Some(tls) = &spec.tls else {
        return;
    };
    let ipa_code = &spec.entity.ipa_code;
    for (i, host) in tls.hostnames.iter().enumerate() {
        if hostname_problem(host).is_some() {
            continue;
        }
        let host = normalize(host);
        if delegated.iter().any(|domain| is_within(&host, domain)) {
            continue;
        }
        let message = if delegated.is_empty() {
            format!(
                "{host:?} is not inside a domain delegated to {ipa_code:?}: no DNS domain is delegated to it; ask the datacenter operators for a DomainDelegation of the body's domain (policies/delegations/), or check spec.entity.ipaCode"
            )
        } else {
            format!(
                "{host:?} is not inside the DNS domains delegated to {ipa_code:?} ({}); list a hostname equal to or below one of them, or ask the datacenter operators to delegate the domain (policies/delegations/)",
                delegated.join(", ")
            )
        };
        report.error(
            Rule::TlsDelegated,
            format!("spec.tls.hostnames[{i}]"),
            message,
        );
    }
}

/// The problems of each delegation: every domain a DNS name of at least two labels (a
/// top-level domain would hand a body every name under it), no wildcard, listed once; and
/// no domain delegated to two bodies. By position in `delegations`.
pub fn validate_delegations(delegations: &[DomainDelegation]) -> Vec<Vec<Problem>> {
    let mut holders: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for d in delegations {
        for domain in &d.spec.domains {
            holders
                .entry(normalize(domain))
                .or_default()
                .insert(d.spec.ipa_code.as_str());
        }
    }
    delegations
        .iter()
        .map(|d| {
            let mut report = Report::new(d.name_any());
            let mut seen = BTreeSet::new();
            for (i, domain) in d.spec.domains.iter().enumerate() {
                let path = format!("spec.domains[{i}]");
                let name = normalize(domain);
                if let Some(problem) = hostname_problem(domain) {
                    report.error(Rule::DelegationDomain, path, problem.replace("hostname", "domain"));
                } else if !seen.insert(name.clone()) {
                    report.error(Rule::DelegationDomainDuplicate, path, format!("{domain:?} is listed twice; list it once"));
                } else if let Some(others) = holders
                    .get(&name)
                    .filter(|bodies| bodies.len() > 1)
                {
                    let others: Vec<&str> = others
                        .iter()
                        .copied()
                        .filter(|ipa| *ipa != d.spec.ipa_code)
                        .collect();
                    report.error(
                        Rule::DelegationDomainShared,
                        path,
                        format!(
                            "{domain:?} is also delegated to {}; a domain belongs to one body: delegate a subdomain to each instead",
                            others.join(", ")
                        ),
                    );
                }
            }
            report.finish()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{delegation, tenant};

    fn problems(hostnames: serde_json::Value, delegated: &[&str]) -> Vec<Problem> {
        let t = tenant(json!({"tls": {"hostnames": hostnames}}));
        let delegated: Vec<String> = delegated.iter().map(ToString::to_string).collect();
        let mut report = Report::new("comune-molfetta");
        check_hostnames(&t.spec, &delegated, &mut report);
        report.finish()
    }

    #[test]
    fn within_is_equal_or_below_on_a_label_boundary() {
        assert!(is_within("comune.bari.it", "comune.bari.it"));
        assert!(is_within("www.comune.bari.it", "comune.bari.it"));
        assert!(!is_within("evilcomune.bari.it", "comune.bari.it"));
        assert!(!is_within("bari.it", "comune.bari.it"));
    }

    #[test]
    fn hostnames_inside_the_delegated_domains_pass() {
        let p = problems(
            json!([
                "servizi.comune.molfetta.ba.it",
                "comune.molfetta.ba.it",
                "www.molfetta.it"
            ]),
            &["comune.molfetta.ba.it", "molfetta.it"],
        );
        assert_eq!(p, []);
    }

    #[test]
    fn a_hostname_outside_names_the_field_the_hostname_and_the_delegated_domains() {
        let p = problems(
            json!(["servizi.comune.molfetta.ba.it", "www.regione.puglia.it"]),
            &["comune.molfetta.ba.it"],
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "spec.tls.hostnames[1]");
        assert!(p[0].is_error());
        assert!(
            p[0].message.contains("\"www.regione.puglia.it\""),
            "{}",
            p[0]
        );
        assert!(
            p[0].message.contains("\"c_f284\" (comune.molfetta.ba.it)"),
            "{}",
            p[0]
        );
        let p = problems(json!(["servizi.comune.molfetta.ba.it"]), &[]);
        assert_eq!(p[0].path, "spec.tls.hostnames[0]");
        assert!(
            p[0].message.contains("no DNS domain is delegated"),
            "{}",
            p[0]
        );
    }

    #[test]
    fn delegations_merge_per_body() {
        let delegations = Delegations::new(&[
            delegation("molfetta", "c_f284", &["comune.molfetta.ba.it"]),
            delegation("molfetta-2", "c_f284", &["Molfetta.it."]),
            delegation("bari", "c_a662", &["comune.bari.it"]),
        ]);
        assert_eq!(
            delegations.domains_of("c_f284"),
            ["comune.molfetta.ba.it", "molfetta.it"]
        );
        assert_eq!(delegations.domains_of("c_zzzz"), [] as [String; 0]);
    }

    #[test]
    fn a_sound_delegation_has_no_problem_and_a_broken_one_names_each_domain() {
        let good = delegation(
            "molfetta",
            "c_f284",
            &["comune.molfetta.ba.it", "molfetta.it"],
        );
        assert_eq!(validate_delegations(std::slice::from_ref(&good)), [vec![]]);
        let bad = delegation(
            "bad",
            "c_a662",
            &[
                "it",
                "*.bari.it",
                "comune.bari.it",
                "comune.bari.it",
                "molfetta.it",
            ],
        );
        let problems = validate_delegations(&[good, bad]);
        let paths: Vec<&str> = problems[1].iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.domains[0]",
                "spec.domains[1]",
                "spec.domains[3]",
                "spec.domains[4]"
            ]
        );
        assert!(
            problems[1][0].message.contains("not fully qualified"),
            "{}",
            problems[1][0]
        );
        assert!(
            problems[1][3].message.contains("also delegated to c_f284"),
            "{}",
            problems[1][3]
        );
        assert!(problems[0][0].message.contains("also delegated to c_a662"));
    }
}
