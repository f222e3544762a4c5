//! `tenant-operator audit` through the binary, as the pull-request pipeline runs it.
//!
//! The samples are audited in every output format and compared byte for byte with
//! `tests/golden/audit/samples.{txt,md,json,sarif}`; so is the "what if" fixture of
//! `tests/fixtures/audit/` (hand-written objects that break isolation) in text and SARIF.
//! Beside the golden files, the properties a security team signs off are asserted on the
//! JSON directly: the consenting pair reachable both ways and no other pair; each tenant
//! reaching DNS and the catalogue destinations its TenantService names, nothing else; each
//! group's rights inside its own tenant.
//!
//! `audit --kubeconfig` is run against an in-memory API server holding the same objects,
//! and must agree with `audit -f`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p tenant-operator --test audit_golden` rewrites the files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

const WHAT_IF: &str = "controller/tests/fixtures/audit/what-if-break-isolation";

/// Runs `audit` from the workspace root (so `--classes` takes its default and paths in
/// the output are relative).
fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .current_dir(workspace())
        .arg("audit")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `audit` and checks the exit status.
fn run(args: &[&str], status: i32) -> String {
    let out = audit(args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "audit {args:?}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(args: &[&str], status: i32) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&run(&all, status)).expect("JSON output")
}

fn check_golden(name: &str, output: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/audit")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
        std::fs::write(&path, output).expect("golden written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test -p tenant-operator --test audit_golden",
            path.display()
        )
    });
    assert!(
        output == expected,
        "{} differs from the audit output; review and rerun with UPDATE_GOLDEN=1:\n{output}",
        path.display()
    );
}

#[test]
fn the_samples_in_every_format() {
    for (format, extension) in [
        ("text", "txt"),
        ("markdown", "md"),
        ("json", "json"),
        ("sarif", "sarif"),
    ] {
        let output = run(&["-f", "samples/", "-o", format], 0);
        check_golden(&format!("samples.{extension}"), &output);
    }
}

#[test]
fn what_if_objects_that_break_isolation_in_text_and_sarif() {
    for (format, extension) in [("text", "txt"), ("sarif", "sarif")] {
        let output = run(&["-f", "samples/", "-f", WHAT_IF, "-o", format], 1);
        check_golden(&format!("what-if-break-isolation.{extension}"), &output);
    }
}

/// The samples' TenantServices as JSON, by name.
fn sample_tenants() -> BTreeMap<String, Value> {
    let mut tenants = BTreeMap::new();
    for entry in std::fs::read_dir(workspace().join("samples")).expect("samples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let tenant: Value = serde_saphyr::from_str(&text).expect("a sample parses");
            let name = tenant["metadata"]["name"]
                .as_str()
                .expect("named")
                .to_string();
            tenants.insert(name, tenant);
        }
    }
    tenants
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The report's tenant namespaces, with their tenants.
fn namespaces(report: &Value) -> BTreeMap<String, String> {
    report["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().expect("name").to_string(),
                n["tenant"].as_str().expect("tenant").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_consenting_pair_reaches_each_other_both_ways_and_no_other_pair_connects() {
    let report = json(&["-f", "samples/"], 0);
    let namespaces = namespaces(&report);
    let allowed: BTreeSet<(String, String)> = report["reachability"]
        .as_array()
        .expect("reachability")
        .iter()
        .filter(|r| r["allowed"] == true)
        .map(|r| {
            (
                r["from"].as_str().unwrap_or_default().to_string(),
                r["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|(from, to)| namespaces.contains_key(from) && namespaces.contains_key(to))
        .collect();
    // asl-bari consents to the Region's prod only; the Region to all of asl-bari.
    let pairs = [
        ("asl-bari-prod", "regione-puglia-prod"),
        ("asl-bari-test", "regione-puglia-prod"),
    ];
    let expected: BTreeSet<(String, String)> = pairs
        .iter()
        .flat_map(|(a, b)| {
            [
                (a.to_string(), b.to_string()),
                (b.to_string(), a.to_string()),
            ]
        })
        .collect();
    assert_eq!(allowed, expected);
    let summary = &report["summary"];
    let count = namespaces.len();
    assert_eq!(summary["tenantPairs"], count * (count - 1));
    assert_eq!(summary["tenantPairsAllowed"], expected.len());
    // Every other pair is blocked: the related ones are listed as such.
    let listed_blocked = report["reachability"]
        .as_array()
        .expect("reachability")
        .iter()
        .filter(|r| r["allowed"] == false)
        .filter(|r| r["from"] == "regione-puglia-test" && r["to"] == "asl-bari-prod")
        .count();
    assert_eq!(
        listed_blocked, 1,
        "the Region's test is not part of the consent"
    );
}

#[test]
fn each_tenant_reaches_dns_and_the_destinations_it_asked_for_and_nothing_else() {
    let report = json(&["-f", "samples/"], 0);
    let tenants = sample_tenants();
    let namespaces = namespaces(&report);
    let reach: BTreeMap<(String, String), &Value> = report["reachability"]
        .as_array()
        .expect("reachability")
        .iter()
        .map(|r| {
            (
                (
                    r["from"].as_str().unwrap_or_default().to_string(),
                    r["to"].as_str().unwrap_or_default().to_string(),
                ),
                r,
            )
        })
        .collect();
    for (namespace, tenant) in &namespaces {
        let dns = reach[&(namespace.clone(), "dns".to_string())];
        assert_eq!(dns["allowed"], true, "{namespace} -> dns");
        assert_eq!(
            strings(&dns["ports"]),
            ["TCP/53", "UDP/53"],
            "{namespace} -> dns"
        );
        let asked: BTreeSet<String> = tenants[tenant]["spec"]["network"]["egress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str().map(|n| format!("egress:{n}")))
            .collect();
        let destinations: Vec<(&String, &&Value)> = reach
            .iter()
            .filter(|((from, to), _)| from == namespace && to.starts_with("egress:"))
            .map(|((_, to), r)| (to, r))
            .collect();
        assert!(
            destinations.len() >= asked.len(),
            "{namespace}: every class destination is listed"
        );
        for (destination, r) in destinations {
            assert_eq!(
                r["allowed"] == true,
                asked.contains(destination),
                "{namespace} -> {destination}"
            );
            if asked.contains(destination) {
                assert!(
                    r.get("unconditionalPorts").is_none(),
                    "every pod reaches {destination}"
                );
            }
        }
    }
    for check in report["checks"].as_array().expect("checks") {
        if check["id"] == "TENANCY-NET-2" || check["id"] == "TENANCY-NET-4" {
            assert_eq!(check["result"], "pass", "{check}");
        }
    }
}

#[test]
fn each_groups_rights_stay_inside_its_tenant() {
    let report = json(&["-f", "samples/"], 0);
    let tenants = sample_tenants();
    let namespaces = namespaces(&report);
    let owner_of_group: BTreeMap<String, String> = tenants
        .iter()
        .flat_map(|(name, t)| {
            let access = &t["spec"]["access"];
            ["adminGroups", "editGroups", "viewerGroups"]
                .into_iter()
                .flat_map(|k| strings(&access[k]))
                .map(|g| (format!("Group:{g}"), name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut groups_seen = BTreeSet::new();
    for entry in report["access"].as_array().expect("access") {
        let subject = entry["subject"].as_str().expect("subject");
        let namespace = entry["namespace"].as_str().expect("namespace");
        assert_ne!(
            namespace, "*",
            "no sample subject has cluster-wide rights: {entry}"
        );
        if let Some(owner) = owner_of_group.get(subject) {
            assert_eq!(&namespaces[namespace], owner, "{subject} in {namespace}");
            groups_seen.insert(subject.to_string());
            let flags = strings(&entry["flags"]);
            assert!(!flags.contains(&"writes-isolation".to_string()), "{entry}");
            assert!(!flags.contains(&"escalates".to_string()), "{entry}");
        } else {
            // The monitoring stack's discovery: read-only, no Secrets.
            assert_eq!(subject, "ServiceAccount:monitoring/prometheus-k8s");
            assert!(strings(&entry["flags"]).is_empty(), "{entry}");
        }
    }
    assert_eq!(
        groups_seen.len(),
        owner_of_group.len(),
        "every group is reported"
    );
    for check in report["checks"].as_array().expect("checks") {
        if check["id"] == "MTB-PL1-CC-TI-2" {
            assert_eq!(check["result"], "pass", "{check}");
        }
    }
}

#[test]
fn sarif_puts_each_failure_on_the_line_of_the_tenant_service_that_caused_it() {
    let sarif: Value =
        serde_json::from_str(&run(&["-f", "samples/", "-f", WHAT_IF, "-o", "sarif"], 1))
            .expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let consent = results
        .iter()
        .find(|r| {
            r["ruleId"]
                .as_str()
                .is_some_and(|id| id.starts_with("TENANCY-NET-3/"))
                && r["logicalLocations"][0]["name"] == "asl-bari-prod"
        })
        .expect("the broken consent is reported on asl-bari-prod");
    let location = &consent["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "samples/asl-bari.yaml");
    let file = std::fs::read_to_string(workspace().join("samples/asl-bari.yaml")).expect("sample");
    let line = file
        .lines()
        .position(|l| l.trim_start() == "allowFrom:")
        .expect("allowFrom line")
        + 1;
    assert_eq!(location["region"]["startLine"], line);
    let rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(rules.contains(&consent["ruleId"].as_str().unwrap_or_default()));
}

#[test]
fn compare_reports_only_what_a_change_adds_or_removes() {
    let unchanged: Value = serde_json::from_str(&run(
        &["-f", "samples/", "--compare", "samples/", "-o", "json"],
        0,
    ))
    .expect("JSON");
    assert_eq!(unchanged["reachability"], serde_json::json!([]));
    assert_eq!(unchanged["access"], serde_json::json!([]));
    assert_eq!(unchanged["checks"], serde_json::json!([]));

    let changed: Value = serde_json::from_str(&run(
        &[
            "-f",
            "samples/",
            "-f",
            WHAT_IF,
            "--compare",
            "samples/",
            "-o",
            "json",
        ],
        1,
    ))
    .expect("JSON");
    let reach: Vec<(String, String)> = changed["reachability"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap_or_default().into(),
                r["to"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(
        reach.contains(&("asl-bari-prod".into(), "regione-puglia-prod".into())),
        "{reach:?}"
    );
    assert!(
        reach.contains(&("comune-bari-prod".into(), "egress:pdnd".into())),
        "{reach:?}"
    );
    let gained: Vec<&Value> = changed["access"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|a| {
            a["subject"] == "Group:comune-bari-sviluppatori"
                && a["namespace"] == "comune-poggiorsini-prod"
        })
        .collect();
    assert!(!gained.is_empty());
    assert!(gained.iter().all(|a| a["removed"] == serde_json::json!([])));
    let newly_failing: BTreeSet<&str> = changed["checks"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["after"] == "fail")
        .filter_map(|c| c["check"]["id"].as_str())
        .collect();
    assert!(newly_failing.contains("TENANCY-NET-3"), "{newly_failing:?}");
    assert!(
        newly_failing.contains("MTB-PL1-CC-TI-2"),
        "{newly_failing:?}"
    );
    // A base that cannot be audited is unreadable input.
    let out = audit(&["-f", "samples/", "--compare", WHAT_IF]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("while auditing the base"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn unreadable_input_exits_2_naming_the_file_and_field() {
    let out = audit(&["-f", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no/such/dir"),
        "{}",
        text(&out.stderr)
    );

    let dir = std::env::temp_dir().join(format!("audit-unreadable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad-policy.yaml");
    std::fs::write(
        &bad,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: bad\n  namespace: comune-bari-prod\nspec:\n  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock:\n            cidr: 10.0.0.0/33\n",
    )
    .expect("written");
    let out = audit(&["-f", "samples/", "-f", bad.to_str().expect("utf-8 path")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:11: NetworkPolicy comune-bari-prod/bad: spec.ingress[0].from[0].ipBlock.cidr",
            bad.display()
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

/// `audit --kubeconfig` through the binary, against an in-memory API server holding what
/// `render -f samples/` prints, the chart's platform objects, the default classes and the
/// samples themselves: the same reachability, the same access in tenant namespaces and the
/// same check outcomes as `audit -f samples/`. (The controller provisioning such a server
/// is tested in `tests/integration/tests/audit.rs`.)
#[test]
fn the_live_audit_of_the_rendered_samples_matches_the_offline_audit() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use kube::discovery::Discovery;

    let objects: Value = serde_json::from_str(&{
        let out = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
            .current_dir(workspace())
            .args(["render", "-f", "samples/", "-o", "json"])
            .output()
            .expect("render runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    })
    .expect("a v1 List");
    let mut manifests: Vec<Value> = Vec::new();
    for document in tenant_operator::audit::platform::documents().expect("platform") {
        manifests.push(document.value);
    }
    for (_, policy) in tenant_operator::samples::DEFAULT_CLASSES
        .iter()
        .chain(tenant_operator::samples::SAMPLE_DELEGATIONS)
    {
        manifests.push(serde_saphyr::from_str(policy).expect("a class or delegation"));
    }
    manifests.extend(sample_tenants().into_values());
    manifests.extend(objects["items"].as_array().expect("items").iter().cloned());

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let kubeconfig =
        std::env::temp_dir().join(format!("audit-cli-{}.kubeconfig", std::process::id()));
    let server = runtime.block_on(async {
        let server = fake_apiserver::start(fake_apiserver::Config::default())
            .await
            .expect("server starts");
        let client = server.client();
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(client.clone());
        for crd in tenant_operator::api::crd::crds() {
            crds.create(&PostParams::default(), &crd).await.expect("CRD created");
        }
        // Namespaces first, then everything else, each kind found through discovery.
        manifests.sort_by_key(|m| m["kind"] != "Namespace");
        for attempt in 0.. {
            let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
            let known = |m: &Value| {
                let (group, version) = m["apiVersion"].as_str().unwrap_or_default().split_once('/').unwrap_or(("", m["apiVersion"].as_str().unwrap_or_default()));
                discovery.resolve_gvk(&kube::core::GroupVersionKind::gvk(group, version, m["kind"].as_str().unwrap_or_default()))
            };
            if manifests.iter().all(|m| known(m).is_some()) {
                for manifest in &manifests {
                    let (resource, _) = known(manifest).expect("resolved");
                    let name = manifest["metadata"]["name"].as_str().expect("named");
                    let api: Api<DynamicObject> = match manifest["metadata"]["namespace"].as_str() {
                        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                        None => Api::all_with(client.clone(), &resource),
                    };
                    api.patch(name, &PatchParams::apply("audit-test").force(), &Patch::Apply(manifest))
                        .await
                        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
                }
                break;
            }
            assert!(attempt < 50, "the CRDs are never served");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        server
    });
    let kubeconfig_arg = kubeconfig.to_str().expect("utf-8 path");
    let live = json(&["--kubeconfig", kubeconfig_arg], 0);
    let offline = json(&["-f", "samples/"], 0);
    assert_eq!(live["reachability"], offline["reachability"]);
    let in_tenant_namespaces = |report: &Value| -> Vec<Value> {
        report["access"]
            .as_array()
            .expect("access")
            .iter()
            .filter(|a| a["namespace"] != "*")
            .cloned()
            .collect()
    };
    assert_eq!(in_tenant_namespaces(&live), in_tenant_namespaces(&offline));
    let outcomes = |report: &Value| -> Vec<(Value, Value, Value)> {
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| (c["id"].clone(), c["namespace"].clone(), c["result"].clone()))
            .collect()
    };
    assert_eq!(outcomes(&live), outcomes(&offline));
    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_file(&kubeconfig);
}
