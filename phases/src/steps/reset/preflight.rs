//! The preflight phase of `kinit reset`: the root check, then the question before anything is undone.

use super::confirm;
use crate::workflow::{PhaseContext, PhaseError, ResetData};
use std::io::IsTerminal;

pub fn run(ctx: &mut PhaseContext<'_, ResetData>) -> Result<Vec<String>, PhaseError> {
    let warnings = crate::steps::preflight::run_reset(ctx)?;
    // A dry run changes nothing, so there is nothing to confirm.
    let force = ctx.data.reset.force;
    if !force {
        ctx.live(
            |_| Vec::new(),
            |ctx| {
                ctx.sink.line(
                    "[reset] WARNING: Changes made to this host by 'kinit init' or 'kinit join' will be reverted.",
                );
                let stdin = std::io::stdin();
                let typed = stdin.is_terminal();
                confirm::ask(&mut stdin.lock(), &mut std::io::stdout(), typed)
            },
        )?;
    }
    Ok(warnings)
}
