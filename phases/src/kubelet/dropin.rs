//! The systemd drop-in that starts the kubelet with kinit's files (kubeadm's packaged
//! `10-kubeadm.conf`). kubeadm leaves it to its packages; kinit writes it when none is installed so
//! that a kubelet installed as a plain binary is started the same way.

use kinit_preflight::Host;

pub const NAME: &str = "10-kubeadm.conf";
/// Where kinit writes it: the administrator's unit folder, which a package never overwrites.
pub const PATH: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
pub const MODE: u32 = 0o644;
const TEMPLATE: &str = include_str!("../../../templates/kubelet-dropin.conf.hbs");

/// Where packages (deb, rpm, and older layouts) and administrators put it.
const INSTALLED_AT: [&str; 3] = [
    "/usr/lib/systemd/system/kubelet.service.d",
    "/lib/systemd/system/kubelet.service.d",
    "/etc/systemd/system/kubelet.service.d",
];

/// The drop-in already in place, if any. One kinit wrote earlier counts too: re-running finds it and
/// leaves it alone, like one from a package.
pub fn installed(host: &dyn Host) -> Option<String> {
    INSTALLED_AT
        .iter()
        .map(|dir| format!("{dir}/{NAME}"))
        .find(|path| host.exists(path))
}

/// The kubelet binary the drop-in starts: the first on PATH (as the node sees it), else where the
/// packages put it.
pub fn kubelet_binary(host: &dyn Host) -> String {
    host.env("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| format!("{}/kubelet", dir.trim_end_matches('/')))
        .find(|path| host.exists(path))
        .unwrap_or_else(|| "/usr/bin/kubelet".to_string())
}

pub fn render(kubelet: &str) -> Result<String, String> {
    let mut engine = handlebars::Handlebars::new();
    engine.set_strict_mode(true);
    engine
        .render_template(TEMPLATE, &serde_json::json!({ "kubelet": kubelet }))
        .map_err(|e| format!("cannot render the kubelet drop-in: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn starts_the_given_kubelet_with_the_kubeadm_variables() {
        let text = super::render("/usr/local/bin/kubelet").unwrap();
        assert!(text.contains("\nExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"));
        assert!(text.contains("EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"));
    }
}
