//! The join commands and the closing text of `kinit init`, laid out as kubeadm lays them out, so scripts
//! that cut them out of kubeadm's output work on kinit's.

/// Printed in place of a token or key the user asked not to see.
pub const WITHHELD: &str = "<value withheld>";

pub struct JoinCommand<'a> {
    /// `host:port` of the control plane, as admin.conf reaches it.
    pub endpoint: &'a str,
    pub token: &'a str,
    pub ca_cert_hashes: &'a [String],
    /// `Some` for the control-plane variant; the key itself only when certificates were uploaded.
    pub control_plane: Option<Option<&'a str>>,
}

impl JoinCommand<'_> {
    /// Over several lines, each continued with ` \` and the next indented by a tab, as kubeadm prints it.
    pub fn text(&self) -> String {
        let mut out = format!("kinit join {} --token {} \\\n\t", self.endpoint, self.token);
        for hash in self.ca_cert_hashes {
            out.push_str(&format!("--discovery-token-ca-cert-hash {hash} "));
        }
        if let Some(key) = self.control_plane {
            out.push_str("\\\n\t--control-plane ");
            if let Some(key) = key {
                out.push_str(&format!("--certificate-key {key}"));
            }
        }
        out
    }

    /// On one line, as `kinit token create --print-join-command` prints it.
    pub fn one_line(&self) -> String {
        self.text().replace("\\\n\t", "")
    }
}

/// What `kinit init` says when it is done.
pub struct InitDone<'a> {
    pub admin_kubeconfig: &'a str,
    pub worker: &'a JoinCommand<'a>,
    /// Shown only when the cluster has a control-plane endpoint that other control planes can share.
    pub control_plane: Option<&'a JoinCommand<'a>>,
    pub certificates_uploaded: bool,
}

impl InitDone<'_> {
    pub fn text(&self) -> String {
        let mut out = format!(
            "Your Kubernetes control-plane has initialized successfully!\n\n\
             To start using your cluster, you need to run the following as a regular user:\n\n  \
             mkdir -p $HOME/.kube\n  \
             sudo cp -i {admin} $HOME/.kube/config\n  \
             sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n\
             Alternatively, if you are the root user, you can run:\n\n  \
             export KUBECONFIG={admin}\n\n\
             You should now deploy a pod network to the cluster.\n\
             Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  \
             https://kubernetes.io/docs/concepts/cluster-administration/addons/\n\n",
            admin = self.admin_kubeconfig
        );
        if let Some(control_plane) = self.control_plane {
            if self.certificates_uploaded {
                out.push_str(&format!(
                    "You can now join any number of control-plane nodes running the following command on each as root:\n\n  \
                     {}\n\n\
                     Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n\
                     As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n\
                     \"kinit init phase upload-certs --upload-certs\" to reload certs afterward.\n\n",
                    control_plane.text()
                ));
            } else {
                out.push_str(&format!(
                    "You can now join any number of control-plane nodes by copying certificate authorities\n\
                     and service account keys on each node and then running the following as root:\n\n  \
                     {}\n\n",
                    control_plane.text()
                ));
            }
        }
        out.push_str(&format!(
            "Then you can join any number of worker nodes by running the following on each as root:\n\n{}\n",
            self.worker.text()
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_continued_and_indented_as_kubeadm_does() {
        let hashes = vec!["sha256:aa".to_string(), "sha256:bb".to_string()];
        let worker = JoinCommand {
            endpoint: "10.0.0.1:6443",
            token: "abcdef.0123456789abcdef",
            ca_cert_hashes: &hashes,
            control_plane: None,
        };
        assert_eq!(
            worker.text(),
            "kinit join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash sha256:aa --discovery-token-ca-cert-hash sha256:bb "
        );
        assert_eq!(
            worker.one_line(),
            "kinit join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:aa --discovery-token-ca-cert-hash sha256:bb "
        );
        let control_plane = JoinCommand {
            control_plane: Some(Some("k3y")),
            ..worker
        };
        assert!(control_plane
            .text()
            .ends_with("sha256:bb \\\n\t--control-plane --certificate-key k3y"));
        let copied = JoinCommand {
            control_plane: Some(None),
            ..control_plane
        };
        assert!(copied.text().ends_with("\\\n\t--control-plane "));
    }
}
