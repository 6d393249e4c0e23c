//! kinit's HTTPS client below the API client: TLS set up once (the CA a kubeconfig or discovery
//! trusts, SNI for names) and the plain requests of health probes and discovery.

pub(crate) mod probe;
pub(crate) mod tls;

/// How much of a server's error answer a message quotes: enough to recognize a proxy's page or a
/// server's complaint, never a whole page.
pub(crate) const ERROR_EXCERPT: usize = 200;

/// An answer's text for a message: trimmed, cut to at most `limit` bytes at a character boundary,
/// "..." marking the cut.
pub(crate) fn excerpt(text: &str, limit: usize) -> String {
    let text = text.trim();
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
