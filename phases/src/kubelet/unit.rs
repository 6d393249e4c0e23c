//! The kubelet's own systemd unit, as the Kubernetes packages ship it. A kubelet installed as a plain
//! binary has none, and the drop-in alone cannot start it: kinit writes the unit when none is installed.

use kinit_preflight::Host;

pub const NAME: &str = "kubelet.service";
/// The administrator's unit folder, which a package never overwrites.
pub const PATH: &str = "/etc/systemd/system/kubelet.service";
pub const MODE: u32 = 0o644;
const TEMPLATE: &str = include_str!("../../../templates/kubelet.service.hbs");

/// Where packages (deb, rpm, older layouts) and administrators put units.
const INSTALLED_AT: [&str; 3] = [
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/systemd/system",
];

/// The unit already in place, if any (one kinit wrote earlier counts too, and is left alone).
pub fn installed(host: &dyn Host) -> Option<String> {
    INSTALLED_AT
        .iter()
        .map(|dir| format!("{dir}/{NAME}"))
        .find(|path| host.exists(path))
}

pub fn render(kubelet: &str) -> Result<String, String> {
    let mut engine = handlebars::Handlebars::new();
    engine.set_strict_mode(true);
    engine
        .render_template(TEMPLATE, &serde_json::json!({ "kubelet": kubelet }))
        .map_err(|e| format!("cannot render the kubelet unit: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_the_given_kubelet_and_restarts_it_always() {
        let text = super::render("/opt/bin/kubelet").unwrap();
        assert!(text.contains("\n[Service]\nExecStart=/opt/bin/kubelet\nRestart=always\n"));
        assert!(text.contains("\n[Install]\nWantedBy=multi-user.target\n"));
    }
}
