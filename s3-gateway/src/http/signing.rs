//! Signature rules checked before s3s verifies a signature: which
//! signature versions are accepted, and for how long a signed request or
//! URL stays valid.
//!
//! s3s verifies SigV2 (`Authorization: AWS id:signature`, or the query
//! parameters `AWSAccessKeyId`, `Signature`, `Expires`) as readily as
//! SigV4, with no check of the request's date, so a captured SigV2 request
//! could be replayed forever. And it takes any `X-Amz-Expires` a presigned
//! SigV4 URL carries. Here, as on AWS:
//!
//! * SigV2 is refused (400 `InvalidRequest`, AWS's answer in regions that
//!   only take SigV4) unless the gateway runs with `--allow-sigv2`. Then a
//!   header-signed request must be dated (`x-amz-date`, else `Date`, the
//!   one the signature covers) within 15 minutes of the gateway's clock
//!   (403 `RequestTimeTooSkewed`), as s3s requires of SigV4, and a presigned
//!   URL's `Expires` must be in the future (403 `AccessDenied`, "Request has
//!   expired") and at most 7 days ahead (400
//!   `AuthorizationQueryParametersError`).
//! * A presigned SigV4 URL's `X-Amz-Expires` must be a number from 0 to
//!   604800 (7 days): 400 `AuthorizationQueryParametersError` otherwise.
//!   s3s itself answers an expired one with 403 `AccessDenied`, "Request
//!   has expired".
//!
//! The checks read only the request line and headers; the signature itself
//! is then verified by s3s.

use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use s3s::service::S3Service;

/// How far a signed request's date may be from the gateway's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// The longest a presigned URL may stay valid (7 days).
pub const MAX_PRESIGNED_SECS: i64 = 7 * 24 * 3600;

/// Why a request was refused before its signature was checked: an S3
/// error code, its HTTP status and AWS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The S3 error code.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl Refusal {
    /// A refusal with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The refusal as an S3 XML error response.
    pub fn into_response(self) -> http::Response<s3s::Body> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            xml_text(&self.message)
        );
        let len = body.len();
        let mut response = http::Response::new(s3s::Body::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
        response
    }
}

/// `text` with XML's special characters escaped.
fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn sigv2_unsupported() -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. \
         Please use AWS4-HMAC-SHA256.",
    )
}

fn expired() -> Refusal {
    Refusal::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
}

fn query_error(message: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "AuthorizationQueryParametersError",
        message,
    )
}

/// Checks the signature rules for a request at `now` (Unix seconds).
pub fn check(
    allow_sigv2: bool,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    now: i64,
) -> Result<(), Refusal> {
    let query = uri.query().map(parse_query).unwrap_or_default();
    let param = |name: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    // s3s checks in this order: SigV2 query, SigV2 header, SigV4 query,
    // SigV4 header. Whatever s3s would verify is what is checked here.
    if has("Signature") {
        if !allow_sigv2 {
            return Err(sigv2_unsupported());
        }
        return check_v2_expires(&param("Expires"), now);
    }
    let authorization: Vec<&[u8]> = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(http::HeaderValue::as_bytes)
        .collect();
    if let [auth] = authorization.as_slice()
        && auth.starts_with(b"AWS ")
    {
        if !allow_sigv2 {
            return Err(sigv2_unsupported());
        }
        return check_v2_date(headers, now);
    }
    if has("AWSAccessKeyId") && !allow_sigv2 {
        // Half of a SigV2 presigned URL: refused as SigV2 rather than
        // taken for an anonymous request.
        return Err(sigv2_unsupported());
    }
    if has("X-Amz-Signature") {
        return check_v4_expires(&param("X-Amz-Expires"));
    }
    Ok(())
}

/// A SigV2 presigned URL: `Expires` in the future, at most 7 days ahead.
fn check_v2_expires(values: &[&str], now: i64) -> Result<(), Refusal> {
    let [value] = values else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and \
             AWSAccessKeyId parameters",
        ));
    };
    let Ok(expires) = value.parse::<i64>() else {
        return Err(query_error("Expires should be a number"));
    };
    if expires < now {
        return Err(expired());
    }
    if expires - now > MAX_PRESIGNED_SECS {
        return Err(query_error(
            "Expires must be less than a week (in seconds) in the future; \
             that is, at most 604800 seconds from now",
        ));
    }
    Ok(())
}

/// A SigV2 header-signed request: dated within 15 minutes of now, by the
/// header its signature covers (`x-amz-date` if sent, else `Date`).
fn check_v2_date(headers: &http::HeaderMap, now: i64) -> Result<(), Refusal> {
    let no_date = || {
        Refusal::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    let amz: Vec<_> = headers.get_all("x-amz-date").iter().collect();
    let date: Vec<_> = headers.get_all(http::header::DATE).iter().collect();
    let value = match (amz.as_slice(), date.as_slice()) {
        ([one], _) => *one,
        ([], [one]) => *one,
        _ => return Err(no_date()),
    };
    let at = value
        .to_str()
        .ok()
        .and_then(parse_date)
        .ok_or_else(no_date)?;
    if (now - at).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// A SigV4 presigned URL: `X-Amz-Expires` from 0 to 604800. (Its absence
/// is left to s3s, which refuses the URL as incomplete.)
fn check_v4_expires(values: &[&str]) -> Result<(), Refusal> {
    let [value] = values else {
        return Ok(());
    };
    let Ok(seconds) = value.parse::<i64>() else {
        return Err(query_error("X-Amz-Expires should be a number"));
    };
    if seconds < 0 {
        return Err(query_error("X-Amz-Expires must be non-negative"));
    }
    if seconds > MAX_PRESIGNED_SECS {
        return Err(query_error(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given \
             X-Amz-Expires must be less than 604800 seconds",
        ));
    }
    Ok(())
}

/// The query's parameters, names and values percent-decoded (`+` as a
/// space), as s3s reads them.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, also with
/// `+0000` or `UTC`) or an ISO 8601 basic timestamp (`19941106T084937Z`)
/// into Unix seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(stamp) = text.strip_suffix('Z')
        && let Some((date, time)) = stamp.split_once('T')
        && date.len() == 8
        && time.len() == 6
    {
        let n = |s: &str| s.parse::<i64>().ok();
        return unix_seconds(
            n(&date[..4])?,
            n(&date[4..6])?,
            n(&date[6..])?,
            n(&time[..2])?,
            n(&time[2..4])?,
            n(&time[4..])?,
        );
    }
    let mut words = text.split_ascii_whitespace();
    let weekday = words.next()?;
    if !weekday.ends_with(',') {
        return None;
    }
    let day = words.next()?.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = words.next()?.parse().ok()?;
    let mut clock = words.next()?.split(':');
    let hour = clock.next()?.parse().ok()?;
    let minute = clock.next()?.parse().ok()?;
    let second = clock.next()?.parse().ok()?;
    if clock.next().is_some() || !matches!(words.next()?, "GMT" | "UTC" | "+0000" | "Z") {
        return None;
    }
    if words.next().is_some() {
        return None;
    }
    unix_seconds(year, month, day, hour, minute, second)
}

/// Unix seconds of a UTC calendar time, if it is a valid one.
fn unix_seconds(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=9999).contains(&year)
        || !(1..=days_in_month).contains(&day)
        || !(0..24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..61).contains(&second)
    {
        return None;
    }
    // Days from 1970-01-01 to the date (civil calendar, March-based years).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The s3s service behind the signature rules.
#[derive(Clone)]
pub struct SignatureRules {
    inner: S3Service,
    allow_sigv2: bool,
}

impl SignatureRules {
    /// Checks requests for `inner`; SigV2 only with `allow_sigv2`.
    pub fn new(inner: S3Service, allow_sigv2: bool) -> Self {
        Self { inner, allow_sigv2 }
    }
}

impl hyper::service::Service<http::Request<s3s::Body>> for SignatureRules {
    type Response = http::Response<s3s::Body>;
    type Error = s3s::HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<s3s::Body>) -> Self::Future {
        if let Err(refusal) = check(self.allow_sigv2, req.uri(), req.headers(), unix_now()) {
            tracing::debug!(code = refusal.code, message = %refusal.message, "signature refused");
            return Box::pin(std::future::ready(Ok(refusal.into_response())));
        }
        let inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn run(allow: bool, uri: &str, headers: &[(&str, &str)]) -> Result<(), (u16, &'static str)> {
        let uri: http::Uri = uri.parse().unwrap();
        let mut map = http::HeaderMap::new();
        for (n, v) in headers {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        check(allow, &uri, &map, NOW).map_err(|r| (r.status.as_u16(), r.code))
    }

    fn http_date(unix: i64) -> String {
        // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
        let offset = unix - NOW;
        assert!(offset.abs() < 3600 * 20, "test helper covers one day");
        let total = 22 * 3600 + 13 * 60 + 20 + offset;
        let (day, secs) = if total >= 86_400 {
            (15, total - 86_400)
        } else if total < 0 {
            (13, total + 86_400)
        } else {
            (14, total)
        };
        let weekday = [
            "", "", "", "", "", "", "", "", "", "", "", "", "", "Mon", "Tue", "Wed",
        ][day];
        format!(
            "{weekday}, {day:02} Nov 2023 {:02}:{:02}:{:02} GMT",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    #[test]
    fn dates_parse_in_both_forms() {
        assert_eq!(parse_date("Tue, 14 Nov 2023 22:13:20 GMT"), Some(NOW));
        assert_eq!(parse_date("Tue, 14 Nov 2023 22:13:20 +0000"), Some(NOW));
        assert_eq!(parse_date("20231114T221320Z"), Some(NOW));
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_date("Sat, 01 Jan 2000 00:00:00 GMT"),
            Some(946_684_800)
        );
        assert_eq!(
            parse_date("Fri, 01 Jan 2100 00:00:00 GMT"),
            Some(4_102_444_800)
        );
        assert_eq!(
            parse_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        for bad in [
            "",
            "yesterday",
            "Tue, 14 Nov 2023 22:13:20",
            "Tue, 14 Nov 2023 22:13:20 PST",
            "Tue, 31 Nov 2023 22:13:20 GMT",
            "Tue, 29 Feb 2023 22:13:20 GMT",
            "Tue, 14 Foo 2023 22:13:20 GMT",
            "Tue, 14 Nov 2023 25:13:20 GMT",
            "20231114T221320",
            "2023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert_eq!(http_date(NOW), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn sigv2_is_refused_unless_allowed() {
        let unsupported = Err((400, "InvalidRequest"));
        let date = http_date(NOW);
        let header = [
            ("authorization", "AWS CAKEY:c2lnbmF0dXJl"),
            ("date", date.as_str()),
        ];
        assert_eq!(run(false, "/b/k", &header), unsupported);
        assert_eq!(run(true, "/b/k", &header), Ok(()));
        let presigned = format!(
            "/b/k?AWSAccessKeyId=CAKEY&Expires={}&Signature=c2ln",
            NOW + 60
        );
        assert_eq!(run(false, &presigned, &[]), unsupported);
        assert_eq!(run(true, &presigned, &[]), Ok(()));
        // Percent-encoded parameter names are what s3s decodes them to.
        let encoded = format!(
            "/b/k?AWSAccessKeyId=CAKEY&Expires={}&Sig%6Eature=c2ln",
            NOW + 60
        );
        assert_eq!(run(false, &encoded, &[]), unsupported);
        assert_eq!(run(false, "/b/k?AWSAccessKeyId=CAKEY", &[]), unsupported);
        // SigV4 and unsigned requests pass.
        let v4 = [(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=CAKEY/20231114/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=00",
        )];
        assert_eq!(run(false, "/b/k", &v4), Ok(()));
        assert_eq!(run(false, "/b/k?list-type=2", &[]), Ok(()));
    }

    #[test]
    fn sigv2_headers_must_be_dated_within_fifteen_minutes() {
        let skewed = Err((403, "RequestTimeTooSkewed"));
        let auth = ("authorization", "AWS CAKEY:c2ln");
        let at = |t: i64| run(true, "/b/k", &[auth, ("date", &http_date(t))]);
        assert_eq!(at(NOW - MAX_CLOCK_SKEW_SECS), Ok(()));
        assert_eq!(at(NOW + MAX_CLOCK_SKEW_SECS), Ok(()));
        assert_eq!(at(NOW - MAX_CLOCK_SKEW_SECS - 1), skewed);
        assert_eq!(at(NOW + MAX_CLOCK_SKEW_SECS + 1), skewed);
        for far in [
            "Sat, 01 Jan 2000 00:00:00 GMT",
            "Fri, 01 Jan 2100 00:00:00 GMT",
        ] {
            assert_eq!(run(true, "/b/k", &[auth, ("date", far)]), skewed, "{far}");
        }
        // x-amz-date, when sent, is the date the signature covers.
        let fresh = http_date(NOW);
        let old = "Sat, 01 Jan 2000 00:00:00 GMT";
        assert_eq!(
            run(true, "/b/k", &[auth, ("date", &fresh), ("x-amz-date", old)]),
            skewed
        );
        assert_eq!(
            run(true, "/b/k", &[auth, ("date", old), ("x-amz-date", &fresh)]),
            Ok(())
        );
        assert_eq!(
            run(true, "/b/k", &[auth, ("x-amz-date", "20231114T221320Z")]),
            Ok(())
        );
        let no_date = Err((403, "AccessDenied"));
        assert_eq!(run(true, "/b/k", &[auth]), no_date);
        assert_eq!(run(true, "/b/k", &[auth, ("date", "soon")]), no_date);
        assert_eq!(
            run(true, "/b/k", &[auth, ("date", &fresh), ("date", &fresh)]),
            no_date
        );
    }

    #[test]
    fn sigv2_presigned_urls_expire_within_a_week() {
        let url =
            |expires: &str| format!("/b/k?AWSAccessKeyId=CAKEY&Expires={expires}&Signature=c2ln");
        let at = |t: i64| run(true, &url(&t.to_string()), &[]);
        assert_eq!(at(NOW), Ok(()));
        assert_eq!(at(NOW + MAX_PRESIGNED_SECS), Ok(()));
        assert_eq!(at(NOW - 1), Err((403, "AccessDenied")));
        assert_eq!(at(946_684_800), Err((403, "AccessDenied")));
        assert_eq!(
            at(NOW + MAX_PRESIGNED_SECS + 1),
            Err((400, "AuthorizationQueryParametersError"))
        );
        assert_eq!(
            at(4_102_444_800),
            Err((400, "AuthorizationQueryParametersError"))
        );
        assert_eq!(
            run(true, &url("soon"), &[]),
            Err((400, "AuthorizationQueryParametersError"))
        );
        assert_eq!(
            run(true, "/b/k?AWSAccessKeyId=CAKEY&Signature=c2ln", &[]),
            Err((403, "AccessDenied"))
        );
    }

    #[test]
    fn sigv4_presigned_urls_last_at_most_a_week() {
        let url = |expires: &str| {
            format!(
                "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=CAKEY%2F20231114%2Fus-east-1%2Fs3%2Faws4_request\
                 &X-Amz-Date=20231114T221320Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
            )
        };
        let bad = Err((400, "AuthorizationQueryParametersError"));
        assert_eq!(run(false, &url("604800"), &[]), Ok(()));
        assert_eq!(run(false, &url("0"), &[]), Ok(()));
        assert_eq!(run(false, &url("604801"), &[]), bad);
        assert_eq!(run(false, &url("4294967295"), &[]), bad);
        assert_eq!(run(false, &url("99999999999999999999"), &[]), bad);
        assert_eq!(run(false, &url("-1"), &[]), bad);
        assert_eq!(run(false, &url("week"), &[]), bad);
    }

    #[test]
    fn refusals_are_s3_xml_errors() {
        let response = expired().into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = response.body().bytes().unwrap();
        assert_eq!(
            &body[..],
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
              <Message>Request has expired</Message></Error>"
        );
        assert_eq!(xml_text("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
