//! Published content: an object published by its content id (CIDv1, raw,
//! blake3) and served to anyone who names that id.
//!
//! Publishing reads the object once and writes its bytes again as
//! content (`DataPath::write_content`): each segment sealed under a key
//! derived from its own blake3 chaining value, so the same bytes make the
//! same shards whoever publishes them. The manifest is kept as an object
//! of the hidden bucket [`CONTENT_BUCKET`] named by the CID (audited,
//! repaired and garbage-collected like any object, and kept in metadata
//! backups); the segments' chaining values are its metadata entry
//! [`HASHES_ENTRY`] (so that the manifest format of every object stays as
//! it was).
//! Serving checks those against the CID, then every segment against its
//! value before any of its bytes is sent.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, StatusCode};
use mesh::content::{ContentId, MAX_MANIFEST_BYTES, MAX_SEALED_MANIFEST, ManifestPointer};
use s3s::dto::{Range, StreamingBlob};
use s3s::{Body, S3Error, S3ErrorCode, S3Response, S3Result, s3_error};

use super::Gateway;
use super::content_dht::{AnnounceError, manifest_of};
use super::error::internal;
use super::response::scheme_of;
use crate::data::{ContentRef, ObjectRef, PartRef, Written};
use crate::meta::{ListQuery, MetaError, ObjectMeta, WriteCondition};

/// The bucket published content's manifests are kept in, by CID. Not a
/// valid S3 bucket name, so no client can create, list or write it.
pub const CONTENT_BUCKET: &str = ".cairn-content";

/// The owner of [`CONTENT_BUCKET`]: no access key (key ids are
/// alphanumeric), so no key lists, reads or writes it through S3.
const CONTENT_OWNER: &str = "cairn:published-content";

/// The metadata entry of a kept content's manifest holding its segments'
/// chaining values, in hex, one after another.
pub const HASHES_ENTRY: &str = "cairn-segment-hashes";

/// The metadata entry carrying `hashes`.
pub fn hashes_entry(hashes: &[[u8; 32]]) -> (String, String) {
    let text: String = hashes.iter().map(|h| crate::data::hex(h)).collect();
    (HASHES_ENTRY.to_owned(), text)
}

/// The segments' chaining values of a kept content's manifest; `None` if
/// the entry is missing or malformed.
pub fn hashes_of(meta: &ObjectMeta) -> Option<Vec<[u8; 32]>> {
    let (_, text) = meta.user_metadata.iter().find(|(n, _)| n == HASHES_ENTRY)?;
    if text.len() % 64 != 0 || !text.is_ascii() {
        return None;
    }
    text.as_bytes()
        .chunks(64)
        .map(|hash| {
            let mut out = [0u8; 32];
            for (i, pair) in hash.chunks(2).enumerate() {
                let pair = std::str::from_utf8(pair).ok()?;
                out[i] = u8::from_str_radix(pair, 16).ok()?;
            }
            Some(out)
        })
        .collect()
}

/// The metadata entry of a kept content's manifest saying what it is
/// kept for; [`KEPT_FOR_PINS`]: written for a pin, let go when no pin or
/// publication holds it. Content published before pins existed has none.
const KEPT_FOR_ENTRY: &str = "cairn-kept-for";
const KEPT_FOR_PINS: &str = "pins";

/// Where in [`CONTENT_BUCKET`] the manifest of content too large for its
/// manifest to fit a DHT record is kept, as content of its own:
/// `manifest/<cid>`.
pub const MANIFEST_PREFIX: &str = "manifest/";

/// How content about to be kept is described.
struct Kept {
    content_type: Option<String>,
    disposition: Option<String>,
    /// Written for a pin (so let go when nothing holds it).
    for_pins: bool,
}

/// The response header carrying a published object's CID.
pub const CID_HEADER: &str = "x-cairn-cid";

/// How long clients and caches may keep a response for a CID: it never
/// changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What publishing made.
#[derive(Debug, serde::Serialize)]
pub struct Published {
    /// The content id.
    pub cid: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this gateway already had it published.
    pub already: bool,
    /// Whether it was announced in the DHT (so that any gateway, and
    /// clients with no gateway, can find it).
    pub announced: bool,
}

/// The file name a download of `key` is offered under: its last path
/// segment, without quotes or control characters, at most 200 bytes (a
/// manifest carries at most 256 bytes of disposition).
pub fn file_name(key: &str) -> String {
    let name = key.rsplit('/').find(|s| !s.is_empty()).unwrap_or("content");
    let mut out = String::new();
    for c in name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
    {
        if out.len() + c.len_utf8() > 200 {
            break;
        }
        out.push(c);
    }
    out
}

/// Parses the CID a client named, refusing it with a 400 that says why.
pub fn parse_cid(text: &str) -> S3Result<ContentId> {
    ContentId::parse(text).map_err(|e| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("{text:?} is not a content id this gateway serves ({e}); it serves CIDv1 raw blake3-256 ids, e.g. bafkr4i..."),
        )
    })
}

impl Gateway {
    /// Publishes the current version of `bucket/key`; the caller's right
    /// to is checked by the route.
    pub async fn publish(&self, bucket: &str, key: &str) -> S3Result<Published> {
        let meta = match self.meta.object(bucket, key).await? {
            Some(meta) if !meta.delete_marker => meta,
            _ => return Err(s3_error!(NoSuchKey)),
        };
        if meta.sse_customer_key_md5.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "An object stored with a customer-provided key (SSE-C) cannot be published: \
                 the gateway does not hold its key.",
            ));
        }
        let object_key = self.object_key(&meta)?;
        let source = self.data.read_parts(
            ObjectRef::new(bucket, key),
            object_key,
            scheme_of(&meta),
            meta.parts.clone(),
            0..meta.size,
        );
        let (written, cid, hashes) = self
            .data
            .write_content(Some(meta.size), 0, Box::pin(source))
            .await?;
        self.check_allowed(&cid)?;
        let name = cid.to_string();
        // Held before it is kept, so that letting go of a pin of the same
        // content (the pin worker) never drops what is being published.
        crate::pins::refs::hold(
            &self.meta,
            &self.region,
            &name,
            crate::pins::refs::PUBLISHED,
        )
        .await?;
        let disposition = meta
            .content_disposition
            .clone()
            .unwrap_or_else(|| format!("inline; filename=\"{}\"", file_name(key)));
        let kept = Kept {
            content_type: meta.content_type.clone(),
            disposition: Some(disposition),
            for_pins: false,
        };
        let (already, announced) = self.keep_content(&cid, written, &hashes, kept).await?;
        tracing::info!(%bucket, %key, cid = %name, already, announced, "published");
        Ok(Published {
            cid: name,
            size: meta.size,
            already,
            announced,
        })
    }

    /// Publishes `bucket/key`, just written, if its bucket publishes
    /// everything written to it (the bucket tag `cairn:publish` = `true`),
    /// and puts the CID in `headers`. The write stands whatever happens
    /// here: a publication that fails is logged and the header left out.
    pub async fn publish_if_asked(&self, bucket: &str, key: &str, headers: &mut HeaderMap) {
        let asked = match self.meta.bucket_access(bucket).await {
            Ok(Some(info)) => info.publish,
            _ => false,
        };
        if !asked {
            return;
        }
        match self.publish(bucket, key).await {
            Ok(published) => {
                if let Ok(value) = HeaderValue::from_str(&published.cid) {
                    headers.insert(CID_HEADER, value);
                }
            }
            Err(e) => tracing::warn!(%bucket, %key, error = ?e, "written, but not published"),
        }
    }

    /// Keeps content `cid` just written (`written`, with segment chaining
    /// values `hashes`) as this gateway's own: its manifest recorded in
    /// [`CONTENT_BUCKET`] unless recorded already, and announced in the
    /// DHT. Returns whether it was kept already and whether it was
    /// announced.
    async fn keep_content(
        &self,
        cid: &ContentId,
        written: Written,
        hashes: &[[u8; 32]],
        kept: Kept,
    ) -> S3Result<(bool, bool)> {
        let name = cid.to_string();
        let record = self.content_record(cid, &written, hashes, kept);
        // Kept already (published by this or another key, or pinned): the
        // shards just written have the same ids; copies placed on other
        // nodes than the kept manifest names are garbage collection's.
        let already = self.keep_manifest(&name, record.clone()).await?;
        drop(written.guard);
        // Announced from what is kept: the first layout if this content
        // was kept already.
        let kept = match already {
            false => Some(record),
            true => self.meta.object(CONTENT_BUCKET, &name).await?,
        };
        let announced = match kept {
            Some(kept) if self.dht.is_some() => match self.announce(cid, &kept).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(cid = %name, error = %e, "kept, but not announced in the DHT");
                    false
                }
            },
            _ => false,
        };
        Ok((already, announced))
    }

    /// Announces content `cid` kept as `kept` in the DHT: this gateway's
    /// signed record with the sealed manifest; or, when the manifest is
    /// too large for a record (more than about 60 segments), with a
    /// pointer to the manifest kept as content of its own
    /// ([`MANIFEST_PREFIX`]).
    pub async fn announce(&self, cid: &ContentId, kept: &ObjectMeta) -> Result<(), AnnounceError> {
        let Some(dht) = &self.dht else {
            return Ok(());
        };
        let _serial = self.content_lock(cid).lock().await;
        // Let go of since `kept` was read: nothing to announce.
        let name = cid.to_string();
        let still = self.meta.object(CONTENT_BUCKET, &name).await;
        if still
            .map_err(|e| AnnounceError::Store(e.to_string()))?
            .is_none()
        {
            return Ok(());
        }
        let manifest = manifest_of(kept)?;
        manifest
            .check(cid)
            .map_err(|e| AnnounceError::Manifest(e.to_string()))?;
        let sealed = manifest.seal(cid);
        if sealed.len() <= MAX_SEALED_MANIFEST {
            return dht.announce_sealed(cid, sealed).await;
        }
        let (inner, inner_meta) = self.keep_manifest_bytes(cid, manifest.to_bytes()).await?;
        let pointer = ManifestPointer {
            manifest: *inner.hash(),
            layout: manifest_of(&inner_meta)?,
        };
        dht.announce_sealed(cid, pointer.seal(cid)).await
    }

    /// The lock serializing letting go of and announcing `cid`.
    fn content_lock(&self, cid: &ContentId) -> &tokio::sync::Mutex<()> {
        let at = cid.hash()[0] as usize % self.content_locks.len();
        &self.content_locks[at]
    }

    /// Keeps `bytes`, the manifest of content `cid`, as content of its
    /// own at `manifest/<cid>` of [`CONTENT_BUCKET`] (written again only
    /// when it changed, e.g. after a repair moved shards); its CID and
    /// kept record. Called by [`Gateway::announce`] under the CID's lock,
    /// so the content cannot be let go meanwhile.
    async fn keep_manifest_bytes(
        &self,
        cid: &ContentId,
        bytes: Vec<u8>,
    ) -> Result<(ContentId, ObjectMeta), AnnounceError> {
        let len = bytes.len() as u64;
        if len > MAX_MANIFEST_BYTES {
            return Err(AnnounceError::TooLarge(cid.to_string(), bytes.len()));
        }
        let store = |e: &dyn std::fmt::Display| AnnounceError::Store(e.to_string());
        let inner = ContentId::from_hash(*blake3::hash(&bytes).as_bytes());
        let key = format!("{MANIFEST_PREFIX}{cid}");
        let kept = self.meta.object(CONTENT_BUCKET, &key).await;
        if let Some(kept) = kept.map_err(|e| store(&e))?
            && kept.etag == format!("\"{inner}\"")
        {
            return Ok((inner, kept));
        }
        let body =
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(bytes)) });
        let (written, got, hashes) = self
            .data
            .write_content(Some(len), 0, Box::pin(body))
            .await
            .map_err(|e| store(&e))?;
        let record = self.content_record(
            &got,
            &written,
            &hashes,
            Kept {
                content_type: None,
                disposition: None,
                for_pins: false,
            },
        );
        let replaced = self
            .meta
            .put_object_always(CONTENT_BUCKET, &key, &record)
            .await
            .map_err(|e| store(&e))?;
        drop(written.guard);
        if let Some(old) = replaced {
            self.data
                .delete_shards(super::objects::not_named_by(old.parts, &record.parts));
        }
        Ok((got, record))
    }

    /// Announces every content this gateway keeps, a page at a time. How
    /// many.
    pub async fn announce_all(&self) -> usize {
        let mut query = ListQuery::default();
        let mut announced = 0;
        loop {
            let page = match self.meta.list_objects(CONTENT_BUCKET, &query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot list published content");
                    return announced;
                }
            };
            for (name, object) in &page.objects {
                // Manifests kept as content are announced through theirs.
                let Ok(cid) = ContentId::parse(name) else {
                    continue;
                };
                if self.denylist.denies(&cid) {
                    continue;
                }
                match self.announce(&cid, object).await {
                    Ok(()) => announced += 1,
                    Err(e) => tracing::warn!(cid = %name, error = %e, "cannot announce content"),
                }
            }
            match page.next_marker {
                Some(marker) if page.is_truncated => query.start_after = Some(marker),
                _ => return announced,
            }
        }
    }

    /// The record kept for content `cid` just written.
    fn content_record(
        &self,
        cid: &ContentId,
        written: &Written,
        hashes: &[[u8; 32]],
        kept: Kept,
    ) -> ObjectMeta {
        let mut user_metadata = vec![hashes_entry(hashes)];
        if kept.for_pins {
            user_metadata.push((KEPT_FOR_ENTRY.to_owned(), KEPT_FOR_PINS.to_owned()));
        }
        ObjectMeta {
            size: written.part.size,
            etag: format!("\"{cid}\""),
            last_modified: crate::pins::now_ms(),
            content_type: kept.content_type,
            content_disposition: kept.disposition,
            segment_size: self.data.params().segment_size as u64,
            k: written.scheme.k as u8,
            m: written.scheme.m as u8,
            parts: vec![written.part.clone()],
            user_metadata,
            ..ObjectMeta::default()
        }
    }

    /// Takes content `cid` on as this gateway's own (a pin): unless it is
    /// kept here already, finds its manifest in the DHT, reads every byte
    /// (each segment checked against the CID) and writes it again under
    /// this gateway's identity, so that it is audited, repaired and
    /// renewed here whatever its publisher does. Returns whether it was
    /// kept already.
    pub async fn take_on(&self, cid: &ContentId) -> S3Result<bool> {
        self.check_allowed(cid)?;
        let name = cid.to_string();
        if self.meta.object(CONTENT_BUCKET, &name).await?.is_some() {
            return Ok(true);
        }
        let (meta, content, foreign) = self.find_content(cid).await?;
        let source = self.read_found(&name, &meta, content, 0..meta.size)?;
        let written = self
            .data
            .write_content(Some(meta.size), self.pin_extra_parity, Box::pin(source))
            .await;
        if written.is_err() {
            self.note_read_failed(cid, foreign);
        }
        let (written, got, hashes) = written?;
        if got != *cid {
            // Every segment was checked against the CID on the way in.
            return Err(internal(format!("content {name} was written as {got}")));
        }
        let kept = Kept {
            content_type: meta.content_type.clone(),
            disposition: meta.content_disposition.clone(),
            for_pins: true,
        };
        let (already, announced) = self.keep_content(cid, written, &hashes, kept).await?;
        tracing::info!(cid = %name, size = meta.size, already, announced, "content taken on for a pin");
        Ok(already)
    }

    /// Lets go of content `cid` kept for pins: deletes its manifest if
    /// nothing holds it any more (no pin, no publication) and withdraws
    /// this gateway's record of it. What was published here before pins
    /// existed (no [`KEPT_FOR_ENTRY`]) is never let go. Returns whether it
    /// was deleted.
    ///
    /// Its shards are left to garbage collection, which deletes copies no
    /// manifest names and spares those being written: a publication of
    /// the same bytes racing this (its shards have the same ids) keeps
    /// what it wrote. A hold that appears between the check and the
    /// deletion puts the manifest back.
    pub async fn let_go(&self, cid: &str) -> S3Result<bool> {
        let Ok(parsed) = ContentId::parse(cid) else {
            return Ok(false);
        };
        let _serial = self.content_lock(&parsed).lock().await;
        if crate::pins::refs::held(&self.meta, cid).await? {
            return Ok(false);
        }
        let Some(kept) = self.meta.object(CONTENT_BUCKET, cid).await? else {
            return Ok(false);
        };
        let for_pins = kept
            .user_metadata
            .iter()
            .any(|(n, v)| n == KEPT_FOR_ENTRY && v == KEPT_FOR_PINS);
        if !for_pins {
            return Ok(false);
        }
        // While the manifest is gone and may be put back, garbage
        // collection must not take its shards.
        let _protected = self.data.protect(&kept.parts);
        let Some(gone) = self.meta.delete_object(CONTENT_BUCKET, cid).await? else {
            return Ok(false);
        };
        // Held meanwhile (or cannot tell): keep it, unless the new holder
        // already kept its own.
        if !matches!(crate::pins::refs::held(&self.meta, cid).await, Ok(false)) {
            let _ = self
                .meta
                .put_object(CONTENT_BUCKET, cid, gone, WriteCondition::IfAbsent)
                .await?;
            return Ok(false);
        }
        self.meta
            .delete_object(CONTENT_BUCKET, &format!("{MANIFEST_PREFIX}{cid}"))
            .await?;
        if let Some(dht) = &self.dht
            && let Err(e) = dht.withdraw(&parsed).await
        {
            tracing::warn!(%cid, error = %e, "let go, but the record is not withdrawn");
        }
        tracing::info!(%cid, "content no pin holds any more let go");
        Ok(true)
    }

    /// Records the manifest of content `name` unless it is recorded
    /// already (then `true`). The content bucket is made on first use,
    /// owned by no access key (so no listing shows it).
    async fn keep_manifest(&self, name: &str, record: ObjectMeta) -> S3Result<bool> {
        let mut made = false;
        loop {
            let put = self
                .meta
                .put_object(
                    CONTENT_BUCKET,
                    name,
                    record.clone(),
                    WriteCondition::IfAbsent,
                )
                .await;
            match put {
                Ok(outcome) => return Ok(outcome.is_err()),
                Err(MetaError::NoSuchBucket) if !made => {
                    made = true;
                    self.meta
                        .ensure_internal_bucket(CONTENT_BUCKET, &self.region, CONTENT_OWNER)
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Refuses content the operator's denylist names: 451.
    pub fn check_allowed(&self, cid: &ContentId) -> S3Result<()> {
        if !self.denylist.denies(cid) {
            return Ok(());
        }
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("UnavailableForLegalReasons".into()),
            format!(
                "This gateway's operator does not serve or keep {cid}; other gateways, and `cairn get` from the mesh, may."
            ),
        );
        e.set_status_code(StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
        Err(e)
    }

    /// The manifest of content `cid` (kept here, or another publisher's
    /// found in the DHT) and what reading it needs, checked against the
    /// CID.
    async fn find_content(&self, cid: &ContentId) -> S3Result<(ObjectMeta, ContentRef, bool)> {
        let name = cid.to_string();
        let kept = self.meta.object(CONTENT_BUCKET, &name).await?;
        let found = match (kept, &self.dht) {
            (Some(meta), _) => Some((meta, false)),
            (None, Some(dht)) => dht
                .resolve(cid)
                .await
                .map(|manifest| (super::content_dht::meta_of(cid, &manifest), true)),
            (None, None) => None,
        };
        let Some((meta, foreign)) = found else {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchKey,
                format!("No content with id {name} is kept here or announced in the mesh."),
            ));
        };
        let content = ContentRef::new(
            *cid,
            meta.size,
            meta.segment_size,
            hashes_of(&meta).ok_or_else(|| internal("a content manifest without its hashes"))?,
        )
        .map_err(|e| {
            tracing::error!(cid = %name, error = %e, "a content manifest does not make its CID");
            internal(e)
        })?;
        let content = if foreign { content.foreign() } else { content };
        Ok((meta, content, foreign))
    }

    /// Notes, if `foreign` (read through another publisher's manifest),
    /// that reading `cid` failed, so that the next resolution tries other
    /// records first.
    fn note_read_failed(&self, cid: &ContentId, foreign: bool) {
        if foreign && let Some(dht) = &self.dht {
            dht.read_failed(cid);
        }
    }

    /// Streams the bytes `range` of content `name` found as `meta`, each
    /// segment checked against the CID.
    fn read_found(
        &self,
        name: &str,
        meta: &ObjectMeta,
        content: ContentRef,
        range: std::ops::Range<u64>,
    ) -> S3Result<
        impl futures_util::Stream<Item = Result<Bytes, crate::data::DataError>> + Send + use<>,
    > {
        let part = meta
            .parts
            .first()
            .cloned()
            .ok_or_else(|| internal("no part"))?;
        let at = PartRef {
            object: ObjectRef::new(CONTENT_BUCKET, name),
            index: 0,
        };
        Ok(self
            .data
            .read_content(at, Arc::new(content), scheme_of(meta), part, range))
    }

    /// Answers `GET` (or `HEAD`) `/cid/<cid>`: the content, whole or the
    /// range asked, every byte checked against the CID.
    pub async fn serve_cid(
        &self,
        text: &str,
        head: bool,
        headers: &HeaderMap,
    ) -> S3Result<S3Response<Body>> {
        let cid = parse_cid(text)?;
        self.check_allowed(&cid)?;
        let name = cid.to_string();
        let (meta, content, foreign) = self.find_content(&cid).await?;
        let etag = format!("\"{name}\"");
        let mut out = HeaderMap::new();
        let value = |v: &str| HeaderValue::from_str(v).map_err(internal);
        out.insert(header::ETAG, value(&etag)?);
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        out.insert(CID_HEADER, value(&name)?);
        // Content from anyone, on the S3 origin: never sniffed, never run
        // as a page of this origin.
        out.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        out.insert(
            "content-security-policy",
            HeaderValue::from_static("sandbox"),
        );
        let content_type = meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        out.insert(header::CONTENT_TYPE, value(content_type)?);
        if let Some(disposition) = &meta.content_disposition {
            out.insert(header::CONTENT_DISPOSITION, value(disposition)?);
        }
        let unchanged = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if unchanged {
            return Ok(response(StatusCode::NOT_MODIFIED, out, Body::empty()));
        }
        let asked = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(|v| Range::parse(v).map_err(|_| s3_error!(InvalidRange)));
        let (status, range) = match asked.transpose()? {
            None => (StatusCode::OK, 0..meta.size),
            Some(range) => match range.check(meta.size) {
                Ok(r) => {
                    let end = r.end.saturating_sub(1);
                    let span = format!("bytes {}-{end}/{}", r.start, meta.size);
                    out.insert(header::CONTENT_RANGE, value(&span)?);
                    (StatusCode::PARTIAL_CONTENT, r)
                }
                Err(_) => {
                    let span = format!("bytes */{}", meta.size);
                    let mut e = s3_error!(InvalidRange);
                    e.set_headers({
                        let mut h = HeaderMap::new();
                        h.insert(header::CONTENT_RANGE, value(&span)?);
                        h
                    });
                    return Err(e);
                }
            },
        };
        out.insert(
            header::CONTENT_LENGTH,
            value(&(range.end - range.start).to_string())?,
        );
        if head || range.is_empty() {
            return Ok(response(status, out, Body::empty()));
        }
        let gateway = self.clone();
        let stream = self
            .read_found(&name, &meta, content, range)?
            .map(move |r| {
                r.map_err(|e| {
                    gateway.note_read_failed(&cid, foreign);
                    std::io::Error::other(e)
                })
            });
        let body: StreamingBlob = StreamingBlob::wrap::<_, std::io::Error>(stream);
        Ok(response(status, out, Body::from(body)))
    }
}

fn response(status: StatusCode, headers: HeaderMap, body: Body) -> S3Response<Body> {
    let mut out = S3Response::new(body);
    out.status = Some(status);
    out.headers = headers;
    out
}

/// The body of a publish answer.
pub fn published_body(published: &Published) -> Bytes {
    let mut text = serde_json::to_vec_pretty(published).expect("serializable");
    text.push(b'\n');
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_hashes_round_trip_through_the_metadata_entry() {
        let hashes = vec![[0xab; 32], [0x01; 32]];
        let meta = ObjectMeta {
            user_metadata: vec![hashes_entry(&hashes)],
            ..ObjectMeta::default()
        };
        assert_eq!(hashes_of(&meta), Some(hashes));
        let bad = ObjectMeta {
            user_metadata: vec![(HASHES_ENTRY.into(), "zz".repeat(32))],
            ..ObjectMeta::default()
        };
        assert_eq!(hashes_of(&bad), None);
        assert_eq!(hashes_of(&ObjectMeta::default()), None);
    }

    #[test]
    fn file_names_are_the_last_path_segment_without_quotes() {
        assert_eq!(file_name("a/b/report.pdf"), "report.pdf");
        assert_eq!(file_name("dir/"), "dir");
        assert_eq!(file_name("we\"ird\\name\n"), "weirdname");
        assert_eq!(file_name(""), "content");
    }

    #[test]
    fn a_bad_cid_is_an_invalid_argument_saying_why() {
        let e =
            parse_cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi").unwrap_err();
        assert_eq!(e.code(), &S3ErrorCode::InvalidArgument);
        assert!(
            e.message().unwrap().contains("codec 0x70"),
            "{:?}",
            e.message()
        );
    }
}
