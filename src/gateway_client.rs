//! What a command that talks to a gateway needs: its endpoint and an
//! access key, given as options (or the usual `AWS_*` variables), or read
//! from `./devnet/devnet.json` when a devnet runs there.

use std::path::PathBuf;

use anyhow::Context;

/// The options naming a gateway and the key to use with it.
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// The gateway's S3 endpoint; default: the devnet's in --dir.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Access key id; default: the devnet's.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: Option<String>,
    /// Secret key; default: the devnet's.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// A devnet directory whose devnet.json gives what is not given.
    #[arg(long, default_value = "./devnet")]
    pub dir: PathBuf,
}

/// A gateway endpoint and a key, resolved.
#[derive(Debug, Clone)]
pub struct GatewayLogin {
    /// The S3 endpoint URL.
    pub endpoint: String,
    /// The access key id.
    pub access_key: String,
    /// Its secret.
    pub secret_key: String,
}

/// What `devnet.json` offers a client: endpoint, access key, secret.
fn devnet_defaults(dir: &std::path::Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("devnet.json")).ok()?;
    let info: serde_json::Value = serde_json::from_str(&text).ok()?;
    let field = |name: &str| info[name].as_str().map(str::to_owned);
    Some((
        field("s3_endpoint")?,
        field("access_key")?,
        field("secret_key")?,
    ))
}

impl GatewayArgs {
    /// The endpoint and key: as given, else the devnet's.
    pub fn resolve(self) -> anyhow::Result<GatewayLogin> {
        let devnet = devnet_defaults(&self.dir);
        let pick = |given: Option<String>,
                    from: fn(&(String, String, String)) -> &String,
                    what: &str| {
            given
                .or_else(|| devnet.as_ref().map(|d| from(d).clone()))
                .with_context(|| format!("no {what}: give it, or run in a directory with a devnet"))
        };
        Ok(GatewayLogin {
            endpoint: pick(self.endpoint, |d| &d.0, "--endpoint")?,
            access_key: pick(self.access_key, |d| &d.1, "access key (AWS_ACCESS_KEY_ID)")?,
            secret_key: pick(
                self.secret_key,
                |d| &d.2,
                "secret key (AWS_SECRET_ACCESS_KEY)",
            )?,
        })
    }
}
