//! Render throughput over every Comune of Italy (7,896 generated tenants, classes from
//! `policies/classes/`), on one thread, the target being under 2 seconds for
//! validation and render together:
//!
//! - `validate + render`: [`render_set`]: every tenant's rules (class, ISTAT registry,
//!   quotas, egress, hostnames, reserved namespaces, hostnames inside the domain delegated
//!   to each Comune), the cross-tenant checks, then every child object (what
//!   `tenant-operator render` does once the manifests are read, less the schema and CEL
//!   checks that the `validate` benchmark measures);
//! - `+ JSON`: the same, plus each object serialised as the controller applies it;
//! - `render -o yaml` and `render -o json`: what `tenant-operator render` prints after
//!   validating: every object sorted and written, streamed, as multi-document YAML and as
//!   a JSON `v1 List`, into a sink that counts the bytes (targets: under 3 s and under 1 s
//!   on one core; timed in the thread's CPU time, which a busy machine does not inflate).
//!   The objects are freed after the clock stops, as the CLI leaves them to the exit. With `BENCH_BASELINE=1`, also the YAML written by serde-saphyr, as
//!   `render` did before (one run).
//!
//! Each figure is measured on two data sets: the generated Comuni as they are (one
//! environment for most, up to three for the largest) and the shape, every Comune
//! with exactly two environments (`prod` and `test`: about 205,000 objects), the volume
//! a repository of all of Italy renders on every merge.
//!
//! Run: `cargo bench -p tenant-operator --bench render_italy` (prints tenants per second).

mod common;

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use tenant_operator::api::{Environment, TenantClass, TenantService};
use tenant_operator::render::set::{RenderedSet, render_set};
use tenant_operator::render::{ChildObject, Platform, RenderContext, output, sort_objects};
use tenant_operator::samples::{self, Scope};

use common::{best_of, best_of_cpu};
/// Repetitions of each measurement; the best run is reported (least disturbed by other
/// processes on a shared machine).
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes = samples::default_classes()?;
    let generated = samples::comuni_tenants(Scope::Italia);
    let two_environments = with_two_environments(&generated);
    for (shape, tenants) in [
        ("generated environments", generated),
        ("two environments each", two_environments),
    ] {
        println!("== {shape}");
        measure(&tenants, &classes)?;
    }
    Ok(())
}

/// Every tenant with exactly the environments `prod` (production) and `test`.
fn with_two_environments(tenants: &[TenantService]) -> Vec<TenantService> {
    tenants
        .iter()
        .map(|tenant| {
            let mut tenant = tenant.clone();
            tenant.spec.environments = ["prod", "test"]
                .into_iter()
                .map(|name| Environment {
                    name: name.to_string(),
                    production: (name == "prod").then_some(true),
                    quota: None,
                })
                .collect();
            tenant
        })
        .collect()
}

fn measure(
    tenants: &[TenantService],
    classes: &[TenantClass],
) -> Result<(), Box<dyn std::error::Error>> {
    // One DomainDelegation per Comune: every hostname is checked against its body's.
    let trusted = samples::comuni_trusted(Scope::Italia)?;
    let platform = Platform::default();
    let ctx = RenderContext {
        platform: &platform,
        peers: &[],
        ca_certificate: None,
    };
    let n = tenants.len();

    let (time, rendered) = best_of(RUNS, || render_set(tenants, classes, &trusted, &ctx));
    let rendered: RenderedSet = rendered?;
    let objects: usize = rendered
        .tenants
        .iter()
        .map(|t| t.desired.objects.len())
        .sum();
    report("validate + render", n, objects, time);

    let (time, bytes) = best_of(RUNS, || -> Result<usize, Box<dyn std::error::Error>> {
        let set = render_set(tenants, classes, &trusted, &ctx)?;
        let mut bytes = 0;
        for tenant in &set.tenants {
            for object in &tenant.desired.objects {
                bytes += serde_json::to_vec(&object.to_json()?)?.len();
            }
        }
        Ok(bytes)
    });
    let bytes = bytes?;
    report("validate + render + JSON", n, objects, time);
    println!("  ({:.1} MB of JSON)", bytes as f64 / 1e6);

    for (format, target) in [("yaml", 3.0), ("json", 1.0)] {
        type Written = (usize, Vec<ChildObject>);
        let (time, written) =
            best_of_cpu(RUNS, || -> Result<Written, Box<dyn std::error::Error>> {
                let objects = sorted_objects(render_set(tenants, classes, &trusted, &ctx)?);
                let mut sink = Counter::default();
                // As the CLI writes standard output: through a 64 KiB buffer.
                let mut out = BufWriter::with_capacity(64 * 1024, &mut sink);
                if format == "yaml" {
                    output::write_yaml(&mut out, &objects)?;
                } else {
                    output::write_json_list(&mut out, &objects)?;
                }
                out.flush()?;
                drop(out);
                // Returned, not freed here: `tenant-operator render` exits without freeing them.
                Ok((sink.bytes, objects))
            });
        let (bytes, _objects) = written?;
        let seconds = time.unwrap_or_default().as_secs_f64();
        println!(
            "render -o {format} (validate, render, sort, write streamed): {n} tenants, {objects} objects, {:.1} MB in {seconds:.3} s of CPU = {:.0} MB/s; ratio to the {target} s target: {:.2}",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / seconds,
            seconds / target
        );
    }
    if std::env::var_os("BENCH_BASELINE").is_some() {
        let (time, bytes) = best_of_cpu(1, || -> Result<usize, Box<dyn std::error::Error>> {
            let objects = sorted_objects(render_set(tenants, classes, &trusted, &ctx)?);
            let values = objects
                .iter()
                .map(ChildObject::to_json)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(serde_saphyr::to_string_multiple(&values)?.len())
        });
        let bytes = bytes?;
        println!(
            "baseline: render -o yaml with serde-saphyr into one string: {:.1} MB in {:.3} s of CPU",
            bytes as f64 / 1e6,
            time.unwrap_or_default().as_secs_f64()
        );
    }
    Ok(())
}

/// Every object of a rendered set, in the order `render` prints them.
fn sorted_objects(set: RenderedSet) -> Vec<ChildObject> {
    let mut objects: Vec<ChildObject> = set
        .tenants
        .into_iter()
        .flat_map(|t| t.desired.objects)
        .collect();
    sort_objects(&mut objects);
    objects
}

/// A writer that only counts bytes: the cost measured is producing the text.
#[derive(Default)]
struct Counter {
    bytes: usize,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn report(what: &str, tenants: usize, objects: usize, time: Duration) {
    let seconds = time.as_secs_f64();
    println!(
        "{what}: {tenants} tenants ({objects} objects) in {seconds:.3} s = {:.0} tenants/s{}",
        tenants as f64 / seconds,
        if seconds < 2.0 {
            ""
        } else {
            " (over the 2 s target)"
        }
    );
}
