//! The IPFS Pinning Service API (ipfs/pinning-services-api-spec v1) on
//! the S3 port, in front of the S3 service:
//!
//! - `GET /pins`: the caller's pin requests, newest first, filtered by
//!   `cid` (up to 10, comma-separated), `name` with `match`
//!   (`exact`, `iexact`, `partial`, `ipartial`), `status` (comma-separated;
//!   default `pinned`), `before` / `after` (RFC 3339), `meta` (a JSON
//!   object the pin's meta must contain) and `limit` (1 to 1000, default
//!   10); `{"count", "results"}`, `count` counting every match.
//! - `POST /pins` (a `Pin`): 202 with the new request, `queued`.
//! - `GET /pins/{requestid}`, `DELETE /pins/{requestid}` (202), and
//!   `POST /pins/{requestid}` (replace: the old request is removed, a new
//!   one made, 202).
//!
//! Requests carry `Authorization: Bearer <token>`, a token tied to a
//! Cairn access key ([`super::token`]); each key sees only its own pins.
//! Path-style requests (not virtual-hosted ones) to `/pins` with a Bearer
//! token or no credentials come here;
//! S3 requests signed for a bucket named `pins` pass through (its objects
//! cannot be read anonymously with path-style URLs). Errors are
//! `{"error": {"reason", "details"}}` with the spec's statuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use mesh::content::ContentId;
use s3s::dto::{Timestamp, TimestampFormat};
use serde::Serialize;
use tokio::sync::Notify;

use super::{MAX_PINS_PER_KEY, Pin, PinRecord, PinStore, Status, holder, refs};
use crate::keywrap::MasterKey;

/// The largest request body taken (a `Pin` is small).
const MAX_BODY: usize = 64 * 1024;
/// The longest pin name (the spec's limit).
const MAX_NAME: usize = 255;
/// The most origins and delegates a pin carries (the spec's limit).
const MAX_ADDRS: usize = 20;
/// The most meta entries a pin carries, and the longest origin, key or
/// value.
const MAX_META: usize = 32;
const MAX_META_TEXT: usize = 256;
/// The most bytes a pin takes as stored (its JSON): what listing a key's
/// pins reads, at most [`MAX_PINS_PER_KEY`] times.
const MAX_PIN_BYTES: usize = 4096;

type Response = http::Response<s3s::Body>;

/// What the API needs. Shared by every request (behind an `Arc`: one
/// store handle, one waker).
pub struct PinService {
    store: PinStore,
    gateway: crate::s3::Gateway,
    master: Arc<MasterKey>,
    delegates: Vec<String>,
    wake: Arc<Notify>,
}

impl PinService {
    /// The API over `store`, checking tokens with secrets opened by
    /// `master`, refusing what `gateway`'s denylist names, naming
    /// `delegates` (the mesh addresses content can be fetched from) and
    /// waking the pin worker with `wake`.
    pub fn new(
        store: PinStore,
        gateway: crate::s3::Gateway,
        master: Arc<MasterKey>,
        delegates: Vec<String>,
        wake: Arc<Notify>,
    ) -> Self {
        let delegates = delegates.into_iter().take(MAX_ADDRS).collect();
        Self {
            store,
            gateway,
            master,
            delegates,
            wake,
        }
    }
}

/// The S3 service with the pinning API in front.
#[derive(Clone)]
pub struct PinningApi<S> {
    inner: S,
    service: Arc<PinService>,
    domains: crate::http::vhost::Domains,
}

impl<S> PinningApi<S> {
    /// `inner` with the pinning API of `service` in front; `domains` tell
    /// virtual-hosted S3 requests (never for the API) apart.
    pub fn new(inner: S, service: PinService, domains: crate::http::vhost::Domains) -> Self {
        Self {
            inner,
            service: Arc::new(service),
            domains,
        }
    }
}

impl<S> hyper::service::Service<http::Request<s3s::Body>> for PinningApi<S>
where
    S: hyper::service::Service<
            http::Request<s3s::Body>,
            Response = Response,
            Error = s3s::HttpError,
        >,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<s3s::Body>) -> Self::Future {
        let virtual_hosted = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.domains.bucket_of(h).is_some());
        if virtual_hosted || !is_pinning_request(&req) {
            return Box::pin(self.inner.call(req));
        }
        let service = self.service.clone();
        Box::pin(async move { Ok(service.handle(req).await.unwrap_or_else(Failure::response)) })
    }
}

/// Whether `req` is for the pinning API: `/pins` or `/pins/...` with a
/// Bearer token or with no credentials at all (answered 401). A request
/// signed for S3 (an AWS `Authorization` header, or a presigned URL) is
/// for a bucket named `pins`.
fn is_pinning_request<B>(req: &http::Request<B>) -> bool {
    let path = req.uri().path();
    if path != "/pins" && !path.starts_with("/pins/") {
        return false;
    }
    match req.headers().get(header::AUTHORIZATION) {
        Some(_) => bearer(req.headers()).is_some(),
        None => {
            let query = req.uri().query().unwrap_or("");
            !form_urlencoded::parse(query.as_bytes()).any(|(name, _)| {
                name.eq_ignore_ascii_case("X-Amz-Signature") || name == "Signature"
            })
        }
    }
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An error answer of the API.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    reason: &'static str,
    details: String,
}

impl Failure {
    fn new(status: StatusCode, reason: &'static str, details: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            details: details.into(),
        }
    }

    fn bad_request(details: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", details)
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "No pin request with this id belongs to this token's key.",
        )
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "pinning API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "The metadata store could not be reached; try again.",
        )
    }

    fn response(self) -> Response {
        let body = serde_json::json!({
            "error": {"reason": self.reason, "details": self.details}
        });
        json(self.status, &body)
    }
}

impl From<crate::meta::MetaError> for Failure {
    fn from(e: crate::meta::MetaError) -> Self {
        Self::internal(e)
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("serializable");
    let len = bytes.len();
    let mut response = http::Response::new(s3s::Body::from(Bytes::from(bytes)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn empty(status: StatusCode) -> Response {
    let mut response = http::Response::new(s3s::Body::empty());
    *response.status_mut() = status;
    response
}

/// A pin request as the API shows it.
#[derive(Serialize)]
struct PinStatus<'a> {
    requestid: &'a str,
    status: Status,
    created: String,
    pin: &'a Pin,
    delegates: &'a [String],
    info: BTreeMap<&'static str, String>,
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let mut out = Vec::with_capacity(24);
    Timestamp::from(at)
        .format(TimestampFormat::DateTime, &mut out)
        .expect("a time since the epoch formats");
    String::from_utf8(out).expect("ASCII")
}

/// Unix milliseconds of an RFC 3339 time.
fn parse_time(text: &str) -> Option<u64> {
    let ts = Timestamp::parse(TimestampFormat::DateTime, text).ok()?;
    let mut out = Vec::with_capacity(24);
    ts.format(TimestampFormat::EpochSeconds, &mut out).ok()?;
    let text = std::str::from_utf8(&out).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs: u64 = whole.parse().ok()?;
    let ms: u64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    Some(secs * 1000 + ms)
}

impl PinService {
    async fn handle(&self, req: http::Request<s3s::Body>) -> Result<Response, Failure> {
        let owner = self.authenticate(req.headers()).await?;
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let method = req.method().clone();
        let id = path
            .strip_prefix("/pins/")
            .filter(|id| !id.is_empty() && !id.contains('/'));
        match (method, id) {
            (Method::GET, None) if path == "/pins" => self.list(&owner, &query).await,
            (Method::POST, None) if path == "/pins" => {
                let pin = read_pin(req.into_body()).await?;
                let record = self.add(&owner, pin).await?;
                Ok(json(StatusCode::ACCEPTED, &self.status_of(&record)))
            }
            (Method::GET, Some(id)) => {
                let stored = self.store.get(&owner, id).await?;
                let stored = stored.ok_or_else(Failure::not_found)?;
                Ok(json(StatusCode::OK, &self.status_of(&stored.record)))
            }
            (Method::POST, Some(id)) => {
                let id = id.to_owned();
                let pin = read_pin(req.into_body()).await?;
                if self.store.get(&owner, &id).await?.is_none() {
                    return Err(Failure::not_found());
                }
                let record = self.add(&owner, pin).await?;
                self.remove(&owner, &id).await?;
                Ok(json(StatusCode::ACCEPTED, &self.status_of(&record)))
            }
            (Method::DELETE, Some(id)) => {
                if !self.remove(&owner, id).await? {
                    return Err(Failure::not_found());
                }
                Ok(empty(StatusCode::ACCEPTED))
            }
            (Method::GET | Method::POST | Method::DELETE, _) => Err(Failure::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The pinning API serves /pins and /pins/{requestid}.",
            )),
            _ => Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "The pinning API takes GET, POST and DELETE.",
            )),
        }
    }

    /// The access key a request's token belongs to.
    async fn authenticate(&self, headers: &http::HeaderMap) -> Result<String, Failure> {
        let unauthorized = || {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "The bearer token is not valid; make one with `cairn pin token`.",
            )
        };
        let token = bearer(headers).ok_or_else(unauthorized)?;
        let id = super::token::key_id(token).ok_or_else(unauthorized)?;
        let secret = self
            .store
            .meta()
            .secret_for(id, &self.master)
            .await?
            .ok_or_else(unauthorized)?;
        if !super::token::verify(token, id, &secret) {
            return Err(unauthorized());
        }
        Ok(id.to_owned())
    }

    fn status_of<'a>(&'a self, record: &'a PinRecord) -> PinStatus<'a> {
        let mut info = BTreeMap::new();
        if let Some(reason) = &record.reason {
            info.insert("reason", reason.clone());
        }
        if record.attempts > 0 {
            info.insert("attempts", record.attempts.to_string());
        }
        PinStatus {
            requestid: &record.requestid,
            status: record.status,
            created: rfc3339(record.created),
            pin: &record.pin,
            delegates: &self.delegates,
            info,
        }
    }

    async fn add(&self, owner: &str, mut pin: Pin) -> Result<PinRecord, Failure> {
        let cid = check_pin(&pin)?;
        // One spelling per content (any multibase is accepted): holds and
        // filters compare text.
        pin.cid = cid.to_string();
        if !self.store.meta().key_may_create_buckets(owner).await? {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "This key may not store data of its own on this gateway (it may not create buckets), so it may not pin.",
            ));
        }
        if self.gateway.check_allowed(&cid).is_err() {
            return Err(Failure::new(
                StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
                "DENYLISTED",
                format!(
                    "This gateway's operator does not keep {cid}; another pinning service may."
                ),
            ));
        }
        if self.store.list(owner).await?.len() >= MAX_PINS_PER_KEY {
            return Err(Failure::new(
                StatusCode::CONFLICT,
                "INSUFFICIENT_FUNDS",
                format!("This key has {MAX_PINS_PER_KEY} pin requests, the most it may have."),
            ));
        }
        let record = self.store.create(owner, pin).await?;
        tracing::info!(%owner, requestid = %record.requestid, cid = %record.pin.cid, "pin requested");
        self.wake.notify_one();
        Ok(record)
    }

    /// Removes `owner`'s request `id`; whether there was one.
    async fn remove(&self, owner: &str, id: &str) -> Result<bool, Failure> {
        let Some(record) = self.store.remove(owner, id).await? else {
            return Ok(false);
        };
        refs::released(self.store.meta(), &self.store.region, &record.pin.cid).await?;
        tracing::info!(%owner, requestid = %id, cid = %record.pin.cid, holder = %holder(owner, id), "pin removed");
        self.wake.notify_one();
        Ok(true)
    }

    async fn list(&self, owner: &str, query: &str) -> Result<Response, Failure> {
        let filter = Filter::parse(query)?;
        let mut matches: Vec<PinRecord> = self
            .store
            .list(owner)
            .await?
            .into_iter()
            .map(|s| s.record)
            .filter(|r| filter.admits(r))
            .collect();
        matches.sort_by(|a, b| (b.created, &b.requestid).cmp(&(a.created, &a.requestid)));
        let results: Vec<PinStatus<'_>> = matches
            .iter()
            .take(filter.limit)
            .map(|r| self.status_of(r))
            .collect();
        let body = serde_json::json!({ "count": matches.len(), "results": results });
        Ok(json(StatusCode::OK, &body))
    }
}

async fn read_pin(mut body: s3s::Body) -> Result<Pin, Failure> {
    let bytes = body.store_all_limited(MAX_BODY).await.map_err(|_| {
        Failure::bad_request(format!(
            "The request body must be a Pin object of at most {MAX_BODY} bytes."
        ))
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::bad_request(format!("The request body is not a Pin object: {e}")))
}

/// Refuses a pin the gateway cannot keep; its CID.
fn check_pin(pin: &Pin) -> Result<ContentId, Failure> {
    let cid = ContentId::parse(&pin.cid).map_err(|e| {
        Failure::bad_request(format!(
            "{:?} is not a content id Cairn keeps ({e}); it keeps CIDv1 raw blake3-256 ids (bafkr4i...).",
            pin.cid
        ))
    })?;
    if pin
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME)
    {
        return Err(Failure::bad_request(format!(
            "A pin's name is at most {MAX_NAME} characters."
        )));
    }
    if pin.origins.len() > MAX_ADDRS || pin.origins.iter().any(|o| o.len() > MAX_META_TEXT) {
        return Err(Failure::bad_request(format!(
            "A pin names at most {MAX_ADDRS} origins."
        )));
    }
    let long = pin
        .meta
        .iter()
        .any(|(k, v)| k.len() > MAX_META_TEXT || v.len() > MAX_META_TEXT);
    if pin.meta.len() > MAX_META || long {
        return Err(Failure::bad_request(format!(
            "A pin's meta has at most {MAX_META} entries of at most {MAX_META_TEXT} bytes each."
        )));
    }
    if serde_json::to_vec(pin).map_or(usize::MAX, |j| j.len()) > MAX_PIN_BYTES {
        return Err(Failure::bad_request(format!(
            "A pin takes at most {MAX_PIN_BYTES} bytes as JSON."
        )));
    }
    Ok(cid)
}

/// How names are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Exact,
    IExact,
    Partial,
    IPartial,
}

/// The filters of `GET /pins`.
#[derive(Debug)]
struct Filter {
    cids: Vec<String>,
    name: Option<String>,
    how: Match,
    statuses: Vec<Status>,
    before: Option<u64>,
    after: Option<u64>,
    meta: BTreeMap<String, String>,
    limit: usize,
}

impl Filter {
    fn parse(query: &str) -> Result<Self, Failure> {
        let mut filter = Filter {
            cids: Vec::new(),
            name: None,
            how: Match::Exact,
            statuses: vec![Status::Pinned],
            before: None,
            after: None,
            meta: BTreeMap::new(),
            limit: 10,
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "cid" => {
                    filter.cids = value
                        .split(',')
                        .map(|c| {
                            ContentId::parse(c).map_or_else(|_| c.to_owned(), |c| c.to_string())
                        })
                        .collect();
                    if filter.cids.len() > 10 {
                        return Err(Failure::bad_request(
                            "At most 10 CIDs may be asked for at once.",
                        ));
                    }
                }
                "name" => filter.name = Some(value.into_owned()),
                "match" => {
                    filter.how = match value.as_ref() {
                        "exact" => Match::Exact,
                        "iexact" => Match::IExact,
                        "partial" => Match::Partial,
                        "ipartial" => Match::IPartial,
                        other => {
                            return Err(Failure::bad_request(format!(
                                "match must be exact, iexact, partial or ipartial, not {other:?}."
                            )));
                        }
                    }
                }
                "status" => {
                    filter.statuses = value
                        .split(',')
                        .map(|s| {
                            Status::parse(s).ok_or_else(|| {
                                Failure::bad_request(format!(
                                    "status must be queued, pinning, pinned or failed, not {s:?}."
                                ))
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                "before" | "after" => {
                    let at = parse_time(&value).ok_or_else(|| {
                        Failure::bad_request(format!(
                            "{name} must be an RFC 3339 time, not {value:?}."
                        ))
                    })?;
                    if name == "before" {
                        filter.before = Some(at);
                    } else {
                        filter.after = Some(at);
                    }
                }
                "meta" => {
                    filter.meta = serde_json::from_str(&value).map_err(|_| {
                        Failure::bad_request("meta must be a JSON object of strings.")
                    })?;
                }
                "limit" => {
                    filter.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| Failure::bad_request("limit must be from 1 to 1000."))?;
                }
                // Unknown parameters are ignored, as the spec's clients
                // expect of a service that does not support an extension.
                _ => {}
            }
        }
        Ok(filter)
    }

    fn admits(&self, record: &PinRecord) -> bool {
        let pin = &record.pin;
        if !self.cids.is_empty() && !self.cids.contains(&pin.cid) {
            return false;
        }
        if let Some(wanted) = &self.name {
            let Some(name) = &pin.name else {
                return false;
            };
            let found = match self.how {
                Match::Exact => name == wanted,
                Match::IExact => name.to_lowercase() == wanted.to_lowercase(),
                Match::Partial => name.contains(wanted.as_str()),
                Match::IPartial => name.to_lowercase().contains(&wanted.to_lowercase()),
            };
            if !found {
                return false;
            }
        }
        self.statuses.contains(&record.status)
            && self.before.is_none_or(|b| record.created < b)
            && self.after.is_none_or(|a| record.created > a)
            && self.meta.iter().all(|(k, v)| pin.meta.get(k) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, status: Status, created: u64) -> PinRecord {
        PinRecord {
            requestid: super::super::new_request_id(),
            status,
            created,
            pin: Pin {
                cid: "bafkr4iaaa".into(),
                name: Some(name.into()),
                origins: vec![],
                meta: [("app".to_owned(), "docs".to_owned())].into(),
            },
            reason: None,
            attempts: 0,
            retry_at: 0,
        }
    }

    #[test]
    fn the_default_filter_shows_pinned_requests_only() {
        let filter = Filter::parse("").unwrap();
        assert!(filter.admits(&record("a", Status::Pinned, 1)));
        assert!(!filter.admits(&record("a", Status::Queued, 1)));
        assert_eq!(filter.limit, 10);
    }

    #[test]
    fn names_match_as_asked() {
        let r = record("Annual Report", Status::Pinned, 1);
        let admits = |q: &str| Filter::parse(q).unwrap().admits(&r);
        assert!(admits("name=Annual%20Report"));
        assert!(!admits("name=annual%20report"));
        assert!(admits("name=annual%20report&match=iexact"));
        assert!(admits("name=Report&match=partial"));
        assert!(admits("name=REPORT&match=ipartial"));
        assert!(!admits("name=REPORT&match=partial"));
    }

    #[test]
    fn statuses_times_meta_and_cids_filter() {
        let r = record("a", Status::Failed, 1_600_000_000_500);
        let admits = |q: &str| Filter::parse(q).unwrap().admits(&r);
        assert!(admits("status=queued,failed"));
        assert!(admits("status=failed&before=2020-09-13T12:26:41Z"));
        assert!(!admits("status=failed&before=2020-09-13T12:26:40.500Z"));
        assert!(admits("status=failed&after=2020-09-13T12:26:40.499Z"));
        assert!(admits("status=failed&meta=%7B%22app%22%3A%22docs%22%7D"));
        assert!(!admits("status=failed&meta=%7B%22app%22%3A%22x%22%7D"));
        assert!(admits("status=failed&cid=bafkr4ixxx,bafkr4iaaa"));
        assert!(!admits("status=failed&cid=bafkr4ixxx"));
    }

    #[test]
    fn bad_filters_are_refused() {
        for q in [
            "status=done",
            "limit=0",
            "limit=1001",
            "match=fuzzy",
            "before=yesterday",
            "meta=[1]",
            "cid=a,b,c,d,e,f,g,h,i,j,k",
        ] {
            let e = Filter::parse(q).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{q}");
        }
    }

    #[test]
    fn times_are_shown_and_read_in_rfc3339() {
        assert_eq!(rfc3339(1_600_000_000_500), "2020-09-13T12:26:40.500Z");
        assert_eq!(
            parse_time("2020-09-13T12:26:40.500Z"),
            Some(1_600_000_000_500)
        );
        assert_eq!(parse_time("2020-09-13T12:26:40Z"), Some(1_600_000_000_000));
        assert_eq!(
            parse_time("2020-09-13T14:26:40+02:00"),
            Some(1_600_000_000_000)
        );
    }

    #[test]
    fn pins_with_bad_cids_or_oversized_fields_are_refused() {
        let mut pin = Pin {
            cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".into(),
            ..Pin::default()
        };
        assert_eq!(check_pin(&pin).unwrap_err().status, StatusCode::BAD_REQUEST);
        pin.cid = ContentId::from_hash(*blake3::hash(b"x").as_bytes()).to_string();
        assert!(check_pin(&pin).is_ok());
        pin.name = Some("n".repeat(256));
        assert!(check_pin(&pin).is_err());
    }

    #[test]
    fn only_bearer_requests_to_pins_are_taken() {
        let req = |path: &str, auth: Option<&str>| {
            let mut b = http::Request::builder().uri(path);
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            b.body(()).unwrap()
        };
        assert!(is_pinning_request(&req("/pins", Some("Bearer t"))));
        assert!(is_pinning_request(&req("/pins/abc", Some("bearer t"))));
        assert!(is_pinning_request(&req("/pins", None)), "answered 401");
        assert!(!is_pinning_request(&req(
            "/pins/k?X-Amz-Signature=ab",
            None
        )));
        assert!(!is_pinning_request(&req(
            "/pins/k",
            Some("AWS4-HMAC-SHA256 Credential=x")
        )));
        assert!(!is_pinning_request(&req("/pinsx", Some("Bearer t"))));
    }
}
