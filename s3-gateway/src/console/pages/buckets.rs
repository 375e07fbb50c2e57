//! `GET /buckets` (the buckets the key may see, as ListBuckets gives
//! them), `POST /buckets` (create) and `POST /buckets/delete`.

use std::collections::HashMap;

use http::Method;

use super::super::s3call::{Call, encode, xml};
use super::super::{Answer, Console, Ctx, render};
use super::{show, v};

/// The buckets page.
pub async fn page(console: &Console, ctx: &Ctx) -> Answer {
    let call = Call::new(Method::GET, "/".into()).from(ctx.client.as_ref());
    let listed: Result<xml::ListBuckets, _> =
        console.inner.s3.xml(&ctx.session.access_key, call).await;
    let (buckets, problem) = match listed {
        Ok(list) => (list.buckets.bucket, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let rows: Vec<serde_json::Value> = buckets
        .iter()
        .map(|b| serde_json::json!({ "name": b.name, "created": b.created.get(..10).unwrap_or(&b.created) }))
        .collect();
    show(
        console,
        ctx,
        "buckets.html",
        "Buckets",
        "buckets",
        vec![("buckets", v(rows)), ("problem", v(problem))],
    )
}

/// Why `name` cannot be a bucket name, checked before asking S3 so that
/// the message says what to change.
fn bucket_name_problem(name: &str) -> Option<&'static str> {
    if name.len() < 3 || name.len() > 63 {
        return Some("A bucket name has 3 to 63 characters.");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Some("A bucket name has only lowercase letters, digits, hyphens and dots.");
    }
    let ends = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !ends(name.as_bytes()[0]) || !ends(name.as_bytes()[name.len() - 1]) {
        return Some("A bucket name starts and ends with a letter or digit.");
    }
    None
}

/// `POST /buckets`: creates bucket `name` as the key.
pub async fn create(console: &Console, ctx: &Ctx, form: &HashMap<String, String>) -> Answer {
    let name = form.get("name").map_or("", |s| s.trim());
    if let Some(problem) = bucket_name_problem(name) {
        return render::redirect(&render::with_message("/buckets", problem, true));
    }
    let call = Call::new(Method::PUT, format!("/{}", encode(name))).from(ctx.client.as_ref());
    match console.inner.s3.fetch(&ctx.session.access_key, call).await {
        Ok(_) => render::redirect(&format!("/b/{}", encode(name))),
        Err(e) => render::redirect(&render::with_message(
            "/buckets",
            &format!("Bucket {name} was not created: {e}"),
            true,
        )),
    }
}

/// `POST /buckets/delete`: deletes bucket `name` (it must be empty).
pub async fn delete(console: &Console, ctx: &Ctx, form: &HashMap<String, String>) -> Answer {
    let name = form.get("name").map_or("", String::as_str);
    let call = Call::new(Method::DELETE, format!("/{}", encode(name))).from(ctx.client.as_ref());
    let (text, error) = match console.inner.s3.fetch(&ctx.session.access_key, call).await {
        Ok(_) => (format!("Bucket {name} deleted."), false),
        Err(e) => (format!("Bucket {name} was not deleted: {e}"), true),
    };
    render::redirect(&render::with_message("/buckets", &text, error))
}

#[cfg(test)]
mod tests {
    use super::bucket_name_problem;

    #[test]
    fn bad_bucket_names_are_explained() {
        assert!(bucket_name_problem("photos-2026").is_none());
        assert!(bucket_name_problem("ab").is_some());
        assert!(bucket_name_problem("Photos").is_some());
        assert!(bucket_name_problem("-photos").is_some());
        assert!(bucket_name_problem(&"a".repeat(64)).is_some());
    }
}
