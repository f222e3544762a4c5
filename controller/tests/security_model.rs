//! `policies/README.md` (the security model) stays true to the tests: every test its
//! guarantee table names exists (so a renamed or deleted test cannot leave a claim
//! uncovered), and every admission policy file is listed there with the tests of its
//! guarantees. What each guarantee means is checked by the tests themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `fn name` of the Rust sources under `dir`.
fn functions_in(dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            functions_in(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            for line in text.lines() {
                let line = line.trim_start();
                let rest = line
                    .strip_prefix("async fn ")
                    .or_else(|| line.strip_prefix("fn "));
                if let Some(name) = rest.and_then(|r| r.split('(').next()) {
                    found.insert(name.to_string());
                }
            }
        }
    }
}

/// The rows of the guarantee table: (policy or source files, test names).
fn guarantee_rows() -> Vec<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("policies/README.md")).expect("README");
    let table = text
        .split("## Guarantees")
        .nth(1)
        .expect("policies/README.md has a Guarantees section");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    table
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #") && !l.starts_with("| ---"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            assert_eq!(cells.len(), 5, "a guarantee row has 5 cells: {l}");
            (ticked(cells[3]), ticked(cells[4].trim_end_matches(" |")))
        })
        .collect()
}

#[test]
fn every_test_the_security_model_names_exists() {
    let mut functions = BTreeSet::new();
    for dir in ["controller", "tests/integration", "tests/fake-apiserver"] {
        functions_in(&root().join(dir), &mut functions);
    }
    let rows = guarantee_rows();
    assert!(rows.len() >= 15, "the guarantee table lists the guarantees");
    for (files, tests) in rows {
        assert!(!tests.is_empty(), "{files:?}: a guarantee without a test");
        for test in tests {
            assert!(
                functions.contains(&test),
                "policies/README.md names the test {test}, which does not exist"
            );
        }
    }
}

#[test]
fn every_admission_policy_is_in_the_security_model() {
    let listed: BTreeSet<String> = guarantee_rows()
        .into_iter()
        .flat_map(|(files, _)| files)
        .collect();
    let dir = root().join("policies/admission");
    for entry in std::fs::read_dir(&dir).expect("policies/admission") {
        let path = entry.expect("entry").path();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml"))
        {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            assert!(
                listed.contains(&format!("admission/{name}")),
                "policies/README.md: no guarantee is enforced by admission/{name}"
            );
        }
    }
}
