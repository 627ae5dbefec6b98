//! A small client of the collector's read API, used by the CLI and the quickstart.

use serde_json::Value;

/// Reads from a running collector.
///
/// ```no_run
/// # async fn demo() -> Result<(), String> {
/// let client = telemetry_collector::client::Client::new("http://127.0.0.1:4318", None);
/// let stats = client.get("/v1/stats", &[]).await?;
/// println!("{} events stored", stats["stored"]["events"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the collector at `base` (e.g. `http://127.0.0.1:4318`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// `GET {base}{path}?{query}` as JSON; a non-2xx answer is an error with its message.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url).query(query), &url).await
    }

    /// `POST {base}{path}` without a body, as JSON (e.g. `/v1/rejected/replay`).
    pub async fn post(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url), &url).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder, url: &str) -> Result<Value, String> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{url} answered {status} with a body that is not JSON: {e}"))?;
        if !status.is_success() {
            let why = body.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            return Err(format!("{url} answered {status}: {why}"));
        }
        Ok(body)
    }
}
