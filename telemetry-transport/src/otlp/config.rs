//! The OTLP exporter settings every OpenTelemetry SDK reads
//! (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), and
//! Logfire's preset. Parsed here once; the logs lane (`otlp::logs`) and the span
//! exporter (`telemetry-otel`) both take the resolved [`OtlpEndpoints`].

use std::time::Duration;

use crate::config::ConfigError;

/// How OTLP/HTTP bodies are encoded (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf` (the default): `application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: `application/json`, OTLP's JSON mapping (hex ids,
    /// lowerCamelCase keys, 64-bit integers as strings).
    HttpJson,
}

impl OtlpProtocol {
    /// The `Content-Type` of a body in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "application/x-protobuf",
            OtlpProtocol::HttpJson => "application/json",
        }
    }
}

/// What the builder (or the environment) said about OTLP; resolved by
/// [`OtlpSettings::resolve`].
#[derive(Debug, Clone, Default)]
pub(crate) struct OtlpSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the base URL, `/v1/<signal>` appended.
    pub base: Option<String>,
    /// `OTEL_EXPORTER_OTLP_{LOGS,TRACES,METRICS}_ENDPOINT`: used as given.
    pub logs: Option<String>,
    pub traces: Option<String>,
    pub metrics: Option<String>,
    pub headers: Vec<(String, String)>,
    pub gzip: Option<bool>,
    pub timeout: Option<Duration>,
    pub protocol: OtlpProtocol,
    pub resource: Vec<(String, String)>,
    /// Events as OTLP logs when an endpoint is known (default `true`).
    pub send_events: Option<bool>,
    /// Spans over OTLP (`.otlp_traces(true)` / `TELEMETRY_OTLP_TRACES`).
    pub send_traces: bool,
    /// `.logfire(token)` / `LOGFIRE_TOKEN`.
    pub logfire_token: Option<String>,
}

/// Where OTLP goes, and how: the settings, checked.
#[derive(Debug, Clone)]
pub struct OtlpEndpoints {
    /// Where events go as log records (`None`: not sent as logs).
    pub logs: Option<url::Url>,
    /// Where spans go.
    pub traces: url::Url,
    /// Where metrics go.
    pub metrics: url::Url,
    /// Sent with every request (`OTEL_EXPORTER_OTLP_HEADERS`, Logfire's `Authorization`).
    pub headers: Vec<(String, String)>,
    /// `Content-Encoding: gzip`.
    pub gzip: bool,
    /// Per request (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    pub timeout: Duration,
    /// `http/protobuf` or `http/json`.
    pub protocol: OtlpProtocol,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order (`service.name` is the pipeline's service).
    pub resource: Vec<(String, String)>,
    /// Whether spans are exported ([`crate::PipelineBuilder::otlp_traces`]).
    pub traces_on: bool,
}

/// Logfire's OTLP ingest for a write token: `pylf_v{n}_{region}_...` names the
/// region (`us`, `eu`); any other token (or region) goes to the US one.
///
/// ```
/// use telemetry_transport::logfire_base_url;
/// assert_eq!(logfire_base_url("pylf_v1_eu_abc"), "https://logfire-eu.pydantic.dev");
/// assert_eq!(logfire_base_url("pylf_v1_us_abc"), "https://logfire-us.pydantic.dev");
/// assert_eq!(logfire_base_url("legacy-token"), "https://logfire-us.pydantic.dev");
/// ```
pub fn logfire_base_url(token: &str) -> String {
    let mut parts = token.split('_');
    let region = match (parts.next(), parts.next(), parts.next()) {
        // The regions Logfire has; a token naming another is sent to the US one.
        (Some("pylf"), Some(v), Some(region @ ("us" | "eu"))) if v.starts_with('v') => region,
        _ => "us",
    };
    format!("https://logfire-{region}.pydantic.dev")
}

impl OtlpSettings {
    /// Whether anything OTLP is configured.
    pub fn any(&self) -> bool {
        self.base.is_some() || self.logs.is_some() || self.logfire_token.is_some() || self.send_traces
    }

    /// Reads the standard variables (and `TELEMETRY_OTLP_TRACES`,
    /// `TELEMETRY_OTLP_LOGS`, `LOGFIRE_TOKEN`) on top of these settings.
    pub fn with_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.base = Some(v);
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") {
            self.logs = Some(v);
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            self.traces = Some(v);
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            self.metrics = Some(v);
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_HEADERS") {
            self.headers.extend(parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", &v)?);
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_COMPRESSION") {
            self.gzip = Some(match v.trim() {
                "gzip" => true,
                "none" => false,
                _ => return Err(bad("OTEL_EXPORTER_OTLP_COMPRESSION", &v, "gzip or none")),
            });
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_TIMEOUT") {
            let ms: u64 = v
                .trim()
                .parse()
                .map_err(|_| bad("OTEL_EXPORTER_OTLP_TIMEOUT", &v, "a whole number of milliseconds"))?;
            if ms == 0 {
                return Err(bad(
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                    &v,
                    "a whole number of milliseconds above 0",
                ));
            }
            self.timeout = Some(Duration::from_millis(ms));
        }
        if let Some(v) = set("OTEL_EXPORTER_OTLP_PROTOCOL") {
            self.protocol = match v.trim() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "http/json" => OtlpProtocol::HttpJson,
                _ => {
                    return Err(bad(
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                        &v,
                        "http/protobuf or http/json (grpc is not supported: an OTLP/HTTP endpoint, port 4318, takes either)",
                    ))
                }
            };
        }
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            self.resource.extend(parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?);
        }
        if let Some(v) = set("TELEMETRY_OTLP_TRACES") {
            self.send_traces = crate::config::parse_bool("TELEMETRY_OTLP_TRACES", &v)?;
        }
        if let Some(v) = set("TELEMETRY_OTLP_LOGS") {
            self.send_events = Some(crate::config::parse_bool("TELEMETRY_OTLP_LOGS", &v)?);
        }
        if let Some(v) = set("LOGFIRE_TOKEN") {
            self.logfire_token = Some(v.trim().to_string());
            // The preset sends spans too, as `.logfire(token)` does, unless told otherwise.
            if set("TELEMETRY_OTLP_TRACES").is_none() {
                self.send_traces = true;
            }
        }
        Ok(())
    }

    /// The endpoints and options, checked; `None` when nothing OTLP is configured.
    pub fn resolve(&self) -> Result<Option<OtlpEndpoints>, ConfigError> {
        if !self.any() {
            return Ok(None);
        }
        let mut headers = self.headers.clone();
        if let Some(token) = &self.logfire_token {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
                headers.push(("Authorization".into(), token.trim().to_string()));
            }
        }
        for (name, value) in &headers {
            let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(bad(
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    &format!("{name}={value}"),
                    "header names of letters, digits and `-`, and values of visible ASCII",
                ));
            }
        }
        let base = match (&self.base, &self.logfire_token) {
            (Some(base), _) => Some(base.clone()),
            (None, Some(token)) => Some(logfire_base_url(token)),
            (None, None) => None,
        };
        if let Some(base) = &base {
            parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
        }
        let signal = |given: &Option<String>, var: &'static str, path: &str| -> Result<Option<url::Url>, ConfigError> {
            match (given, &base) {
                (Some(url), _) => parse_url(var, url).map(Some),
                (None, Some(base)) => {
                    let joined = format!("{}/{path}", base.trim_end_matches('/'));
                    parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", &joined).map(Some)
                }
                (None, None) => Ok(None),
            }
        };
        let logs = signal(&self.logs, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "v1/logs")?;
        let traces = signal(&self.traces, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "v1/traces")?;
        let metrics = signal(&self.metrics, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "v1/metrics")?;
        let Some(traces) = traces.or_else(|| logs.as_ref().map(|l| sibling(l, "v1/traces"))) else {
            return Err(ConfigError::BadEnv {
                var: "OTEL_EXPORTER_OTLP_ENDPOINT",
                value: String::new(),
                expected: "an OTLP/HTTP base URL such as http://127.0.0.1:4318 (spans over OTLP were asked for, \
                           with .otlp_traces(true) or TELEMETRY_OTLP_TRACES, but no endpoint was given)",
            });
        };
        let metrics = metrics.unwrap_or_else(|| sibling(&traces, "v1/metrics"));
        Ok(Some(OtlpEndpoints {
            logs: logs.filter(|_| self.send_events.unwrap_or(true)),
            traces,
            metrics,
            headers,
            gzip: self.gzip.unwrap_or(false),
            timeout: self.timeout.unwrap_or(Duration::from_secs(10)),
            protocol: self.protocol,
            resource: self.resource.clone(),
            traces_on: self.send_traces,
        }))
    }
}

/// `url` with its last path segments replaced by `path` (`.../v1/logs` -> `.../v1/traces`).
fn sibling(url: &url::Url, path: &str) -> url::Url {
    let mut out = url.clone();
    let current = out.path().to_string();
    let prefix = current
        .strip_suffix("v1/logs")
        .or_else(|| current.strip_suffix("v1/traces"))
        .unwrap_or("/");
    out.set_path(&format!(
        "{}{path}",
        if prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        }
    ));
    out
}

fn parse_url(var: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    match url::Url::parse(value.trim()) {
        Ok(url) if (url.scheme() == "http" || url.scheme() == "https") && url.host().is_some() => Ok(url),
        _ => Err(bad(var, value, "an http:// or https:// URL with a host")),
    }
}

fn bad(var: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::BadEnv {
        var,
        value: value.into(),
        expected,
    }
}

/// `k=v,k2=v2`, each side percent-decoded and trimmed (the W3C baggage-like
/// format the OpenTelemetry specification gives both variables).
pub(crate) fn parse_pairs(var: &'static str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s.trim())
            .decode_utf8()
            .map(|c| c.into_owned())
    };
    let mut pairs = Vec::new();
    for item in value.split(',').filter(|i| !i.trim().is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(bad(var, value, "comma-separated key=value pairs (an entry has no `=`)"));
        };
        let (Ok(k), Ok(v)) = (decode(k), decode(v)) else {
            return Err(bad(
                var,
                value,
                "key=value pairs whose percent-encoding decodes to UTF-8",
            ));
        };
        if k.is_empty() {
            return Err(bad(var, value, "key=value pairs with non-empty keys"));
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Option<OtlpEndpoints>, ConfigError> {
        let mut settings = OtlpSettings::default();
        let get = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        settings.with_env(&get)?;
        settings.resolve()
    }

    #[test]
    fn the_base_endpoint_gets_each_signal_path_and_per_signal_ones_are_used_as_given() {
        let e = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(e.logs.unwrap().as_str(), "http://otel:4318/v1/logs");
        assert_eq!(e.traces.as_str(), "http://otel:4318/v1/traces");
        assert_eq!(e.metrics.as_str(), "http://otel:4318/v1/metrics");
        let e = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/prefix"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:9999/custom"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.logs.unwrap().as_str(), "http://otel:4318/prefix/v1/logs");
        assert_eq!(e.traces.as_str(), "http://tempo:9999/custom");
        let e = from(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://h:1/x/v1/logs")])
            .unwrap()
            .unwrap();
        assert_eq!(e.traces.as_str(), "http://h:1/x/v1/traces");
        assert!(from(&[]).unwrap().is_none());
    }

    #[test]
    fn headers_resource_timeout_compression_and_protocol_parse() {
        let e = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b%3Dc, x-team = core"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=a%2Cb"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            e.headers,
            [
                ("api-key".to_string(), "a b=c".to_string()),
                ("x-team".into(), "core".into())
            ]
        );
        assert_eq!(
            e.resource,
            [
                ("deployment.environment".to_string(), "prod".to_string()),
                ("team".into(), "a,b".into())
            ]
        );
        assert_eq!(
            (e.timeout, e.gzip, e.protocol),
            (Duration::from_millis(2500), true, OtlpProtocol::HttpJson)
        );
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318");
        for (pair, expected) in [
            (
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
                "OTEL_EXPORTER_OTLP_ENDPOINT=\"not a url\"",
            ),
            (
                ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
                "OTEL_EXPORTER_OTLP_HEADERS=\"novalue\"",
            ),
            (
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
                "OTEL_EXPORTER_OTLP_TIMEOUT=\"10s\"",
            ),
            (
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
                "OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\"",
            ),
            (("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "grpc is not supported"),
            (("OTEL_RESOURCE_ATTRIBUTES", "=x"), "OTEL_RESOURCE_ATTRIBUTES=\"=x\""),
            (
                ("OTEL_EXPORTER_OTLP_HEADERS", "bad name=1"),
                "OTEL_EXPORTER_OTLP_HEADERS=\"bad name=1\"",
            ),
            (
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "ftp://h/x"),
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            ),
            (("TELEMETRY_OTLP_TRACES", "sure"), "TELEMETRY_OTLP_TRACES=\"sure\""),
        ] {
            let message = from(&[pair, base]).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} should mention {expected:?}");
        }
        let message = from(&[("TELEMETRY_OTLP_TRACES", "1")]).unwrap_err().to_string();
        assert!(message.contains("no endpoint was given"), "{message}");
    }

    #[test]
    fn logfire_token_picks_the_region_and_the_authorization_header() {
        let e = from(&[("LOGFIRE_TOKEN", "pylf_v1_eu_secret")]).unwrap().unwrap();
        assert_eq!(e.logs.unwrap().as_str(), "https://logfire-eu.pydantic.dev/v1/logs");
        assert_eq!(e.traces.as_str(), "https://logfire-eu.pydantic.dev/v1/traces");
        assert_eq!(
            e.headers,
            [("Authorization".to_string(), "pylf_v1_eu_secret".to_string())]
        );
        let e = from(&[("LOGFIRE_TOKEN", "pylf_v2_us_x")]).unwrap().unwrap();
        assert_eq!(e.traces.host_str(), Some("logfire-us.pydantic.dev"));
        let e = from(&[("LOGFIRE_TOKEN", "old-style\n")]).unwrap().unwrap();
        assert_eq!(e.traces.host_str(), Some("logfire-us.pydantic.dev"));
        assert_eq!(e.headers, [("Authorization".to_string(), "old-style".to_string())]);
        assert!(e.traces_on, "the preset turns spans on");
        let e = from(&[("LOGFIRE_TOKEN", "pylf_v1_mars_x")]).unwrap().unwrap();
        assert_eq!(
            e.traces.host_str(),
            Some("logfire-us.pydantic.dev"),
            "an unknown region"
        );
        let e = from(&[("LOGFIRE_TOKEN", "pylf_v1_eu_x"), ("TELEMETRY_OTLP_TRACES", "false")])
            .unwrap()
            .unwrap();
        assert!(!e.traces_on, "unless told otherwise");
        // An explicit endpoint wins (a test server, a proxy); the header still goes.
        let e = from(&[
            ("LOGFIRE_TOKEN", "pylf_v1_eu_s"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.traces.as_str(), "http://127.0.0.1:9/v1/traces");
        assert_eq!(e.headers.len(), 1);
    }

    #[test]
    fn events_as_logs_can_be_turned_off_keeping_traces() {
        let e = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318"),
            ("TELEMETRY_OTLP_LOGS", "false"),
            ("TELEMETRY_OTLP_TRACES", "true"),
        ])
        .unwrap()
        .unwrap();
        assert!(e.logs.is_none() && e.traces_on);
    }
}
