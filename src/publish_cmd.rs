//! `cairn publish s3://BUCKET/KEY`: publishes an object by its content id
//! through a gateway (a signed `POST /BUCKET/KEY?publish`), and prints the
//! CID and where anyone can fetch it.

use std::process::ExitCode;

use anyhow::Context;
use aws_sdk_s3::error::ProvideErrorMetadata;

/// Arguments of `cairn publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The object: s3://BUCKET/KEY.
    object: String,
    #[command(flatten)]
    gateway: crate::gateway_client::GatewayArgs,
    /// Print the gateway's JSON answer instead.
    #[arg(long)]
    json: bool,
}

/// Splits `s3://bucket/key`.
fn parse_object(text: &str) -> anyhow::Result<(String, String)> {
    let rest = text
        .strip_prefix("s3://")
        .context("the object is named s3://BUCKET/KEY")?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_owned(), key.to_owned()))
        }
        _ => anyhow::bail!("the object is named s3://BUCKET/KEY"),
    }
}

/// Runs `cairn publish`.
pub async fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let (bucket, key) = parse_object(&args.object)?;
    let login = args.gateway.resolve()?;
    let endpoint = login.endpoint;
    let (access, secret) = (login.access_key, login.secret_key);
    let creds = aws_sdk_s3::config::Credentials::new(access, secret, None, None, "cairn");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    // A GetObject request turned into `POST ...?publish` before it is
    // signed: the SDK signs it and reads the answer (or the S3 error).
    let answer = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .customize()
        .mutate_request(|req| {
            req.set_method("POST").expect("POST is a method");
            let uri = req.uri().split('?').next().unwrap_or_default().to_owned();
            req.set_uri(format!("{uri}?publish")).expect("a valid URI");
        })
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let code = e.code().unwrap_or("error").to_owned();
            let message = e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{e:?}"));
            anyhow::bail!("publishing s3://{bucket}/{key}: {code}: {message}");
        }
    };
    let body = answer.body.collect().await.context("reading the answer")?;
    let text = String::from_utf8_lossy(&body.into_bytes()).into_owned();
    if args.json {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let published: serde_json::Value = serde_json::from_str(&text).context("reading the answer")?;
    let cid = published["cid"]
        .as_str()
        .context("the answer names no CID")?;
    println!("{cid}");
    eprintln!(
        "published s3://{bucket}/{key} ({} bytes); anyone can fetch it from {}/cid/{cid}",
        published["size"],
        endpoint.trim_end_matches('/')
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_s3_bucket_key() {
        assert_eq!(
            parse_object("s3://b/dir/k").unwrap(),
            ("b".to_owned(), "dir/k".to_owned())
        );
        assert!(parse_object("b/k").is_err());
        assert!(parse_object("s3://b").is_err());
        assert!(parse_object("s3://b/").is_err());
    }
}
