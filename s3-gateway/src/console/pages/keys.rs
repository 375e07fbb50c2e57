//! `GET /keys` and its forms, for keys with the admin right: every access
//! key with its rights, buckets owned and granted; create (the secret is
//! shown once), delete, grant and revoke bucket permissions, give or take
//! the admin right.

use std::collections::HashMap;

use super::super::{Answer, Console, Ctx, render};
use super::{show, v};
use crate::admin::manage::{self, NewKey};

/// The keys page; `created` is a key just made (its secret shown once).
pub async fn page(console: &Console, ctx: &Ctx, created: Option<NewKey>) -> Answer {
    let manage = &console.inner.manage;
    let (keys, buckets, problem) = match (manage.keys().await, manage.buckets().await) {
        (Ok(keys), Ok(buckets)) => (keys, buckets, None),
        (Err(e), _) | (_, Err(e)) => (Vec::new(), Vec::new(), Some(e.to_string())),
    };
    let bucket_names: Vec<String> = buckets.into_iter().map(|b| b.name).collect();
    show(
        console,
        ctx,
        "keys.html",
        "Keys",
        "keys",
        vec![
            ("keys", v(keys)),
            ("bucket_names", v(bucket_names)),
            ("created", v(created)),
            ("problem", v(problem)),
        ],
    )
}

/// `POST /keys`: a new key, named `name`, with the admin right if
/// `admin=on`.
pub async fn create(console: &Console, ctx: &Ctx, form: &HashMap<String, String>) -> Answer {
    let manage = &console.inner.manage;
    let name = form.get("name").map(|s| s.trim()).filter(|s| !s.is_empty());
    if let Some(name) = name
        && let Err(e) = manage::check_key_name(name)
    {
        return render::redirect(&render::with_message("/keys", &e.to_string(), true));
    }
    let key = match manage.create_key(name).await {
        Ok(key) => key,
        Err(e) => {
            return render::redirect(&render::with_message(
                "/keys",
                &format!("No key was made: {e}"),
                true,
            ));
        }
    };
    if form.get("admin").is_some_and(|v| v == "on")
        && let Err(e) = manage.set_admin(&key.access_key, true).await
    {
        return render::redirect(&render::with_message(
            "/keys",
            &format!(
                "Key {} was made without the admin right: {e}",
                key.access_key
            ),
            true,
        ));
    }
    tracing::info!(by = %ctx.session.access_key, access_key_id = %key.access_key, "console: key created");
    page(console, ctx, Some(key)).await
}

/// `POST /keys/<action>`: `delete`, `grant`, `revoke`, `admin` (on or off
/// with `may=true|false`).
pub async fn change(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    form: &HashMap<String, String>,
) -> Answer {
    let manage = &console.inner.manage;
    let key = form.get("key").map_or("", |s| s.trim());
    if key.is_empty() {
        return render::redirect(&render::with_message("/keys", "Choose a key.", true));
    }
    let done: Result<String, String> = match action {
        "delete" if key == ctx.session.access_key => {
            Err("You cannot delete the key you are signed in with.".into())
        }
        "delete" => match manage.delete_key(key).await {
            Ok(()) => {
                console.inner.sessions.end_key(key);
                Ok(format!("Key {key} deleted."))
            }
            Err(e) => Err(e.to_string()),
        },
        "grant" | "revoke" => {
            let bucket = form.get("bucket").map_or("", |s| s.trim());
            let perms: Vec<&str> = ["read", "write", "owner"]
                .into_iter()
                .filter(|p| form.get(*p).is_some_and(|v| v == "on"))
                .collect();
            if bucket.is_empty() {
                Err("Choose a bucket.".into())
            } else if perms.is_empty() {
                Err("Choose read, write or owner.".into())
            } else {
                match manage::parse_perms(&perms.join(",")) {
                    Err(e) => Err(e.to_string()),
                    Ok(p) => {
                        let changed = if action == "grant" {
                            manage.allow(bucket, key, p).await
                        } else {
                            manage.deny(bucket, key, p).await
                        };
                        changed
                            .map(|_| {
                                format!(
                                    "{} {} on {bucket} for {key}.",
                                    if action == "grant" {
                                        "Granted"
                                    } else {
                                        "Revoked"
                                    },
                                    perms.join(", ")
                                )
                            })
                            .map_err(|e| e.to_string())
                    }
                }
            }
        }
        "admin" => {
            let may = form.get("may").is_some_and(|v| v == "true");
            if !may && key == ctx.session.access_key {
                Err("You cannot take the admin right from the key you are signed in with.".into())
            } else {
                manage
                    .set_admin(key, may)
                    .await
                    .map(|_| {
                        format!(
                            "Key {key} {} the admin right.",
                            if may { "has" } else { "no longer has" }
                        )
                    })
                    .map_err(|e| e.to_string())
            }
        }
        _ => Err(format!("Unknown action {action:?}.")),
    };
    if done.is_ok() {
        tracing::info!(by = %ctx.session.access_key, action, access_key_id = key, "console: key changed");
    }
    match done {
        Ok(text) => render::redirect(&render::with_message("/keys", &text, false)),
        Err(text) => render::redirect(&render::with_message("/keys", &text, true)),
    }
}
