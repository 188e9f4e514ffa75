//! Paystack's verify API: GET {base}/transaction/verify/{reference}.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::payment::{ChargeReport, ChargeStatus};

#[derive(Debug, thiserror::Error)]
pub enum PaystackError {
    #[error("paystack request failed: {0}")]
    Transport(String),
    #[error("paystack answered {status}: {message}")]
    Api { status: u16, message: String },
}

/// What Paystack says about a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Verification {
    pub reference: String,
    /// success | failed | abandoned | ongoing | pending | reversed ...
    pub status: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub gateway_response: Option<String>,
}

impl Verification {
    pub fn report(&self) -> ChargeReport {
        ChargeReport {
            status: ChargeStatus::parse(&self.status),
            amount: Some(self.amount),
            currency: Some(self.currency.clone()),
            gateway_response: self.gateway_response.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: bool,
    #[serde(default)]
    message: String,
    data: Option<Verification>,
}

#[derive(Clone)]
pub struct Paystack {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
}

impl std::fmt::Debug for Paystack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paystack").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Paystack {
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, PaystackError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config()?)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PaystackError::Transport(e.to_string()))?;
        Ok(Paystack { http, base_url: base_url.trim_end_matches('/').to_string(), secret_key: secret_key.to_string() })
    }

    /// `Ok(None)` when Paystack does not know the reference.
    pub async fn verify(&self, reference: &str) -> Result<Option<Verification>, PaystackError> {
        let url = format!("{}/transaction/verify/{}", self.base_url, urlencode(reference));
        let res = self
            .http
            .get(url)
            .bearer_auth(&self.secret_key)
            .send()
            .await
            .map_err(|e| PaystackError::Transport(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let body: Envelope = res.json().await.map_err(|e| PaystackError::Transport(e.without_url().to_string()))?;
        match (status, body.status, body.data) {
            (200, true, Some(v)) => Ok(Some(v)),
            (400 | 404, false, _) if body.message.to_lowercase().contains("not found") => Ok(None),
            (_, _, _) => Err(PaystackError::Api { status, message: body.message }),
        }
    }
}

/// TLS 1.2/1.3 with the aws-lc-rs provider the AWS SDK already links (so no second
/// crypto library in every Lambda) and the Mozilla roots compiled in (no file read
/// at cold start).
fn tls_config() -> Result<rustls::ClientConfig, PaystackError> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PaystackError::Transport(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// References are ours (`pay_<ulid>`), but never trust a path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(super::urlencode("pay_01ab"), "pay_01ab");
        assert_eq!(super::urlencode("a/../b"), "a%2F..%2Fb");
    }

    #[test]
    fn the_client_takes_our_tls_config() {
        // reqwest refuses a config from another rustls version, and panics when
        // built without a provider: this is the cold start's path.
        let client = super::Paystack::new("https://api.paystack.co/", "sk_test_x");
        assert_eq!(client.map(|p| p.base_url).ok().as_deref(), Some("https://api.paystack.co"));
    }
}
