//! The container runtime's CRI, reached over its unix socket: the runtime's name and version and
//! its image service (is an image there, pull it, list them), for `kinit config images pull` and
//! the ImagePull preflight check.
//!
//! The few CRI v1 messages kinit sends are declared here as prost messages, with the field numbers
//! of cri-api's `api.proto`: generating the whole CRI instead (the k8s-cri crate) would need
//! `protoc` on every machine that builds kinit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// How long connecting to the socket and a call other than a pull may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// kubeadm's `PullImageRetry`: a pull is tried this many times.
const PULL_ATTEMPTS: usize = 5;

mod messages {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionRequest {
        #[prost(string, tag = "1")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        #[prost(string, tag = "1")]
        pub version: String,
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        #[prost(string, tag = "3")]
        pub runtime_version: String,
        #[prost(string, tag = "4")]
        pub runtime_api_version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageSpec {
        #[prost(string, tag = "1")]
        pub image: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PullImageRequest {
        #[prost(message, optional, tag = "1")]
        pub image: Option<ImageSpec>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PullImageResponse {
        #[prost(string, tag = "1")]
        pub image_ref: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageStatusRequest {
        #[prost(message, optional, tag = "1")]
        pub image: Option<ImageSpec>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageStatusResponse {
        #[prost(message, optional, tag = "1")]
        pub image: Option<Image>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, repeated, tag = "2")]
        pub repo_tags: Vec<String>,
    }
}

use messages::*;

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("the CRI endpoint {0:?} is not a unix socket: kinit reaches container runtimes through their unix socket only; name it with --cri-socket unix:///path/to/socket (or nodeRegistration.criSocket)")]
    NotUnix(String),
    #[error("no container runtime socket at {path}: {reason}. Is the container runtime (containerd, CRI-O) installed and running? Name its socket with --cri-socket or nodeRegistration.criSocket")]
    NoSocket { path: String, reason: String },
    #[error("nothing answers on the container runtime socket {path} ({reason}): start the container runtime (containerd, CRI-O) or name the right socket with --cri-socket")]
    NotAnswering { path: String, reason: String },
    #[error("permission denied on the container runtime socket {path}: run kinit as root (sudo)")]
    Denied { path: String },
    #[error("the container runtime could not reach the registry {registry} ({detail}). Make the registry reachable from this node (proxy, DNS, firewall), or set imageRepository (--image-repository) to a mirror it can reach, or load the images into the runtime yourself")]
    RegistryUnreachable { registry: String, detail: String },
    #[error("the registry {registry} has no such image ({detail}). Check the Kubernetes version and imageRepository")]
    NoSuchImage { registry: String, detail: String },
    #[error("{path} did not answer as a container runtime's CRI (asked for its version: {detail}): is it the runtime's CRI socket (containerd: unix:///var/run/containerd/containerd.sock, CRI-O: unix:///var/run/crio/crio.sock; name it with --cri-socket), and is the runtime healthy?")]
    NotCri { path: String, detail: String },
    #[error("the container runtime at {path} refused {what}: {detail}")]
    Call {
        path: String,
        what: String,
        detail: String,
    },
}

/// What [`CriClient::ensure`] did for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The runtime had it.
    Present,
    Pulled,
}

/// What the runtime says of itself.
#[derive(Debug, Clone, Default)]
pub struct RuntimeVersion {
    pub name: String,
    pub version: String,
    pub api_version: String,
}

/// A connection to one container runtime's CRI socket.
pub struct CriClient {
    path: String,
    channel: Channel,
    runtime: tokio::runtime::Runtime,
    version: RuntimeVersion,
}

/// The socket's path on the node from a CRI endpoint (`unix:///run/x.sock`, or a bare absolute
/// path as kubeadm also takes).
pub fn socket_path(endpoint: &str) -> Result<String, CriError> {
    match endpoint.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(path.to_string()),
        None if endpoint.starts_with('/') => Ok(endpoint.to_string()),
        _ => Err(CriError::NotUnix(endpoint.to_string())),
    }
}

/// The registry part of an image name (`registry.k8s.io` of `registry.k8s.io/pause:3.10`).
fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

impl CriClient {
    /// Connects to the runtime at `endpoint`, its socket looked up under `root` (the `--rootfs`
    /// folder, or `/`), and asks its version: what answers must speak the CRI.
    pub fn connect(root: &Path, endpoint: &str) -> Result<CriClient, CriError> {
        let path = socket_path(endpoint)?;
        let on_machine: PathBuf = root.join(path.trim_start_matches('/'));
        match std::fs::metadata(&on_machine) {
            Err(e) => {
                return Err(CriError::NoSocket {
                    path,
                    reason: e.to_string(),
                })
            }
            Ok(meta) if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
                return Err(CriError::NoSocket {
                    path,
                    reason: "it is not a socket".into(),
                })
            }
            Ok(_) => {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CriError::NotAnswering {
                path: path.clone(),
                reason: format!("cannot start the client: {e}"),
            })?;
        // The URI is not used: every connection goes to the socket.
        let endpoint = Endpoint::from_static("http://cri.sock").connect_timeout(CALL_TIMEOUT);
        let connect = endpoint.connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let socket = on_machine.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }));
        let channel = runtime.block_on(connect).map_err(|e| {
            let reason = full_error(&e);
            if reason.contains("Permission denied") {
                CriError::Denied { path: path.clone() }
            } else {
                CriError::NotAnswering {
                    path: path.clone(),
                    reason,
                }
            }
        })?;
        let mut client = CriClient {
            path,
            channel,
            runtime,
            version: RuntimeVersion::default(),
        };
        let answer: VersionResponse = client
            .call(
                "/runtime.v1.RuntimeService/Version",
                VersionRequest {
                    version: "v1".into(),
                },
                Some(CALL_TIMEOUT),
            )
            .map_err(|status| match status.code() {
                // A runtime that answers, but not this API (containerd with its CRI plugin off).
                tonic::Code::Unavailable | tonic::Code::Unimplemented => {
                    client.refused("its version", &status)
                }
                _ => CriError::NotCri {
                    path: client.path.clone(),
                    detail: status.message().to_string(),
                },
            })?;
        client.version = RuntimeVersion {
            name: answer.runtime_name,
            version: answer.runtime_version,
            api_version: answer.runtime_api_version,
        };
        Ok(client)
    }

    /// What the runtime said of itself when connected.
    pub fn runtime_version(&self) -> &RuntimeVersion {
        &self.version
    }

    /// The socket's path on the node.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn call<Req, Resp>(
        &self,
        method: &'static str,
        request: Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        let mut request = tonic::Request::new(request);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let late = |limit: Duration| {
            tonic::Status::deadline_exceeded(format!("no answer within {}s", limit.as_secs()))
        };
        self.runtime.block_on(async {
            tokio::time::timeout(CALL_TIMEOUT, grpc.ready())
                .await
                .map_err(|_| late(CALL_TIMEOUT))?
                .map_err(|e| tonic::Status::unavailable(full_error(&e)))?;
            let call = grpc.unary(request, PathAndQuery::from_static(method), codec);
            // A pull takes as long as the registry does (kubeadm waits for it too).
            let answer = match timeout {
                Some(limit) => tokio::time::timeout(limit, call)
                    .await
                    .map_err(|_| late(limit))?,
                None => call.await,
            };
            answer.map(tonic::Response::into_inner)
        })
    }

    fn refused(&self, what: impl Into<String>, status: &tonic::Status) -> CriError {
        let detail = if status.message().is_empty() {
            format!("{:?}", status.code())
        } else {
            status.message().to_string()
        };
        if status.code() == tonic::Code::Unavailable {
            return CriError::NotAnswering {
                path: self.path.clone(),
                reason: detail,
            };
        }
        if status.code() == tonic::Code::Unimplemented {
            return CriError::Call {
                path: self.path.clone(),
                what: what.into(),
                detail: format!("{detail} (the runtime does not serve the CRI v1 API: is its CRI plugin enabled?)"),
            };
        }
        CriError::Call {
            path: self.path.clone(),
            what: what.into(),
            detail,
        }
    }

    /// Whether the runtime has `image`.
    pub fn image_present(&self, image: &str) -> Result<bool, CriError> {
        let answer: ImageStatusResponse = self
            .call(
                "/runtime.v1.ImageService/ImageStatus",
                ImageStatusRequest {
                    image: Some(ImageSpec {
                        image: image.to_string(),
                    }),
                },
                Some(CALL_TIMEOUT),
            )
            .map_err(|s| self.refused(format!("the status of image {image}"), &s))?;
        Ok(answer.image.is_some())
    }

    /// Makes sure the runtime has `image`: pulls it (calling `pulling` first) unless it is there.
    pub fn ensure(&self, image: &str, pulling: impl FnOnce()) -> Result<Ensured, CriError> {
        if self.image_present(image)? {
            return Ok(Ensured::Present);
        }
        pulling();
        self.pull(image).map(|_| Ensured::Pulled)
    }

    /// Pulls `image` (as kubeadm, up to five attempts; an image the registry says it does not have
    /// is not asked for again). Returns the runtime's reference of the pulled image.
    pub fn pull(&self, image: &str) -> Result<String, CriError> {
        let mut last = None;
        for _ in 0..PULL_ATTEMPTS {
            let answer: Result<PullImageResponse, _> = self.call(
                "/runtime.v1.ImageService/PullImage",
                PullImageRequest {
                    image: Some(ImageSpec {
                        image: image.to_string(),
                    }),
                },
                None,
            );
            match answer {
                Ok(answer) => return Ok(answer.image_ref),
                Err(status) => {
                    let error = self.pull_error(image, &status);
                    // The registry may answer on a later attempt; the runtime's own refusals stay.
                    let again = matches!(error, CriError::RegistryUnreachable { .. });
                    last = Some(error);
                    if !again {
                        break;
                    }
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// A failed pull in words a person can act on: the registry unreachable, the image unknown to
    /// it, or the runtime's own refusal.
    fn pull_error(&self, image: &str, status: &tonic::Status) -> CriError {
        // The runtime itself went away or took too long: not the registry's doing.
        if matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
        ) {
            return self.refused(format!("to pull {image}"), status);
        }
        let detail = status.message().to_string();
        let registry = registry_of(image);
        let lower = detail.to_lowercase();
        let unreachable = [
            "dial tcp",
            "no such host",
            "lookup ",
            "connection refused",
            "i/o timeout",
            "network is unreachable",
            "tls handshake",
            "failed to do request",
        ];
        // containerd: `failed to resolve reference "<image>": <image>: not found`; a registry's
        // own words otherwise.
        let unknown = lower.contains("manifest unknown")
            || lower.contains("name unknown")
            || (lower.contains("failed to resolve reference") && lower.ends_with("not found"))
            || status.code() == tonic::Code::NotFound;
        if unknown && !lower.contains("no such host") {
            return CriError::NoSuchImage { registry, detail };
        }
        if unreachable.iter().any(|w| lower.contains(w)) {
            return CriError::RegistryUnreachable { registry, detail };
        }
        self.refused(format!("to pull {image}"), status)
    }
}

/// An error with its causes, as one line.
fn full_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_unix_sockets() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            "/run/containerd/containerd.sock"
        );
        assert_eq!(
            socket_path("/run/crio/crio.sock").unwrap(),
            "/run/crio/crio.sock"
        );
        for bad in [
            "tcp://10.0.0.1:5000",
            "unix://relative.sock",
            "containerd.sock",
            "",
        ] {
            let error = socket_path(bad).unwrap_err().to_string();
            assert!(error.contains("not a unix socket"), "{bad}: {error}");
        }
    }

    #[test]
    fn registries_of_images() {
        assert_eq!(
            registry_of("registry.k8s.io/pause:3.10.1"),
            "registry.k8s.io"
        );
        assert_eq!(registry_of("localhost:5000/etcd:3.6.4-0"), "localhost:5000");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
    }

    #[test]
    fn a_missing_socket_says_what_to_do() {
        let root = tempfile::tempdir().unwrap();
        let error = CriClient::connect(root.path(), "unix:///run/containerd/containerd.sock")
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("no container runtime socket at /run/containerd/containerd.sock"),
            "{error}"
        );
        assert!(error.contains("--cri-socket"), "{error}");
        std::fs::write(root.path().join("plain"), "").unwrap();
        let error = CriClient::connect(root.path(), "unix:///plain")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("it is not a socket"), "{error}");
    }
}
