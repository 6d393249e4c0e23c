//! Which API failures are worth another try, and the backoff between tries.

use std::future::Future;
use std::time::{Duration, Instant};

/// kubeadm retries API calls every 500 ms; kinit starts faster and backs off to 2 s, so a
/// briefly busy server costs little and a struggling one is not hammered.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(2);

/// Connection failures, 5xx, 429 and update conflicts pass with time; other answers will not change.
pub fn retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 429 || status.code >= 500 || status.is_conflict()
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
