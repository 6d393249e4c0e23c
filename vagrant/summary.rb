# The matrix's results as a table (default) or JSON (--json): per entry pass/fail and kinit's phase
# timings per node, read from results/<entry>/entry.json and the <node>.json files init.sh and join.sh write.
#   ruby summary.rb [--json] RESULTS_DIR
require "json"

json = ARGV.delete("--json")
dir = ARGV.fetch(0) { abort "usage: ruby summary.rb [--json] RESULTS_DIR" }

rows = Dir[File.join(dir, "*", "entry.json")].sort.map do |path|
  entry = JSON.parse(File.read(path))
  nodes = (Dir[File.join(File.dirname(path), "*.json")] - [path]).sort.map { |f| JSON.parse(File.read(f)) }
  init = nodes.find { |n| n["command"] == "init" }
  joins = nodes.select { |n| n["command"] == "join" }
  box, topology, key, minor = entry["entry"].split(":")
  { "entry" => entry["entry"], "box" => box, "topology" => topology, "key" => key, "minor" => minor,
    "result" => entry["result"],
    "initMs" => init && init["totalMs"]&.round,
    # The slowest join: nodes join one after another, each on its own.
    "joinMs" => joins.filter_map { |n| n["totalMs"] }.max&.round,
    "nodes" => nodes }
end

if json
  puts JSON.pretty_generate(rows)
else
  # The same columns as the local matrix's table (tests/matrix_local.rs), so the two read alike.
  columns = %w[entry result initMs joinMs]
  table = [%w[ENTRY RESULT INIT_MS JOIN_MS]] + rows.map { |r| columns.map { |c| (r[c] || "-").to_s } }
  widths = table.transpose.map { |col| col.map(&:length).max }
  table.each { |row| puts row.each_with_index.map { |cell, i| cell.ljust(widths[i]) }.join("  ").rstrip }
end
