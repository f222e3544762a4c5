//! The ISTAT registry of Italian Comuni, embedded in the binary (`controller/data/`, from
//! ISTAT's "Elenco dei comuni italiani"): lookup by ISTAT code, for validation and for
//! generating sample tenants.
//!
//! Cadastral (Belfiore) codes, which make a Comune's IPA code (`c_` + the code in lower
//! case), come from ISTAT for Puglia and, for the rest of Italy, from the Agenzia delle
//! Entrate's list as the `codice_fiscale` crate ships it, joined by name and province
//! (`hack/belfiore-codes.py`; 7,881 of 7,896 Comuni; where both exist they agree, which a
//! test below checks). The 15 Comuni created or renamed after that list have none.
//!
//! The CSV files are parsed once, on first use. They are part of the source tree, so a
//! malformed row is a packaging bug caught by the tests below, not a user error: such a
//! row is skipped rather than aborting the program.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// `istat,name,province,region` for every Comune of Italy.
const ITALIA_CSV: &str = include_str!("../../data/italia-comuni.csv");
/// `istat,name,province,belfiore` for the Comuni of Puglia.
const PUGLIA_CSV: &str = include_str!("../../data/puglia-comuni.csv");
/// `istat,belfiore` for the Comuni of Italy whose name and province identify one entry of
/// the Agenzia delle Entrate's list (see the module documentation).
const BELFIORE_CSV: &str = include_str!("../../data/belfiore-italia.csv");

/// One Comune of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comune {
    /// Six-digit ISTAT code, e.g. `072029`; its first three digits are the province.
    pub code: &'static str,
    /// Official name, e.g. `Molfetta` (bilingual names as `Bolzano/Bozen`).
    pub name: &'static str,
    /// Two-letter province abbreviation, e.g. `BA`.
    pub province: &'static str,
    /// Region, e.g. `Puglia`.
    pub region: &'static str,
    /// Cadastral (Belfiore) code, e.g. `F284`; unknown for the few Comuni created or
    /// renamed after the list it comes from (see the module documentation).
    pub belfiore: Option<&'static str>,
}

/// The parsed registry: Comuni sorted by code, the ISTAT province prefixes of each
/// province abbreviation, and the ISTAT code of each Belfiore code.
struct Registry {
    comuni: Vec<Comune>,
    prefixes: BTreeMap<&'static str, Vec<&'static str>>,
    by_belfiore: BTreeMap<&'static str, &'static str>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    // ISTAT's own codes (Puglia) win over the joined list.
    let mut belfiore: BTreeMap<&str, &str> = rows(BELFIORE_CSV)
        .filter_map(|f| Some((*f.first()?, *f.get(1)?)))
        .collect();
    belfiore.extend(rows(PUGLIA_CSV).filter_map(|f| Some((*f.first()?, *f.get(3)?))));
    let mut comuni: Vec<Comune> = rows(ITALIA_CSV)
        .filter_map(|f| match f.as_slice() {
            [code, name, province, region] => Some(Comune {
                code,
                name,
                province,
                region,
                belfiore: belfiore.get(code).copied(),
            }),
            _ => None,
        })
        .collect();
    comuni.sort_by_key(|c| c.code);
    let mut prefixes: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for c in &comuni {
        let list = prefixes.entry(c.province).or_default();
        let prefix = province_prefix(c.code);
        if !list.contains(&prefix) {
            list.push(prefix);
        }
    }
    let by_belfiore = comuni
        .iter()
        .filter_map(|c| Some((c.belfiore?, c.code)))
        .collect();
    Registry {
        comuni,
        prefixes,
        by_belfiore,
    }
});

/// The data rows of an embedded CSV (no quoting is used in these files), split on commas.
fn rows(csv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end_matches('\r').split(',').collect())
}

/// The first three characters of a code (the whole code if shorter).
fn province_prefix(code: &str) -> &str {
    code.get(..3).unwrap_or(code)
}

/// The ASCII spelling of an accented lower-case letter that occurs in the names of
/// Italian Comuni (Italian, and the German, French and Slovene names of bilingual
/// Comuni), or `None` for any other character. One table, so that name comparison in
/// validation and tenant names in the sample generator fold names the same way.
pub fn ascii_spelling(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => "a",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ç' | 'č' => "c",
        'ñ' => "n",
        'ß' => "ss",
        'š' => "s",
        'ž' => "z",
        _ => return None,
    })
}

/// The Comune with this ISTAT code, if there is one.
pub fn comune(code: &str) -> Option<&'static Comune> {
    let comuni = &REGISTRY.comuni;
    comuni
        .binary_search_by(|c| c.code.cmp(code))
        .ok()
        .and_then(|i| comuni.get(i))
}

/// The Comune whose cadastral (Belfiore) code is `code` (upper case, e.g. `F284`).
pub fn by_belfiore(code: &str) -> Option<&'static Comune> {
    REGISTRY
        .by_belfiore
        .get(code)
        .and_then(|istat| comune(istat))
}

/// Every Comune of Italy, sorted by ISTAT code (7,896 of them).
pub fn all() -> &'static [Comune] {
    &REGISTRY.comuni
}

/// The Comuni of one region (e.g. `Puglia`), sorted by ISTAT code.
pub fn of_region(region: &str) -> impl Iterator<Item = &'static Comune> + '_ {
    all().iter().filter(move |c| c.region == region)
}

/// Whether `province` is the abbreviation of a province that has Comuni in the registry.
pub fn is_province(province: &str) -> bool {
    REGISTRY.prefixes.contains_key(province)
}

/// The ISTAT province codes (first three digits of a Comune's code) of a province, e.g.
/// `["072"]` for `BA`; empty for an unknown abbreviation.
pub fn prefixes_of(province: &str) -> &'static [&'static str] {
    REGISTRY
        .prefixes
        .get(province)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The provinces whose Comuni have codes starting with `prefix` (normally exactly one).
pub fn provinces_of_prefix(prefix: &str) -> Vec<&'static str> {
    REGISTRY
        .prefixes
        .iter()
        .filter(|(_, list)| list.contains(&prefix))
        .map(|(province, _)| *province)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_both_files_is_parsed() {
        assert_eq!(all().len(), 7896);
        assert_eq!(of_region("Puglia").count(), 257);
        assert_eq!(
            of_region("Puglia").filter(|c| c.belfiore.is_some()).count(),
            257,
            "every Comune of Puglia has its Belfiore code"
        );
    }

    #[test]
    fn lookup_by_code() {
        let molfetta = comune("072029").unwrap();
        assert_eq!(molfetta.name, "Molfetta");
        assert_eq!(molfetta.province, "BA");
        assert_eq!(molfetta.region, "Puglia");
        assert_eq!(molfetta.belfiore, Some("F284"));
        assert_eq!(comune("001001").unwrap().name, "Agliè");
        assert_eq!(comune("001001").unwrap().belfiore, Some("A074"));
        assert_eq!(by_belfiore("A225").unwrap().name, "Altamura");
        assert!(by_belfiore("Z999").is_none());
        assert!(comune("072999").is_none());
        assert!(comune("").is_none());
    }

    #[test]
    fn belfiore_codes_of_all_italy_agree_with_istat_where_both_exist() {
        let joined: BTreeMap<&str, &str> = rows(BELFIORE_CSV)
            .filter_map(|f| Some((*f.first()?, *f.get(1)?)))
            .collect();
        let puglia: Vec<(&str, &str)> = rows(PUGLIA_CSV)
            .filter_map(|f| Some((*f.first()?, *f.get(3)?)))
            .collect();
        assert_eq!(puglia.len(), 257);
        for (istat, code) in puglia {
            assert_eq!(joined.get(istat), Some(&code), "{istat}");
        }
        let without: Vec<&str> = all()
            .iter()
            .filter(|c| c.belfiore.is_none())
            .map(|c| c.name)
            .collect();
        assert_eq!(without.len(), 15, "{without:?}");
        // Codes are unique: one Comune per code.
        assert_eq!(REGISTRY.by_belfiore.len(), all().len() - 15);
    }

    #[test]
    fn provinces_and_prefixes() {
        assert_eq!(prefixes_of("BA"), ["072"]);
        assert_eq!(prefixes_of("BT"), ["110"]);
        assert!(prefixes_of("XX").is_empty());
        assert_eq!(provinces_of_prefix("075"), ["LE"]);
        assert!(provinces_of_prefix("999").is_empty());
        assert!(is_province("FG"));
        assert!(!is_province("ZZ"));
    }

    #[test]
    fn codes_are_six_digits_and_unique() {
        let codes: Vec<&str> = all().iter().map(|c| c.code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
    }
}
