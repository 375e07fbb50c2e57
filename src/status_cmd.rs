//! `cairn status`: what a gateway knows about its nodes and its data's
//! health, from its admin endpoint; with `--object BUCKET/KEY`, where that
//! object's shards are and whether each counts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use s3_gateway::admin::{ObjectHealth, Status, percent_encode};

/// Arguments of `cairn status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The gateway's admin endpoint, e.g. http://127.0.0.1:9100.
    #[arg(long, conflicts_with = "dir")]
    admin: Option<String>,
    /// A devnet directory (its devnet.json names the endpoint).
    #[arg(long, default_value = "./devnet")]
    dir: PathBuf,
    /// Print the raw JSON.
    #[arg(long)]
    json: bool,
    /// Show one object's shards instead: BUCKET/KEY.
    #[arg(long, value_name = "BUCKET/KEY")]
    object: Option<String>,
}

/// Runs `cairn status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let admin = match args.admin {
        Some(admin) => admin,
        None => admin_of_devnet(&args.dir)?,
    };
    let admin = admin.trim_end_matches('/');
    if let Some(object) = &args.object {
        let (bucket, key) = object
            .split_once('/')
            .context("--object takes BUCKET/KEY")?;
        let url = format!(
            "{admin}/object?bucket={}&key={}",
            percent_encode(bucket),
            percent_encode(key)
        );
        let body = get(&url).await?;
        if args.json {
            println!("{body}");
        } else {
            let object: ObjectHealth = serde_json::from_str(&body).context("reading the answer")?;
            print!("{}", render_object(&object));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let body = get(&format!("{admin}/status")).await?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let status: Status = serde_json::from_str(&body).context("reading the status")?;
    print!("{}", render(&status));
    Ok(
        if status.segments.lost + status.backup_segments.lost + status.content_segments.lost > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn admin_of_devnet(dir: &std::path::Path) -> anyhow::Result<String> {
    let path = dir.join("devnet.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (is a devnet running there?)", path.display()))?;
    let info: serde_json::Value = serde_json::from_str(&text)?;
    info["gateway"]["admin"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} names no gateway admin endpoint", path.display()))
}

/// GETs `url` (plain http) and returns the body.
async fn get(url: &str) -> anyhow::Result<String> {
    let (status, body) = request(url, "GET", None).await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Sends `method url` (plain http, no body; with `Authorization: Bearer
/// TOKEN` if given) to a gateway's admin endpoint; its status and body.
pub(crate) async fn request(
    url: &str,
    method: &str,
    token: Option<&str>,
) -> anyhow::Result<(http::StatusCode, bytes::Bytes)> {
    request_with(url, method, token, None).await
}

/// Sends `method url` (plain http) with `body` as JSON if given, and
/// `Authorization: Bearer TOKEN` if given; its status and body.
pub(crate) async fn request_with(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<bytes::Bytes>,
) -> anyhow::Result<(http::StatusCode, bytes::Bytes)> {
    let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    anyhow::ensure!(
        uri.scheme_str() != Some("https"),
        "{url}: this command speaks plain HTTP only"
    );
    let host = uri.host().context("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", format!("{host}:{port}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(http_body_util::Full::new(body.unwrap_or_default()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// A byte count in binary units.
fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec_short().to_string()
}

/// The status as a table.
pub fn render(status: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<54} {:<10} {:>8} {:<12} {:>6} {:>7} {:>14} {:>10}",
        "NODE", "REGION", "RTT", "STATE", "REP", "SHARDS", "AUDITS p/f/t", "LAST AUDIT"
    );
    for n in &status.nodes {
        let _ = writeln!(
            out,
            "{:<54} {:<10} {:>8} {:<12} {:>6.3} {:>7} {:>14} {:>10}",
            n.peer_id,
            n.region.as_deref().unwrap_or("-"),
            n.rtt_ms.map_or("-".into(), |r| format!("{r:.1}ms")),
            n.state,
            n.reputation,
            n.shards,
            format!(
                "{}/{}/{}",
                n.audits_passed, n.audits_failed, n.audits_timed_out
            ),
            n.last_audit_secs
                .map_or("never".into(), |s| format!("{s}s ago")),
        );
    }
    if status.nodes.iter().any(|n| n.usage.is_some()) {
        let _ = writeln!(
            out,
            "\nthis gateway's data, as each node reports it (signed usage reports):\n{:<54} {:>8} {:>10} {:>10} {:>12} {:>10} {:>10}",
            "NODE", "SHARDS", "STORED", "SERVED", "SHARD-HOURS", "QUOTA", "FREE"
        );
        for n in &status.nodes {
            let Some(u) = &n.usage else { continue };
            let _ = writeln!(
                out,
                "{:<54} {:>8} {:>10} {:>10} {:>12.1} {:>10} {:>10}",
                n.peer_id,
                u.shards,
                size(u.bytes_stored),
                size(u.bytes_served),
                u.shard_hours,
                size(u.quota),
                size(u.free_for_owner),
            );
        }
    }
    let not_admitted: Vec<&str> = status
        .nodes
        .iter()
        .filter(|n| !n.admitted && n.state != "dead")
        .map(|n| n.peer_id.as_str())
        .collect();
    if !not_admitted.is_empty() {
        let _ = writeln!(
            out,
            "\nnot admitted (no probe proven yet; they get no shards): {}",
            not_admitted.join(", ")
        );
    }
    let s = &status.segments;
    let _ = writeln!(
        out,
        "\nsegments: {} full, {} degraded, {} queued for repair, {} lost; {} with reduced diversity \
         (two or more shards on one node)",
        s.full, s.degraded, s.queued, s.lost, s.reduced_diversity,
    );
    for (label, c) in [
        ("metadata backup segments", &status.backup_segments),
        (
            "content segments (published or pinned, by CID)",
            &status.content_segments,
        ),
    ] {
        if c.full + c.degraded + c.queued + c.lost > 0 {
            let _ = writeln!(
                out,
                "{label}: {} full, {} degraded, {} queued for repair, {} lost",
                c.full, c.degraded, c.queued, c.lost,
            );
        }
    }
    let p = &status.pins;
    if p.queued + p.pinning + p.pinned + p.failed > 0 {
        let _ = writeln!(
            out,
            "pins: {} pinned, {} queued, {} pinning, {} failed",
            p.pinned, p.queued, p.pinning, p.failed,
        );
    }
    let j = &status.jobs;
    if j.queued + j.running + j.done + j.failed + j.cancelled > 0 {
        let _ = writeln!(
            out,
            "jobs: {} running, {} queued, {} done, {} failed, {} cancelled; tasks read {} from their node's disk, fetched {}",
            j.running,
            j.queued,
            j.done,
            j.failed,
            j.cancelled,
            bytesize::ByteSize(j.read_local),
            bytesize::ByteSize(j.fetched),
        );
    }
    let _ = writeln!(
        out,
        "repair queue {}; rebalance queue {}; {}",
        status.repair_queue,
        status.rebalance_queue,
        status
            .last_check_secs
            .map_or("not checked yet".into(), |c| format!(
                "checked {c}s ago (pass {})",
                status.check_passes
            )),
    );
    out
}

/// One object's shards as a table.
pub fn render_object(object: &ObjectHealth) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}/{}: {}+{}, {} segment(s)",
        object.bucket,
        object.key,
        object.k,
        object.m,
        object.segments.len()
    );
    for segment in &object.segments {
        let _ = writeln!(
            out,
            "\npart {} segment {}: {} of {} shards healthy{}",
            segment.part,
            segment.segment,
            segment.healthy,
            segment.shards.len(),
            if segment.reduced_diversity {
                ", reduced diversity"
            } else {
                ""
            }
        );
        for shard in &segment.shards {
            let _ = writeln!(
                out,
                "  {:>3} {:<8} {} {}",
                shard.index,
                shard.state,
                &shard.id[..16.min(shard.id.len())],
                if shard.node.is_empty() {
                    "-"
                } else {
                    &shard.node
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_reduced_diversity_and_both_queues() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "nodes": [],
            "segments": {"full": 7, "degraded": 1, "queued": 2, "lost": 0, "reduced_diversity": 3},
            "repair_queue": 2,
            "rebalance_queue": 3,
            "last_check_secs": 4,
            "check_passes": 9,
        }))
        .unwrap();
        let text = render(&status);
        assert!(
            text.contains(
                "7 full, 1 degraded, 2 queued for repair, 0 lost; 3 with reduced diversity"
            ),
            "{text}"
        );
        assert!(
            text.contains("repair queue 2; rebalance queue 3; checked 4s ago (pass 9)"),
            "{text}"
        );
    }

    #[test]
    fn an_object_lists_every_shard() {
        let object: ObjectHealth = serde_json::from_value(serde_json::json!({
            "bucket": "b", "key": "k", "k": 1, "m": 1,
            "segments": [{"part": 0, "segment": 0, "healthy": 1, "reduced_diversity": true,
                "shards": [
                    {"index": 0, "id": "00112233445566778899", "node": "peer-a", "state": "healthy"},
                    {"index": 1, "id": "aabbccddeeff00112233", "node": "peer-a", "state": "bad"},
                ]}],
        }))
        .unwrap();
        let text = render_object(&object);
        assert!(text.contains("b/k: 1+1, 1 segment(s)"), "{text}");
        assert!(
            text.contains("1 of 2 shards healthy, reduced diversity"),
            "{text}"
        );
        assert!(
            text.contains("1 bad      aabbccddeeff0011 peer-a"),
            "{text}"
        );
    }
}
