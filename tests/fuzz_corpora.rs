//! The fuzz targets' saved inputs, replayed as plain tests (no fuzzer, no nightly): for every
//! target of `kinit_phases::fuzzing`, each file of `fuzz/seeds/<target>/` (inputs written by hand),
//! `fuzz/corpus/<target>/` (what the fuzzer kept) and `fuzz/regressions/<target>/` (inputs that
//! once crashed, hung or exhausted memory) goes through the same function the fuzzer calls, which
//! must return normally. `scripts/fuzz.sh` runs the fuzzer itself.

use std::path::Path;

use kinit_phases::fuzzing::TARGETS;

#[test]
fn every_saved_fuzz_input_passes_through_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let mut seen = 0;
        for kind in ["seeds", "corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                if let Err(panic) = outcome {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{}: {message}", file.display()));
                }
                seen += 1;
            }
        }
        assert!(seen > 0, "no saved input for the fuzz target {target}");
        replayed += seen;
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} saved fuzz inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
