//! Rules across tenants: names, namespaces and certificate names are each claimed by one
//! tenant, and the first claim wins: a conflict is reported on the tenant that claimed
//! later, never on the one that holds the claim (see [`claimed_first`]).

use std::collections::{BTreeSet, HashMap};

use kube::ResourceExt;

use super::{Problem, Report, Rule};
use crate::api::TenantService;
use crate::labels;

/// Problems of `tenant` against other tenants: a peer with the same name (two manifests
/// for one tenant), a namespace that a peer's environment also yields (tenant `a-b` with
/// environment `c` and tenant `a` with environment `b-c` both make `a-b-c`), and a DNS
/// name that a peer's certificates also carry (the same hostname, or tenant `a`'s
/// `x.it` in environment `test` and tenant `b`'s `test.x.it` in production).
///
/// `peers` are the *other* tenants (the controller passes those related to `tenant`,
/// `validate` all other documents); each conflict is reported on `tenant`'s field when the
/// peer [claimed first](claimed_first), so the tenant holding a claim stays valid (and keeps
/// being reconciled and renewed) while a newcomer is refused. Two tenants of which neither
/// exists yet cannot be ordered, and each is told about the other.
pub fn validate_against_peers(tenant: &TenantService, peers: &[TenantService]) -> Vec<Problem> {
    let name = tenant.name_any();
    let mut report = Report::new(name.clone());
    let my_claims = dns_claims(tenant);
    for peer in peers {
        let peer_name = peer.name_any();
        if peer_name == name {
            report.error(
                Rule::NameDuplicate,
                "metadata.name",
                format!(
                    "another TenantService is also named {name:?}; tenant names are unique: merge the two or rename one"
                ),
            );
            // Same name: its namespaces and hostnames are the same tenant's claims.
            continue;
        }
        if !claimed_first(peer, tenant) {
            // The claims are `tenant`'s: the conflict is reported on the peer.
            continue;
        }
        let holder = holder_note(peer);
        for (i, env) in tenant.spec.environments.iter().enumerate() {
            let namespace = labels::namespace_name(&name, &env.name);
            if let Some(other) = peer
                .spec
                .environments
                .iter()
                .find(|e| labels::namespace_name(&peer_name, &e.name) == namespace)
            {
                report.error(
                    Rule::EnvNamespaceTaken,
                    format!("spec.environments[{i}].name"),
                    format!(
                        "namespace {namespace:?} is also the namespace of tenant {peer_name:?}, environment {:?}{holder}; rename this environment",
                        other.name
                    ),
                );
            }
        }
        let theirs: HashMap<String, DnsClaim<'_>> = dns_claims(peer)
            .into_iter()
            .rev() // so that the first claim of a name wins: a hostname as listed
            .map(|claim| (claim.name.clone(), claim))
            .collect();
        if theirs.is_empty() {
            continue;
        }
        let mut reported = BTreeSet::new();
        for mine in &my_claims {
            let Some(other) = theirs.get(&mine.name) else {
                continue;
            };
            if !reported.insert(mine.hostname_index) {
                continue;
            }
            report.error(
                Rule::TlsHostnameTaken,
                format!("spec.tls.hostnames[{}]", mine.hostname_index),
                claim_conflict(mine, other, &peer_name, &holder),
            );
        }
    }
    report.finish()
}

/// A DNS name a tenant claims: one of its hostnames as listed, or a name one of its
/// certificates carries.
struct DnsClaim<'a> {
    name: String,
    hostname: &'a str,
    hostname_index: usize,
    /// The environment whose certificate prefixes the hostname to make the name; `None`
    /// for the hostname itself (which production certificates carry as it is).
    prefixed_by: Option<&'a str>,
}

/// Every DNS name `tenant` claims: its hostnames as listed first, then the names the
/// certificates of its other environments make of them (see
/// [`labels::certificate_dns_name`]).
fn dns_claims(tenant: &TenantService) -> Vec<DnsClaim<'_>> {
    let hostnames = tenant
        .spec
        .tls
        .as_ref()
        .map_or(&[][..], |t| &t.hostnames[..]);
    let environments = std::iter::once(None).chain(
        tenant
            .spec
            .environments
            .iter()
            .filter(|e| !tenant.spec.is_production(&e.name))
            .map(|e| Some(e.name.as_str())),
    );
    environments
        .flat_map(|prefixed_by| {
            hostnames
                .iter()
                .enumerate()
                .map(move |(hostname_index, hostname)| DnsClaim {
                    name: match prefixed_by {
                        Some(environment) => {
                            labels::certificate_dns_name(hostname, environment, false)
                        }
                        None => labels::certificate_dns_name(hostname, "", true),
                    },
                    hostname,
                    hostname_index,
                    prefixed_by,
                })
        })
        .collect()
}

/// The message for a DNS name two tenants claim, saying where each claim comes from and
/// (`holder`, from [`holder_note`]) who holds it.
fn claim_conflict(mine: &DnsClaim<'_>, theirs: &DnsClaim<'_>, peer: &str, holder: &str) -> String {
    let (host, name, their_host) = (mine.hostname, &mine.name, theirs.hostname);
    let fix = "a name belongs to one tenant: change the hostname in one of them";
    match (mine.prefixed_by, theirs.prefixed_by) {
        (None, None) => format!(
            "{host:?} is also claimed by tenant {peer:?}{holder}; a hostname belongs to one tenant: remove it from one of them"
        ),
        (None, Some(their_env)) => format!(
            "{host:?} is also the name that tenant {peer:?}'s certificate of environment {their_env:?} gets from its hostname {their_host:?}{holder}; {fix}"
        ),
        (Some(env), None) => format!(
            "{host:?} puts {name:?} in the certificate of environment {env:?}, and tenant {peer:?} lists {name:?} as a hostname{holder}; {fix}"
        ),
        (Some(env), Some(their_env)) => format!(
            "{host:?} puts {name:?} in the certificate of environment {env:?}, and tenant {peer:?} gets the same name from its hostname {their_host:?} in environment {their_env:?}{holder}; {fix}"
        ),
    }
}

/// When a tenant was created, with its UID as the tie-break of two creations in the same
/// second; `None` for a tenant that does not exist yet (a file under review).
fn creation(tenant: &TenantService) -> Option<(jiff::Timestamp, &str)> {
    let created = tenant.metadata.creation_timestamp.as_ref()?;
    Some((
        created.0,
        tenant.metadata.uid.as_deref().unwrap_or_default(),
    ))
}

/// Whether `peer` holds its claims before `tenant`: the first claim wins. Created tenants
/// are ordered by creationTimestamp, then UID; a tenant not created yet (a manifest in a
/// pull request) comes after every created one. Two tenants that both do not exist yet
/// cannot be ordered: each counts as the other's holder, so both are told.
pub fn claimed_first(peer: &TenantService, tenant: &TenantService) -> bool {
    match (creation(peer), creation(tenant)) {
        (Some(peer), Some(tenant)) => peer < tenant,
        // A file under review comes after a created tenant; two files cannot be ordered.
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// `, which claimed it first (created ...)` for a peer that exists, so that the newcomer
/// reads who holds the claim and since when; empty for a peer that is only a manifest.
fn holder_note(peer: &TenantService) -> String {
    creation(peer).map_or_else(String::new, |(created, _)| {
        format!(", which holds it since it was created at {created} (the first claim wins)")
    })
}

/// What a tenant claims for itself and no other tenant may also claim, as keys: its name
/// (`name:`), its namespaces (`namespace:`) and its DNS names (`dns:`: its hostnames and
/// the names its certificates carry). Two tenants can conflict in
/// [`validate_against_peers`] only if they share a key, so an index of these keys finds
/// every candidate pair without comparing all pairs.
pub fn claim_keys(tenant: &TenantService) -> Vec<String> {
    let name = tenant.name_any();
    let mut keys = vec![format!("name:{name}")];
    keys.extend(
        tenant
            .spec
            .environments
            .iter()
            .map(|e| format!("namespace:{}", labels::namespace_name(&name, &e.name))),
    );
    let dns: BTreeSet<String> = dns_claims(tenant).into_iter().map(|c| c.name).collect();
    keys.extend(dns.into_iter().map(|n| format!("dns:{n}")));
    keys
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::paths;
    use super::validate_against_peers;
    use crate::fixtures::named_tenant;

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

    #[test]
    fn certificate_name_claimed_twice_through_the_environment_prefix() {
        // comune-molfetta's test certificate carries test.servizi.comune.molfetta.ba.it,
        // which comune-bari lists as a production hostname.
        let a = named_tenant("comune-molfetta", json!({}));
        let b = named_tenant(
            "comune-bari",
            json!({"environments": [{"name": "prod"}],
                   "tls": {"hostnames": ["www.comune.bari.it", "TEST.servizi.comune.molfetta.ba.it."]}}),
        );
        let p = validate_against_peers(&a, std::slice::from_ref(&b));
        assert_eq!(paths(&p), ["spec.tls.hostnames[0]"]);
        assert!(
            p[0].message
                .contains("\"test.servizi.comune.molfetta.ba.it\"")
                && p[0].message.contains("environment \"test\"")
                && p[0].message.contains("comune-bari"),
            "{}",
            p[0].message
        );
        // And on the other side.
        let p = validate_against_peers(&b, std::slice::from_ref(&a));
        assert_eq!(paths(&p), ["spec.tls.hostnames[1]"]);
        assert!(p[0].message.contains("comune-molfetta"), "{}", p[0].message);
        // Without the test environment there is no collision.
        let a = named_tenant(
            "comune-molfetta",
            json!({"environments": [{"name": "prod"}]}),
        );
        assert!(validate_against_peers(&a, std::slice::from_ref(&b)).is_empty());
    }

    /// `name` created at `second` (seconds since the epoch) with `uid`, as the API server
    /// returns it.
    fn created(
        name: &str,
        spec: serde_json::Value,
        second: i64,
        uid: &str,
    ) -> crate::api::TenantService {
        let mut tenant = named_tenant(name, spec);
        tenant.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                jiff::Timestamp::from_second(second).expect("time"),
            ));
        tenant.metadata.uid = Some(uid.to_string());
        tenant
    }

    #[test]
    fn the_first_claim_wins_and_only_the_newcomer_is_told() {
        let hostname = json!({"tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]}});
        let incumbent = created("comune-molfetta", json!({}), 1_000, "uid-b");
        let newcomer = created("comune-bari", hostname.clone(), 2_000, "uid-a");
        // Valid: the incumbent, against the newcomer.
        assert!(validate_against_peers(&incumbent, std::slice::from_ref(&newcomer)).is_empty());
        // Invalid: the newcomer, on the field of the claim, naming the holder.
        let p = validate_against_peers(&newcomer, std::slice::from_ref(&incumbent));
        assert_eq!(paths(&p), ["spec.tls.hostnames[0]"]);
        assert!(
            p[0].message.contains("\"comune-molfetta\"")
                && p[0].message.contains("first claim wins"),
            "{}",
            p[0].message
        );
        // A manifest under review is newer than every created tenant.
        let file = named_tenant("comune-bari", hostname.clone());
        assert!(validate_against_peers(&incumbent, std::slice::from_ref(&file)).is_empty());
        assert_eq!(
            paths(&validate_against_peers(
                &file,
                std::slice::from_ref(&incumbent)
            )),
            ["spec.tls.hostnames[0]"]
        );
        // Created in the same second: the UID decides (uid-a before uid-b).
        let twin = created("comune-bari", hostname, 1_000, "uid-a");
        assert_eq!(
            paths(&validate_against_peers(
                &incumbent,
                std::slice::from_ref(&twin)
            )),
            ["spec.tls.hostnames[0]"]
        );
        assert!(validate_against_peers(&twin, std::slice::from_ref(&incumbent)).is_empty());
    }

    #[test]
    fn a_namespace_held_first_stays_its_holders() {
        // `agenzia` + `sanita-prod` and `agenzia-sanita` + `prod` both make
        // `agenzia-sanita-prod`; `agenzia` was created first.
        let holder = created(
            "agenzia",
            json!({"environments": [{"name": "sanita-prod"}], "tls": null}),
            1_000,
            "u1",
        );
        let newcomer = created(
            "agenzia-sanita",
            json!({"environments": [{"name": "prod"}], "tls": null}),
            5_000,
            "u2",
        );
        assert!(validate_against_peers(&holder, std::slice::from_ref(&newcomer)).is_empty());
        let p = validate_against_peers(&newcomer, std::slice::from_ref(&holder));
        assert_eq!(paths(&p), ["spec.environments[0].name"]);
        assert!(
            p[0].message.contains("\"agenzia\"") && p[0].message.contains("first claim wins"),
            "{}",
            p[0].message
        );
    }
}
