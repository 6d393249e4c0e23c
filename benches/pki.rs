//! A fresh PKI: `kinit init phase certs all` then `kinit init phase kubeconfig all` into an empty temp root,
//! against benches/pki-openssl.sh making the same files with the openssl CLI, measured in the same run,
//! round by round in turn so both see the same machine load. Then the re-run of both phases on the PKI
//! they just made, which must only read and check. Prints medians and ratios.

#[path = "common/mod.rs"]
mod common;

use common::{median, ms, run};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODE: &str = "node1";
const ADDRESS: &str = "10.0.0.10";

fn config(dir: &Path, algorithm: &str) -> std::path::PathBuf {
    let path = dir.join("kinit.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: {NODE}\n\
             localAPIEndpoint:\n  advertiseAddress: {ADDRESS}\n---\napiVersion: kubeadm.k8s.io/v1beta4\n\
             kind: ClusterConfiguration\nencryptionAlgorithm: {algorithm}\n"
        ),
    )
    .unwrap();
    path
}

fn kinit_phases(root: &Path, config: &Path) -> Duration {
    let started = Instant::now();
    for phase in ["certs", "kubeconfig"] {
        run(Command::new(env!("CARGO_BIN_EXE_kinit"))
            .args(["init", "phase", phase, "all", "--rootfs"])
            .arg(root)
            .arg("--config")
            .arg(config));
    }
    started.elapsed()
}

fn openssl_script(root: &Path, algorithm: &str) -> Duration {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pki-openssl.sh");
    let started = Instant::now();
    run(Command::new("bash")
        .arg(script)
        .arg(root)
        .args([algorithm, NODE, ADDRESS]));
    started.elapsed()
}

fn bench(label: &str, kinit_algorithm: &str, script_algorithm: &str, rounds: usize) {
    let work = tempfile::tempdir().unwrap();
    let config = config(work.path(), kinit_algorithm);
    let (mut fresh, mut script, mut rerun) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let kinit_root = work.path().join(format!("kinit-{round}"));
        let script_root = work.path().join(format!("openssl-{round}"));
        fresh.push(kinit_phases(&kinit_root, &config));
        script.push(openssl_script(&script_root, script_algorithm));
        rerun.push(kinit_phases(&kinit_root, &config));
    }
    let (fresh, script, rerun) = (median(fresh), median(script), median(rerun));
    println!(
        "{label:<11} fresh: kinit {:>7.1} ms  openssl script {:>7.1} ms  ratio {:.2}   re-run: {:>5.1} ms   ({rounds} rounds, medians)",
        ms(fresh),
        ms(script),
        fresh.as_secs_f64() / script.as_secs_f64(),
        ms(rerun),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument, if any, picks one algorithm.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |label: &str| filter.as_deref().is_none_or(|f| label.contains(f));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("certs all + kubeconfig all into an empty root, against the openssl CLI script ({cores} cores)");
    if wanted("RSA-2048") {
        bench("RSA-2048", "RSA-2048", "rsa", 9);
    }
    if wanted("ECDSA-P256") {
        bench("ECDSA-P256", "ECDSA-P256", "ecdsa", 21);
    }
}
