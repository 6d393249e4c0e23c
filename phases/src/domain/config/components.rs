//! The kubelet's and kube-proxy's configuration kinds (kubelet.config.k8s.io/v1beta1 and
//! kubeproxy.config.k8s.io/v1alpha1, as of Kubernetes 1.34) written down as field names with their Go
//! types. kinit passes these documents on as given, but kubeadm decodes them strictly, so a typo or a
//! wrong type deep inside must be caught here rather than by a kubelet that refuses to start.

use super::duration;
use serde::de::Unexpected;
use serde_json::Value;

/// The fields of an object: name and type, in the order of the Go struct.
pub type Fields = &'static [(&'static str, Ty)];

/// A Go type, seen the way Go's JSON decoder sees it.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    Int32,
    Int64,
    /// `VerbosityLevel` (uint32).
    Uint32,
    /// float32 or float64.
    Float,
    /// `metav1.Duration`: only a string that Go's `time.ParseDuration` accepts, never a number.
    Duration,
    /// component-base's `TimeOrMetaDuration` (`logging.flushFrequency`): a duration string, or an
    /// integer of nanoseconds as older files wrote it.
    DurationOrNanos,
    /// `resource.Quantity`: a quantity string, or a plain number.
    Quantity,
    /// `metav1.Time`: an RFC 3339 string.
    Time,
    List(&'static Ty),
    /// A map with string keys.
    Map(&'static Ty),
    Object(Fields),
    /// Passed on without a look inside.
    Free,
}

use Ty::*;

const STRINGS: Ty = List(&Str);
const STRING_MAP: Ty = Map(&Str);
const FEATURE_GATES: Ty = Map(&Bool);

/// component-base's `LoggingConfiguration`. `options` holds alpha, per-format settings that kinit
/// leaves to the component.
const LOGGING: Ty = Object(&[
    ("format", Str),
    ("flushFrequency", DurationOrNanos),
    ("verbosity", Uint32),
    (
        "vmodule",
        List(&Object(&[("filePattern", Str), ("verbosity", Uint32)])),
    ),
    ("options", Free),
]);

/// `KubeletConfiguration` of kubelet.config.k8s.io/v1beta1.
pub const KUBELET: Ty = Object(&[
    ("enableServer", Bool),
    ("staticPodPath", Str),
    ("podLogsDir", Str),
    ("syncFrequency", Duration),
    ("fileCheckFrequency", Duration),
    ("httpCheckFrequency", Duration),
    ("staticPodURL", Str),
    ("staticPodURLHeader", Map(&STRINGS)),
    ("address", Str),
    ("port", Int32),
    ("readOnlyPort", Int32),
    ("tlsCertFile", Str),
    ("tlsPrivateKeyFile", Str),
    ("tlsCipherSuites", STRINGS),
    ("tlsCurvePreferences", List(&Int32)),
    ("tlsMinVersion", Str),
    ("rotateCertificates", Bool),
    ("serverTLSBootstrap", Bool),
    (
        "authentication",
        Object(&[
            ("x509", Object(&[("clientCAFile", Str)])),
            (
                "webhook",
                Object(&[("enabled", Bool), ("cacheTTL", Duration)]),
            ),
            ("anonymous", Object(&[("enabled", Bool)])),
        ]),
    ),
    (
        "authorization",
        Object(&[
            ("mode", Str),
            (
                "webhook",
                Object(&[
                    ("cacheAuthorizedTTL", Duration),
                    ("cacheUnauthorizedTTL", Duration),
                ]),
            ),
        ]),
    ),
    ("registryPullQPS", Int32),
    ("registryBurst", Int32),
    ("imagePullCredentialsVerificationPolicy", Str),
    ("preloadedImagesVerificationAllowlist", STRINGS),
    ("eventRecordQPS", Int32),
    ("eventBurst", Int32),
    ("enableDebuggingHandlers", Bool),
    ("enableContentionProfiling", Bool),
    ("healthzPort", Int32),
    ("healthzBindAddress", Str),
    ("oomScoreAdj", Int32),
    ("clusterDomain", Str),
    ("clusterDNS", STRINGS),
    ("streamingConnectionIdleTimeout", Duration),
    ("nodeStatusUpdateFrequency", Duration),
    ("nodeStatusReportFrequency", Duration),
    ("nodeLeaseDurationSeconds", Int32),
    ("imageMinimumGCAge", Duration),
    ("imageMaximumGCAge", Duration),
    ("imageGCHighThresholdPercent", Int32),
    ("imageGCLowThresholdPercent", Int32),
    ("volumeStatsAggPeriod", Duration),
    ("kubeletCgroups", Str),
    ("systemCgroups", Str),
    ("cgroupRoot", Str),
    ("cgroupsPerQOS", Bool),
    ("cgroupDriver", Str),
    ("cpuManagerPolicy", Str),
    ("singleProcessOOMKill", Bool),
    ("cpuManagerPolicyOptions", STRING_MAP),
    ("cpuManagerReconcilePeriod", Duration),
    ("memoryManagerPolicy", Str),
    ("topologyManagerPolicy", Str),
    ("topologyManagerScope", Str),
    ("topologyManagerPolicyOptions", STRING_MAP),
    ("qosReserved", STRING_MAP),
    ("runtimeRequestTimeout", Duration),
    ("hairpinMode", Str),
    ("maxPods", Int32),
    ("podCIDR", Str),
    ("podPidsLimit", Int64),
    ("resolvConf", Str),
    ("runOnce", Bool),
    ("cpuCFSQuota", Bool),
    ("cpuCFSQuotaPeriod", Duration),
    ("nodeStatusMaxImages", Int32),
    ("maxOpenFiles", Int64),
    ("contentType", Str),
    ("kubeAPIQPS", Int32),
    ("kubeAPIBurst", Int32),
    ("serializeImagePulls", Bool),
    ("maxParallelImagePulls", Int32),
    ("evictionHard", STRING_MAP),
    ("evictionSoft", STRING_MAP),
    ("evictionSoftGracePeriod", STRING_MAP),
    ("evictionPressureTransitionPeriod", Duration),
    ("evictionMaxPodGracePeriod", Int32),
    ("evictionMinimumReclaim", STRING_MAP),
    ("mergeDefaultEvictionSettings", Bool),
    ("podsPerCore", Int32),
    ("enableControllerAttachDetach", Bool),
    ("protectKernelDefaults", Bool),
    ("makeIPTablesUtilChains", Bool),
    ("iptablesMasqueradeBit", Int32),
    ("iptablesDropBit", Int32),
    ("featureGates", FEATURE_GATES),
    ("failSwapOn", Bool),
    ("memorySwap", Object(&[("swapBehavior", Str)])),
    ("containerLogMaxSize", Str),
    ("containerLogMaxFiles", Int32),
    ("containerLogMaxWorkers", Int32),
    ("containerLogMonitorInterval", Duration),
    ("configMapAndSecretChangeDetectionStrategy", Str),
    ("systemReserved", STRING_MAP),
    ("kubeReserved", STRING_MAP),
    ("reservedSystemCPUs", Str),
    ("showHiddenMetricsForVersion", Str),
    ("systemReservedCgroup", Str),
    ("kubeReservedCgroup", Str),
    ("enforceNodeAllocatable", STRINGS),
    ("allowedUnsafeSysctls", STRINGS),
    ("volumePluginDir", Str),
    ("providerID", Str),
    ("kernelMemcgNotification", Bool),
    ("logging", LOGGING),
    ("enableSystemLogHandler", Bool),
    ("enableSystemLogQuery", Bool),
    ("shutdownGracePeriod", Duration),
    ("shutdownGracePeriodCriticalPods", Duration),
    (
        "shutdownGracePeriodByPodPriority",
        List(&Object(&[
            ("priority", Int32),
            ("shutdownGracePeriodSeconds", Int64),
        ])),
    ),
    (
        "crashLoopBackOff",
        Object(&[("maxContainerRestartPeriod", Duration)]),
    ),
    (
        "reservedMemory",
        List(&Object(&[("numaNode", Int32), ("limits", Map(&Quantity))])),
    ),
    ("enableProfilingHandler", Bool),
    ("enableDebugFlagsHandler", Bool),
    ("seccompDefault", Bool),
    ("memoryThrottlingFactor", Float),
    // core/v1 Taint.
    (
        "registerWithTaints",
        List(&Object(&[
            ("key", Str),
            ("value", Str),
            ("effect", Str),
            ("timeAdded", Time),
        ])),
    ),
    ("registerNode", Bool),
    (
        "tracing",
        Object(&[("endpoint", Str), ("samplingRatePerMillion", Int32)]),
    ),
    ("localStorageCapacityIsolation", Bool),
    ("containerRuntimeEndpoint", Str),
    ("imageServiceEndpoint", Str),
    ("failCgroupV1", Bool),
    ("userNamespaces", Object(&[("idsPerPod", Int64)])),
]);

/// `KubeProxyConfiguration` of kubeproxy.config.k8s.io/v1alpha1.
pub const KUBE_PROXY: Ty = Object(&[
    ("featureGates", FEATURE_GATES),
    // component-base's ClientConnectionConfiguration.
    (
        "clientConnection",
        Object(&[
            ("kubeconfig", Str),
            ("acceptContentTypes", Str),
            ("contentType", Str),
            ("qps", Float),
            ("burst", Int32),
        ]),
    ),
    ("logging", LOGGING),
    ("hostnameOverride", Str),
    ("bindAddress", Str),
    ("healthzBindAddress", Str),
    ("metricsBindAddress", Str),
    ("bindAddressHardFail", Bool),
    ("enableProfiling", Bool),
    ("showHiddenMetricsForVersion", Str),
    ("mode", Str),
    (
        "iptables",
        Object(&[
            ("masqueradeBit", Int32),
            ("masqueradeAll", Bool),
            ("localhostNodePorts", Bool),
            ("syncPeriod", Duration),
            ("minSyncPeriod", Duration),
        ]),
    ),
    (
        "ipvs",
        Object(&[
            ("syncPeriod", Duration),
            ("minSyncPeriod", Duration),
            ("scheduler", Str),
            ("excludeCIDRs", STRINGS),
            ("strictARP", Bool),
            ("tcpTimeout", Duration),
            ("tcpFinTimeout", Duration),
            ("udpTimeout", Duration),
        ]),
    ),
    (
        "nftables",
        Object(&[
            ("masqueradeBit", Int32),
            ("masqueradeAll", Bool),
            ("syncPeriod", Duration),
            ("minSyncPeriod", Duration),
        ]),
    ),
    (
        "winkernel",
        Object(&[
            ("networkName", Str),
            ("sourceVip", Str),
            ("enableDSR", Bool),
            ("rootHnsEndpointName", Str),
            ("forwardHealthCheckVip", Bool),
        ]),
    ),
    ("detectLocalMode", Str),
    (
        "detectLocal",
        Object(&[("bridgeInterface", Str), ("interfaceNamePrefix", Str)]),
    ),
    ("clusterCIDR", Str),
    ("nodePortAddresses", STRINGS),
    ("oomScoreAdj", Int32),
    (
        "conntrack",
        Object(&[
            ("maxPerCore", Int32),
            ("min", Int32),
            ("tcpEstablishedTimeout", Duration),
            ("tcpCloseWaitTimeout", Duration),
            ("tcpBeLiberal", Bool),
            ("udpTimeout", Duration),
            ("udpStreamTimeout", Duration),
        ]),
    ),
    ("configSyncPeriod", Duration),
    ("portRange", Str),
    ("windowsRunAsService", Bool),
]);

/// Rewrites a checked document the way Go's decoding and encoding of it would: durations in Go's
/// `Duration.String` form (`60s` becomes `1m0s`), and plain numbers or booleans in string fields as
/// strings. kubeadm writes what it decoded, so kinit writes the same text.
pub fn normalize(ty: &Ty, value: &mut Value) {
    match (ty, value) {
        (Object(fields), Value::Object(map)) => {
            for (name, field_ty) in fields.iter() {
                if let Some(v) = map.get_mut(*name) {
                    normalize(field_ty, v);
                }
            }
        }
        (List(item), Value::Array(items)) => items.iter_mut().for_each(|v| normalize(item, v)),
        (Map(item), Value::Object(map)) => map.values_mut().for_each(|v| normalize(item, v)),
        (Duration | DurationOrNanos, Value::String(text)) => {
            if let Ok(parsed) = duration::parse(text) {
                *text = duration::format(parsed);
            }
        }
        (Str, v @ (Value::Number(_) | Value::Bool(_))) => *v = Value::String(v.to_string()),
        _ => {}
    }
}

impl Ty {
    /// What an error says was expected.
    pub fn expected(&self) -> &'static str {
        match self {
            Str => "a string",
            Bool => "a boolean",
            Int32 => "a 32-bit integer",
            Int64 => "a 64-bit integer",
            Uint32 => "a non-negative 32-bit integer",
            Float => "a number",
            Duration => "a duration string such as \"10s\" or \"1m0s\"",
            DurationOrNanos => {
                "a duration string such as \"5s\" or an integer number of nanoseconds"
            }
            Quantity => "a quantity such as \"100Mi\" or \"1Gi\"",
            Time => "an RFC 3339 time such as \"2024-01-02T15:04:05Z\"",
            List(_) => "a sequence",
            Map(_) | Object(_) => "a map",
            Free => "anything",
        }
    }

    /// Checks a value against a type that holds no fields of its own (lists, maps and objects are
    /// walked by the caller). `null` is fine everywhere: it leaves the field unset. The error is the
    /// whole message, naming what was found and what was expected.
    pub fn check_leaf(&self, value: &Value) -> Result<(), String> {
        let wrong_type = || {
            Err(format!(
                "invalid type: {}, expected {}",
                unexpected(value),
                self.expected()
            ))
        };
        let wrong_value = |why: Option<String>| {
            let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
            Err(format!(
                "invalid value: {}, expected {}{why}",
                unexpected(value),
                self.expected()
            ))
        };
        match (self, value) {
            (_, Value::Null) | (Free, _) => Ok(()),
            // kubeadm's YAML reader turns a plain number or boolean into a string where the field is a string.
            (Str, Value::String(_) | Value::Number(_) | Value::Bool(_)) => Ok(()),
            (Bool, Value::Bool(_)) => Ok(()),
            (Float, Value::Number(_)) => Ok(()),
            (Int32 | Int64 | Uint32, Value::Number(_)) => match integer(value) {
                None => wrong_type(),
                Some(n) if self.integer_range().contains(&n) => Ok(()),
                Some(_) => wrong_value(None),
            },
            (Duration | DurationOrNanos, Value::String(text)) => {
                go_duration(text).or_else(|why| wrong_value(Some(why)))
            }
            (DurationOrNanos, Value::Number(_)) => match integer(value) {
                Some(n) if Int64.integer_range().contains(&n) => Ok(()),
                Some(_) => wrong_value(None),
                None => wrong_type(),
            },
            (Quantity, Value::Number(_)) => Ok(()),
            (Quantity, Value::String(text)) => quantity(text).or_else(|why| wrong_value(Some(why))),
            (Time, Value::String(text)) if rfc3339(text) => Ok(()),
            (Time, Value::String(_)) => wrong_value(None),
            _ => wrong_type(),
        }
    }

    fn integer_range(&self) -> std::ops::RangeInclusive<i128> {
        match self {
            Int32 => i128::from(i32::MIN)..=i128::from(i32::MAX),
            Uint32 => 0..=i128::from(u32::MAX),
            _ => i128::from(i64::MIN)..=i128::from(i64::MAX),
        }
    }
}

/// The value as serde names it in its own errors (`string "ten"`, ``integer `5` ``, `sequence`).
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A whole number, also when written `110.0`: kubeadm's YAML reader re-encodes such a float as `110`,
/// which Go then decodes into an integer field without complaint.
fn integer(value: &Value) -> Option<i128> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    n.as_f64()
        .filter(|f| f.fract() == 0.0 && f.abs() < 1e30)
        .map(|f| f as i128)
}

/// What Go's `time.ParseDuration` accepts: unlike kubeadm's own periods, a sign is allowed (the
/// component's validation judges the value), but no surrounding spaces.
fn go_duration(text: &str) -> Result<(), String> {
    if text.trim() != text {
        return Err("spaces around the duration".into());
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if unsigned.starts_with(['-', '+']) {
        return Err("more than one sign".into());
    }
    let parsed = duration::parse(unsigned).map_err(|e| {
        let detail = e
            .strip_prefix(&format!("invalid duration {unsigned:?}"))
            .and_then(|rest| rest.strip_prefix(": "));
        detail.unwrap_or("not a Go duration").to_string()
    })?;
    if parsed.as_nanos() > i64::MAX as u128 {
        return Err("longer than Go's time.Duration can hold".into());
    }
    Ok(())
}

/// The syntax `resource.ParseQuantity` accepts: a signed decimal number, then a binary suffix (Ki…Ei),
/// a decimal one (n, u, m, k, M…E) or an exponent (e3, E-2).
pub(crate) fn quantity(text: &str) -> Result<(), String> {
    let body = text.trim();
    let body = body.strip_prefix(['-', '+']).unwrap_or(body);
    let number_len = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_len);
    if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
        return Err("it must start with a number".into());
    }
    const SUFFIXES: [&str; 16] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    let exponent = suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    if SUFFIXES.contains(&suffix) || exponent {
        Ok(())
    } else {
        Err(format!("unknown suffix {suffix:?}"))
    }
}

/// Go's `time.RFC3339` layout, `2006-01-02T15:04:05Z07:00`, with optional fractional seconds.
fn rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if bytes.len() < 20 || separators.iter().any(|&(at, c)| bytes[at] != c) {
        return false;
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        number(0, 4),
        number(5, 7),
        number(8, 10),
        number(11, 13),
        number(14, 16),
        number(17, 19),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        let digits = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    if rest == "Z" {
        return true;
    }
    let zone = rest.as_bytes();
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    zone.len() == 6
        && matches!(zone[0], b'+' | b'-')
        && zone[3] == b':'
        && digits(&zone[1..3])
        && digits(&zone[4..6])
        && rest[1..3].parse::<u32>().is_ok_and(|h| h < 24)
        && rest[4..6].parse::<u32>().is_ok_and(|m| m < 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(ty: &Ty) -> Fields {
        match ty {
            Object(fields) => fields,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn no_field_is_named_twice() {
        fn walk(ty: &Ty) {
            match ty {
                Object(fields) => {
                    for (i, (name, inner)) in fields.iter().enumerate() {
                        assert!(
                            fields[..i].iter().all(|(other, _)| other != name),
                            "{name} twice"
                        );
                        walk(inner);
                    }
                }
                List(inner) | Map(inner) => walk(inner),
                _ => {}
            }
        }
        walk(&KUBELET);
        walk(&KUBE_PROXY);
        assert!(fields(&KUBELET).len() >= 124);
        assert!(fields(&KUBELET)
            .iter()
            .all(|(n, _)| *n != "podManifestPath"));
    }

    #[test]
    fn durations_are_strings_go_parses() {
        for good in [
            "10s", "1m0s", "1h30m", "1.5h", "300ms", "0", "-5s", "+1us", "2µs",
        ] {
            assert_eq!(Duration.check_leaf(&json!(good)), Ok(()), "{good}");
        }
        for bad in ["10", "ten", "", " 10s", "5d", "--1s", "1.2.3s", "a: 1s"] {
            let err = Duration.check_leaf(&json!(bad)).unwrap_err();
            assert!(err.starts_with("invalid value: string"), "{bad}: {err}");
        }
        assert!(Duration
            .check_leaf(&json!("10"))
            .unwrap_err()
            .ends_with("(missing unit (use h, m, s, ms, us or ns))"));
        let err = Duration.check_leaf(&json!(10)).unwrap_err();
        assert_eq!(
            err,
            "invalid type: integer `10`, expected a duration string such as \"10s\" or \"1m0s\""
        );
        assert!(Duration.check_leaf(&json!(true)).is_err());
        assert!(Duration.check_leaf(&json!("2562048h")).is_err());
    }

    #[test]
    fn flush_frequency_takes_a_duration_or_nanoseconds() {
        assert_eq!(DurationOrNanos.check_leaf(&json!(5)), Ok(()));
        assert_eq!(DurationOrNanos.check_leaf(&json!("5s")), Ok(()));
        assert!(DurationOrNanos.check_leaf(&json!("5")).is_err());
        assert!(DurationOrNanos.check_leaf(&json!(1.5)).is_err());
        assert!(DurationOrNanos.check_leaf(&json!([])).is_err());
    }

    #[test]
    fn integers_are_whole_and_in_range() {
        assert_eq!(Int32.check_leaf(&json!(110)), Ok(()));
        assert_eq!(Int32.check_leaf(&json!(-999)), Ok(()));
        assert_eq!(Int32.check_leaf(&json!(110.0)), Ok(()));
        assert_eq!(
            Int32.check_leaf(&json!("abc")).unwrap_err(),
            "invalid type: string \"abc\", expected a 32-bit integer"
        );
        assert!(Int32
            .check_leaf(&json!(1.5))
            .unwrap_err()
            .starts_with("invalid type: floating point `1.5`"));
        assert!(Int32
            .check_leaf(&json!(3_000_000_000u64))
            .unwrap_err()
            .starts_with("invalid value: integer `3000000000`"));
        assert_eq!(Int64.check_leaf(&json!(3_000_000_000u64)), Ok(()));
        assert!(Int64.check_leaf(&json!(u64::MAX)).is_err());
        assert!(Uint32.check_leaf(&json!(-1)).is_err());
        assert!(Int32.check_leaf(&json!(true)).is_err());
    }

    #[test]
    fn plain_scalars_fill_strings_and_null_is_unset() {
        for value in [json!("x"), json!(4), json!(1.5), json!(true), Value::Null] {
            assert_eq!(Str.check_leaf(&value), Ok(()), "{value}");
        }
        for ty in [Bool, Int32, Duration, Quantity, Time, Float] {
            assert_eq!(ty.check_leaf(&Value::Null), Ok(()));
        }
        assert!(Bool.check_leaf(&json!("true")).is_err());
        assert!(Float.check_leaf(&json!("0.9")).is_err());
        assert!(Str.check_leaf(&json!([])).is_err());
    }

    #[test]
    fn quantities_and_times() {
        for good in ["1Gi", "100Mi", "500m", "1.5", "2e3", "-1k", "+3E-2"] {
            assert_eq!(quantity(good), Ok(()), "{good}");
        }
        for bad in ["", "Gi", "1GB", "1..5", "lots", "1e"] {
            assert!(quantity(bad).is_err(), "{bad}");
        }
        assert_eq!(Quantity.check_leaf(&json!(1024)), Ok(()));
        assert!(Quantity.check_leaf(&json!(true)).is_err());
        for good in [
            "2024-02-29T10:00:00Z",
            "2024-01-02T15:04:05.123+02:00",
            "2024-01-02T15:04:05-07:30",
        ] {
            assert!(rfc3339(good), "{good}");
        }
        for bad in [
            "2023-02-29T10:00:00Z",
            "2024-01-02 15:04:05Z",
            "2024-01-02T15:04:05",
            "2024-13-02T15:04:05Z",
            "2024-01-02T15:04:05.Z",
            "2024-01-02T15:04:05+0200",
            "yesterday",
        ] {
            assert!(!rfc3339(bad), "{bad}");
        }
    }
}
