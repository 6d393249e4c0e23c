//! kinit's exit codes, as documented in the README.

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;
pub const USAGE: i32 = 2;
pub const PREFLIGHT: i32 = 3;
/// A wait (`wait-control-plane`) ran out of time; the error is a diagnosis of what did not come up.
pub const TIMED_OUT: i32 = 5;

/// An error that ends the command, with the code it exits with.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn usage(message: impl Into<String>) -> Self {
        Exit {
            code: USAGE,
            message: message.into(),
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        Exit {
            code: FAILURE,
            message: message.into(),
        }
    }
}
