//! Stopping and starting the kubelet through the node's service manager. Only systemd is known; on
//! any other init system kinit says what it could not do, and the run carries on.

use crate::exec::effects::Effects;
use kinit_preflight::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceManager {
    Systemd,
    /// No service manager kinit can drive, and why.
    Unmanaged(String),
}

impl ServiceManager {
    /// systemd as PID 1 leaves /run/systemd/system behind (sd_booted); its systemctl must be at hand.
    pub fn detect(host: &dyn Host) -> ServiceManager {
        if !host.exists("/run/systemd/system") {
            return ServiceManager::Unmanaged(
                "systemd is not the init system here (no /run/systemd/system)".into(),
            );
        }
        if host.find_in_path("systemctl").is_none() {
            return ServiceManager::Unmanaged("systemctl is not on PATH".into());
        }
        ServiceManager::Systemd
    }

    /// Stops `service`; a service that is not running or not installed is no error.
    pub fn stop(&self, effects: &mut dyn Effects, service: &str) -> Result<(), String> {
        match self {
            ServiceManager::Systemd => run(effects, &["stop", service]),
            ServiceManager::Unmanaged(why) => Err(why.clone()),
        }
    }

    /// Starts `service`, reloading the units first so a drop-in written just before is used.
    pub fn start(&self, effects: &mut dyn Effects, service: &str) -> Result<(), String> {
        match self {
            ServiceManager::Systemd => {
                run(effects, &["daemon-reload"])?;
                run(effects, &["start", service])
            }
            ServiceManager::Unmanaged(why) => Err(why.clone()),
        }
    }

    /// Restarts `service` so it reads its files again (a command runs after pending writes land).
    pub fn restart(&self, effects: &mut dyn Effects, service: &str) -> Result<(), String> {
        match self {
            ServiceManager::Systemd => run(effects, &["restart", service]),
            ServiceManager::Unmanaged(why) => Err(why.clone()),
        }
    }

    /// Starts `service` at boot.
    pub fn enable(&self, effects: &mut dyn Effects, service: &str) -> Result<(), String> {
        match self {
            ServiceManager::Systemd => run(effects, &["enable", service]),
            ServiceManager::Unmanaged(why) => Err(why.clone()),
        }
    }
}

fn run(effects: &mut dyn Effects, args: &[&str]) -> Result<(), String> {
    match effects.run("systemctl", args)? {
        true => Ok(()),
        false => Err(format!("`systemctl {}` failed", args.join(" "))),
    }
}
