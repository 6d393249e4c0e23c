#!/usr/bin/env bash
# The baseline of benches/pki.rs: the PKI and kubeconfig files of `kinit init phase certs all` and
# `kinit init phase kubeconfig all`, made the way a careful admin would with the openssl CLI (same files,
# names, extensions, key formats and modes), one command after another.
# Usage: pki-openssl.sh ROOT rsa|ecdsa NODE_NAME ADVERTISE_ADDRESS
set -euo pipefail
root=$1 algorithm=$2 node=$3 address=$4
pki=$root/etc/kubernetes/pki
conf=$root/etc/kubernetes
mkdir -p "$pki/etcd"
umask 077

new_key() { # file
  case $algorithm in
    rsa) openssl genrsa -traditional -out "$1" 2048 2>/dev/null ;;
    ecdsa) openssl ecparam -name prime256v1 -genkey -noout -out "$1" ;;
  esac
}

ca() { # base CN
  new_key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -addext "subjectAltName=DNS:$2"
  chmod 0644 "$1.crt"
}

leaf() { # base subject ca-base eku [sans]
  new_key "$1.key"
  local extra=()
  [ -n "${5:-}" ] && extra=(-addext "subjectAltName=$5")
  openssl req -x509 -new -key "$1.key" -subj "$2" -CA "$3.crt" -CAkey "$3.key" -days 365 -out "$1.crt" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=$4" "${extra[@]}"
  chmod 0644 "$1.crt"
}

ca "$pki/ca" kubernetes
leaf "$pki/apiserver" /CN=kube-apiserver "$pki/ca" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$node,IP:10.96.0.1,IP:$address"
leaf "$pki/apiserver-kubelet-client" "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" "$pki/ca" clientAuth
ca "$pki/front-proxy-ca" front-proxy-ca
leaf "$pki/front-proxy-client" /CN=front-proxy-client "$pki/front-proxy-ca" clientAuth
ca "$pki/etcd/ca" etcd-ca
etcd_sans="DNS:$node,DNS:localhost,IP:$address,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"
leaf "$pki/etcd/server" "/CN=$node" "$pki/etcd/ca" serverAuth,clientAuth "$etcd_sans"
leaf "$pki/etcd/peer" "/CN=$node" "$pki/etcd/ca" serverAuth,clientAuth "$etcd_sans"
leaf "$pki/etcd/healthcheck-client" /CN=kube-etcd-healthcheck-client "$pki/etcd/ca" clientAuth
leaf "$pki/apiserver-etcd-client" /CN=kube-apiserver-etcd-client "$pki/etcd/ca" clientAuth
new_key "$pki/sa.key"
openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
chmod 0644 "$pki/sa.pub"

server="https://$address:6443"
ca_data=$(base64 -w0 "$pki/ca.crt")
kubeconfig() { # file subject user
  local work=$conf/.$1
  leaf "$work" "$2" "$pki/ca" clientAuth
  cat >"$conf/$1" <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $ca_data
    server: $server
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: $3
  name: $3@kubernetes
current-context: $3@kubernetes
kind: Config
preferences: {}
users:
- name: $3
  user:
    client-certificate-data: $(base64 -w0 "$work.crt")
    client-key-data: $(base64 -w0 "$work.key")
EOF
  rm -f "$work.crt" "$work.key"
}
kubeconfig admin.conf "/O=kubeadm:cluster-admins/CN=kubernetes-admin" kubernetes-admin
kubeconfig super-admin.conf "/O=system:masters/CN=kubernetes-super-admin" kubernetes-super-admin
kubeconfig kubelet.conf "/O=system:nodes/CN=system:node:$node" "system:node:$node"
kubeconfig controller-manager.conf /CN=system:kube-controller-manager system:kube-controller-manager
kubeconfig scheduler.conf /CN=system:kube-scheduler system:kube-scheduler
