//! `cairn pin add|ls|rm|token`: pins content on a gateway through its
//! IPFS Pinning Service API (`/pins`, a Bearer token tied to the access
//! key), so that the gateway keeps, audits and repairs it as its own.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

use crate::gateway_client::{GatewayArgs, GatewayLogin};
use crate::status_cmd::request_with;

/// `cairn pin` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PinCommand {
    /// Ask the gateway to pin a CID.
    Add {
        /// The content id (bafkr4i...).
        cid: String,
        /// A name for the pin.
        #[arg(long)]
        name: Option<String>,
        /// Wait until the pin is pinned (or failed).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// List this key's pins.
    Ls {
        /// Only these statuses (comma-separated: queued, pinning, pinned,
        /// failed); default: all.
        #[arg(long)]
        status: Option<String>,
        /// Only pins of this CID.
        #[arg(long)]
        cid: Option<String>,
        /// At most this many (newest first).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Print the gateway's JSON answer instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Remove pins, by request id or by CID (every pin of it).
    Rm {
        /// Request ids or CIDs.
        #[arg(required = true)]
        what: Vec<String>,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Print the Bearer token of the access key, for pinning clients
    /// (e.g. `ipfs pin remote service add cairn URL TOKEN`).
    Token {
        #[command(flatten)]
        gateway: GatewayArgs,
    },
}

/// How long one request to the pinning API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Talks to one gateway's pinning API.
struct PinClient {
    base: String,
    token: String,
}

impl PinClient {
    fn new(login: GatewayLogin) -> Self {
        Self {
            base: login.endpoint.trim_end_matches('/').to_owned(),
            token: s3_gateway::pins::token::make(&login.access_key, &login.secret_key),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| Bytes::from(serde_json::to_vec(&b).expect("serializable")));
        let sent = request_with(&url, method, Some(&self.token), body);
        let (status, answer) = tokio::time::timeout(REQUEST_TIMEOUT, sent)
            .await
            .map_err(|_| anyhow::anyhow!("{method} {url}: no answer in {REQUEST_TIMEOUT:?}"))??;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&answer);
            let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer).ok();
            let reason = parsed
                .as_ref()
                .and_then(|v| v["error"]["details"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.into_owned());
            anyhow::bail!("{method} {path}: {status}: {reason}");
        }
        if answer.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer)
            .with_context(|| format!("reading the answer to {method} {path}"))
    }

    async fn list(&self, query: &str) -> anyhow::Result<serde_json::Value> {
        self.call("GET", &format!("/pins?{query}"), None).await
    }
}

const ALL: &str = "queued,pinning,pinned,failed";

/// Runs a `cairn pin` subcommand.
pub async fn run(command: PinCommand) -> anyhow::Result<ExitCode> {
    match command {
        PinCommand::Add {
            cid,
            name,
            wait,
            timeout,
            gateway,
        } => {
            let client = PinClient::new(gateway.resolve()?);
            let mut pin = serde_json::json!({ "cid": cid });
            if let Some(name) = name {
                pin["name"] = name.into();
            }
            let status = client.call("POST", "/pins", Some(pin)).await?;
            let id = status["requestid"]
                .as_str()
                .context("the answer names no request id")?
                .to_owned();
            println!("{id}");
            if !wait {
                eprintln!("pin {id} of {cid}: {}", status["status"]);
                return Ok(ExitCode::SUCCESS);
            }
            let deadline = Instant::now() + timeout;
            loop {
                let status = client.call("GET", &format!("/pins/{id}"), None).await?;
                match status["status"].as_str() {
                    Some("pinned") => {
                        eprintln!("pin {id} of {cid}: pinned");
                        return Ok(ExitCode::SUCCESS);
                    }
                    Some("failed") => {
                        eprintln!("pin {id} of {cid}: failed: {}", status["info"]["reason"]);
                        return Ok(ExitCode::FAILURE);
                    }
                    _ if Instant::now() >= deadline => {
                        anyhow::bail!(
                            "pin {id} of {cid} is still {} after {timeout:?}",
                            status["status"]
                        );
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        }
        PinCommand::Ls {
            status,
            cid,
            limit,
            json,
            gateway,
        } => {
            let client = PinClient::new(gateway.resolve()?);
            let mut query = format!("limit={limit}&status={}", status.as_deref().unwrap_or(ALL));
            if let Some(cid) = cid {
                query.push_str(&format!("&cid={cid}"));
            }
            let answer = client.list(&query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", render(&answer));
            Ok(ExitCode::SUCCESS)
        }
        PinCommand::Rm { what, gateway } => {
            let client = PinClient::new(gateway.resolve()?);
            let mut failed = false;
            for item in what {
                let ids: Vec<String> = if item.starts_with("baf") {
                    let answer = client
                        .list(&format!("limit=1000&status={ALL}&cid={item}"))
                        .await?;
                    answer["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["requestid"].as_str().map(str::to_owned))
                        .collect()
                } else {
                    vec![item.clone()]
                };
                if ids.is_empty() {
                    eprintln!("no pin of {item}");
                    failed = true;
                }
                for id in ids {
                    match client.call("DELETE", &format!("/pins/{id}"), None).await {
                        Ok(_) => eprintln!("removed pin {id}"),
                        Err(e) => {
                            eprintln!("{e:#}");
                            failed = true;
                        }
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        PinCommand::Token { gateway } => {
            let login = gateway.resolve()?;
            println!(
                "{}",
                s3_gateway::pins::token::make(&login.access_key, &login.secret_key)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The pins of a `GET /pins` answer as a table.
fn render(answer: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<8} {:<24} {:<60} NAME",
        "REQUESTID", "STATUS", "CREATED", "CID"
    );
    for r in answer["results"].as_array().into_iter().flatten() {
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
        let _ = writeln!(
            out,
            "{:<32} {:<8} {:<24} {:<60} {}",
            text(&r["requestid"]),
            text(&r["status"]),
            text(&r["created"]),
            text(&r["pin"]["cid"]),
            text(&r["pin"]["name"]),
        );
    }
    let _ = writeln!(out, "{} pin(s)", answer["count"]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_render_as_a_table() {
        let answer = serde_json::json!({
            "count": 1,
            "results": [{"requestid": "ab", "status": "pinned", "created": "2026-01-01T00:00:00.000Z",
                         "pin": {"cid": "bafkr4ix"}, "delegates": [], "info": {}}]
        });
        let table = render(&answer);
        assert!(table.contains("ab"), "{table}");
        assert!(table.contains("pinned"));
        assert!(table.contains("bafkr4ix"));
        assert!(table.ends_with("1 pin(s)\n"));
    }
}
