//! Assertions shared by the rule tests (the objects come from [`crate::fixtures`]).

use serde_json::Value;

use super::{Problem, validate_tenant};
use crate::fixtures::{default_class, tenant};

/// Problems of the fixture tenant changed by `spec_patch`, with the default class it names.
pub(crate) fn problems_with(spec_patch: Value) -> Vec<Problem> {
    let t = tenant(spec_patch);
    validate_tenant(&t, Some(&default_class(&t.spec.class)))
}

/// The paths of some problems, in order.
pub(crate) fn paths(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(|p| p.path.clone()).collect()
}
