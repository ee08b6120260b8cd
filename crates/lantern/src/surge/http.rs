//! The HTTP driver.

use lantern_surge::{RunReport, Workload};

use super::SurgeArgs;

pub fn run(_args: &SurgeArgs, _workload: &Workload, _admission: bool) -> anyhow::Result<RunReport> {
    anyhow::bail!("the HTTP driver is not built yet")
}
