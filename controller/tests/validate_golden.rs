//! `tenant-operator validate` through the binary, compared with golden files: the messages
//! of YAML's traps (a boolean, number or null read from text written without quotes).
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test validate_golden` rewrites them.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::assert_golden;

/// Runs `validate` in the validate fixtures directory with the default classes.
fn validate(args: &[&str]) -> Output {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(manifest_dir.join("tests/fixtures/validate"))
        .arg("validate")
        .args(args)
        .arg("--classes")
        .arg(manifest_dir.join("../policies/classes"))
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
