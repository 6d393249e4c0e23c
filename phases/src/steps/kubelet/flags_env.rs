//! `/var/lib/kubelet/kubeadm-flags.env`: the kubelet flags that depend on this node, as the one line
//! the packaged drop-in reads into `$KUBELET_KUBEADM_ARGS`.

use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::{Arg, Taint};
use crate::domain::manifests::flags;

/// The flags kubeadm passes on the command line rather than in config.yaml, sorted, with
/// `kubeletExtraArgs` replacing every default of the same name. `hostname` is the OS hostname,
/// lowercased as kubeadm reads it.
pub fn args(config: &InitConfig, hostname: &str, register_with_taints: &[Taint]) -> Vec<String> {
    let node = &config.init.node_registration;
    let mut defaults = Vec::new();
    // With NodeLocalCRISocket the endpoint goes to instance-config.yaml instead.
    if !super::node_local_cri_socket(config) {
        defaults.push(Arg {
            name: "container-runtime-endpoint".into(),
            value: runtime_endpoint(&node.cri_socket),
        });
    }
    defaults.push(Arg {
        name: "pod-infra-container-image".into(),
        value: format!(
            "{}/pause:{}",
            config.cluster.image_repository,
            config.version_row().pause
        ),
    });
    // The kubelet registers under the hostname unless told otherwise, so the override is only needed
    // when the two differ.
    if !node.name.is_empty() && node.name != hostname {
        defaults.push(Arg {
            name: "hostname-override".into(),
            value: node.name.clone(),
        });
    }
    // A joining worker's taints are the kubelet's to register; a control plane's come from
    // mark-control-plane.
    if !register_with_taints.is_empty() {
        let taints: Vec<String> = register_with_taints.iter().map(taint_flag).collect();
        defaults.push(Arg {
            name: "register-with-taints".into(),
            value: taints.join(","),
        });
    }
    flags::command("", defaults, &node.kubelet_extra_args, config.version.minor)
        .into_iter()
        .skip(1)
        .collect()
}

/// `key=value:Effect`, or `key:Effect` without a value, as the kubelet's flag reads them.
fn taint_flag(taint: &Taint) -> String {
    if taint.value.is_empty() {
        format!("{}:{}", taint.key, taint.effect)
    } else {
        format!("{}={}:{}", taint.key, taint.value, taint.effect)
    }
}

/// kubeadm still accepts a bare socket path (deprecated) and gives it the `unix://` scheme the
/// kubelet needs.
pub fn runtime_endpoint(socket: &str) -> String {
    if socket.contains("://") {
        socket.to_string()
    } else {
        format!("unix://{socket}")
    }
}

/// The file's exact content: `KUBELET_KUBEADM_ARGS="..."` quoted as Go's `%q` quotes, one line.
pub fn render(args: &[String]) -> String {
    format!("KUBELET_KUBEADM_ARGS={}\n", go_quote(&args.join(" ")))
}

/// Go's `strconv.Quote`: the shell that reads the file must see exactly what kubeadm would write.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Close to Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space; other spaces and control and format characters are escaped.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_go_does() {
        assert_eq!(go_quote("--a=b --c=d"), r#""--a=b --c=d""#);
        assert_eq!(go_quote(r#"x"y\z"#), r#""x\"y\\z""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("é\u{2028}"), "\"é\\u2028\"");
    }

    #[test]
    fn bare_sockets_get_the_unix_scheme() {
        assert_eq!(
            runtime_endpoint("/run/containerd/containerd.sock"),
            "unix:///run/containerd/containerd.sock"
        );
        assert_eq!(runtime_endpoint("unix:///x.sock"), "unix:///x.sock");
    }

    #[test]
    fn taints_read_as_the_kubelet_flag_reads_them() {
        let taint = |key: &str, value: &str| Taint {
            key: key.into(),
            value: value.into(),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        assert_eq!(
            taint_flag(&taint("dedicated", "infra")),
            "dedicated=infra:NoSchedule"
        );
        assert_eq!(taint_flag(&taint("gpu", "")), "gpu:NoSchedule");
    }
}
