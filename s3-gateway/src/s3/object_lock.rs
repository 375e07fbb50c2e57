//! Object lock (WORM): the bucket's configuration and default retention,
//! per-version retention and legal hold, and the rule every deletion of a
//! version goes through ([`may_remove`]).
//!
//! A bucket with object lock always has versioning enabled (it cannot be
//! suspended), so an overwrite or a plain DELETE only adds a version or a
//! delete marker; what object lock guards is the permanent deletion of a
//! version, by a request or by lifecycle. Garbage collection and repair
//! never delete a version: they act on shards no version names, or move
//! shards of versions that stay.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::http::conn::ClientInfo;
use crate::meta::bucket_config::{DefaultRetention, OBJECT_LOCK, ObjectLock, VERSIONING};
use crate::meta::versions::Versioning;
use crate::meta::{ObjectMeta, Retention};
use crate::s3::conditional::unix_seconds;

use super::response::{now_ms, timestamp};
use super::versioning::version_header;
use super::{Gateway, access};

const DAY_MS: u64 = 86_400_000;

fn locked() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "Access Denied because object protected by object lock.",
    )
}

fn missing_configuration() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

/// Whether version `v` may be deleted for good at `now`: not under a legal
/// hold, and not under a retention that has not expired, unless it is a
/// GOVERNANCE one and the request may bypass it.
pub(super) fn may_remove(v: &ObjectMeta, may_bypass: bool, now: u64) -> Result<(), S3Error> {
    if v.legal_hold {
        return Err(locked());
    }
    match &v.retention {
        Some(r) if r.until > now && (r.compliance || !may_bypass) => Err(locked()),
        _ => Ok(()),
    }
}

/// Whether a version is protected at `now` (lifecycle leaves it alone).
pub fn is_locked(v: &ObjectMeta, now: u64) -> bool {
    may_remove(v, false, now).is_err()
}

fn mode_of(compliance: bool) -> &'static str {
    if compliance {
        ObjectLockRetentionMode::COMPLIANCE
    } else {
        ObjectLockRetentionMode::GOVERNANCE
    }
}

/// A retention mode as sent; InvalidArgument for another.
fn parse_mode(mode: &str) -> S3Result<bool> {
    match mode {
        ObjectLockRetentionMode::COMPLIANCE => Ok(true),
        ObjectLockRetentionMode::GOVERNANCE => Ok(false),
        _ => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Unknown wormMode directive.",
        )),
    }
}

/// A retain-until date, in ms; it must lie in the future.
fn future_date(date: &Timestamp, now: u64) -> S3Result<u64> {
    let until = unix_seconds(date)
        .and_then(|s| u64::try_from(s).ok())
        .map(|s| s * 1000)
        .ok_or_else(|| s3_error!(InvalidArgument, "Invalid retain until date"))?;
    if until <= now {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The retain until date must be in the future!",
        ));
    }
    Ok(until)
}

fn legal_hold_on(status: &str) -> S3Result<bool> {
    match status {
        ObjectLockLegalHoldStatus::ON => Ok(true),
        ObjectLockLegalHoldStatus::OFF => Ok(false),
        _ => Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The legal hold status must be ON or OFF",
        )),
    }
}

/// What the `x-amz-object-lock-*` headers of a write ask for.
pub(super) struct LockHeaders<'a> {
    pub(super) mode: Option<&'a str>,
    pub(super) until: Option<&'a Timestamp>,
    pub(super) legal_hold: Option<&'a str>,
}

/// Reads a write's object lock headers from `$input` (PutObject,
/// CopyObject, CreateMultipartUpload all name them alike).
macro_rules! lock_headers {
    ($input:expr) => {
        $crate::s3::object_lock::LockHeaders {
            mode: $input.object_lock_mode.as_ref().map(|m| m.as_str()),
            until: $input.object_lock_retain_until_date.as_ref(),
            legal_hold: $input
                .object_lock_legal_hold_status
                .as_ref()
                .map(|s| s.as_str()),
        }
    };
}
pub(super) use lock_headers;

/// The lock fields of a version answered by GET and HEAD.
pub(super) struct LockAnswer {
    pub(super) mode: Option<ObjectLockMode>,
    pub(super) until: Option<Timestamp>,
    pub(super) legal_hold: Option<ObjectLockLegalHoldStatus>,
}

/// What GET and HEAD say of `meta`'s lock.
pub(super) fn answer(meta: &ObjectMeta) -> LockAnswer {
    LockAnswer {
        mode: meta
            .retention
            .as_ref()
            .map(|r| ObjectLockMode::from(mode_of(r.compliance).to_owned())),
        until: meta.retention.as_ref().map(|r| timestamp(r.until)),
        legal_hold: meta
            .legal_hold
            .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
    }
}

impl Gateway {
    /// The object lock configuration of `bucket` (`None`: lock off);
    /// NoSuchBucket if there is none.
    async fn object_lock(&self, bucket: &str) -> S3Result<Option<ObjectLock>> {
        match self.meta.bucket_access(bucket).await? {
            Some(info) => Ok(info.object_lock),
            None => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// InvalidRequest unless `bucket` has object lock on.
    async fn require_object_lock(&self, bucket: &str) -> S3Result<()> {
        match self.object_lock(bucket).await? {
            Some(_) => Ok(()),
            None => Err(missing_configuration()),
        }
    }

    /// The retention and legal hold a new version of `bucket` gets: what
    /// the write's headers ask (refused in a bucket without object lock),
    /// else the bucket's default retention.
    pub(super) async fn lock_for_write(
        &self,
        bucket: &str,
        headers: LockHeaders<'_>,
    ) -> S3Result<(Option<Retention>, bool)> {
        let lock = self.object_lock(bucket).await?;
        let asked =
            headers.mode.is_some() || headers.until.is_some() || headers.legal_hold.is_some();
        let Some(lock) = lock else {
            return if asked {
                Err(missing_configuration())
            } else {
                Ok((None, false))
            };
        };
        let now = now_ms();
        let retention = match (headers.mode, headers.until) {
            (Some(mode), Some(until)) => Some(Retention {
                compliance: parse_mode(mode)?,
                until: future_date(until, now)?,
            }),
            (None, None) => lock.default_retention.map(|d| Retention {
                compliance: d.compliance,
                until: now + d.days() * DAY_MS,
            }),
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                ));
            }
        };
        let legal_hold = headers.legal_hold.map(legal_hold_on).transpose()?;
        Ok((retention, legal_hold.unwrap_or(false)))
    }

    /// Whether a request asking to bypass governance retention
    /// (`asked`) may: the bucket's owners may, and keys a policy allows
    /// `s3:BypassGovernanceRetention`.
    pub(super) async fn may_bypass<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        asked: bool,
    ) -> S3Result<bool> {
        if !asked {
            return Ok(false);
        }
        let Some(info) = self.meta.bucket_access(bucket).await? else {
            return Err(s3_error!(NoSuchBucket));
        };
        let facts = access::Facts {
            client: req.extensions.get::<ClientInfo>().copied(),
            headers: &req.headers,
            query: req.uri.query(),
        };
        let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
        let target = access::Target {
            bucket,
            key: Some(key),
            version: false,
        };
        Ok(access::permitted(
            &info,
            principal,
            "BypassGovernanceRetention",
            &target,
            &facts,
        ))
    }
}

pub(super) async fn put_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let input = req.input;
    let info = gw
        .meta
        .bucket_access_uncached(&input.bucket)
        .await?
        .ok_or_else(|| s3_error!(NoSuchBucket))?;
    let malformed = |why: &str| S3Error::with_message(S3ErrorCode::MalformedXML, why.to_owned());
    let config = input
        .object_lock_configuration
        .ok_or_else(|| malformed("an ObjectLockConfiguration is required"))?;
    if config.object_lock_enabled.as_ref().map(|e| e.as_str()) != Some(ObjectLockEnabled::ENABLED) {
        return Err(malformed("ObjectLockEnabled must be Enabled"));
    }
    // Object lock can be turned on for a bucket whose versioning is
    // enabled (AWS allows that since 2023), and never off.
    let needs_versioning = || {
        S3Error::with_message(
            S3ErrorCode::InvalidBucketState,
            "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
        )
    };
    if info.object_lock.is_none() && info.versioning != Versioning::Enabled {
        return Err(needs_versioning());
    }
    let default_retention = match config.rule.and_then(|r| r.default_retention) {
        None => None,
        Some(d) => {
            let compliance = parse_mode(
                d.mode
                    .as_ref()
                    .ok_or_else(|| malformed("a default retention needs a Mode"))?
                    .as_str(),
            )?;
            let invalid_period = || {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Default retention period must be a positive integer value",
                )
            };
            let (period, years) = match (d.days, d.years) {
                (Some(days), None) => (days, false),
                (None, Some(years)) => (years, true),
                _ => {
                    return Err(malformed(
                        "a default retention needs Days or Years, not both",
                    ));
                }
            };
            let period = u32::try_from(period)
                .ok()
                .filter(|p| *p > 0 && (!years || *p <= 100) && (years || *p <= 36_500))
                .ok_or_else(invalid_period)?;
            Some(DefaultRetention {
                compliance,
                period,
                years,
            })
        }
    };
    let lock = ObjectLock { default_retention };
    // Turning it on: only if versioning is still enabled when written (a
    // racing suspension is refused or refuses this).
    let enabled = [Versioning::Enabled.to_byte()];
    let expect: &[(&str, Option<&[u8]>)] = match info.object_lock {
        None => &[(VERSIONING, Some(&enabled))],
        Some(_) => &[],
    };
    let set = gw
        .meta
        .set_bucket_config_if(&input.bucket, OBJECT_LOCK, Some(&lock.to_bytes()), expect)
        .await?;
    if !set {
        return Err(needs_versioning());
    }
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

pub(super) async fn get_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let Some(lock) = gw.object_lock(&req.input.bucket).await? else {
        return Err(S3Error::with_message(
            S3ErrorCode::ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket",
        ));
    };
    let rule = lock.default_retention.map(|d| ObjectLockRule {
        default_retention: Some(s3s::dto::DefaultRetention {
            mode: Some(ObjectLockRetentionMode::from(
                mode_of(d.compliance).to_owned(),
            )),
            days: (!d.years).then_some(d.period as i32),
            years: d.years.then_some(d.period as i32),
        }),
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

pub(super) async fn put_object_retention(
    gw: &Gateway,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let input = &req.input;
    gw.require_object_lock(&input.bucket).await?;
    let now = now_ms();
    let asked = match &input.retention {
        Some(ObjectLockRetention {
            mode: Some(mode),
            retain_until_date: Some(until),
        }) => Some(Retention {
            compliance: parse_mode(mode.as_str())?,
            until: future_date(until, now)?,
        }),
        Some(ObjectLockRetention {
            mode: None,
            retain_until_date: None,
        })
        | None => None,
        Some(_) => {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "a retention needs both Mode and RetainUntilDate",
            ));
        }
    };
    let may_bypass = gw
        .may_bypass(
            &req,
            &input.bucket,
            &input.key,
            input.bypass_governance_retention.unwrap_or(false),
        )
        .await?;
    let changed = gw
        .change_version(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            |v| {
                if let Some(old) = v.retention.as_ref().filter(|r| r.until > now) {
                    // Shortening, removing or weakening an active retention:
                    // never for COMPLIANCE, only with a bypass for GOVERNANCE.
                    let weakens = match &asked {
                        None => true,
                        Some(new) => new.until < old.until || (old.compliance && !new.compliance),
                    };
                    if weakens && (old.compliance || !may_bypass) {
                        return Err(locked());
                    }
                }
                v.retention = asked.clone();
                Ok(())
            },
        )
        .await?;
    let mut response = S3Response::new(PutObjectRetentionOutput::default());
    version_header(&mut response.headers, changed.version_id.as_deref());
    Ok(response)
}

pub(super) async fn get_object_retention(
    gw: &Gateway,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let input = &req.input;
    gw.require_object_lock(&input.bucket).await?;
    let found = gw
        .find_version(&input.bucket, &input.key, input.version_id.as_deref())
        .await?;
    let Some(r) = found.meta.retention else {
        return Err(S3Error::with_message(
            S3ErrorCode::NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration",
        ));
    };
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from(
                mode_of(r.compliance).to_owned(),
            )),
            retain_until_date: Some(timestamp(r.until)),
        }),
    }))
}

pub(super) async fn put_object_legal_hold(
    gw: &Gateway,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let input = &req.input;
    gw.require_object_lock(&input.bucket).await?;
    let on = legal_hold_on(
        input
            .legal_hold
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .map(|s| s.as_str())
            .unwrap_or_default(),
    )?;
    let changed = gw
        .change_version(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            |v| {
                v.legal_hold = on;
                Ok(())
            },
        )
        .await?;
    let mut response = S3Response::new(PutObjectLegalHoldOutput::default());
    version_header(&mut response.headers, changed.version_id.as_deref());
    Ok(response)
}

pub(super) async fn get_object_legal_hold(
    gw: &Gateway,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let input = &req.input;
    gw.require_object_lock(&input.bucket).await?;
    let found = gw
        .find_version(&input.bucket, &input.key, input.version_id.as_deref())
        .await?;
    let status = if found.meta.legal_hold {
        ObjectLockLegalHoldStatus::ON
    } else {
        ObjectLockLegalHoldStatus::OFF
    };
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold {
            status: Some(ObjectLockLegalHoldStatus::from_static(status)),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_removable_only_once_its_protections_allow() {
        let now = 1_000;
        let mut v = ObjectMeta::default();
        assert!(may_remove(&v, false, now).is_ok());
        v.legal_hold = true;
        assert!(
            may_remove(&v, true, now).is_err(),
            "legal hold beats bypass"
        );
        v.legal_hold = false;
        v.retention = Some(Retention {
            compliance: false,
            until: now + 1,
        });
        assert!(may_remove(&v, false, now).is_err());
        assert!(may_remove(&v, true, now).is_ok(), "governance yields");
        v.retention = Some(Retention {
            compliance: true,
            until: now + 1,
        });
        assert!(may_remove(&v, true, now).is_err(), "compliance does not");
        assert!(may_remove(&v, false, now + 1).is_ok(), "expired");
        assert!(is_locked(&v, now));
    }
}
