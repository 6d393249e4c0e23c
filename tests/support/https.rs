//! One HTTPS request to a test server, written and read by hand: the exact status and body the
//! server sent, as a client without credentials, with a bearer token or with a client certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Sends one request and returns the status code (0 when the connection closed unanswered) and the
/// body, de-chunked.
pub fn request(
    addr: SocketAddr,
    ca: &Path,
    cert: Option<&(PathBuf, PathBuf)>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use openssl::ssl::{SslConnector, SslFiletype, SslMethod};
    use std::io::{Read, Write};
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_ca_file(ca).unwrap();
    if let Some((crt, key)) = cert {
        b.set_certificate_file(crt, SslFiletype::PEM).unwrap();
        b.set_private_key_file(key, SslFiletype::PEM).unwrap();
    }
    let connector = b.build();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let mut tls = connector.connect("127.0.0.1", tcp).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    tls.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = tls.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    // 0: the connection closed without an answer.
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, mut body) = resp
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_ascii_lowercase(), b.to_string()))
        .unwrap_or_default();
    if head.contains("transfer-encoding: chunked") {
        let mut rest = body.as_str();
        let mut data = String::new();
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            data.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        body = data;
    }
    (code, body)
}
