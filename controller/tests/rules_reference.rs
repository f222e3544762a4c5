//! The table of rules (`controller/src/api/validation/rules.rs`) against what is published
//! of it: `docs/rules.md` is generated from it, and every rule that an output of the
//! program names (the golden outputs of validate, render and diff, and `validate -o json`
//! over every fixture) is a rule of the table.
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test rules_reference` rewrites
//! `docs/rules.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tenant_operator::api::validation::{Rule, rules_markdown};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn docs_rules_md_is_generated_from_the_table() {
    let path = repository().join("docs/rules.md");
    let want = rules_markdown();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &want).expect("docs/rules.md written");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/rules.md differs from the table of rules; rerun with UPDATE_GOLDEN=1 and commit it"
    );
}

/// Every file below `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The `[RULE-ID]`s ending the lines of a text output (and the `"ruleId"`s and
/// `"check_name"`s of the JSON ones).
fn named_rules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim_end().trim_end_matches([',', '"']);
        if let Some((_, tail)) = line.rsplit_once(" [")
            && let Some(id) = tail.strip_suffix(']')
            && id.contains('-')
            && id.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
        {
            found.push(id.to_string());
        }
        for key in ["\"ruleId\": \"", "\"check_name\": \""] {
            if let Some((_, rest)) = line.trim().split_once(key)
                && !rest.starts_with("tenant-operator/")
            {
                found.push(rest.to_string());
            }
        }
    }
    found
}

#[test]
fn every_rule_the_golden_outputs_name_is_in_the_table() {
    // audit's outputs name its checks (MTB-..., TENANCY-...), not these rules.
    let mut goldens = Vec::new();
    for dir in ["validate", "render", "diff"] {
        files(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden")
                .join(dir),
            &mut goldens,
        );
    }
    let mut named = BTreeSet::new();
    for file in goldens {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for id in named_rules(&text) {
            assert!(
                Rule::from_id(&id).is_some(),
                "{} names {id}, which is not in the table of rules",
                file.display()
            );
            named.insert(id);
        }
    }
    // Not vacuous: the goldens hold problems of the schema, of YAML and of the rules.
    for id in ["YAML-UNQUOTED", "SCHEMA-UNKNOWN-FIELD", "ENTITY-IPA-CODE"] {
        assert!(named.contains(id), "no golden output names {id}: {named:?}");
    }
}

#[test]
fn every_problem_of_every_fixture_names_a_rule_of_the_table() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(manifest_dir.join("tests/fixtures"))
        .args(["validate", "-f", "validate", "-f", "render", "-o", "json"])
        .arg("--classes")
        .arg(manifest_dir.join("tests/fixtures/policies"))
        .output()
        .expect("the binary runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("validate -o json");
    let problems = report["problems"].as_array().expect("a list of problems");
    let mut rules = BTreeSet::new();
    for p in problems {
        let id = p["rule"].as_str().unwrap_or_default();
        assert!(Rule::from_id(id).is_some(), "{p:#}: no rule of the table");
        rules.insert(id);
    }
    // The invalid fixtures break rules of every kind: not one rule for everything.
    assert!(rules.len() >= 20, "{rules:?}");
}
