//! `kinit config images pull` and the ImagePull preflight check against a real container runtime:
//! Debian's containerd started as a plain process (tests/support/containerd.rs), reached through
//! kinit's CRI client over its socket. No registry is reachable here: images the runtime has are
//! imported from archives made by the test, and a pull of any other must say the registry could
//! not be reached.

mod common;
use common::{have_root, kinit, text};
use kinit_test_support as support;

use kinit_phases::exec::node_host::NodeHost;
use kinit_preflight::Check;
use support::containerd::{Containerd, SOCKET};

const VERSION: &str = "v1.34.4";

fn image_list(version: &str) -> Vec<String> {
    let out = kinit(&["config", "images", "list", "--kubernetes-version", version]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// `kinit --rootfs <root> config images pull <args>`.
fn pull(root: &str, args: &[&str]) -> std::process::Output {
    let mut words = vec!["--rootfs", root, "config", "images", "pull"];
    words.extend_from_slice(args);
    kinit(&words)
}

#[test]
fn needs_root_images_pull_through_containerd() {
    if !have_root() {
        return;
    }
    let containerd = Containerd::start();
    let root = containerd.root();
    let root_arg = root.to_str().unwrap();
    let images = image_list(VERSION);
    assert_eq!(images.len(), 7, "{images:?}");
    for image in &images {
        containerd.import(image);
    }

    // Every image is there: each is said present, none is pulled; the socket is found where
    // containerd's is on a node (under --rootfs).
    let out = pull(root_arg, &["--kubernetes-version", VERSION]);
    let said = text(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}\n{}",
        text(&out.stderr),
        containerd.log()
    );
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines[0].starts_with("[config/images] Container runtime containerd ")
            && lines[0].ends_with(&format!("(CRI v1) at {SOCKET}")),
        "{said}"
    );
    let present: Vec<String> = images
        .iter()
        .map(|i| format!("[config/images] Present {i}"))
        .collect();
    assert_eq!(lines[1..], present, "{said}");

    // The same as events.
    let out = pull(root_arg, &["--kubernetes-version", VERSION, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), images.len(), "{events:?}");
    for (event, image) in events.iter().zip(&images) {
        assert_eq!(event["image"], image.as_str());
        assert_eq!(event["outcome"], "present");
    }

    // Images the runtime lacks, from a registry no machine reaches (`.invalid` never resolves):
    // the runtime is asked to pull the first, and the error says plainly that the registry could
    // not be reached.
    let out = pull(
        root_arg,
        &[
            "--kubernetes-version",
            VERSION,
            "--image-repository",
            "registry.invalid",
        ],
    );
    let (said, error) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}{error}");
    assert!(
        said.contains(&format!(
            "[config/images] Pulling registry.invalid/kube-apiserver:{VERSION}"
        )),
        "{said}"
    );
    assert!(
        error.contains(&format!("failed to pull image \"registry.invalid/kube-apiserver:{VERSION}\": the container runtime could not reach the registry registry.invalid")),
        "{error}"
    );

    // The ImagePull check asks through the same client: present images pass, a missing one is
    // pulled and fails with the same words.
    let host = NodeHost::new(&root);
    let endpoint = format!("unix://{SOCKET}");
    let check = Check::ImagePull {
        images: images.clone(),
        cri_socket: endpoint.clone(),
    };
    check
        .run(&host)
        .unwrap_or_else(|f| panic!("{}\n{}", f.message, containerd.log()));
    let unknown = "registry.k8s.io/no-such-image:v0.0.0";
    let failure = Check::ImagePull {
        images: vec![images[0].clone(), unknown.to_string()],
        cri_socket: endpoint.clone(),
    }
    .run(&host)
    .unwrap_err();
    // No registry is reachable here; where one is, the registry says it has no such image.
    let said = failure
        .message
        .strip_prefix(&format!("failed to pull image {unknown}: "))
        .unwrap_or_else(|| panic!("{}", failure.message));
    assert!(
        said.starts_with("the container runtime could not reach the registry registry.k8s.io")
            || said.starts_with("the registry registry.k8s.io has no such image"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains(&images[0]), "{}", failure.message);

    // Sockets that are not a runtime's: each gets its own plain error and exit status 1.
    let dead = root.join("dead.sock");
    let _listening_nowhere = std::os::unix::net::UnixListener::bind(&dead).unwrap();
    drop(_listening_nowhere);
    std::fs::write(root.join("plain-file"), "").unwrap();
    for (socket, expected) in [
        (
            "unix:///run/no-such.sock",
            "no container runtime socket at /run/no-such.sock: No such file or directory",
        ),
        (
            "unix:///plain-file",
            "no container runtime socket at /plain-file: it is not a socket",
        ),
        (
            "unix:///dead.sock",
            "nothing answers on the container runtime socket /dead.sock",
        ),
        (
            "tcp://127.0.0.1:1",
            "the CRI endpoint \"tcp://127.0.0.1:1\" is not a unix socket",
        ),
    ] {
        let out = pull(root_arg, &["--cri-socket", socket]);
        let error = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{socket}: {error}");
        assert!(error.contains(expected), "{socket}: {error}");
        assert!(error.contains("--cri-socket"), "{socket}: {error}");
        // The ImagePull check says the same once, not once per image.
        let failure = Check::ImagePull {
            images: images.clone(),
            cri_socket: socket.to_string(),
        }
        .run(&host)
        .unwrap_err();
        assert!(failure.message.contains(expected), "{}", failure.message);
        assert_eq!(failure.message.matches(expected).count(), 1);
    }
}
