#!/usr/bin/env bash
# Every Kubernetes node: containerd, the kubelet, kubectl and crictl of the chosen minor from the
# distribution's usual sources, the kinit binary, then kinit's own preflight fixes what it finds
# (swap, sysctls, bridge modules): that is the part kinit is tested for, so nothing here does it.
#   node.sh deb|rpm MINOR NODE_IP
set -euo pipefail
family=$1 minor=$2 node_ip=$3
k8s_repo="https://pkgs.k8s.io/core:/stable:/v${minor}"

install_deb() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ca-certificates curl gpg jq containerd
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL "$k8s_repo/deb/Release.key" | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes.gpg
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] $k8s_repo/deb/ /" >/etc/apt/sources.list.d/kubernetes.list
  apt-get update -qq
  apt-get install -y -qq kubelet kubectl cri-tools kubernetes-cni
  # The kubelet must not move to another version under a running cluster.
  apt-mark hold kubelet kubectl
}

install_rpm() {
  cat >/etc/yum.repos.d/kubernetes.repo <<REPO
[kubernetes]
name=Kubernetes
baseurl=$k8s_repo/rpm/
enabled=1
gpgcheck=1
gpgkey=$k8s_repo/rpm/repodata/repomd.xml.key
REPO
  # RHEL-family distributions carry no containerd: docker's repository is the usual source.
  dnf -y -q install dnf-plugins-core jq
  dnf config-manager --add-repo https://download.docker.com/linux/rhel/docker-ce.repo
  dnf -y -q install containerd.io kubelet kubectl cri-tools kubernetes-cni
  # Static pods mount host paths SELinux would deny them; kubeadm's install guide does the same.
  setenforce 0 || true
  sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' /etc/selinux/config
  # A throwaway test VM: rather than opening API, etcd, kubelet, VXLAN and NodePort ports one by one.
  if systemctl is-enabled --quiet firewalld 2>/dev/null; then systemctl disable --now firewalld; fi
}

"install_$family"

# containerd's packaged config (docker's disables the CRI plugin) is replaced by its defaults with the
# systemd cgroup driver, which is the kubelet's default driver.
install -d /etc/containerd
containerd config default >/etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
grep -q 'SystemdCgroup = true' /etc/containerd/config.toml || { echo "no SystemdCgroup in containerd's config" >&2; exit 1; }
systemctl enable containerd
systemctl restart containerd

# Vagrant's NAT interface has the same address on every VM: the kubelet must report the private one.
# kinit's kubelet drop-in reads both files (deb and rpm layouts).
kubelet_env=/etc/default/kubelet
if [ "$family" = rpm ]; then kubelet_env=/etc/sysconfig/kubelet; fi
echo "KUBELET_EXTRA_ARGS=--node-ip=$node_ip" >"$kubelet_env"
systemctl enable kubelet

install -m 0755 /tmp/kinit /usr/local/bin/kinit
kinit version
kinit init phase preflight --fix
