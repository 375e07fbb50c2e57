//! What the console's script calls (JSON answers, the session's CSRF
//! token in `x-csrf-token`): uploads, single or multipart, streamed
//! through to S3 as the key, and share links.
//!
//! - `PUT /api/b/<bucket>/object?key=K`: PutObject;
//! - `POST /api/b/<bucket>/uploads?key=K`: CreateMultipartUpload →
//!   `{"upload": id}`;
//! - `PUT /api/b/<bucket>/part?key=K&upload=U&part=N`: UploadPart →
//!   `{"etag": ...}`;
//! - `POST /api/b/<bucket>/complete?key=K&upload=U` with
//!   `{"parts": [{"part": N, "etag": E}, ...]}`;
//! - `DELETE /api/b/<bucket>/upload?key=K&upload=U`: abort;
//! - `POST /api/b/<bucket>/share?key=K&hours=H`: a presigned GET link
//!   (at most 7 days) → `{"url": ...}`.

use std::time::Duration;

use http::Method;
use serde::Deserialize;

use super::super::s3call::{Call, CallError, encode, object_path, read_bounded, xml};
use super::super::{Answer, Console, Ctx, render};
use super::decode;

/// The most a completion request may carry (10,000 parts fit easily).
const MAX_COMPLETE: usize = 1 << 20;

/// Longest share link, as AWS allows for presigned URLs.
const MAX_SHARE_HOURS: u64 = 7 * 24;

/// Routes one script request.
pub async fn route(
    console: &Console,
    ctx: &Ctx,
    method: &Method,
    path: &str,
    req: http::Request<s3s::Body>,
) -> Answer {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (bucket, action) = match segments.as_slice() {
        ["api", "b", bucket, action] => (decode(bucket), *action),
        _ => return render::json_error(404, "no such call"),
    };
    let key = ctx.q("key");
    if key.is_empty() {
        return render::json_error(400, "key= is needed");
    }
    if key.len() > 1024 {
        return render::json_error(400, "an object key has at most 1,024 bytes");
    }
    let upload = ctx.q("upload");
    let object = object_path(&bucket, key);
    let s3 = &console.inner.s3;
    let me = ctx.session.access_key.as_str();
    let result: Result<serde_json::Value, CallError> = match (method, action) {
        (&Method::PUT, "object") => {
            if req.headers().get(http::header::CONTENT_LENGTH).is_none() {
                return render::json_error(411, "a Content-Length is needed");
            }
            let call = forward(Call::new(Method::PUT, object), req).from(ctx.client.as_ref());
            s3.fetch(me, call).await.map(|(h, _)| etag_of(&h))
        }
        (&Method::POST, "uploads") => {
            let mut call = Call::new(Method::POST, format!("{object}?uploads"));
            if let Some(value) = req.headers().get(http::header::CONTENT_TYPE) {
                call.headers
                    .push((http::header::CONTENT_TYPE, value.clone()));
            }
            s3.xml::<xml::Initiated>(me, call.from(ctx.client.as_ref()))
                .await
                .map(|i| serde_json::json!({ "upload": i.upload_id }))
        }
        (&Method::PUT, "part") => {
            let Ok(part) = ctx.q("part").parse::<u32>() else {
                return render::json_error(400, "part= must be a number from 1 to 10000");
            };
            if req.headers().get(http::header::CONTENT_LENGTH).is_none() {
                return render::json_error(411, "a Content-Length is needed");
            }
            let path = format!("{object}?partNumber={part}&uploadId={}", encode(upload));
            let call = forward(Call::new(Method::PUT, path), req).from(ctx.client.as_ref());
            s3.fetch(me, call).await.map(|(h, _)| etag_of(&h))
        }
        (&Method::POST, "complete") => {
            #[derive(Deserialize)]
            struct Part {
                part: u32,
                etag: String,
            }
            #[derive(Deserialize)]
            struct Parts {
                parts: Vec<Part>,
            }
            let body = match read_bounded(req.into_body(), MAX_COMPLETE).await {
                Ok(body) => body,
                Err(_) => return render::json_error(413, "too many parts"),
            };
            let Ok(parts) = serde_json::from_slice::<Parts>(&body) else {
                return render::json_error(
                    400,
                    "the body must be {\"parts\": [{\"part\": N, \"etag\": E}]}",
                );
            };
            let mut doc = String::from("<CompleteMultipartUpload>");
            for p in &parts.parts {
                doc.push_str(&format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                    p.part,
                    render::escape(&p.etag)
                ));
            }
            doc.push_str("</CompleteMultipartUpload>");
            let call = Call::new(
                Method::POST,
                format!("{object}?uploadId={}", encode(upload)),
            )
            .header(http::header::CONTENT_LENGTH, &doc.len().to_string())
            .header(http::header::CONTENT_TYPE, "application/xml")
            .body(s3s::Body::from(doc))
            .from(ctx.client.as_ref());
            s3.fetch(me, call)
                .await
                .map(|_| serde_json::json!({ "done": true }))
        }
        (&Method::DELETE, "upload") => {
            let call = Call::new(
                Method::DELETE,
                format!("{object}?uploadId={}", encode(upload)),
            )
            .from(ctx.client.as_ref());
            s3.fetch(me, call)
                .await
                .map(|_| serde_json::json!({ "aborted": true }))
        }
        (&Method::POST, "share") => {
            let hours: u64 = match ctx.q("hours") {
                "" => super::super::SHARE_DEFAULT.as_secs() / 3600,
                h => match h.parse() {
                    Ok(h) if (1..=MAX_SHARE_HOURS).contains(&h) => h,
                    _ => {
                        return render::json_error(
                            400,
                            "a share link lasts from 1 to 168 hours (7 days)",
                        );
                    }
                },
            };
            // Only what the key may read can be shared: a link it signs
            // for anything else would only fail later.
            let head = Call::new(Method::HEAD, object.clone()).from(ctx.client.as_ref());
            match s3.fetch(me, head).await {
                Ok(_) => s3
                    .presign(me, &object, Duration::from_secs(hours * 3600))
                    .await
                    .map(|url| serde_json::json!({ "url": url, "hours": hours })),
                Err(e) => Err(e),
            }
        }
        _ => return render::json_error(404, "no such call"),
    };
    match result {
        Ok(value) => render::json(200, &value),
        Err(e) => render::json_error(e.status(), &e.to_string()),
    }
}

/// `call` with the browser's body, its length and its content type.
fn forward<'a>(mut call: Call<'a>, req: http::Request<s3s::Body>) -> Call<'a> {
    for name in [http::header::CONTENT_LENGTH, http::header::CONTENT_TYPE] {
        if let Some(value) = req.headers().get(&name) {
            call.headers.push((name, value.clone()));
        }
    }
    call.body(req.into_body())
}

/// `{"etag": ...}` from an answer's headers.
fn etag_of(headers: &http::HeaderMap) -> serde_json::Value {
    let etag = headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    serde_json::json!({ "etag": etag })
}
