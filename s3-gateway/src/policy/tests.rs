use std::collections::HashMap;

use super::*;

#[derive(Default)]
struct Cx(HashMap<&'static str, String>);

impl Context for Cx {
    fn value(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

fn decide(
    policy: &Policy,
    principal: Option<&str>,
    action: &str,
    resource: &str,
    cx: &Cx,
) -> Decision {
    policy.decide(&Request {
        principal,
        action,
        resource,
        context: cx,
    })
}

const PUBLIC_READ: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::site/*"
  }]
}"#;

#[test]
fn a_public_read_policy_allows_reads_of_objects_only() {
    let p = Policy::parse(PUBLIC_READ, "site").unwrap();
    let cx = Cx::default();
    assert_eq!(
        decide(&p, None, "s3:GetObject", "arn:aws:s3:::site/a/b", &cx),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, Some("K"), "s3:GetObject", "arn:aws:s3:::site/x", &cx),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, None, "s3:PutObject", "arn:aws:s3:::site/x", &cx),
        Decision::Unmatched
    );
    assert_eq!(
        decide(&p, None, "s3:ListBucket", "arn:aws:s3:::site", &cx),
        Decision::Unmatched
    );
    assert!(p.is_public());
}

#[test]
fn deny_beats_allow_and_principals_name_keys() {
    let p = Policy::parse(
        r#"{"Statement":[
          {"Effect":"Allow","Principal":{"AWS":["KEYB","arn:aws:iam::KEYC:root"]},
           "Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
          {"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:Delete*",
           "Resource":"arn:aws:s3:::b/locked/*"}
        ]}"#,
        "b",
    )
    .unwrap();
    let cx = Cx::default();
    let obj = "arn:aws:s3:::b/k";
    let locked = "arn:aws:s3:::b/locked/k";
    assert_eq!(
        decide(&p, Some("KEYB"), "s3:PutObject", obj, &cx),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, Some("KEYC"), "s3:ListBucket", "arn:aws:s3:::b", &cx),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, Some("KEYD"), "s3:PutObject", obj, &cx),
        Decision::Unmatched
    );
    assert_eq!(
        decide(&p, None, "s3:GetObject", obj, &cx),
        Decision::Unmatched
    );
    assert_eq!(
        decide(&p, Some("KEYB"), "s3:DeleteObject", locked, &cx),
        Decision::Deny
    );
    assert_eq!(
        decide(&p, None, "s3:DeleteObject", locked, &cx),
        Decision::Deny
    );
    assert_eq!(
        decide(&p, Some("KEYB"), "s3:DeleteObject", obj, &cx),
        Decision::Allow
    );
    assert!(!p.is_public());
    assert!(p.may_allow(Some("KEYB"), "s3:DeleteObject"));
    assert!(!p.may_allow(Some("KEYD"), "s3:DeleteObject"));
}

#[test]
fn not_forms_invert_their_lists() {
    let p = Policy::parse(
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"OWNER"},
            "NotAction":["s3:Get*","s3:List*"],"NotResource":"arn:aws:s3:::b/scratch/*"}]}"#,
        "b",
    )
    .unwrap();
    let cx = Cx::default();
    assert_eq!(
        decide(&p, Some("X"), "s3:PutObject", "arn:aws:s3:::b/k", &cx),
        Decision::Deny
    );
    assert_eq!(
        decide(&p, None, "s3:PutObject", "arn:aws:s3:::b/k", &cx),
        Decision::Deny
    );
    assert_eq!(
        decide(&p, Some("OWNER"), "s3:PutObject", "arn:aws:s3:::b/k", &cx),
        Decision::Unmatched
    );
    assert_eq!(
        decide(&p, Some("X"), "s3:GetObject", "arn:aws:s3:::b/k", &cx),
        Decision::Unmatched
    );
    assert_eq!(
        decide(
            &p,
            Some("X"),
            "s3:PutObject",
            "arn:aws:s3:::b/scratch/k",
            &cx
        ),
        Decision::Unmatched
    );
}

#[test]
fn conditions_decide_with_the_request_context() {
    let p = Policy::parse(
        r#"{"Statement":[
          {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
           "Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}},
          {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*",
           "Condition":{"Bool":{"aws:SecureTransport":"false"},"StringLike":{"aws:Referer":"http://evil.*"}}}
        ]}"#,
        "b",
    )
    .unwrap();
    assert!(!p.is_public(), "restricted by source address");
    let mut cx = Cx::default();
    cx.0.insert("aws:sourceip", "192.0.2.7".into());
    cx.0.insert("aws:securetransport", "false".into());
    let obj = "arn:aws:s3:::b/k";
    assert_eq!(decide(&p, None, "s3:GetObject", obj, &cx), Decision::Allow);
    cx.0.insert("aws:referer", "http://evil.example/".into());
    assert_eq!(decide(&p, None, "s3:GetObject", obj, &cx), Decision::Deny);
    cx.0.remove("aws:referer");
    cx.0.insert("aws:sourceip", "198.51.100.1".into());
    assert_eq!(
        decide(&p, None, "s3:GetObject", obj, &cx),
        Decision::Unmatched
    );
}

#[test]
fn malformed_policies_are_refused_with_the_reason() {
    let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
    let good =
        r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*""#;
    assert!(Policy::parse(&stmt(&format!("{{{good}}}")), "b").is_ok());
    for (text, reason) in [
        ("not json".to_owned(), "valid JSON"),
        ("[]".to_owned(), "JSON object"),
        (
            r#"{"Version":"2012-10-17"}"#.to_owned(),
            "Missing required field Statement",
        ),
        (
            r#"{"Version":"2020-01-01","Statement":[]}"#.to_owned(),
            "Invalid policy version",
        ),
        (
            r#"{"Statement":[],"Extra":1}"#.to_owned(),
            "Unknown field Extra",
        ),
        (
            stmt(r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#),
            "Invalid effect: Maybe",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#),
            "Missing required field Principal",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#),
            "Missing required field Action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}"#),
            "Missing required field Resource",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"*"}"#),
            "invalid action: s3:GetObjekt",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"*"}"#),
            "invalid action",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::other/*"}"#,
            ),
            "invalid resource",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:*","Resource":"*"}"#,
            ),
            "Invalid principal",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Sometimes":{"a":"b"}}}"#,
            ),
            "Invalid Condition type",
        ),
        (
            stmt(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}"#,
            ),
            "both Action and NotAction",
        ),
        (
            stmt(r#"{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}"#),
            "list of strings",
        ),
        (
            format!(
                r#"{{"Id":"{}","Statement":[]}}"#,
                "x".repeat(MAX_POLICY_BYTES)
            ),
            "no larger than",
        ),
    ] {
        let err = Policy::parse(&text, "b").unwrap_err();
        assert!(err.to_string().contains(reason), "{text}: {err}");
    }
}

#[test]
fn resources_with_wildcards_may_name_the_bucket() {
    let p = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b*"}}"#,
        "bucket",
    )
    .unwrap();
    let cx = Cx::default();
    assert_eq!(
        decide(&p, None, "s3:listbucket", "arn:aws:s3:::bucket", &cx),
        Decision::Allow
    );
}
