//! Turning pages into answers: the templates (built into the binary), the
//! filters they use, and the headers every answer carries.

use minijinja::{Environment, Value};

use super::Answer;

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    (
        "overview_stats.html",
        include_str!("templates/overview_stats.html"),
    ),
    ("nodes.html", include_str!("templates/nodes.html")),
    ("nodes_live.html", include_str!("templates/nodes_live.html")),
    ("node.html", include_str!("templates/node.html")),
    ("buckets.html", include_str!("templates/buckets.html")),
    ("bucket.html", include_str!("templates/bucket.html")),
    ("object.html", include_str!("templates/object.html")),
    ("keys.html", include_str!("templates/keys.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("pins.html", include_str!("templates/pins.html")),
];

/// The template environment: HTML escaping on, and the filters `bytes`
/// (1.5 MiB), `ago` (seconds → "3 min ago") and `short` (a peer id's
/// tail).
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.add_filter("bytes", |v: f64| super::chart::format_value(v, "B"));
    env.add_filter("ago", |secs: Option<u64>| match secs {
        None => "never".to_owned(),
        Some(s) => format!("{} ago", duration(s)),
    });
    env.add_filter("short", |id: &str| short(id).to_owned());
    env
}

/// A peer id's last 8 characters (enough to tell nodes apart on a page).
pub fn short(id: &str) -> &str {
    let start = id.len().saturating_sub(8);
    id.get(start..).unwrap_or(id)
}

/// `secs` as "12 s", "5 min", "3 h", "2 d".
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

/// Renders template `name` with `ctx` into a 200 page (or a 500 naming
/// the template error, which would be a bug).
pub fn page(env: &Environment<'static>, name: &str, ctx: Value) -> Answer {
    match env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(text) => html(200, text),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console: template failed");
            html(
                500,
                format!(
                    "<p>The page could not be drawn: {}</p>",
                    escape(&e.to_string())
                ),
            )
        }
    }
}

/// `text` as an HTML answer with status `status`.
pub fn html(status: u16, text: String) -> Answer {
    answer(status, "text/html; charset=utf-8", text.into_bytes())
}

/// `value` as a JSON answer.
pub fn json(status: u16, value: &serde_json::Value) -> Answer {
    answer(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// `{"error": message}` with `status`.
pub fn json_error(status: u16, message: &str) -> Answer {
    json(status, &serde_json::json!({ "error": message }))
}

/// A 303 to `location` (a path on the console).
pub fn redirect(location: &str) -> Answer {
    let mut a = answer(303, "text/plain", Vec::new());
    if let Ok(v) = http::HeaderValue::from_str(location) {
        a.headers_mut().insert(http::header::LOCATION, v);
    }
    a
}

/// Adds `Set-Cookie: value`.
pub fn set_cookie(answer: &mut Answer, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        answer.headers_mut().append(http::header::SET_COOKIE, v);
    }
}

/// An answer with the headers every console answer has: no caching, no
/// framing, scripts and styles from the console only.
pub fn answer(status: u16, content_type: &str, body: Vec<u8>) -> Answer {
    let mut a = http::Response::new(s3s::Body::from(body));
    *a.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    let h = a.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    secure_headers(h);
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    a
}

/// The headers that keep pages from being framed or fed foreign scripts.
pub fn secure_headers(h: &mut http::HeaderMap) {
    h.insert(
        "content-security-policy",
        http::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "referrer-policy",
        http::HeaderValue::from_static("same-origin"),
    );
}

/// HTML-escapes `text`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `path` with `msg=` (or `err=` when `error`) added, for a redirect that
/// shows a message.
pub fn with_message(path: &str, message: &str, error: bool) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    let name = if error { "err" } else { "msg" };
    format!("{path}{sep}{name}={}", super::s3call::encode(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_filters_work() {
        let env = templates();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        assert_eq!(short("12D3KooWabcdefgh12345678"), "12345678");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(3600), "60 min");
        assert_eq!(duration(90_000), "25 h");
        assert_eq!(
            with_message("/b/x?prefix=a", "done & gone", false),
            "/b/x?prefix=a&msg=done%20%26%20gone"
        );
    }
}
