//! Raw HTTP/1.1 exchanges with a gateway: for requests an SDK will not
//! send (unsigned, malformed, odd headers), and to see exactly what comes
//! back.

use std::io::{Read, Write};

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body as sent (chunked framing included, unless
    /// [`RawResponse::dechunked`]).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses a whole response.
    pub fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The response with a chunked body decoded.
    pub fn dechunked(mut self) -> Self {
        if !self
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            return self;
        }
        let (mut raw, mut out) = (&self.body[..], Vec::new());
        loop {
            let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = std::str::from_utf8(&raw[..line]).unwrap().trim();
            let size = usize::from_str_radix(size, 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&raw[line + 2..line + 2 + size]);
            raw = &raw[line + 4 + size..];
        }
        self.body = out;
        self
    }
}

/// Sends `head` then `body` to `addr` on a new connection and reads the
/// whole response (the request should ask `Connection: close`).
pub fn exchange(addr: &str, head: &[u8], body: &[u8]) -> RawResponse {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    RawResponse::parse(&raw)
}
