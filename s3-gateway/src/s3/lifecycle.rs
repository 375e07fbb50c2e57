//! PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration and
//! DeleteBucketLifecycle: the rules, checked as AWS checks them and kept
//! as a bucket configuration; `health::lifecycle` applies them.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::health::lifecycle::rules::{Filter, Lifecycle, Rule};
use crate::meta::bucket_config::LIFECYCLE;
use crate::s3::conditional::unix_seconds;

use super::Gateway;
use super::response::timestamp;

/// Most rules in a configuration.
const MAX_RULES: usize = 1000;

fn malformed(why: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, why.to_owned())
}

fn invalid(why: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, why.to_owned())
}

fn positive(days: Option<i32>, what: &str) -> S3Result<Option<u32>> {
    days.map(|d| {
        u32::try_from(d)
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| invalid(&format!("'{what}' must be a positive integer")))
    })
    .transpose()
}

fn size(bytes: Option<i64>) -> S3Result<Option<u64>> {
    bytes
        .map(|b| u64::try_from(b).map_err(|_| invalid("Object size must be non-negative")))
        .transpose()
}

fn tag_pair(tag: Tag) -> S3Result<(String, String)> {
    Ok((
        tag.key.ok_or_else(|| malformed("a Tag needs a Key"))?,
        tag.value.unwrap_or_default(),
    ))
}

fn filter_of(rule: &mut LifecycleRule) -> S3Result<Filter> {
    let Some(f) = rule.filter.take() else {
        return Ok(Filter {
            prefix: rule.prefix.take().unwrap_or_default(),
            ..Default::default()
        });
    };
    if rule.prefix.is_some() {
        return Err(malformed("a rule has a Filter or a Prefix, not both"));
    }
    let given = [
        f.prefix.is_some(),
        f.tag.is_some(),
        f.and.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(malformed(
            "a Filter holds one condition; combine several with And",
        ));
    }
    let mut filter = Filter {
        prefix: f.prefix.unwrap_or_default(),
        tags: f.tag.map(tag_pair).transpose()?.into_iter().collect(),
        size_greater_than: size(f.object_size_greater_than)?,
        size_less_than: size(f.object_size_less_than)?,
    };
    if let Some(and) = f.and {
        filter.prefix = and.prefix.unwrap_or_default();
        filter.tags = and
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(tag_pair)
            .collect::<S3Result<_>>()?;
        filter.size_greater_than = size(and.object_size_greater_than)?;
        filter.size_less_than = size(and.object_size_less_than)?;
    }
    if let (Some(gt), Some(lt)) = (filter.size_greater_than, filter.size_less_than)
        && gt >= lt
    {
        return Err(invalid(
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
        ));
    }
    super::tagging::validate(&filter.tags, super::tagging::MAX_OBJECT_TAGS)?;
    Ok(filter)
}

/// A rule as sent, checked.
fn rule_of(mut rule: LifecycleRule) -> S3Result<Rule> {
    if rule.transitions.is_some() || rule.noncurrent_version_transitions.is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Cairn has one storage class: transitions are not supported",
        ));
    }
    let id = match rule.id.take() {
        Some(id) if id.chars().count() > 255 => {
            return Err(invalid("ID length should not exceed allowed limit of 255"));
        }
        Some(id) => id,
        None => format!("{:016x}", rand::random::<u64>()),
    };
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed("Status must be Enabled or Disabled")),
    };
    let filter = filter_of(&mut rule)?;
    let mut out = Rule {
        id,
        enabled,
        filter,
        ..Default::default()
    };
    if let Some(e) = rule.expiration {
        let given = [
            e.days.is_some(),
            e.date.is_some(),
            e.expired_object_delete_marker.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(malformed(
                "Expiration holds one of Days, Date or ExpiredObjectDeleteMarker",
            ));
        }
        out.expiration_days = positive(e.days, "Days")?;
        out.expiration_date = e
            .date
            .map(|d| {
                unix_seconds(&d)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|s| s * 1000)
                    .ok_or_else(|| invalid("Invalid Expiration Date"))
            })
            .transpose()?;
        out.expired_object_delete_marker = e.expired_object_delete_marker == Some(true);
        if out.expired_object_delete_marker && out.filter.needs_object() {
            return Err(invalid(
                "ExpiredObjectDeleteMarker cannot be specified with tags or object sizes",
            ));
        }
    }
    if let Some(n) = rule.noncurrent_version_expiration {
        out.noncurrent_days = Some(
            positive(n.noncurrent_days, "NoncurrentDays")?
                .ok_or_else(|| malformed("NoncurrentVersionExpiration needs NoncurrentDays"))?,
        );
        out.newer_noncurrent_versions = n
            .newer_noncurrent_versions
            .map(|v| {
                u32::try_from(v)
                    .ok()
                    .filter(|v| (1..=100).contains(v))
                    .ok_or_else(|| invalid("NewerNoncurrentVersions must be from 1 to 100"))
            })
            .transpose()?;
    }
    if let Some(a) = rule.abort_incomplete_multipart_upload {
        out.abort_incomplete_days = Some(
            positive(a.days_after_initiation, "DaysAfterInitiation")?.ok_or_else(|| {
                malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation")
            })?,
        );
        if out.filter.needs_object() {
            return Err(invalid(
                "AbortIncompleteMultipartUpload cannot be specified with tags or object sizes",
            ));
        }
    }
    let acts = out.expiration_days.is_some()
        || out.expiration_date.is_some()
        || out.expired_object_delete_marker
        || out.noncurrent_days.is_some()
        || out.abort_incomplete_days.is_some();
    if !acts {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "At least one action needs to be specified in a rule",
        ));
    }
    Ok(out)
}

/// A configuration as sent, checked.
pub fn lifecycle_of(config: BucketLifecycleConfiguration) -> S3Result<Lifecycle> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(malformed("a configuration holds 1 to 1000 rules"));
    }
    let rules: Vec<Rule> = config
        .rules
        .into_iter()
        .map(rule_of)
        .collect::<S3Result<_>>()?;
    let mut ids = std::collections::HashSet::new();
    if !rules.iter().all(|r| ids.insert(r.id.as_str())) {
        return Err(invalid(
            "Rule ID must be unique. Found same ID for more than one rule",
        ));
    }
    Ok(Lifecycle { rules })
}

fn dto_tag((key, value): &(String, String)) -> Tag {
    Tag {
        key: Some(key.clone()),
        value: Some(value.clone()),
    }
}

/// A stored rule as GetBucketLifecycleConfiguration answers it.
fn dto_rule(rule: &Rule) -> LifecycleRule {
    let f = &rule.filter;
    let conditions = usize::from(!f.prefix.is_empty())
        + f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    let filter = if conditions > 1 {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                tags: (!f.tags.is_empty()).then(|| f.tags.iter().map(dto_tag).collect()),
                object_size_greater_than: f.size_greater_than.map(|n| n as i64),
                object_size_less_than: f.size_less_than.map(|n| n as i64),
            }),
            ..Default::default()
        }
    } else {
        LifecycleRuleFilter {
            prefix: Some(f.prefix.clone()).filter(|p| !p.is_empty() || conditions == 0),
            tag: f.tags.first().map(dto_tag),
            object_size_greater_than: f.size_greater_than.map(|n| n as i64),
            object_size_less_than: f.size_less_than.map(|n| n as i64),
            ..Default::default()
        }
    };
    let expires = rule.expiration_days.is_some()
        || rule.expiration_date.is_some()
        || rule.expired_object_delete_marker;
    LifecycleRule {
        id: Some(rule.id.clone()),
        status: ExpirationStatus::from_static(if rule.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        filter: Some(filter),
        expiration: expires.then(|| LifecycleExpiration {
            days: rule.expiration_days.map(|d| d as i32),
            date: rule.expiration_date.map(timestamp),
            expired_object_delete_marker: rule.expired_object_delete_marker.then_some(true),
        }),
        noncurrent_version_expiration: rule.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: Some(d as i32),
            newer_noncurrent_versions: rule.newer_noncurrent_versions.map(|n| n as i32),
        }),
        abort_incomplete_multipart_upload: rule.abort_incomplete_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d as i32),
            }
        }),
        noncurrent_version_transitions: None,
        prefix: None,
        transitions: None,
    }
}

pub(super) async fn put_bucket_lifecycle_configuration(
    gw: &Gateway,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let input = req.input;
    let config = input
        .lifecycle_configuration
        .ok_or_else(|| malformed("a LifecycleConfiguration is required"))?;
    let lifecycle = lifecycle_of(config)?;
    gw.meta
        .set_bucket_config(&input.bucket, LIFECYCLE, Some(&lifecycle.to_bytes()))
        .await?;
    Ok(S3Response::new(
        PutBucketLifecycleConfigurationOutput::default(),
    ))
}

pub(super) async fn get_bucket_lifecycle_configuration(
    gw: &Gateway,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let bucket = &req.input.bucket;
    gw.require_bucket(bucket).await?;
    let none = || {
        S3Error::with_message(
            S3ErrorCode::NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist",
        )
    };
    let stored = gw
        .meta
        .bucket_config(bucket, LIFECYCLE)
        .await?
        .ok_or_else(none)?;
    let lifecycle = Lifecycle::from_bytes(&stored)
        .ok_or_else(|| super::error::internal("stored lifecycle rules unreadable"))?;
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(lifecycle.rules.iter().map(dto_rule).collect()),
        ..Default::default()
    }))
}

pub(super) async fn delete_bucket_lifecycle(
    gw: &Gateway,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    gw.meta
        .set_bucket_config(&req.input.bucket, LIFECYCLE, None)
        .await?;
    Ok(S3Response::with_status(
        DeleteBucketLifecycleOutput::default(),
        http::StatusCode::NO_CONTENT,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> LifecycleRule {
        LifecycleRule {
            id: Some("r".into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            filter: Some(LifecycleRuleFilter {
                prefix: Some("logs/".into()),
                ..Default::default()
            }),
            expiration: Some(LifecycleExpiration {
                days: Some(30),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            transitions: None,
        }
    }

    fn check(rules: Vec<LifecycleRule>) -> S3Result<Lifecycle> {
        lifecycle_of(BucketLifecycleConfiguration { rules })
    }

    #[test]
    fn rules_are_checked_as_aws_checks_them() {
        let ok = check(vec![rule()]).unwrap();
        assert_eq!(ok.rules[0].expiration_days, Some(30));
        assert_eq!(ok.rules[0].filter.prefix, "logs/");
        // Round trip through the answer.
        let again = check(vec![dto_rule(&ok.rules[0])]).unwrap();
        assert_eq!(again, ok);
        let code = |r: S3Result<Lifecycle>| r.unwrap_err().code().as_str().to_owned();
        assert_eq!(code(check(vec![])), "MalformedXML");
        assert_eq!(
            code(check(vec![rule(), rule()])),
            "InvalidArgument",
            "same id"
        );
        let mut no_action = rule();
        no_action.expiration = None;
        assert_eq!(code(check(vec![no_action])), "InvalidRequest");
        let mut zero = rule();
        zero.expiration = Some(LifecycleExpiration {
            days: Some(0),
            ..Default::default()
        });
        assert_eq!(code(check(vec![zero])), "InvalidArgument");
        let mut both = rule();
        both.expiration
            .as_mut()
            .unwrap()
            .expired_object_delete_marker = Some(true);
        assert_eq!(code(check(vec![both])), "MalformedXML");
        let mut tagged_abort = rule();
        tagged_abort.filter = Some(LifecycleRuleFilter {
            tag: Some(Tag {
                key: Some("a".into()),
                value: Some("b".into()),
            }),
            ..Default::default()
        });
        tagged_abort.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
            days_after_initiation: Some(1),
        });
        assert_eq!(code(check(vec![tagged_abort])), "InvalidArgument");
    }

    #[test]
    fn combined_filters_come_back_as_and() {
        let mut r = rule();
        r.filter = Some(LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: Some("p/".into()),
                tags: Some(vec![Tag {
                    key: Some("k".into()),
                    value: Some("v".into()),
                }]),
                object_size_greater_than: Some(10),
                object_size_less_than: None,
            }),
            ..Default::default()
        });
        let stored = check(vec![r]).unwrap();
        assert_eq!(stored.rules[0].filter.size_greater_than, Some(10));
        let answered = dto_rule(&stored.rules[0]);
        assert!(answered.filter.as_ref().unwrap().and.is_some());
        assert_eq!(check(vec![answered]).unwrap(), stored);
    }
}
