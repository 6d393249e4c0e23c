//! The API client's transport: HTTP/1.1 over OpenSSL that trusts the kubeconfig's CA and nothing
//! else, as client-go does when a kubeconfig names a CA.
//!
//! kube's own OpenSSL connector starts from `SslConnector::builder`, which loads the system's CA
//! bundle (`set_default_verify_paths`) and then adds the kubeconfig's CA to it: tens of
//! milliseconds per client, on `init`'s and `join`'s critical path, and a server certificate from
//! any public CA would pass. This one builds the OpenSSL context from nothing: the cluster CA as
//! the only trust anchor, the client certificate and key when the kubeconfig has them, the server's
//! name or IP address checked on every connection. The rest of the stack (base URI, bearer token or
//! basic auth, extra headers, kube's retry of 429/503/504, timeouts) is kube's; kube's per-request
//! tracing spans are left out (kinit logs each call itself).

use std::error::Error as StdError;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::Scheme;
use http::Uri;
use hyper_openssl::client::legacy::MaybeHttpsStream;
use hyper_openssl::SslStream;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::retry::RetryPolicy;
use kube::client::ConfigExt;
use kube::{Client, Config};
use openssl::pkey::PKey;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509VerifyResult, X509};
use secrecy::ExposeSecret;
use tower::ServiceBuilder;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How the kube client for `config` is made.
pub enum Transport {
    /// The kubeconfig names a CA (or skips verification): kinit's connector, no system store.
    ClusterCa,
    /// What kinit's connector does not do; kube's own stack makes the client, as before: no CA
    /// in the kubeconfig (the system's CAs are then what a server is checked against, as in
    /// client-go), an exec credential plugin (it may hand out a client certificate), a proxy.
    Kube(&'static str),
}

/// Which transport [`client`] uses for `config`.
pub fn transport(config: &Config) -> Transport {
    if config.auth_info.exec.is_some() {
        Transport::Kube("its user gets credentials from an exec plugin")
    } else if config.proxy_url.is_some() {
        Transport::Kube("it goes through a proxy")
    } else if !config.accept_invalid_certs && config.root_cert.as_ref().is_none_or(Vec::is_empty) {
        Transport::Kube("it names no certificate authority, so the system's are used")
    } else {
        Transport::ClusterCa
    }
}

/// The kube client for `config`; must be called inside a tokio runtime (kube starts its request
/// buffer there).
pub fn client(config: Config) -> Result<Client, String> {
    match transport(&config) {
        Transport::ClusterCa => cluster_ca_client(config),
        Transport::Kube(why) => {
            tracing::debug!("kube's own TLS connector is used: {why}");
            Client::try_from(config).map_err(|e| e.to_string())
        }
    }
}

fn cluster_ca_client(config: Config) -> Result<Client, String> {
    let tls = Tls::new(&config)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = ApiConnector {
        http,
        tls: Arc::new(tls),
    };
    let mut connector = hyper_timeout::TimeoutConnector::new(connector);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http_client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let auth = config.auth_layer().map_err(|e| e.to_string())?;
    let headers = config.extra_headers_layer().map_err(|e| e.to_string())?;
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| tower::retry::RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(auth)
        .layer(headers)
        .map_err(BoxError::from)
        .service(http_client);
    Ok(Client::new(service, config.default_namespace))
}

/// A TLS client context set up as `SslConnector::builder` sets one up, but without the system's CA
/// bundle (`set_default_verify_paths`, tens of milliseconds to load, and never the right trust
/// for a cluster): the caller adds the one CA it trusts. TLS 1.2 at least, client-go's floor and
/// every component's.
pub fn client_context_builder() -> Result<SslContextBuilder, openssl::error::ErrorStack> {
    let mut builder = SslContextBuilder::new(SslMethod::tls_client())?;
    let mut options = SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE;
    options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    builder.set_options(options);
    builder.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    builder.set_cipher_list(
        "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK",
    )?;
    builder.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    Ok(builder)
}

/// The OpenSSL context every connection of one client starts from, and what each checks.
struct Tls {
    context: SslContext,
    /// The name (or address) the server's certificate must hold instead of the URI's host.
    server_name: Option<String>,
    /// `insecure-skip-tls-verify: true`: no check of the server at all.
    skip_verify: bool,
}

impl Tls {
    fn new(config: &Config) -> Result<Tls, String> {
        let tls = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
        let mut builder = client_context_builder().map_err(tls)?;
        let mut store = X509StoreBuilder::new().map_err(tls)?;
        for der in config.root_cert.iter().flatten() {
            let ca = X509::from_der(der).map_err(|e| {
                format!("the kubeconfig's certificate-authority-data is not a certificate: {e}")
            })?;
            store.add_cert(ca).map_err(tls)?;
        }
        builder.set_cert_store(store.build());
        builder.set_verify(if config.accept_invalid_certs {
            SslVerifyMode::NONE
        } else {
            SslVerifyMode::PEER
        });
        if let Some(identity) = identity(config)? {
            set_identity(&mut builder, &identity)?;
        }
        Ok(Tls {
            context: builder.build(),
            server_name: config.tls_server_name.clone(),
            skip_verify: config.accept_invalid_certs,
        })
    }

    /// The trust anchors: the kubeconfig's CAs, and nothing else.
    #[cfg(test)]
    fn trusted(&self) -> Vec<X509> {
        self.context
            .cert_store()
            .all_certificates()
            .into_iter()
            .collect()
    }

    /// One connection's TLS to the server of `uri`: SNI for a name (none for an address), and the
    /// certificate checked against that name or address. An IPv6 literal is checked without the
    /// brackets it has in the URI.
    fn ssl(&self, uri: &Uri) -> Result<Ssl, BoxError> {
        let host = match &self.server_name {
            Some(name) => name.clone(),
            None => {
                let host = uri.host().ok_or("the API server URL has no host")?;
                host.strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host)
                    .to_string()
            }
        };
        Ok(session_to(&self.context, &host, !self.skip_verify)?)
    }
}

/// One connection's TLS to `host` (a name, or an address without brackets) from `context`: SNI
/// for a name (none for an address), and, when `verify`, the certificate checked against that
/// name or address as `SslConnector` checks it.
pub fn session_to(
    context: &SslContext,
    host: &str,
    verify: bool,
) -> Result<Ssl, openssl::error::ErrorStack> {
    let mut ssl = Ssl::new(context)?;
    let address = host.parse::<IpAddr>().ok();
    if address.is_none() {
        ssl.set_hostname(host)?;
    }
    if verify {
        let param = ssl.param_mut();
        param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match address {
            Some(ip) => param.set_ip(ip)?,
            None => param.set_host(host)?,
        }
    }
    Ok(ssl)
}

/// The client certificate and key of the kubeconfig's user, as one PEM (key, then chain), when it
/// has them: the data fields, else the files they name.
fn identity(config: &Config) -> Result<Option<Vec<u8>>, String> {
    let user = &config.auth_info;
    let load = |data: Option<&str>, file: Option<&String>, what: &str| -> Result<_, String> {
        match (data, file) {
            (Some(data), _) => openssl::base64::decode_block(data.trim())
                .map(Some)
                .map_err(|e| format!("the kubeconfig's {what}-data is not base64: {e}")),
            (None, Some(file)) => std::fs::read(file)
                .map(Some)
                .map_err(|e| format!("cannot read the kubeconfig's {what} {file}: {e}")),
            (None, None) => Ok(None),
        }
    };
    let cert = load(
        user.client_certificate_data.as_deref(),
        user.client_certificate.as_ref(),
        "client-certificate",
    )?;
    let key = load(
        user.client_key_data.as_ref().map(|key| key.expose_secret()),
        user.client_key.as_ref(),
        "client-key",
    )?;
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("the kubeconfig's user has a client certificate but no key".into()),
        (None, Some(_)) => Err("the kubeconfig's user has a client key but no certificate".into()),
        (Some(cert), Some(mut key)) => {
            if !key.ends_with(b"\n") {
                key.push(b'\n');
            }
            key.extend_from_slice(&cert);
            Ok(Some(key))
        }
    }
}

fn set_identity(builder: &mut SslContextBuilder, pem: &[u8]) -> Result<(), String> {
    let tls = |e: openssl::error::ErrorStack| {
        format!("cannot use the kubeconfig's client certificate: {e}")
    };
    let mut chain = X509::stack_from_pem(pem).map_err(tls)?.into_iter();
    let leaf = chain
        .next()
        .ok_or("the kubeconfig's client-certificate-data holds no certificate")?;
    builder.set_certificate(&leaf).map_err(tls)?;
    for cert in chain {
        builder.add_extra_chain_cert(cert).map_err(tls)?;
    }
    let key = PKey::private_key_from_pem(pem)
        .map_err(|e| format!("the kubeconfig's client-key-data is not a PEM private key: {e}"))?;
    builder.set_private_key(&key).map_err(tls)?;
    builder.check_private_key().map_err(|e| {
        format!("the kubeconfig's client key does not match its client certificate: {e}")
    })
}

/// TCP, then TLS with [`Tls`], for hyper's client.
#[derive(Clone)]
struct ApiConnector {
    http: HttpConnector,
    tls: Arc<Tls>,
}

type Stream = MaybeHttpsStream<<HttpConnector as tower::Service<Uri>>::Response>;

impl tower::Service<Uri> for ApiConnector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let connect = self.http.call(uri.clone());
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = connect.await?;
            if !https {
                return Ok(MaybeHttpsStream::Http(tcp));
            }
            let mut stream = SslStream::new(tls.ssl(&uri)?, tcp)?;
            match Pin::new(&mut stream).connect().await {
                Ok(()) => Ok(MaybeHttpsStream::Https(stream)),
                Err(error) => Err(Box::new(HandshakeError {
                    error,
                    verify: stream.ssl().verify_result(),
                }) as BoxError),
            }
        })
    }
}

/// A failed handshake, with the certificate check's verdict when that is why.
#[derive(Debug)]
struct HandshakeError {
    error: openssl::ssl::Error,
    verify: X509VerifyResult,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if self.verify != X509VerifyResult::OK {
            write!(f, ": {}", self.verify)?;
        }
        Ok(())
    }
}

impl StdError for HandshakeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::path::Path;
    use std::time::Duration;

    use kube::config::{KubeConfigOptions, Kubeconfig};
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509NameBuilder, X509};

    use super::{transport, Tls, Transport};
    use crate::exec::api::Session;

    const TOKEN: &str = "abcdef.0123456789abcdef";

    pub(crate) struct Pair {
        pub(crate) cert: X509,
        key: PKey<Private>,
    }

    fn key() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    /// A certificate for `cn` signed by `issuer` (self-signed CA when `None`), with `sans`
    /// (addresses, or names when they do not parse as one).
    pub(crate) fn certificate(cn: &str, issuer: Option<&Pair>, sans: &[&str]) -> Pair {
        let key = key();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand::random::<u32>() >> 1)
            .unwrap()
            .to_asn1_integer()
            .unwrap();
        builder.set_serial_number(&serial).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder
            .set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
            .unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if issuer.is_none() {
            let ca = BasicConstraints::new().critical().ca().build().unwrap();
            builder.append_extension(ca).unwrap();
        }
        if !sans.is_empty() {
            let mut alt = SubjectAlternativeName::new();
            for san in sans {
                if san.parse::<std::net::IpAddr>().is_ok() {
                    alt.ip(san);
                } else {
                    alt.dns(san);
                }
            }
            let alt = alt.build(&builder.x509v3_context(issuer.map(|i| &*i.cert), None));
            builder.append_extension(alt.unwrap()).unwrap();
        }
        let signer = issuer.map_or(&key, |i| &i.key);
        builder.sign(signer, MessageDigest::sha256()).unwrap();
        Pair {
            cert: builder.build(),
            key,
        }
    }

    pub(crate) fn ca(cn: &str) -> Pair {
        certificate(cn, None, &[])
    }

    /// A TLS server on `address` answering every request with the client certificate's CN (or
    /// `-`) and the Authorization header (or `-`). With `client_ca`, it requires a client
    /// certificate that CA signed. It serves until the test process ends.
    pub(crate) fn serve(address: &str, server: Pair, client_ca: Option<&X509>) -> SocketAddr {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_certificate(&server.cert).unwrap();
        acceptor.set_private_key(&server.key).unwrap();
        if let Some(ca) = client_ca {
            acceptor.cert_store_mut().add_cert(ca.clone()).unwrap();
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        let acceptor = acceptor.build();
        let listener = TcpListener::bind(address).unwrap();
        let bound = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(mut tls) = acceptor.accept(stream) else {
                    continue;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let authorization = request
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("authorization")
                            .then(|| value.trim().to_string())
                    })
                    .unwrap_or_else(|| "-".into());
                let cn = tls
                    .ssl()
                    .peer_certificate()
                    .and_then(|c| {
                        let entry = c.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
                        String::from_utf8(entry.data().as_slice().to_vec()).ok()
                    })
                    .unwrap_or_else(|| "-".into());
                let body = format!("{cn} {authorization}");
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.shutdown();
            }
        });
        bound
    }

    fn base64(bytes: &[u8]) -> String {
        openssl::base64::encode_block(bytes)
    }

    enum User<'a> {
        Certificate(&'a Pair),
        Token,
    }

    fn kubeconfig(server: SocketAddr, ca: Option<&X509>, user: User<'_>) -> String {
        let host = match server {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let ca = ca.map_or(String::new(), |ca| {
            format!(
                "    certificate-authority-data: {}\n",
                base64(&ca.to_pem().unwrap())
            )
        });
        let user = match user {
            User::Certificate(pair) => format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                base64(&pair.cert.to_pem().unwrap()),
                base64(&pair.key.private_key_to_pem_pkcs8().unwrap())
            ),
            User::Token => format!("    token: {TOKEN}\n"),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n{ca}    server: https://{host}\n\
             users:\n- name: u\n  user:\n{user}contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
             current-context: x\n"
        )
    }

    fn request() -> http::Request<Vec<u8>> {
        http::Request::get("/echo").body(Vec::new()).unwrap()
    }

    /// One request through kinit's session (no retries): the answer, or the error with its causes.
    fn ask(kubeconfig: &str) -> Result<String, String> {
        let session = Session::connect(kubeconfig, "the test kubeconfig", Duration::from_secs(5))?;
        session
            .block_on(session.client().request_text(request()))
            .map_err(|e| crate::exec::api::ApiError::new("ask", e).to_string())
    }

    fn config(kubeconfig: &str) -> kube::Config {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(kube::Config::from_custom_kubeconfig(
                Kubeconfig::from_yaml(kubeconfig).unwrap(),
                &KubeConfigOptions::default(),
            ))
            .unwrap()
    }

    #[test]
    fn the_cluster_ca_is_trusted_and_the_client_certificate_presented() {
        let cluster = ca("kubernetes");
        let server = certificate("kube-apiserver", Some(&cluster), &["127.0.0.1"]);
        let admin = certificate("kubernetes-admin", Some(&cluster), &[]);
        let address = serve("127.0.0.1:0", server, Some(&cluster.cert));
        let answer = ask(&kubeconfig(
            address,
            Some(&cluster.cert),
            User::Certificate(&admin),
        ));
        assert_eq!(answer.unwrap(), "kubernetes-admin -");
    }

    #[test]
    fn a_bearer_token_is_sent() {
        let cluster = ca("kubernetes");
        let server = certificate("kube-apiserver", Some(&cluster), &["127.0.0.1"]);
        let address = serve("127.0.0.1:0", server, None);
        let answer = ask(&kubeconfig(address, Some(&cluster.cert), User::Token));
        assert_eq!(answer.unwrap(), format!("- Bearer {TOKEN}"));
    }

    #[test]
    fn a_server_certificate_the_cluster_ca_did_not_sign_is_refused() {
        let (cluster, other) = (ca("kubernetes"), ca("someone else"));
        let server = certificate("kube-apiserver", Some(&other), &["127.0.0.1"]);
        let address = serve("127.0.0.1:0", server, None);
        let error = ask(&kubeconfig(address, Some(&cluster.cert), User::Token)).unwrap_err();
        assert!(error.contains("certificate verify failed"), "{error}");
        assert!(
            error.contains("unable to get local issuer certificate"),
            "{error}"
        );
    }

    #[test]
    fn the_servers_address_is_checked() {
        let cluster = ca("kubernetes");
        let server = certificate(
            "kube-apiserver",
            Some(&cluster),
            &["198.51.100.7", "kubernetes"],
        );
        let address = serve("127.0.0.1:0", server, None);
        let error = ask(&kubeconfig(address, Some(&cluster.cert), User::Token)).unwrap_err();
        assert!(error.contains("IP address mismatch"), "{error}");
    }

    #[test]
    fn an_ipv6_literal_server_is_checked_against_its_address() {
        let cluster = ca("kubernetes");
        let right = certificate("kube-apiserver", Some(&cluster), &["::1"]);
        let address = serve("[::1]:0", right, None);
        let answer = ask(&kubeconfig(address, Some(&cluster.cert), User::Token));
        assert_eq!(answer.unwrap(), format!("- Bearer {TOKEN}"));
        let wrong = certificate("kube-apiserver", Some(&cluster), &["fd00::1"]);
        let address = serve("[::1]:0", wrong, None);
        let error = ask(&kubeconfig(address, Some(&cluster.cert), User::Token)).unwrap_err();
        assert!(error.contains("IP address mismatch"), "{error}");
    }

    #[test]
    fn only_the_kubeconfigs_ca_is_trusted() {
        let cluster = ca("kubernetes");
        let address: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        let config = config(&kubeconfig(address, Some(&cluster.cert), User::Token));
        assert!(matches!(transport(&config), Transport::ClusterCa));
        let trusted = Tls::new(&config).unwrap().trusted();
        assert_eq!(trusted.len(), 1);
        assert_eq!(trusted[0].to_der().unwrap(), cluster.cert.to_der().unwrap());
        // Without a CA, only the system's can check the server, as client-go does.
        let config = config_without_ca(address);
        assert!(matches!(transport(&config), Transport::Kube(_)));
    }

    fn config_without_ca(address: SocketAddr) -> kube::Config {
        config(&kubeconfig(address, None, User::Token))
    }

    /// Set by [`the_system_store_is_not_consulted`] for the child run of [`system_store_child`]:
    /// the folder holding the cluster CA and the "system" CA with its key.
    const CHILD: &str = "KINIT_TLS_SYSTEM_STORE_TEST";

    fn write_pair(dir: &Path, name: &str, pair: &Pair) {
        std::fs::write(dir.join(format!("{name}.crt")), pair.cert.to_pem().unwrap()).unwrap();
        std::fs::write(
            dir.join(format!("{name}.key")),
            pair.key.private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
    }

    fn read_pair(dir: &Path, name: &str) -> Pair {
        let read = |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).unwrap();
        Pair {
            cert: X509::from_pem(&read("crt")).unwrap(),
            key: PKey::private_key_from_pem(&read("key")).unwrap(),
        }
    }

    /// OpenSSL's default trust store is SSL_CERT_FILE / SSL_CERT_DIR when set. A child run of
    /// this test binary gets a "system" bundle holding only a CA that signed the server: kube's
    /// own connector, which loads the default store, then accepts the server (so the bundle is in
    /// force), and kinit's refuses it (so kinit never loaded it).
    #[test]
    fn the_system_store_is_not_consulted() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "cluster", &ca("kubernetes"));
        let system = ca("a public CA");
        write_pair(dir.path(), "system", &system);
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, system.cert.to_pem().unwrap()).unwrap();
        let empty = dir.path().join("certs");
        std::fs::create_dir(&empty).unwrap();
        // The child test's name as the harness knows it: this module's path without the crate.
        let child = format!(
            "{}::system_store_child",
            module_path!().split_once("::").unwrap().1
        );
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &child,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, dir.path())
            .env("SSL_CERT_FILE", &bundle)
            .env("SSL_CERT_DIR", &empty)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the child test did not run: {text}"
        );
    }

    #[test]
    #[ignore = "run by the_system_store_is_not_consulted, with a system CA bundle of its own"]
    fn system_store_child() {
        let Some(dir) = std::env::var_os(CHILD) else {
            return;
        };
        let dir = Path::new(&dir);
        let (cluster, system) = (read_pair(dir, "cluster"), read_pair(dir, "system"));
        let server = certificate("kube-apiserver", Some(&system), &["127.0.0.1"]);
        let address = serve("127.0.0.1:0", server, None);
        let kubeconfig = kubeconfig(address, Some(&cluster.cert), User::Token);

        // The control: kube's connector (system store plus the kubeconfig's CA) accepts it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = runtime.block_on(async {
            let config = kube::Config::from_custom_kubeconfig(
                Kubeconfig::from_yaml(&kubeconfig).unwrap(),
                &KubeConfigOptions::default(),
            )
            .await
            .unwrap();
            let client = kube::Client::try_from(config).unwrap();
            client.request_text(request()).await
        });
        assert_eq!(answer.unwrap(), format!("- Bearer {TOKEN}"));

        let error = ask(&kubeconfig).unwrap_err();
        assert!(error.contains("certificate verify failed"), "{error}");
    }
}
