//! The `kinit` binary: parse the command line, run the command, exit with a documented code.

mod certs_cmd;
mod cli;
mod config_cmd;
mod docs_cmd;
mod exit;
mod images_pull;
mod output;
mod run_phases;
mod tabwriter;
mod token_cmd;
mod upgrade_cmd;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command, InitSub, OutputFormat, TokenCommand, UpgradeCommand};
use exit::Exit;
use kinit_phases::domain::versions;
use kinit_phases::flows;
use kinit_phases::workflow::help_text;
use std::io::IsTerminal;

fn command_tree() -> clap::Command {
    Cli::command()
        .mut_subcommand("init", |c| {
            c.after_help(help_text(&flows::init::phases()))
                .mut_subcommand("phase", |p| p.after_help(help_text(&flows::init::phases())))
        })
        .mut_subcommand("join", |c| {
            c.after_help(help_text(&flows::join::phases()))
                .mut_subcommand("phase", |p| p.after_help(help_text(&flows::join::phases())))
        })
        .mut_subcommand("upgrade", |c| {
            c.mut_subcommand("apply", |a| {
                a.after_help(help_text(&flows::upgrade::apply_phases()))
            })
            .mut_subcommand("node", |n| {
                n.after_help(help_text(&flows::upgrade::node_phases()))
            })
        })
        .mut_subcommand("reset", |c| {
            c.after_help(help_text(&flows::reset::phases()))
                .mut_subcommand("phase", |p| {
                    p.after_help(help_text(&flows::reset::phases()))
                })
        })
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Libraries log at most their info lines: their debug and trace output describes requests,
    // and requests carry token secrets and sealed certificates.
    let dependencies = if verbose == 0 { "warn" } else { "info" };
    let filter =
        format!("{dependencies},kinit={level},kinit_phases={level},kinit_preflight={level}");
    // Colour only for a person at a terminal: a log file gets plain text, and NO_COLOR (set and
    // not empty, as no-color.org asks) turns it off there too.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

fn run(cli: &Cli) -> Result<i32, Exit> {
    if cli.global.output == OutputFormat::Yaml
        && !matches!(
            cli.command,
            Command::Token(TokenCommand::List(_)) | Command::Upgrade(UpgradeCommand::Plan(_))
        )
    {
        return Err(Exit::usage(
            "-o yaml is only supported by `kinit token list` and `kinit upgrade plan`; use -o json or -o text",
        ));
    }
    match &cli.command {
        Command::Init(init) => {
            let phase = init.phase.as_ref().map(|InitSub::Phase(p)| p);
            run_phases::init(&cli.global, &init.flags, phase)
        }
        Command::Join(join) => run_phases::join(&cli.global, join),
        Command::Reset(reset) => run_phases::reset(&cli.global, reset),
        Command::Token(TokenCommand::Generate) => {
            println!(
                "{}",
                kinit_phases::domain::token::generate().map_err(Exit::failure)?
            );
            Ok(exit::SUCCESS)
        }
        Command::Token(TokenCommand::Create(args)) => token_cmd::create(&cli.global, args),
        Command::Token(TokenCommand::List(args)) => token_cmd::list(&cli.global, &args.server),
        Command::Token(TokenCommand::Delete { tokens, server }) => {
            token_cmd::delete(&cli.global, tokens, server)
        }
        Command::Certs(command) => certs_cmd::certs(&cli.global, command),
        Command::Kubeconfig(command) => certs_cmd::kubeconfig(&cli.global, command),
        Command::Config(command) => config_cmd::run(&cli.global, command),
        Command::Upgrade(UpgradeCommand::Plan(args)) => upgrade_cmd::run_plan(&cli.global, args),
        Command::Upgrade(UpgradeCommand::Apply(args)) => {
            run_phases::upgrade_apply(&cli.global, args)
        }
        Command::Upgrade(UpgradeCommand::Node(args)) => run_phases::upgrade_node(&cli.global, args),
        Command::Upgrade(UpgradeCommand::Diff(args)) => upgrade_cmd::run_diff(&cli.global, args),
        Command::Completion { shell } => {
            docs_cmd::completion(command_tree(), *shell);
            Ok(exit::SUCCESS)
        }
        Command::Man { dir } => docs_cmd::man_pages(command_tree(), dir),
        Command::Version => {
            let version = env!("CARGO_PKG_VERSION");
            let oldest = versions::VERSION_TABLE[0].minor;
            let newest = versions::newest().minor;
            match cli.global.output {
                OutputFormat::Json | OutputFormat::Yaml => output::emit(&serde_json::json!({
                    "clientVersion": { "gitVersion": format!("v{version}"), "kubeadmAPI": "kubeadm.k8s.io/v1beta4", "kubernetesMinors": [format!("v1.{oldest}"), format!("v1.{newest}")] }
                })),
                OutputFormat::Text => println!("kinit version: v{version} (configuration kubeadm.k8s.io/v1beta4; Kubernetes v1.{oldest} to v1.{newest})"),
            }
            Ok(exit::SUCCESS)
        }
    }
}

/// Output piped into `head` and closed early ends kinit quietly, as it ends any Unix tool, instead of
/// a panic on the failed write.
fn restore_default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installs the default disposition, which runs no handler code of ours.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn main() {
    restore_default_sigpipe();
    let matches = match command_tree().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(exit::USAGE);
        }
    };
    init_tracing(cli.global.verbose.max(cli.global.level.unwrap_or(0)));
    let code = match run(&cli) {
        Ok(code) => code,
        Err(exit) => {
            eprintln!("error: {}", exit.message);
            exit.code
        }
    };
    std::process::exit(code);
}
