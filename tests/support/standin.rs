//! Stand-ins for the control-plane components kinit probes (kubelet healthz, controller manager,
//! scheduler): each answers every request with one fixed reply, over plain HTTP or TLS.

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a stand-in answers to every request.
#[derive(Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub body: &'static str,
}

pub const OK: Reply = Reply {
    status: 200,
    body: "ok",
};

fn answer(mut stream: impl Read + Write, reply: Reply) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = stream.flush();
}

pub fn serve_http(listener: TcpListener, reply: Reply) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            answer(stream, reply);
        }
    });
}

pub fn serve_tls(listener: TcpListener, cert: PathBuf, key: PathBuf, reply: Reply) {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_certificate_chain_file(cert).unwrap();
    acceptor
        .set_private_key_file(key, SslFiletype::PEM)
        .unwrap();
    let acceptor = Arc::new(acceptor.build());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            // A client that rejects the certificate ends the handshake; the next one is served.
            if let Ok(mut tls) = acceptor.accept(stream) {
                answer(&mut tls, reply);
                let _ = tls.shutdown();
            }
        }
    });
}

pub fn listen(address: &str) -> (TcpListener, u16) {
    let listener = TcpListener::bind((address, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}
