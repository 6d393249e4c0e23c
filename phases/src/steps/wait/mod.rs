//! `kinit init phase wait-control-plane`: the kubelet's health, then the API server, controller
//! manager and scheduler checked side by side until each answers 200 or its time is up. Polls every
//! 200 ms where kubeadm waits 500 ms to 1 s between tries, so a fast node is not kept waiting.

pub(crate) mod diagnosis;

use crate::domain::config::resolve::InitConfig;
use crate::domain::config::types::Arg;
use crate::domain::manifests::flags::{last_value, pki};
use crate::domain::manifests::probes::{CONTROLLER_MANAGER_PORT, SCHEDULER_PORT};
use crate::exec::net::probe::{self, Failure, Target, Transport};
use crate::workflow::{failed, ms, NodeData, PhaseContext, PhaseError, ProgressRow};
use diagnosis::Report;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// One try never waits longer than this for a connection or a reply.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);

/// A wildcard bind address is reached on the loopback of its family, as kubeadm does.
fn reachable(address: &str) -> String {
    match address {
        "0.0.0.0" | "" => "127.0.0.1".into(),
        "::" => "::1".into(),
        other => other.to_string(),
    }
}

/// A component's port: its `secure-port` extra argument (kubeadm reads the flag from the static
/// Pod), else the default.
fn port(args: &[Arg], default: u16) -> Result<u16, PhaseError> {
    match last_value(args, "secure-port") {
        None => Ok(default),
        Some(value) => value.parse().map_err(|_| {
            failed(format!(
                "the secure-port extra argument {value:?} is not a port number"
            ))
        }),
    }
}

fn apiserver_target(
    config: &InitConfig,
    ca: Option<openssl::x509::X509>,
) -> Result<Target, PhaseError> {
    let args = &config.cluster.api_server.extra_args;
    let endpoint = &config.init.local_api_endpoint;
    let bind_port = u16::try_from(endpoint.bind_port).unwrap_or(6443);
    Ok(Target {
        host: reachable(
            last_value(args, "advertise-address").unwrap_or(&endpoint.advertise_address),
        ),
        port: port(args, bind_port)?,
        path: "/livez".into(),
        transport: ca.map_or(Transport::HttpsUnverified, |ca| {
            Transport::HttpsVerified(vec![ca])
        }),
    })
}

fn component_target(args: &[Arg], default_port: i32, path: &str) -> Result<Target, PhaseError> {
    Ok(Target {
        host: reachable(last_value(args, "bind-address").unwrap_or("127.0.0.1")),
        port: port(args, u16::try_from(default_port).unwrap_or_default())?,
        path: path.into(),
        // The controller manager and scheduler serve self-signed certificates they make at start.
        transport: Transport::HttpsUnverified,
    })
}

/// Where the kubelet answers: from the config.yaml the kubelet-start phase wrote (in a dry run, the
/// one it would write), else from the configuration.
fn kubelet_target<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Target, PhaseError> {
    let written = ctx
        .effects
        .read_file(crate::steps::kubelet::KUBELET_CONFIG)
        .map_err(failed)?
        .and_then(|bytes| {
            crate::domain::config::yaml::parse_documents(&String::from_utf8_lossy(&bytes))
                .ok()
                .and_then(|docs| docs.into_iter().next())
                .map(|doc| doc.value)
        });
    let value = match written {
        Some(value) => value,
        None => crate::steps::kubelet::kubelet_configuration(ctx)?.0,
    };
    let (address, port) = crate::steps::kubelet::config::healthz(&value);
    Ok(Target {
        host: reachable(&address),
        port: u16::try_from(port).map_err(|_| {
            failed(format!(
                "the kubelet's healthzPort {port} is not a port number"
            ))
        })?,
        path: "/healthz".into(),
        transport: Transport::Http,
    })
}

fn timeout(value: Option<crate::domain::config::duration::GoDuration>) -> Duration {
    value.map_or(DEFAULT_TIMEOUT, |d| d.0)
}

/// What a checker thread reports after each try.
struct Attempt {
    index: usize,
    result: Result<(), Failure>,
    /// The thread has stopped: healthy, or out of time.
    last: bool,
    /// When the try ended, so a component's time is its own and not when the main thread looked.
    at: Instant,
}

fn checker(index: usize, target: Target, deadline: Instant, sender: mpsc::Sender<Attempt>) {
    loop {
        let started = Instant::now();
        let left = deadline.saturating_duration_since(started);
        // The last try, at the deadline, still gets a moment to connect.
        let limit = ATTEMPT_TIMEOUT.min(left).max(Duration::from_millis(50));
        let result = probe::check(&target, limit);
        let at = Instant::now();
        let last = result.is_ok() || at >= deadline;
        if sender
            .send(Attempt {
                index,
                result,
                last,
                at,
            })
            .is_err()
            || last
        {
            return;
        }
        let pause = POLL_INTERVAL.saturating_sub(started.elapsed());
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Checks the components side by side until all are healthy or `limit` has passed, showing their
/// states through the sink as they change. Ok when all became healthy; the reports either way.
fn wait_for<D>(
    ctx: &mut PhaseContext<'_, D>,
    tag: &'static str,
    components: &[(&'static str, Target)],
    limit: Duration,
) -> (bool, Vec<Report>) {
    let start = Instant::now();
    let deadline = start + limit;
    let (sender, receiver) = mpsc::channel();
    let mut reports: Vec<Report> = Vec::new();
    let mut rows: Vec<ProgressRow> = Vec::new();
    for (index, (name, target)) in components.iter().enumerate() {
        reports.push(Report {
            name,
            target: target.clone(),
            healthy_after: None,
            ever_answered: false,
            attempts: 0,
            last_error: None,
        });
        rows.push(ProgressRow {
            tag,
            component: name.to_string(),
            url: target.url(),
            state: "waiting",
            elapsed_ms: 0.0,
            error: None,
        });
        let (target, sender) = (target.clone(), sender.clone());
        std::thread::spawn(move || checker(index, target, deadline, sender));
    }
    drop(sender);
    ctx.sink.progress(&rows, &vec![true; rows.len()]);
    let mut running = components.len();
    while running > 0 {
        let mut changed = vec![false; rows.len()];
        let received = receiver.recv_timeout(POLL_INTERVAL);
        let disconnected = matches!(received, Err(mpsc::RecvTimeoutError::Disconnected));
        let mut batch: Vec<Attempt> = received.into_iter().collect();
        batch.extend(receiver.try_iter());
        for attempt in batch {
            let (report, row) = (&mut reports[attempt.index], &mut rows[attempt.index]);
            report.attempts += 1;
            // A new kind of error is a change worth a line; the same error again is not.
            let state = |row: &ProgressRow, report: &Report| {
                (row.state, report.last_error.as_ref().map(Failure::class))
            };
            let before = state(row, report);
            match attempt.result {
                Ok(()) => {
                    report.ever_answered = true;
                    report.healthy_after = Some(attempt.at.saturating_duration_since(start));
                    row.state = "healthy";
                    row.error = None;
                }
                Err(failure) => {
                    report.ever_answered |= failure.answered();
                    row.error = Some(failure.to_string());
                    row.state = if attempt.last {
                        "timed-out"
                    } else {
                        "unhealthy"
                    };
                    report.last_error = Some(failure);
                }
            }
            changed[attempt.index] |= before != state(row, report);
            if attempt.last {
                running -= 1;
            }
        }
        let elapsed = start.elapsed();
        for (row, report) in rows.iter_mut().zip(&reports) {
            row.elapsed_ms = ms(report.healthy_after.unwrap_or(elapsed));
        }
        // Every checker gone (one that panicked sends no last attempt): nothing more will come.
        if disconnected {
            running = 0;
        }
        ctx.sink.progress(&rows, &changed);
    }
    let all = reports.iter().all(|r| r.healthy_after.is_some());
    (all, reports)
}

pub fn run_init<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<Vec<String>, PhaseError> {
    let config = ctx.data.config();
    let timeouts = config.init.timeouts.clone().unwrap_or_default();
    let kubelet_limit = timeout(timeouts.kubelet_health_check);
    let control_plane_limit = timeout(timeouts.control_plane_component_health_check);
    let kubelet = kubelet_target(ctx)?;
    let ca_file = pki(config, "ca.crt");
    let cluster = &config.cluster;
    let mut control_plane = vec![
        ("kube-apiserver", apiserver_target(config, None)?),
        (
            "kube-controller-manager",
            component_target(
                &cluster.controller_manager.extra_args,
                CONTROLLER_MANAGER_PORT,
                "/healthz",
            )?,
        ),
        (
            "kube-scheduler",
            component_target(&cluster.scheduler.extra_args, SCHEDULER_PORT, "/livez")?,
        ),
    ];
    ctx.sink.line(&format!(
        "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory {:?}",
        crate::domain::manifests::MANIFESTS_DIR
    ));
    let mut would = vec![format!(
        "wait up to {} for the kubelet at {}",
        crate::domain::config::duration::format(kubelet_limit),
        kubelet.url()
    )];
    for (name, target) in &control_plane {
        would.push(format!(
            "wait up to {} for {name} at {}",
            crate::domain::config::duration::format(control_plane_limit),
            target.url()
        ));
    }
    ctx.live(
        |_| would,
        |ctx| {
        // The API server is the one component whose certificate the cluster CA vouches for.
        let ca = ctx
            .effects
            .read_file(&ca_file)
            .map_err(failed)?
            .ok_or_else(|| failed(format!("cannot check the API server's certificate: {ca_file} is missing; run `kinit init phase certs ca` first")))?;
        let ca = openssl::x509::X509::from_pem(&ca)
            .map_err(|_| failed(format!("{ca_file} is not a PEM certificate")))?;
        control_plane[0].1 = apiserver_target(config, Some(ca))?;
        wait_for_kubelet(ctx, kubelet, kubelet_limit)?;

        ctx.sink.line(&format!(
            "[control-plane-check] Waiting for healthy control plane components. This can take up to {}",
            crate::domain::config::duration::format(control_plane_limit)
        ));
        for (name, target) in &control_plane {
            ctx.sink.line(&format!(
                "[control-plane-check] Checking {name} at {}",
                target.url()
            ));
        }
        let (healthy, reports) = wait_for(
            ctx,
            "[control-plane-check]",
            &control_plane,
            control_plane_limit,
        );
        if !healthy {
            return Err(PhaseError::TimedOut(diagnosis::diagnose(
                &reports,
                &diagnosis_context(
                    config,
                    &ca_file,
                    "the control plane components",
                    control_plane_limit,
                ),
            )));
        }
            Ok(())
        },
    )?;
    Ok(Vec::new())
}

/// What a diagnosis may point at: the CRI socket, the cluster CA and the certificates folder.
fn diagnosis_context<'a>(
    config: &'a InitConfig,
    ca_file: &'a str,
    what: &'a str,
    timeout: Duration,
) -> diagnosis::Context<'a> {
    diagnosis::Context {
        what,
        timeout,
        cri_socket: &config.init.node_registration.cri_socket,
        ca_file,
        cert_dir: &config.cluster.certificates_dir,
    }
}

/// Waits until the kubelet answers its health check, or explains why it did not.
fn wait_for_kubelet<D: NodeData>(
    ctx: &mut PhaseContext<'_, D>,
    kubelet: Target,
    kubelet_limit: Duration,
) -> Result<(), PhaseError> {
    let config = ctx.data.config();
    ctx.sink.line(&format!(
        "[kubelet-check] Waiting for a healthy kubelet at {}. This can take up to {}",
        kubelet.url(),
        crate::domain::config::duration::format(kubelet_limit)
    ));
    let (healthy, reports) = wait_for(
        ctx,
        "[kubelet-check]",
        &[("kubelet", kubelet)],
        kubelet_limit,
    );
    if !healthy {
        let ca_file = pki(config, "ca.crt");
        let context = diagnosis_context(config, &ca_file, "the kubelet", kubelet_limit);
        return Err(PhaseError::TimedOut(diagnosis::diagnose(
            &reports, &context,
        )));
    }
    Ok(())
}

/// The kubelet health wait of `kinit join`'s kubelet-start, before the TLS bootstrap wait; a dry
/// run says what it would wait for.
pub fn kubelet_for_join<D: NodeData>(ctx: &mut PhaseContext<'_, D>) -> Result<(), PhaseError> {
    let config = ctx.data.config();
    let limit = timeout(
        config
            .init
            .timeouts
            .as_ref()
            .and_then(|t| t.kubelet_health_check),
    );
    let kubelet = kubelet_target(ctx)?;
    let would = vec![format!(
        "wait up to {} for the kubelet at {}",
        crate::domain::config::duration::format(limit),
        kubelet.url()
    )];
    ctx.live(|_| would, |ctx| wait_for_kubelet(ctx, kubelet, limit))?;
    Ok(())
}
