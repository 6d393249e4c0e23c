//! A small etcd v3 client: member list, add and remove, and one member's status, through etcd's own
//! HTTP/JSON gateway (`POST /v3/...` on the client port) over mutual TLS. It rides on kinit's
//! HTTP client (`net::probe`), trusting the etcd CA and nothing else, as etcdctl does.

use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::exec::net::probe::{self, ClientIdentity, Target, Transport};
use crate::exec::net::{excerpt, ERROR_EXCERPT};
use openssl::pkey::PKey;
use openssl::x509::X509;
use serde_json::{json, Value};

/// kubeadm polls etcd every 500 ms until `timeouts.etcdAPICall` has passed.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// The longest one exchange with one endpoint may take; the next endpoint is tried after it.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);

/// The client's identity and the CA it trusts, as PEM. No `Debug`: it holds a private key.
pub struct Credentials {
    ca_pem: Vec<u8>,
    identity_pem: Vec<u8>,
}

impl Credentials {
    /// `cert` and `key` are the client certificate and its key (PKCS#1, SEC1 or PKCS#8), `ca` the
    /// etcd CA; `names` says where they came from for errors (never their content).
    pub fn from_pem(
        ca: &[u8],
        cert: &[u8],
        key: &[u8],
        names: &str,
    ) -> Result<Credentials, String> {
        X509::from_pem(ca)
            .map_err(|e| format!("{names}: the etcd CA is not a PEM certificate: {e}"))?;
        X509::from_pem(cert)
            .map_err(|e| format!("{names}: the client certificate is not PEM: {e}"))?;
        PKey::private_key_from_pem(key)
            .map_err(|e| format!("{names}: the client key is not a PEM private key: {e}"))?;
        let mut identity_pem = cert.to_vec();
        if !identity_pem.ends_with(b"\n") {
            identity_pem.push(b'\n');
        }
        identity_pem.extend_from_slice(key);
        Ok(Credentials {
            ca_pem: ca.to_vec(),
            identity_pem,
        })
    }
}

/// One etcd member as the member calls report it. An added member that has not started yet has no
/// name and no client URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

impl Member {
    pub fn is_started(&self) -> bool {
        !self.name.is_empty()
    }

    /// The ID as etcdctl prints it.
    pub fn hex_id(&self) -> String {
        format!("{:x}", self.id)
    }
}

/// What one endpoint says about itself (`/v3/maintenance/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub member_id: u64,
    pub version: String,
    pub leader: u64,
    /// etcd's own alarms and errors (`errors`), such as "NOSPACE".
    pub errors: Vec<String>,
}

/// A failed etcd call: what was asked, of which endpoint, and etcd's answer or why none came.
/// Callers act on the kind (`is_retryable`, `is_peer_url_taken`, `is_not_a_learner`,
/// `is_member_not_found`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// etcd answered with an error: its gRPC status code, or the HTTP status when the answer
    /// was not etcd's JSON.
    #[error("could not {what} at {endpoint}: {message}")]
    Answered {
        what: String,
        endpoint: String,
        code: u16,
        message: String,
    },
    /// No answer came (connection refused, TLS refused, timeout).
    #[error("could not {what}: etcd at {endpoint} did not answer: {message}")]
    NoAnswer {
        what: String,
        endpoint: String,
        message: String,
    },
}

impl From<EtcdError> for String {
    fn from(error: EtcdError) -> String {
        error.to_string()
    }
}

/// gRPC codes etcd answers with that will not change by asking again: InvalidArgument, NotFound,
/// AlreadyExists, PermissionDenied, Unimplemented, Unauthenticated.
const FINAL_GRPC_CODES: [u16; 6] = [3, 5, 6, 7, 12, 16];

impl EtcdError {
    /// An answer with `code`, or no answer (`None`).
    pub fn new(what: &str, endpoint: &str, code: Option<u16>, message: String) -> EtcdError {
        let (what, endpoint) = (what.to_string(), endpoint.to_string());
        match code {
            Some(code) => EtcdError::Answered {
                what,
                endpoint,
                code,
                message,
            },
            None => EtcdError::NoAnswer {
                what,
                endpoint,
                message,
            },
        }
    }

    fn code(&self) -> Option<u16> {
        match self {
            EtcdError::Answered { code, .. } => Some(*code),
            EtcdError::NoAnswer { .. } => None,
        }
    }

    fn message(&self) -> &str {
        match self {
            EtcdError::Answered { message, .. } | EtcdError::NoAnswer { message, .. } => message,
        }
    }

    /// No answer, a busy or leaderless cluster ("etcdserver: unhealthy cluster", "request timed
    /// out"), a 5xx: worth another try within the time limit. kubeadm retries every failure of a
    /// member call; kinit stops early only on answers that cannot change.
    pub fn is_retryable(&self) -> bool {
        match self.code() {
            None => true,
            // Below 100 it is a gRPC code; otherwise the HTTP status of an answer that was not etcd's JSON.
            Some(code) if code < 100 => {
                !FINAL_GRPC_CODES.contains(&code)
                    && !self.is_peer_url_taken()
                    && !self.is_not_a_learner()
            }
            Some(code) => code >= 500 || code == 429,
        }
    }

    /// etcd's "Peer URLs already exists": a member with this peer URL is in the cluster.
    pub fn is_peer_url_taken(&self) -> bool {
        self.message().contains("Peer URLs already exists")
    }

    /// etcd's answer when the member to promote already votes ("can only promote a learner
    /// member"; not yet in sync is "... which is in sync with leader", worth waiting for).
    pub fn is_not_a_learner(&self) -> bool {
        self.message()
            .ends_with("can only promote a learner member")
    }

    /// etcd's "member not found".
    pub fn is_member_not_found(&self) -> bool {
        self.message().contains("member not found")
    }
}

pub struct EtcdClient {
    transport: Transport,
    endpoints: Vec<String>,
    limit: Duration,
}

impl EtcdClient {
    /// A client of the etcd cluster at `endpoints` (client URLs such as `https://10.0.0.1:2379`),
    /// tried in turn; every call is retried within `limit` (`timeouts.etcdAPICall`).
    pub fn new(
        endpoints: Vec<String>,
        credentials: &Credentials,
        limit: Duration,
    ) -> Result<EtcdClient, String> {
        if endpoints.is_empty() {
            return Err("no etcd endpoint to talk to".into());
        }
        let tls = |e: openssl::error::ErrorStack| format!("cannot set up TLS for etcd: {e}");
        let cas = X509::stack_from_pem(&credentials.ca_pem).map_err(tls)?;
        let chain = X509::stack_from_pem(&credentials.identity_pem).map_err(tls)?;
        let key = PKey::private_key_from_pem(&credentials.identity_pem).map_err(tls)?;
        let leaf = chain
            .first()
            .ok_or("cannot set up TLS for etcd: no client certificate")?;
        if !leaf.public_key().map_err(tls)?.public_eq(&key) {
            return Err(
                "cannot set up TLS for etcd: the client key does not match its certificate".into(),
            );
        }
        Ok(EtcdClient {
            transport: Transport::HttpsMutual(Arc::new(ClientIdentity { cas, chain, key })),
            endpoints,
            limit,
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The cluster's members, in etcd's order (by ID).
    pub fn member_list(&self) -> Result<Vec<Member>, EtcdError> {
        let answer = self.call(
            "list the etcd members",
            "/v3/cluster/member/list",
            json!({}),
        )?;
        Ok(members(&answer))
    }

    /// Adds a member with `peer_url`, as a learner (a non-voting member that catches up before
    /// [`EtcdClient::member_promote`] gives it a vote) or as a voting member; the new member and
    /// the members after the change.
    pub fn member_add(
        &self,
        peer_url: &str,
        learner: bool,
    ) -> Result<(Member, Vec<Member>), EtcdError> {
        let kind = if learner { "learner" } else { "member" };
        let what = format!("add an etcd {kind} with peer URL {peer_url}");
        let answer = self.call(
            &what,
            "/v3/cluster/member/add",
            json!({ "peerURLs": [peer_url], "isLearner": learner }),
        )?;
        let added = member(&answer["member"]);
        Ok((added, members(&answer)))
    }

    /// Gives learner `id` its vote, asking again (within the time limit) while etcd says it has
    /// not caught up with the leader yet.
    pub fn member_promote(&self, id: u64) -> Result<Vec<Member>, EtcdError> {
        let what = format!("promote etcd learner {id:x}");
        let answer = self.call(
            &what,
            "/v3/cluster/member/promote",
            json!({ "ID": id.to_string() }),
        )?;
        Ok(members(&answer))
    }

    /// Removes member `id`; the members after the change.
    pub fn member_remove(&self, id: u64) -> Result<Vec<Member>, EtcdError> {
        let what = format!("remove etcd member {id:x}");
        // uint64 fields travel as JSON strings through the gateway.
        let answer = self.call(
            &what,
            "/v3/cluster/member/remove",
            json!({ "ID": id.to_string() }),
        )?;
        Ok(members(&answer))
    }

    /// One endpoint's status, asked once (for waits, which do their own polling).
    pub fn status(&self, endpoint: &str) -> Result<EndpointStatus, EtcdError> {
        let answer = self.exchange(
            "read the etcd member's status",
            endpoint,
            "/v3/maintenance/status",
            &json!({}),
        )?;
        Ok(endpoint_status(&answer))
    }

    /// Asks each endpoint in turn, round after round every [`RETRY_INTERVAL`], until one answers,
    /// an answer is final, or the time limit has passed; the error is the last endpoint's.
    fn call(&self, what: &str, path: &str, body: Value) -> Result<Value, EtcdError> {
        let started = Instant::now();
        loop {
            let mut last = None;
            for endpoint in &self.endpoints {
                match self.exchange(what, endpoint, path, &body) {
                    Ok(answer) => return Ok(answer),
                    Err(e) if !e.is_retryable() => return Err(e),
                    Err(e) => {
                        tracing::debug!("{e}; trying again");
                        last = Some(e);
                    }
                }
            }
            let error = last.expect("at least one endpoint");
            if started.elapsed() + RETRY_INTERVAL >= self.limit {
                return Err(error);
            }
            std::thread::sleep(RETRY_INTERVAL);
        }
    }

    /// One request to one endpoint, bounded by [`EXCHANGE_LIMIT`].
    fn exchange(
        &self,
        what: &str,
        endpoint: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, EtcdError> {
        let fail = |code, message: String| EtcdError::new(what, endpoint, code, message);
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        let target = Target::from_url(&url, 2379, || Ok(self.transport.clone()))
            .map_err(|_| fail(None, format!("{url} is not a usable URL")))?;
        tracing::debug!("etcd: POST {url}");
        let limit = EXCHANGE_LIMIT.min(self.limit);
        let (status, text) = probe::post_json(&target, &body.to_string(), limit)
            .map_err(|failure| fail(None, failure.to_string()))?;
        decode_answer(status, &text).map_err(|(code, message)| fail(code, message))
    }
}

/// The gateway's answer with HTTP `status`: its JSON, or the error's gRPC code (the HTTP status
/// when the answer is not etcd's error JSON) and message.
pub(crate) fn decode_answer(status: u16, text: &str) -> Result<Value, (Option<u16>, String)> {
    let answer: Result<Value, _> = serde_json::from_str(text);
    if status != 200 {
        // etcd's gateway answers errors as {"error", "code" (gRPC), "message"}.
        return Err(match answer {
            Ok(error) if error["code"].is_u64() => {
                let code = error["code"].as_u64().unwrap_or_default();
                let message = error["message"]
                    .as_str()
                    .or(error["error"].as_str())
                    .unwrap_or_default();
                let message = if message.trim().is_empty() {
                    format!("etcd answered gRPC code {code} without a message")
                } else {
                    message.to_string()
                };
                (Some(u16::try_from(code).unwrap_or(u16::MAX)), message)
            }
            _ => (
                Some(status),
                format!("HTTP status {status}: {}", excerpt(text, ERROR_EXCERPT)),
            ),
        });
    }
    answer.map_err(|e| {
        (
            Some(200),
            format!(
                "the answer is not JSON ({e}): {}",
                excerpt(text, ERROR_EXCERPT)
            ),
        )
    })
}

/// A `/v3/maintenance/status` answer.
pub(crate) fn endpoint_status(answer: &Value) -> EndpointStatus {
    EndpointStatus {
        member_id: id(&answer["header"]["member_id"]),
        version: answer["version"].as_str().unwrap_or_default().to_string(),
        leader: id(&answer["leader"]),
        errors: strings(&answer["errors"]),
    }
}

/// A uint64 of the gateway: a JSON string (or a number from other encoders).
fn id(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn member(value: &Value) -> Member {
    Member {
        id: id(&value["ID"]),
        name: value["name"].as_str().unwrap_or_default().to_string(),
        peer_urls: strings(&value["peerURLs"]),
        client_urls: strings(&value["clientURLs"]),
        is_learner: value["isLearner"].as_bool().unwrap_or(false),
    }
}

pub(crate) fn members(answer: &Value) -> Vec<Member> {
    answer["members"]
        .as_array()
        .map(|m| m.iter().map(member).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_are_not_etcd_json_are_quoted_in_part() {
        let page = format!("<html>{}</html>", "proxy error ".repeat(100));
        let (code, message) = decode_answer(502, &page).unwrap_err();
        assert_eq!(code, Some(502));
        assert!(message.starts_with("HTTP status 502: <html>proxy error"));
        assert!(message.ends_with("..."), "{message}");
        assert!(message.chars().count() < 250, "{message}");
        let (code, message) = decode_answer(200, "not json").unwrap_err();
        assert_eq!(code, Some(200));
        assert!(
            message.starts_with("the answer is not JSON (expected"),
            "{message}"
        );
    }

    #[test]
    fn etcd_errors_keep_their_grpc_code_and_message() {
        let (code, message) = decode_answer(
            400,
            r#"{"error":"etcdserver: member not found","code":5,"message":"etcdserver: member not found"}"#,
        )
        .unwrap_err();
        assert_eq!(
            (code, message.as_str()),
            (Some(5), "etcdserver: member not found")
        );
        let (code, message) = decode_answer(503, r#"{"code":14}"#).unwrap_err();
        assert_eq!(code, Some(14));
        assert_eq!(message, "etcd answered gRPC code 14 without a message");
    }

    #[test]
    fn members_read_from_the_gateway_json() {
        let answer: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"1","member_id":"2"},"members":[
                {"ID":"10276657743932975437","name":"cp1","peerURLs":["https://198.51.100.10:2380"],"clientURLs":["https://198.51.100.10:2379"]},
                {"ID":"42","peerURLs":["https://198.51.100.11:2380"],"isLearner":true}]}"#,
        )
        .unwrap();
        let list = members(&answer);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, 10276657743932975437);
        assert_eq!(list[0].hex_id(), "8e9e05c52164694d");
        assert!(list[0].is_started());
        assert!(!list[1].is_started());
        assert!(list[1].is_learner);
        assert_eq!(list[1].client_urls, Vec::<String>::new());
    }

    #[test]
    fn which_failures_are_tried_again() {
        let error =
            |code, message: &str| EtcdError::new("x", "https://e:2379", code, message.into());
        assert!(error(None, "connection refused").is_retryable());
        assert!(error(Some(14), "etcdserver: unhealthy cluster").is_retryable());
        assert!(error(Some(503), "Service Unavailable").is_retryable());
        assert!(!error(Some(9), "etcdserver: Peer URLs already exists").is_retryable());
        assert!(!error(Some(5), "etcdserver: member not found").is_retryable());
        assert!(error(
            Some(9),
            "etcdserver: can only promote a learner member which is in sync with leader"
        )
        .is_retryable());
        assert!(!error(Some(9), "etcdserver: can only promote a learner member").is_retryable());
        assert!(!error(Some(404), "not found").is_retryable());
        assert_eq!(
            error(Some(14), "etcdserver: unhealthy cluster").to_string(),
            "could not x at https://e:2379: etcdserver: unhealthy cluster"
        );
    }
}
