//! kinit's HTTPS client below the API client: TLS set up once (the CA a kubeconfig or discovery
//! trusts, SNI for names) and the plain requests of health probes and discovery.

pub(crate) mod probe;
pub(crate) mod tls;

/// The longest part of an answer an error quotes: enough to recognize a proxy's page or a
/// server's complaint, never a whole page.
const EXCERPT_LIMIT: usize = 200;

/// An answer's text for an error: trimmed, cut at [`EXCERPT_LIMIT`] characters.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
