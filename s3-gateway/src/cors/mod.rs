//! CORS: a bucket's rules (PutBucketCors), which browsers on other origins
//! need before they may upload to or download from it directly.
//!
//! [`CorsRules`] are checked when put (AWS's limits and error messages),
//! stored as JSON in the bucket's `cors` configuration document, and
//! matched as AWS documents: the first rule whose AllowedOrigin matches the
//! request's `Origin` (one `*` wildcard allowed), whose AllowedMethods hold
//! the method (for a preflight, `Access-Control-Request-Method`), and,
//! for a preflight, whose AllowedHeaders cover every header in
//! `Access-Control-Request-Headers` (case-insensitive, one `*` allowed).
//! [`layer`] answers preflight OPTIONS requests and adds the CORS headers
//! to the answers of actual requests.

pub mod layer;

use serde::{Deserialize, Serialize};

/// The most rules a bucket may have, as on AWS.
pub const MAX_RULES: usize = 100;

/// The methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// One CORS rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// The rule's `ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Origins it applies to (`*` wildcards).
    pub allowed_origins: Vec<String>,
    /// Methods it allows.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (`*` wildcards).
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache the preflight answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// A bucket's CORS rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRules {
    /// The rules, in the order given.
    pub rules: Vec<CorsRule>,
}

/// Why rules were refused (InvalidRequest, with AWS's message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CorsError(String);

/// What a matching rule lets the answer say.
#[derive(Debug, PartialEq, Eq)]
pub struct Allowed<'a> {
    /// The rule that matched.
    pub rule: &'a CorsRule,
    /// Whether it matched by the bare `*` origin (then any origin is
    /// allowed and `Access-Control-Allow-Origin` is `*`).
    pub any_origin: bool,
}

impl CorsRules {
    /// Checks `rules` as PutBucketCors does.
    pub fn new(rules: Vec<CorsRule>) -> Result<Self, CorsError> {
        if rules.is_empty() {
            return Err(CorsError(
                "The CORS configuration must have at least one rule".into(),
            ));
        }
        if rules.len() > MAX_RULES {
            return Err(CorsError(format!(
                "The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules."
            )));
        }
        for rule in &rules {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(CorsError(
                    "Each CORS rule needs an AllowedOrigin and an AllowedMethod".into(),
                ));
            }
            if let Some(m) = rule
                .allowed_methods
                .iter()
                .find(|m| !METHODS.contains(&m.as_str()))
            {
                return Err(CorsError(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
            for (what, list) in [
                ("AllowedOrigin", &rule.allowed_origins),
                ("AllowedHeader", &rule.allowed_headers),
            ] {
                if let Some(v) = list.iter().find(|v| v.matches('*').count() > 1) {
                    return Err(CorsError(format!(
                        "{what} \"{v}\" can not have more than one wildcard."
                    )));
                }
            }
        }
        Ok(Self { rules })
    }

    /// As stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializable")
    }

    /// From [`CorsRules::encode`].
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The rule allowing a request from `origin` with `method` that asks
    /// (in a preflight) to send `headers`.
    pub fn find(&self, origin: &str, method: &str, headers: &[&str]) -> Option<Allowed<'_>> {
        self.rules.iter().find_map(|rule| {
            let origin_match = rule
                .allowed_origins
                .iter()
                .find(|o| wildcard(o, origin, false))?;
            if !rule.allowed_methods.iter().any(|m| m == method) {
                return None;
            }
            let covered = headers.iter().all(|h| {
                rule.allowed_headers
                    .iter()
                    .any(|allowed| wildcard(allowed, h, true))
            });
            covered.then_some(Allowed {
                rule,
                any_origin: origin_match == "*",
            })
        })
    }
}

/// Whether `text` matches `pattern` with at most one `*`.
fn wildcard(pattern: &str, text: &str, fold: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if fold {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, text),
        Some((head, tail)) => {
            text.len() >= head.len() + tail.len()
                && text.is_char_boundary(head.len())
                && text.is_char_boundary(text.len() - tail.len())
                && eq(&text[..head.len()], head)
                && eq(&text[text.len() - tail.len()..], tail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..Default::default()
        }
    }

    #[test]
    fn the_first_rule_matching_origin_method_and_headers_wins() {
        let rules = CorsRules::new(vec![
            rule(
                &["https://*.example.com"],
                &["PUT", "POST"],
                &["content-*", "x-amz-*"],
            ),
            rule(&["*"], &["GET", "HEAD"], &[]),
        ])
        .unwrap();
        let put = rules
            .find(
                "https://app.example.com",
                "PUT",
                &["Content-Type", "x-amz-date"],
            )
            .unwrap();
        assert!(!put.any_origin);
        assert_eq!(put.rule.allowed_methods, ["PUT", "POST"]);
        assert!(
            rules
                .find("https://app.example.com", "PUT", &["authorization"])
                .is_none()
        );
        assert!(rules.find("https://evil.org", "PUT", &[]).is_none());
        assert!(rules.find("http://app.example.com", "PUT", &[]).is_none());
        let get = rules.find("https://evil.org", "GET", &[]).unwrap();
        assert!(get.any_origin);
        assert!(
            rules
                .find("https://evil.org", "GET", &["x-custom"])
                .is_none()
        );
        assert!(rules.find("https://evil.org", "DELETE", &[]).is_none());
    }

    #[test]
    fn rules_are_checked_as_aws_checks_them() {
        let refused = |rules: Vec<CorsRule>| CorsRules::new(rules).unwrap_err().to_string();
        assert!(
            refused(vec![rule(&["*"], &["PATCH"], &[])]).contains("Unsupported method is PATCH")
        );
        assert!(refused(vec![rule(&["*.*"], &["GET"], &[])]).contains("more than one wildcard"));
        assert!(refused(vec![rule(&["*"], &["GET"], &["a*b*"])]).contains("AllowedHeader"));
        assert!(refused(vec![rule(&["*"], &["GET"], &[]); MAX_RULES + 1]).contains("100 rules"));
        assert!(refused(vec![]).contains("at least one rule"));
        let rules = CorsRules::new(vec![rule(&["*"], &["GET"], &["*"])]).unwrap();
        assert_eq!(CorsRules::decode(&rules.encode()), Some(rules));
    }

    #[test]
    fn one_wildcard_matches_any_middle() {
        assert!(wildcard("*", "", false));
        assert!(wildcard("a*", "abc", false));
        assert!(wildcard("*c", "abc", false));
        assert!(wildcard("a*c", "ac", false));
        assert!(!wildcard("ab*bc", "abc", false));
        assert!(wildcard("X-Amz-*", "x-amz-meta-a", true));
        assert!(!wildcard("X-Amz-*", "x-amz-meta-a", false));
    }
}
