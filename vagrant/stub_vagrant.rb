# Loads the Vagrantfile with a stand-in for Vagrant's configuration API and prints, as JSON, what it
# defined: per machine its address, resources and provisioners. tests/vagrant_matrix.rs checks that
# against plan.rb and the scripts, since no Vagrant runs here.  ruby stub_vagrant.rb [VAGRANTFILE]
require "json"

MACHINES = {}

class StubVM
  attr_accessor :box, :hostname

  def initialize(record) = @record = record
  def synced_folder(*) = nil
  def network(type, **opts) = (@record["network"] = { "type" => type, "ip" => opts[:ip] })
  def provider(name) = yield(Struct.new(:memory, :cpus).new.tap { |p| (@record["providers"] ||= {})[name] = p })

  def provision(type, **opts)
    (@record["provision"] ||= []) << { "type" => type, "path" => opts[:path], "source" => opts[:source],
                                        "args" => opts[:args] }
  end

  def define(name, **_opts)
    record = MACHINES[name] = { "name" => name }
    vm = StubVM.new(record)
    yield Struct.new(:vm).new(vm)
    record["hostname"] = vm.hostname
    record["providers"] = record["providers"]&.transform_values { |p| { "memory" => p.memory, "cpus" => p.cpus } }
  end
end

module Vagrant
  def self.configure(_version)
    vm = StubVM.new({})
    yield Struct.new(:vm).new(vm)
    MACHINES["*box*"] = vm.box
  end
end

load ARGV.fetch(0, File.join(__dir__, "Vagrantfile"))
puts JSON.generate(MACHINES)
