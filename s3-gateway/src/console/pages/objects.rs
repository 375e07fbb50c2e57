//! A bucket's objects: `GET /b/<bucket>?prefix=P&after=T` (a page of the
//! listing, folders at `/`), `GET /b/<bucket>/object?key=K` (one object:
//! its headers, versions, CID and where its shards are),
//! `GET /b/<bucket>/download?key=K[&version=V]` and
//! `POST /b/<bucket>/delete`. Everything goes through S3 as the key.

use std::collections::HashMap;

use http::Method;
use serde::Serialize;

use super::super::s3call::{Call, CallError, encode, object_path, xml};
use super::super::{Answer, Console, Ctx, render};
use super::{not_found, show, v};

/// Objects on one page of the listing.
const PAGE: usize = 200;

/// One folder level in the breadcrumbs.
#[derive(Serialize)]
struct Crumb {
    name: String,
    prefix: String,
}

/// A page of bucket `bucket` under `?prefix=`.
pub async fn list(console: &Console, ctx: &Ctx, bucket: &str) -> Answer {
    let prefix = ctx.q("prefix");
    let mut query = format!(
        "/{}?list-type=2&delimiter=%2F&max-keys={PAGE}&prefix={}",
        encode(bucket),
        encode(prefix)
    );
    if !ctx.q("after").is_empty() {
        query.push_str(&format!("&continuation-token={}", encode(ctx.q("after"))));
    }
    let call = Call::new(Method::GET, query).from(ctx.client.as_ref());
    let listed: Result<xml::ListObjects, _> =
        console.inner.s3.xml(&ctx.session.access_key, call).await;
    let (list, problem) = match listed {
        Ok(list) => (list, None),
        Err(e @ CallError::S3 { status: 404, .. }) if ctx.q("after").is_empty() => {
            return redirect_with("/buckets", &e.to_string());
        }
        Err(e) => (xml::ListObjects::default(), Some(e.to_string())),
    };
    let mut crumbs = Vec::new();
    let mut so_far = String::new();
    for part in prefix.split_inclusive('/') {
        so_far.push_str(part);
        crumbs.push(Crumb {
            name: part.trim_end_matches('/').to_owned(),
            prefix: so_far.clone(),
        });
    }
    let folders: Vec<serde_json::Value> = list
        .prefixes
        .iter()
        .map(|p| {
            serde_json::json!({
                "prefix": p.prefix,
                "name": p.prefix.strip_prefix(prefix).unwrap_or(&p.prefix),
            })
        })
        .collect();
    let objects: Vec<serde_json::Value> = list
        .contents
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key,
                "name": o.key.strip_prefix(prefix).unwrap_or(&o.key),
                "size": o.size,
                "modified": o.modified.replace('T', " ").get(..19).unwrap_or(&o.modified),
            })
        })
        .collect();
    show(
        console,
        ctx,
        "bucket.html",
        bucket,
        "buckets",
        vec![
            ("bucket", v(bucket)),
            ("prefix", v(prefix)),
            ("crumbs", v(crumbs)),
            ("folders", v(folders)),
            ("objects", v(objects)),
            ("next", v(list.next.filter(|_| list.truncated))),
            ("problem", v(problem)),
        ],
    )
}

fn redirect_with(path: &str, error: &str) -> Answer {
    render::redirect(&render::with_message(path, error, true))
}

/// One shard as the object page shows it.
#[derive(Serialize)]
struct ShardRow {
    index: usize,
    node: String,
    region: String,
    state: String,
}

/// One segment as the object page shows it.
#[derive(Serialize)]
struct SegmentRow {
    part: u32,
    segment: u32,
    healthy: usize,
    shards: Vec<ShardRow>,
}

/// The page of object `?key=` in `bucket`.
pub async fn object(console: &Console, ctx: &Ctx, bucket: &str) -> Answer {
    let key = ctx.q("key");
    if key.is_empty() {
        return not_found(console, ctx);
    }
    let back = format!("/b/{}?prefix={}", encode(bucket), encode(parent(key)));
    let call = Call::new(Method::HEAD, object_path(bucket, key)).from(ctx.client.as_ref());
    let headers = match console.inner.s3.fetch(&ctx.session.access_key, call).await {
        Ok((headers, _)) => headers,
        Err(CallError::S3 { status: 404, .. }) => {
            return redirect_with(&back, &format!("{key}: no such object"));
        }
        Err(e) => return redirect_with(&back, &format!("{key}: {e}")),
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let metadata: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| {
            let name = n.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_owned(), v.to_str().unwrap_or("").to_owned()))
        })
        .collect();
    // Versions: the key's own, from ListObjectVersions.
    let call = Call::new(
        Method::GET,
        format!(
            "/{}?versions&prefix={}&max-keys=100",
            encode(bucket),
            encode(key)
        ),
    )
    .from(ctx.client.as_ref());
    let versions: Vec<serde_json::Value> = match console
        .inner
        .s3
        .xml::<xml::ListVersions>(&ctx.session.access_key, call)
        .await
    {
        Ok(list) => list
            .versions
            .iter()
            .map(|x| (x, false))
            .chain(list.markers.iter().map(|x| (x, true)))
            .filter(|(x, _)| x.key == key)
            .map(|(x, marker)| {
                serde_json::json!({
                    "id": x.version_id,
                    "latest": x.latest,
                    "size": x.size,
                    "marker": marker,
                    "modified": x.modified.replace('T', " ").get(..19).unwrap_or(&x.modified),
                })
            })
            .collect(),
        // A key may read the object without the right to list versions.
        Err(_) => Vec::new(),
    };
    // Where the shards are (the read above proved the key may see it).
    let segments = shard_rows(console, bucket, key).await;
    let size: u64 = header("content-length").parse().unwrap_or(0);
    show(
        console,
        ctx,
        "object.html",
        key,
        "buckets",
        vec![
            ("bucket", v(bucket)),
            ("key", v(key)),
            ("back", v(back)),
            ("size", v(size)),
            ("etag", v(header("etag"))),
            ("content_type", v(header("content-type"))),
            ("modified", v(header("last-modified"))),
            ("version", v(header("x-amz-version-id"))),
            ("cid", v(header(crate::s3::content::CID_HEADER))),
            ("metadata", v(metadata)),
            ("versions", v(versions)),
            ("segments", v(segments)),
        ],
    )
}

/// Where each shard of the current version of `bucket/key` is.
async fn shard_rows(console: &Console, bucket: &str, key: &str) -> Vec<SegmentRow> {
    let admin = &console.inner.admin;
    let Ok(Some(health)) = admin.object(bucket, key).await else {
        return Vec::new();
    };
    let regions: HashMap<String, String> = admin
        .health
        .report()
        .into_iter()
        .filter_map(|n| {
            let (region, _) = admin.nodes.region_of(&n.id)?;
            Some((n.peer_id, region))
        })
        .collect();
    health
        .segments
        .into_iter()
        .map(|s| SegmentRow {
            part: s.part,
            segment: s.segment,
            healthy: s.healthy,
            shards: s
                .shards
                .into_iter()
                .map(|sh| ShardRow {
                    index: sh.index,
                    region: regions.get(&sh.node).cloned().unwrap_or_default(),
                    node: sh.node,
                    state: sh.state,
                })
                .collect(),
        })
        .collect()
}

/// The folder `key` is in (`a/b/` for `a/b/c`).
fn parent(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..=i])
}

/// Streams object `?key=` (version `?version=`) to the browser as a
/// download.
pub async fn download(console: &Console, ctx: &Ctx, bucket: &str) -> Answer {
    let key = ctx.q("key");
    let mut path = object_path(bucket, key);
    if !ctx.q("version").is_empty() {
        path.push_str(&format!("?versionId={}", encode(ctx.q("version"))));
    }
    let call = Call::new(Method::GET, path).from(ctx.client.as_ref());
    match console.inner.s3.send(&ctx.session.access_key, call).await {
        Ok(response) if response.status().is_success() => {
            let (parts, body) = response.into_parts();
            let mut a = http::Response::new(body);
            for name in [
                http::header::CONTENT_LENGTH,
                http::header::CONTENT_TYPE,
                http::header::ETAG,
                http::header::LAST_MODIFIED,
            ] {
                if let Some(value) = parts.headers.get(&name) {
                    a.headers_mut().insert(name, value.clone());
                }
            }
            let file = key.rsplit('/').next().unwrap_or(key);
            if let Ok(value) = http::HeaderValue::from_str(&format!(
                "attachment; filename*=UTF-8''{}",
                encode(file)
            )) {
                a.headers_mut()
                    .insert(http::header::CONTENT_DISPOSITION, value);
            }
            render::secure_headers(a.headers_mut());
            a
        }
        Ok(response) => {
            let status = response.status().as_u16();
            let body = super::super::s3call::read_bounded(response.into_body(), 64 << 10)
                .await
                .unwrap_or_default();
            let why = super::super::s3call::s3_error(status, &body);
            render::html(
                status,
                format!(
                    "<p>{} cannot be downloaded: {}</p>",
                    render::escape(key),
                    render::escape(&why.to_string())
                ),
            )
        }
        Err(e) => render::html(
            e.status(),
            format!("<p>{}</p>", render::escape(&e.to_string())),
        ),
    }
}

/// `POST /b/<bucket>/delete`: deletes object `key`.
pub async fn delete(
    console: &Console,
    ctx: &Ctx,
    bucket: &str,
    form: &HashMap<String, String>,
) -> Answer {
    let key = form.get("key").map_or("", String::as_str);
    let back = format!("/b/{}?prefix={}", encode(bucket), encode(parent(key)));
    if key.is_empty() {
        return redirect_with(&back, "Which object? No key was given.");
    }
    let call = Call::new(Method::DELETE, object_path(bucket, key)).from(ctx.client.as_ref());
    let (text, error) = match console.inner.s3.fetch(&ctx.session.access_key, call).await {
        Ok(_) => (format!("{key} deleted."), false),
        Err(e) => (format!("{key} was not deleted: {e}"), true),
    };
    render::redirect(&render::with_message(&back, &text, error))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parents_are_folders() {
        assert_eq!(super::parent("a/b/c"), "a/b/");
        assert_eq!(super::parent("c"), "");
    }
}
