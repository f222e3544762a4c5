//! A Comune's first pull request through `validate` and `render`, as its IT office runs
//! them, compared with golden files: the body's identity cross-checked (the IPA code is `c_`
//! and the cadastral code of the ISTAT code, contacts are e-mail addresses), production
//! declared rather than guessed from the name `prod`, quantities as people write them.
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test entity_golden` rewrites them.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::assert_golden;

/// Runs the binary in the validate fixtures directory with the repository's trusted
/// policy folder.
fn run(args: &[&str]) -> Output {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(manifest_dir.join("tests/fixtures/validate"))
        .args(args)
        .arg("--classes")
        .arg(manifest_dir.join("../policies"))
        .output()
        .expect("the binary runs")
}

#[test]
fn a_first_pull_request_gets_its_identity_production_and_quantities_checked() {
    let o = run(&["validate", "-f", "entity/first-pull-request.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_golden(
        "validate/first-pull-request.txt",
        &String::from_utf8_lossy(&o.stdout),
    );
}

/// The environment that declares `production: true` gets the hostnames as listed, whatever
/// its name; the others get them prefixed.
#[test]
fn the_declared_production_environment_serves_the_bare_hostnames() {
    let dir = std::env::temp_dir().join(format!("entity-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let file = dir.join("comune-molfetta.yaml");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/validate/valid/comune-molfetta.yaml");
    let text = std::fs::read_to_string(fixture).expect("fixture");
    let renamed = text.replace("    - name: prod\n", "    - name: produzione\n");
    assert_ne!(renamed, text, "the fixture has a prod environment");
    std::fs::write(&file, renamed).expect("fixture written");
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .args(["render", "-f"])
        .arg(&file)
        .arg("--classes")
        .arg(manifest_dir.join("tests/fixtures/policies"))
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(&dir).expect("temporary directory removed");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let notes: String = stderr
        .lines()
        .filter(|l| l.starts_with("note: Secret"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_golden("render/production-declared.notes.txt", &notes);
}
