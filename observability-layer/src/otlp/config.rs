//! Where the OTLP exporter sends and what it says about the service: the
//! standard `OTEL_*` variables, or the builder's equivalents.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` | the full URL logs are posted to, used as is |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL; `/v1/logs` is appended |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_LOGS_HEADERS` | `k=v,k2=v2`, percent-decoded; the second wins for a key in both |
//! | `OTEL_SERVICE_NAME` | `service.name` (wins over the one in the attributes) |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2`, percent-decoded: resource attributes |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` | only `http/protobuf` (the default) is accepted |
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE` | a PEM file of root certificates trusted for an `https://` endpoint besides the Mozilla roots; the second wins |
//!
//! Header values are credentials: they are never logged, never in an error
//! message, never stored; `Debug` shows their names only.

use std::fmt;
use std::sync::Arc;

use hyper::Uri;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;

use super::error::OtlpSettingError;
use super::tls;

type BuildError = OtlpSettingError;

/// The OTLP exporter's configuration, as set; checked by [`OtlpSettings::resolve`].
#[derive(Clone, Default)]
pub(crate) struct OtlpSettings {
    /// The collector's base URL (`/v1/logs` appended).
    pub endpoint: Option<String>,
    /// The logs URL, used as is (wins over `endpoint`).
    pub logs_endpoint: Option<String>,
    pub headers: Vec<(String, String)>,
    pub service_name: Option<String>,
    pub resource: Vec<(String, String)>,
    /// The PEM file named by `OTEL_EXPORTER_OTLP_(LOGS_)CERTIFICATE`, and the variable.
    pub certificate_file: Option<(&'static str, String)>,
    /// PEM texts given to the builder (`otlp_root_certificates`).
    pub certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpSettings")
            .field("endpoint", &self.endpoint)
            .field("logs_endpoint", &self.logs_endpoint)
            .field("headers", &header_names)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("certificate_file", &self.certificate_file)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// A checked configuration, ready for the exporter.
#[derive(Clone)]
pub(crate) struct OtlpTarget {
    /// `http(s)://host:port/path`.
    pub uri: Uri,
    /// `host:port` (the scheme's port when the URL has none), for the connection.
    pub authority: String,
    /// For `https://`: the TLS configuration and the name the certificate must bear.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// Resource attributes, `service.name` included.
    pub resource: Vec<(String, String)>,
}

impl OtlpSettings {
    /// Whether an endpoint is set (the exporter is on).
    pub(crate) fn enabled(&self) -> bool {
        self.endpoint.is_some() || self.logs_endpoint.is_some()
    }

    /// Applies the `OTEL_*` variables that are set.
    pub(crate) fn apply_env(
        &mut self,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), BuildError> {
        let set = |name| var(name).filter(|v: &String| !v.trim().is_empty());
        if let Some(url) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.endpoint = Some(url.trim().to_owned());
        }
        if let Some(url) = set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") {
            self.logs_endpoint = Some(url.trim().to_owned());
        }
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            if let Some(list) = set(name) {
                for (key, value) in parse_pairs(name, &list)? {
                    upsert(&mut self.headers, key, value);
                }
            }
        }
        if let Some(list) = set("OTEL_RESOURCE_ATTRIBUTES") {
            for (key, value) in parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &list)? {
                upsert(&mut self.resource, key, value);
            }
        }
        for name in [
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        ] {
            if let Some(path) = set(name) {
                self.certificate_file = Some((name, path.trim().to_owned()));
            }
        }
        if let Some(name) = set("OTEL_SERVICE_NAME") {
            self.service_name = Some(name.trim().to_owned());
        }
        // Only http/protobuf is spoken: a collector expecting gRPC or JSON
        // would refuse every request, better said at start.
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        ] {
            if let Some(protocol) = set(name) {
                if protocol.trim() != "http/protobuf" {
                    return Err(OtlpSettingError {
                        name,
                        reason: format!("{protocol:?} is not supported, only \"http/protobuf\""),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks the endpoint and headers; `default_service` names the service
    /// when neither `OTEL_SERVICE_NAME` nor a `service.name` attribute does.
    pub(crate) fn resolve(&self, default_service: &str) -> Result<Option<OtlpTarget>, BuildError> {
        let (name, url) = match (&self.logs_endpoint, &self.endpoint) {
            (Some(url), _) => ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", url.clone()),
            (None, Some(base)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/logs", base.trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        let invalid = |reason: &str| OtlpSettingError {
            name,
            reason: format!("{reason} (got {url:?})"),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("the URL must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host();
        let authority = match authority.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => format!("{host}:{}", if https { 443 } else { 80 }),
        };
        let tls = match https {
            false => None,
            true => {
                // `[::1]` in a URL, `::1` in a certificate.
                let name = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(name.to_owned())
                    .map_err(|_| invalid("the host is not a valid TLS server name"))?;
                Some((tls::client_config(&self.root_certificates()?)?, name))
            }
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (key, value) in &self.headers {
            // The value is never shown: it is a credential.
            let header = hyper::header::HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                OtlpSettingError {
                    name: "OTEL_EXPORTER_OTLP_HEADERS",
                    reason: format!("{key:?} is not a header name"),
                }
            })?;
            let mut value =
                hyper::header::HeaderValue::from_str(value).map_err(|_| OtlpSettingError {
                    name: "OTEL_EXPORTER_OTLP_HEADERS",
                    reason: format!("the value of {key:?} is not a valid header value"),
                })?;
            value.set_sensitive(true);
            headers.push((header, value));
        }
        let mut resource = self.resource.clone();
        if let Some(service) = &self.service_name {
            upsert(&mut resource, "service.name".into(), service.clone());
        } else if !resource.iter().any(|(k, _)| k == "service.name") {
            resource.insert(0, ("service.name".into(), default_service.to_owned()));
        }
        Ok(Some(OtlpTarget {
            uri,
            authority,
            tls,
            headers,
            resource,
        }))
    }
}

impl OtlpSettings {
    /// The extra root certificates as PEM texts, each with where it came from.
    fn root_certificates(&self) -> Result<Vec<(&'static str, Vec<u8>)>, BuildError> {
        let mut texts = Vec::new();
        if let Some((name, path)) = &self.certificate_file {
            let text = std::fs::read(path).map_err(|e| OtlpSettingError {
                name,
                reason: format!("cannot read {path:?}: {e}"),
            })?;
            texts.push((*name, text));
        }
        for text in &self.certificates {
            texts.push(("otlp_root_certificates", text.clone()));
        }
        Ok(texts)
    }
}

fn upsert(list: &mut Vec<(String, String)>, key: String, value: String) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

/// `k=v,k2=v2` with percent-encoded keys and values (the W3C baggage form
/// the OpenTelemetry specification uses for these variables). The error
/// names the variable and the item's position, never its value.
fn parse_pairs(name: &'static str, list: &str) -> Result<Vec<(String, String)>, BuildError> {
    let mut pairs = Vec::new();
    for (index, item) in list.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| OtlpSettingError {
            name,
            reason: format!("item {} {reason}", index + 1),
        };
        let (key, value) = item.split_once('=').ok_or_else(|| bad("has no `=`"))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s.trim())
                .decode_utf8()
                .map(|s| s.into_owned())
        };
        let key = decode(key).map_err(|_| bad("has a key that is not UTF-8"))?;
        let value = decode(value).map_err(|_| bad("has a value that is not UTF-8"))?;
        if key.is_empty() {
            return Err(bad("has an empty key"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<OtlpSettings, BuildError> {
        let mut s = OtlpSettings::default();
        s.apply_env(&env(pairs))?;
        Ok(s)
    }

    #[test]
    fn the_base_endpoint_gets_the_logs_path_and_the_logs_endpoint_is_used_as_is() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]).unwrap();
        let t = s.resolve("svc").unwrap().unwrap();
        assert_eq!(t.uri.to_string(), "http://127.0.0.1:4318/v1/logs");
        assert_eq!(t.authority, "127.0.0.1:4318");
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://collector/custom/logs",
            ),
        ])
        .unwrap();
        let t = s.resolve("svc").unwrap().unwrap();
        assert_eq!(t.uri.to_string(), "http://collector/custom/logs");
        assert_eq!(t.authority, "collector:80");
        assert!(settings(&[]).unwrap().resolve("svc").unwrap().is_none());
    }

    #[test]
    fn an_https_endpoint_gets_tls_and_port_443_and_bad_root_files_are_named() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example")]).unwrap();
        let t = s.resolve("svc").unwrap().unwrap();
        assert_eq!(t.authority, "collector.example:443");
        let (_, name) = t.tls.expect("tls for https");
        assert_eq!(name.to_str(), "collector.example");
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector")]).unwrap();
        assert!(s.resolve("svc").unwrap().unwrap().tls.is_none());

        let missing = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        ])
        .unwrap()
        .resolve("svc")
        .err()
        .unwrap()
        .to_string();
        assert!(
            missing.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && missing.contains("ca.pem"),
            "{missing}"
        );
        let mut s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector")]).unwrap();
        s.certificates.push(b"not a certificate".to_vec());
        let empty = s.resolve("svc").err().unwrap().to_string();
        assert!(
            empty.contains("otlp_root_certificates") && empty.contains("no PEM certificate"),
            "{empty}"
        );
    }

    #[test]
    fn headers_and_resource_attributes_are_percent_decoded() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Basic%20cGs6c2s%3D, x-tenant = acme ,",
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-tenant=logs-team"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=staging,service.name=from-attrs,team=a%2Cb",
            ),
            ("OTEL_SERVICE_NAME", "checkout"),
        ])
        .unwrap();
        assert_eq!(
            s.headers,
            [
                ("Authorization".into(), "Basic cGs6c2s=".into()),
                ("x-tenant".into(), "logs-team".into())
            ]
        );
        let t = s.resolve("svc").unwrap().unwrap();
        assert_eq!(
            t.resource,
            [
                ("deployment.environment".to_owned(), "staging".to_owned()),
                ("service.name".into(), "checkout".into()),
                ("team".into(), "a,b".into()),
            ]
        );
        assert!(t.headers.iter().all(|(_, v)| v.is_sensitive()));
        // Debug shows header names, never values.
        let shown = format!("{s:?}");
        assert!(
            shown.contains("Authorization") && !shown.contains("cGs6"),
            "{shown}"
        );
        // Without a service name anywhere, the default one.
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]).unwrap();
        let t = s.resolve("phase1_reply_runner").unwrap().unwrap();
        assert_eq!(
            t.resource,
            [("service.name".to_owned(), "phase1_reply_runner".to_owned())]
        );
    }

    #[test]
    fn bad_values_are_named_without_showing_header_values() {
        let err = settings(&[("OTEL_EXPORTER_OTLP_HEADERS", "a=1,secret-token-no-equals")])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_HEADERS") && err.contains("item 2"),
            "{err}"
        );
        assert!(!err.contains("secret-token"), "{err}");
        let bad_value = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=tok%0Aen"),
        ])
        .unwrap()
        .resolve("svc")
        .err()
        .unwrap()
        .to_string();
        assert!(
            bad_value.contains("authorization") && !bad_value.contains("tok"),
            "{bad_value}"
        );
        let grpc = settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .err()
            .unwrap()
            .to_string();
        assert!(
            grpc.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && grpc.contains("http/protobuf"),
            "{grpc}"
        );
        assert!(settings(&[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf")]).is_ok());
        for (url, why) in [("ftp://collector:21", "http://"), ("http://", "URL")] {
            let err = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", url)])
                .unwrap()
                .resolve("svc")
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && err.contains(why),
                "{url}: {err}"
            );
        }
    }
}
