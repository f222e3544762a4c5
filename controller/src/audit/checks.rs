//! The checks: those of the Kubernetes Multi-Tenancy Benchmarks (MTB,
//! `kubernetes-sigs/multi-tenancy`, `benchmarks/kubectl-mtb`) that can be decided from
//! objects, under their benchmark ids, and this project's own (`TENANCY-*`). Each check
//! gives pass, fail or not-applicable per tenant namespace (or once for the cluster) with
//! the evidence that decided it.
//!
//! The benchmark runs its behavioural checks by trying the action (create a privileged pod,
//! a NodePort Service); here the same question is answered from the objects that would
//! refuse it: the namespace's Pod Security level, its quota, its policies. Benchmark checks
//! that no object decides are not listed: `MTB-PL1-CC-DI-1` (images always pulled) is an API
//! server flag, and the self-service checks of profile level 2 (`MTB-PL2-BC-OPS-3`, `-4`:
//! tenants create their own policies and bindings) are refused on purpose here, since the
//! operator owns every isolation object. Upstream gives two checks the id `MTB-PL1-BC-HI-1`
//! (host path volumes and NodePort Services); both keep it, told apart by their titles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use kube::ResourceExt;

use super::access::{self, Rbac, Rights, SubjectKey};
use super::index::NamespaceIndex;
use super::model::Model;
use super::netpol::{self, Direction, Peer, Pod};
use super::ports::PortSet;
use super::reachability::{self, Reachability};
use super::report::{CheckResult, Outcome, Source};
use super::selector::Tri;
use crate::api::validation::{Delegations, is_within};
use crate::labels;
use crate::render::network;

/// A check: its id, its title, and the TenantService field a failure points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Benchmark or project id.
    pub id: &'static str,
    /// What it requires.
    pub title: &'static str,
    /// The TenantService field that decides it (for locating failures in files).
    pub field: &'static str,
}

/// MTB-PL1-BC-CPI-3.
pub const ADD_CAPABILITIES: Check = Check {
    id: "MTB-PL1-BC-CPI-3",
    title: "Block add capabilities",
    field: "spec.class",
};
/// MTB-PL1-BC-CPI-4.
pub const RUN_AS_NON_ROOT: Check = Check {
    id: "MTB-PL1-BC-CPI-4",
    title: "Require run as non-root user",
    field: "spec.class",
};
/// MTB-PL1-BC-CPI-5.
pub const PRIVILEGED_CONTAINERS: Check = Check {
    id: "MTB-PL1-BC-CPI-5",
    title: "Block privileged containers",
    field: "spec.class",
};
/// MTB-PL1-BC-CPI-6.
pub const PRIVILEGE_ESCALATION: Check = Check {
    id: "MTB-PL1-BC-CPI-6",
    title: "Block privilege escalation",
    field: "spec.class",
};
/// MTB-PL1-BC-HI-1 (host path).
pub const HOST_PATH: Check = Check {
    id: "MTB-PL1-BC-HI-1",
    title: "Block use of host path volumes",
    field: "spec.class",
};
/// MTB-PL1-BC-HI-1 (NodePort; upstream reuses the id).
pub const NODE_PORTS: Check = Check {
    id: "MTB-PL1-BC-HI-1",
    title: "Block use of NodePort services",
    field: "spec.class",
};
/// MTB-PL1-BC-HI-3.
pub const HOST_NETWORK: Check = Check {
    id: "MTB-PL1-BC-HI-3",
    title: "Block use of host networking and ports",
    field: "spec.class",
};
/// MTB-PL1-BC-HI-4.
pub const HOST_PID: Check = Check {
    id: "MTB-PL1-BC-HI-4",
    title: "Block use of host PID",
    field: "spec.class",
};
/// MTB-PL1-BC-HI-5.
pub const HOST_IPC: Check = Check {
    id: "MTB-PL1-BC-HI-5",
    title: "Block use of host IPC",
    field: "spec.class",
};
/// MTB-PL1-CC-FNS-1.
pub const RESOURCE_QUOTAS: Check = Check {
    id: "MTB-PL1-CC-FNS-1",
    title: "Configure namespace resource quotas",
    field: "spec.environments",
};
/// MTB-PL1-CC-FNS-2.
pub const OBJECT_LIMITS: Check = Check {
    id: "MTB-PL1-CC-FNS-2",
    title: "Configure namespace object limits",
    field: "spec.environments",
};
/// MTB-PL1-BC-NI-1.
pub const CROSS_TENANT_DENY: Check = Check {
    id: "MTB-PL1-BC-NI-1",
    title: "Default deny network connections across tenants",
    field: "spec.network.allowFrom",
};
/// TENANCY-NET-1.
pub const DEFAULT_DENY: Check = Check {
    id: "TENANCY-NET-1",
    title: "Default deny of ingress and egress for every pod",
    field: "metadata.name",
};
/// TENANCY-NET-2.
pub const EGRESS_CATALOGUE: Check = Check {
    id: "TENANCY-NET-2",
    title: "Egress only to the tenant's catalogue destinations, DNS, its own namespace and consenting tenants",
    field: "spec.network.egress",
};
/// TENANCY-NET-4.
pub const INGRESS_SOURCES: Check = Check {
    id: "TENANCY-NET-4",
    title: "Ingress only from the namespace itself, the ingress gateway, monitoring and consenting tenants",
    field: "spec.network.allowFrom",
};
/// TENANCY-NET-3.
pub const CONSENT: Check = Check {
    id: "TENANCY-NET-3",
    title: "Traffic between tenant namespaces exactly where both tenants consent, in both directions",
    field: "spec.network.allowFrom",
};
/// TENANCY-QUOTA-1.
pub const LIMIT_RANGE: Check = Check {
    id: "TENANCY-QUOTA-1",
    title: "A LimitRange gives containers default CPU and memory requests and limits",
    field: "spec.class",
};
/// MTB-PL1-CC-CPI-1.
pub const CLUSTER_RESOURCES: Check = Check {
    id: "MTB-PL1-CC-CPI-1",
    title: "Block access to cluster resources",
    field: "spec.access",
};
/// MTB-PL1-BC-CPI-2.
pub const MULTITENANT_RESOURCES: Check = Check {
    id: "MTB-PL1-BC-CPI-2",
    title: "Block Multitenant Resources",
    field: "spec.access",
};
/// MTB-PL1-CC-TI-1.
pub const QUOTA_MODIFICATION: Check = Check {
    id: "MTB-PL1-CC-TI-1",
    title: "Block modification of resource quotas",
    field: "spec.access",
};
/// MTB-PL1-CC-TI-2.
pub const OTHER_TENANTS: Check = Check {
    id: "MTB-PL1-CC-TI-2",
    title: "Block access to other tenant resources",
    field: "spec.access",
};
/// MTB-PL2-CC-TI-1.
pub const ROLE_ESCALATION: Check = Check {
    id: "MTB-PL2-CC-TI-1",
    title: "Block role privilege escalation",
    field: "spec.access",
};
/// TENANCY-RBAC-1.
pub const SYSTEM_GROUPS: Check = Check {
    id: "TENANCY-RBAC-1",
    title: "No system: group other than system:masters holds rights in the namespace",
    field: "spec.access",
};
/// TENANCY-TLS-1.
pub const DELEGATED_CERTIFICATES: Check = Check {
    id: "TENANCY-TLS-1",
    title: "Every certificate name of the namespace lies inside the DNS domains delegated to its body",
    field: "spec.tls.hostnames",
};
/// TENANCY-ADM-1.
pub const ADMISSION_POLICIES: Check = Check {
    id: "TENANCY-ADM-1",
    title: "The project's admission policies are installed and bound with validationActions Deny",
    field: "",
};

/// Every check this module decides, in report order.
pub const CHECKS: [Check; 25] = [
    CLUSTER_RESOURCES,
    MULTITENANT_RESOURCES,
    QUOTA_MODIFICATION,
    OTHER_TENANTS,
    ROLE_ESCALATION,
    SYSTEM_GROUPS,
    ADD_CAPABILITIES,
    RUN_AS_NON_ROOT,
    PRIVILEGED_CONTAINERS,
    PRIVILEGE_ESCALATION,
    HOST_PATH,
    NODE_PORTS,
    HOST_NETWORK,
    HOST_PID,
    HOST_IPC,
    RESOURCE_QUOTAS,
    OBJECT_LIMITS,
    CROSS_TENANT_DENY,
    DEFAULT_DENY,
    EGRESS_CATALOGUE,
    CONSENT,
    INGRESS_SOURCES,
    LIMIT_RANGE,
    DELEGATED_CERTIFICATES,
    ADMISSION_POLICIES,
];

/// A check's result before it is placed.
struct Verdict {
    outcome: Outcome,
    evidence: Vec<String>,
}

fn pass(evidence: impl Into<String>) -> Verdict {
    Verdict {
        outcome: Outcome::Pass,
        evidence: vec![evidence.into()],
    }
}

fn fail(evidence: Vec<String>) -> Verdict {
    Verdict {
        outcome: Outcome::Fail,
        evidence,
    }
}

fn not_applicable(evidence: impl Into<String>) -> Verdict {
    Verdict {
        outcome: Outcome::NotApplicable,
        evidence: vec![evidence.into()],
    }
}

/// What the checks need besides the model.
pub struct Inputs<'a> {
    /// The reachability computed for the report.
    pub reachability: &'a Reachability,
    /// Each tenant namespace's consent partners (namespaces both tenants agreed on).
    pub partners: &'a HashMap<usize, BTreeSet<usize>>,
    /// Names of the admission policies the project ships.
    pub expected_admission_policies: &'a [String],
    /// The RBAC objects, indexed.
    pub rbac: &'a Rbac,
}

/// Runs every check on every tenant namespace, and the cluster-wide ones.
pub fn run(model: &Model, index: &mut NamespaceIndex, inputs: &Inputs) -> Vec<CheckResult> {
    let quotas = by_namespace(&model.snapshot.resource_quotas);
    let limit_ranges = by_namespace(&model.snapshot.limit_ranges);
    // For each tenant namespace, the tenant namespaces it is reached from and reaches.
    let mut allowed_in: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut allowed_out: HashMap<usize, Vec<usize>> = HashMap::new();
    for pair in inputs
        .reachability
        .pairs
        .iter()
        .filter(|p| p.verdict.allowed())
    {
        allowed_in.entry(pair.to).or_default().push(pair.from);
        allowed_out.entry(pair.from).or_default().push(pair.to);
    }
    let no_partners = BTreeSet::new();
    let managed_objects_protected =
        enforced(model, super::platform::MANAGED_OBJECTS_POLICY).is_some();
    let system_groups_everywhere = system_groups_cluster_wide(inputs.rbac);
    let managed = managed_objects(model);
    let delegations = Delegations::new(&model.snapshot.delegations);
    let mut results = Vec::new();
    for &n in &model.tenant_namespaces {
        let namespace = &model.namespaces[n];
        let place = |check: Check, verdict: Verdict| CheckResult {
            id: check.id.to_string(),
            title: check.title.to_string(),
            namespace: Some(namespace.name.clone()),
            result: verdict.outcome,
            evidence: verdict.evidence,
            source: namespace.tenant.as_ref().and_then(|t| {
                model.tenants.contains_key(t).then(|| Source {
                    tenant: t.clone(),
                    field: check.field.to_string(),
                })
            }),
        };
        let level = pod_security_level(&namespace.labels);
        for (check, needed) in [
            (ADD_CAPABILITIES, Level::Restricted),
            (RUN_AS_NON_ROOT, Level::Restricted),
            (PRIVILEGED_CONTAINERS, Level::Baseline),
            (PRIVILEGE_ESCALATION, Level::Restricted),
            (HOST_PATH, Level::Baseline),
            (HOST_NETWORK, Level::Baseline),
            (HOST_PID, Level::Baseline),
            (HOST_IPC, Level::Baseline),
        ] {
            results.push(place(check, pod_security(&namespace.labels, level, needed)));
        }
        let quotas_here: &[&ResourceQuota] = quotas
            .get(namespace.name.as_str())
            .map_or(&[], Vec::as_slice);
        results.push(place(
            NODE_PORTS,
            node_ports(&namespace.labels, quotas_here),
        ));
        results.push(place(
            RESOURCE_QUOTAS,
            quota_covers(
                quotas_here,
                &[
                    &["requests.cpu", "cpu", "limits.cpu"],
                    &["requests.memory", "memory", "limits.memory"],
                    &["requests.storage"],
                ],
            ),
        ));
        results.push(place(
            OBJECT_LIMITS,
            quota_covers(
                quotas_here,
                &[
                    &["pods", "count/pods"],
                    &["services", "count/services"],
                    &["persistentvolumeclaims", "count/persistentvolumeclaims"],
                    &["services.loadbalancers"],
                    &["services.nodeports"],
                ],
            ),
        ));
        let partners = inputs.partners.get(&n).unwrap_or(&no_partners);
        let incoming = allowed_in.get(&n).map_or(&[][..], Vec::as_slice);
        let outgoing = allowed_out.get(&n).map_or(&[][..], Vec::as_slice);
        results.push(place(
            CROSS_TENANT_DENY,
            cross_tenant(model, n, incoming, partners),
        ));
        results.push(place(DEFAULT_DENY, default_deny(model, n)));
        results.push(place(
            EGRESS_CATALOGUE,
            egress_catalogue(model, index, n, partners),
        ));
        results.push(place(
            CONSENT,
            consent(model, n, incoming, outgoing, partners),
        ));
        results.push(place(
            INGRESS_SOURCES,
            ingress_sources(model, index, n, partners),
        ));
        let ranges: &[&LimitRange] = limit_ranges
            .get(namespace.name.as_str())
            .map_or(&[], Vec::as_slice);
        results.push(place(LIMIT_RANGE, limit_range(ranges)));
        results.push(place(
            DELEGATED_CERTIFICATES,
            delegated_certificates(model, n, &delegations),
        ));
        let rbac = inputs.rbac;
        // Each tenant subject's rights here, resolved once for every RBAC check.
        let holders: Vec<Holder> = tenant_subjects(model, rbac, n)
            .into_iter()
            .map(|subject| (subject, rbac.rights(subject, &namespace.name)))
            .collect();
        let objects = managed
            .get(namespace.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        results.push(place(CLUSTER_RESOURCES, cluster_resources(&holders)));
        results.push(place(
            MULTITENANT_RESOURCES,
            multitenant_resources(
                &namespace.name,
                &holders,
                objects,
                managed_objects_protected,
            ),
        ));
        results.push(place(
            QUOTA_MODIFICATION,
            quota_modification(&namespace.name, &holders),
        ));
        results.push(place(
            OTHER_TENANTS,
            other_tenants(model, rbac, n, &holders),
        ));
        results.push(place(
            ROLE_ESCALATION,
            role_escalation(&namespace.name, &holders),
        ));
        results.push(place(
            SYSTEM_GROUPS,
            system_groups(rbac, n, &system_groups_everywhere),
        ));
    }
    let verdict = admission_policies(model, inputs.expected_admission_policies);
    results.push(CheckResult {
        id: ADMISSION_POLICIES.id.to_string(),
        title: ADMISSION_POLICIES.title.to_string(),
        namespace: None,
        result: verdict.outcome,
        evidence: verdict.evidence,
        source: None,
    });
    results
}

/// The DNS names of the namespace's certificate, from its TenantService (the hostnames,
/// with the environment's prefix outside production, as render requests them, and the
/// names of the certificates its status reports issued: a live cluster may hold one issued
/// before a delegation was narrowed), each inside a domain delegated to the tenant's body.
fn delegated_certificates(model: &Model, n: usize, delegations: &Delegations) -> Verdict {
    let Some(tenant) = model.tenant_of(n) else {
        return not_applicable("the namespace's TenantService is not among the inputs");
    };
    let environment = model.namespaces[n]
        .labels
        .get(labels::ENVIRONMENT)
        .map_or("", String::as_str);
    let production = tenant.spec.is_production(environment);
    let mut names: BTreeSet<String> = tenant
        .spec
        .tls
        .iter()
        .flat_map(|tls| &tls.hostnames)
        .map(|host| labels::certificate_dns_name(host, environment, production))
        .collect();
    if let Some(status) = &tenant.status {
        names.extend(
            status
                .certificates
                .iter()
                .filter(|c| c.environment == environment)
                .flat_map(|c| c.dns_names.iter().cloned()),
        );
    }
    if names.is_empty() {
        return not_applicable("no certificate: the tenant lists no hostname");
    }
    let ipa_code = &tenant.spec.entity.ipa_code;
    let domains = delegations.domains_of(ipa_code);
    let delegated = if domains.is_empty() {
        "none".to_string()
    } else {
        domains.join(", ")
    };
    let outside: Vec<String> = names
        .iter()
        .filter(|name| !domains.iter().any(|domain| is_within(name, domain)))
        .map(|name| format!("{name} is outside the domains delegated to {ipa_code} ({delegated})"))
        .collect();
    if outside.is_empty() {
        pass(format!(
            "{} inside the domains delegated to {ipa_code} ({delegated})",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ))
    } else {
        fail(outside)
    }
}

fn by_namespace<K: kube::Resource>(objects: &[K]) -> HashMap<&str, Vec<&K>> {
    let mut map: HashMap<&str, Vec<&K>> = HashMap::new();
    for o in objects {
        if let Some(ns) = o.meta().namespace.as_deref() {
            map.entry(ns).or_default().push(o);
        }
    }
    map
}

/// Pod Security Standards levels, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Privileged,
    Baseline,
    Restricted,
}

/// The enforced level; an absent or unknown label means `privileged`, Pod Security
/// admission's default (a cluster-wide default set in the API server's admission
/// configuration is not an object, so the audit cannot see it).
fn pod_security_level(labels: &BTreeMap<String, String>) -> Level {
    match labels.get(labels::POD_SECURITY_ENFORCE).map(String::as_str) {
        Some("restricted") => Level::Restricted,
        Some("baseline") => Level::Baseline,
        _ => Level::Privileged,
    }
}

fn pod_security(labels: &BTreeMap<String, String>, level: Level, needed: Level) -> Verdict {
    let shown = labels.get(labels::POD_SECURITY_ENFORCE).map_or(
        format!("no {} label (privileged)", labels::POD_SECURITY_ENFORCE),
        |v| format!("{}={v}", labels::POD_SECURITY_ENFORCE),
    );
    let needed_name = match needed {
        Level::Restricted => "restricted",
        _ => "baseline",
    };
    if level >= needed {
        pass(format!(
            "{shown}: Pod Security admission refuses such pods at level {needed_name} and above"
        ))
    } else {
        fail(vec![format!(
            "{shown}: Pod Security admission refuses such pods only at level {needed_name} and above"
        )])
    }
}

/// Quotas without scopes: they bound every object of the namespace.
fn unscoped<'q>(quotas: &[&'q ResourceQuota]) -> impl Iterator<Item = &'q ResourceQuota> {
    quotas.iter().copied().filter(|q| {
        q.spec.as_ref().is_some_and(|s| {
            s.scopes.as_ref().is_none_or(Vec::is_empty) && s.scope_selector.is_none()
        })
    })
}

/// Whether the quotas bound each group of resources (any name of a group will do).
fn quota_covers(quotas: &[&ResourceQuota], groups: &[&[&str]]) -> Verdict {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for group in groups {
        let hit = unscoped(quotas).find_map(|q| {
            let hard = q.spec.as_ref()?.hard.as_ref()?;
            group.iter().find_map(|r| {
                hard.get(*r)
                    .map(|v| format!("{}: {r}={}", q.name_any(), v.0))
            })
        });
        match hit {
            Some(h) => found.push(h),
            None => missing.push(group.join(" or ")),
        }
    }
    if missing.is_empty() {
        Verdict {
            outcome: Outcome::Pass,
            evidence: found,
        }
    } else {
        fail(vec![format!(
            "no ResourceQuota without scopes bounds {}",
            missing.join(", ")
        )])
    }
}

fn node_ports(labels: &BTreeMap<String, String>, quotas: &[&ResourceQuota]) -> Verdict {
    if labels.get(labels::ALLOW_NODE_PORT).map(String::as_str) == Some("true") {
        return fail(vec![format!(
            "the namespace is labelled {}=true: its class allows NodePort Services",
            labels::ALLOW_NODE_PORT
        )]);
    }
    let zero = unscoped(quotas).find(|q| {
        q.spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .and_then(|h| h.get("services.nodeports"))
            .is_some_and(|v| v.0 == "0")
    });
    match zero {
        Some(q) => pass(format!(
            "ResourceQuota {} allows services.nodeports=0, and the namespace lacks {}=true",
            q.name_any(),
            labels::ALLOW_NODE_PORT
        )),
        None => fail(vec![
            "no ResourceQuota sets services.nodeports to 0".to_string(),
        ]),
    }
}

fn limit_range(ranges: &[&LimitRange]) -> Verdict {
    let complete = ranges.iter().find(|lr| {
        lr.spec.as_ref().is_some_and(|s| {
            s.limits.iter().any(|item| {
                item.type_ == "Container"
                    && [&item.default, &item.default_request].iter().all(|m| {
                        m.as_ref()
                            .is_some_and(|m| m.contains_key("cpu") && m.contains_key("memory"))
                    })
            })
        })
    });
    match complete {
        Some(lr) => pass(format!(
            "LimitRange {} sets container defaults and default requests for cpu and memory",
            lr.name_any()
        )),
        None => fail(vec![
            "no LimitRange sets container default and defaultRequest for both cpu and memory"
                .to_string(),
        ]),
    }
}

fn names(model: &Model, namespaces: &[usize]) -> String {
    let mut list: Vec<&str> = namespaces
        .iter()
        .map(|&n| model.namespaces[n].name.as_str())
        .collect();
    list.sort_unstable();
    list.join(", ")
}

fn cross_tenant(
    model: &Model,
    n: usize,
    incoming: &[usize],
    partners: &BTreeSet<usize>,
) -> Verdict {
    let tenant = &model.namespaces[n].tenant;
    let intruders: Vec<usize> = incoming
        .iter()
        .copied()
        .filter(|from| model.namespaces[*from].tenant != *tenant && !partners.contains(from))
        .collect();
    if !intruders.is_empty() {
        return fail(vec![format!(
            "reachable from other tenants without consent: {}",
            names(model, &intruders)
        )]);
    }
    let consented: Vec<usize> = incoming
        .iter()
        .copied()
        .filter(|f| partners.contains(f))
        .collect();
    if consented.is_empty() {
        pass("no namespace of another tenant reaches it")
    } else {
        pass(format!(
            "reachable only from consenting tenants: {}",
            names(model, &consented)
        ))
    }
}

fn default_deny(model: &Model, n: usize) -> Verdict {
    let policies = &model.policies[n];
    let mut evidence = Vec::new();
    let mut failed = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        let (isolated, isolating) = netpol::isolation(policies, direction, Pod::Any);
        let word = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        if isolated == Tri::Yes {
            let selecting_all: Vec<String> = isolating
                .iter()
                .filter(|&&i| policies[i].pod_selector.is_everything())
                .map(|&i| model.policy_name(n, i))
                .collect();
            evidence.push(format!(
                "{word} of every pod isolated by {}",
                selecting_all.join(", ")
            ));
        } else {
            failed.push(format!("{word}: no policy selecting every pod isolates it"));
        }
    }
    if failed.is_empty() {
        Verdict {
            outcome: Outcome::Pass,
            evidence,
        }
    } else {
        fail(failed)
    }
}

/// Where a tenant may send traffic outside its namespace: its resolved egress entries
/// (or, without its TenantService, its class catalogue), DNS, and its consent partners.
fn egress_catalogue(
    model: &Model,
    index: &mut NamespaceIndex,
    n: usize,
    partners: &BTreeSet<usize>,
) -> Verdict {
    let Some(class) = model.class_of(n) else {
        return not_applicable(format!(
            "the TenantClass of {} is not among the inputs, so its catalogue is unknown",
            model.namespaces[n].name
        ));
    };
    let entitled: Vec<(ipnet::IpNet, PortSet)> = match model.tenant_of(n) {
        Some(tenant) => match network::egress_destinations(tenant, class) {
            Ok(destinations) => destinations
                .iter()
                .flat_map(|d| {
                    let ports = tcp_ports(&d.ports);
                    d.cidrs.iter().map(move |c| (*c, ports.clone()))
                })
                .collect(),
            Err(e) => return fail(vec![format!("the egress allowlist does not resolve: {e}")]),
        },
        None => class
            .spec
            .egress_destinations
            .iter()
            .flat_map(|d| {
                let ports = tcp_ports(
                    &d.ports
                        .iter()
                        .filter_map(|p| u16::try_from(*p).ok())
                        .collect::<Vec<_>>(),
                );
                d.cidrs
                    .iter()
                    .filter_map(|c| c.parse::<ipnet::IpNet>().ok())
                    .map(move |c| (c.trunc(), ports.clone()))
            })
            .collect(),
    };
    let platform = &model.settings.platform;
    let dns_namespace = model.platform_namespaces.dns;
    let dns_ports = reachability::dns_ports();
    let beyond = peers_beyond(
        model,
        index,
        n,
        Direction::Egress,
        |block, ports| {
            let within: Vec<ipnet::IpNet> = entitled
                .iter()
                .filter(|(_, allowed)| ports.intersect(allowed) == *ports)
                .map(|(c, _)| *c)
                .chain(block.except.iter().copied())
                .collect();
            netpol::covered_by(&block.cidr, &within)
        },
        |m, pods, ports| {
            let to_dns = m == dns_namespace
                && !pods.is_everything()
                && pods.matches(&platform.dns_pod_labels)
                && ports.intersect(&dns_ports) == *ports;
            m == n || to_dns || partners.contains(&m)
        },
    );
    if beyond.is_empty() {
        pass(format!(
            "every egress rule stays within DNS, the namespace itself, consenting tenants and {} catalogue network(s)",
            entitled.len()
        ))
    } else {
        fail(beyond)
    }
}

/// Where a tenant may accept traffic from: its own namespace, the ingress gateway, the
/// monitoring stack and its consent partners; never addresses (traffic from outside the
/// cluster enters through the gateway).
fn ingress_sources(
    model: &Model,
    index: &mut NamespaceIndex,
    n: usize,
    partners: &BTreeSet<usize>,
) -> Verdict {
    let platform = model.platform_namespaces;
    let beyond = peers_beyond(
        model,
        index,
        n,
        Direction::Ingress,
        |_, _| false,
        |m, _, _| {
            m == n
                || m == platform.ingress_gateway
                || m == platform.monitoring
                || partners.contains(&m)
        },
    );
    if beyond.is_empty() {
        pass(
            "every ingress rule admits only the namespace itself, the ingress gateway, monitoring and consenting tenants",
        )
    } else {
        fail(beyond)
    }
}

/// The peers of the `direction` rules of namespace `n`'s policies that are not allowed:
/// `ip_allowed` judges an `ipBlock` with the rule's ports, `namespace_allowed` a namespace
/// (with the peer's pod selector and the rule's ports). A rule without peers, or a
/// namespace selector that picks every namespace (also those created later), is never
/// allowed.
fn peers_beyond(
    model: &Model,
    index: &mut NamespaceIndex,
    n: usize,
    direction: Direction,
    ip_allowed: impl Fn(&netpol::IpBlock, &PortSet) -> bool,
    namespace_allowed: impl Fn(usize, &super::selector::Selector, &PortSet) -> bool,
) -> Vec<String> {
    let (word, preposition) = match direction {
        Direction::Ingress => ("ingress", "from"),
        Direction::Egress => ("egress", "to"),
    };
    let mut beyond = Vec::new();
    for (i, policy) in model.policies[n].iter().enumerate() {
        let Some(rules) = policy.rules(direction) else {
            continue;
        };
        if policy.pod_selector.matches_unknown() == Tri::No {
            continue;
        }
        let at = model.policy_name(n, i);
        for rule in rules {
            let ports = &rule.ports;
            let Some(peers) = &rule.peers else {
                beyond.push(format!("{at}: {word} {preposition} everywhere on {ports}"));
                continue;
            };
            for peer in peers {
                match peer {
                    Peer::IpBlock(block) => {
                        if !ip_allowed(block, ports) {
                            beyond.push(format!("{at}: {word} {preposition} {block} on {ports}"));
                        }
                    }
                    Peer::Pods { pods, .. } if pods.matches_unknown() == Tri::No => {}
                    Peer::Pods {
                        namespaces: None, ..
                    } => {}
                    Peer::Pods {
                        namespaces: Some(selector),
                        pods,
                    } if selector.is_everything() => {
                        beyond.push(format!(
                            "{at}: {word} {preposition} pods {pods} of every namespace on {ports}"
                        ));
                    }
                    Peer::Pods {
                        namespaces: Some(selector),
                        pods,
                    } => {
                        for &m in index.select(selector).iter() {
                            if !namespace_allowed(m, pods, ports) {
                                beyond.push(format!(
                                    "{at}: {word} {preposition} pods {pods} of namespace {} on {ports}",
                                    model.namespaces[m].name
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    beyond
}

fn tcp_ports(ports: &[u16]) -> PortSet {
    ports.iter().fold(PortSet::empty(), |set, p| {
        set.union(&PortSet::numbers(
            super::ports::Protocol::Tcp,
            super::ports::Ranges::range(*p, *p),
        ))
    })
}

fn consent(
    model: &Model,
    n: usize,
    incoming: &[usize],
    outgoing: &[usize],
    partners: &BTreeSet<usize>,
) -> Verdict {
    let name = &model.namespaces[n].name;
    let mut problems = Vec::new();
    let strangers_in: Vec<usize> = incoming
        .iter()
        .copied()
        .filter(|f| !partners.contains(f))
        .collect();
    if !strangers_in.is_empty() {
        problems.push(format!(
            "reached without consent from {}",
            names(model, &strangers_in)
        ));
    }
    let strangers_out: Vec<usize> = outgoing
        .iter()
        .copied()
        .filter(|t| !partners.contains(t))
        .collect();
    if !strangers_out.is_empty() {
        problems.push(format!(
            "reaches without consent {}",
            names(model, &strangers_out)
        ));
    }
    for &p in partners {
        let peer = &model.namespaces[p].name;
        if !incoming.contains(&p) {
            problems.push(format!(
                "{peer} and {name} consent, but {peer} -> {name} is blocked"
            ));
        }
        if !outgoing.contains(&p) {
            problems.push(format!(
                "{peer} and {name} consent, but {name} -> {peer} is blocked"
            ));
        }
    }
    if !problems.is_empty() {
        return fail(problems);
    }
    if partners.is_empty() {
        pass("no consent given or received; no other tenant namespace reaches it or is reached")
    } else {
        let list: Vec<usize> = partners.iter().copied().collect();
        pass(format!(
            "reaches and is reached by exactly its consenting peers: {}",
            names(model, &list)
        ))
    }
}

fn admission_policies(model: &Model, expected: &[String]) -> Verdict {
    let mut evidence = Vec::new();
    let mut missing = Vec::new();
    for name in expected {
        let installed = model
            .snapshot
            .admission_policies
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(name));
        match (installed, enforced(model, name)) {
            (true, Some(binding)) => evidence.push(format!("{name}: bound by {binding} with Deny")),
            (false, _) => missing.push(format!("{name}: not installed")),
            (true, None) => missing.push(format!("{name}: installed but no binding denies")),
        }
    }
    if missing.is_empty() {
        Verdict {
            outcome: Outcome::Pass,
            evidence,
        }
    } else {
        fail(missing)
    }
}

/// Each tenant namespace's consent partners: the namespaces of other tenants that its
/// TenantService and theirs both name (see [`network::consents`]).
pub fn consent_partners(model: &Model) -> HashMap<usize, BTreeSet<usize>> {
    let mut by_tenant_environment: HashMap<(&str, &str), usize> = HashMap::new();
    let mut by_tenant: HashMap<&str, Vec<usize>> = HashMap::new();
    for &n in &model.tenant_namespaces {
        let ns = &model.namespaces[n];
        if let Some(t) = &ns.tenant {
            by_tenant.entry(t).or_default().push(n);
            if let Some(e) = &ns.environment {
                by_tenant_environment.insert((t, e), n);
            }
        }
    }
    let mut partners: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for &n in &model.tenant_namespaces {
        let ns = &model.namespaces[n];
        let (Some(tenant), Some(environment)) = (model.tenant_of(n), &ns.environment) else {
            continue;
        };
        if tenant
            .spec
            .network
            .as_ref()
            .is_none_or(|net| net.allow_from.is_empty())
        {
            continue;
        }
        for (peer, environments) in network::consents(tenant, environment, &model.snapshot.tenants)
        {
            let found: Vec<usize> = match environments {
                None => by_tenant.get(peer.as_str()).cloned().unwrap_or_default(),
                Some(list) => list
                    .iter()
                    .filter_map(|e| {
                        by_tenant_environment
                            .get(&(peer.as_str(), e.as_str()))
                            .copied()
                    })
                    .collect(),
            };
            partners.entry(n).or_default().extend(found);
        }
    }
    partners
}

/// The binding that enforces the admission policy `name` with `Deny`, when the policy is
/// installed.
fn enforced(model: &Model, name: &str) -> Option<String> {
    let installed = model
        .snapshot
        .admission_policies
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some(name));
    let binding = model.snapshot.admission_policy_bindings.iter().find(|b| {
        b.spec.as_ref().is_some_and(|s| {
            s.policy_name.as_deref() == Some(name)
                && s.validation_actions.iter().flatten().any(|a| a == "Deny")
        })
    });
    installed
        .then_some(binding)
        .flatten()
        .map(kube::ResourceExt::name_any)
}

/// The subjects a tenant namespace's RoleBindings name, except the platform's.
fn tenant_subjects<'r>(model: &Model, rbac: &'r Rbac, n: usize) -> Vec<&'r SubjectKey> {
    rbac.bound_in
        .get(&n)
        .into_iter()
        .flat_map(|subjects| subjects.keys())
        .filter(|s| !Rbac::is_platform(model, s))
        .collect()
}

/// A tenant subject and what it holds in the namespace being checked.
type Holder<'r> = (&'r SubjectKey, Rights<'r>);

fn no_subjects(holders: &[Holder]) -> Option<Verdict> {
    holders
        .is_empty()
        .then(|| pass("no RoleBinding of the namespace names a tenant subject"))
}

fn subject_list(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(|(s, _)| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn cluster_resources(holders: &[Holder]) -> Verdict {
    if let Some(v) = no_subjects(holders) {
        return v;
    }
    let mut grants = Vec::new();
    for (subject, rights) in holders {
        for (group, resource) in access::CLUSTER_SCOPED {
            let verbs: Vec<&str> = access::VERBS
                .iter()
                .copied()
                .filter(|v| rights.allows(&rbac::Attributes::resource(v, group, resource)))
                .collect();
            if !verbs.is_empty() {
                let qualified = if group.is_empty() {
                    resource.to_string()
                } else {
                    format!("{group}/{resource}")
                };
                grants.push(format!("{subject} may {} {qualified}", verbs.join(",")));
            }
        }
    }
    if grants.is_empty() {
        pass(format!(
            "no ClusterRoleBinding gives {} a verb on a cluster-scoped resource",
            subject_list(holders)
        ))
    } else {
        fail(grants)
    }
}

/// An object the operator manages: (API group, resource, name).
type Managed<'s> = (&'static str, &'static str, &'s str);

/// The objects the operator manages (by their managed-by label), by namespace.
fn managed_objects<'s>(model: &Model<'s>) -> HashMap<&'s str, Vec<Managed<'s>>> {
    fn add<'s, K: kube::Resource>(
        map: &mut HashMap<&'s str, Vec<Managed<'s>>>,
        objects: &'s [K],
        group: &'static str,
        resource: &'static str,
    ) {
        for o in objects {
            let meta = o.meta();
            let managed = meta
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::MANAGED_BY_KEY))
                .is_some_and(|v| v == labels::MANAGED_BY_VALUE);
            if let (true, Some(namespace)) = (managed, meta.namespace.as_deref()) {
                let name = meta.name.as_deref().unwrap_or_default();
                map.entry(namespace)
                    .or_default()
                    .push((group, resource, name));
            }
        }
    }
    let s = model.snapshot;
    let mut map = HashMap::new();
    add(
        &mut map,
        &s.network_policies,
        "networking.k8s.io",
        "networkpolicies",
    );
    add(&mut map, &s.resource_quotas, "", "resourcequotas");
    add(&mut map, &s.limit_ranges, "", "limitranges");
    add(&mut map, &s.roles, "rbac.authorization.k8s.io", "roles");
    add(
        &mut map,
        &s.role_bindings,
        "rbac.authorization.k8s.io",
        "rolebindings",
    );
    map
}

fn multitenant_resources(
    namespace: &str,
    holders: &[Holder],
    objects: &[Managed],
    protected: bool,
) -> Verdict {
    if let Some(v) = no_subjects(holders) {
        return v;
    }
    let mut allowed = Vec::new();
    for (subject, rights) in holders {
        for (group, resource, name) in objects {
            let verbs: Vec<&str> = ["update", "patch", "delete"]
                .into_iter()
                .filter(|v| {
                    rights.allows(
                        &rbac::Attributes::resource(v, group, resource)
                            .in_namespace(namespace)
                            .named(name),
                    )
                })
                .collect();
            if !verbs.is_empty() {
                allowed.push(format!(
                    "RBAC lets {subject} {} {resource}/{name}",
                    verbs.join(",")
                ));
            }
        }
    }
    if allowed.is_empty() {
        return pass(format!(
            "RBAC lets none of {} update, patch or delete the {} managed object(s)",
            subject_list(holders),
            objects.len()
        ));
    }
    if protected {
        allowed.push(format!(
            "admission policy {} (bound with Deny) refuses changes to managed objects by anyone but the operator",
            super::platform::MANAGED_OBJECTS_POLICY
        ));
        Verdict {
            outcome: Outcome::Pass,
            evidence: allowed,
        }
    } else {
        fail(allowed)
    }
}

fn quota_modification(namespace: &str, holders: &[Holder]) -> Verdict {
    if let Some(v) = no_subjects(holders) {
        return v;
    }
    let mut allowed = Vec::new();
    for (subject, rights) in holders {
        let verbs: Vec<&str> = access::WRITE_VERBS
            .into_iter()
            .filter(|v| {
                rights.allows(
                    &rbac::Attributes::resource(v, "", "resourcequotas").in_namespace(namespace),
                )
            })
            .collect();
        if !verbs.is_empty() {
            allowed.push(format!("{subject} may {} resourcequotas", verbs.join(",")));
        }
    }
    if allowed.is_empty() {
        pass(format!(
            "none of {} may create, update, patch or delete resourcequotas",
            subject_list(holders)
        ))
    } else {
        fail(allowed)
    }
}

fn other_tenants(model: &Model, rbac: &Rbac, n: usize, holders: &[Holder]) -> Verdict {
    if let Some(v) = no_subjects(holders) {
        return v;
    }
    let tenant = &model.namespaces[n].tenant;
    let mut found = Vec::new();
    for (subject, rights) in holders {
        let elsewhere: Vec<usize> = rbac
            .namespaces_of
            .get(*subject)
            .into_iter()
            .flatten()
            .copied()
            .filter(|m| model.namespaces[*m].tenant != *tenant)
            .collect();
        if !elsewhere.is_empty() {
            found.push(format!(
                "{subject} is bound in {}",
                names(model, &elsewhere)
            ));
        }
        if rights.cluster.iter().any(access::grants_namespaced) {
            let bindings = rbac
                .cluster_wide
                .get(*subject)
                .map(|b| b.join(", "))
                .unwrap_or_default();
            found.push(format!(
                "{subject} holds rights in every namespace through ClusterRoleBinding {bindings}"
            ));
        }
    }
    if found.is_empty() {
        pass(format!(
            "{} hold rights only in this tenant's namespaces",
            subject_list(holders)
        ))
    } else {
        fail(found)
    }
}

fn role_escalation(namespace: &str, holders: &[Holder]) -> Verdict {
    if let Some(v) = no_subjects(holders) {
        return v;
    }
    let found: Vec<String> = holders
        .iter()
        .filter_map(|(s, rights)| {
            access::escalation(rights, namespace).map(|how| format!("{s} may {how}"))
        })
        .collect();
    if found.is_empty() {
        pass(format!(
            "none of {} may escalate or bind roles, or impersonate",
            subject_list(holders)
        ))
    } else {
        fail(found)
    }
}

/// `system:` groups (other than `system:masters`) that ClusterRoleBindings give rights on
/// namespaced resources: they hold them in every namespace.
fn system_groups_cluster_wide(rbac: &Rbac) -> Vec<String> {
    rbac.cluster_wide
        .iter()
        .filter(|(s, _)| s.is_system_group())
        .filter(|(s, _)| rbac.cluster_rules(s).iter().any(access::grants_namespaced))
        .map(|(s, bindings)| {
            format!(
                "{s} holds rights in every namespace through ClusterRoleBinding {}",
                bindings.join(", ")
            )
        })
        .collect()
}

fn system_groups(rbac: &Rbac, n: usize, everywhere: &[String]) -> Verdict {
    let mut found: Vec<String> = rbac
        .bound_in
        .get(&n)
        .into_iter()
        .flatten()
        .filter(|(s, _)| s.is_system_group())
        .map(|(s, bindings)| format!("{s} is bound by {}", bindings.join(", ")))
        .collect();
    found.extend(everywhere.iter().cloned());
    if found.is_empty() {
        pass(
            "no system: group other than system:masters is bound here or holds rights in every namespace",
        )
    } else {
        fail(found)
    }
}
