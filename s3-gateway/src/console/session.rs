//! Console sessions: signing in with an access key and its secret gives a
//! random session id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! over HTTPS); every state-changing request must also carry the session's
//! CSRF token. Sessions live in memory: a restarted gateway signs everyone
//! out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

/// The cookie's name.
pub const COOKIE: &str = "cairn_console";

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// Most sessions held at once: past it the least recently used goes, so
/// that sign-ins cannot grow the gateway's memory without bound.
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in key.
#[derive(Clone, Debug)]
pub struct Session {
    /// The access key id it acts as.
    pub access_key: String,
    /// The token forms and scripts send back with every change.
    pub csrf: String,
    last_used: Instant,
}

/// Every session. Cheap to clone; clones share the sessions.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

/// 32 random bytes, URL-safe base64.
fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Starts a session for `access_key`: its id (for the cookie).
    pub fn start(&self, access_key: &str) -> String {
        let id = token();
        let mut sessions = self.inner.lock().expect("not poisoned");
        let now = Instant::now();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        }
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                access_key: access_key.to_owned(),
                csrf: token(),
                last_used: now,
            },
        );
        id
    }

    /// The live session `id`, marked used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.inner.lock().expect("not poisoned");
        let now = Instant::now();
        match sessions.get_mut(id) {
            Some(s) if now.duration_since(s.last_used) < IDLE => {
                s.last_used = now;
                Some(s.clone())
            }
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.inner.lock().expect("not poisoned").remove(id);
    }

    /// Ends every session of `access_key` (the key was deleted).
    pub fn end_key(&self, access_key: &str) {
        self.inner
            .lock()
            .expect("not poisoned")
            .retain(|_, s| s.access_key != access_key);
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("not poisoned").len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session id in a `Cookie` header, if any.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value for session `id` (`None`: clears it).
pub fn set_cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            IDLE.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

pub use crate::admin::manage::same_secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_find_and_end() {
        let sessions = Sessions::default();
        let id = sessions.start("CAKEY");
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.access_key, "CAKEY");
        assert_eq!(s.csrf.len(), 43);
        assert!(sessions.get("nope").is_none());
        let other = sessions.start("CAOTHER");
        sessions.end_key("CAKEY");
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get(&other).is_some());
        sessions.end(&other);
        assert!(sessions.is_empty());
    }

    #[test]
    fn sign_ins_cannot_grow_memory_past_the_cap() {
        let sessions = Sessions::default();
        let first = sessions.start("CAKEY");
        for _ in 0..MAX_SESSIONS {
            sessions.start("CAKEY");
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first).is_none(), "the oldest went first");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("a=1; {COOKIE}=abc; b=2").parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers).as_deref(), Some("abc"));
        assert!(set_cookie(Some("x"), true).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd"));
    }
}
