//! What kube-proxy, the kubelet and the common CNI plugins leave in the kernel, which kubeadm's reset
//! leaves behind (kubernetes/kubeadm#689, #2587, #3133): KUBE-* iptables chains, kube-proxy's nftables
//! tables and IPVS services, and the CNI interfaces. Only their own things go; every other rule stays.

use super::{step, warn};
use crate::workflow::{PhaseContext, ResetData};

/// Interfaces the common CNI plugins and kube-proxy create: flannel, Calico, Cilium, Weave,
/// kube-router, kube-proxy's IPVS mode and NodeLocal DNSCache.
pub const CNI_INTERFACES: [&str; 14] = [
    "cni0",
    "flannel.1",
    "flannel-v6.1",
    "cilium_host",
    "cilium_net",
    "cilium_vxlan",
    "vxlan.calico",
    "vxlan-v6.calico",
    "tunl0",
    "weave",
    "kube-bridge",
    "kube-ipvs0",
    "nodelocaldns",
    "kube-dummy-if",
];

/// The KUBE-* chains of one table and the rules of other chains that jump to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePlan {
    pub table: String,
    /// Rules as iptables-save prints them (`-A FORWARD ... -j KUBE-FORWARD`).
    pub jumps: Vec<String>,
    pub chains: Vec<String>,
}

impl TablePlan {
    /// iptables-restore input (for `--noflush`) that removes them in one transaction: the jumps first,
    /// then every chain emptied, then deleted, since KUBE chains refer to one another.
    pub fn restore_input(&self) -> String {
        let mut text = format!("*{}\n", self.table);
        for jump in &self.jumps {
            text.push_str(&format!("-D{}\n", &jump[2..]));
        }
        for chain in &self.chains {
            text.push_str(&format!("-F {chain}\n"));
        }
        for chain in &self.chains {
            text.push_str(&format!("-X {chain}\n"));
        }
        text.push_str("COMMIT\n");
        text
    }
}

fn is_ours(chain: &str) -> bool {
    chain.starts_with("KUBE-")
}

/// Splits a rule the way iptables-save quotes it: double quotes group, a backslash escapes.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Reads iptables-save output: per table, the KUBE-* chains and the jumps to them from other chains.
pub fn plan_iptables(save: &str) -> Vec<TablePlan> {
    let mut plans: Vec<TablePlan> = Vec::new();
    for line in save.lines() {
        if let Some(table) = line.strip_prefix('*') {
            plans.push(TablePlan {
                table: table.trim().to_string(),
                jumps: Vec::new(),
                chains: Vec::new(),
            });
            continue;
        }
        let Some(plan) = plans.last_mut() else {
            continue;
        };
        if let Some(declared) = line.strip_prefix(':') {
            let chain = declared.split_whitespace().next().unwrap_or_default();
            if is_ours(chain) {
                plan.chains.push(chain.to_string());
            }
        } else if line.starts_with("-A ") {
            let words = words(line);
            let chain = words.get(1).map(String::as_str).unwrap_or_default();
            let jumps_to_ours = words.windows(2).any(|pair| {
                matches!(pair[0].as_str(), "-j" | "--jump" | "-g" | "--goto") && is_ours(&pair[1])
            });
            if !is_ours(chain) && jumps_to_ours {
                plan.jumps.push(line.to_string());
            }
        }
    }
    plans.retain(|p| !p.chains.is_empty() || !p.jumps.is_empty());
    plans
}

/// Runs a program that only reads, also in a dry run: what it prints decides what is planned.
fn read_output(
    ctx: &PhaseContext<'_, ResetData>,
    program: &str,
    args: &[&str],
) -> Result<String, String> {
    let binary = ctx
        .host
        .find_in_path(program)
        .ok_or_else(|| format!("{program} is not on PATH"))?;
    let out = ctx
        .host
        .run(&binary, args)
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One set of iptables tools: `iptables` itself, or the other backend's `iptables-legacy` /
/// `iptables-nft` beside it.
pub struct Backend {
    pub name: String,
    pub save: String,
    pub restore: String,
}

/// The iptables backends of this node, each once, and the families with no tools at all. The kubelet
/// or kube-proxy may have written their chains with the backend that is not the default (the
/// legacy/nft mix-up), so both are cleaned where both tools are present.
pub fn iptables_backends(ctx: &PhaseContext<'_, ResetData>) -> (Vec<Backend>, Vec<&'static str>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for family in ["iptables", "ip6tables"] {
        let mut seen: Vec<String> = Vec::new();
        for variant in ["", "-legacy", "-nft"] {
            let name = format!("{family}{variant}");
            let save = format!("{name}-save");
            // `iptables-save v1.8.9 (nf_tables)`: the word in brackets is the backend.
            let Ok(version) = read_output(ctx, &save, &["--version"]) else {
                continue;
            };
            let backend = version
                .split(['(', ')'])
                .nth(1)
                .unwrap_or("legacy")
                .to_string();
            if seen.contains(&backend) {
                continue;
            }
            seen.push(backend);
            found.push(Backend {
                restore: format!("{name}-restore"),
                name,
                save,
            });
        }
        if seen.is_empty() {
            missing.push(family);
        }
    }
    (found, missing)
}

pub fn remove_iptables(ctx: &mut PhaseContext<'_, ResetData>, warnings: &mut Vec<String>) {
    let (found, missing) = iptables_backends(ctx);
    for family in missing {
        warn(
            ctx,
            warnings,
            format!("{family}-save is not on PATH: the KUBE-* {family} rules, if any, stay"),
        );
    }
    for Backend {
        name: family,
        save,
        restore,
    } in found
    {
        let family = family.as_str();
        let rules = match read_output(ctx, &save, &[]) {
            Ok(rules) => rules,
            Err(e) => {
                warn(
                    ctx,
                    warnings,
                    format!("{e}: the KUBE-* {family} rules, if any, stay"),
                );
                continue;
            }
        };
        for plan in plan_iptables(&rules) {
            let table = &plan.table;
            step(
                ctx,
                &format!(
                    "Removing {family} chains in table {table}: {}",
                    plan.chains.join(", ")
                ),
                &format!(
                    "Would remove {family} chains in table {table}: {}",
                    plan.chains.join(", ")
                ),
            );
            for jump in &plan.jumps {
                step(
                    ctx,
                    &format!("Removing the {family} rule in table {table}: {jump}"),
                    &format!("Would remove the {family} rule in table {table}: {jump}"),
                );
            }
            let input = plan.restore_input();
            let manual = format!("{restore} --noflush");
            match ctx.effects.run_with_input(&restore, &["--noflush"], &input) {
                Ok(true) => {}
                Ok(false) => warn(
                    ctx,
                    warnings,
                    format!("`{manual}` refused to remove the KUBE-* chains of table {table}; they stay"),
                ),
                Err(e) => warn(ctx, warnings, format!("{e}: the KUBE-* chains of table {table} stay")),
            }
        }
    }
}

/// kube-proxy's nftables mode keeps everything in one table per family.
pub fn remove_nftables(ctx: &mut PhaseContext<'_, ResetData>, warnings: &mut Vec<String>) {
    if ctx.host.find_in_path("nft").is_none() {
        warn(
            ctx,
            warnings,
            "nft is not on PATH: kube-proxy's nftables tables, if any, stay (`nft delete table ip kube-proxy` and `ip6 kube-proxy` remove them)".into(),
        );
        return;
    }
    let tables = match read_output(ctx, "nft", &["list", "tables"]) {
        Ok(tables) => tables,
        Err(e) => {
            warn(
                ctx,
                warnings,
                format!("{e}: kube-proxy's nftables tables, if any, stay"),
            );
            return;
        }
    };
    for family in ["ip", "ip6"] {
        let wanted = format!("table {family} kube-proxy");
        if !tables.lines().any(|l| l.trim() == wanted) {
            continue;
        }
        step(
            ctx,
            &format!("Deleting the nftables table {family} kube-proxy"),
            &format!("Would delete the nftables table {family} kube-proxy"),
        );
        let args = ["delete", "table", family, "kube-proxy"];
        match ctx.effects.run("nft", &args) {
            Ok(true) => {}
            Ok(false) => warn(ctx, warnings, format!("`nft {}` failed", args.join(" "))),
            Err(e) => warn(ctx, warnings, e),
        }
    }
}

/// Interface names of `ip -o link show`: `4: veth1@veth0: <...>` names veth1.
pub fn link_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// IPVS virtual services of kube-proxy go with `ipvsadm --clear`, then the CNI interfaces.
pub fn remove_interfaces(ctx: &mut PhaseContext<'_, ResetData>, warnings: &mut Vec<String>) {
    let links = match read_output(ctx, "ip", &["-o", "link", "show"]) {
        Ok(text) => link_names(&text),
        Err(e) => {
            warn(
                ctx,
                warnings,
                format!("{e}: the CNI interfaces, if any, stay"),
            );
            return;
        }
    };
    if links.iter().any(|l| l == "kube-ipvs0") {
        if ctx.host.find_in_path("ipvsadm").is_some() {
            step(
                ctx,
                "Clearing the IPVS table of kube-proxy",
                "Would clear the IPVS table of kube-proxy",
            );
            match ctx.effects.run("ipvsadm", &["--clear"]) {
                Ok(true) => {}
                Ok(false) => warn(ctx, warnings, "`ipvsadm --clear` failed".into()),
                Err(e) => warn(ctx, warnings, e),
            }
        } else {
            warn(
                ctx,
                warnings,
                "kube-ipvs0 exists but ipvsadm is not on PATH: kube-proxy's IPVS services stay; run `ipvsadm --clear`".into(),
            );
        }
    }
    let present: Vec<String> = CNI_INTERFACES
        .iter()
        .filter(|name| links.iter().any(|l| l == *name))
        .map(|name| name.to_string())
        .collect();
    if present.is_empty() {
        return;
    }
    step(
        ctx,
        &format!(
            "Deleting network interfaces: {}",
            super::files::go_list(&present)
        ),
        &format!(
            "Would delete network interfaces: {}",
            super::files::go_list(&present)
        ),
    );
    for name in &present {
        match ctx.effects.run("ip", &["link", "delete", name]) {
            Ok(true) => {}
            // The kernel makes tunl0 for itself when the ipip module loads and never lets it go.
            Ok(false) if name == "tunl0" => ctx
                .sink
                .line("[reset] tunl0 stays: it is the kernel's own ipip device"),
            Ok(false) => warn(ctx, warnings, format!("`ip link delete {name}` failed")),
            Err(e) => warn(ctx, warnings, e),
        }
    }
}

/// What is still there of the above, for the check after a run: KUBE-* chains, kube-proxy's
/// tables and the CNI interfaces (tunl0 aside, which the kernel keeps). Tools that are missing were
/// warned about already.
pub fn leftovers(ctx: &PhaseContext<'_, ResetData>) -> Vec<String> {
    let mut left = Vec::new();
    for Backend {
        name: family, save, ..
    } in iptables_backends(ctx).0
    {
        if let Ok(rules) = read_output(ctx, &save, &[]) {
            for plan in plan_iptables(&rules) {
                left.extend(
                    plan.chains
                        .iter()
                        .map(|chain| format!("{family} chain {chain} in table {}", plan.table)),
                );
                if plan.chains.is_empty() {
                    left.push(format!("{family} jumps to KUBE-* in table {}", plan.table));
                }
            }
        }
    }
    if ctx.host.find_in_path("nft").is_some() {
        if let Ok(tables) = read_output(ctx, "nft", &["list", "tables"]) {
            left.extend(
                ["ip", "ip6"]
                    .iter()
                    .map(|family| format!("table {family} kube-proxy"))
                    .filter(|wanted| tables.lines().any(|l| l.trim() == wanted))
                    .map(|table| format!("nftables {table}")),
            );
        }
    }
    if let Ok(text) = read_output(ctx, "ip", &["-o", "link", "show"]) {
        let links = link_names(&text);
        left.extend(
            CNI_INTERFACES
                .iter()
                .filter(|name| **name != "tunl0" && links.iter().any(|l| l == *name))
                .map(|name| format!("interface {name}")),
        );
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:MINE - [0:0]
-A INPUT -s 10.0.0.0/8 -j MINE
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m comment --comment "says \"-j KUBE-X\" but jumps elsewhere" -j ACCEPT
-A KUBE-FORWARD -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -g KUBE-POSTROUTING
-A KUBE-SERVICES -j KUBE-POSTROUTING
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
COMMIT
"#;

    #[test]
    fn plans_only_kube_chains_and_the_jumps_to_them() {
        let plans = plan_iptables(SAVE);
        assert_eq!(plans.len(), 2, "mangle has nothing of ours: {plans:?}");
        assert_eq!(plans[0].table, "filter");
        assert_eq!(plans[0].chains, ["KUBE-FORWARD"]);
        assert_eq!(
            plans[0].jumps,
            [r#"-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD"#]
        );
        assert_eq!(
            plans[1].restore_input(),
            "*nat\n\
             -D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
             -D POSTROUTING -g KUBE-POSTROUTING\n\
             -F KUBE-SERVICES\n-F KUBE-POSTROUTING\n-X KUBE-SERVICES\n-X KUBE-POSTROUTING\nCOMMIT\n"
        );
    }

    #[test]
    fn reads_link_names() {
        let text = "1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\\    link/loopback\n\
                    4: veth1@veth0: <BROADCAST> mtu 1500\\    link/ether\n\
                    5: flannel.1: <BROADCAST> mtu 1450\n";
        assert_eq!(link_names(text), ["lo", "veth1", "flannel.1"]);
    }
}
