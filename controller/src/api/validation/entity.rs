//! The public body: ISTAT code and province against the embedded registry, display name,
//! a Comune's IPA code against its cadastral code, contact e-mail addresses, data
//! classification.

use super::{Report, Rule};
use crate::api::istat;
use crate::api::{Contacts, DataClassification, EntityType, TenantClass, TenantServiceSpec};

/// Checks `spec.entity` and `spec.dataClassification` on their own.
pub(super) fn check(spec: &TenantServiceSpec, report: &mut Report) {
    let entity = &spec.entity;
    if entity.entity_type == EntityType::Comune {
        if entity.istat_code.is_none() {
            report.error(
                Rule::EntityComuneFields,
                "spec.entity.istatCode",
                "a Comune needs its ISTAT code; add the six digits from ISTAT's list of Comuni, e.g. \"072029\" for Molfetta",
            );
        }
        if entity.province.is_none() {
            report.error(
                Rule::EntityComuneFields,
                "spec.entity.province",
                "a Comune needs its province; add the two-letter abbreviation, e.g. \"BA\"",
            );
        }
    }
    let province = entity.province.as_deref();
    if let Some(p) = province
        && !istat::is_province(p)
    {
        report.error(
            Rule::EntityProvince,
            "spec.entity.province",
            format!(
                "{p:?} is not an Italian province abbreviation; use the two capital letters of the province, e.g. \"BA\", \"BT\", \"BR\", \"FG\", \"LE\" or \"TA\" in Puglia"
            ),
        );
    }
    if let Some(code) = entity.istat_code.as_deref() {
        let comune = check_istat_code(
            code,
            province,
            entity.entity_type,
            &entity.display_name,
            report,
        );
        if entity.entity_type == EntityType::Comune
            && let Some(comune) = comune
        {
            check_ipa_code(&entity.ipa_code, comune, report);
        }
    }
    if let Some(contacts) = &spec.contacts {
        check_contacts(contacts, report);
    }
    if entity.entity_type.is_health_body()
        && spec.data_classification == DataClassification::Ordinario
    {
        report.error(
            Rule::ClassificationHealth,
            "spec.dataClassification",
            format!(
                "{} is a health body, whose data is at least 'critico'; set dataClassification to \"critico\" or \"strategico\"",
                entity.entity_type.as_str()
            ),
        );
    }
}

/// The ISTAT code: six digits, a province prefix matching `province`, a real Comune of that
/// province, and (a warning) a display name that agrees with the Comune's name. Returns the
/// Comune when the code names one of `province`, so that the rest of the identity can be
/// checked against it.
fn check_istat_code(
    code: &str,
    province: Option<&str>,
    entity_type: EntityType,
    display_name: &str,
    report: &mut Report,
) -> Option<&'static istat::Comune> {
    const PATH: &str = "spec.entity.istatCode";
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        report.error(
            Rule::EntityIstatFormat,
            PATH,
            format!(
                "{code:?} is not an ISTAT code; write six digits (quoted, to keep the leading zero), e.g. \"072029\""
            ),
        );
        return None;
    }
    let prefix = &code[..3];
    let prefix_provinces = istat::provinces_of_prefix(prefix);
    if let Some(p) = province
        && istat::is_province(p)
        && !prefix_provinces.contains(&p)
    {
        let expected = istat::prefixes_of(p).join(" or ");
        let owner = match prefix_provinces.as_slice() {
            [] => "no province".to_string(),
            list => list.join(", "),
        };
        report.error(
            Rule::EntityIstatProvince,
            PATH,
            format!(
                "{code:?} starts with {prefix}, the ISTAT code of {owner}, but province is {p}; codes of {p} start with {expected} (or fix province)"
            ),
        );
        return None;
    }
    let Some(comune) = istat::comune(code) else {
        report.error(
            Rule::EntityIstatUnknown,
            PATH,
            format!(
                "{code:?} is not the code of any Comune in ISTAT's list; look it up at https://www.istat.it/classificazione/codici-dei-comuni-delle-province-e-delle-regioni/"
            ),
        );
        return None;
    };
    let in_province = province.is_none_or(|p| comune.province == p);
    if let Some(p) = province
        && !in_province
    {
        report.error(
            Rule::EntityIstatProvince,
            PATH,
            format!(
                "{code:?} is {} in province {}, not {p}; set province to {:?} or fix the code",
                comune.name, comune.province, comune.province
            ),
        );
    }
    if entity_type == EntityType::Comune && !names_agree(display_name, comune.name) {
        report.warning(
            Rule::EntityDisplayName,
            "spec.entity.displayName",
            format!(
                "{display_name:?} does not look like the name of Comune {code}, {}; write e.g. \"Comune di {}\" (or check istatCode)",
                comune.name, comune.name
            ),
        );
    }
    in_province.then_some(comune)
}

/// A Comune's IPA code is `c_` and its cadastral (Belfiore) code in lower case (`c_f284`
/// for Molfetta), where the registry knows that code. Another Comune's code is named as
/// such: copying a neighbour's file is the usual way to get it wrong.
fn check_ipa_code(ipa_code: &str, comune: &istat::Comune, report: &mut Report) {
    let Some(belfiore) = comune.belfiore else {
        // A Comune created or renamed after the cadastral list we embed: nothing to check
        // against (see `api::istat`).
        return;
    };
    let expected = format!("c_{}", belfiore.to_ascii_lowercase());
    if ipa_code == expected {
        return;
    }
    let other = ipa_code
        .strip_prefix("c_")
        .and_then(|rest| istat::by_belfiore(&rest.to_ascii_uppercase()));
    let what = match other {
        Some(other) => format!(
            "{ipa_code:?} is the IPA code of Comune {} ({}, {})",
            other.code, other.name, other.province
        ),
        None => format!("{ipa_code:?} is not the IPA code of Comune {}", comune.code),
    };
    report.error(
        Rule::EntityIpaCode,
        "spec.entity.ipaCode",
        format!(
            "{what}; a Comune's IPA code is c_ and its cadastral (Belfiore) code, for {} {expected:?} (or check istatCode)",
            comune.name
        ),
    );
}

/// Each contact is an e-mail address: `name@domain`, the domain with a dot, no spaces.
fn check_contacts(contacts: &Contacts, report: &mut Report) {
    let fields = [
        ("rtd", &contacts.rtd),
        ("technical", &contacts.technical),
        ("security", &contacts.security),
    ];
    for (field, value) in fields {
        let Some(value) = value.as_deref() else {
            continue;
        };
        if !is_email(value) {
            report.error(
                Rule::ContactEmail,
                format!("spec.contacts.{field}"),
                format!(
                    "{value:?} is not an e-mail address; write one address as name@domain, e.g. \"rtd@comune.molfetta.ba.it\""
                ),
            );
        }
    }
}

/// Whether `s` is one e-mail address as a person writes it: a local part and a domain of
/// DNS labels with at least one dot, separated by one `@`, nothing else (no display name,
/// no spaces, no list). Deliberately narrower than RFC 5322, which allows quoted local
/// parts no public body uses.
pub(super) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// Checks that the class allows the tenant's data classification.
pub(super) fn check_classification_allowed(
    spec: &TenantServiceSpec,
    class: &TenantClass,
    report: &mut Report,
) {
    if spec.entity.entity_type.is_health_body()
        && spec.data_classification == DataClassification::Ordinario
    {
        // Already reported by `check`: the fix is the classification, not the class.
        return;
    }
    let allowed = &class.spec.allowed_data_classifications;
    if !allowed.contains(&spec.data_classification) {
        let list: Vec<&str> = allowed.iter().map(|c| c.as_str()).collect();
        report.error(
            Rule::ClassificationNotHosted,
            "spec.dataClassification",
            format!(
                "TenantClass {:?} does not host {:?} data; it allows {}: choose one of those or a class that allows {:?}",
                spec.class,
                spec.data_classification.as_str(),
                list.join(", "),
                spec.data_classification.as_str()
            ),
        );
    }
}

/// Whether a display name loosely names a Comune: after folding case and accents,
/// dropping a leading "Comune di" (or "Città di", "Gemeinde", ...) and a trailing
/// province abbreviation, it equals the Comune's name or one part of a bilingual name
/// such as `Bolzano/Bozen`.
fn names_agree(display_name: &str, comune: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "comune di ",
        "comune del ",
        "comune della ",
        "comune dell ",
        "comune ",
        "citta di ",
        "gemeinde ",
    ];
    let folded = fold(display_name);
    let mut name = folded.as_str();
    if let Some(rest) = PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
        name = rest;
    }
    // "Comune di Molfetta (BA)" folds to "molfetta ba".
    let without_province = name
        .rsplit_once(' ')
        .filter(|(_, last)| last.len() == 2)
        .map(|(head, _)| head);
    comune
        .split('/')
        .map(fold)
        .any(|part| part == name || Some(part.as_str()) == without_province)
}

/// Lowercase, accents removed, apostrophes and punctuation as spaces, single-spaced.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if let Some(ascii) = crate::api::istat::ascii_spelling(c) {
            out.push_str(ascii);
        } else if c.is_alphanumeric() {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Severity;
    use super::super::testutil::{paths, problems_with};

    #[test]
    fn valid_comune_has_no_problems() {
        assert_eq!(paths(&problems_with(json!({}))), Vec::<String>::new());
    }

    #[test]
    fn comune_needs_istat_code_and_province() {
        let p = problems_with(json!({"entity": {"istatCode": null, "province": null}}));
        assert_eq!(paths(&p), ["spec.entity.istatCode", "spec.entity.province"]);
        // Other bodies need neither.
        let p = problems_with(
            json!({"entity": {"type": "Regione", "displayName": "Regione Puglia", "ipaCode": "r_puglia", "istatCode": null, "province": null}}),
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn istat_code_six_digits() {
        let p = problems_with(json!({"entity": {"istatCode": "72029"}}));
        assert_eq!(paths(&p), ["spec.entity.istatCode"]);
        assert!(p[0].message.contains("six digits"));
    }

    #[test]
    fn istat_prefix_matches_province() {
        let p = problems_with(json!({"entity": {"province": "LE"}}));
        assert_eq!(paths(&p), ["spec.entity.istatCode"]);
        assert!(p[0].message.contains("starts with 072"), "{}", p[0].message);
        assert!(p[0].message.contains("start with 075"), "{}", p[0].message);
    }

    #[test]
    fn istat_code_is_a_real_comune() {
        let p = problems_with(json!({"entity": {"istatCode": "072099"}}));
        assert_eq!(paths(&p), ["spec.entity.istatCode"]);
        assert!(p[0].message.contains("not the code of any Comune"));
    }

    #[test]
    fn province_is_known() {
        let p = problems_with(json!({"entity": {"province": "XY"}}));
        assert_eq!(paths(&p), ["spec.entity.province", "spec.entity.istatCode"]);
        assert!(p[0].message.contains("\"BA\""));
        assert!(
            p[1].message.contains("set province to \"BA\""),
            "{}",
            p[1].message
        );
    }

    #[test]
    fn display_name_loosely_agrees_as_a_warning() {
        for ok in [
            "Comune di Molfetta",
            "COMUNE DI MOLFETTA",
            "Città di Molfetta",
            "Molfetta",
        ] {
            let p = problems_with(json!({"entity": {"displayName": ok}}));
            assert!(p.is_empty(), "{ok}: {p:?}");
        }
        let p = problems_with(json!({"entity": {"displayName": "Comune di Bari"}}));
        assert_eq!(paths(&p), ["spec.entity.displayName"]);
        assert_eq!(p[0].severity, Severity::Warning);
        assert!(p[0].message.contains("Comune di Molfetta"));
        // Accents and apostrophes fold; bilingual names match either part.
        assert!(super::names_agree("Comune di Agliè", "Agliè"));
        assert!(super::names_agree("Comune di Aglie", "Agliè"));
        assert!(super::names_agree(
            "Comune di Sant'Agata di Puglia",
            "Sant'Agata di Puglia"
        ));
        assert!(super::names_agree("Gemeinde Bozen", "Bolzano/Bozen"));
        assert!(!super::names_agree("Comune di Bari Sardo", "Bari"));
        assert!(super::names_agree("Comune di Bari", "Bari"));
        assert!(super::names_agree("Comune di Molfetta (BA)", "Molfetta"));
    }

    #[test]
    fn a_comunes_ipa_code_is_c_and_its_cadastral_code() {
        // Altamura (072004, A225) with Bari's code, and with a made-up one.
        let altamura = json!({"displayName": "Comune di Altamura", "istatCode": "072004"});
        let mut bari = altamura.clone();
        bari["ipaCode"] = json!("c_a662");
        let p = problems_with(json!({ "entity": bari }));
        assert_eq!(paths(&p), ["spec.entity.ipaCode"]);
        assert_eq!(
            p[0].message,
            "\"c_a662\" is the IPA code of Comune 072006 (Bari, BA); a Comune's IPA code is c_ and its cadastral (Belfiore) code, for Altamura \"c_a225\" (or check istatCode)"
        );
        let mut made_up = altamura.clone();
        made_up["ipaCode"] = json!("altamura");
        let p = problems_with(json!({ "entity": made_up }));
        assert_eq!(paths(&p), ["spec.entity.ipaCode"]);
        assert!(
            p[0].message
                .starts_with("\"altamura\" is not the IPA code of Comune 072004;"),
            "{}",
            p[0].message
        );
        let mut right = altamura;
        right["ipaCode"] = json!("c_a225");
        assert!(problems_with(json!({ "entity": right })).is_empty());
        // Outside Puglia too (Agliè, Turin: A074).
        let aglie = json!({"entity": {"displayName": "Comune di Agliè", "istatCode": "001001", "province": "TO", "ipaCode": "c_f284"}});
        let p = problems_with(aglie);
        assert_eq!(paths(&p), ["spec.entity.ipaCode"]);
        assert!(
            p[0].message.contains("for Agliè \"c_a074\""),
            "{}",
            p[0].message
        );
        // Not for other bodies, and not when the ISTAT code is itself wrong.
        let region = json!({"entity": {"type": "Regione", "displayName": "Regione Puglia", "ipaCode": "r_puglia", "istatCode": null, "province": null}});
        assert!(problems_with(region).is_empty());
        let p = problems_with(json!({"entity": {"istatCode": "072999", "ipaCode": "x"}}));
        assert_eq!(paths(&p), ["spec.entity.istatCode"]);
    }

    #[test]
    fn contacts_are_e_mail_addresses() {
        let p = problems_with(json!({"contacts": {
            "rtd": "rtd at comune.altamura.ba.it",
            "technical": "ced@comune.altamura.ba.it",
            "security": "Mario Rossi <csirt@comune.altamura.ba.it>",
        }}));
        assert_eq!(paths(&p), ["spec.contacts.rtd", "spec.contacts.security"]);
        assert!(
            p[0].message
                .starts_with("\"rtd at comune.altamura.ba.it\" is not an e-mail address;"),
            "{}",
            p[0].message
        );
        for ok in [
            "rtd@comune.molfetta.ba.it",
            "mario.rossi+ted@pec.it",
            "a@b.c",
        ] {
            assert!(super::is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "rtd",
            "@comune.it",
            "rtd@",
            "rtd@localhost",
            "a@@b.it",
            "a@b..it",
            "a b@c.it",
            "a@b.it, c@d.it",
            ".a@b.it",
            "a@-b.it",
        ] {
            assert!(!super::is_email(bad), "{bad}");
        }
    }

    /// Whether the CRD's schema, as the API server checks it, refuses `address` as
    /// `spec.contacts.rtd` of the fixture tenant.
    fn crd_refuses(schema: &serde_json::Value, address: &str) -> bool {
        let tenant =
            crate::fixtures::tenant_value("comune-molfetta", json!({"contacts": {"rtd": address}}));
        crd_schema::check(schema, &tenant)
            .iter()
            .any(|e| e.path == "spec.contacts.rtd")
    }

    /// The CRD's pattern and `is_email` agree, so that `kubectl apply` refuses what
    /// `validate` refuses: on the examples above, and on generated near-addresses (local
    /// parts within the 64 characters only `validate` bounds).
    #[test]
    fn the_crd_refuses_the_contacts_validate_refuses() {
        use kube::CustomResourceExt;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngSeed, TestRunner};

        let schema = crate::api::crd::openapi_schema(&crate::api::TenantService::crd())
            .expect("the CRD has a schema");
        for address in [
            "rtd@comune.molfetta.ba.it",
            "mario.rossi+ted@pec.it",
            "a@b.c",
            "rtd at comune.altamura.ba.it",
            "rtd@localhost",
            "a@b..it",
            ".a@b.it",
            "a.@b.it",
            "a@-b.it",
            "a@b-.it",
            "Mario Rossi <rtd@comune.it>",
            "a@b.it, c@d.it",
        ] {
            assert_eq!(
                crd_refuses(&schema, address),
                !super::is_email(address),
                "{address:?}"
            );
        }
        let address = "[a-zA-Z0-9._+'-]{1,6}(\\.[a-z]{0,3})?@[a-zA-Z0-9.-]{0,10}(\\.[a-z0-9-]{0,4})?|[a-z0-9@. ,<>_-]{0,14}";
        let mut runner = TestRunner::new(Config {
            cases: 400,
            rng_seed: RngSeed::Fixed(0x16_e3a1),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&address, |address| {
                prop_assert_eq!(
                    crd_refuses(&schema, &address),
                    !super::is_email(&address),
                    "{:?}",
                    address
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn health_bodies_hold_critical_data() {
        let asl = json!({"entity": {"type": "ASL", "displayName": "ASL Bari", "ipaCode": "asl_ba", "istatCode": null, "province": "BA"}, "class": "sanita"});
        let mut ok = asl.clone();
        ok["dataClassification"] = json!("critico");
        assert!(problems_with(ok).is_empty());
        let p = problems_with(asl);
        assert_eq!(paths(&p), ["spec.dataClassification"]);
        assert!(p[0].message.contains("\"critico\" or \"strategico\""));
    }

    #[test]
    fn class_allows_the_classification() {
        let p = problems_with(json!({"dataClassification": "strategico"}));
        assert_eq!(paths(&p), ["spec.dataClassification"]);
        assert!(
            p[0].message.contains("allows ordinario, critico"),
            "{}",
            p[0].message
        );
    }
}
