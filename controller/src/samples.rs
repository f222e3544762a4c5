//! Generated sample tenants: one `TenantService` per Comune of the embedded ISTAT registry,
//! for scale tests and benchmarks (`cargo run --example gen_tenants`, the render benchmark,
//! the controller benchmark). The hand-written samples of real bodies are in `samples/`.
//!
//! Every generated tenant is valid against the default classes of `policies/classes/`
//! (a test checks the whole of Italy). Pure: no clock, no randomness, no I/O.
//!
//! # Class by size
//!
//! The registry has no population figures, so size is approximated by role:
//! - `large`: the regional capitals of Italy and the provincial capitals of Puglia
//!   ([`LARGE`]): prod, test and dev, critical data;
//! - `standard`: the other Comuni of Puglia with more than about 50,000 inhabitants
//!   (ISTAT 2021 census, [`STANDARD`]): prod and test, critical data;
//! - `small`: every other Comune: prod only, ordinary data.
//!
//! Most Comuni are small (about 70% of Italian Comuni have fewer than 5,000 inhabitants),
//! so this errs towards the class with the tightest quota.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::istat::{self, Comune};
use crate::api::validation::{
    Delegations, InvalidReservedName, MAX_TENANT_NAME, ReservedNamespaces, Trusted,
};
use crate::api::{
    Access, DEFAULT_PRODUCTION_ENVIRONMENT, DataClassification, DeletionPolicy, DomainDelegation,
    DomainDelegationSpec, EgressRule, Entity, EntityType, Environment, Network, TenantClass,
    TenantService, TenantServiceSpec, Tls,
};
use crate::labels;
use crate::manifest::check::{RESERVED_NAMESPACES_KEY, parse_reserved_names};
use crate::render::Platform;

/// The default TenantClasses of `policies/classes/`, embedded as (path, YAML) so that
/// `tenant-operator dev` and the benchmarks install exactly what the chart ships.
pub const DEFAULT_CLASSES: &[(&str, &str)] = &[
    (
        "policies/classes/small.yaml",
        include_str!("../../policies/classes/small.yaml"),
    ),
    (
        "policies/classes/standard.yaml",
        include_str!("../../policies/classes/standard.yaml"),
    ),
    (
        "policies/classes/large.yaml",
        include_str!("../../policies/classes/large.yaml"),
    ),
    (
        "policies/classes/sanita.yaml",
        include_str!("../../policies/classes/sanita.yaml"),
    ),
];

/// The default TenantClasses, parsed.
pub fn default_classes() -> Result<Vec<TenantClass>, serde_saphyr::Error> {
    DEFAULT_CLASSES
        .iter()
        .map(|(_, text)| serde_saphyr::from_str(text))
        .collect()
}

/// The DomainDelegations of `policies/delegations/` (the domains of the sample bodies of
/// `samples/`), embedded as (path, YAML) so that `tenant-operator dev` installs them.
pub const SAMPLE_DELEGATIONS: &[(&str, &str)] = &[
    (
        "policies/delegations/asl-bari.yaml",
        include_str!("../../policies/delegations/asl-bari.yaml"),
    ),
    (
        "policies/delegations/comune-bari.yaml",
        include_str!("../../policies/delegations/comune-bari.yaml"),
    ),
    (
        "policies/delegations/comune-poggiorsini.yaml",
        include_str!("../../policies/delegations/comune-poggiorsini.yaml"),
    ),
    (
        "policies/delegations/regione-puglia.yaml",
        include_str!("../../policies/delegations/regione-puglia.yaml"),
    ),
];

/// The DomainDelegations of the sample bodies, parsed.
pub fn sample_delegations() -> Result<Vec<DomainDelegation>, serde_saphyr::Error> {
    SAMPLE_DELEGATIONS
        .iter()
        .map(|(_, text)| serde_saphyr::from_str(text))
        .collect()
}

/// The datacenter's reserved namespaces of `policies/reserved-namespaces.yaml` (the list
/// the chart passes to the operator), embedded for `tenant-operator dev`.
pub const RESERVED_NAMESPACES: &str = include_str!("../../policies/reserved-namespaces.yaml");

/// The names of [`RESERVED_NAMESPACES`] (empty if the embedded file is broken, which a
/// test rules out).
pub fn reserved_namespaces() -> Vec<String> {
    let document: serde_json::Value =
        serde_saphyr::from_str(RESERVED_NAMESPACES).unwrap_or_default();
    let text = document
        .pointer(&format!("/data/{RESERVED_NAMESPACES_KEY}"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    parse_reserved_names(text)
}

/// ISTAT codes of the Comuni generated with class `large`: the 20 regional capitals and the
/// provincial capitals of Puglia (a test checks each against the registry).
pub const LARGE: [(&str, &str); 26] = [
    ("001272", "Torino"),
    ("007003", "Aosta"),
    ("010025", "Genova"),
    ("015146", "Milano"),
    ("022205", "Trento"),
    ("027042", "Venezia"),
    ("032006", "Trieste"),
    ("037006", "Bologna"),
    ("042002", "Ancona"),
    ("048017", "Firenze"),
    ("054039", "Perugia"),
    ("058091", "Roma"),
    ("063049", "Napoli"),
    ("066049", "L'Aquila"),
    ("070006", "Campobasso"),
    ("071024", "Foggia"),
    ("072006", "Bari"),
    ("073027", "Taranto"),
    ("074001", "Brindisi"),
    ("075035", "Lecce"),
    ("076063", "Potenza"),
    ("079023", "Catanzaro"),
    ("082053", "Palermo"),
    ("092009", "Cagliari"),
    ("110001", "Andria"),
    ("110002", "Barletta"),
];

/// ISTAT codes of the Comuni generated with class `standard`: Comuni of Puglia of more
/// than about 50,000 inhabitants that are not in [`LARGE`].
pub const STANDARD: [(&str, &str); 7] = [
    ("071020", "Cerignola"),
    ("071029", "Manfredonia"),
    ("071051", "San Severo"),
    ("072004", "Altamura"),
    ("072011", "Bitonto"),
    ("072029", "Molfetta"),
    ("110003", "Bisceglie"),
];

/// Size class of a generated Comune, named as the default TenantClasses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SizeClass {
    /// `small`.
    Small,
    /// `standard`.
    Standard,
    /// `large`.
    Large,
}

impl SizeClass {
    /// The size class of a Comune (see the module documentation).
    pub fn of(comune: &Comune) -> SizeClass {
        if LARGE.iter().any(|(code, _)| *code == comune.code) {
            SizeClass::Large
        } else if STANDARD.iter().any(|(code, _)| *code == comune.code) {
            SizeClass::Standard
        } else {
            SizeClass::Small
        }
    }

    /// The TenantClass name.
    pub fn class_name(self) -> &'static str {
        match self {
            SizeClass::Small => "small",
            SizeClass::Standard => "standard",
            SizeClass::Large => "large",
        }
    }

    fn environments(self) -> &'static [&'static str] {
        match self {
            SizeClass::Small => &["prod"],
            SizeClass::Standard => &["prod", "test"],
            SizeClass::Large => &["prod", "test", "dev"],
        }
    }

    fn data_classification(self) -> DataClassification {
        match self {
            SizeClass::Small => DataClassification::Ordinario,
            SizeClass::Standard | SizeClass::Large => DataClassification::Critico,
        }
    }
}

/// Which Comuni to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The Comuni of Puglia (257).
    Puglia,
    /// Every Comune of Italy (7,896).
    Italia,
}

impl Scope {
    /// The Comuni of the scope, sorted by ISTAT code.
    pub fn comuni(self) -> Vec<&'static Comune> {
        match self {
            Scope::Puglia => istat::of_region("Puglia").collect(),
            Scope::Italia => istat::all().iter().collect(),
        }
    }
}

/// One TenantService per Comune of `scope`, sorted by ISTAT code. Tenant names are
/// `comune-<name>`; a name shared by Comuni of different provinces (e.g. Samone, TO and
/// TN) or too long for a namespace gets the ISTAT code instead of being cut ambiguously.
pub fn comuni_tenants(scope: Scope) -> Vec<TenantService> {
    comuni_with_unique_names(scope)
        .map(|(comune, unique)| comune_tenant(comune, unique))
        .collect()
}

/// The trusted policy the generated Comuni of `scope` are checked with: the namespaces the
/// default platform, the default operator namespace and `policies/reserved-namespaces.yaml`
/// reserve, and [`comuni_delegations`].
pub fn comuni_trusted(scope: Scope) -> Result<Trusted, InvalidReservedName> {
    Ok(Trusted {
        reserved: ReservedNamespaces::new(
            Platform::default().trusted_namespaces(),
            labels::DEFAULT_OPERATOR_NAMESPACE,
            &reserved_namespaces(),
        )?,
        delegations: Delegations::new(&comuni_delegations(scope)),
    })
}

/// One DomainDelegation per Comune of `scope`, in the order of [`comuni_tenants`]: the
/// Comune's domain `comune.<name>.<province>.it` to its IPA code, as the datacenter would
/// delegate it when the Comune joins. Named as its tenant.
pub fn comuni_delegations(scope: Scope) -> Vec<DomainDelegation> {
    comuni_with_unique_names(scope)
        .map(|(comune, unique)| {
            let mut delegation = DomainDelegation::new(
                &tenant_name(comune, unique),
                DomainDelegationSpec {
                    ipa_code: ipa_code(comune),
                    domains: vec![comune_domain(comune, unique)],
                    description: None,
                },
            );
            delegation.metadata.labels = Some(generated_label());
            delegation
        })
        .collect()
}

/// The Comuni of `scope`, each with whether its name is unique in Italy. Ambiguity is
/// judged over all of Italy, so a Comune keeps its name whichever scope it was generated
/// in.
fn comuni_with_unique_names(scope: Scope) -> impl Iterator<Item = (&'static Comune, bool)> {
    let mut slug_count: HashMap<String, usize> = HashMap::new();
    for comune in istat::all() {
        *slug_count.entry(slug(comune.name)).or_default() += 1;
    }
    scope.comuni().into_iter().map(move |comune| {
        let unique = slug_count.get(&slug(comune.name)).copied() == Some(1);
        (comune, unique)
    })
}

/// The label that marks generated objects.
fn generated_label() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "tenancy.innova.puglia.it/generated-from".to_string(),
        "istat".to_string(),
    )])
}

/// The Comune's DNS domain, `comune.<label>.<province>.it` (as most Comuni name their
/// sites; see [`host_label`]).
fn comune_domain(comune: &Comune, unique_name: bool) -> String {
    format!(
        "comune.{}.{}.it",
        host_label(comune, unique_name),
        comune.province.to_ascii_lowercase()
    )
}

/// The TenantService of one Comune. `unique_name` says whether the Comune's name is
/// unique in Italy; if not, the tenant name carries the ISTAT code.
pub fn comune_tenant(comune: &Comune, unique_name: bool) -> TenantService {
    let size = SizeClass::of(comune);
    let name = tenant_name(comune, unique_name);
    TenantService {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(generated_label()),
            ..ObjectMeta::default()
        },
        spec: TenantServiceSpec {
            entity: Entity {
                entity_type: EntityType::Comune,
                display_name: format!("Comune di {}", comune.name),
                istat_code: Some(comune.code.to_string()),
                ipa_code: ipa_code(comune),
                province: Some(comune.province.to_string()),
            },
            contacts: None,
            data_classification: size.data_classification(),
            class: size.class_name().to_string(),
            environments: size
                .environments()
                .iter()
                .map(|e| Environment {
                    name: (*e).to_string(),
                    // Declared, as the README asks entities to.
                    production: (*e == DEFAULT_PRODUCTION_ENVIRONMENT).then_some(true),
                    quota: None,
                })
                .collect(),
            network: Some(Network {
                egress: ["pagopa", "spid-cie", "anpr"]
                    .into_iter()
                    .map(|destination| EgressRule {
                        name: destination.to_string(),
                        cidrs: Vec::new(),
                        ports: Vec::new(),
                    })
                    .collect(),
                allow_from: Vec::new(),
            }),
            tls: Some(Tls {
                hostnames: vec![format!("www.{}", comune_domain(comune, unique_name))],
            }),
            access: Some(Access {
                admin_groups: vec![format!("{name}-admins")],
                edit_groups: Vec::new(),
                viewer_groups: Vec::new(),
            }),
            deletion_policy: DeletionPolicy::Retain,
        },
        status: None,
    }
}

/// `comune-<slug>`, or `comune-<istat>-<slug>` cut to [`MAX_TENANT_NAME`] when the slug is
/// shared or too long.
fn tenant_name(comune: &Comune, unique_name: bool) -> String {
    let plain = format!("comune-{}", slug(comune.name));
    if unique_name && plain.len() <= MAX_TENANT_NAME {
        return plain;
    }
    let mut name = format!("comune-{}-{}", comune.code, slug(comune.name));
    name.truncate(MAX_TENANT_NAME);
    name.trim_end_matches('-').to_string()
}

/// The Comune's label in its hostname, e.g. `molfetta` in `www.comune.molfetta.ba.it`
/// (as most Comuni name their sites); with the ISTAT code when the name is shared.
fn host_label(comune: &Comune, unique_name: bool) -> String {
    let mut label: String = slug(comune.name).chars().filter(|c| *c != '-').collect();
    if !unique_name {
        label = format!("{label}{}", comune.code);
    }
    // A DNS label has at most 63 characters.
    label.truncate(63);
    label
}

/// The IPA code: the IPA convention `c_<belfiore>`; for the few Comuni whose cadastral code
/// is not embedded (see `api::istat`), `istat_<code>`, which is clearly not a real IPA code.
fn ipa_code(comune: &Comune) -> String {
    match comune.belfiore {
        Some(belfiore) => format!("c_{}", belfiore.to_ascii_lowercase()),
        None => format!("istat_{}", comune.code),
    }
}

/// A DNS-label form of a Comune's name: the first of bilingual names (`Bolzano/Bozen`),
/// accents dropped, lower case, anything else a single `-`.
pub fn slug(name: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    let mut out = String::with_capacity(first.len());
    for c in first.chars().flat_map(char::to_lowercase) {
        let ascii = match istat::ascii_spelling(c) {
            Some(ascii) => ascii,
            None if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            None => "-",
        };
        if ascii == "-" {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push_str(ascii);
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kube::ResourceExt;

    use super::*;
    use crate::api::TenantClass;
    use crate::labels::DEFAULT_OPERATOR_NAMESPACE;
    use crate::render::RenderContext;
    use crate::render::set::render_set;

    fn default_classes() -> Vec<TenantClass> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/classes");
        ["small", "standard", "large", "sanita"]
            .iter()
            .map(|name| {
                let path = dir.join(format!("{name}.yaml"));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect()
    }

    #[test]
    fn every_delegation_of_policies_is_embedded_and_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/delegations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("policies/delegations")
            .map(|e| {
                format!(
                    "policies/delegations/{}",
                    e.unwrap().file_name().to_string_lossy()
                )
            })
            .collect();
        files.sort();
        let embedded: Vec<&str> = SAMPLE_DELEGATIONS.iter().map(|(path, _)| *path).collect();
        assert_eq!(files, embedded);
        assert_eq!(sample_delegations().expect("parse").len(), embedded.len());
    }

    #[test]
    fn the_reserved_namespaces_file_lists_valid_names() {
        let names = reserved_namespaces();
        assert!(names.contains(&"flux-system".to_string()), "{names:?}");
        let reserved = ReservedNamespaces::new([], DEFAULT_OPERATOR_NAMESPACE, &names)
            .expect("every name of policies/reserved-namespaces.yaml is a name or prefix");
        assert!(reserved.find("cattle-system").is_some());
    }

    #[test]
    fn each_generated_comune_has_its_domain_delegated_to_its_ipa_code() {
        let tenants = comuni_tenants(Scope::Puglia);
        let delegations = comuni_delegations(Scope::Puglia);
        assert_eq!(tenants.len(), delegations.len());
        for (tenant, delegation) in tenants.iter().zip(&delegations) {
            assert_eq!(tenant.name_any(), delegation.name_any());
            assert_eq!(tenant.spec.entity.ipa_code, delegation.spec.ipa_code);
            let host = &tenant.spec.tls.as_ref().unwrap().hostnames[0];
            assert_eq!(*host, format!("www.{}", delegation.spec.domains[0]));
        }
    }

    #[test]
    fn size_lists_name_real_comuni() {
        for (code, name) in LARGE.iter().chain(&STANDARD) {
            let comune =
                istat::comune(code).unwrap_or_else(|| panic!("{code} not in the registry"));
            assert_eq!(comune.name, *name, "{code}");
        }
    }

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(slug("Bolzano/Bozen"), "bolzano");
        assert_eq!(slug("L'Aquila"), "l-aquila");
        assert_eq!(slug("Sant'Agata di Puglia"), "sant-agata-di-puglia");
        assert_eq!(slug("Forlì"), "forli");
        assert_eq!(slug("Antey-Saint-André"), "antey-saint-andre");
    }

    #[test]
    fn puglia_tenants_are_named_by_comune_and_sized() {
        let tenants = comuni_tenants(Scope::Puglia);
        assert_eq!(tenants.len(), 257);
        let bari = tenants
            .iter()
            .find(|t| t.spec.entity.istat_code.as_deref() == Some("072006"))
            .expect("Bari is generated");
        assert_eq!(bari.name_any(), "comune-bari");
        assert_eq!(bari.spec.class, "large");
        assert_eq!(bari.spec.entity.ipa_code, "c_a662");
        let poggiorsini = tenants
            .iter()
            .find(|t| t.name_any() == "comune-poggiorsini")
            .expect("Poggiorsini is generated");
        assert_eq!(poggiorsini.spec.class, "small");
        assert_eq!(
            poggiorsini.spec.tls.as_ref().map(|t| t.hostnames.clone()),
            Some(vec!["www.comune.poggiorsini.ba.it".to_string()])
        );
    }

    #[test]
    fn shared_names_get_the_istat_code() {
        let tenants = comuni_tenants(Scope::Italia);
        assert_eq!(tenants.len(), istat::all().len());
        let samone: Vec<String> = tenants
            .iter()
            .map(kube::ResourceExt::name_any)
            .filter(|n| n.ends_with("-samone"))
            .collect();
        assert_eq!(samone.len(), 2, "{samone:?}");
        assert!(
            samone.iter().all(|n| n.starts_with("comune-0")),
            "{samone:?}"
        );
    }

    #[test]
    fn every_comune_of_italy_is_valid_and_renders_against_the_default_classes() {
        let tenants = comuni_tenants(Scope::Italia);
        let platform = Platform::default();
        let ctx = RenderContext {
            platform: &platform,
            peers: &[],
            ca_certificate: None,
        };
        let trusted = comuni_trusted(Scope::Italia).expect("the reserved names are names");
        let rendered =
            render_set(&tenants, &default_classes(), &trusted, &ctx).unwrap_or_else(|e| match e {
                crate::render::set::SetError::Invalid { problems } => panic!(
                    "{} problems, first: {:?}",
                    problems.len(),
                    problems.iter().take(5).collect::<Vec<_>>()
                ),
                other => panic!("{other}"),
            });
        assert_eq!(rendered.tenants.len(), tenants.len());
        let errors = rendered.warnings.iter().filter(|p| p.is_error()).count();
        assert_eq!(errors, 0);
    }
}
