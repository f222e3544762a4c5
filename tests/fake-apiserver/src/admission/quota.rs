//! ResourceQuota admission (`plugin/pkg/admission/resourcequota/controller.go`,
//! `CheckRequest`): a create (or an update of a Service or PersistentVolumeClaim, whose
//! usage can grow) is refused when it would take a quota of its namespace over a hard
//! limit, and a pod is refused when a quota constrains cpu or memory and one of its
//! containers sets no request or limit for it. Both refusals are 403 with the upstream
//! wording. Usage itself is recorded by [`crate::quota::record`] when the write commits.
//! Subresource writes are not checked (pods' `resize` is not served).
//!
//! A ResourceQuota's own `spec.hard` must hold quantities (the registry's validation,
//! 422 otherwise).

use std::collections::BTreeSet;

use k8s_quantity::Quantity;
use serde_json::Value;

use super::{Attributes, Operation, forbidden};
use crate::errors::{ApiError, Cause};
use crate::quota::{self, Usage};
use crate::store::State;

/// The quota names whose presence forces every container to declare requests or limits
/// (`validationSet` of the pod evaluator, kept for backward compatibility upstream).
const MUST_DECLARE: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// `k=v,k=v` in name order (`prettyPrint`).
fn pretty(u: &Usage) -> String {
    u.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn mask(u: &Usage, names: &BTreeSet<String>) -> Usage {
    u.iter()
        .filter(|(k, _)| names.contains(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The plugin.
pub fn admit(st: &State, attrs: &Attributes<'_>) -> Result<(), ApiError> {
    if !attrs.subresource.is_empty() || attrs.namespace.is_empty() {
        return Ok(());
    }
    let info = attrs.info;
    let core = info.group.is_empty();
    if core
        && info.plural == "resourcequotas"
        && let Some(q) = attrs.object
    {
        validate_hard(attrs, q)?;
    }
    let handled = match attrs.operation {
        Operation::Create => true,
        Operation::Update => {
            core && matches!(info.plural.as_str(), "services" | "persistentvolumeclaims")
        }
        Operation::Delete => false,
    };
    let Some(obj) = attrs.object.filter(|_| handled) else {
        return Ok(());
    };
    let quotas = st.list(&quota::quota_key(), Some(attrs.namespace));
    if quotas.is_empty() {
        return Ok(());
    }
    let key = info.key();
    let is_pod = core && info.plural == "pods";
    // The quotas that constrain this kind and select the object.
    let mut interesting = Vec::new();
    for stored in quotas {
        let q = stored.value();
        let hard = quota::resource_list(&q["status"]["hard"]);
        let constrained: BTreeSet<String> = hard
            .keys()
            .filter(|n| quota::resource_of(n).as_ref() == Some(&key))
            .cloned()
            .collect();
        if constrained.is_empty() || !quota::selects(&q, info, obj) {
            continue;
        }
        if q["status"]["hard"].is_null() {
            return Err(forbidden(
                attrs,
                &format!(
                    "status unknown for quota: {}, resources: {}",
                    stored.name(),
                    constrained.iter().cloned().collect::<Vec<_>>().join(",")
                ),
            ));
        }
        if is_pod && let Some(missing) = undeclared(obj, &constrained) {
            return Err(forbidden(
                attrs,
                &format!("failed quota: {}: must specify {missing}", stored.name()),
            ));
        }
        interesting.push((stored.name().to_string(), q, hard));
    }
    // The growth this write asks for (`SubtractWithNonNegativeResult`, zeros removed).
    let mut delta = quota::usage(info, obj);
    if let Some(old) = attrs.old_object {
        let before = quota::usage(info, old);
        delta = delta
            .into_iter()
            .filter_map(|(k, v)| {
                let prev = before.get(&k).copied().unwrap_or(Quantity::ZERO);
                let grown = v.checked_sub(prev)?;
                (!grown.is_negative()).then_some((k, grown))
            })
            .collect();
    }
    delta.retain(|_, v| !v.is_zero());
    if delta.is_empty() {
        return Ok(());
    }
    for (name, q, hard) in interesting {
        let hard_names: BTreeSet<String> = hard.keys().cloned().collect();
        let requested = mask(&delta, &hard_names);
        let used = quota::resource_list(&q["status"]["used"]);
        let exceeded: BTreeSet<String> = requested
            .iter()
            .filter(|(k, v)| {
                let now = used.get(*k).copied().unwrap_or(Quantity::ZERO);
                now.checked_add(**v)
                    .is_none_or(|total| Some(&total) > hard.get(*k))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !exceeded.is_empty() {
            return Err(forbidden(
                attrs,
                &format!(
                    "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                    pretty(&mask(&requested, &exceeded)),
                    pretty(&mask(&used, &exceeded)),
                    pretty(&mask(&hard, &exceeded)),
                ),
            ));
        }
    }
    Ok(())
}

/// `podEvaluator.Constraints`: for the cpu and memory names a quota sets, the containers
/// (and init containers) that declare none, as `limits.cpu for: a,b; requests.memory for: a`.
fn undeclared(pod: &Value, constrained: &BTreeSet<String>) -> Option<String> {
    let required: Vec<&str> = MUST_DECLARE
        .iter()
        .copied()
        .filter(|n| constrained.contains(*n))
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    for c in ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
    {
        let requests = quota::container_requests(c);
        let limits = &c["resources"]["limits"];
        for r in &required {
            let declared = match r.split_once('.') {
                Some(("limits", res)) => limits[res].is_string(),
                Some((_, res)) => requests.contains_key(res),
                None => requests.contains_key(*r),
            };
            if !declared {
                missing
                    .entry(r)
                    .or_default()
                    .insert(c["name"].as_str().unwrap_or("").to_string());
            }
        }
    }
    (!missing.is_empty()).then(|| {
        missing
            .iter()
            .map(|(r, names)| {
                format!(
                    "{r} for: {}",
                    names.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// `spec.hard` values must be quantities.
fn validate_hard(attrs: &Attributes<'_>, q: &Value) -> Result<(), ApiError> {
    let causes: Vec<Cause> = q["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), String::from);
            let problem = match Quantity::parse(&text) {
                Err(e) => e.to_string(),
                Ok(quantity) if quantity.is_negative() => {
                    "must be greater than or equal to 0".to_string()
                }
                Ok(_) => return None,
            };
            Some(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{text}\": {problem}"),
                field: format!("spec.hard[{k}]"),
            })
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(attrs.info.target(), attrs.name, causes))
    }
}
