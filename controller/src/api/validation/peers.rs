//! Rules across tenants: names, namespaces and hostnames are each claimed by one tenant.

use kube::ResourceExt;

use super::{Problem, Report};
use crate::api::TenantService;
use crate::labels;

/// Problems of `tenant` against other tenants: a peer with the same name (two manifests
/// for one tenant), a namespace that a peer's environment also yields (tenant `a-b` with
/// environment `c` and tenant `a` with environment `b-c` both make `a-b-c`), and a TLS
/// hostname a peer also lists.
///
/// `peers` are the *other* tenants (the controller passes those related to `tenant`,
/// `validate` all other documents); each conflict is reported on `tenant`'s field, so
/// calling this for every tenant reports it on both sides.
pub fn validate_against_peers(tenant: &TenantService, peers: &[TenantService]) -> Vec<Problem> {
    let name = tenant.name_any();
    let mut report = Report::new(name.clone());
    for peer in peers {
        let peer_name = peer.name_any();
        if peer_name == name {
            report.error(
                "metadata.name",
                format!(
                    "another TenantService is also named {name:?}; tenant names are unique: merge the two or rename one"
                ),
            );
            // Same name: its namespaces and hostnames are the same tenant's claims.
            continue;
        }
        for (i, env) in tenant.spec.environments.iter().enumerate() {
            let namespace = labels::namespace_name(&name, &env.name);
            if let Some(other) = peer
                .spec
                .environments
                .iter()
                .find(|e| labels::namespace_name(&peer_name, &e.name) == namespace)
            {
                report.error(
                    format!("spec.environments[{i}].name"),
                    format!(
                        "namespace {namespace:?} is also the namespace of tenant {peer_name:?}, environment {:?}; rename this environment",
                        other.name
                    ),
                );
            }
        }
        let (Some(mine), Some(theirs)) = (&tenant.spec.tls, &peer.spec.tls) else {
            continue;
        };
        for (i, host) in mine.hostnames.iter().enumerate() {
            if theirs.hostnames.contains(host) {
                report.error(
                    format!("spec.tls.hostnames[{i}]"),
                    format!(
                        "{host:?} is also claimed by tenant {peer_name:?}; a hostname belongs to one tenant: remove it from one of them"
                    ),
                );
            }
        }
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{named_tenant, paths};
    use super::validate_against_peers;

    #[test]
    fn distinct_tenants_have_no_conflicts() {
        let a = named_tenant("comune-molfetta", json!({}));
        let b = named_tenant(
            "comune-bari",
            json!({"tls": {"hostnames": ["www.comune.bari.it"]}}),
        );
        assert!(validate_against_peers(&a, std::slice::from_ref(&b)).is_empty());
        assert!(validate_against_peers(&a, &[]).is_empty());
    }

    #[test]
    fn duplicate_tenant_names() {
        let a = named_tenant("comune-molfetta", json!({}));
        let p = validate_against_peers(&a, std::slice::from_ref(&a));
        assert_eq!(paths(&p), ["metadata.name"]);
        assert!(p[0].message.contains("unique"));
    }

    #[test]
    fn namespace_collisions() {
        let a = named_tenant("a-b", json!({"environments": [{"name": "c"}], "tls": null}));
        let b = named_tenant(
            "a",
            json!({"environments": [{"name": "prod"}, {"name": "b-c"}], "tls": null}),
        );
        let p = validate_against_peers(&a, std::slice::from_ref(&b));
        assert_eq!(paths(&p), ["spec.environments[0].name"]);
        assert!(p[0].message.contains("\"a-b-c\""));
        assert!(p[0].message.contains("tenant \"a\", environment \"b-c\""));
        let p = validate_against_peers(&b, std::slice::from_ref(&a));
        assert_eq!(paths(&p), ["spec.environments[1].name"]);
    }

    #[test]
    fn hostname_claimed_twice() {
        let a = named_tenant("comune-molfetta", json!({}));
        let b = named_tenant(
            "comune-bari",
            json!({"tls": {"hostnames": ["www.comune.bari.it", "servizi.comune.molfetta.ba.it"]}}),
        );
        let p = validate_against_peers(&a, std::slice::from_ref(&b));
        assert_eq!(paths(&p), ["spec.tls.hostnames[0]"]);
        assert!(p[0].message.contains("comune-bari"));
    }
}
