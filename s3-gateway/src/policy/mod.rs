//! Bucket policies: the AWS JSON policy language for the cases S3 users
//! write, parsed once when a policy is put (an invalid one is refused with
//! the reason, as MalformedPolicy) and evaluated on every request to a
//! bucket that has one.
//!
//! Supported: `Version`, `Id`; statements with `Sid`, `Effect` (Allow or
//! Deny), `Principal` / `NotPrincipal` (`"*"`, `{"AWS": ...}` with `*`, a
//! key id or an IAM ARN whose account field is a key id, or
//! `{"CanonicalUser": id}`), `Action` / `NotAction` (`s3:` actions with `*`
//! and `?` wildcards, case-insensitive), `Resource` / `NotResource`
//! (`arn:aws:s3:::bucket[/key]` with wildcards, within the policy's own
//! bucket), and `Condition` (see [`condition`]).
//!
//! A statement applies when its principal, action, resource and every
//! condition match. An applying Deny beats everything; an applying Allow
//! grants the request even without an ACL or grant (see
//! `s3::access` for how this combines with the owner and grants).

mod action;
mod condition;
mod glob;

pub use action::{of_operation as action_of, on_object};
pub use condition::Context;

use serde_json::{Map, Value};

use condition::Condition;

/// The largest policy accepted, as on AWS.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Why a policy was refused (the MalformedPolicy message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl PolicyError {
    fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Allow or Deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// Who a statement names.
#[derive(Clone, Debug)]
enum Principals {
    /// `*`: everyone, anonymous clients included.
    Everyone,
    /// These key ids.
    Keys(Vec<String>),
}

/// A list of patterns, or (the `Not...` form) everything but them.
#[derive(Clone, Debug)]
struct Patterns {
    patterns: Vec<String>,
    negated: bool,
}

#[derive(Clone, Debug)]
struct Statement {
    effect: Effect,
    principals: Principals,
    not_principal: bool,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// A parsed bucket policy.
#[derive(Clone, Debug)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// A request as a policy sees it.
pub struct Request<'a> {
    /// The signing key's id; `None` for an anonymous request.
    pub principal: Option<&'a str>,
    /// The action, e.g. `s3:GetObject` (see [`action_of`]).
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// The values of condition keys.
    pub context: &'a dyn Context,
}

/// What a policy says about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An applying statement denies it.
    Deny,
    /// An applying statement allows it, and none denies it.
    Allow,
    /// No statement applies.
    Unmatched,
}

/// The ARN of a bucket, or of an object in it.
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

impl Policy {
    /// Parses the policy `text` for bucket `bucket`.
    pub fn parse(text: &str, bucket: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new(format!(
                "Policies must be no larger than {MAX_POLICY_BYTES} bytes"
            )));
        }
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| PolicyError::new(format!("Policies must be valid JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return Err(PolicyError::new("Policies must be a JSON object"));
        };
        let mut statements = None;
        for (field, value) in &doc {
            match field.as_str() {
                "Version" => match value.as_str() {
                    Some("2012-10-17" | "2008-10-17") => {}
                    _ => return Err(PolicyError::new("Invalid policy version")),
                },
                "Id" => {}
                "Statement" => statements = Some(value),
                other => return Err(PolicyError::new(format!("Unknown field {other}"))),
            }
        }
        let statements = match statements {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err(PolicyError::new("Missing required field Statement")),
        };
        let statements = statements
            .into_iter()
            .map(|s| match s {
                Value::Object(s) => statement(s, bucket),
                _ => Err(PolicyError::new("Each Statement must be an object")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// A policy denying every request (what a stored policy that no
    /// longer parses is taken as).
    pub fn deny_everything() -> Self {
        Self {
            statements: vec![Statement {
                effect: Effect::Deny,
                principals: Principals::Everyone,
                not_principal: false,
                actions: Patterns {
                    patterns: vec!["*".into()],
                    negated: false,
                },
                resources: Patterns {
                    patterns: vec!["*".into()],
                    negated: false,
                },
                conditions: Vec::new(),
            }],
        }
    }

    /// What this policy says about `request`.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let mut decision = Decision::Unmatched;
        for s in &self.statements {
            if s.applies(request) {
                match s.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => decision = Decision::Allow,
                }
            }
        }
        decision
    }

    /// Whether some Allow statement could grant `action` to `principal`
    /// on some resource (conditions aside): DeleteObjects, whose keys are
    /// only known from its body, is let through on this and then decided
    /// key by key.
    pub fn may_allow(&self, principal: Option<&str>, action: &str) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow && s.names(principal) && s.actions.matches(action, true)
        })
    }

    /// Whether the policy is public as AWS defines it for
    /// GetBucketPolicyStatus and the public access block: some Allow
    /// applies to everyone (`*`, or NotPrincipal) without narrowing the
    /// source address.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            // `*`, or everyone but some keys.
            let everyone = matches!(s.principals, Principals::Everyone) != s.not_principal;
            s.effect == Effect::Allow
                && everyone
                && !s.conditions.iter().any(Condition::restricts_source)
        })
    }
}

impl Patterns {
    fn matches(&self, text: &str, fold: bool) -> bool {
        self.patterns.iter().any(|p| glob::matches(p, text, fold)) != self.negated
    }
}

impl Statement {
    fn names(&self, principal: Option<&str>) -> bool {
        let named = match (&self.principals, principal) {
            (Principals::Everyone, _) => true,
            (Principals::Keys(keys), Some(key)) => keys.iter().any(|k| k == key),
            (Principals::Keys(_), None) => false,
        };
        named != self.not_principal
    }

    fn applies(&self, r: &Request<'_>) -> bool {
        self.names(r.principal)
            && self.actions.matches(r.action, true)
            && self.resources.matches(r.resource, false)
            && self.conditions.iter().all(|c| c.holds(r.context))
    }
}

/// One statement object.
fn statement(s: &Map<String, Value>, bucket: &str) -> Result<Statement, PolicyError> {
    for field in s.keys() {
        if !matches!(
            field.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::new(format!("Unknown field {field}")));
        }
    }
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(PolicyError::new(format!("Invalid effect: {other}"))),
        None => return Err(PolicyError::new("Missing required field Effect")),
    };
    let (principal, not_principal) = one_of(s, "Principal", "NotPrincipal")?;
    let (actions, not_action) = one_of(s, "Action", "NotAction")?;
    let (resources, not_resource) = one_of(s, "Resource", "NotResource")?;
    let actions = Patterns {
        patterns: strings(actions, "Action")?,
        negated: not_action,
    };
    for a in &actions.patterns {
        check_action(a)?;
    }
    let resources = Patterns {
        patterns: strings(resources, "Resource")?,
        negated: not_resource,
    };
    for r in &resources.patterns {
        check_resource(r, bucket)?;
    }
    let conditions = match s.get("Condition") {
        Some(block) => condition::parse(block)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        principals: principals(principal)?,
        not_principal,
        actions,
        resources,
        conditions,
    })
}

/// The value of `field` or of its `not` form (exactly one must be
/// present), and whether it was the `not` form.
fn one_of<'a>(
    s: &'a Map<String, Value>,
    field: &str,
    not: &str,
) -> Result<(&'a Value, bool), PolicyError> {
    match (s.get(field), s.get(not)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(PolicyError::new(format!(
            "A statement cannot have both {field} and {not}"
        ))),
        (None, None) => Err(PolicyError::new(format!("Missing required field {field}"))),
    }
}

/// A string or a non-empty array of strings.
fn strings(value: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let bad = || PolicyError::new(format!("{field} must be a string or a list of strings"));
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

fn principals(value: &Value) -> Result<Principals, PolicyError> {
    let invalid = || PolicyError::new("Invalid principal in policy");
    match value {
        Value::String(s) if s == "*" => Ok(Principals::Everyone),
        Value::Object(map) => {
            let mut keys = Vec::new();
            for (kind, ids) in map {
                if kind != "AWS" && kind != "CanonicalUser" {
                    return Err(invalid());
                }
                for id in strings(ids, "Principal").map_err(|_| invalid())? {
                    if id == "*" {
                        return Ok(Principals::Everyone);
                    }
                    keys.push(key_of_principal(&id).ok_or_else(invalid)?);
                }
            }
            Ok(Principals::Keys(keys))
        }
        _ => Err(invalid()),
    }
}

/// The key id a principal names: the id itself, or the account field of
/// an IAM ARN (`arn:aws:iam::<key id>:root`, `...:user/name`).
fn key_of_principal(id: &str) -> Option<String> {
    let key = match id.strip_prefix("arn:aws:iam::") {
        Some(rest) => rest.split(':').next()?,
        None => id,
    };
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    plain.then(|| key.to_owned())
}

fn check_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let invalid = || PolicyError::new(format!("Policy has invalid action: {action}"));
    let Some(name) = action
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("s3:"))
        .map(|_| &action[3..])
    else {
        return Err(invalid());
    };
    let wild = name.contains(['*', '?']);
    let known = action::KNOWN.iter().any(|k| {
        if wild {
            glob::matches(name, k, true)
        } else {
            k.eq_ignore_ascii_case(name)
        }
    });
    if known { Ok(()) } else { Err(invalid()) }
}

fn check_resource(resource: &str, bucket: &str) -> Result<(), PolicyError> {
    if resource == "*" {
        return Ok(());
    }
    let invalid = || PolicyError::new(format!("Policy has invalid resource: {resource}"));
    let rest = resource.strip_prefix("arn:aws:s3:::").ok_or_else(invalid)?;
    let named = rest.split('/').next().unwrap_or_default();
    if glob::matches(named, bucket, false) {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests;
