//! The one table of the rules `validate`, `render` and the controller check: each rule's
//! stable identifier, what it is about, and what would be valid. Every problem carries one
//! ([`super::Problem::rule`], [`crate::manifest::check::Finding::rule`]); outputs show it
//! (`... message [ENTITY-IPA-CODE]`, a `rule` field in JSON, `ruleId` and the rules table
//! in SARIF) so that a person can look it up in `docs/rules.md` (generated from this
//! table by [`markdown`]) and in the entities' guide (`docs/guida-enti.md`).
//!
//! Identifiers follow the convention of `audit`'s checks (`TENANCY-TLS-1`): upper-case
//! words joined by `-`, the area first. They name what the rule is about rather than
//! numbering it, since a reader looks them up by what they read; and none starts with
//! `MTB-` or `TENANCY-`, which are `audit`'s. An identifier, once published, is never
//! reused for another rule: pipelines and the guide refer to it.

use std::fmt;

/// Declares [`Rule`]: the variants, their identifiers and texts, and [`Rule::ALL`], from
/// one list, so that a rule cannot exist without its row.
macro_rules! rules {
    ($($variant:ident = $id:literal, $summary:literal, $valid:literal;)*) => {
        /// A rule of the validation (see the [module](self) for the table).
        // Each variant's documentation is its summary, plain text shared with users, where
        // `<tenant>` is a placeholder, not an HTML tag.
        #[allow(rustdoc::invalid_html_tags)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $(
                #[doc = $summary]
                $variant,
            )*
        }

        impl Rule {
            /// Every rule, in table order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable identifier, e.g. `ENTITY-IPA-CODE`.
            pub const fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            /// What the rule is about, in one sentence.
            pub const fn summary(self) -> &'static str {
                match self {
                    $(Rule::$variant => $summary,)*
                }
            }

            /// What would be valid.
            pub const fn valid(self) -> &'static str {
                match self {
                    $(Rule::$variant => $valid,)*
                }
            }
        }
    };
}

rules! {
    // The inputs themselves: files, YAML, documents.
    InputUnreadable = "INPUT-UNREADABLE",
        "A file or directory given with -f (or standard input) cannot be read.",
        "Paths that exist and can be read: manifest files (*.yaml, *.yml, *.json), directories of them, or - for standard input.";
    InputPolicyFolder = "INPUT-POLICY-FOLDER",
        "The trusted policy folder (--classes, default policies/) cannot be read or holds no TenantClass.",
        "Run from the repository root, or pass --classes with the folder of TenantClasses, DomainDelegations and the reserved-namespaces ConfigMap.";
    YamlSyntax = "YAML-SYNTAX",
        "The file is not valid YAML.",
        "Indentation with spaces, closed quotes and brackets, ':' after each key.";
    YamlUnquoted = "YAML-UNQUOTED",
        "A value written without quotes that YAML reads as a boolean, a number or null where text belongs: NO, on, yes, 072034 (kubectl reads a leading 0 as octal), 0o17, 0x1F, 1e3, ~.",
        "The text in quotes, with every digit of a code: istatCode: \"072034\", province: \"NO\".";
    DocNotObject = "DOC-NOT-OBJECT",
        "A document without apiVersion or kind.",
        "Each document starts with apiVersion: tenancy.innova.puglia.it/v1alpha1 and kind: TenantService (or TenantClass, DomainDelegation).";
    DocApiVersion = "DOC-API-VERSION",
        "A kind of this API group at a version that is not served.",
        "apiVersion: tenancy.innova.puglia.it/v1alpha1.";
    DocKind = "DOC-KIND",
        "A kind this API group does not have.",
        "kind: TenantService, TenantClass or DomainDelegation.";

    // The CRD's structural schema, as the API server checks it.
    SchemaUnknownField = "SCHEMA-UNKNOWN-FIELD",
        "A field the CRD does not declare, usually a typo.",
        "The fields of the CRD (tenant-operator crd, kubectl explain tenantservices.spec); the message suggests the nearest one.";
    SchemaRequired = "SCHEMA-REQUIRED",
        "A required field is missing.",
        "Every required field of the CRD, with a value.";
    SchemaType = "SCHEMA-TYPE",
        "A value of the wrong type: text, number, boolean, list or object.",
        "The type the CRD declares: e.g. a list for environments and hostnames, an object for entity.";
    SchemaEnum = "SCHEMA-ENUM",
        "A value that is not among the field's allowed values.",
        "One of the values the message lists, spelt exactly: dataClassification is lower case (ordinario), entity.type as listed (Comune).";
    SchemaFormat = "SCHEMA-FORMAT",
        "A value that breaks the field's pattern, format or numeric bounds in the CRD.",
        "A value matching the pattern or within the bounds the message gives.";
    SchemaTooLong = "SCHEMA-TOO-LONG",
        "A text longer than the CRD allows.",
        "At most the number of characters the message gives.";
    SchemaTooMany = "SCHEMA-TOO-MANY",
        "A list with more entries than the CRD allows.",
        "At most the number of entries the message gives.";
    SchemaDuplicate = "SCHEMA-DUPLICATE",
        "The same entry twice in a list whose entries are unique (e.g. two environments with one name).",
        "Each entry once.";
    SchemaTypes = "SCHEMA-TYPES",
        "A document that fits the CRD's schema but not the operator's API types.",
        "The shape tenant-operator crd prints for this version.";

    // A TenantService's name.
    NameFormat = "NAME-FORMAT",
        "A tenant name that is not a DNS label of at most 52 characters (its namespaces '<tenant>-<environment>' must fit in 63).",
        "Lower-case letters, digits and '-', starting and ending with a letter or digit, at most 52 characters: comune-molfetta.";
    NameReserved = "NAME-RESERVED",
        "A tenant name whose every namespace falls under a reserved prefix (kube-*, openshift-*, the datacenter's).",
        "A name outside the reserved prefixes, e.g. comune-<name>.";
    NameDuplicate = "NAME-DUPLICATE",
        "Two TenantServices with the same name.",
        "One manifest per tenant: merge the two or rename one.";

    // spec.entity and spec.contacts: who the body is.
    EntityComuneFields = "ENTITY-COMUNE-FIELDS",
        "A Comune without istatCode or province.",
        "Both: istatCode \"072029\" and province BA for Molfetta.";
    EntityProvince = "ENTITY-PROVINCE",
        "province is not the abbreviation of an Italian province.",
        "The two capital letters of the province: BA, BT, BR, FG, LE, TA in Puglia.";
    EntityIstatFormat = "ENTITY-ISTAT-FORMAT",
        "istatCode is not six digits.",
        "Six digits in quotes, leading zero included: \"072029\".";
    EntityIstatProvince = "ENTITY-ISTAT-PROVINCE",
        "istatCode is the code of a Comune of another province than province says.",
        "The code of a Comune of that province (its first three digits are the province's ISTAT code), or the province of the code.";
    EntityIstatUnknown = "ENTITY-ISTAT-UNKNOWN",
        "istatCode is not the code of any Comune in ISTAT's list.",
        "The code of the Comune in ISTAT's list of Comuni (codici dei comuni).";
    EntityDisplayName = "ENTITY-DISPLAY-NAME",
        "displayName does not look like the name of the Comune of istatCode (a warning).",
        "\"Comune di <name>\" with the name ISTAT gives the code.";
    EntityIpaCode = "ENTITY-IPA-CODE",
        "A Comune's ipaCode is not c_ and the cadastral (Belfiore) code of its istatCode.",
        "c_ and the Comune's cadastral code in lower case: c_f284 for Molfetta.";
    ContactEmail = "CONTACT-EMAIL",
        "A contact (rtd, technical, security) that is not one e-mail address.",
        "One address as name@domain, e.g. rtd@comune.molfetta.ba.it.";
    ClassificationHealth = "CLASSIFICATION-HEALTH",
        "A health body (ASL, AziendaOspedaliera, IRCCS) with dataClassification ordinario.",
        "dataClassification critico or strategico.";
    ClassificationNotHosted = "CLASSIFICATION-NOT-HOSTED",
        "The tenant's class does not host data of the tenant's dataClassification.",
        "A classification the class allows, or a class that allows the classification.";
    ClassUnknown = "CLASS-UNKNOWN",
        "spec.class names no TenantClass.",
        "The name of a class of the trusted policy folder (policies/classes/): small, standard, large, sanita.";

    // spec.environments.
    EnvCount = "ENV-COUNT",
        "A tenant without environments, or with more than 8.",
        "Between 1 and 8 environments, e.g. [{name: prod}, {name: test}].";
    EnvName = "ENV-NAME",
        "An environment name that is not a DNS label.",
        "Lower-case letters, digits and '-', starting and ending with a letter or digit: prod, test, collaudo.";
    EnvNameDuplicate = "ENV-NAME-DUPLICATE",
        "Two environments with the same name.",
        "A different name for each environment.";
    EnvNamespaceLength = "ENV-NAMESPACE-LENGTH",
        "A namespace name '<tenant>-<environment>' longer than 63 characters.",
        "A shorter environment or tenant name.";
    EnvNamespaceReserved = "ENV-NAMESPACE-RESERVED",
        "A namespace '<tenant>-<environment>' that Kubernetes, the platform or the datacenter reserves.",
        "Another environment or tenant name.";
    EnvNamespaceTaken = "ENV-NAMESPACE-TAKEN",
        "A namespace '<tenant>-<environment>' that another tenant's environment also makes (the first claim wins).",
        "Another environment name.";
    EnvProductionOnce = "ENV-PRODUCTION-ONCE",
        "More than one environment declares production: true.",
        "production: true on one environment at most.";
    EnvProductionDefault = "ENV-PRODUCTION-DEFAULT",
        "No environment declares production: true, so production is guessed from the name (the one named prod, if any), and the hostnames follow that guess (a warning).",
        "production: true on the environment that serves the public, whatever its name.";

    // Quotas of the environments against the class's plan.
    QuotaValue = "QUOTA-VALUE",
        "A quota override that is not a quantity, or is negative.",
        "A Kubernetes quantity of 0 or more: \"4\", \"500m\", 8Gi.";
    QuotaEnvironmentMax = "QUOTA-ENVIRONMENT-MAX",
        "A quota override above the class's per-environment maximum.",
        "At most the class's quota.environmentMax, or a larger class.";
    QuotaTenantMax = "QUOTA-TENANT-MAX",
        "The environments together (defaults included) ask for more than the class's per-tenant maximum.",
        "Lower quotas or fewer environments, within the class's quota.tenantMax, or a larger class.";
    QuotaLoadBalancer = "QUOTA-LOAD-BALANCER",
        "A loadBalancers quota in a class that does not allow Services of type LoadBalancer.",
        "loadBalancers 0, or a class that allows them.";

    // spec.network.
    EgressUnknown = "EGRESS-UNKNOWN",
        "An egress destination the class does not declare.",
        "One of the class's egressDestinations (pagopa, spid-cie, anpr, ...).";
    EgressDuplicate = "EGRESS-DUPLICATE",
        "An egress destination listed twice.",
        "Each destination once.";
    EgressCidr = "EGRESS-CIDR",
        "An egress network that is not a CIDR, has host bits set, or lies outside the destination's networks.",
        "A network address with its prefix length inside the destination's networks, or no cidrs for all of them.";
    EgressPort = "EGRESS-PORT",
        "An egress port outside 1-65535 or not among the destination's ports.",
        "One of the destination's ports, or no ports for all of them.";
    AllowFromTenant = "ALLOWFROM-TENANT",
        "An allowFrom entry that is not another tenant's name, names the tenant itself, or is listed twice.",
        "The name of another TenantService, once.";
    AllowFromUid = "ALLOWFROM-UID",
        "An allowFrom uid that is not a UID.",
        "The metadata.uid of the TenantService named, or no uid.";
    AllowFromEnvironment = "ALLOWFROM-ENVIRONMENT",
        "An allowFrom environment that is not an environment name.",
        "An environment name (a DNS label), e.g. prod.";

    // spec.tls.
    TlsHostname = "TLS-HOSTNAME",
        "A hostname that is not a fully qualified DNS name (a wildcard, an IP address, too long with the environment prefix).",
        "Each hostname in full, lower case, e.g. servizi.comune.molfetta.ba.it.";
    TlsHostnameDuplicate = "TLS-HOSTNAME-DUPLICATE",
        "A hostname listed twice.",
        "Each hostname once.";
    TlsDelegated = "TLS-DELEGATED",
        "A hostname outside the DNS domains delegated to the body's ipaCode (the regional CA signs no other).",
        "A hostname equal to or below a domain of the body's DomainDelegation (policies/delegations/); check ipaCode.";
    TlsHostnameTaken = "TLS-HOSTNAME-TAKEN",
        "A DNS name another tenant already claims, as a hostname or through an environment prefix (the first claim wins).",
        "A hostname no other tenant's certificates carry.";

    // spec.access.
    AccessSystemGroup = "ACCESS-SYSTEM-GROUP",
        "A group of the Kubernetes API server (system:...), which takes in every user or ServiceAccount.",
        "A group of the body's identity provider, e.g. comune-molfetta-admins.";

    // A TenantClass (the datacenter's plans).
    ClassDuplicate = "CLASS-DUPLICATE",
        "Two TenantClasses with the same name.",
        "One document per class.";
    ClassQuotaValue = "CLASS-QUOTA-VALUE",
        "A quota of the class that is not a quantity or is negative (a tenant of that class cannot be checked).",
        "Kubernetes quantities and counts of 0 or more.";
    ClassQuotaOrder = "CLASS-QUOTA-ORDER",
        "A class whose plan is not ordered.",
        "environmentDefault <= environmentMax <= tenantMax for every resource.";
    ClassLimitRangeValue = "CLASS-LIMITRANGE-VALUE",
        "A limitRange value that is not a quantity.",
        "Kubernetes quantities: \"500m\", 1Gi.";
    ClassLimitRangeOrder = "CLASS-LIMITRANGE-ORDER",
        "A limitRange that is not ordered.",
        "Default request <= default limit <= maximum for CPU, memory and ephemeral storage.";
    ClassEgressName = "CLASS-EGRESS-NAME",
        "An egress destination name that is not a DNS label or is declared twice.",
        "A DNS label, once: pagopa.";
    ClassEgressCidrs = "CLASS-EGRESS-CIDRS",
        "An egress destination without networks, or with one that is not a network address.",
        "At least one CIDR, network address and prefix length: 203.0.113.0/24.";
    ClassEgressPorts = "CLASS-EGRESS-PORTS",
        "An egress destination without ports, or with one outside 1-65535.",
        "At least one port in 1-65535: [443].";
    ClassIngressClass = "CLASS-INGRESS-CLASS",
        "An ingressClassNames entry that is not an IngressClass name.",
        "A DNS subdomain: regional-gateway.";
    ClassClassifications = "CLASS-CLASSIFICATIONS",
        "A class that allows no data classification.",
        "At least one of ordinario, critico, strategico.";

    // DomainDelegations and reserved namespaces (the trusted policy folder).
    DelegationDomain = "DELEGATION-DOMAIN",
        "A delegated domain that is not a DNS name of at least two labels, or is a wildcard.",
        "A domain in full: comune.molfetta.ba.it.";
    DelegationDomainDuplicate = "DELEGATION-DOMAIN-DUPLICATE",
        "A domain listed twice in one delegation.",
        "Each domain once.";
    DelegationDomainShared = "DELEGATION-DOMAIN-SHARED",
        "A domain delegated to two bodies.",
        "Each domain to one body: a subdomain to each.";
    DelegationUntrusted = "DELEGATION-UNTRUSTED",
        "A DomainDelegation among the files under review: it is checked but delegates nothing (a warning).",
        "Delegations in the trusted policy folder (policies/delegations/), added by datacenter operators.";
    ReservedEntry = "RESERVED-ENTRY",
        "An entry of the reserved-namespaces list that is not a namespace name or a prefix followed by '*'.",
        "A namespace name (flux-system) or a prefix and '*' (cattle-*).";
}

impl Rule {
    /// The rule of an identifier, as outputs print it.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    /// The identifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The table as Markdown: the text of `docs/rules.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Validation rules\n\n\
         Every problem `tenant-operator validate`, `render`, `diff` and the controller report names \
         one of these rules, as `[RULE-ID]` at the end of the line, `rule` in `-o json`, `ruleId` \
         in SARIF and `check_name` in GitLab's report. The entities' guide in Italian \
         ([guida-enti.md](guida-enti.md)) explains the common ones with examples.\n\n\
         Generated from `controller/src/api/validation/rules.rs`: \
         `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test rules_reference` rewrites it.\n\n\
         | Rule | What it is about | What is valid |\n\
         |---|---|---|\n",
    );
    for rule in Rule::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            rule.id(),
            escape_cell(rule.summary()),
            escape_cell(rule.valid())
        ));
    }
    out
}

/// A Markdown table cell: `|` would end it, `*` and `_` start emphasis, and `<tenant>`
/// would be read as an HTML tag.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn identifiers_are_unique_well_formed_and_not_audits() {
        let mut seen = BTreeSet::new();
        for rule in Rule::ALL {
            let id = rule.id();
            assert!(seen.insert(id), "{id} is in the table twice");
            let words: Vec<&str> = id.split('-').collect();
            assert!(
                words.len() >= 2
                    && words.iter().all(|w| !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())),
                "{id}: upper-case words joined by '-'"
            );
            assert!(
                !id.starts_with("MTB-") && !id.starts_with("TENANCY-"),
                "{id}: audit's prefixes"
            );
            assert_eq!(Rule::from_id(id), Some(*rule));
            assert_eq!(rule.to_string(), id);
        }
        assert_eq!(Rule::from_id("ENTITY-IPA"), None);
    }

    #[test]
    fn every_rule_says_what_it_is_about_and_what_is_valid() {
        for rule in Rule::ALL {
            for text in [rule.summary(), rule.valid()] {
                assert!(
                    text.len() > 10 && text.ends_with('.'),
                    "{}: {text:?} is one or more sentences",
                    rule.id()
                );
            }
        }
    }

    #[test]
    fn the_markdown_table_has_a_row_per_rule() {
        let text = markdown();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), Rule::ALL.len());
        assert!(
            rows[0].starts_with("| `INPUT-UNREADABLE` | A file"),
            "{}",
            rows[0]
        );
        // Read as Markdown, not as an HTML tag and emphasis.
        assert!(text.contains("'&lt;tenant>-&lt;environment>'"), "{text}");
        assert!(text.contains("manifest files (\\*.yaml, \\*.yml"), "{text}");
    }
}
