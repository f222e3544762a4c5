//! The generated CRDs as an apiserver sees them: structural schemas whose CEL rules
//! compile, stay within the cost budget, and accept and reject the objects they should.
//! Objects go through `crd_schema` (the structural check and kube-cel), the
//! same code the in-memory apiserver and `tenant-operator validate` run.

use crd_schema::{CEL_NOT_CHECKED, FieldError, FieldErrorKind, check, check_cel, validate};
use kube::core::cel::{CompiledSchema, ScopeContext, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};
use tenant_operator::api::crd;

/// The openAPIV3Schema of the CRD of `kind`.
fn schema_of(kind: &str) -> Value {
    let c = crd::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("both kinds have a CRD");
    assert_eq!(c.spec.versions.len(), 1, "one version per CRD");
    crd::openapi_schema(&c).expect("the version has a schema")
}

/// Structural and CEL problems of `obj`, as an apiserver would report them on create
/// (CEL rules are skipped after blocking schema errors, as the apiserver does).
fn problems(kind: &str, obj: &Value) -> Vec<FieldError> {
    validate(&schema_of(kind), obj, None)
}

/// A valid Comune: Molfetta, province of Bari.
fn molfetta() -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": "comune-molfetta"},
        "spec": {
            "entity": {"type": "Comune", "displayName": "Comune di Molfetta", "istatCode": "072029", "ipaCode": "c_f284", "province": "BA"},
            "contacts": {"rtd": "rtd@comune.molfetta.ba.it"},
            "dataClassification": "ordinario",
            "class": "small",
            "environments": [
                {"name": "prod", "quota": {"cpu": "4", "memory": "8Gi", "pods": 40}},
                {"name": "test"}
            ],
            "network": {"egress": [{"name": "pagopa", "ports": [443]}], "allowFrom": [{"tenant": "regione-puglia"}]},
            "tls": {"hostnames": ["servizi.comune.molfetta.ba.it"]},
            "access": {"adminGroups": ["molfetta-admins"]},
            "deletionPolicy": "Retain"
        }
    })
}

/// A valid health body: ASL Bari.
fn asl_bari() -> Value {
    json!({
        "apiVersion": "tenancy.innova.puglia.it/v1alpha1",
        "kind": "TenantService",
        "metadata": {"name": "asl-bari"},
        "spec": {
            "entity": {"type": "ASL", "displayName": "ASL Bari", "ipaCode": "asl_ba", "province": "BA"},
            "dataClassification": "critico",
            "class": "sanita",
            "environments": [{"name": "prod"}]
        }
    })
}

/// Asserts exactly one problem, of `kind` at `path`, whose message contains `text`.
fn assert_one(errors: &[FieldError], kind: FieldErrorKind, path: &str, text: &str) {
    assert_eq!(
        errors.len(),
        1,
        "expected one problem at {path}, got {errors:#?}"
    );
    let e = &errors[0];
    assert_eq!((e.kind, e.path.as_str()), (kind, path), "{e:#?}");
    assert!(
        e.message.contains(text),
        "{:?} does not contain {text:?}",
        e.message
    );
}

// ---- the schema itself ---------------------------------------------------------------

/// Every node typed (or int-or-string / preserve-unknown-fields), no `$ref`, no
/// combinators carrying types, objects and arrays fully described: what the apiserver
/// requires of a structural schema (and what pruning relies on).
fn assert_structural(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Value::Object(n) = node else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    for banned in [
        "$ref",
        "definitions",
        "$defs",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
    ] {
        if n.contains_key(banned) {
            problems.push(format!("{path}: has {banned}"));
        }
    }
    let flag = |k: &str| n.get(k).and_then(Value::as_bool) == Some(true);
    let ty = n.get("type").and_then(Value::as_str);
    if ty.is_none()
        && !flag("x-kubernetes-int-or-string")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        problems.push(format!("{path}: no type"));
    }
    if n.contains_key("properties") && n.contains_key("additionalProperties") {
        problems.push(format!("{path}: both properties and additionalProperties"));
    }
    if let Some(props) = n.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(v, &format!("{path}.{k}"), problems);
        }
    }
    if let Some(add) = n.get("additionalProperties").filter(|a| a.is_object()) {
        assert_structural(add, &format!("{path}[*]"), problems);
    }
    match ty {
        Some("array") => match n.get("items") {
            Some(items) => assert_structural(items, &format!("{path}[]"), problems),
            None => problems.push(format!("{path}: array without items")),
        },
        Some("object")
            if !n.contains_key("properties")
                && !n.contains_key("additionalProperties")
                && !flag("x-kubernetes-preserve-unknown-fields") =>
        {
            problems.push(format!(
                "{path}: object with no properties (would prune everything)"
            ));
        }
        _ => {}
    }
}

#[test]
fn schemas_are_structural() {
    for kind in ["TenantService", "TenantClass"] {
        let mut found = Vec::new();
        assert_structural(&schema_of(kind), kind, &mut found);
        assert!(
            found.is_empty(),
            "{kind} schema is not structural:\n{}",
            found.join("\n")
        );
    }
}

/// Every `x-kubernetes-validations` rule of the schema, with the node that declares it.
fn rules(node: &Value, path: &str, out: &mut Vec<(String, Value, String)>) {
    if let Some(list) = node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for r in list {
            let rule = r.get("rule").and_then(Value::as_str).unwrap_or_default();
            out.push((path.to_string(), node.clone(), rule.to_string()));
        }
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rules(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        rules(items, &format!("{path}[]"), out);
    }
}

/// The lists a rule iterates with a macro (`self.spec.environments.all(...)` →
/// `["spec", "environments"]`), relative to the node declaring the rule.
fn iterated_fields(rule: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for mac in [".all(", ".exists(", ".exists_one(", ".map(", ".filter("] {
        for (i, _) in rule.match_indices(mac) {
            let start = rule[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .map_or(0, |p| p + 1);
            let chain = &rule[start..i];
            if let Some(rest) = chain.strip_prefix("self.") {
                out.push(rest.split('.').map(str::to_string).collect());
            }
        }
    }
    out
}

#[test]
fn lists_iterated_by_rules_are_bounded() {
    for kind in ["TenantService", "TenantClass"] {
        let schema = schema_of(kind);
        let mut all = Vec::new();
        rules(&schema, kind, &mut all);
        for (path, node, rule) in &all {
            for fields in iterated_fields(rule) {
                let target = fields
                    .iter()
                    .try_fold(node, |n, f| n.get("properties").and_then(|p| p.get(f)))
                    .unwrap_or_else(|| panic!("{path}: rule {rule:?} iterates {fields:?}, which the schema does not declare"));
                assert!(
                    target.get("maxItems").and_then(Value::as_u64).is_some(),
                    "{path}: rule {rule:?} iterates {fields:?}, which has no maxItems (unbounded CEL cost)"
                );
            }
        }
    }
    // The macro scanner itself finds what it must.
    assert_eq!(
        iterated_fields("self.spec.environments.all(e, size(e.name) < 3)"),
        vec![vec!["spec".to_string(), "environments".to_string()]]
    );
}

#[test]
fn every_list_in_a_spec_is_bounded() {
    fn walk(node: &Value, path: &str, unbounded: &mut Vec<String>) {
        if node.get("type").and_then(Value::as_str) == Some("array")
            && node.get("maxItems").is_none()
        {
            unbounded.push(path.to_string());
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}.{k}"), unbounded);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), unbounded);
        }
    }
    for kind in ["TenantService", "TenantClass"] {
        let mut unbounded = Vec::new();
        walk(
            &schema_of(kind)["properties"]["spec"],
            "spec",
            &mut unbounded,
        );
        assert!(
            unbounded.is_empty(),
            "{kind}: lists without maxItems: {unbounded:?}"
        );
    }
}

/// Variables bound by macros in a rule: `e` in `self.list.all(e, ...)`.
fn macro_variables(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    for mac in [".all(", ".exists(", ".exists_one(", ".map(", ".filter("] {
        for (i, _) in rule.match_indices(mac) {
            let rest = &rule[i + mac.len()..];
            if let Some((var, _)) = rest.split_once(',') {
                out.push(var.trim().to_string());
            }
        }
    }
    out
}

fn compiled_nodes<'a>(
    c: &'a CompiledSchema,
    path: &str,
    out: &mut Vec<(String, &'a CompiledSchema)>,
) {
    out.push((path.to_string(), c));
    for (k, v) in &c.properties {
        compiled_nodes(v, &format!("{path}.{k}"), out);
    }
    if let Some(items) = &c.items {
        compiled_nodes(items, &format!("{path}[]"), out);
    }
    if let Some(add) = &c.additional_properties {
        compiled_nodes(add, &format!("{path}[*]"), out);
    }
}

#[test]
fn every_rule_compiles_and_passes_static_analysis() {
    for kind in ["TenantService", "TenantClass"] {
        let schema = schema_of(kind);
        let compiled = compile_schema(&schema);
        let mut nodes = Vec::new();
        compiled_nodes(&compiled, kind, &mut nodes);
        let mut count = 0;
        for (path, node) in nodes {
            assert!(
                node.compilation_errors().is_empty(),
                "{path}: {:?}",
                node.compilation_errors()
            );
            for r in node.validations.iter().flatten() {
                count += 1;
                let bound = macro_variables(&r.rule.rule);
                // kube-cel's scope check does not know comprehension variables
                // (`e` in `list.all(e, ...)`); every other warning counts.
                let warnings: Vec<_> =
                    analyze_rule(&r.rule.rule, node, ScopeContext::CrdValidation)
                        .into_iter()
                        .filter(|w| {
                            !(w.kind == WarningKind::WrongScope
                                && bound
                                    .iter()
                                    .any(|v| w.message.contains(&format!("variable '{v}'"))))
                        })
                        .collect();
                assert!(
                    warnings.is_empty(),
                    "{path}: rule {:?}: {warnings:#?}",
                    r.rule.rule
                );
            }
        }
        if kind == "TenantService" {
            assert!(
                count >= 5,
                "TenantService has {count} rules; expected its five at least"
            );
        }
    }
}

// ---- TenantService objects -------------------------------------------------------------

#[test]
fn valid_tenants_pass() {
    assert_eq!(problems("TenantService", &molfetta()), vec![]);
    assert_eq!(problems("TenantService", &asl_bari()), vec![]);
}

#[test]
fn health_body_with_ordinary_data_is_rejected_on_data_classification() {
    let mut t = asl_bari();
    t["spec"]["dataClassification"] = json!("ordinario");
    assert_one(
        &problems("TenantService", &t),
        FieldErrorKind::Invalid,
        "spec.dataClassification",
        "health bodies",
    );
    for ty in ["AziendaOspedaliera", "IRCCS"] {
        t["spec"]["entity"]["type"] = json!(ty);
        assert_one(
            &problems("TenantService", &t),
            FieldErrorKind::Invalid,
            "spec.dataClassification",
            "'critico'",
        );
    }
    t["spec"]["dataClassification"] = json!("strategico");
    assert_eq!(problems("TenantService", &t), vec![]);
}

#[test]
fn at_most_one_environment_declares_production() {
    let mut t = molfetta();
    t["spec"]["environments"] = json!([
        {"name": "produzione", "production": true},
        {"name": "test", "production": false}
    ]);
    assert_eq!(problems("TenantService", &t), vec![]);
    t["spec"]["environments"][1]["production"] = json!(true);
    assert_one(
        &problems("TenantService", &t),
        FieldErrorKind::Invalid,
        "spec.environments",
        "at most one environment is production",
    );
}

#[test]
fn comune_needs_istat_code_and_province() {
    for field in ["istatCode", "province"] {
        let mut t = molfetta();
        t["spec"]["entity"].as_object_mut().unwrap().remove(field);
        assert_one(
            &problems("TenantService", &t),
            FieldErrorKind::Invalid,
            "spec.entity",
            "a Comune needs istatCode and province",
        );
    }
    // Other bodies need neither.
    let mut t = molfetta();
    t["spec"]["entity"] =
        json!({"type": "Regione", "displayName": "Regione Puglia", "ipaCode": "r_puglia"});
    assert_eq!(problems("TenantService", &t), vec![]);
}

#[test]
fn istat_prefix_must_match_the_province() {
    let mut t = molfetta();
    t["spec"]["entity"]["province"] = json!("LE");
    assert_one(
        &problems("TenantService", &t),
        FieldErrorKind::Invalid,
        "spec.entity.istatCode",
        "BA 072",
    );
    // BT (110) is the province whose code does not follow the 07x sequence.
    t["spec"]["entity"]["istatCode"] = json!("110001");
    t["spec"]["entity"]["province"] = json!("BT");
    assert_eq!(problems("TenantService", &t), vec![]);
    // Provinces outside Puglia are left to the Rust validation (the ISTAT registry).
    t["spec"]["entity"]["province"] = json!("RM");
    assert_eq!(problems("TenantService", &t), vec![]);
    // Not six digits: the schema pattern reports it, and the CEL rule (which the apiserver
    // still evaluates after a pattern error) neither fails on a short code nor repeats it.
    t["spec"]["entity"]["province"] = json!("BA");
    for code in ["72029", "07", ""] {
        t["spec"]["entity"]["istatCode"] = json!(code);
        let errors = problems("TenantService", &t);
        assert_one(
            &errors,
            FieldErrorKind::Invalid,
            "spec.entity.istatCode",
            "should match",
        );
    }
}

#[test]
fn namespace_names_must_fit_in_63_characters() {
    let mut t = molfetta();
    // 52 + 1 + 10 = 63: fits.
    t["metadata"]["name"] = json!("a".repeat(52));
    t["spec"]["environments"] = json!([{"name": "e".repeat(10)}]);
    assert_eq!(problems("TenantService", &t), vec![]);
    // 52 + 1 + 11 = 64: too long.
    t["spec"]["environments"] = json!([{"name": "prod"}, {"name": "e".repeat(11)}]);
    assert_one(
        &problems("TenantService", &t),
        FieldErrorKind::Invalid,
        "",
        "at most 63 characters",
    );
    // A tenant name over 52 characters never fits.
    t["metadata"]["name"] = json!("a".repeat(53));
    t["spec"]["environments"] = json!([{"name": "p"}]);
    assert_one(
        &problems("TenantService", &t),
        FieldErrorKind::Invalid,
        "",
        "at most 52 characters",
    );
}

#[test]
fn typo_is_an_unknown_field_not_silently_dropped() {
    let mut t = molfetta();
    let envs = t["spec"]
        .as_object_mut()
        .unwrap()
        .remove("environments")
        .unwrap();
    t["spec"]["enviroments"] = envs;
    let errors = problems("TenantService", &t);
    let found: Vec<(FieldErrorKind, &str)> =
        errors.iter().map(|e| (e.kind, e.path.as_str())).collect();
    assert!(
        found.contains(&(FieldErrorKind::Unknown, "spec.enviroments")),
        "{errors:#?}"
    );
    assert!(
        found.contains(&(FieldErrorKind::Required, "spec.environments")),
        "{errors:#?}"
    );
    let unknown = errors
        .iter()
        .find(|e| e.kind == FieldErrorKind::Unknown)
        .unwrap();
    assert_eq!(unknown.message, "unknown field \"spec.enviroments\"");
    // The missing list blocks the CEL rules (one of which iterates it), as on a real server.
    assert!(
        errors.iter().any(|e| e.message == CEL_NOT_CHECKED),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    // Evaluated anyway, that rule fails on the missing field: why the apiserver skips them.
    assert!(!check_cel(&schema_of("TenantService"), &t, None).is_empty());
    assert!(!check(&schema_of("TenantService"), &t).is_empty());
}

#[test]
fn schema_keywords_of_the_spec() {
    let cases: Vec<(Value, FieldErrorKind, &str)> = vec![
        (
            json!({"/spec/dataClassification": "segreto"}),
            FieldErrorKind::NotSupported,
            "spec.dataClassification",
        ),
        (
            json!({"/spec/entity/type": "Condominio"}),
            FieldErrorKind::NotSupported,
            "spec.entity.type",
        ),
        (
            json!({"/spec/class": "Small"}),
            FieldErrorKind::Invalid,
            "spec.class",
        ),
        (
            json!({"/spec/environments": []}),
            FieldErrorKind::Invalid,
            "spec.environments",
        ),
        (
            json!({"/spec/environments": [{"name": "prod"}, {"name": "prod"}]}),
            FieldErrorKind::Duplicate,
            "spec.environments[1]",
        ),
        (
            json!({"/spec/environments/0/name": "Prod"}),
            FieldErrorKind::Invalid,
            "spec.environments[0].name",
        ),
        (
            json!({"/spec/environments/0/quota/pods": -1}),
            FieldErrorKind::Invalid,
            "spec.environments[0].quota.pods",
        ),
        (
            json!({"/spec/environments/0/quota/pods": "40"}),
            FieldErrorKind::TypeInvalid,
            "spec.environments[0].quota.pods",
        ),
        (
            json!({"/spec/environments/0/quota/cpu": true}),
            FieldErrorKind::TypeInvalid,
            "spec.environments[0].quota.cpu",
        ),
        (
            json!({"/spec/entity/displayName": "x".repeat(129)}),
            FieldErrorKind::TooLong,
            "spec.entity.displayName",
        ),
        (
            json!({"/spec/access/adminGroups": vec!["g"; 17]}),
            FieldErrorKind::TooMany,
            "spec.access.adminGroups",
        ),
        (
            json!({"/spec/network/egress/0/ports/0": 443.5}),
            FieldErrorKind::TypeInvalid,
            "spec.network.egress[0].ports[0]",
        ),
        (
            json!({"/spec/deletionPolicy": "Orphan"}),
            FieldErrorKind::NotSupported,
            "spec.deletionPolicy",
        ),
        (
            json!({"/metadata/name": "Comune_Molfetta"}),
            FieldErrorKind::Invalid,
            "metadata.name",
        ),
    ];
    for (change, kind, path) in cases {
        let mut t = molfetta();
        for (pointer, value) in change.as_object().unwrap() {
            *t.pointer_mut(pointer)
                .unwrap_or_else(|| panic!("{pointer} exists in the sample")) = value.clone();
        }
        let errors = problems("TenantService", &t);
        assert!(
            errors.iter().any(|e| e.kind == kind && e.path == path),
            "{change}: expected {kind:?} at {path}, got {errors:#?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.path.starts_with(path) || path.starts_with(&e.path)),
            "{change}: unrelated problems {errors:#?}"
        );
    }
}

#[test]
fn status_is_part_of_the_schema() {
    let mut t = molfetta();
    t["status"] = json!({"phase": "Ready", "observedGeneration": 1, "namespaces": ["comune-molfetta-prod"],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    assert_eq!(problems("TenantService", &t), vec![]);
    t["status"]["phase"] = json!("Done");
    assert_one(
        &check(&schema_of("TenantService"), &t),
        FieldErrorKind::NotSupported,
        "status.phase",
        "\"Ready\"",
    );
}

// ---- TenantClass objects ---------------------------------------------------------------

#[test]
fn default_classes_pass_the_tenant_class_schema() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/classes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("policies/classes exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in docs.iter().filter(|d| d["kind"] == "TenantClass") {
            seen += 1;
            assert_eq!(problems("TenantClass", doc), vec![], "{}", path.display());
        }
    }
    assert!(seen >= 4, "expected the four default classes, found {seen}");
}

// ---- external check ------------------------------------------------------------------

#[test]
fn crd_files_pass_kubernetes_validate_strict() {
    let Some(tool) = fake_apiserver::tools::find("kubernetes-validate") else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let files: Vec<_> = crd::crds()
        .iter()
        .map(|c| dir.join(format!("{}.yaml", crd::crd_name(c))))
        .collect();
    let out = std::process::Command::new(tool)
        .args(["--strict", "--kubernetes-version", "1.34.0"])
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        out.status.success(),
        "kubernetes-validate rejected crds/:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- through the in-memory apiserver ---------------------------------------------------

/// The checked-in `crds/` files, registered on the in-memory apiserver, make it accept
/// and refuse TenantServices as the schema and CEL rules say, with the field in the
/// Status causes.
#[tokio::test]
async fn apiserver_with_the_crd_files_enforces_them() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};
    use tenant_operator::api::TenantService;

    let server = fake_apiserver::start(fake_apiserver::Config::default())
        .await
        .expect("server starts");
    let client = server.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for c in crd::crds() {
        let text = std::fs::read_to_string(dir.join(format!("{}.yaml", crd::crd_name(&c))))
            .expect("crds/ file");
        let file: CustomResourceDefinition = serde_saphyr::from_str(&text).expect("a CRD");
        crds.create(&PostParams::default(), &file)
            .await
            .expect("the apiserver registers the CRD");
        let established = kube::runtime::wait::await_condition(
            crds.clone(),
            crd::crd_name(&c),
            kube::runtime::conditions::is_crd_established(),
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), established)
            .await
            .expect("established in time")
            .expect("watch works");
    }

    let tenants: Api<TenantService> = Api::all(client);
    let create = |obj: Value| {
        let tenants = tenants.clone();
        async move {
            let ts: TenantService = serde_json::from_value(obj).expect("a TenantService");
            tenants.create(&PostParams::default(), &ts).await
        }
    };
    create(molfetta()).await.expect("a valid tenant is created");

    let mut bad = asl_bari();
    bad["spec"]["dataClassification"] = json!("ordinario");
    match create(bad).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("spec.dataClassification"),
                "{status:?}"
            );
            assert!(status.message.contains("health bodies"), "{status:?}");
        }
        other => panic!("a health body with ordinary data was not refused: {other:?}"),
    }

    let mut long = molfetta();
    long["metadata"]["name"] = json!("a".repeat(50));
    long["spec"]["environments"] = json!([{"name": "produzione-interna"}]);
    match create(long).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("at most 63 characters"),
                "{status:?}"
            );
        }
        other => panic!("a 69-character namespace name was not refused: {other:?}"),
    }
    server.shutdown().await;
}
