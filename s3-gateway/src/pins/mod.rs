//! Pins: content a gateway keeps as its own because someone asked it to,
//! served over the IPFS Pinning Service API ([`api`]).
//!
//! A pin request names a CID. The pin worker ([`worker`]) takes the
//! content on: it finds the manifest (kept here already, or another
//! publisher's in the DHT), reads every byte checked against the CID and
//! writes it again under this gateway's identity
//! ([`crate::s3::Gateway::take_on`]). From then on the content is this
//! gateway's like any object: its shards are leased, audited and repaired
//! here, and it is announced in the DHT, whatever its publisher does.
//!
//! Pin requests are records of the internal bucket [`PINS_BUCKET`] (so
//! they live in the metadata store of either engine, and in its backups):
//! `pin/<access key>/<request id>`, an empty object whose metadata entry
//! `pin` is the request as JSON ([`PinRecord`]). What holds kept content
//! (pins and publication) is recorded beside them ([`refs`]).

pub mod api;
pub mod refs;
pub mod token;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::meta::{MetaError, MetaStore, ObjectMeta, WriteCondition};

/// The internal bucket of pin requests and holds: not a valid S3 bucket
/// name, so no S3 request reaches it.
pub const PINS_BUCKET: &str = ".cairn-pins";

/// The owner of [`PINS_BUCKET`]: no access key.
const PINS_OWNER: &str = "cairn:pins";

/// The metadata entry of a pin record holding its JSON.
const RECORD_ENTRY: &str = "pin";

/// The most pin requests one access key may have.
pub const MAX_PINS_PER_KEY: usize = 10_000;

/// A pin request's state, as the Pinning Service API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for the worker.
    Queued,
    /// Being taken on.
    Pinning,
    /// Kept here.
    Pinned,
    /// Given up; `info.reason` says why.
    Failed,
}

impl Status {
    /// The status named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "queued" => Some(Self::Queued),
            "pinning" => Some(Self::Pinning),
            "pinned" => Some(Self::Pinned),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What a client asked to pin (the API's `Pin` object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The content id.
    pub cid: String,
    /// An optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Multiaddrs that may have the data (kept and returned; Cairn finds
    /// content through its own DHT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// Free-form string pairs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub meta: std::collections::BTreeMap<String, String>,
}

/// One pin request as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    /// Its id.
    pub requestid: String,
    /// Its state.
    pub status: Status,
    /// When it was made, in Unix milliseconds.
    pub created: u64,
    /// What it pins.
    pub pin: Pin,
    /// Why it failed, or what the last attempt hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not to be tried again before this (Unix milliseconds).
    #[serde(default)]
    pub retry_at: u64,
}

/// A stored pin record and the tag it was read with (for conditional
/// updates: a record deleted or changed meanwhile is not overwritten).
#[derive(Clone, Debug)]
pub struct Stored {
    /// Whose it is: an access key id.
    pub owner: String,
    /// The record.
    pub record: PinRecord,
    tag: String,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn record_key(owner: &str, requestid: &str) -> String {
    format!("pin/{owner}/{requestid}")
}

/// A fresh request id: 128 random bits in hex.
pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    crate::data::hex(&bytes)
}

/// The holder name of `owner`'s pin request `requestid` in [`refs`].
pub fn holder(owner: &str, requestid: &str) -> String {
    format!("pin-{owner}-{requestid}")
}

/// The owner and request id a holder name of [`holder`] stands for.
pub fn holder_of(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix("pin-")?.split_once('-')
}

/// Puts `meta` at `key` of [`PINS_BUCKET`], making the bucket on first
/// use.
async fn put_internal(
    meta: &MetaStore,
    region: &str,
    key: &str,
    record: &ObjectMeta,
) -> Result<(), MetaError> {
    meta.put_internal((PINS_BUCKET, region, PINS_OWNER), key, record)
        .await
}

fn to_object(record: &PinRecord) -> ObjectMeta {
    let json = serde_json::to_string(record).expect("serializable");
    ObjectMeta {
        // A fresh tag per write: what conditional updates compare.
        etag: new_request_id(),
        last_modified: now_ms(),
        user_metadata: vec![(RECORD_ENTRY.to_owned(), json)],
        ..ObjectMeta::default()
    }
}

fn from_object(owner: &str, object: &ObjectMeta) -> Option<Stored> {
    let (_, json) = object
        .user_metadata
        .iter()
        .find(|(n, _)| n == RECORD_ENTRY)?;
    let record = serde_json::from_str(json).ok()?;
    Some(Stored {
        owner: owner.to_owned(),
        record,
        tag: object.etag.clone(),
    })
}

/// Pin requests in the metadata store. Cheap to clone (a store handle).
#[derive(Clone)]
pub struct PinStore {
    meta: MetaStore,
    region: String,
}

impl PinStore {
    /// Pin requests kept in `meta`; the internal bucket is made in
    /// `region`.
    pub fn new(meta: MetaStore, region: String) -> Self {
        Self { meta, region }
    }

    /// The metadata store.
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Records a new request of `owner`, queued, and its hold on the
    /// content.
    pub async fn create(&self, owner: &str, pin: Pin) -> Result<PinRecord, MetaError> {
        let record = PinRecord {
            requestid: new_request_id(),
            status: Status::Queued,
            created: now_ms(),
            pin,
            reason: None,
            attempts: 0,
            retry_at: 0,
        };
        refs::hold(
            &self.meta,
            &self.region,
            &record.pin.cid,
            &holder(owner, &record.requestid),
        )
        .await?;
        let key = record_key(owner, &record.requestid);
        put_internal(&self.meta, &self.region, &key, &to_object(&record)).await?;
        Ok(record)
    }

    /// `owner`'s request `requestid`.
    pub async fn get(&self, owner: &str, requestid: &str) -> Result<Option<Stored>, MetaError> {
        if !is_request_id(requestid) {
            return Ok(None);
        }
        match self
            .meta
            .object(PINS_BUCKET, &record_key(owner, requestid))
            .await?
        {
            Some(object) => Ok(from_object(owner, &object)),
            None => Ok(None),
        }
    }

    /// Every request of `owner` (at most [`MAX_PINS_PER_KEY`]).
    pub async fn list(&self, owner: &str) -> Result<Vec<Stored>, MetaError> {
        self.scan(&format!("pin/{owner}/")).await
    }

    /// Every request of every owner.
    pub async fn all(&self) -> Result<Vec<Stored>, MetaError> {
        self.scan("pin/").await
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<Stored>, MetaError> {
        let objects = self.meta.list_all(PINS_BUCKET, prefix).await?;
        Ok(objects
            .iter()
            .filter_map(|(key, object)| {
                let (owner, _) = key.strip_prefix("pin/")?.split_once('/')?;
                from_object(owner, object)
            })
            .collect())
    }

    /// Writes `record` over `stored` unless that was changed or removed
    /// meanwhile; the new stored form, or `None` if it was.
    pub async fn update(
        &self,
        stored: &Stored,
        record: PinRecord,
    ) -> Result<Option<Stored>, MetaError> {
        let key = record_key(&stored.owner, &record.requestid);
        let object = to_object(&record);
        let written = self
            .meta
            .put_object(
                PINS_BUCKET,
                &key,
                object.clone(),
                WriteCondition::IfMatch(stored.tag.clone()),
            )
            .await?;
        Ok(written.ok().map(|_| Stored {
            owner: stored.owner.clone(),
            record,
            tag: object.etag,
        }))
    }

    /// Removes `owner`'s request `requestid`, then its hold; the record
    /// removed.
    pub async fn remove(
        &self,
        owner: &str,
        requestid: &str,
    ) -> Result<Option<PinRecord>, MetaError> {
        let Some(stored) = self.get(owner, requestid).await? else {
            return Ok(None);
        };
        self.meta
            .delete_object(PINS_BUCKET, &record_key(owner, requestid))
            .await?;
        refs::release(
            &self.meta,
            &stored.record.pin.cid,
            &holder(owner, requestid),
        )
        .await?;
        Ok(Some(stored.record))
    }
}

/// Whether `text` looks like a request id this gateway made.
fn is_request_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_object() {
        let record = PinRecord {
            requestid: new_request_id(),
            status: Status::Pinning,
            created: 1_700_000_000_000,
            pin: Pin {
                cid: "bafkr4i".into(),
                name: Some("n".into()),
                origins: vec![],
                meta: [("app".to_owned(), "x".to_owned())].into(),
            },
            reason: None,
            attempts: 2,
            retry_at: 5,
        };
        let object = to_object(&record);
        let stored = from_object("KEY", &object).unwrap();
        assert_eq!(stored.record, record);
        assert_eq!(stored.owner, "KEY");
        assert_ne!(
            to_object(&record).etag,
            object.etag,
            "each write is tagged anew"
        );
        assert!(from_object("KEY", &ObjectMeta::default()).is_none());
    }

    #[test]
    fn holders_name_their_request() {
        let id = new_request_id();
        assert_eq!(
            holder_of(&holder("AKID1", &id)),
            Some(("AKID1", id.as_str()))
        );
        assert_eq!(holder_of(refs::PUBLISHED), None);
    }

    #[test]
    fn request_ids_are_recognised() {
        assert!(is_request_id(&new_request_id()));
        assert!(!is_request_id("../x"));
        assert!(!is_request_id(""));
    }
}
