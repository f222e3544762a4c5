//! `tenant-operator crd` (being built; see the issue that owns it).

use std::process::ExitCode;

use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_global: &GlobalArgs, _args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`tenant-operator crd` is not built yet")
}
