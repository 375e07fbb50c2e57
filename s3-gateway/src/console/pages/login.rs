//! `GET /login` and `POST /login`: signing in with an access key and its
//! secret.

use std::collections::HashMap;
use std::time::Duration;

use minijinja::context;

use super::super::{Answer, Console, read_form, render, session};

/// A failed sign-in waits this long before answering (it slows guessing
/// and holds nothing but the connection).
const FAILURE_DELAY: Duration = Duration::from_millis(300);

/// The sign-in page, with `error` if the last try failed.
pub fn page(console: &Console, query: &HashMap<String, String>, error: Option<&str>) -> Answer {
    let next = query.get("next").map_or("/", String::as_str);
    let mut a = render::page(
        &console.inner.templates,
        "login.html",
        context! {
            title => "Sign in",
            error => error,
            next => safe_next(next),
            access_key => query.get("access_key"),
        },
    );
    if error.is_some() {
        *a.status_mut() = http::StatusCode::UNAUTHORIZED;
    }
    a
}

/// Where to go after signing in: a path on the console only (never
/// another site).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

/// Checks the key and secret; on success starts a session and goes to
/// `next`.
pub async fn sign_in(console: &Console, req: http::Request<s3s::Body>) -> Answer {
    // A form posted from another site must not sign the browser in.
    if let (Some(origin), Some(host)) = (
        req.headers().get(http::header::ORIGIN),
        req.headers().get(http::header::HOST),
    ) {
        let origin = origin.to_str().unwrap_or("");
        let host = host.to_str().unwrap_or("");
        if origin.split_once("://").map(|(_, h)| h) != Some(host) {
            return render::html(403, "<p>Sign in from the console's own page.</p>".into());
        }
    }
    let form = match read_form(req.into_body()).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let key = form.get("access_key").map_or("", |s| s.trim());
    let secret = form.get("secret_key").map_or("", String::as_str);
    let mut shown = form.clone();
    shown.remove("secret_key");
    if key.is_empty() || secret.is_empty() {
        return page(
            console,
            &shown,
            Some("Enter both the access key and its secret."),
        );
    }
    let stored = match console.inner.s3.secret_of(key).await {
        Ok(stored) => stored,
        Err(e) => {
            return page(
                console,
                &shown,
                Some(&format!("The gateway cannot check keys right now: {e}")),
            );
        }
    };
    if !stored.is_some_and(|s| session::same_secret(&s, secret)) {
        tracing::info!(access_key_id = key, "console: sign-in refused");
        tokio::time::sleep(FAILURE_DELAY).await;
        return page(console, &shown, Some("Wrong access key or secret."));
    }
    let id = console.inner.sessions.start(key);
    tracing::info!(access_key_id = key, "console: signed in");
    let next = safe_next(form.get("next").map_or("/", String::as_str));
    let mut a = render::redirect(next);
    render::set_cookie(&mut a, &session::set_cookie(Some(&id), console.secure()));
    a
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(super::safe_next("/buckets?x=1"), "/buckets?x=1");
        assert_eq!(super::safe_next("//evil.example/"), "/");
        assert_eq!(super::safe_next("https://evil.example/"), "/");
        assert_eq!(super::safe_next("/\\evil"), "/");
    }
}
