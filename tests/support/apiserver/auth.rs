//! Authentication, as kube-apiserver's union of the x509, bootstrap-token and anonymous
//! authenticators: a valid client certificate wins; otherwise a bearer token must be a valid
//! bootstrap token; a credential that fails and nothing else succeeding is 401; no credentials at
//! all is the anonymous user.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509PurposeId, X509StoreContext, X509};

use super::rest::ApiError;
use super::store::{b64_decode, Store};

#[derive(Clone, Debug)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

pub fn authenticate(
    store: &Store,
    ca: &X509,
    peer: Option<&X509>,
    chain: &[X509],
    authorization: Option<&str>,
) -> Result<UserInfo, ApiError> {
    let mut failed = false;
    if let Some(cert) = peer {
        match from_certificate(ca, cert, chain) {
            Some(user) => return Ok(user),
            None => failed = true,
        }
    }
    // The bearer token authenticator: only `Bearer <token>` counts; another scheme (Basic) or an
    // empty token is no credential at all.
    let token = authorization.and_then(|h| {
        let mut parts = h.trim().splitn(3, ' ');
        let scheme = parts.next()?;
        let token = parts.next()?.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    if let Some(token) = token {
        match from_bootstrap_token(store, token) {
            Some(user) => return Ok(user),
            None => failed = true,
        }
    }
    if failed {
        return Err(unauthorized());
    }
    Ok(UserInfo {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
    })
}

/// CN → user, O → groups, when the certificate chains to the cluster CA for client auth.
fn from_certificate(ca: &X509, cert: &X509, chain: &[X509]) -> Option<UserInfo> {
    let mut sb = X509StoreBuilder::new().ok()?;
    sb.add_cert(ca.clone()).ok()?;
    sb.set_purpose(X509PurposeId::SSL_CLIENT).ok()?;
    let store = sb.build();
    let mut intermediates = Stack::new().ok()?;
    for c in chain {
        intermediates.push(c.clone()).ok()?;
    }
    let mut ctx = X509StoreContext::new().ok()?;
    let ok = ctx
        .init(&store, cert, &intermediates, |c| c.verify_cert())
        .ok()?;
    if !ok {
        return None;
    }
    let entry = |nid| {
        cert.subject_name()
            .entries_by_nid(nid)
            .filter_map(|e| e.data().to_string().ok())
            .collect::<Vec<_>>()
    };
    let name = entry(openssl::nid::Nid::COMMONNAME).into_iter().next()?;
    if name.is_empty() {
        return None;
    }
    let mut groups = entry(openssl::nid::Nid::ORGANIZATIONNAME);
    groups.push("system:authenticated".into());
    Some(UserInfo { name, groups })
}

/// Whether `s` is `[a-z0-9]{n}`.
fn token_part(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The data of a bootstrap token Secret as strings, when it is one.
pub fn token_secret_data(
    secret: &serde_json::Value,
) -> Option<std::collections::BTreeMap<String, String>> {
    if secret["type"] != "bootstrap.kubernetes.io/token" {
        return None;
    }
    if secret["metadata"].get("deletionTimestamp").is_some() {
        return None;
    }
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in secret["data"].as_object()? {
        let bytes = b64_decode(v.as_str()?)?;
        out.insert(k.clone(), String::from_utf8(bytes).ok()?);
    }
    Some(out)
}

/// Whether an `expiration` value is past (or unparseable, which the real code also treats as
/// expired).
pub fn expired(data: &std::collections::BTreeMap<String, String>) -> bool {
    match data.get("expiration") {
        None => false,
        Some(e) => match super::store::parse_rfc3339(e) {
            Some(t) => t <= super::store::now_unix(),
            None => true,
        },
    }
}

/// The bootstrap token authenticator (plugin/pkg/auth/authenticator/token/bootstrap).
fn from_bootstrap_token(store: &Store, token: &str) -> Option<UserInfo> {
    let (id, secret) = token.split_once('.')?;
    if !token_part(id, 6) || !token_part(secret, 16) {
        return None;
    }
    let obj = store.get_full("Secret", "kube-system", &format!("bootstrap-token-{id}"))?;
    let data = token_secret_data(&obj)?;
    let stored = data.get("token-secret")?;
    if !openssl::memcmp::eq(stored.as_bytes(), secret.as_bytes()) || stored.len() != secret.len() {
        return None;
    }
    if data.get("token-id").map(String::as_str) != Some(id) {
        return None;
    }
    if expired(&data) {
        return None;
    }
    if data
        .get("usage-bootstrap-authentication")
        .map(String::as_str)
        != Some("true")
    {
        return None;
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    if let Some(extra) = data.get("auth-extra-groups") {
        for g in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            // Groups must match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9].
            let rest = g.strip_prefix("system:bootstrappers:")?;
            let ok = !rest.is_empty()
                && rest.len() <= 256
                && rest.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-'
                })
                && rest
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !ok {
                return None;
            }
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
    }
    groups.push("system:authenticated".into());
    Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
    })
}

/// Impersonation (`Impersonate-User`, `Impersonate-Group`): the requester needs the
/// `impersonate` verb on the user (or service account) and on each group; the request then runs
/// as that user with those groups (plus `system:authenticated`, and the service-account groups).
pub fn impersonate(
    store: &Store,
    user: UserInfo,
    as_user: Option<&str>,
    as_groups: &[String],
) -> Result<UserInfo, ApiError> {
    let Some(name) = as_user else {
        if as_groups.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::new(
            500,
            "InternalError",
            "Internal error occurred: requested [{Group ...}] without impersonating a user",
        ));
    };
    let check = |resource: &str, namespace: &str, target: &str| {
        let attrs = super::rbac::Attributes {
            verb: "impersonate".into(),
            resource_request: true,
            api_group: String::new(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.into(),
            name: target.into(),
            path: String::new(),
        };
        if super::rbac::allowed(store, &user, &attrs) {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "Forbidden",
                &super::rbac::forbidden_message(&user, &attrs),
            )
            .details(super::rest::details(target, "", resource)))
        }
    };
    let mut groups: Vec<String> = Vec::new();
    match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => {
            check("serviceaccounts", ns, sa)?;
            groups.push("system:serviceaccounts".into());
            groups.push(format!("system:serviceaccounts:{ns}"));
        }
        None => check("users", "", name)?,
    }
    for g in as_groups {
        check("groups", "", g)?;
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let has = |g: &str| groups.iter().any(|x| x == g);
    if name != "system:anonymous" {
        if !has("system:authenticated") && !has("system:unauthenticated") {
            groups.push("system:authenticated".into());
        }
    } else if !has("system:unauthenticated") {
        groups.push("system:unauthenticated".into());
    }
    Ok(UserInfo {
        name: name.to_string(),
        groups,
    })
}
