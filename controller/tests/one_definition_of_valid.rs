//! One definition of valid: a property test that generates TenantService manifests, valid
//! and mutated, writes each as YAML the way a person would, and asks the four judges of a
//! manifest whether they accept it:
//!
//! - **validate**: `tenant-operator validate`'s engine ([`Checker`]) with the default
//!   trusted policy folder `policies/` (classes, domain delegations, reserved namespaces);
//! - **render**: what `tenant-operator render` does after validating (every object of the
//!   typed tenant, with its class);
//! - **server**: the in-memory API server's check of a custom resource on write, under
//!   `fieldValidation=Strict` (what `kubectl apply --server-side` asks for): pruning,
//!   structural schema, CEL rules;
//! - **controller**: deserialising the object the server would store into the controller's
//!   `TenantService` type.
//!
//! They must agree: what validate accepts, the server, render and the controller accept;
//! what the server accepts the controller can read; what the server refuses validate
//! refuses; what the controller cannot read nobody accepts; and a mutation that breaks the
//! shape (a wrong type at any field, an unknown field, a YAML 1.1 boolean or number where a
//! string belongs) is refused, and validate says to write such a value in quotes. validate may refuse more than the server (its rules need the
//! classes, the ISTAT registry and the other tenants, which a schema cannot know). A
//! failure names the first disagreement, the mutation and the manifest.
//!
//! The seed is fixed and the number of cases bounded, so that CI runs the same cases in
//! well under a minute.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use fake_apiserver::validate::{FieldValidation, custom_resource};
use kube::CustomResourceExt;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde::Deserialize;
use serde_json::{Value, json};
use tenant_operator::api::validation::Severity;
use tenant_operator::api::{TenantService, crd};
use tenant_operator::manifest::{self, Document, check::Checker};
use tenant_operator::render::set::render_all;
use tenant_operator::render::{Platform, RenderContext};

/// Cases per run: each costs a few milliseconds (validate, render, the server's check).
const CASES: u32 = 1000;
/// The seed of every run (change it to explore other cases locally).
const SEED: u64 = 0x0015_0a11_d0c5;

/// Plain scalars that YAML 1.1 (what `kubectl` reads) and our loader read as something
/// other than a string: booleans, numbers (an ISTAT code that loses its leading zero;
/// codes kubectl reads as octal, `0734` and Poggiorsini's `072034`; `072029`, which has a
/// 9 and is read as decimal; the `0o`, `0x` and `0b` forms), null.
const YAML_TRAPS: [&str; 14] = [
    "NO", "on", "yes", "Off", "0734", "072034", "072029", "72004", "0o17", "0x1F", "0b101", "1e3",
    "~", "null",
];

/// Whether kubectl's YAML 1.1 reads `trap` as an octal number (a leading 0 and octal
/// digits), so that validate must say so.
fn read_as_octal(trap: &str) -> bool {
    trap.len() > 1 && trap.starts_with('0') && trap.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

/// Environment names a valid tenant may use.
const ENVIRONMENTS: [&str; 5] = ["prod", "test", "dev", "collaudo", "staging"];

/// How a valid manifest is changed.
#[derive(Debug, Clone)]
enum Mutation {
    /// None: the manifest stays valid.
    Keep,
    /// The node at a path gets a value of another shape (scalar, list or object).
    WrongType(Index, u8),
    /// A field below `spec` is removed.
    Remove(Index),
    /// An object below `spec` gets a field its schema does not declare.
    Extra(Index),
    /// A string below `spec` is written as an unquoted YAML 1.1 boolean, number or null.
    Trap(Index, Index),
}

/// A generated case: which sample, its valid variations, and the mutation.
#[derive(Debug, Clone)]
struct Case {
    sample: Index,
    environments: Vec<Index>,
    groups: Vec<u8>,
    delete: bool,
    mutation: Mutation,
}

fn case() -> impl Strategy<Value = Case> {
    let mutation = prop_oneof![
        1 => Just(Mutation::Keep),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, t)| Mutation::WrongType(i, t)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        2 => any::<Index>().prop_map(Mutation::Extra),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Trap(i, t)),
    ];
    (
        any::<Index>(),
        prop::collection::vec(any::<Index>(), 1..=3),
        prop::collection::vec(any::<u8>(), 0..=3),
        any::<bool>(),
        mutation,
    )
        .prop_map(|(sample, environments, groups, delete, mutation)| Case {
            sample,
            environments,
            groups,
            delete,
            mutation,
        })
}

/// The four judges' answers: `Err` carries the reasons given (validate: every error).
#[derive(Debug)]
struct Verdicts {
    validate: Result<(), String>,
    render: Result<(), String>,
    server: Result<(), String>,
    controller: Result<(), String>,
}

/// What the judges share: the CRD schema, the compiled checker and the default classes.
struct Judges {
    schema: Value,
    checker: Checker,
    library: Vec<Document>,
}

impl Judges {
    fn new() -> Self {
        // The trusted policy folder, as `validate` reads it by default: the classes, the
        // domain delegations the samples' hostnames lie in, the reserved namespaces.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let (library, syntax) = manifest::load(&[dir]).expect("policies/ reads");
        assert!(syntax.is_empty(), "policies/ parses: {syntax:?}");
        Judges {
            schema: crd::openapi_schema(&TenantService::crd()).expect("the CRD has a schema"),
            checker: Checker::new(),
            library,
        }
    }

    fn judge(&self, yaml: &str) -> Result<Verdicts, String> {
        let (documents, syntax) = manifest::parse("case.yaml", yaml);
        if !syntax.is_empty() {
            return Err(format!(
                "the generator wrote YAML that does not parse: {syntax:?}"
            ));
        }
        let [document] = documents.as_slice() else {
            return Err("the generator wrote other than one document".into());
        };
        let outcome = self.checker.check(&documents, &self.library, &syntax);
        let errors: Vec<String> = outcome
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        let validate = if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        };
        let render = validate.clone().and_then(|()| {
            let platform = Platform::default();
            let ctx = RenderContext {
                platform: &platform,
                peers: &[],
                ca_certificate: None,
            };
            render_all(&outcome.inputs.tenants, &outcome.inputs.classes, &ctx)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        let mut stored = document.value.clone();
        let server = match custom_resource(&self.schema, &mut stored, None, FieldValidation::Strict)
        {
            Ok(_) => Ok(()),
            Err(rejection) => Err(format!("{rejection:?}")),
        };
        // The controller reads what the server stored; of a refused object, what it would
        // have stored.
        let read = if server.is_ok() {
            &stored
        } else {
            &document.value
        };
        let controller = TenantService::deserialize(read)
            .map(|_| ())
            .map_err(|e| e.to_string());
        Ok(Verdicts {
            validate,
            render,
            server,
            controller,
        })
    }
}

/// The first disagreement among the verdicts of a case, if any.
fn disagreement(mutation: &Mutation, shape_broken: bool, v: &Verdicts) -> Option<String> {
    let accepted = |r: &Result<(), String>| r.is_ok();
    if matches!(mutation, Mutation::Keep) && !accepted(&v.validate) {
        return Some("a valid manifest is refused by validate".into());
    }
    if accepted(&v.validate) {
        for (judge, verdict) in [
            ("server", &v.server),
            ("render", &v.render),
            ("controller", &v.controller),
        ] {
            if !accepted(verdict) {
                return Some(format!("validate accepts what the {judge} refuses"));
            }
        }
    }
    if accepted(&v.server) && !accepted(&v.controller) {
        return Some("the server stores an object the controller cannot read".into());
    }
    if !accepted(&v.server) && accepted(&v.validate) {
        return Some("the server refuses what validate accepts".into());
    }
    if !accepted(&v.controller) && (accepted(&v.server) || accepted(&v.validate)) {
        return Some("an object the controller cannot read is accepted".into());
    }
    if shape_broken && accepted(&v.server) {
        return Some("the server accepts a manifest of the wrong shape".into());
    }
    if shape_broken && accepted(&v.validate) {
        return Some("validate accepts a manifest of the wrong shape".into());
    }
    if let (Mutation::Trap(_, t), Err(errors)) = (mutation, &v.validate) {
        let trap = *t.get(&YAML_TRAPS);
        let told = format!("{trap} is read by YAML as");
        if shape_broken && !(errors.contains(&told) && errors.contains("write it in quotes")) {
            return Some(format!("validate does not say that {trap} must be quoted"));
        }
        if shape_broken && !errors.contains("[YAML-UNQUOTED]") {
            return Some(format!("validate does not name the rule of {trap}"));
        }
        if shape_broken && read_as_octal(trap) && !errors.contains("reads a leading 0 as octal") {
            return Some(format!(
                "validate does not say that kubectl reads {trap} as octal"
            ));
        }
    }
    None
}

/// Every path below `spec` (`["spec", "environments", 0, "name"]`), each with its value.
fn paths(value: &Value) -> Vec<(Vec<Step>, Value)> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
        out.push((path.clone(), value.clone()));
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(Step::Key(k.clone()));
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut path = vec![Step::Key("spec".into())];
    walk(&value["spec"], &mut path, &mut out);
    out.retain(|(p, _)| p.len() > 1);
    out
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(k) => node.get_mut(k.as_str()),
        Step::Index(i) => node.get_mut(*i),
    })
}

fn shown(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A value of another shape than `value`'s: a scalar becomes a list, an object or a
/// boolean; a list a string, an object or a number; an object a string or a list. Numbers
/// and strings are never swapped, since int-or-string fields take both.
fn other_shape(value: &Value, pick: u8) -> Value {
    let choices: [Value; 3] = match value {
        Value::Array(_) => [json!("prod"), json!({"name": "prod"}), json!(8)],
        Value::Object(_) => [json!("prod"), json!(["prod"]), json!("")],
        Value::Bool(_) => [json!("true"), json!(["x"]), json!({"x": 1})],
        _ => [json!(["x"]), json!({"name": "x"}), json!(true)],
    };
    choices[usize::from(pick) % choices.len()].clone()
}

/// A placeholder written in the generated value where a YAML trap goes: plain in YAML, and
/// replaced in the text by the trap, unquoted.
const TRAP_MARK: &str = "TRAP-PLACEHOLDER";

/// The valid manifest of a case, then the mutated YAML text and whether the mutation
/// breaks the shape the schema and the types agree on.
fn manifest_of(samples: &[Value], case: &Case) -> (String, bool, String) {
    let mut value = case.sample.get(samples).clone();
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or("t")
        .to_string();
    let mut environments: Vec<&str> = Vec::new();
    for i in &case.environments {
        let env = *i.get(&ENVIRONMENTS);
        if !environments.contains(&env) {
            environments.push(env);
        }
    }
    value["spec"]["environments"] = environments
        .iter()
        .map(|e| json!({"name": e}))
        .collect::<Vec<_>>()
        .into();
    let groups: Vec<Value> = case
        .groups
        .iter()
        .map(|g| json!(format!("{name}-group-{g}")))
        .collect();
    value["spec"]["access"] =
        json!({"adminGroups": groups, "viewerGroups": [format!("{name}-auditors")]});
    value["spec"]["deletionPolicy"] = json!(if case.delete { "Delete" } else { "Retain" });

    let all = paths(&value);
    let (what, shape_broken) = match &case.mutation {
        Mutation::Keep => ("no mutation".to_string(), false),
        Mutation::WrongType(i, pick) => {
            let (path, old) = i.get(&all).clone();
            let new = other_shape(&old, *pick);
            if let Some(node) = at_mut(&mut value, &path) {
                *node = new.clone();
            }
            (format!("{} written as {new}", shown(&path)), true)
        }
        Mutation::Remove(i) => {
            let (path, _) = i.get(&all).clone();
            let (last, parent) = path.split_last().expect("paths below spec");
            if let (Some(Value::Object(map)), Step::Key(k)) = (at_mut(&mut value, parent), last) {
                map.remove(k);
            } else if let (Some(Value::Array(items)), Step::Index(n)) =
                (at_mut(&mut value, parent), last)
            {
                items.remove(*n);
            }
            (format!("{} removed", shown(&path)), false)
        }
        Mutation::Extra(i) => {
            let objects: Vec<_> = all.iter().filter(|(_, v)| v.is_object()).collect();
            let (path, _) = i.get(&objects);
            if let Some(Value::Object(map)) = at_mut(&mut value, path) {
                map.insert("extraField".into(), json!("x"));
            }
            (format!("{}.extraField added", shown(path)), true)
        }
        Mutation::Trap(i, t) => {
            let strings: Vec<_> = all.iter().filter(|(_, v)| v.is_string()).collect();
            let (path, _) = i.get(&strings);
            let trap = *t.get(&YAML_TRAPS);
            if let Some(node) = at_mut(&mut value, path) {
                *node = json!(TRAP_MARK);
            }
            // A null in an optional field is dropped, as by the apiserver: not a wrong shape.
            let null = matches!(trap, "~" | "null");
            (
                format!("{} written as {trap} (unquoted)", shown(path)),
                !null,
            )
        }
    };
    let mut yaml = serde_saphyr::to_string(&value).expect("JSON values serialise to YAML");
    if let Mutation::Trap(_, t) = &case.mutation {
        let trap = t.get::<&str>(&YAML_TRAPS);
        yaml = yaml.replace(TRAP_MARK, trap);
    }
    (yaml, shape_broken, what)
}

fn samples() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("a sample");
            let (docs, _) = manifest::parse(&path.display().to_string(), &text);
            out.extend(docs.into_iter().map(|d| d.value));
        }
    }
    out.sort_by_key(|v| v["metadata"]["name"].to_string());
    assert!(out.len() >= 3, "samples/ holds the sample tenants");
    out
}

#[test]
fn validate_render_server_and_controller_agree_on_generated_manifests() {
    let judges = Judges::new();
    let samples = samples();
    let config = Config {
        cases: CASES,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // How many cases of each kind of mutation ran.
    let seen = RefCell::new(BTreeMap::<String, u32>::new());
    let result = runner.run(&case(), |case| {
        let (yaml, shape_broken, what) = manifest_of(&samples, &case);
        let verdicts = judges.judge(&yaml).map_err(TestCaseError::fail)?;
        let kind = format!("{:?}", case.mutation)
            .split('(')
            .next()
            .unwrap_or_default()
            .to_string();
        *seen.borrow_mut().entry(kind).or_default() += 1;
        if let Mutation::Trap(_, t) = &case.mutation {
            *seen
                .borrow_mut()
                .entry(format!("Trap {}", t.get(&YAML_TRAPS)))
                .or_default() += 1;
        }
        if let Some(d) = disagreement(&case.mutation, shape_broken, &verdicts) {
            return Err(TestCaseError::fail(format!(
                "{d}\nmutation: {what}\n{verdicts:#?}\n--- manifest ---\n{yaml}"
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Every kind of mutation was tried (the generator is not stuck on one).
    let seen = seen.into_inner();
    for kind in ["Keep", "WrongType", "Remove", "Extra", "Trap"] {
        assert!(seen.contains_key(kind), "no case of {kind}: {seen:?}");
    }
    // And every trap, the octal and hexadecimal ones included.
    for trap in YAML_TRAPS {
        assert!(
            seen.contains_key(&format!("Trap {trap}")),
            "no case of the trap {trap}: {seen:?}"
        );
    }
}

/// The case, pinned: an ISTAT code written without quotes, as digits kubectl reads
/// as octal or in the `0o`/`0x` forms, is refused by validate, which says to quote it,
/// and by the server.
#[test]
fn an_unquoted_istat_code_is_refused_with_the_quoted_form() {
    let judges = Judges::new();
    let mut sample = samples().remove(0);
    sample["spec"]["entity"]["istatCode"] = json!(TRAP_MARK);
    let yaml = serde_saphyr::to_string(&sample).expect("YAML");
    for (written, says) in [
        (
            "072034",
            "as 29724), not as text; write it in quotes: \"072034\"",
        ),
        ("0o17", "0o17 is read by YAML as the number 15, not as text"),
        ("0x1F", "0x1F is read by YAML as the number 31, not as text"),
    ] {
        let v = judges
            .judge(&yaml.replace(TRAP_MARK, written))
            .expect("one document");
        let errors = v.validate.as_ref().expect_err("validate refuses it");
        assert!(
            errors.contains("spec.entity.istatCode: ")
                && errors.contains(says)
                && errors.contains("[YAML-UNQUOTED]"),
            "{written}: {errors}"
        );
        assert!(v.server.is_err(), "{written}: {v:#?}");
    }
}

/// The gap this test was written for, pinned: a string where the environments list
/// belongs is refused by validate and by the server alike.
#[test]
fn a_string_where_a_list_belongs_is_refused_by_all() {
    let judges = Judges::new();
    let mut sample = samples().remove(0);
    sample["spec"]["environments"] = json!("prod");
    let yaml = serde_saphyr::to_string(&sample).expect("YAML");
    let v = judges.judge(&yaml).expect("one document");
    assert!(v.validate.is_err(), "{v:#?}");
    assert!(
        v.validate
            .as_ref()
            .unwrap_err()
            .contains("spec.environments"),
        "{v:#?}"
    );
    assert!(v.server.is_err(), "{v:#?}");
    assert!(v.controller.is_err(), "{v:#?}");
}

/// The same through the path `kubectl apply --server-side` takes: the in-memory API
/// server, with the CRD registered, refuses the string with a 422 naming the field, and
/// accepts the sample it was made from; a contact that is not an e-mail address likewise.
#[tokio::test]
async fn the_server_refuses_a_string_where_a_list_belongs_on_apply() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use kube::discovery::ApiResource;

    let server = fake_apiserver::start(fake_apiserver::Config::default())
        .await
        .expect("server starts");
    let client = server.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = TenantService::crd();
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("the apiserver registers the CRD");
    let established = kube::runtime::wait::await_condition(
        crds,
        crd::crd_name(&crd),
        kube::runtime::conditions::is_crd_established(),
    );
    tokio::time::timeout(std::time::Duration::from_secs(5), established)
        .await
        .expect("established in time")
        .expect("watch works");
    let resource = ApiResource::erase::<TenantService>(&());
    let tenants: Api<DynamicObject> = Api::all_with(client, &resource);
    let apply = PatchParams::apply("kubectl").validation_strict();

    let mut sample = samples().remove(0);
    let name = sample["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    tenants
        .patch(&name, &apply, &Patch::Apply(&sample))
        .await
        .expect("the sample is accepted");
    sample["spec"]["environments"] = json!("prod");
    match tenants.patch(&name, &apply, &Patch::Apply(&sample)).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains("spec.environments"), "{status:?}");
        }
        other => panic!("a string where a list belongs was stored: {other:?}"),
    }
    // A contact that is not an e-mail address: the CRD's pattern refuses it as validate
    // does (issue 16 item 1: `kubectl apply` refuses it too).
    let mut sample = samples().remove(0);
    sample["spec"]["contacts"] = json!({"rtd": "rtd at comune.altamura.ba.it"});
    match tenants.patch(&name, &apply, &Patch::Apply(&sample)).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains("spec.contacts.rtd"), "{status:?}");
        }
        other => panic!("a contact that is not an e-mail address was stored: {other:?}"),
    }
    sample["spec"]["contacts"] = json!({"rtd": "rtd@comune.altamura.ba.it"});
    tenants
        .patch(&name, &apply, &Patch::Apply(&sample))
        .await
        .expect("an e-mail address is accepted");
    server.shutdown().await;
}
