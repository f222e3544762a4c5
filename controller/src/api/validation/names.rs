//! Names: DNS labels and subdomains (RFC 1123, as Kubernetes checks them), tenant names,
//! hostnames, CIDRs and ports.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{MAX_TENANT_NAME, Report, Rule};

/// Whether `s` is an RFC 1123 DNS label as Kubernetes accepts it: 1-63 characters of
/// lowercase letters, digits and `-`, starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// Whether `s` is an RFC 1123 DNS subdomain: at most 253 characters of dot-separated
/// DNS labels.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks `metadata.name` of a tenant: a DNS label of at most 52 characters.
pub(super) fn check_tenant_name(name: &str, report: &mut Report) {
    if !is_dns_label(name) {
        report.error(
            Rule::NameFormat,
            "metadata.name",
            format!(
                "{name:?} is not a DNS label; use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. \"comune-molfetta\""
            ),
        );
    } else if name.len() > MAX_TENANT_NAME {
        report.error(
            Rule::NameFormat,
            "metadata.name",
            format!(
                "{name:?} has {} characters; use at most {MAX_TENANT_NAME}, so that '<tenant>-<environment>' namespace names fit in 63",
                name.len()
            ),
        );
    }
}

/// Why `host` is not a hostname the regional CA issues certificates for, or `None` if it
/// is one. Hostnames are fully qualified (at least two labels), lowercase RFC 1123
/// subdomains. Wildcards are refused: every environment outside production gets
/// `<environment>.` prefixed to each hostname, which a wildcard label cannot take, and one
/// name per service keeps the audit exact.
pub(super) fn hostname_problem(host: &str) -> Option<String> {
    if host.starts_with("*.") || host.contains('*') {
        return Some(format!(
            "{host:?} is a wildcard; list each hostname, e.g. \"servizi.comune.molfetta.ba.it\" (wildcards cannot take the '<environment>.' prefix of non-production certificates)"
        ));
    }
    if host.len() > 253 {
        return Some(format!(
            "{host:?} has {} characters; a DNS name has at most 253",
            host.len()
        ));
    }
    if !is_dns_subdomain(host) {
        return Some(format!(
            "{host:?} is not a valid DNS name; use dot-separated labels of lowercase letters, digits and '-' (each 1-63 characters, not starting or ending with '-'), e.g. \"servizi.comune.molfetta.ba.it\""
        ));
    }
    if !host.contains('.') {
        return Some(format!(
            "{host:?} is not fully qualified; use the full name, e.g. \"{host}.comune.example.it\""
        ));
    }
    if host.parse::<IpAddr>().is_ok()
        || host
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "{host:?} looks like an IP address; certificates are issued for DNS names, e.g. \"servizi.comune.molfetta.ba.it\""
        ));
    }
    None
}

/// Why `cidr` is not a network in CIDR notation, or `None` if it is one. Host bits must be
/// zero (`10.0.0.0/8`, not `10.1.2.3/8`): a NetworkPolicy `ipBlock` with host bits is
/// accepted by old apiservers but means the whole network, which is rarely what was meant.
pub(super) fn cidr_problem(cidr: &str) -> Option<String> {
    match cidr.parse::<IpNet>() {
        Err(_) => Some(format!(
            "{cidr:?} is not a CIDR; write an IPv4 or IPv6 network with its prefix length, e.g. \"203.0.113.0/24\" or \"2001:db8::/32\""
        )),
        Ok(net) if net.trunc() != net => Some(format!(
            "{cidr:?} has host bits set; write the network address, {:?}",
            net.trunc().to_string()
        )),
        Ok(_) => None,
    }
}

/// Why `port` is not a TCP port, or `None` if it is one.
pub(super) fn port_problem(port: i32) -> Option<String> {
    (!(1..=65535).contains(&port)).then(|| format!("{port} is not a TCP port; use 1-65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "prod", "a-b", "0", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", "à", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname_problem("servizi.comune.molfetta.ba.it"), None);
        assert_eq!(hostname_problem("a-1.example.it"), None);
        for (bad, says) in [
            ("*.example.it", "wildcard"),
            ("Servizi.example.it", "not a valid DNS name"),
            ("servizi", "not fully qualified"),
            ("a..b.it", "not a valid DNS name"),
            ("-a.example.it", "not a valid DNS name"),
            ("10.0.0.1", "IP address"),
            ("a_b.example.it", "not a valid DNS name"),
        ] {
            let problem = hostname_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
        let long = format!("{}.it", vec!["a".repeat(60); 5].join("."));
        assert!(hostname_problem(&long).unwrap().contains("at most 253"));
    }

    #[test]
    fn cidrs() {
        assert_eq!(cidr_problem("203.0.113.0/24"), None);
        assert_eq!(cidr_problem("2001:db8::/32"), None);
        assert!(cidr_problem("203.0.113.0").unwrap().contains("not a CIDR"));
        assert!(cidr_problem("300.0.0.0/8").unwrap().contains("not a CIDR"));
        assert!(
            cidr_problem("10.1.2.3/8")
                .unwrap()
                .contains("\"10.0.0.0/8\"")
        );
    }

    #[test]
    fn ports() {
        assert_eq!(port_problem(1), None);
        assert_eq!(port_problem(65535), None);
        assert!(port_problem(0).unwrap().contains("1-65535"));
        assert!(port_problem(65536).is_some());
    }

    #[test]
    fn tenant_names() {
        let mut report = Report::new("x");
        check_tenant_name("comune-molfetta", &mut report);
        assert!(report.problems.is_empty());
        check_tenant_name("Comune", &mut report);
        check_tenant_name(&"a".repeat(53), &mut report);
        let problems = report.finish();
        assert_eq!(problems.len(), 2);
        assert!(problems.iter().all(|p| p.path == "metadata.name"));
        assert!(problems[1].message.contains("at most 52"));
    }
}
