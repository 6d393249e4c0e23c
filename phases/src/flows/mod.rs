//! What each command does, in order: one table per command, read top to bottom. The work of each
//! phase lives in its own module; a flow only names it, says when it runs, and what it prepares
//! ahead of its turn.

pub mod init;
pub mod join;
pub mod reset;
pub mod upgrade;

#[cfg(test)]
mod plan_tests;
