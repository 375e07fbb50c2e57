//! The console's pages, one module per area, and the router.

pub mod api;
pub mod buckets;
pub mod jobs;
pub mod keys;
pub mod login;
pub mod nodes;
pub mod objects;
pub mod overview;
pub mod pins;

use std::collections::{BTreeMap, HashMap};

use minijinja::Value;

use super::{Answer, Console, Ctx, render};

/// Sends a signed-in request to its page.
pub(crate) async fn route(
    console: &Console,
    ctx: &Ctx,
    method: &http::Method,
    path: &str,
    form: HashMap<String, String>,
) -> Answer {
    use http::Method;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, [""]) => overview::page(console, ctx).await,
        (&Method::GET, ["nodes"]) => nodes::page(console, ctx).await,
        (&Method::GET, ["nodes", peer]) => nodes::node(console, ctx, peer).await,
        (&Method::GET, ["buckets"]) => buckets::page(console, ctx).await,
        (&Method::POST, ["buckets"]) => buckets::create(console, ctx, &form).await,
        (&Method::POST, ["buckets", "delete"]) => buckets::delete(console, ctx, &form).await,
        (&Method::GET, ["b", bucket]) => objects::list(console, ctx, &decode(bucket)).await,
        (&Method::GET, ["b", bucket, "object"]) => {
            objects::object(console, ctx, &decode(bucket)).await
        }
        (&Method::GET, ["b", bucket, "download"]) => {
            objects::download(console, ctx, &decode(bucket)).await
        }
        (&Method::POST, ["b", bucket, "delete"]) => {
            objects::delete(console, ctx, &decode(bucket), &form).await
        }
        (&Method::GET, ["keys"]) if ctx.admin => keys::page(console, ctx, None).await,
        (&Method::POST, ["keys"]) if ctx.admin => keys::create(console, ctx, &form).await,
        (&Method::POST, ["keys", action]) if ctx.admin => {
            keys::change(console, ctx, action, &form).await
        }
        (_, ["keys", ..]) => not_allowed(console, ctx),
        (&Method::GET, ["pins"]) => pins::page(console, ctx).await,
        (&Method::GET, ["jobs"]) => jobs::page(console, ctx).await,
        (&Method::GET, ["jobs", id]) => jobs::job(console, ctx, id).await,
        _ => not_found(console, ctx),
    }
}

/// One percent-decoded path segment.
pub(crate) fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Renders `template` inside the console's frame: `title`, the menu with
/// `active` marked, the message or error in the query, and `vars`.
pub(crate) fn show(
    console: &Console,
    ctx: &Ctx,
    template: &str,
    title: &str,
    active: &str,
    vars: Vec<(&'static str, Value)>,
) -> Answer {
    let mut all: BTreeMap<&str, Value> = vars.into_iter().collect();
    all.insert("title", Value::from(title));
    all.insert("active", Value::from(active));
    all.insert("csrf", Value::from(ctx.session.csrf.as_str()));
    all.insert("me", Value::from(ctx.session.access_key.as_str()));
    all.insert("admin", Value::from(ctx.admin));
    all.insert("msg", Value::from(ctx.q("msg")));
    all.insert("err", Value::from(ctx.q("err")));
    render::page(
        &console.inner.templates,
        template,
        Value::from_serialize(&all),
    )
}

/// A serializable value for a template.
pub(crate) fn v<T: serde::Serialize>(value: T) -> Value {
    Value::from_serialize(&value)
}

/// The 404 page.
pub(crate) fn not_found(console: &Console, ctx: &Ctx) -> Answer {
    let mut a = show(
        console,
        ctx,
        "base.html",
        "Not found",
        "",
        vec![("problem", v("There is no such page."))],
    );
    *a.status_mut() = http::StatusCode::NOT_FOUND;
    a
}

/// The page for a key without the admin right.
pub(crate) fn not_allowed(console: &Console, ctx: &Ctx) -> Answer {
    let mut a = show(
        console,
        ctx,
        "base.html",
        "Not allowed",
        "",
        vec![(
            "problem",
            v("Only keys with the admin right manage keys (cairn gateway key allow KEY --admin)."),
        )],
    );
    *a.status_mut() = http::StatusCode::FORBIDDEN;
    a
}
