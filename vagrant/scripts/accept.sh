#!/usr/bin/env bash
# The acceptance, on the first control plane once every machine is up: the expected nodes are there
# and Ready, CoreDNS answers a lookup of kubernetes.default, and a pod runs on every worker.
#   accept.sh NODE_NAME...
set -euo pipefail
export KUBECONFIG=/etc/kubernetes/admin.conf
[ "$#" -gt 0 ] || { echo "usage: accept.sh NODE_NAME..." >&2; exit 2; }

for node in "$@"; do kubectl get node "$node" >/dev/null; done
kubectl wait --for=condition=Ready node --all --timeout=600s
# A node is Ready once flannel runs on it; CoreDNS may still be starting: the lookup must not race it.
kubectl -n kube-flannel rollout status daemonset/kube-flannel-ds --timeout=300s
kubectl -n kube-system rollout status deployment/coredns --timeout=300s

# The DNS debugging pod of the Kubernetes documentation; its nslookup fails unless CoreDNS answers.
kubectl delete pod dns-check --ignore-not-found
kubectl run dns-check --restart=Never --image=registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3 \
  --command -- nslookup kubernetes.default
kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/dns-check --timeout=300s
kubectl logs dns-check

workers=$(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[*].metadata.name}')
[ -n "$workers" ] || { echo "no worker nodes" >&2; exit 1; }
for worker in $workers; do
  kubectl delete pod "probe-$worker" --ignore-not-found
  kubectl run "probe-$worker" --restart=Never --image=registry.k8s.io/pause:3.10 \
    --overrides="{\"apiVersion\": \"v1\", \"spec\": {\"nodeSelector\": {\"kubernetes.io/hostname\": \"$worker\"}}}"
done
for worker in $workers; do kubectl wait --for=condition=Ready "pod/probe-$worker" --timeout=300s; done
kubectl get pods -o wide
echo "acceptance passed: $* Ready, CoreDNS answers, a pod runs on every worker ($workers)"
