//! TLS hostnames of one tenant (claims by other tenants are checked in `peers`).

use std::collections::BTreeSet;

use super::names::hostname_problem;
use super::{Report, Rule};
use crate::api::TenantServiceSpec;

/// Hostnames are valid DNS names (see [`hostname_problem`]), each listed once, and stay
/// valid with the `<environment>.` prefix of non-production certificates.
pub(super) fn check(spec: &TenantServiceSpec, report: &mut Report) {
    let Some(tls) = &spec.tls else {
        return;
    };
    let longest_env = spec
        .environments
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0);
    let mut seen = BTreeSet::new();
    for (i, host) in tls.hostnames.iter().enumerate() {
        let path = format!("spec.tls.hostnames[{i}]");
        if let Some(problem) = hostname_problem(host) {
            report.error(Rule::TlsHostname, path, problem);
        } else if !seen.insert(host.as_str()) {
            report.error(
                Rule::TlsHostnameDuplicate,
                path,
                format!("{host:?} is listed twice; list it once"),
            );
        } else if host.len() + longest_env + 1 > 253 {
            report.error(
                Rule::TlsHostname,
                path,
                format!(
                    "{host:?} with an environment prefix ('<environment>.{host}') exceeds 253 characters; use a shorter hostname"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{paths, problems_with};

    #[test]
    fn hostnames_are_valid_dns_names_listed_once() {
        let hosts = |list| problems_with(json!({"tls": {"hostnames": list}}));
        assert!(
            hosts(json!([
                "servizi.comune.molfetta.ba.it",
                "www.comune.molfetta.ba.it"
            ]))
            .is_empty()
        );
        let p = hosts(json!([
            "servizi.comune.molfetta.ba.it",
            "*.comune.molfetta.ba.it",
            "Servizi.it",
            "servizi.comune.molfetta.ba.it"
        ]));
        assert_eq!(
            paths(&p),
            [
                "spec.tls.hostnames[1]",
                "spec.tls.hostnames[2]",
                "spec.tls.hostnames[3]"
            ]
        );
        assert!(p[0].message.contains("wildcard"));
        assert!(p[2].message.contains("listed twice"));
    }

    #[test]
    fn hostnames_leave_room_for_the_environment_prefix() {
        let host = format!("{}.it", vec!["a".repeat(61); 4].join("."));
        assert_eq!(host.len(), 250);
        let p = problems_with(json!({"tls": {"hostnames": [host]}}));
        assert_eq!(paths(&p), ["spec.tls.hostnames[0]"]);
        assert!(p[0].message.contains("environment prefix"));
    }
}
