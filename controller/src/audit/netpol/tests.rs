//! Cases of the upstream NetworkPolicy documentation ("Network Policies" concept page and
//! the API reference) and of the `kubernetes-sigs/network-policy-api` conformance suite's
//! wording (server pods in the gryffindor namespace, clients in slytherin), each rule with
//! a connection it allows and one it denies.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::audit::selector::tests::labels;

fn policy(yaml: &str) -> Policy {
    let np: NetworkPolicy = serde_saphyr::from_str(yaml).expect("test policy parses");
    Policy::from_k8s(&np).expect("test policy is valid")
}

fn refused(yaml: &str) -> PolicyError {
    let np: NetworkPolicy = serde_saphyr::from_str(yaml).expect("test policy parses");
    Policy::from_k8s(&np).expect_err("invalid policy")
}

/// A namespace with its name label, as the API server sets it.
struct Ns {
    name: String,
    labels: Labels,
}

fn ns(name: &str, extra: &[(&str, &str)]) -> Ns {
    let mut l = labels(extra);
    l.insert("kubernetes.io/metadata.name".into(), name.into());
    Ns {
        name: name.into(),
        labels: l,
    }
}

fn pod<'a>(namespace: &'a Ns, pod_labels: &'a Labels) -> Endpoint<'a> {
    Endpoint::Pod {
        namespace: NamespaceRef {
            name: &namespace.name,
            labels: &namespace.labels,
        },
        pod: Pod::Labelled(pod_labels),
        ip: None,
    }
}

fn pod_at<'a>(namespace: &'a Ns, pod_labels: &'a Labels, ip: &str) -> Endpoint<'a> {
    Endpoint::Pod {
        namespace: NamespaceRef {
            name: &namespace.name,
            labels: &namespace.labels,
        },
        pod: Pod::Labelled(pod_labels),
        ip: Some(ip.parse::<IpAddr>().expect("ip")),
    }
}

fn any_pod(namespace: &Ns) -> Endpoint<'_> {
    Endpoint::Pod {
        namespace: NamespaceRef {
            name: &namespace.name,
            labels: &namespace.labels,
        },
        pod: Pod::Any,
        ip: None,
    }
}

fn external(cidr: &str) -> Endpoint<'static> {
    Endpoint::External(cidr.parse().expect("cidr"))
}

fn cluster() -> Cluster {
    Cluster {
        pod_networks: vec!["10.244.0.0/16".parse().expect("cidr")],
    }
}

/// Policies of every namespace, for [`connects`].
type Policies<'a> = BTreeMap<&'a str, Vec<Policy>>;

fn namespace_of<'a>(endpoint: &Endpoint<'a>) -> Option<&'a str> {
    match endpoint {
        Endpoint::Pod { namespace, .. } => Some(namespace.name),
        Endpoint::External(_) => None,
    }
}

/// Whether `source` can open a connection to `destination` on `protocol`/`port`; the
/// destination pod names its ports with `named`.
fn connects_named(
    policies: &Policies,
    source: &Endpoint,
    destination: &Endpoint,
    protocol: Protocol,
    port: u16,
    named: &[(&str, u16)],
) -> bool {
    let none = Vec::new();
    let of = |e: &Endpoint| {
        namespace_of(e)
            .and_then(|n| policies.get(n))
            .unwrap_or(&none)
    };
    let f = flow(of(source), of(destination), source, destination, &cluster());
    let resolve = |_: Protocol, name: &str| named.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
    assert_eq!(f.may, f.must, "known pods give a definite answer");
    f.may.contains(protocol, port, resolve)
}

fn connects(policies: &Policies, source: &Endpoint, destination: &Endpoint, port: u16) -> bool {
    connects_named(policies, source, destination, Protocol::Tcp, port, &[])
}

/// The documentation's first example: `role=db` pods of `default`, isolated both ways.
const DOCS_EXAMPLE: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: test-network-policy, namespace: default}
spec:
  podSelector:
    matchLabels: {role: db}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - ipBlock:
            cidr: 172.17.0.0/16
            except: [172.17.1.0/24]
        - namespaceSelector:
            matchLabels: {project: myproject}
        - podSelector:
            matchLabels: {role: frontend}
      ports:
        - {protocol: TCP, port: 6379}
  egress:
    - to:
        - ipBlock: {cidr: 10.0.0.0/24}
      ports:
        - {protocol: TCP, port: 5978}
";

#[test]
fn docs_example_ingress_from_a_pod_of_the_same_namespace_on_the_listed_port() {
    let default = ns("default", &[]);
    let (db, frontend, backend) = (
        labels(&[("role", "db")]),
        labels(&[("role", "frontend")]),
        labels(&[("role", "backend")]),
    );
    let policies = Policies::from([("default", vec![policy(DOCS_EXAMPLE)])]);
    assert!(connects(
        &policies,
        &pod(&default, &frontend),
        &pod(&default, &db),
        6379
    ));
    assert!(
        !connects(
            &policies,
            &pod(&default, &frontend),
            &pod(&default, &db),
            6380
        ),
        "another port"
    );
    assert!(
        !connects(
            &policies,
            &pod(&default, &backend),
            &pod(&default, &db),
            6379
        ),
        "another pod"
    );
}

#[test]
fn docs_example_ingress_from_any_pod_of_a_selected_namespace() {
    let default = ns("default", &[]);
    let mine = ns("myproject-ns", &[("project", "myproject")]);
    let other = ns("other-ns", &[("project", "other")]);
    let (db, anything) = (labels(&[("role", "db")]), labels(&[("app", "x")]));
    let policies = Policies::from([("default", vec![policy(DOCS_EXAMPLE)])]);
    assert!(connects(
        &policies,
        &pod(&mine, &anything),
        &pod(&default, &db),
        6379
    ));
    assert!(!connects(
        &policies,
        &pod(&other, &anything),
        &pod(&default, &db),
        6379
    ));
}

#[test]
fn docs_example_ip_block_except() {
    let default = ns("default", &[]);
    let db = labels(&[("role", "db")]);
    let policies = Policies::from([("default", vec![policy(DOCS_EXAMPLE)])]);
    assert!(connects(
        &policies,
        &external("172.17.0.5/32"),
        &pod(&default, &db),
        6379
    ));
    assert!(connects(
        &policies,
        &external("172.17.2.0/24"),
        &pod(&default, &db),
        6379
    ));
    assert!(
        !connects(
            &policies,
            &external("172.17.1.5/32"),
            &pod(&default, &db),
            6379
        ),
        "excepted"
    );
    assert!(
        !connects(
            &policies,
            &external("172.18.0.1/32"),
            &pod(&default, &db),
            6379
        ),
        "outside the cidr"
    );
}

#[test]
fn docs_example_egress_to_a_cidr_on_one_port() {
    let default = ns("default", &[]);
    let db = labels(&[("role", "db")]);
    let policies = Policies::from([("default", vec![policy(DOCS_EXAMPLE)])]);
    assert!(connects(
        &policies,
        &pod(&default, &db),
        &external("10.0.0.7/32"),
        5978
    ));
    assert!(!connects(
        &policies,
        &pod(&default, &db),
        &external("10.0.0.7/32"),
        5979
    ));
    assert!(!connects(
        &policies,
        &pod(&default, &db),
        &external("10.0.1.7/32"),
        5978
    ));
}

#[test]
fn docs_example_pods_no_policy_selects_are_not_isolated() {
    let default = ns("default", &[]);
    let (web, other) = (labels(&[("role", "web")]), labels(&[("role", "other")]));
    let policies = Policies::from([("default", vec![policy(DOCS_EXAMPLE)])]);
    assert!(connects(
        &policies,
        &pod(&default, &other),
        &pod(&default, &web),
        12345
    ));
    assert!(connects(
        &policies,
        &pod(&default, &web),
        &external("192.0.2.1/32"),
        1
    ));
}

#[test]
fn namespace_and_pod_selector_in_one_peer_means_both() {
    let alice_and = policy(
        "
metadata: {name: and, namespace: default}
spec:
  podSelector: {}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {user: alice}}
          podSelector: {matchLabels: {role: client}}
",
    );
    let default = ns("default", &[]);
    let alice = ns("alice-ns", &[("user", "alice")]);
    let (client, server, other) = (
        labels(&[("role", "client")]),
        labels(&[("app", "server")]),
        labels(&[("role", "other")]),
    );
    let policies = Policies::from([("default", vec![alice_and])]);
    assert!(connects(
        &policies,
        &pod(&alice, &client),
        &pod(&default, &server),
        80
    ));
    assert!(
        !connects(&policies, &pod(&alice, &other), &pod(&default, &server), 80),
        "pod does not match"
    );
    assert!(
        !connects(
            &policies,
            &pod(&default, &client),
            &pod(&default, &server),
            80
        ),
        "namespace does not match"
    );
}

#[test]
fn namespace_and_pod_selector_as_two_peers_means_either() {
    let alice_or = policy(
        "
metadata: {name: or, namespace: default}
spec:
  podSelector: {}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {user: alice}}
        - podSelector: {matchLabels: {role: client}}
",
    );
    let default = ns("default", &[]);
    let alice = ns("alice-ns", &[("user", "alice")]);
    let bob = ns("bob-ns", &[("user", "bob")]);
    let (client, server, other) = (
        labels(&[("role", "client")]),
        labels(&[("app", "server")]),
        labels(&[("role", "other")]),
    );
    let policies = Policies::from([("default", vec![alice_or])]);
    assert!(
        connects(&policies, &pod(&alice, &other), &pod(&default, &server), 80),
        "any pod of alice's namespaces"
    );
    assert!(
        connects(
            &policies,
            &pod(&default, &client),
            &pod(&default, &server),
            80
        ),
        "client pods of the own namespace"
    );
    assert!(
        !connects(&policies, &pod(&bob, &client), &pod(&default, &server), 80),
        "client pods elsewhere"
    );
}

#[test]
fn targeting_a_namespace_by_its_name_label() {
    let by_name = policy(
        "
metadata: {name: from-ops, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: {kubernetes.io/metadata.name: ops}
",
    );
    let default = ns("default", &[]);
    let (ops, dev) = (ns("ops", &[]), ns("dev", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("default", vec![by_name])]);
    assert!(connects(
        &policies,
        &pod(&ops, &any),
        &pod(&default, &any),
        22
    ));
    assert!(!connects(
        &policies,
        &pod(&dev, &any),
        &pod(&default, &any),
        22
    ));
}

#[test]
fn default_deny_ingress_leaves_egress_alone() {
    let deny = policy(
        "metadata: {name: default-deny-ingress, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
    );
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![deny])]);
    assert!(
        !connects(&policies, &pod(&b, &any), &pod(&a, &any), 80),
        "nothing comes in"
    );
    assert!(
        connects(&policies, &pod(&a, &any), &pod(&b, &any), 80),
        "everything goes out"
    );
}

#[test]
fn allow_all_ingress_with_an_empty_rule() {
    let deny = policy(
        "metadata: {name: deny, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
    );
    let allow = policy(
        "metadata: {name: allow-all-ingress, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{}]\n  policyTypes: [Ingress]\n",
    );
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let denied = Policies::from([("a", vec![deny.clone()])]);
    let allowed = Policies::from([("a", vec![deny, allow])]);
    assert!(!connects(&denied, &pod(&b, &any), &pod(&a, &any), 80));
    assert!(
        connects(&allowed, &pod(&b, &any), &pod(&a, &any), 80),
        "policies add up"
    );
}

#[test]
fn default_deny_egress_leaves_ingress_alone() {
    let deny = policy(
        "metadata: {name: default-deny-egress, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
    );
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![deny])]);
    assert!(
        !connects(&policies, &pod(&a, &any), &pod(&b, &any), 80),
        "nothing goes out"
    );
    assert!(!connects(
        &policies,
        &pod(&a, &any),
        &external("192.0.2.1/32"),
        443
    ));
    assert!(
        connects(&policies, &pod(&b, &any), &pod(&a, &any), 80),
        "everything comes in"
    );
}

#[test]
fn allow_all_egress_with_an_empty_rule() {
    let deny = policy(
        "metadata: {name: deny, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
    );
    let allow = policy(
        "metadata: {name: allow-all-egress, namespace: a}\nspec:\n  podSelector: {}\n  egress: [{}]\n  policyTypes: [Egress]\n",
    );
    let a = ns("a", &[]);
    let any = labels(&[]);
    let allowed = Policies::from([("a", vec![deny.clone(), allow])]);
    let denied = Policies::from([("a", vec![deny])]);
    assert!(connects(
        &allowed,
        &pod(&a, &any),
        &external("192.0.2.1/32"),
        443
    ));
    assert!(!connects(
        &denied,
        &pod(&a, &any),
        &external("192.0.2.1/32"),
        443
    ));
}

#[test]
fn default_deny_all_blocks_both_directions() {
    let deny = policy(
        "metadata: {name: default-deny-all, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
    );
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![deny])]);
    assert!(!connects(&policies, &pod(&a, &any), &pod(&b, &any), 80));
    assert!(!connects(&policies, &pod(&b, &any), &pod(&a, &any), 80));
    // A namespace without policies is open both ways.
    assert!(connects(&policies, &pod(&b, &any), &pod(&b, &any), 80));
}

#[test]
fn policy_types_default_to_ingress_plus_egress_when_there_are_egress_rules() {
    // No policyTypes and only egress rules: ingress is isolated too (with no rule, so
    // nothing comes in), egress to the listed block only.
    let egress_only = policy(
        "
metadata: {name: egress-rules, namespace: a}
spec:
  podSelector: {}
  egress:
    - to: [{ipBlock: {cidr: 192.0.2.0/24}}]
",
    );
    assert!(egress_only.ingress.is_some() && egress_only.egress.is_some());
    // No policyTypes and only ingress rules: egress is not isolated.
    let ingress_only = policy(
        "metadata: {name: ingress-rules, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{}]\n",
    );
    assert!(ingress_only.egress.is_none());
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![egress_only])]);
    assert!(
        !connects(&policies, &pod(&b, &any), &pod(&a, &any), 80),
        "ingress isolated by default"
    );
    assert!(connects(
        &policies,
        &pod(&a, &any),
        &external("192.0.2.9/32"),
        80
    ));
    assert!(!connects(
        &policies,
        &pod(&a, &any),
        &external("198.51.100.9/32"),
        80
    ));
}

#[test]
fn rules_of_a_direction_the_policy_types_omit_are_ignored() {
    let ingress_typed = policy(
        "
metadata: {name: ingress-only, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  egress:
    - to: [{ipBlock: {cidr: 192.0.2.0/24}}]
",
    );
    assert!(ingress_typed.egress.is_none());
    let a = ns("a", &[]);
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![ingress_typed])]);
    assert!(
        connects(&policies, &pod(&a, &any), &external("198.51.100.9/32"), 80),
        "egress not isolated"
    );
}

#[test]
fn a_port_range_from_port_to_end_port() {
    let range = policy(
        "
metadata: {name: multi-port-egress, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
      ports:
        - {protocol: TCP, port: 32000, endPort: 32768}
",
    );
    let default = ns("default", &[]);
    let db = labels(&[("role", "db")]);
    let policies = Policies::from([("default", vec![range])]);
    let to = external("10.0.0.1/32");
    for (port, expected) in [
        (31999, false),
        (32000, true),
        (32500, true),
        (32768, true),
        (32769, false),
    ] {
        assert_eq!(
            connects(&policies, &pod(&default, &db), &to, port),
            expected,
            "port {port}"
        );
    }
    assert!(
        !connects_named(
            &policies,
            &pod(&default, &db),
            &to,
            Protocol::Udp,
            32000,
            &[]
        ),
        "TCP only"
    );
}

#[test]
fn a_port_without_a_number_is_every_port_of_its_protocol() {
    let udp = policy(
        "
metadata: {name: udp, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - ports: [{protocol: UDP}]
",
    );
    let (a, b) = (ns("a", &[]), ns("b", &[]));
    let any = labels(&[]);
    let policies = Policies::from([("a", vec![udp])]);
    assert!(connects_named(
        &policies,
        &pod(&b, &any),
        &pod(&a, &any),
        Protocol::Udp,
        5353,
        &[]
    ));
    assert!(!connects_named(
        &policies,
        &pod(&b, &any),
        &pod(&a, &any),
        Protocol::Tcp,
        5353,
        &[]
    ));
}

// The conformance suite's model: server pods in gryffindor (`harry-potter`), clients in
// slytherin (`draco-malfoy`); each house namespace labelled `conformance-house`.

fn house(name: &str) -> Ns {
    ns(
        &format!("network-policy-conformance-{name}"),
        &[("conformance-house", name)],
    )
}

const DENY_ALL_GRYFFINDOR: &str = "metadata: {name: deny-all, namespace: network-policy-conformance-gryffindor}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";
const DENY_ALL_SLYTHERIN: &str = "metadata: {name: deny-all, namespace: network-policy-conformance-slytherin}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";

#[test]
fn conformance_traffic_needs_the_clients_egress_and_the_servers_ingress() {
    let (gryffindor, slytherin) = (house("gryffindor"), house("slytherin"));
    let harry = labels(&[("conformance-house", "gryffindor")]);
    let draco = labels(&[("conformance-house", "slytherin")]);
    let ingress_from_slytherin = policy(
        "
metadata: {name: allow-ingress-from-slytherin, namespace: network-policy-conformance-gryffindor}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {conformance-house: slytherin}}}]
",
    );
    let egress_to_gryffindor = policy(
        "
metadata: {name: allow-egress-to-gryffindor, namespace: network-policy-conformance-slytherin}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{namespaceSelector: {matchLabels: {conformance-house: gryffindor}}}]
",
    );
    let server_allows_only = Policies::from([
        (
            "network-policy-conformance-gryffindor",
            vec![policy(DENY_ALL_GRYFFINDOR), ingress_from_slytherin.clone()],
        ),
        (
            "network-policy-conformance-slytherin",
            vec![policy(DENY_ALL_SLYTHERIN)],
        ),
    ]);
    let both_allow = Policies::from([
        (
            "network-policy-conformance-gryffindor",
            vec![policy(DENY_ALL_GRYFFINDOR), ingress_from_slytherin],
        ),
        (
            "network-policy-conformance-slytherin",
            vec![policy(DENY_ALL_SLYTHERIN), egress_to_gryffindor],
        ),
    ]);
    let (client, server) = (pod(&slytherin, &draco), pod(&gryffindor, &harry));
    assert!(
        !connects(&server_allows_only, &client, &server, 80),
        "the client's egress is denied"
    );
    assert!(connects(&both_allow, &client, &server, 80));
    assert!(
        !connects(&both_allow, &server, &client, 80),
        "the reverse direction stays denied"
    );
}

#[test]
fn conformance_allow_ingress_at_a_named_port() {
    let (gryffindor, slytherin) = (house("gryffindor"), house("slytherin"));
    let harry = labels(&[("conformance-house", "gryffindor")]);
    let draco = labels(&[("conformance-house", "slytherin")]);
    let named = policy(
        "
metadata: {name: allow-web, namespace: network-policy-conformance-gryffindor}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {conformance-house: slytherin}}}]
      ports:
        - {protocol: TCP, port: web}
        - {protocol: UDP, port: dns}
",
    );
    let policies = Policies::from([("network-policy-conformance-gryffindor", vec![named])]);
    let (client, server) = (pod(&slytherin, &draco), pod(&gryffindor, &harry));
    // The server pods name TCP 80 `web` and UDP 53 `dns`.
    let ports = [("web", 80), ("dns", 53)];
    assert!(connects_named(
        &policies,
        &client,
        &server,
        Protocol::Tcp,
        80,
        &ports
    ));
    assert!(!connects_named(
        &policies,
        &client,
        &server,
        Protocol::Tcp,
        8080,
        &ports
    ));
    assert!(connects_named(
        &policies,
        &client,
        &server,
        Protocol::Udp,
        53,
        &ports
    ));
    assert!(!connects_named(
        &policies,
        &client,
        &server,
        Protocol::Udp,
        5353,
        &ports
    ));
    // Without the pods, the names are reported as such.
    let f = flow(
        &[],
        &policies["network-policy-conformance-gryffindor"],
        &any_pod(&slytherin),
        &any_pod(&gryffindor),
        &cluster(),
    );
    assert_eq!(f.may.entries(), ["TCP/web", "UDP/dns"]);
}

#[test]
fn conformance_allow_egress_to_an_inline_cidr_except_a_smaller_one() {
    let slytherin = house("slytherin");
    let draco = labels(&[("conformance-house", "slytherin")]);
    let cidr = policy(
        "
metadata: {name: egress-cidr, namespace: network-policy-conformance-slytherin}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to:
        - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
",
    );
    let policies = Policies::from([("network-policy-conformance-slytherin", vec![cidr])]);
    assert!(connects(
        &policies,
        &pod(&slytherin, &draco),
        &external("192.0.2.1/32"),
        443
    ));
    assert!(!connects(
        &policies,
        &pod(&slytherin, &draco),
        &external("192.0.2.200/32"),
        443
    ));
}

#[test]
fn conformance_pod_selector_rules_pick_pods_within_the_selected_house() {
    let (gryffindor, ravenclaw) = (house("gryffindor"), house("ravenclaw"));
    let harry = labels(&[("conformance-house", "gryffindor")]);
    let luna = labels(&[("conformance-house", "ravenclaw"), ("role", "client")]);
    let cho = labels(&[("conformance-house", "ravenclaw")]);
    let by_pod = policy(
        "
metadata: {name: allow-ravenclaw-clients, namespace: network-policy-conformance-gryffindor}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {conformance-house: ravenclaw}}
          podSelector:
            matchExpressions: [{key: role, operator: In, values: [client]}]
",
    );
    let policies = Policies::from([("network-policy-conformance-gryffindor", vec![by_pod])]);
    assert!(connects(
        &policies,
        &pod(&ravenclaw, &luna),
        &pod(&gryffindor, &harry),
        80
    ));
    assert!(!connects(
        &policies,
        &pod(&ravenclaw, &cho),
        &pod(&gryffindor, &harry),
        80
    ));
}

#[test]
fn unknown_pods_give_a_range_from_what_every_pod_can_do_to_what_some_may() {
    let a = ns("a", &[]);
    let b = ns("b", &[]);
    // Only `role=api` pods of `a` are isolated, and they accept port 443.
    let partial = policy(
        "
metadata: {name: api, namespace: a}
spec:
  podSelector: {matchLabels: {role: api}}
  ingress:
    - ports: [{port: 443}]
",
    );
    let policies = vec![partial];
    let f = flow(&[], &policies, &any_pod(&b), &any_pod(&a), &cluster());
    assert!(f.may.is_all(), "pods without role=api accept everything");
    assert_eq!(
        f.must.entries(),
        Vec::<String>::new(),
        "an api pod accepts only 443"
    );
    let ingress = f.ingress.expect("destination is a pod");
    assert_eq!(ingress.isolated, Tri::Maybe);
}

#[test]
fn an_ip_block_over_the_pod_network_may_admit_pods() {
    let a = ns("a", &[]);
    let b = ns("b", &[]);
    let wide = policy(
        "
metadata: {name: wide, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
",
    );
    let policies = vec![wide];
    let f = flow(&policies, &[], &any_pod(&a), &any_pod(&b), &cluster());
    assert!(
        !f.may.is_empty(),
        "10.0.0.0/8 holds the pod network 10.244.0.0/16"
    );
    assert!(
        f.must.is_empty(),
        "whether the plugin applies it to pods is not known"
    );
    // With the pod's address known, the answer is definite.
    let any = labels(&[]);
    let policies = Policies::from([("a", policies)]);
    assert!(connects(
        &policies,
        &pod(&a, &any),
        &pod_at(&b, &any, "10.244.3.4"),
        80
    ));
    assert!(!connects(
        &policies,
        &pod(&a, &any),
        &pod_at(&b, &any, "172.16.0.4"),
        80
    ));
}

#[test]
fn ip_block_cover_is_all_some_or_none() {
    let block = IpBlock {
        cidr: "10.0.0.0/16".parse().expect("cidr"),
        except: vec![
            "10.0.2.0/24".parse().expect("cidr"),
            "10.0.3.0/24".parse().expect("cidr"),
        ],
    };
    let net = |s: &str| s.parse::<IpNet>().expect("cidr");
    assert_eq!(block.covers(&net("10.0.1.0/24")), Tri::Yes);
    assert_eq!(
        block.covers(&net("10.0.0.0/22")),
        Tri::Maybe,
        "partly excepted"
    );
    assert_eq!(
        block.covers(&net("10.0.2.0/23")),
        Tri::No,
        "wholly excepted by two entries"
    );
    assert_eq!(
        block.covers(&net("10.0.0.0/8")),
        Tri::Maybe,
        "wider than the block"
    );
    assert_eq!(block.covers(&net("192.0.2.0/24")), Tri::No);
    assert_eq!(block.covers(&net("::/0")), Tri::No, "another family");
}

#[test]
fn invalid_policies_are_refused_naming_the_field() {
    let cases = [
        (
            "spec:\n  podSelector: {}\n  policyTypes: [Inbound]\n",
            "spec.policyTypes[0]",
        ),
        (
            "spec:\n  podSelector: {}\n  ingress:\n    - from: [{ipBlock: {cidr: 10.0.0.0/33}}]\n",
            "spec.ingress[0].from[0].ipBlock.cidr",
        ),
        (
            "spec:\n  podSelector: {}\n  ingress:\n    - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]\n",
            "spec.ingress[0].from[0].ipBlock.except[0]",
        ),
        (
            "spec:\n  podSelector: {}\n  egress:\n    - to: [{}]\n",
            "spec.egress[0].to[0]",
        ),
        (
            "spec:\n  podSelector: {}\n  egress:\n    - ports: [{port: 80, endPort: 79}]\n",
            "spec.egress[0].ports[0].endPort",
        ),
        (
            "spec:\n  podSelector: {}\n  egress:\n    - ports: [{port: web, endPort: 90}]\n",
            "spec.egress[0].ports[0].endPort",
        ),
        (
            "spec:\n  podSelector: {}\n  egress:\n    - ports: [{protocol: ICMP, port: 1}]\n",
            "spec.egress[0].ports[0].protocol",
        ),
        (
            "spec:\n  podSelector: {matchExpressions: [{key: a, operator: Is}]}\n",
            "spec.podSelector.matchExpressions[0].operator",
        ),
    ];
    for (spec, path) in cases {
        let e = refused(&format!("metadata: {{name: bad, namespace: a}}\n{spec}"));
        assert_eq!(e.path, path, "{e}");
        assert!(e.to_string().starts_with("NetworkPolicy a/bad: "), "{e}");
    }
}
