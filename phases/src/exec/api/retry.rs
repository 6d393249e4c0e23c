//! Which API failures are worth another try, and the backoff between tries.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// kubeadm retries API calls every 500 ms; kinit starts faster and backs off to 2 s, so a
/// briefly busy server costs little and a struggling one is not hammered.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(2);

/// Until when a refusal (403) may be the API server's authorizer catching up with a binding this
/// run has just made. The real kube-apiserver authorizes from a cache that learns of a new binding
/// a moment after it is stored, so admin.conf is refused briefly after super-admin.conf binds it.
static AUTHORIZER_CATCHING_UP: Mutex<Option<Instant>> = Mutex::new(None);

/// Refusals during the next `window` are tried again (a refusal after it is final again).
pub fn authorizer_catching_up(window: Duration) {
    if let Ok(mut until) = AUTHORIZER_CATCHING_UP.lock() {
        *until = Some(Instant::now() + window);
    }
}

fn refusal_may_pass() -> bool {
    AUTHORIZER_CATCHING_UP
        .lock()
        .ok()
        .and_then(|until| *until)
        .is_some_and(|until| Instant::now() < until)
}

/// Connection failures, 5xx, 429 and update conflicts pass with time, and so does a refusal while
/// the authorizer catches up with a new binding; other answers will not change.
pub fn retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 429
                || status.code >= 500
                || status.is_conflict()
                || (status.code == 403 && refusal_may_pass())
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Calls `call` until it succeeds, fails for good, or `limit` has passed since the first try.
pub async fn retrying<T, F, Fut>(limit: Duration, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let started = Instant::now();
    let mut wait = FIRST_WAIT;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if retryable(&e) && started.elapsed() + wait < limit => {
                tracing::debug!(error = ?e, "API call failed, retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LONGEST_WAIT);
            }
            Err(e) => return Err(e),
        }
    }
}
