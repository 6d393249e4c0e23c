//! Runs a phase table (or one phase of it), timing each phase and reporting to an event sink.

use std::time::{Duration, Instant};

use super::context::{PhaseContext, Step};
use super::error::PhaseError;
use super::events::{Outcome, PhaseRecord};
use super::phase::{find, Phase};

#[derive(Debug, Default)]
pub struct RunSummary {
    pub records: Vec<PhaseRecord>,
    pub error: Option<PhaseError>,
    pub would_stop: Option<String>,
}

/// One runnable leaf of a table, with the parent it belongs to.
struct Unit<'t, D> {
    parent: &'t Phase<D>,
    leaf: &'t Phase<D>,
    path: String,
    skipped: bool,
}

/// What runs, in order: a chosen child alone, or every leaf of the chosen phases.
fn units<'t, D>(table: &'t [Phase<D>], only: Option<&str>, skip: &[String]) -> Vec<Unit<'t, D>> {
    let selected = only.and_then(|path| find(table, path));
    let mut units = Vec::new();
    for phase in table {
        if selected.is_some_and(|(chosen, _)| chosen.name != phase.name) {
            continue;
        }
        let leaves: Vec<&Phase<D>> = match selected.and_then(|(_, child)| child) {
            Some(child) => vec![child],
            None if phase.children.is_empty() => vec![phase],
            None => phase.children.iter().collect(),
        };
        for leaf in leaves {
            let path = if std::ptr::eq(leaf, phase) {
                phase.name.to_string()
            } else {
                format!("{}/{}", phase.name, leaf.name)
            };
            let skipped = skip.iter().any(|s| s == phase.name || *s == path);
            units.push(Unit {
                parent: phase,
                leaf,
                path,
                skipped,
            });
        }
    }
    units
}

/// `skip` holds `name` or `name/child` entries; `only` limits the run to one phase (`name`, `name/child`, `name/all`).
pub fn run<D>(
    table: &[Phase<D>],
    only: Option<&str>,
    skip: &[String],
    ctx: &mut PhaseContext<'_, D>,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let units = units(table, only, skip);
    // Whether each unit has anything to do, decided once, before the first runs.
    let active: Vec<bool> = units
        .iter()
        .map(|u| u.leaf.run_if.is_none_or(|condition| condition(ctx)))
        .collect();
    let will_run = || {
        units
            .iter()
            .zip(&active)
            .filter(|(u, active)| !u.skipped && **active)
            .map(|(u, _)| u)
    };
    ctx.ahead = will_run()
        .filter_map(|u| u.leaf.ahead.map(|ahead| (u.path.clone(), ahead)))
        .collect();
    ctx.key_demands = will_run().filter_map(|u| u.leaf.keys.clone()).collect();
    let mut introduced: Vec<&str> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        // Where each top-level phase ends: its files are committed there, in one flush.
        let last_of_phase = units
            .get(i + 1)
            .is_none_or(|next| next.parent.name != unit.parent.name);
        ctx.ahead.retain(|(path, _)| *path != unit.path);
        if unit.skipped {
            let record = PhaseRecord {
                phase: unit.path.clone(),
                duration_ms: 0.0,
                outcome: Outcome::Skipped,
                warnings: Vec::new(),
                error: None,
                report: None,
            };
            ctx.sink.phase_start(&record.phase);
            ctx.sink.phase_end(&record);
            summary.records.push(record);
            continue;
        }
        ctx.sink.phase_start(&unit.path);
        let started = Instant::now();
        ctx.report = None;
        ctx.current = unit.path.clone();
        let mut steps: Vec<&Step<D>> = Vec::new();
        if active[i] {
            // A group's own step runs once, before the first of its children that runs.
            if !std::ptr::eq(unit.parent, unit.leaf) && !introduced.contains(&unit.parent.name) {
                introduced.push(unit.parent.name);
                steps.extend(&unit.parent.run);
            }
            steps.extend(&unit.leaf.run);
        }
        let mut result = run_steps(ctx, &steps);
        // A dry run shows everything a real run would do, so it reports where a real run would
        // have stopped and goes on.
        if let (true, Err(PhaseError::PreflightFailed(text))) = (ctx.dry_run, &result) {
            for line in text.lines() {
                ctx.sink.line(line);
            }
            ctx.sink.line("[preflight] [dry-run] a real run would stop here; the dry run goes on to show the later phases");
            ctx.would_stop = Some(text.clone());
            result = Ok(std::mem::take(&mut ctx.warnings_before_failure));
        }
        if last_of_phase || result.is_err() {
            if let Err(e) = ctx.effects.commit() {
                if result.is_ok() {
                    result = Err(PhaseError::Failed(e));
                }
            }
        }
        let duration = started.elapsed();
        let found = std::mem::take(&mut ctx.warnings_before_failure);
        let (outcome, warnings, error) = match &result {
            Ok(warnings) => (Outcome::Ok, warnings.clone(), None),
            Err(e @ PhaseError::Failed(_)) => (Outcome::Failed, found, Some(e.to_string())),
            Err(e @ PhaseError::PreflightFailed(_)) => {
                (Outcome::PreflightErrors, found, Some(e.to_string()))
            }
            Err(e @ PhaseError::TimedOut(_)) => (Outcome::TimedOut, found, Some(e.to_string())),
        };
        let record = PhaseRecord {
            phase: unit.path.clone(),
            duration_ms: ms(duration),
            outcome,
            warnings,
            error,
            report: ctx.report.take(),
        };
        tracing::debug!(phase = %record.phase, duration_ms = record.duration_ms, outcome = ?record.outcome, "phase finished");
        ctx.sink.phase_end(&record);
        summary.records.push(record);
        if let Err(e) = result {
            summary.error = Some(e);
            break;
        }
    }
    summary.would_stop = ctx.would_stop.take();
    summary
}

/// Runs `steps` in turn, stopping at the first error; their warnings together.
fn run_steps<D>(
    ctx: &mut PhaseContext<'_, D>,
    steps: &[&Step<D>],
) -> Result<Vec<String>, PhaseError> {
    let mut warnings = Vec::new();
    for step in steps {
        warnings.extend(step(ctx)?);
    }
    Ok(warnings)
}

pub fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
