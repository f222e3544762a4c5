//! `tenant-operator render` through the binary, against checked-in expectations.
//!
//! Each directory of `tests/fixtures/render/` is rendered with the default classes of
//! `policies/classes/` (and the delegations of `tests/fixtures/policies/`) and compared byte for byte with `tests/golden/render/<dir>.yaml`;
//! `samples/` is compared with `tests/golden/render/samples.yaml`. A review of a changed
//! golden file is a review of what the operator would change in the cluster.
//!
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test render_golden` rewrites them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/render")
}

/// Runs `render` from the workspace root, so that paths in messages are relative, with
/// the tests' trusted policy folder unless `args` name another: the repository's classes,
/// delegations and reserved namespaces, plus the delegation of the fixtures' Comune di
/// Molfetta.
fn render(args: &[&str]) -> Output {
    let trusted: &[&str] = if args.contains(&"--classes") {
        &[]
    } else {
        &["--classes", "controller/tests/fixtures/policies"]
    };
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(workspace())
        .arg("render")
        .args(trusted)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `-f` argument of a fixture directory, relative to the workspace root.
fn fixture_arg(name: &str) -> String {
    format!("controller/tests/fixtures/render/{name}")
}

/// The valid fixture directories (those not named `invalid-*`), sorted.
fn valid_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures/render exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with("invalid-"))
        .collect();
    names.sort();
    names
}

/// Renders `input` and compares stdout with `golden/render/<golden>.yaml`.
fn check_golden(input: &str, golden: &str) -> String {
    let out = render(&["-f", input]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "render -f {input} failed:\n{}",
        text(&out.stderr)
    );
    let rendered = text(&out.stdout);
    let path = golden_dir().join(format!("{golden}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).expect("golden dir");
        std::fs::write(&path, &rendered).expect("golden written");
        return rendered;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test -p tenant-operator --test render_golden",
            path.display()
        )
    });
    if rendered != expected {
        let first_difference = rendered
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map_or_else(
                || "one output is a prefix of the other".to_string(),
                |(i, (a, b))| format!("line {}: rendered {a:?}, expected {b:?}", i + 1),
            );
        panic!(
            "render -f {input} differs from {} ({first_difference}); if the change is intended, run UPDATE_GOLDEN=1 cargo test -p tenant-operator --test render_golden and review the diff",
            path.display()
        );
    }
    rendered
}

#[test]
fn fixtures_render_as_their_golden_files() {
    let names = valid_fixtures();
    assert!(names.len() >= 4, "fixtures missing: {names:?}");
    for name in names {
        check_golden(&fixture_arg(&name), &name);
    }
}

#[test]
fn samples_render_as_their_golden_file() {
    check_golden("samples", "samples");
}

#[test]
fn output_is_byte_identical_across_runs_and_formats_agree() {
    let yaml_a = render(&["-f", "samples"]);
    let yaml_b = render(&["-f", "samples"]);
    assert_eq!(yaml_a.status.code(), Some(0), "{}", text(&yaml_a.stderr));
    assert_eq!(yaml_a.stdout, yaml_b.stdout);
    assert_eq!(yaml_a.stderr, yaml_b.stderr);

    let json_a = render(&["-f", "samples", "-o", "json"]);
    let json_b = render(&["-f", "samples", "-o", "json"]);
    assert_eq!(json_a.stdout, json_b.stdout);
    let list: serde_json::Value = serde_json::from_slice(&json_a.stdout).expect("JSON output");
    assert_eq!(list["kind"], "List");
    let from_yaml: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text(&yaml_a.stdout)).expect("YAML output parses");
    assert_eq!(list["items"].as_array(), Some(&from_yaml));
}

/// `(namespace, selected tenant)` of every cross-tenant ingress policy in YAML output.
fn consented(yaml: &str) -> Vec<(String, String)> {
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("YAML");
    objects
        .iter()
        .filter(|o| o["metadata"]["name"] == "tenancy-allow-from-tenants")
        .flat_map(|o| {
            let namespace = o["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            o["spec"]["ingress"][0]["from"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |peer| {
                    (
                        namespace.clone(),
                        peer["namespaceSelector"]["matchLabels"]["tenancy.innova.puglia.it/tenant"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
        })
        .collect()
}

#[test]
fn cross_tenant_ingress_only_where_both_consent() {
    let one_sided = render(&[
        "-f",
        &fixture_arg("consent-one-sided-comune-lecce-region-silent"),
    ]);
    assert_eq!(
        one_sided.status.code(),
        Some(0),
        "{}",
        text(&one_sided.stderr)
    );
    assert_eq!(consented(&text(&one_sided.stdout)), []);

    let mutual = render(&[
        "-f",
        &fixture_arg("consent-mutual-asl-taranto-region-prod-only"),
    ]);
    assert_eq!(mutual.status.code(), Some(0), "{}", text(&mutual.stderr));
    let pair = |ns: &str, tenant: &str| (ns.to_string(), tenant.to_string());
    assert_eq!(
        consented(&text(&mutual.stdout)),
        [
            pair("asl-taranto-prod", "regione-puglia"),
            pair("asl-taranto-test", "regione-puglia"),
            pair("regione-puglia-prod", "asl-taranto"),
        ]
    );

    // Either tenant alone: no consent.
    for alone in ["asl-taranto.yaml", "regione-puglia.yaml"] {
        let path = format!(
            "{}/{alone}",
            fixture_arg("consent-mutual-asl-taranto-region-prod-only")
        );
        let out = render(&["-f", &path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(consented(&text(&out.stdout)), [], "{alone} alone");
    }
}

#[test]
fn invalid_input_is_refused_with_file_line_and_field() {
    let out = render(&["-f", &fixture_arg("invalid-comune-trani-egress-widens")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing may be printed: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    let file =
        "controller/tests/fixtures/render/invalid-comune-trani-egress-widens/comune-trani.yaml";
    for expected in [
        format!("{file}:21: TenantService/comune-trani: spec.network.egress[0].cidrs[0]: "),
        format!("{file}:22: TenantService/comune-trani: spec.network.egress[0].ports[0]: "),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn tls_secrets_are_left_to_the_controller_without_a_ca() {
    let out = render(&["-f", "samples/comune-poggiorsini.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("kind: Secret"));
    assert!(
        text(&out.stderr).contains(
            "note: Secret comune-poggiorsini-prod/comune-poggiorsini-tls (www.comune.poggiorsini.ba.it) is issued by the controller at run time"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// A throwaway CA in a fresh directory; removed on drop.
struct TempCa {
    dir: PathBuf,
}

impl TempCa {
    fn new(test: &str) -> TempCa {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        Self::with_key(test, &key.serialize_pem())
    }

    /// A CA of the key `key_pem` (PKCS#8, SEC1 or PKCS#1), the key file written as given.
    fn with_key(test: &str, key_pem: &str) -> TempCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyUsagePurpose};
        let dir = std::env::temp_dir().join(format!("render-golden-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = tenant_operator::pki::keys::key_pair_from_pem(key_pem).expect("a readable key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        std::fs::write(dir.join("ca.crt"), cert.pem()).expect("ca.crt");
        std::fs::write(dir.join("ca.key"), key_pem).expect("ca.key");
        TempCa { dir }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--ca-cert".into(),
            self.dir.join("ca.crt").display().to_string(),
            "--ca-key".into(),
            self.dir.join("ca.key").display().to_string(),
        ]
    }
}

impl Drop for TempCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn secrets(yaml: &str) -> Vec<serde_json::Value> {
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("YAML");
    objects
        .into_iter()
        .filter(|o| o["kind"] == "Secret")
        .collect()
}

#[test]
fn sec1_and_pkcs1_ca_keys_issue_the_tls_secrets_too() {
    for (test, key) in [
        ("sec1", include_str!("keys/ec-p256-sec1.key")),
        ("pkcs1", include_str!("keys/rsa-2048-pkcs1.key")),
    ] {
        let ca = TempCa::with_key(test, key);
        let mut args: Vec<String> = vec!["-f".into(), "samples/asl-bari.yaml".into()];
        args.extend(ca.args());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = render(&argv);
        assert_eq!(out.status.code(), Some(0), "{test}: {}", text(&out.stderr));
        assert_eq!(secrets(&text(&out.stdout)).len(), 2, "{test}");
    }
}

#[test]
fn with_a_ca_secrets_are_issued_and_keys_shown_only_on_request() {
    let ca = TempCa::new("keys");
    let mut args: Vec<String> = vec!["-f".into(), "samples/asl-bari.yaml".into()];
    args.extend(ca.args());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();

    let hidden = render(&argv);
    assert_eq!(hidden.status.code(), Some(0), "{}", text(&hidden.stderr));
    let found = secrets(&text(&hidden.stdout));
    let placed: Vec<(&str, &str)> = found
        .iter()
        .map(|s| {
            (
                s["metadata"]["namespace"].as_str().unwrap_or_default(),
                s["metadata"]["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("asl-bari-prod", "asl-bari-tls"),
            ("asl-bari-test", "asl-bari-tls")
        ]
    );
    for secret in &found {
        assert_eq!(secret["type"], "kubernetes.io/tls");
        assert!(secret["data"]["tls.crt"].is_string());
        assert!(secret["data"]["ca.crt"].is_string());
        assert!(secret["data"].get("tls.key").is_none(), "{secret}");
    }
    assert!(text(&hidden.stderr).contains("--show-private-keys"));
    let objects: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text(&hidden.stdout)).expect("YAML");
    let bundles: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "regional-ca.crt")
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(bundles, ["asl-bari-prod", "asl-bari-test"]);

    let mut shown_args = argv.clone();
    shown_args.push("--show-private-keys");
    let shown = render(&shown_args);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    assert!(
        secrets(&text(&shown.stdout))
            .iter()
            .all(|s| s["data"]["tls.key"].is_string())
    );
}

/// `(namespace, ca.crt)` of every CA bundle ConfigMap in YAML output.
fn bundles(yaml: &str) -> Vec<(String, Option<String>)> {
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("YAML");
    objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "regional-ca.crt")
        .map(|o| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["data"]["ca.crt"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn every_namespace_gets_a_ca_bundle_filled_from_ca_cert_when_given() {
    // Without --ca-cert: printed without data, for the controller to fill in.
    let out = render(&["-f", "samples/asl-bari.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        bundles(&text(&out.stdout)),
        [
            ("asl-bari-prod".to_string(), None),
            ("asl-bari-test".to_string(), None)
        ]
    );
    assert!(
        text(&out.stderr).contains("give --ca-cert to include it"),
        "{}",
        text(&out.stderr)
    );

    // --ca-cert alone: the bundles hold the certificate; the Secrets stay the controller's.
    let ca = TempCa::new("bundle");
    let cert = ca.dir.join("ca.crt");
    let pem = std::fs::read_to_string(&cert).expect("ca.crt");
    let cert_arg = cert.display().to_string();
    let out = render(&["-f", "samples/asl-bari.yaml", "--ca-cert", &cert_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let filled = bundles(&text(&out.stdout));
    assert_eq!(filled.len(), 2);
    assert!(
        filled
            .iter()
            .all(|(_, data)| data.as_deref() == Some(pem.as_str()))
    );
    assert!(secrets(&text(&out.stdout)).is_empty());
    assert!(text(&out.stderr).contains("is issued by the controller at run time"));

    // A file that is not a CA certificate is refused, naming it.
    let key_arg = ca.dir.join("ca.key").display().to_string();
    let out = render(&["-f", "samples/asl-bari.yaml", "--ca-cert", &key_arg]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("is not a usable CA certificate"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rendered_objects_pass_kubernetes_validate_strict_for_1_34() {
    let Some(tool) = fake_apiserver::tools::find("kubernetes-validate") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("render-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = TempCa::new("validate");
    let mut files = Vec::new();
    let mut inputs: Vec<String> = valid_fixtures().iter().map(|n| fixture_arg(n)).collect();
    inputs.push("samples".to_string());
    for (index, input) in inputs.iter().enumerate() {
        // With a CA, so that the TLS Secrets are validated too.
        let mut args: Vec<String> = vec!["-f".into(), input.clone(), "--show-private-keys".into()];
        args.extend(ca.args());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = render(&argv);
        assert_eq!(out.status.code(), Some(0), "{input}: {}", text(&out.stderr));
        let file = dir.join(format!("{index}.yaml"));
        std::fs::write(&file, &out.stdout).expect("rendered file");
        files.push(file);
    }
    let result = Command::new(&tool)
        .args(["--strict", "--quiet", "-k", "1.34.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        result.status.success(),
        "kubernetes-validate --strict refused rendered objects:\n{}{}",
        text(&result.stdout),
        text(&result.stderr)
    );
}

#[test]
fn unreadable_input_is_a_usage_error() {
    let out = render(&["-f", "controller/tests/fixtures/render/no-such-fixture"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no-such-fixture"),
        "{}",
        text(&out.stderr)
    );
    let out = render(&["-f", "samples", "--classes", "no-such-classes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--classes"),
        "{}",
        text(&out.stderr)
    );
}
