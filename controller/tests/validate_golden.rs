//! `tenant-operator validate` through the binary, compared with golden files: the messages
//! of YAML's traps (a boolean, number or null read from text written without quotes) and
//! of the invalid fixtures, each naming its rule.
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test validate_golden` rewrites them.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::assert_golden;

/// Runs `validate` in the validate fixtures directory with the tests' trusted policy folder
/// (the repository's, plus the delegation of the fixtures' Comune di Molfetta).
fn validate(args: &[&str]) -> Output {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(manifest_dir.join("tests/fixtures/validate"))
        .arg("validate")
        .args(args)
        .arg("--classes")
        .arg(manifest_dir.join("tests/fixtures/policies"))
        .output()
        .expect("the binary runs")
}

#[test]
fn yaml_traps_say_to_write_the_value_in_quotes() {
    let o = validate(&["-f", "traps/yaml-traps.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_golden(
        "validate/yaml-traps.txt",
        &String::from_utf8_lossy(&o.stdout),
    );
}

/// The invalid fixtures (typos, conflicts across tenants, a warning alone): every problem
/// with its file, line, field and rule.
#[test]
fn invalid_files_name_each_problem_and_its_rule() {
    let o = validate(&["-f", "invalid"]);
    assert_eq!(o.status.code(), Some(1));
    assert_golden("validate/invalid.txt", &String::from_utf8_lossy(&o.stdout));
}

/// The same problems as annotations for forges, one golden file per format.
#[test]
fn annotations_for_github_gitlab_and_sarif() {
    for (format, golden) in [
        ("github", "validate/yaml-traps.github.txt"),
        ("gitlab", "validate/yaml-traps.gitlab.json"),
        ("sarif", "validate/yaml-traps.sarif"),
    ] {
        let o = validate(&["-f", "traps/yaml-traps.yaml", "-o", format]);
        assert_eq!(o.status.code(), Some(1), "-o {format}");
        assert_golden(golden, &String::from_utf8_lossy(&o.stdout));
    }
    // Valid files give no annotation (and an empty report for the JSON formats).
    let o = validate(&["-f", "valid", "-o", "github"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    let o = validate(&["-f", "valid", "-o", "gitlab"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "[]\n");
}
