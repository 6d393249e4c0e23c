//! A full init preflight run (every check, concurrently, as kinit runs it) against the same checks run one
//! after another, the baseline measured in the same run. Prints medians and their ratio.

use kinit_phases::config::resolve::{resolve_init, InitFlags};
use kinit_phases::preflight_phase::node_facts;
use kinit_preflight::{init_checks, run, Check, Host, IgnoreList, RealHost};
use std::time::{Duration, Instant};

const ROUNDS: usize = 41;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let flags = InitFlags {
        apiserver_advertise_address: Some("198.51.100.10".into()),
        node_name: Some("bench-node".into()),
        ..Default::default()
    };
    let config = resolve_init(None, &flags, std::path::Path::new("/"))
        .expect("default configuration resolves");
    let mut facts = node_facts(&config, true);
    facts.pull_images = false;
    let checks: Vec<Check> = init_checks(&facts);
    let host = RealHost::new("/");
    let ignore = IgnoreList::new(["all"]);
    let concurrent = measure(|| {
        let _ = run(&checks, &host, &ignore);
    });
    let sequential = measure(|| {
        for check in &checks {
            let _ = check.run(&host as &dyn Host);
        }
    });
    println!("preflight ({} checks, median of {ROUNDS}):", checks.len());
    println!(
        "  kinit (concurrent)     {:>8.2} ms",
        concurrent.as_secs_f64() * 1e3
    );
    println!(
        "  baseline (sequential)  {:>8.2} ms",
        sequential.as_secs_f64() * 1e3
    );
    println!(
        "  ratio kinit/baseline   {:>8.2}",
        concurrent.as_secs_f64() / sequential.as_secs_f64()
    );
}
