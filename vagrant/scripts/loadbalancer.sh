#!/usr/bin/env bash
# The load balancer of the ha topology: haproxy passing TCP 6443 to every control plane's API server.
# TCP, not HTTPS: the API server's certificates and client certificates must reach it unchanged.
#   loadbalancer.sh CP_IP...
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: loadbalancer.sh CONTROL_PLANE_IP..." >&2; exit 2; }

if command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy
else
  dnf -y -q install haproxy
  # haproxy may connect to any port only with this SELinux boolean.
  setsebool -P haproxy_connect_any 1 || true
  if systemctl is-enabled --quiet firewalld 2>/dev/null; then systemctl disable --now firewalld; fi
fi

{
  cat <<'HEAD'
global
    log /dev/log local0
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend kube-apiserver
    bind *:6443
    default_backend control-planes
backend control-planes
    # A control plane counts once its API server says it is ready, not when its port opens.
    option httpchk GET /readyz
    http-check expect status 200
    balance roundrobin
HEAD
  i=1
  for ip in "$@"; do
    echo "    server cp$i $ip:6443 check check-ssl verify none inter 2s fall 3 rise 2"
    i=$((i + 1))
  done
} >/etc/haproxy/haproxy.cfg
haproxy -c -f /etc/haproxy/haproxy.cfg
systemctl enable haproxy
systemctl restart haproxy
