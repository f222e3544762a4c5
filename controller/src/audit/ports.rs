//! Sets of ports as NetworkPolicies speak of them: per protocol, numbers and ranges
//! (`port` with `endPort`), and named ports (`port: web`), which only the destination pod's
//! container ports resolve. The audit does not know the pods, so a named port stays a name,
//! possibly narrowed by the numbers the other side of a flow allows ("`web` if it is 443").

use std::collections::BTreeMap;
use std::fmt;

/// A transport protocol a NetworkPolicy port names (`TCP` when omitted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP, the default.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Every protocol a NetworkPolicy can name.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Reads the API's spelling (`TCP`, `UDP`, `SCTP`).
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    fn index(self) -> usize {
        match self {
            Protocol::Tcp => 0,
            Protocol::Udp => 1,
            Protocol::Sctp => 2,
        }
    }
}

/// The lowest port number.
pub const MIN_PORT: u16 = 1;
/// The highest port number.
pub const MAX_PORT: u16 = 65535;

/// Port numbers as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ranges(Vec<(u16, u16)>);

impl Ranges {
    /// Every port, 1-65535.
    pub fn all() -> Ranges {
        Ranges(vec![(MIN_PORT, MAX_PORT)])
    }

    /// The ports `from..=to` (empty if `from > to`).
    pub fn range(from: u16, to: u16) -> Ranges {
        if from > to {
            Ranges::default()
        } else {
            Ranges(vec![(from, to)])
        }
    }

    /// No port.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every port.
    pub fn is_all(&self) -> bool {
        self.0 == [(MIN_PORT, MAX_PORT)]
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }

    /// Ports in either set.
    pub fn union(&self, other: &Ranges) -> Ranges {
        let mut all: Vec<(u16, u16)> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ranges(merged)
    }

    /// Ports in both sets.
    pub fn intersect(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &other.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Ranges(out).union(&Ranges::default())
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Ports of every protocol, numeric and named.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSet {
    /// Port numbers per protocol, indexed by [`Protocol::index`].
    numbers: [Ranges; 3],
    /// Named ports, each with the numbers it may resolve to and still be in the set
    /// (every number unless the other side of a flow narrowed it).
    named: BTreeMap<(Protocol, String), Ranges>,
}

impl PortSet {
    /// No port.
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    /// Every port of every protocol: a rule without `ports`.
    pub fn all() -> PortSet {
        PortSet {
            numbers: [Ranges::all(), Ranges::all(), Ranges::all()],
            named: BTreeMap::new(),
        }
    }

    /// Port numbers of one protocol.
    pub fn numbers(protocol: Protocol, ranges: Ranges) -> PortSet {
        let mut set = PortSet::empty();
        set.numbers[protocol.index()] = ranges;
        set
    }

    /// One named port (`port: web`): whatever number the destination pod gives that name.
    pub fn named(protocol: Protocol, name: &str) -> PortSet {
        let mut set = PortSet::empty();
        set.named
            .insert((protocol, name.to_string()), Ranges::all());
        set
    }

    /// No port at all.
    pub fn is_empty(&self) -> bool {
        self.numbers.iter().all(Ranges::is_empty) && self.named.is_empty()
    }

    /// Every port of every protocol.
    pub fn is_all(&self) -> bool {
        self.numbers.iter().all(Ranges::is_all)
    }

    /// The port numbers of `protocol` in the set.
    pub fn numbers_of(&self, protocol: Protocol) -> &Ranges {
        &self.numbers[protocol.index()]
    }

    /// Whether a connection to `port` over `protocol` is in the set. Named ports count
    /// when `resolve` maps their name (on the destination pod) to `port`.
    pub fn contains(
        &self,
        protocol: Protocol,
        port: u16,
        resolve: impl Fn(Protocol, &str) -> Option<u16>,
    ) -> bool {
        self.numbers_of(protocol).contains(port)
            || self.named.iter().any(|((p, name), within)| {
                *p == protocol && within.contains(port) && resolve(*p, name) == Some(port)
            })
    }

    /// Ports in either set.
    pub fn union(&self, other: &PortSet) -> PortSet {
        let mut named = self.named.clone();
        for (key, within) in &other.named {
            let merged = named
                .get(key)
                .map_or_else(|| within.clone(), |w| w.union(within));
            named.insert(key.clone(), merged);
        }
        PortSet {
            numbers: std::array::from_fn(|i| self.numbers[i].union(&other.numbers[i])),
            named,
        }
        .without_redundant_names()
    }

    /// Ports in both sets. A name on one side meets numbers on the other: it stays, narrowed
    /// to those numbers (it is in both sets only if it resolves to one of them).
    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut named: BTreeMap<(Protocol, String), Ranges> = BTreeMap::new();
        let mut add = |key: &(Protocol, String), within: Ranges| {
            if within.is_empty() {
                return;
            }
            let merged = named
                .get(key)
                .map_or_else(|| within.clone(), |w| w.union(&within));
            named.insert(key.clone(), merged);
        };
        for (key, within) in &self.named {
            add(key, within.intersect(other.numbers_of(key.0)));
            if let Some(theirs) = other.named.get(key) {
                add(key, within.intersect(theirs));
            }
        }
        for (key, within) in &other.named {
            add(key, within.intersect(self.numbers_of(key.0)));
        }
        PortSet {
            numbers: std::array::from_fn(|i| self.numbers[i].intersect(&other.numbers[i])),
            named,
        }
        .without_redundant_names()
    }

    /// Drops names whose every possible number is already in the set as a number.
    fn without_redundant_names(mut self) -> PortSet {
        let numbers = self.numbers.clone();
        self.named.retain(|(protocol, _), within| {
            within.intersect(&numbers[protocol.index()]) != *within
        });
        self
    }

    /// The set as a sorted list of entries: `*` for every port of every protocol, else
    /// `TCP/*`, `TCP/443`, `TCP/8000-8080`, `TCP/web` (a named port), `TCP/web(443)` (a named
    /// port that counts only if it resolves to 443).
    pub fn entries(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["*".to_string()];
        }
        let mut out = Vec::new();
        for protocol in Protocol::ALL {
            let numbers = self.numbers_of(protocol);
            if numbers.is_all() {
                out.push(format!("{}/*", protocol.as_str()));
            } else {
                out.extend(numbers.ranges().iter().map(|&(a, b)| {
                    if a == b {
                        format!("{}/{a}", protocol.as_str())
                    } else {
                        format!("{}/{a}-{b}", protocol.as_str())
                    }
                }));
            }
            for ((p, name), within) in &self.named {
                if *p == protocol {
                    out.push(if within.is_all() {
                        format!("{}/{name}", p.as_str())
                    } else {
                        format!("{}/{name}({within})", p.as_str())
                    });
                }
            }
        }
        out
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.entries().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(from: u16, to: u16) -> PortSet {
        PortSet::numbers(Protocol::Tcp, Ranges::range(from, to))
    }

    fn no_names(_: Protocol, _: &str) -> Option<u16> {
        None
    }

    #[test]
    fn ranges_merge_and_intersect() {
        let a = Ranges::range(10, 20).union(&Ranges::range(21, 30));
        assert_eq!(a.ranges(), [(10, 30)]);
        let b = Ranges::range(25, 40).union(&Ranges::range(5, 12));
        assert_eq!(a.intersect(&b).ranges(), [(10, 12), (25, 30)]);
        assert!(Ranges::range(3, 2).is_empty());
        assert_eq!(Ranges::all().to_string(), "1-65535");
    }

    #[test]
    fn a_port_range_holds_its_ends_and_nothing_beyond() {
        // The upstream documentation's endPort example: TCP 32000-32768.
        let set = tcp(32000, 32768);
        assert!(set.contains(Protocol::Tcp, 32000, no_names));
        assert!(set.contains(Protocol::Tcp, 32768, no_names));
        assert!(!set.contains(Protocol::Tcp, 32769, no_names));
        assert!(
            !set.contains(Protocol::Udp, 32000, no_names),
            "protocols are distinct"
        );
        assert_eq!(set.entries(), ["TCP/32000-32768"]);
    }

    #[test]
    fn a_named_port_counts_only_where_the_pod_resolves_it() {
        let set = PortSet::named(Protocol::Tcp, "web");
        let web_is_80 = |_: Protocol, name: &str| (name == "web").then_some(80);
        assert!(set.contains(Protocol::Tcp, 80, web_is_80));
        assert!(!set.contains(Protocol::Tcp, 8080, web_is_80));
        assert!(!set.contains(Protocol::Tcp, 80, no_names));
        assert_eq!(set.entries(), ["TCP/web"]);
    }

    #[test]
    fn a_name_meeting_numbers_is_narrowed_to_them() {
        let both = PortSet::named(Protocol::Tcp, "web").intersect(&tcp(443, 443));
        assert_eq!(both.entries(), ["TCP/web(443)"]);
        let resolves_443 = |_: Protocol, _: &str| Some(443);
        let resolves_80 = |_: Protocol, _: &str| Some(80);
        assert!(both.contains(Protocol::Tcp, 443, resolves_443));
        assert!(!both.contains(Protocol::Tcp, 80, resolves_80));
        // Against every port, the name stays whole; against another protocol, it is gone.
        assert_eq!(
            PortSet::named(Protocol::Tcp, "web")
                .intersect(&PortSet::all())
                .entries(),
            ["TCP/web"]
        );
        assert!(
            PortSet::named(Protocol::Tcp, "web")
                .intersect(&PortSet::numbers(Protocol::Udp, Ranges::all()))
                .is_empty()
        );
    }

    #[test]
    fn union_and_intersection_of_numbers() {
        let dns = PortSet::numbers(Protocol::Udp, Ranges::range(53, 53)).union(&tcp(53, 53));
        assert_eq!(dns.entries(), ["TCP/53", "UDP/53"]);
        assert_eq!(dns.intersect(&tcp(1, 100)).entries(), ["TCP/53"]);
        assert!(dns.intersect(&tcp(443, 443)).is_empty());
        assert_eq!(PortSet::all().entries(), ["*"]);
        assert_eq!(PortSet::all().intersect(&dns), dns);
        assert_eq!(PortSet::empty().to_string(), "none");
    }
}
