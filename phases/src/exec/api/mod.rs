//! Everything kinit says to the API server: the objects it applies, the session that applies them
//! (with kubeadm's retries and the `kubeadm:cluster-admins` bootstrap), and the dry-run rendering.

pub(crate) mod node;
pub(crate) mod object;
pub(crate) mod rbac;
pub(crate) mod retry;
pub(crate) mod session;
pub(crate) mod tokens;

pub use object::{ApiObject, Mode};
pub use session::{
    apply_objects, call, with_files_inline, ApiError, Session, Work, DEFAULT_CALL_LIMIT,
};
pub use tokens::BadTokenSecret;
