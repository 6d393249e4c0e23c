//! kinit's one HTTP client beside the API client: a health check of a component, discovery's
//! reads of cluster-info, and etcd's gateway. One request per connection, over plain HTTP or
//! HTTPS (verified against one CA, with a client certificate when the server asks for one, or not
//! verified at all), with every way it can fail kept apart so a diagnosis can tell them.

use openssl::ssl::{HandshakeError, Ssl, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to talk to a component.
#[derive(Clone)]
pub enum Transport {
    Http,
    /// Serving certificates the component made for itself: nothing to verify them against.
    HttpsUnverified,
    /// Verified against these CAs alone (a CA file may hold a bundle), and for the address probed.
    HttpsVerified(Vec<X509>),
    /// Verified against the host's trusted CAs, as a browser would (a discovery file's URL).
    HttpsSystemRoots,
    /// Verified against these CAs alone, presenting a client certificate (etcd).
    HttpsMutual(Arc<ClientIdentity>),
}

/// The CAs a server is checked against and the certificate chain and key a client presents. No
/// `Debug`: it holds a private key.
pub struct ClientIdentity {
    pub cas: Vec<X509>,
    pub chain: Vec<X509>,
    pub key: openssl::pkey::PKey<openssl::pkey::Private>,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens there.
    Refused(String),
    /// No answer in time (connection or reply).
    NoAnswer(String),
    /// A TLS handshake failed before any HTTP. `wrong_name`: the certificate is sound but not for
    /// the address probed; `names` are the addresses and names the certificate is valid for.
    Tls {
        reason: String,
        wrong_name: bool,
        names: Vec<String>,
    },
    /// The component answered, with something other than 200.
    Status {
        status: u16,
        body: String,
    },
    Other(String),
}

impl Failure {
    /// Something answered at all (a TLS handshake or an HTTP reply).
    pub fn answered(&self) -> bool {
        matches!(self, Failure::Tls { .. } | Failure::Status { .. })
    }

    /// A short class of the failure: a change of class is a change of state worth reporting.
    pub fn class(&self) -> String {
        match self {
            Failure::Refused(_) => "connection refused".into(),
            Failure::NoAnswer(_) => "no answer".into(),
            Failure::Tls { .. } => "TLS error".into(),
            Failure::Status { status, .. } => format!("HTTP {status}"),
            Failure::Other(_) => "error".into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(e) | Failure::NoAnswer(e) | Failure::Other(e) => f.write_str(e),
            Failure::Tls { reason, .. } => write!(f, "TLS error: {reason}"),
            Failure::Status { status, body } if body.is_empty() => {
                write!(f, "HTTP status {status}")
            }
            Failure::Status { status, body } => {
                // One line: a health body is a list of checks, one per line.
                let lines: Vec<&str> = body
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                write!(f, "HTTP status {status}: {}", lines.join(" | "))
            }
        }
    }
}

/// Where a component is checked.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub transport: Transport,
}

impl Target {
    /// Where `url` points: plain HTTP for `http://`, `https` (made only then) for `https://`,
    /// `default_port` when the URL names none; an IPv6 host without its brackets.
    pub fn from_url(
        url: &str,
        default_port: u16,
        https: impl FnOnce() -> Result<Transport, String>,
    ) -> Result<Target, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let transport = match uri.scheme_str() {
            Some("http") => Transport::Http,
            Some("https") => https()?,
            other => {
                return Err(format!(
                    "unsupported scheme {:?}",
                    other.unwrap_or_default()
                ))
            }
        };
        let host = uri.host().ok_or_else(|| format!("{url} names no host"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Target {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(default_port),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
            transport,
        })
    }

    pub fn url(&self) -> String {
        let scheme = match self.transport {
            Transport::Http => "http",
            _ => "https",
        };
        format!(
            "{scheme}://{}{}",
            crate::domain::manifests::flags::host_port(&self.host, self.port),
            self.path
        )
    }
}

/// Longest body kept for the diagnosis; health bodies that matter (the failed checks) are short.
const BODY_LIMIT: usize = 600;

/// One GET; Ok when the component answered 200. `timeout` bounds the connection and each read.
pub fn check(target: &Target, timeout: Duration) -> Result<(), Failure> {
    match get(target, timeout)? {
        (200, _) => Ok(()),
        (status, body) => Err(Failure::Status {
            status,
            body: super::excerpt(&body, BODY_LIMIT),
        }),
    }
}

/// One GET: the status and the whole body, whatever the status.
pub fn get(target: &Target, timeout: Duration) -> Result<(u16, String), Failure> {
    send(target, None, timeout)
}

/// One POST of a JSON `body`: the status and the whole answer, whatever the status.
pub fn post_json(target: &Target, body: &str, timeout: Duration) -> Result<(u16, String), Failure> {
    send(target, Some(body), timeout)
}

fn send(target: &Target, json: Option<&str>, timeout: Duration) -> Result<(u16, String), Failure> {
    let address = resolve(target)?;
    let stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            Failure::Refused(format!("connection refused ({address})"))
        }
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            Failure::NoAnswer(format!("no answer from {address} within {timeout:?}"))
        }
        _ => Failure::Other(format!("cannot connect to {address}: {e}")),
    })?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| Failure::Other(e.to_string()))?;
    match &target.transport {
        Transport::Http => exchange(stream, target, json),
        Transport::HttpsSystemRoots => {
            let mut builder = SslConnector::builder(SslMethod::tls_client())
                .map_err(|e| Failure::Other(e.to_string()))?;
            builder.set_verify(SslVerifyMode::PEER);
            let tls = builder
                .build()
                .connect(&target.host, stream)
                .map_err(|e| handshake_failure(e, None))?;
            exchange(tls, target, json)
        }
        transport => {
            let seen = Arc::new(Mutex::new(None));
            let ssl = session(transport, &target.host, seen.clone())
                .map_err(|e| Failure::Other(e.to_string()))?;
            let tls = ssl
                .connect(stream)
                .map_err(|e| handshake_failure(e, seen.lock().ok().and_then(|mut s| s.take())))?;
            exchange(tls, target, json)
        }
    }
}

fn resolve(target: &Target) -> Result<SocketAddr, Failure> {
    (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| Failure::Other(format!("cannot resolve {}: {e}", target.host)))?
        .next()
        .ok_or_else(|| Failure::Other(format!("{} has no address", target.host)))
}

/// One TLS session to `host`, trusting the cluster CA alone (or nothing, for a component's own
/// certificate): the system's CA bundle is never loaded, since a probe runs every 200 ms while
/// the control plane starts. The name or address is checked as the API client checks it, and the
/// server's certificate is kept in `seen` for the diagnosis of a refusal.
fn session(
    transport: &Transport,
    host: &str,
    seen: Arc<Mutex<Option<X509>>>,
) -> Result<Ssl, openssl::error::ErrorStack> {
    let mut builder = crate::exec::net::tls::client_context_builder()?;
    let verified = match transport {
        Transport::HttpsVerified(cas) => {
            trust_only(&mut builder, cas)?;
            true
        }
        Transport::HttpsMutual(identity) => {
            trust_only(&mut builder, &identity.cas)?;
            let mut chain = identity.chain.iter();
            if let Some(leaf) = chain.next() {
                builder.set_certificate(leaf)?;
            }
            for cert in chain {
                builder.add_extra_chain_cert(cert.clone())?;
            }
            builder.set_private_key(&identity.key)?;
            true
        }
        _ => {
            builder.set_verify(SslVerifyMode::NONE);
            false
        }
    };
    let mut ssl = crate::exec::net::tls::session_to(&builder.build(), host, verified)?;
    if verified {
        ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, chain| {
            if chain.error_depth() == 0 {
                if let (Some(cert), Ok(mut kept)) = (chain.current_cert(), seen.lock()) {
                    *kept = Some(cert.to_owned());
                }
            }
            ok
        });
    }
    Ok(ssl)
}

/// Servers are checked against `cas` and nothing else.
fn trust_only(
    builder: &mut openssl::ssl::SslContextBuilder,
    cas: &[X509],
) -> Result<(), openssl::error::ErrorStack> {
    let mut store = openssl::x509::store::X509StoreBuilder::new()?;
    for ca in cas {
        store.add_cert(ca.clone())?;
    }
    builder.set_verify_cert_store(store.build())?;
    builder.set_verify(SslVerifyMode::PEER);
    Ok(())
}

/// What a failed handshake means. `seen` is the server's certificate as verification saw it:
/// OpenSSL keeps no peer certificate once it has refused one.
fn handshake_failure(error: HandshakeError<TcpStream>, seen: Option<X509>) -> Failure {
    match error {
        HandshakeError::SetupFailure(e) => Failure::Other(format!("TLS setup: {e}")),
        HandshakeError::Failure(mid) | HandshakeError::WouldBlock(mid) => {
            let ssl = mid.ssl();
            let verify = ssl.verify_result();
            let names = ssl
                .peer_certificate()
                .or(seen)
                .map(|cert| certificate_names(&cert))
                .unwrap_or_default();
            if verify.as_raw() != 0 {
                // 62: hostname mismatch, 64: IP address mismatch (X509_V_ERR_*).
                let wrong_name = matches!(verify.as_raw(), 62 | 64);
                Failure::Tls {
                    reason: format!("certificate verify failed: {}", verify.error_string()),
                    wrong_name,
                    names,
                }
            } else {
                let reason = match mid.error().io_error() {
                    Some(io) => io.to_string(),
                    None => mid
                        .error()
                        .ssl_error()
                        .map(|stack| {
                            stack
                                .errors()
                                .iter()
                                .filter_map(|e| e.reason())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| mid.error().to_string()),
                };
                Failure::Tls {
                    reason,
                    wrong_name: false,
                    names,
                }
            }
        }
    }
}

/// The DNS names and IP addresses a certificate is valid for.
pub fn certificate_names(cert: &X509) -> Vec<String> {
    let Some(sans) = cert.subject_alt_names() else {
        return Vec::new();
    };
    sans.iter()
        .filter_map(|name| {
            name.dnsname().map(str::to_string).or_else(|| {
                name.ipaddress().and_then(|bytes| match bytes.len() {
                    4 => {
                        Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string())
                    }
                    16 => Some(
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string(),
                    ),
                    _ => None,
                })
            })
        })
        .collect()
}

fn exchange(
    mut stream: impl Read + Write,
    target: &Target,
    json: Option<&str>,
) -> Result<(u16, String), Failure> {
    let host = crate::domain::manifests::flags::host_port(&target.host, target.port);
    let request = match json {
        None => format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kinit\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target.path
        ),
        Some(body) => format!(
            "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kinit\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            target.path,
            body.len()
        ),
    };
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            Failure::NoAnswer(format!("no HTTP answer from {host} in time"))
        }
        _ => Failure::Other(format!("HTTP exchange with {host}: {e}")),
    };
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    // A server may close without a TLS close_notify; what arrived before counts.
    if let Err(e) = stream.read_to_end(&mut answer) {
        if answer.is_empty() {
            return Err(io(e));
        }
    }
    parse_answer(&answer).ok_or_else(|| {
        Failure::Other(format!(
            "{host} answered, but not with HTTP ({} bytes)",
            answer.len()
        ))
    })
}

pub(crate) fn parse_answer(answer: &[u8]) -> Option<(u16, String)> {
    let (head, body) = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&answer[..at], &answer[at + 4..]),
        None => (answer, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let status = head
        .lines()
        .next()?
        .strip_prefix("HTTP/")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    // Chunk sizes count bytes, and a chunk may end inside a character: text only once joined.
    let body = if chunked {
        String::from_utf8_lossy(&dechunk(body)).into_owned()
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    Some((status, body.trim().to_string()))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let (size_line, after) = (&rest[..line_end], &rest[line_end + 2..]);
        let size_text = String::from_utf8_lossy(size_line);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 || after.len() < size {
            out.extend_from_slice(&after[..after.len().min(size)]);
            break;
        }
        out.extend_from_slice(&after[..size]);
        rest = &after[size..];
        while let Some(next) = rest.strip_prefix(b"\r\n") {
            rest = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_may_end_inside_a_character() {
        // "éé" is four bytes; the first chunk ends inside the second character.
        let split = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\xc3\xa9\xc3\r\n1\r\n\xa9\r\n0\r\n\r\n";
        assert_eq!(parse_answer(split), Some((200, "\u{e9}\u{e9}".into())));
        // A body that is no UTF-8 gives a replacement character, not a panic.
        let broken =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\xe2\x82\r\n0\r\n\r\n";
        assert_eq!(parse_answer(broken), Some((200, "\u{fffd}".into())));
    }

    #[test]
    fn answers_are_read_with_their_status_and_body() {
        assert_eq!(
            parse_answer(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad"),
            Some((500, "bad".into()))
        );
        assert_eq!(
            parse_answer(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            ),
            Some((200, "ok".into()))
        );
        assert_eq!(parse_answer(b"\x15\x03\x01"), None);
    }

    #[test]
    fn nothing_listening_is_refused() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let target = Target {
            host: "127.0.0.1".into(),
            port,
            path: "/healthz".into(),
            transport: Transport::Http,
        };
        assert!(matches!(
            check(&target, Duration::from_secs(1)),
            Err(Failure::Refused(_))
        ));
    }

    #[test]
    fn https_probes_trust_the_cluster_ca_alone_and_check_the_address() {
        use crate::exec::net::tls::tests::{ca, certificate, serve};
        let cluster = ca("cluster");
        let server = serve(
            "127.0.0.1:0",
            certificate("apiserver", Some(&cluster), &["127.0.0.1"]),
            None,
        );
        let target = |transport: Transport, host: &str| Target {
            host: host.into(),
            port: server.port(),
            path: "/livez".into(),
            transport,
        };
        let limit = Duration::from_secs(5);
        let verified = Transport::HttpsVerified(vec![cluster.cert.clone()]);
        assert_eq!(check(&target(verified.clone(), "127.0.0.1"), limit), Ok(()));
        // Signed by another CA: refused, whatever the system trusts.
        let other = ca("other").cert;
        let foreign = Transport::HttpsVerified(vec![other.clone()]);
        match check(&target(foreign, "127.0.0.1"), limit) {
            Err(Failure::Tls {
                wrong_name: false,
                reason,
                ..
            }) => assert!(reason.contains("certificate verify failed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A bundle trusts every CA in it, the signing one second.
        let bundle = Transport::HttpsVerified(vec![other, cluster.cert.clone()]);
        assert_eq!(check(&target(bundle, "127.0.0.1"), limit), Ok(()));
        // The right CA, but the certificate is not for the address probed.
        let anywhere = serve(
            "0.0.0.0:0",
            certificate("apiserver", Some(&cluster), &["127.0.0.1"]),
            None,
        );
        let elsewhere = Target {
            host: "127.0.0.2".into(),
            port: anywhere.port(),
            path: "/livez".into(),
            transport: Transport::HttpsVerified(vec![cluster.cert.clone()]),
        };
        match check(&elsewhere, limit) {
            Err(Failure::Tls {
                wrong_name: true,
                names,
                ..
            }) => assert_eq!(names, ["127.0.0.1"]),
            other => panic!("{other:?}"),
        }
        match check(&target(verified, "localhost"), limit) {
            Err(Failure::Tls {
                wrong_name: true, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // A component's own certificate: not verified at all.
        assert_eq!(
            check(&target(Transport::HttpsUnverified, "localhost"), limit),
            Ok(())
        );
    }
}
