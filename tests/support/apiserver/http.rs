//! Serving: TLS with OpenSSL (tokio-openssl), HTTP/1.1 with hyper, one tokio runtime on the
//! server's own thread. Each request is counted, delayed, authenticated, then handled by
//! [`super::rest::handle`] on a blocking thread.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use serde_json::Value;

use super::{auth, rest, RequestRecord, State};

/// The real server's limit on a request body (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8], ca: &X509) -> SslAcceptor {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    let mut chain = X509::stack_from_pem(cert_pem).expect("apiserver.crt");
    let leaf = chain.remove(0);
    b.set_certificate(&leaf).unwrap();
    for extra in chain {
        b.add_extra_chain_cert(extra).unwrap();
    }
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem).expect("apiserver.key");
    b.set_private_key(&key).unwrap();
    b.check_private_key()
        .expect("apiserver.key does not match apiserver.crt");
    // Request a client certificate without requiring it; it is verified by the authenticator,
    // as kube-apiserver does (tls.RequestClientCert + the x509 authenticator).
    b.add_client_ca(ca).unwrap();
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    // Clients resume sessions (hyper-openssl does, as Go's client does with the real server);
    // OpenSSL refuses a resumption with an internal-error alert unless the session context is set
    // whenever peer verification is on.
    b.set_session_id_context(b"kinit-test-apiserver").unwrap();
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    b.build()
}

pub fn serve(
    listener: std::net::TcpListener,
    tls: SslAcceptor,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let tls = Arc::new(tls);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    // Go's net package, and so kube-apiserver, turns Nagle's algorithm off on
                    // every connection; with it on, small responses wait for delayed ACKs.
                    let _ = tcp.set_nodelay(true);
                    let tls = tls.clone();
                    let state = state.clone();
                    tokio::spawn(async move { connection(tcp, tls, state).await });
                }
            }
        }
    });
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn connection(tcp: tokio::net::TcpStream, tls: Arc<SslAcceptor>, state: Arc<State>) {
    let Ok(ssl) = Ssl::new(tls.context()) else {
        return;
    };
    let Ok(mut stream) = tokio_openssl::SslStream::new(ssl, tcp) else {
        return;
    };
    if Pin::new(&mut stream).accept().await.is_err() {
        return;
    }
    let peer_chain: Vec<X509> = stream
        .ssl()
        .peer_cert_chain()
        .map(|c| c.iter().map(|x| x.to_owned()).collect())
        .unwrap_or_default();
    let peer_cert = stream.ssl().peer_certificate();
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let peer_cert = peer_cert.clone();
        let peer_chain = peer_chain.clone();
        async move {
            // `None` is an injected connection failure: hyper closes the connection unanswered.
            request(req, state, peer_cert, peer_chain)
                .await
                .ok_or("injected connection failure")
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn request(
    req: Request<Incoming>,
    state: Arc<State>,
    peer_cert: Option<X509>,
    peer_chain: Vec<X509>,
) -> Option<Response<Body>> {
    state.count_request();
    let delay = state.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = req.into_parts();
    let uri = parts.uri.to_string();
    let method = parts.method.to_string();
    if let Some(code) = state.take_fault(&method, &uri) {
        if code == 0 {
            state.record(RequestRecord {
                method,
                uri,
                user: String::new(),
                code: 0,
            });
            return None;
        }
        let (reason, message) = match code {
            429 => ("TooManyRequests", "Too many requests, please try again later."),
            500 => ("InternalError", "Internal error occurred: injected by the test"),
            503 => ("ServiceUnavailable", "The service is unavailable, please try again later."),
            504 => ("Timeout", "The server was unable to return a response in the time allotted, but may still be processing the request"),
            _ => ("InternalError", "injected by the test"),
        };
        let mut err = rest::ApiError::new(code, reason, message);
        if code == 429 {
            err.details = Some(serde_json::json!({"retryAfterSeconds": 1}));
        }
        let mut resp = respond(&state, &method, &uri, "", code, err.status());
        if code == 429 {
            resp.headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        }
        return Some(resp);
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header("authorization");
    let impersonate_user = header("impersonate-user");
    let impersonate_groups: Vec<String> = parts
        .headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let content_type = header("content-type").unwrap_or_default();
    let accept = header("accept").unwrap_or_default();
    let user_agent = header("user-agent").unwrap_or_default();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let err = rest::ApiError::new(413, "RequestEntityTooLarge", "request entity too large");
            return Some(respond(&state, &method, &uri, "", err.code, err.status()));
        }
    };
    let worker_state = state.clone();
    let (m, u) = (method.clone(), uri.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let state = worker_state;
        let user = {
            let store = state.store.lock().unwrap();
            auth::authenticate(
                &store,
                &state.ca,
                peer_cert.as_ref(),
                &peer_chain,
                authorization.as_deref(),
            )
            .and_then(|user| {
                auth::impersonate(
                    &store,
                    user,
                    impersonate_user.as_deref(),
                    &impersonate_groups,
                )
            })
        };
        match user {
            Err(e) => ("".to_string(), rest::Reply::Json(e.code, e.status())),
            Ok(user) => {
                let req = rest::Req {
                    method: &m,
                    uri: &u,
                    content_type: &content_type,
                    accept: &accept,
                    user_agent: &user_agent,
                    body: &body,
                };
                (user.name.clone(), rest::handle(&state, &user, &req))
            }
        }
    })
    .await;
    Some(match outcome {
        Ok((user, rest::Reply::Json(code, value))) => {
            respond(&state, &method, &uri, &user, code, value)
        }
        Ok((user, rest::Reply::Watch(watch))) => {
            state.record(RequestRecord {
                method: method.clone(),
                uri: uri.clone(),
                user,
                code: 200,
            });
            stream_watch(state.clone(), watch)
        }
        Err(e) => {
            let err = rest::ApiError::new(500, "InternalError", &format!("handler panicked: {e}"));
            respond(&state, &method, &uri, "", err.code, err.status())
        }
    })
}

fn respond(
    state: &State,
    method: &str,
    uri: &str,
    user: &str,
    code: u16,
    value: Value,
) -> Response<Body> {
    if std::env::var_os("KINIT_TEST_APISERVER_LOG").is_some() {
        let detail = value["message"].as_str().unwrap_or("");
        eprintln!("[test-apiserver] {method} {uri} user={user:?} -> {code} {detail}");
    }
    state.record(RequestRecord {
        method: method.to_string(),
        uri: uri.to_string(),
        user: user.to_string(),
        code,
    });
    // A bare string is a plain-text answer (the health endpoints' "ok").
    let (body, content_type) = match value {
        Value::String(s) => (s.into_bytes(), "text/plain; charset=utf-8"),
        other => (serde_json::to_vec(&other).unwrap(), "application/json"),
    };
    Response::builder()
        .status(code)
        .header("content-type", content_type)
        .header("cache-control", "no-cache, private")
        .body(Body::Once(Some(Bytes::from(body))))
        .unwrap()
}

/// A watch's events, one JSON object a line, as the store changes; ends at the timeout or when
/// the client goes.
fn stream_watch(state: Arc<State>, watch: rest::Watch) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + watch.timeout;
        for e in &watch.initial {
            if tx.send(Bytes::from(format!("{e}\n"))).await.is_err() {
                return;
            }
        }
        let mut seen = watch.from_rv;
        while tokio::time::Instant::now() < deadline {
            let lines = {
                let mut store = state.store.lock().unwrap();
                super::controllers::sync(&mut store);
                let lines = watch.filter.events_after(&store, seen);
                seen = store.rv;
                lines
            };
            for line in lines {
                if tx.send(Bytes::from(line + "\n")).await.is_err() {
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(Body::Stream(rx))
        .unwrap()
}

/// A response body: whole, or streamed (watches).
pub enum Body {
    Once(Option<Bytes>),
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match &mut *self {
            Body::Once(b) => {
                std::task::Poll::Ready(b.take().map(|b| Ok(hyper::body::Frame::data(b))))
            }
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Once(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Once(Some(b)) => hyper::body::SizeHint::with_exact(b.len() as u64),
            Body::Once(None) => hyper::body::SizeHint::with_exact(0),
            Body::Stream(_) => hyper::body::SizeHint::default(),
        }
    }
}
