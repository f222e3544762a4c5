//! The inputs themselves, before any rule: a trusted policy folder (`--classes`) that is
//! missing, or holds no manifest or no TenantClass, is reported as such, with its path, by
//! every command that reads it (one loader: `manifest::load_with_library`), with exit
//! status 2 and nothing on standard output, rather than as every tenant naming a class
//! that does not exist.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tenant file the commands could check if they had the classes.
fn tenant_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate/valid/comune-molfetta.yaml")
}

/// A fresh directory outside the repository, as a newcomer's working directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inputs-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Asserts exit 2, nothing on stdout, and one error line naming `--classes <path>` and
/// `problem`.
fn assert_refused(o: &Output, path: &str, problem: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "",
        "{what}: no rule ran"
    );
    let expected = format!("error: --classes {path}: {problem}");
    assert!(
        stderr.starts_with(&expected),
        "{what}: {stderr:?} should start with {expected:?}"
    );
    assert!(
        stderr.contains("--classes names the trusted policy folder"),
        "{what}: {stderr}"
    );
}

const COMMANDS: [&str; 3] = ["validate", "render", "audit"];

#[test]
fn a_missing_class_folder_is_named_by_every_command() {
    let cwd = scratch("missing");
    let tenant = tenant_file();
    let tenant = tenant.to_str().expect("UTF-8 path");
    for command in COMMANDS {
        let o = run(
            &cwd,
            &[command, "-f", tenant, "--classes", "no-such-policies"],
        );
        assert_refused(&o, "no-such-policies", "No such file or directory", command);
    }
    // Without --classes, the default folder, relative to the working directory.
    for command in COMMANDS {
        let o = run(&cwd, &[command, "-f", tenant]);
        assert_refused(&o, "policies", "No such file or directory", command);
    }
    std::fs::remove_dir_all(&cwd).expect("scratch removed");
}

#[test]
fn an_empty_class_folder_or_one_without_classes_is_named_by_every_command() {
    let cwd = scratch("empty");
    let tenant = tenant_file();
    let tenant = tenant.to_str().expect("UTF-8 path");
    std::fs::create_dir_all(cwd.join("policies")).expect("empty folder");
    for command in COMMANDS {
        let o = run(&cwd, &[command, "-f", tenant, "--classes", "policies"]);
        assert_refused(
            &o,
            "policies",
            "holds no manifest file (*.yaml, *.yml, *.json)",
            command,
        );
    }
    // Manifests, but no TenantClass among them (the delegations alone).
    std::fs::write(
        cwd.join("policies/delegation.yaml"),
        "apiVersion: tenancy.innova.puglia.it/v1alpha1\nkind: DomainDelegation\nmetadata:\n  name: comune-molfetta\nspec:\n  ipaCode: c_f284\n  domains: [comune.molfetta.ba.it]\n",
    )
    .expect("delegation written");
    for command in COMMANDS {
        let o = run(&cwd, &[command, "-f", tenant, "--classes", "policies"]);
        assert_refused(
            &o,
            "policies",
            "holds no TenantClass (1 manifest file(s) read)",
            command,
        );
    }
    std::fs::remove_dir_all(&cwd).expect("scratch removed");
}
