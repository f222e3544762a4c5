//! Network: egress allowlist entries against the class's destinations, and cross-tenant
//! ingress consent (`allowFrom`).

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::names::{cidr_problem, is_dns_label, port_problem};
use super::{MAX_TENANT_NAME, Report, Rule};
use crate::api::{TenantClass, TenantServiceSpec};

/// Each egress entry names a destination of the class (once), and its `cidrs` and `ports`
/// are valid and narrow the destination (networks inside its networks, ports among its
/// ports), never widen it.
pub(super) fn check_egress(spec: &TenantServiceSpec, class: &TenantClass, report: &mut Report) {
    let Some(network) = &spec.network else {
        return;
    };
    let class_name = class.metadata.name.as_deref().unwrap_or_default();
    let destinations = &class.spec.egress_destinations;
    let mut seen = BTreeSet::new();
    for (i, rule) in network.egress.iter().enumerate() {
        let base = format!("spec.network.egress[{i}]");
        if !seen.insert(rule.name.as_str()) {
            report.error(
                Rule::EgressDuplicate,
                format!("{base}.name"),
                format!("destination {:?} is listed twice; list it once", rule.name),
            );
            continue;
        }
        let Some(dest) = destinations.iter().find(|d| d.name == rule.name) else {
            let names: Vec<&str> = destinations.iter().map(|d| d.name.as_str()).collect();
            report.error(
                Rule::EgressUnknown,
                format!("{base}.name"),
                format!(
                    "TenantClass {class_name:?} has no egress destination {:?}; use one of: {}",
                    rule.name,
                    if names.is_empty() {
                        "(none)".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            );
            continue;
        };
        let dest_nets: Vec<IpNet> = dest.cidrs.iter().filter_map(|c| c.parse().ok()).collect();
        for (j, cidr) in rule.cidrs.iter().enumerate() {
            let path = format!("{base}.cidrs[{j}]");
            if let Some(problem) = cidr_problem(cidr) {
                report.error(Rule::EgressCidr, path, problem);
                continue;
            }
            let Ok(net) = cidr.parse::<IpNet>() else {
                continue;
            };
            if !dest_nets.iter().any(|d| d.contains(&net)) {
                report.error(
                    Rule::EgressCidr,
                    path,
                    format!(
                        "{cidr} is outside destination {:?}; use a network inside {} (or omit cidrs for all of them)",
                        dest.name,
                        dest.cidrs.join(", ")
                    ),
                );
            }
        }
        for (j, port) in rule.ports.iter().enumerate() {
            let path = format!("{base}.ports[{j}]");
            if let Some(problem) = port_problem(*port) {
                report.error(Rule::EgressPort, path, problem);
            } else if !dest.ports.contains(port) {
                let ports: Vec<String> = dest.ports.iter().map(i32::to_string).collect();
                report.error(
                    Rule::EgressPort,
                    path,
                    format!(
                        "port {port} is not a port of destination {:?}; use one of {} (or omit ports for all of them)",
                        dest.name,
                        ports.join(", ")
                    ),
                );
            }
        }
    }
}

/// Whether `text` is a Kubernetes UID as the API server writes them: a UUID in lower case
/// (`8-4-4-4-12` hex digits), as the CRD's pattern for `allowFrom[].uid` says.
fn is_uid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `allowFrom` names other tenants by valid names, not the tenant itself, each once, and,
/// when it names their UID, a UID; its environments are DNS labels.
pub(super) fn check_allow_from(tenant: &str, spec: &TenantServiceSpec, report: &mut Report) {
    let Some(network) = &spec.network else {
        return;
    };
    let mut seen = BTreeSet::new();
    for (i, allow) in network.allow_from.iter().enumerate() {
        let path = format!("spec.network.allowFrom[{i}].tenant");
        let other = allow.tenant.as_str();
        if !is_dns_label(other) || other.len() > MAX_TENANT_NAME {
            report.error(
                Rule::AllowFromTenant,
                path,
                format!(
                    "{other:?} is not a tenant name; name a TenantService: a DNS label of at most {MAX_TENANT_NAME} characters, e.g. \"regione-puglia\""
                ),
            );
        } else if other == tenant {
            report.error(
                Rule::AllowFromTenant,
                path,
                "a tenant does not need to allow itself (its namespaces already reach each other); remove this entry",
            );
        } else if !seen.insert(other) {
            report.error(
                Rule::AllowFromTenant,
                path,
                format!("tenant {other:?} is listed twice; list it once"),
            );
        }
        if let Some(uid) = &allow.uid
            && !is_uid(uid)
        {
            report.error(
                Rule::AllowFromUid,
                format!("spec.network.allowFrom[{i}].uid"),
                format!(
                    "{uid:?} is not a UID; give the metadata.uid of TenantService {other:?} (`kubectl get ts {other} -o jsonpath='{{.metadata.uid}}'`), e.g. \"0b7e9a52-1111-4222-8333-444455556666\", or leave it out to consent to the tenant of that name first seen"
                ),
            );
        }
        for (j, env) in allow.environments.iter().enumerate() {
            if !is_dns_label(env) {
                report.error(
                    Rule::AllowFromEnvironment,
                    format!("spec.network.allowFrom[{i}].environments[{j}]"),
                    format!("{env:?} is not an environment name; use a DNS label, e.g. \"prod\""),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{paths, problems_with};
    use super::super::validate_tenant;
    use crate::fixtures::{class_with, tenant};

    fn egress(rules: serde_json::Value) -> Vec<super::super::Problem> {
        problems_with(json!({"network": {"egress": rules}}))
    }

    #[test]
    fn egress_destinations_exist_in_the_class() {
        assert!(egress(json!([{"name": "pagopa"}, {"name": "pec"}])).is_empty());
        let p = egress(json!([{"name": "pagopa"}, {"name": "spid"}]));
        assert_eq!(paths(&p), ["spec.network.egress[1].name"]);
        assert!(
            p[0].message
                .contains("use one of: pagopa, spid-cie, anpr, app-io, pec"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn egress_destinations_listed_once() {
        let p = egress(json!([{"name": "pagopa"}, {"name": "pagopa"}]));
        assert_eq!(paths(&p), ["spec.network.egress[1].name"]);
    }

    #[test]
    fn egress_cidrs_valid_and_inside_the_destination() {
        // A destination with an IPv6 range too (the default classes have IPv4 only).
        let dual_stack = class_with(
            "standard",
            json!({"egressDestinations": [
                {"name": "pec", "cidrs": ["198.51.100.64/27", "2001:db8::/32"], "ports": [465, 993]}
            ]}),
        );
        let t = tenant(json!({"network": {"egress": [
            {"name": "pec", "cidrs": ["198.51.100.64/28", "2001:db8:1::/48"]}
        ]}}));
        assert_eq!(validate_tenant(&t, Some(&dual_stack)), []);
        let p = egress(
            json!([{"name": "pec", "cidrs": ["198.51.100.0/24", "198.51.100.65/27", "nope"]}]),
        );
        assert_eq!(
            paths(&p),
            [
                "spec.network.egress[0].cidrs[0]",
                "spec.network.egress[0].cidrs[1]",
                "spec.network.egress[0].cidrs[2]"
            ]
        );
        assert!(p[0].message.contains("outside destination \"pec\""));
        assert!(p[1].message.contains("host bits"));
        assert!(p[2].message.contains("not a CIDR"));
    }

    #[test]
    fn egress_ports_valid_and_among_the_destination() {
        assert!(egress(json!([{"name": "pec", "ports": [993]}])).is_empty());
        let p = egress(json!([{"name": "pec", "ports": [443, 0]}]));
        assert_eq!(
            paths(&p),
            [
                "spec.network.egress[0].ports[0]",
                "spec.network.egress[0].ports[1]"
            ]
        );
        assert!(p[0].message.contains("use one of 465, 993"));
        assert!(p[1].message.contains("1-65535"));
    }

    #[test]
    fn allow_from_names_other_tenants() {
        let allow = |list| problems_with(json!({"network": {"allowFrom": list}}));
        assert!(allow(json!([{"tenant": "regione-puglia", "environments": ["prod"]}])).is_empty());
        let p = allow(json!([
            {"tenant": "comune-molfetta"},
            {"tenant": "Regione"},
            {"tenant": "asl-bari"},
            {"tenant": "asl-bari", "environments": ["Prod"]}
        ]));
        assert_eq!(
            paths(&p),
            [
                "spec.network.allowFrom[0].tenant",
                "spec.network.allowFrom[1].tenant",
                "spec.network.allowFrom[3].tenant",
                "spec.network.allowFrom[3].environments[0]"
            ]
        );
        assert!(p[0].message.contains("itself"));
    }

    #[test]
    fn allow_from_binds_to_a_uid_only_when_it_is_one() {
        let allow = |uid: &str| {
            problems_with(
                json!({"network": {"allowFrom": [{"tenant": "regione-puglia", "uid": uid}]}}),
            )
        };
        assert!(allow("0b7e9a52-1111-4222-8333-444455556666").is_empty());
        for invalid in [
            "regione-puglia",
            "0B7E9A52-1111-4222-8333-444455556666",
            "0b7e9a52-1111-4222-8333",
        ] {
            let p = allow(invalid);
            assert_eq!(paths(&p), ["spec.network.allowFrom[0].uid"], "{invalid}");
            assert!(p[0].message.contains("is not a UID"), "{}", p[0].message);
        }
    }
}
