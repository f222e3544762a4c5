//! `tenant-operator validate` through the binary, as a pull-request pipeline runs it:
//! fixtures with typos and conflicts give every problem at its `file:line`, exit 1;
//! valid manifests give a one-line summary, exit 0; unreadable inputs exit 2.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate")
}

/// The tests' trusted policy folder: the repository's classes, delegations and reserved
/// namespaces (linked), plus the delegation of the fixtures' Comune di Molfetta.
fn default_classes() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policies")
        .display()
        .to_string()
}

/// Runs `validate` in the fixtures directory (so that file names print short) with the
/// tests' trusted policy folder.
fn validate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(fixtures())
        .arg("validate")
        .args(args)
        .args(["--classes", &default_classes()])
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `file:line: object: path` of each problem line (the message left out).
fn locations(o: &Output) -> Vec<String> {
    let out = stdout(o);
    let lines: Vec<&str> = out.lines().collect();
    // The last line is the summary.
    lines[..lines.len().saturating_sub(1)]
        .iter()
        .map(|l| l.splitn(4, ": ").take(3).collect::<Vec<_>>().join(": "))
        .collect()
}

#[test]
fn valid_directory_prints_a_summary_and_exits_0() {
    let o = validate(&["-f", "valid"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        stdout(&o),
        "valid: 3 TenantServices and 4 TenantClasses (12 files, 1 document of another kind ignored)\n"
    );
}

#[test]
fn typos_are_reported_each_at_its_line_and_exit_1() {
    let o = validate(&["-f", "invalid/typos.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let f = "invalid/typos.yaml";
    assert_eq!(
        locations(&o),
        [
            format!("{f}:6: TenantService/comune-bari: spec.environments"),
            format!("{f}:10: TenantService/comune-bari: spec.entity.istatCode"),
            format!("{f}:15: TenantService/comune-bari: spec.enviroments"),
            format!("{f}:20: TenantService/comune-bari: spec.network.egress[0].cidrs[0]"),
            format!("{f}:22: TenantService/comune-bari: spec.network.egress[1].name"),
            format!("{f}:24: TenantService/comune-bari: spec.tls.hostnames[0]"),
            format!("{f}:35: TenantService/asl-bari: spec.dataClassification"),
            format!("{f}:40: TenantService/asl-bari: spec.environments[0].quota.cpu"),
            format!("{f}:41: TenantService/asl-bari: spec.environments[0].quota.memory"),
            format!("{f}:42: TenantService/asl-bari: spec.environments[1].name"),
        ],
        "{}",
        stdout(&o)
    );
    let out = stdout(&o);
    assert!(out.contains(
        "spec.enviroments: unknown field \"enviroments\"; did you mean \"environments\"?"
    ));
    assert!(out.contains("codes of LE start with 075"));
    assert!(out.contains("use one of: pagopa"));
    assert!(
        out.ends_with("invalid: 10 errors in 2 TenantServices and 4 TenantClasses (11 files)\n")
    );
}

#[test]
fn warnings_alone_exit_0() {
    let o = validate(&["-f", "invalid/warning-only.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        locations(&o),
        ["invalid/warning-only.yaml:8: TenantService/comune-molfetta: spec.entity.displayName"]
    );
    assert!(stdout(&o).contains(": warning: \"Comune di Giovinazzo\""));
    assert!(
        stdout(&o)
            .ends_with("valid with 1 warning: 1 TenantService and 4 TenantClasses (11 files)\n")
    );
}

#[test]
fn conflicts_across_files_are_reported_on_both_sides() {
    let o = validate(&[
        "-f",
        "valid/comune-molfetta.yaml",
        "-f",
        "invalid/conflicts.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        locations(&o),
        [
            "valid/comune-molfetta.yaml:15: TenantService/comune-molfetta: spec.environments[0].name",
            "valid/comune-molfetta.yaml:26: TenantService/comune-molfetta: spec.tls.hostnames[0]",
            "invalid/conflicts.yaml:11: TenantService/comune: spec.environments[0].name",
            // Claimed by comune-molfetta, and outside the domains delegated to r_puglia.
            "invalid/conflicts.yaml:14: TenantService/comune: spec.tls.hostnames[0]",
            "invalid/conflicts.yaml:14: TenantService/comune: spec.tls.hostnames[0]",
        ]
    );
}

#[test]
fn a_name_made_by_the_environment_prefix_conflicts_too() {
    let o = validate(&[
        "-f",
        "valid/comune-molfetta.yaml",
        "-f",
        "certificate-names/comune-bari.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        locations(&o),
        [
            "valid/comune-molfetta.yaml:26: TenantService/comune-molfetta: spec.tls.hostnames[0]",
            // Claimed by comune-molfetta's test certificate, and not Bari's domain.
            "certificate-names/comune-bari.yaml:22: TenantService/comune-bari: spec.tls.hostnames[1]",
            "certificate-names/comune-bari.yaml:22: TenantService/comune-bari: spec.tls.hostnames[1]",
        ]
    );
    let out = stdout(&o);
    assert!(
        out.contains("\"servizi.comune.molfetta.ba.it\" puts \"test.servizi.comune.molfetta.ba.it\" in the certificate of environment \"test\", and tenant \"comune-bari\" lists"),
        "{out}"
    );
    assert!(
        out.contains("tenant \"comune-molfetta\"'s certificate of environment \"test\""),
        "{out}"
    );
}

#[test]
fn json_output_for_machines() {
    let o = validate(&["-f", "invalid", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    assert_eq!(report["valid"], false);
    // typos.yaml: 10; conflicts.yaml and warning-only.yaml share comune-molfetta-prod: 2;
    // conflicts.yaml's hostname is Molfetta's, not delegated to the region: 1.
    assert_eq!(report["errors"], 13);
    assert_eq!(report["warnings"], 1);
    let first = &report["problems"][0];
    assert_eq!(first["file"], "invalid/conflicts.yaml");
    assert_eq!(first["line"], 11);
    assert_eq!(first["path"], "spec.environments[0].name");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["rule"], "ENV-NAMESPACE-TAKEN");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("rename this environment")
    );
}

#[test]
fn standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(fixtures())
        .args(["validate", "-f", "-", "--classes", &default_classes()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let text = std::fs::read_to_string(fixtures().join("invalid/warning-only.yaml")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            text.replace("Giovinazzo", "Molfetta")
                .replace("class: standard", "class: gold")
                .as_bytes(),
        )
        .unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        locations(&o),
        ["<stdin>:13: TenantService/comune-molfetta: spec.class"]
    );
}

/// `validate -f -` of `text`: exit code and standard output.
fn validate_stdin(text: &str) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(fixtures())
        .args(["validate", "-f", "-", "--classes", &default_classes()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    (o.status.code(), stdout(&o))
}

/// Production guessed from the name `prod` (no `production: true`) is accepted with a
/// warning under its rule that says which certificate gets the hostnames; declared, or
/// without hostnames (where production decides nothing), there is no warning.
#[test]
fn production_by_default_is_warned_under_its_rule_when_it_decides_the_hostnames() {
    let declared = std::fs::read_to_string(fixtures().join("valid/comune-molfetta.yaml")).unwrap();
    let by_default = declared.replace("      production: true\n", "");
    assert_ne!(by_default, declared, "the fixture declares production");
    let (code, out) = validate_stdin(&declared);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("valid: 1 TenantService"), "{out}");

    let (code, out) = validate_stdin(&by_default);
    assert_eq!(code, Some(0), "a warning does not fail: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(
            "<stdin>:15: TenantService/comune-molfetta: spec.environments[0]: warning: no environment declares production: true, so \"prod\" is production by its name"
        ) && lines[0].ends_with(" [ENV-PRODUCTION-DEFAULT]"),
        "{out}"
    );
    assert!(
        lines[0].contains("(e.g. servizi.comune.molfetta.ba.it)"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("valid with 1 warning: 1 TenantService"),
        "{out}"
    );

    let without_hostnames = by_default.replace(
        "  tls:\n    hostnames: [servizi.comune.molfetta.ba.it]\n",
        "",
    );
    assert_ne!(without_hostnames, by_default, "the fixture has hostnames");
    let (code, out) = validate_stdin(&without_hostnames);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("valid: 1 TenantService"), "{out}");
}

#[test]
fn syntax_errors_are_problems_with_a_line() {
    let dir = std::env::temp_dir().join(format!("validate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1, 2\n",
    )
    .unwrap();
    let o = validate(&["-f", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("broken.yaml:"), "{out}");
    assert!(out.contains(": document: not valid YAML: "), "{out}");
    assert!(out.contains(" [YAML-SYNTAX]\n"), "{out}");
}

#[test]
fn unreadable_inputs_exit_2() {
    let o = validate(&["-f", "no-such-file.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot read no-such-file.yaml"), "{err}");
    assert!(err.trim_end().ends_with("[INPUT-UNREADABLE]"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .args(["validate", "-f", "-", "--classes", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.trim_end().ends_with("[INPUT-POLICY-FOLDER]"), "{err}");
}

#[test]
fn the_default_classes_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(&root)
        .args(["validate", "-f", "policies/classes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("valid: 0 TenantServices and "),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_samples_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(&root)
        .args(["validate", "-f", "samples"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("valid: "), "{}", stdout(&o));
}

/// Every generated Comune of Puglia, as YAML on standard input, passes the whole check
/// (schema, CEL, rules, cross-file) with the default classes and a trusted folder holding
/// each Comune's delegation: no false positives on real names, codes and provinces.
#[test]
fn every_comune_of_puglia_is_valid() {
    use tenant_operator::samples::{Scope, comuni_delegations, comuni_tenants};
    let yaml = |docs: Vec<String>| docs.join("---\n");
    let text = yaml(
        comuni_tenants(Scope::Puglia)
            .iter()
            .map(|t| serde_saphyr::to_string(t).expect("a tenant serialises"))
            .collect(),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let trusted = std::env::temp_dir().join(format!("validate-puglia-{}", std::process::id()));
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::write(
        trusted.join("delegations.yaml"),
        yaml(
            comuni_delegations(Scope::Puglia)
                .iter()
                .map(|d| serde_saphyr::to_string(d).expect("a delegation serialises"))
                .collect(),
        ),
    )
    .unwrap();
    for class in std::fs::read_dir(root.join("policies/classes")).unwrap() {
        let class = class.unwrap().path();
        std::fs::copy(&class, trusted.join(class.file_name().unwrap())).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(&root)
        .args(["validate", "-f", "-", "--classes"])
        .arg(&trusted)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    std::fs::remove_dir_all(&trusted).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("valid: 257 TenantServices and "),
        "{}",
        stdout(&o)
    );
}
