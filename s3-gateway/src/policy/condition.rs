//! Policy conditions: `"Condition": {"<operator>": {"<key>": <values>}}`.
//!
//! Every operator of a block must hold, every key of an operator must
//! hold, and a key holds when the request's value matches any of the
//! listed values (negated operators: none of them). A key the request does
//! not carry fails positive operators and passes negated ones, as on AWS;
//! the `...IfExists` forms pass when the key is absent. Condition keys are
//! case-insensitive; a key Cairn never sets is simply absent.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::PolicyError;
use super::glob;

/// How one operator compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    IpAddress,
    Bool,
    Null,
}

/// One parsed operator with one key.
#[derive(Clone, Debug)]
pub struct Condition {
    test: Test,
    negated: bool,
    if_exists: bool,
    /// The condition key, lower-cased.
    key: String,
    values: Vec<String>,
    /// Parsed once for `IpAddress`.
    nets: Vec<IpNet>,
}

/// What a request carries for condition keys.
pub trait Context {
    /// The value of condition key `key` (lower-cased), if the request has
    /// one.
    fn value(&self, key: &str) -> Option<String>;
}

fn operator(name: &str) -> Option<(Test, bool)> {
    Some(match name {
        "StringEquals" => (Test::StringEquals, false),
        "StringNotEquals" => (Test::StringEquals, true),
        "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
        "StringLike" => (Test::StringLike, false),
        "StringNotLike" => (Test::StringLike, true),
        "NumericEquals" => (Test::NumericEquals, false),
        "NumericNotEquals" => (Test::NumericEquals, true),
        "NumericLessThan" => (Test::NumericLessThan, false),
        "NumericLessThanEquals" => (Test::NumericLessThanEquals, false),
        "NumericGreaterThan" => (Test::NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (Test::NumericGreaterThanEquals, false),
        "IpAddress" => (Test::IpAddress, false),
        "NotIpAddress" => (Test::IpAddress, true),
        "Bool" => (Test::Bool, false),
        "Null" => (Test::Null, false),
        _ => return None,
    })
}

/// The conditions of a statement's `Condition` object.
pub fn parse(block: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = block else {
        return Err(PolicyError::new("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (base, if_exists) = match name.strip_suffix("IfExists") {
            Some(base) if base != "Null" => (base, true),
            _ => (name.as_str(), false),
        };
        let (test, negated) = operator(base)
            .ok_or_else(|| PolicyError::new(format!("Invalid Condition type : {name}")))?;
        let Value::Object(keys) = keys else {
            return Err(PolicyError::new(format!(
                "Condition {name} must map condition keys to values"
            )));
        };
        for (key, values) in keys {
            let values = scalars(values).ok_or_else(|| {
                PolicyError::new(format!("Invalid value for condition key {key}"))
            })?;
            let mut nets = Vec::new();
            if test == Test::IpAddress {
                for v in &values {
                    nets.push(ip_net(v).ok_or_else(|| {
                        PolicyError::new(format!("Invalid IP address or range: {v}"))
                    })?);
                }
            }
            if matches!(
                test,
                Test::NumericEquals
                    | Test::NumericLessThan
                    | Test::NumericLessThanEquals
                    | Test::NumericGreaterThan
                    | Test::NumericGreaterThanEquals
            ) && values.iter().any(|v| v.parse::<f64>().is_err())
            {
                return Err(PolicyError::new(format!(
                    "Invalid numeric value for condition key {key}"
                )));
            }
            let key_lower = key.to_ascii_lowercase();
            if !supported(&key_lower) {
                // A condition on a key never set would silently never
                // match: a Deny meant to apply would not.
                return Err(PolicyError::new(format!(
                    "Condition key {key} is not supported (supported: aws:SourceIp, \
                     aws:SecureTransport, aws:Referer, aws:UserAgent, s3:prefix, s3:delimiter, \
                     s3:max-keys, s3:x-amz-* headers)"
                )));
            }
            out.push(Condition {
                test,
                negated,
                if_exists,
                key: key_lower,
                values,
                nets,
            });
        }
    }
    Ok(out)
}

/// The condition keys a request's context can carry (lower-cased).
fn supported(key: &str) -> bool {
    matches!(
        key,
        "aws:sourceip"
            | "aws:securetransport"
            | "aws:referer"
            | "aws:useragent"
            | "s3:prefix"
            | "s3:delimiter"
            | "s3:max-keys"
            | "s3:versionid"
    ) || key.starts_with("s3:x-amz-")
}

/// A string, number or boolean, or an array of them, as strings.
fn scalars(value: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => None,
        other => one(other).map(|v| vec![v]),
    }
}

/// A CIDR block, or a single address as a one-address block.
fn ip_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Condition {
    /// Whether this condition holds for a request with `cx`.
    pub fn holds(&self, cx: &dyn Context) -> bool {
        if self.test == Test::Null {
            let absent = cx.value(&self.key).is_none();
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(actual) = cx.value(&self.key) else {
            return self.if_exists || self.negated;
        };
        let any = match self.test {
            Test::IpAddress => actual
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.nets.iter().any(|n| n.contains(&ip))),
            _ => self.values.iter().any(|v| compare(self.test, v, &actual)),
        };
        any != self.negated
    }

    /// Whether this condition narrows who the statement applies to by
    /// where the request comes from (a source address block), which makes
    /// a policy not public.
    pub fn restricts_source(&self) -> bool {
        self.key == "aws:sourceip" && self.test == Test::IpAddress && !self.negated
    }
}

fn compare(test: Test, expected: &str, actual: &str) -> bool {
    let num = |s: &str| s.parse::<f64>().ok();
    match test {
        Test::StringEquals => expected == actual,
        Test::StringEqualsIgnoreCase => expected.eq_ignore_ascii_case(actual),
        Test::StringLike => glob::matches(expected, actual, false),
        Test::Bool => expected.eq_ignore_ascii_case(actual),
        Test::NumericEquals => num(actual) == num(expected),
        Test::NumericLessThan => cmp_num(actual, expected, |a, e| a < e),
        Test::NumericLessThanEquals => cmp_num(actual, expected, |a, e| a <= e),
        Test::NumericGreaterThan => cmp_num(actual, expected, |a, e| a > e),
        Test::NumericGreaterThanEquals => cmp_num(actual, expected, |a, e| a >= e),
        Test::IpAddress | Test::Null => false,
    }
}

fn cmp_num(actual: &str, expected: &str, f: impl Fn(f64, f64) -> bool) -> bool {
    match (actual.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(a), Ok(e)) => f(a, e),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Cx(HashMap<&'static str, &'static str>);
    impl Context for Cx {
        fn value(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| (*v).to_owned())
        }
    }

    fn holds(block: &str, cx: &Cx) -> bool {
        let block: Value = serde_json::from_str(block).unwrap();
        parse(&block).unwrap().iter().all(|c| c.holds(cx))
    }

    #[test]
    fn operators_compare_as_aws_documents() {
        let cx = Cx([
            ("aws:sourceip", "10.1.2.3"),
            ("aws:securetransport", "false"),
            ("s3:prefix", "home/alice/"),
            ("s3:max-keys", "50"),
        ]
        .into());
        assert!(holds(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, &cx));
        assert!(!holds(
            r#"{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.1.2.4"]}}"#,
            &cx
        ));
        assert!(holds(
            r#"{"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}}"#,
            &cx
        ));
        assert!(holds(r#"{"Bool":{"aws:SecureTransport":"false"}}"#, &cx));
        assert!(holds(r#"{"Bool":{"aws:SecureTransport":false}}"#, &cx));
        assert!(holds(
            r#"{"StringLike":{"s3:prefix":["home/alice/*","x"]}}"#,
            &cx
        ));
        assert!(!holds(r#"{"StringEquals":{"s3:prefix":"home/"}}"#, &cx));
        assert!(holds(r#"{"StringNotEquals":{"s3:prefix":"home/"}}"#, &cx));
        assert!(holds(
            r#"{"NumericLessThanEquals":{"s3:max-keys":"50"}}"#,
            &cx
        ));
        assert!(!holds(r#"{"NumericGreaterThan":{"s3:max-keys":50}}"#, &cx));
        // Every operator and key must hold.
        assert!(!holds(
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}"#,
            &cx
        ));
    }

    #[test]
    fn absent_keys_fail_positive_operators_and_pass_negated_ones() {
        let cx = Cx(HashMap::new());
        assert!(!holds(r#"{"StringEquals":{"aws:Referer":"x"}}"#, &cx));
        assert!(holds(r#"{"StringNotEquals":{"aws:Referer":"x"}}"#, &cx));
        assert!(holds(
            r#"{"StringEqualsIfExists":{"aws:Referer":"x"}}"#,
            &cx
        ));
        assert!(holds(r#"{"Null":{"s3:x-amz-acl":"true"}}"#, &cx));
        assert!(!holds(r#"{"Null":{"s3:x-amz-acl":"false"}}"#, &cx));
    }

    #[test]
    fn bad_conditions_are_refused_with_a_reason() {
        for (block, reason) in [
            (
                r#"{"StringSorta":{"k":"v"}}"#,
                "Invalid Condition type : StringSorta",
            ),
            (
                r#"{"IpAddress":{"aws:SourceIp":"not-an-ip"}}"#,
                "Invalid IP address",
            ),
            (
                r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#,
                "Invalid numeric value",
            ),
            (
                r#"{"StringEquals":{"aws:Referer":{"nested":1}}}"#,
                "Invalid value",
            ),
            (r#"{"StringEquals":"aws:Referer"}"#, "must map"),
            (
                r#"{"StringEquals":{"s3:authType":"REST-QUERY-STRING"}}"#,
                "s3:authType is not supported",
            ),
        ] {
            let err = parse(&serde_json::from_str(block).unwrap()).unwrap_err();
            assert!(err.to_string().contains(reason), "{block}: {err}");
        }
    }
}
