//! The kubelet's systemd files as the packages ship them: the `kubelet.service` unit and kubeadm's
//! `10-kubeadm.conf` drop-in. kubeadm leaves both to its packages; kinit writes each one that is not
//! installed, so that a kubelet installed as a plain binary is started the same way.

use crate::domain::layout;
use kinit_preflight::Host;

pub struct SystemdFile {
    pub name: &'static str,
    /// Where kinit writes it: the administrator's folder, which a package never overwrites.
    pub path: &'static str,
    /// Where packages (deb, rpm, older layouts) and administrators put it. One kinit wrote earlier counts
    /// too: a re-run finds it and leaves it alone, like one from a package.
    installed_in: [&'static str; 3],
    template: &'static str,
    /// What kinit says before writing it.
    pub missing: &'static str,
}

pub const MODE: u32 = 0o644;

pub const UNIT: SystemdFile = SystemdFile {
    name: "kubelet.service",
    path: layout::KUBELET_SERVICE,
    installed_in: layout::SYSTEMD_UNIT_DIRS,
    template: include_str!("../../../../templates/kubelet.service.hbs"),
    missing: "No kubelet.service is installed",
};

pub const DROPIN: SystemdFile = SystemdFile {
    name: "10-kubeadm.conf",
    path: layout::KUBELET_DROP_IN,
    installed_in: layout::KUBELET_DROP_IN_DIRS,
    template: include_str!("../../../../templates/kubelet-dropin.conf.hbs"),
    missing: "No 10-kubeadm.conf is installed for the kubelet unit",
};

impl SystemdFile {
    /// The file already in place, if any.
    pub fn installed(&self, host: &dyn Host) -> Option<String> {
        self.installed_in
            .iter()
            .map(|dir| format!("{dir}/{}", self.name))
            .find(|path| host.exists(path))
    }

    pub fn render(&self, kubelet: &str) -> Result<String, String> {
        let mut engine = handlebars::Handlebars::new();
        engine.set_strict_mode(true);
        engine
            .render_template(self.template, &serde_json::json!({ "kubelet": kubelet }))
            .map_err(|e| format!("cannot render {}: {e}", self.name))
    }
}

/// The kubelet binary the unit and drop-in start: the first on PATH (as the node sees it), else where
/// the packages put it.
pub fn kubelet_binary(host: &dyn Host) -> String {
    host.env("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| format!("{}/kubelet", dir.trim_end_matches('/')))
        .find(|path| host.exists(path))
        .unwrap_or_else(|| "/usr/bin/kubelet".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_in_starts_the_given_kubelet_with_the_kubeadm_variables() {
        let text = DROPIN.render("/usr/local/bin/kubelet").unwrap();
        assert!(text.contains("\nExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"));
        assert!(text.contains("EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"));
    }

    #[test]
    fn the_unit_runs_the_given_kubelet_and_restarts_it_always() {
        let text = UNIT.render("/opt/bin/kubelet").unwrap();
        assert!(text.contains("\n[Service]\nExecStart=/opt/bin/kubelet\nRestart=always\n"));
        assert!(text.contains("\n[Install]\nWantedBy=multi-user.target\n"));
    }
}
