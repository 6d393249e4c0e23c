# Turns one entry of matrix.yaml into a provisioning plan: machines (name, role, address, resources) and
# the kinit configuration the first control plane is initialised with. The Vagrantfile uses it, and so do
# matrix.sh and tests/vagrant_matrix.rs (from the command line), so what is tested is what Vagrant runs.
#
#   ruby plan.rb --list                      every entry, one a line (box:topology:key:minor)
#   ruby plan.rb ENTRY                       the plan as JSON
#   ruby plan.rb ENTRY --machines            "name role address" lines, for shell scripts
require "json"
require "yaml"

module KinitPlan
  MATRIX = YAML.safe_load(File.read(File.join(__dir__, "matrix.yaml")))

  def self.entries
    m = MATRIX
    m["boxes"].keys.product(m["topologies"].keys, m["keys"].keys, m["minors"]).map { |e| e.join(":") }
  end

  # box, topology, key and minor by their matrix names; the key also by its algorithm name (RSA-2048).
  def self.plan(box, topology, key, minor)
    m = MATRIX
    key = m["keys"].key(key) || key
    { "box" => [box, m["boxes"]], "topology" => [topology, m["topologies"]], "key" => [key, m["keys"]] }
      .each { |what, (name, table)| table.key?(name) or raise ArgumentError, "unknown #{what} #{name.inspect}: #{table.keys.join(', ')}" }
    m["minors"].include?(minor) or raise ArgumentError, "unknown minor #{minor.inspect}: #{m['minors'].join(', ')}"

    machines = machines(m["topologies"][topology])
    first = machines.find { |vm| vm["init"] }
    lb = machines.find { |vm| vm["role"] == "loadbalancer" }
    # With a load balancer every node (and the API server certificate) uses its address: that is what
    # makes a control plane replaceable. kubeadm needs controlPlaneEndpoint for control-plane joins.
    endpoint = "#{(lb || first)['ip']}:6443"
    plan = {
      "entry" => [box, topology, key, minor].join(":"),
      "boxName" => box, "box" => m["boxes"][box]["box"], "family" => m["boxes"][box]["family"],
      "topology" => topology, "key" => key, "encryptionAlgorithm" => m["keys"][key], "minor" => minor,
      # The patch is replaced on the VM by the installed kubelet's version (scripts/init.sh): a kubelet newer
      # than its control plane is not supported, and the newest patch is only known once installed.
      "kubernetesVersion" => "v#{minor}.0",
      "endpoint" => endpoint, "controlPlaneEndpoint" => lb ? endpoint : nil, "uploadCerts" => !lb.nil?,
      "podSubnet" => m["network"]["podSubnet"], "cniManifest" => m["cni"]["manifest"],
      "ipPrefix" => m["network"]["prefix"], "machines" => machines
    }
    plan.merge("kinitConfig" => kinit_config(plan, first))
  end

  def self.machines(topology)
    net = MATRIX["network"]
    %w[loadbalancer controlplane worker].flat_map do |role|
      prefix = { "loadbalancer" => "lb", "controlplane" => "cp", "worker" => "w" }[role]
      (1..topology["#{role}s"]).map do |i|
        { "name" => "#{prefix}#{i}", "role" => role, "init" => role == "controlplane" && i == 1,
          "ip" => "#{net['prefix']}.#{net[role] + i - 1}" }.merge(MATRIX["resources"][role])
      end
    end
  end

  def self.kinit_config(plan, first)
    cluster = {
      "apiVersion" => "kubeadm.k8s.io/v1beta4", "kind" => "ClusterConfiguration",
      "kubernetesVersion" => plan["kubernetesVersion"],
      "encryptionAlgorithm" => plan["encryptionAlgorithm"],
      "networking" => { "podSubnet" => plan["podSubnet"] }
    }
    cluster["controlPlaneEndpoint"] = plan["controlPlaneEndpoint"] if plan["controlPlaneEndpoint"]
    init = {
      "apiVersion" => "kubeadm.k8s.io/v1beta4", "kind" => "InitConfiguration",
      # Vagrant's NAT interface has the same address on every VM: name the private one explicitly.
      "localAPIEndpoint" => { "advertiseAddress" => first["ip"], "bindPort" => 6443 },
      "nodeRegistration" => { "name" => first["name"], "criSocket" => "unix:///run/containerd/containerd.sock" }
    }
    [init, cluster].map { |doc| YAML.dump(doc) }.join
  end

  def self.from_env(env = ENV)
    plan(env.fetch("KINIT_BOX", "ubuntu-24.04"), env.fetch("KINIT_TOPOLOGY", "single"),
         env.fetch("KINIT_KEY", "rsa"), env.fetch("KINIT_MINOR", "1.34"))
  end
end

if $PROGRAM_NAME == __FILE__
  begin
    # Plain conditionals, not pattern matching: Vagrant loads this file with its own, maybe older, Ruby.
    entry, option = ARGV
    if ARGV == ["--list"]
      puts KinitPlan.entries
    elsif entry && !entry.start_with?("-") && [nil, "--machines"].include?(option) && ARGV.size <= 2
      parts = entry.split(":")
      parts.size == 4 or raise ArgumentError, "an entry is box:topology:key:minor, not #{entry.inspect}"
      plan = KinitPlan.plan(*parts)
      if option
        plan["machines"].each { |vm| puts [vm["name"], vm["role"], vm["ip"]].join(" ") }
      else
        puts JSON.pretty_generate(plan)
      end
    else
      warn "usage: ruby plan.rb --list | ENTRY [--machines]"
      exit 2
    end
  rescue ArgumentError => e
    warn "plan.rb: #{e.message}"
    exit 1
  end
end
