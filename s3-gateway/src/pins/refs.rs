//! What holds content kept here: each pin of it, and its publication
//! through this gateway. Kept content written for pins is let go
//! ([`crate::s3::Gateway::let_go`]) only once nothing holds it.
//!
//! A hold is an empty record `ref/<cid>/<holder>` of the internal bucket
//! [`super::PINS_BUCKET`], so "is it held?" is one short listing. Holds
//! are written before the content is kept and removed after the pin is,
//! so a hold never points at nothing being taken on.

use crate::meta::{ListQuery, MetaError, MetaStore, ObjectMeta};

/// The holder standing for publication through this gateway.
pub const PUBLISHED: &str = "published";

fn key(cid: &str, holder: &str) -> String {
    format!("ref/{cid}/{holder}")
}

/// Records that `holder` holds content `cid` (written now: its
/// `last_modified` says when, which the sweep of holds left behind reads).
pub async fn hold(
    meta: &MetaStore,
    region: &str,
    cid: &str,
    holder: &str,
) -> Result<(), MetaError> {
    let record = ObjectMeta {
        last_modified: super::now_ms(),
        ..ObjectMeta::default()
    };
    super::put_internal(meta, region, &key(cid, holder), &record).await
}

/// Removes `holder`'s hold on `cid`.
pub async fn release(meta: &MetaStore, cid: &str, holder: &str) -> Result<(), MetaError> {
    delete(meta, &key(cid, holder)).await
}

/// Deletes record `key` of the pins bucket, if there is one.
async fn delete(meta: &MetaStore, key: &str) -> Result<(), MetaError> {
    match meta.delete_object(super::PINS_BUCKET, key).await {
        Ok(_) | Err(MetaError::NoSuchBucket) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether anything holds `cid`.
pub async fn held(meta: &MetaStore, cid: &str) -> Result<bool, MetaError> {
    let query = ListQuery {
        prefix: format!("ref/{cid}/"),
        max_keys: 1,
        ..ListQuery::default()
    };
    match meta.list_objects(super::PINS_BUCKET, &query).await {
        Ok(page) => Ok(!page.objects.is_empty()),
        Err(MetaError::NoSuchBucket) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Notes that a hold on `cid` went away, for the pin worker to let go of
/// the content if nothing else holds it (one task decides, so a pin taken
/// on at the same moment is never undone by another request).
pub async fn released(meta: &MetaStore, region: &str, cid: &str) -> Result<(), MetaError> {
    super::put_internal(meta, region, &format!("gone/{cid}"), &ObjectMeta::default()).await
}

/// The contents noted by [`released`] (at most `limit`).
pub async fn released_list(meta: &MetaStore, limit: usize) -> Result<Vec<String>, MetaError> {
    let query = ListQuery {
        prefix: "gone/".into(),
        max_keys: limit,
        ..ListQuery::default()
    };
    match meta.list_objects(super::PINS_BUCKET, &query).await {
        Ok(page) => Ok(page
            .objects
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix("gone/").map(str::to_owned))
            .collect()),
        Err(MetaError::NoSuchBucket) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Clears the note [`released`] left for `cid`.
pub async fn settled(meta: &MetaStore, cid: &str) -> Result<(), MetaError> {
    delete(meta, &format!("gone/{cid}")).await
}

/// Every hold: (cid, holder, when written in Unix ms), a page at a time.
pub async fn all(meta: &MetaStore) -> Result<Vec<(String, String, u64)>, MetaError> {
    let mut query = ListQuery {
        prefix: "ref/".into(),
        ..ListQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let page = match meta.list_objects(super::PINS_BUCKET, &query).await {
            Ok(page) => page,
            Err(MetaError::NoSuchBucket) => return Ok(out),
            Err(e) => return Err(e),
        };
        for (key, object) in &page.objects {
            if let Some((cid, holder)) = key.strip_prefix("ref/").and_then(|r| r.split_once('/')) {
                out.push((cid.to_owned(), holder.to_owned(), object.last_modified));
            }
        }
        match page.next_marker {
            Some(marker) if page.is_truncated => query.start_after = Some(marker),
            _ => return Ok(out),
        }
    }
}
