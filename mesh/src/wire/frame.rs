//! Frames: a little-endian u32 body length, then the versioned body.

use std::io;

use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::WIRE_VERSION;
use super::error::WireError;
use super::message::{Request, Response};

/// Largest frame body (version byte + message), in bytes: 2 MiB. A proof for
/// the largest challenge ([`proofs::MAX_CHALLENGE_CHUNKS`] chunks) is about
/// 1.4 MiB.
pub const MAX_FRAME: u32 = 2 * 1024 * 1024;

/// Length of the frame header (the body length), in bytes.
pub const HEADER_LEN: usize = 4;

/// Encodes `msg` as one complete frame: header, version byte and body.
///
/// Fails with [`WireError::TooLarge`] if the body would exceed [`MAX_FRAME`],
/// so nothing a reader would refuse is ever produced.
pub fn encode<M: Serialize + ?Sized>(msg: &M) -> Result<Vec<u8>, WireError> {
    let mut frame = vec![0u8; HEADER_LEN];
    frame.push(WIRE_VERSION);
    let mut frame = postcard::to_extend(msg, frame).map_err(WireError::Encode)?;
    let body_len = frame.len() - HEADER_LEN;
    match u32::try_from(body_len) {
        Ok(len) if len <= MAX_FRAME => {
            frame[..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
            Ok(frame)
        }
        _ => Err(WireError::TooLarge {
            len: body_len as u64,
            max: MAX_FRAME,
        }),
    }
}

/// Decodes exactly one complete frame (header and body) from `frame`.
///
/// An empty slice is [`WireError::Closed`]; a short header or body is
/// [`WireError::TruncatedHeader`] / [`WireError::TruncatedBody`]; bytes after
/// the frame are [`WireError::TrailingFrameBytes`]. Does not apply
/// [`Request::validate`] / [`Response::validate`].
pub fn decode<M: DeserializeOwned>(frame: &[u8]) -> Result<M, WireError> {
    if frame.is_empty() {
        return Err(WireError::Closed);
    }
    let Some((header, rest)) = frame.split_first_chunk::<HEADER_LEN>() else {
        return Err(WireError::TruncatedHeader { got: frame.len() });
    };
    let expected = check_len(*header)?;
    let body_len = expected as usize;
    if rest.len() < body_len {
        return Err(WireError::TruncatedBody {
            expected,
            // Less than `expected`, so it fits.
            got: rest.len() as u32,
        });
    }
    let (body, trailing) = rest.split_at(body_len);
    if !trailing.is_empty() {
        return Err(WireError::TrailingFrameBytes(trailing.len()));
    }
    decode_body(body)
}

/// Decodes a frame body: the version byte, then exactly one message.
pub fn decode_body<M: DeserializeOwned>(body: &[u8]) -> Result<M, WireError> {
    let (&version, message) = body.split_first().ok_or(WireError::EmptyBody)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let (msg, rest) = postcard::take_from_bytes(message).map_err(WireError::Decode)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(msg)
}

/// Writes `msg` as one frame and flushes. The stream stays open, so raw
/// bytes may follow.
pub async fn write_frame<W, M>(w: &mut W, msg: &M) -> Result<(), WireError>
where
    W: AsyncWrite + Unpin + ?Sized,
    M: Serialize + ?Sized,
{
    let frame = encode(msg)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one frame and decodes it, reading nothing past its end (raw bytes
/// that follow stay in the stream).
///
/// A declared length over [`MAX_FRAME`] is refused before anything is
/// allocated or read beyond the header. The body buffer grows with the bytes
/// that actually arrive, not with the declared length.
pub async fn read_frame<R, M>(r: &mut R) -> Result<M, WireError>
where
    R: AsyncRead + Unpin + ?Sized,
    M: DeserializeOwned,
{
    read_frame_within(r, MAX_FRAME).await
}

/// Largest request frame a node accepts: requests carry ids, lengths, a
/// 75-byte challenge or a batch of at most
/// [`MAX_RENEW`](super::MAX_RENEW) ids to renew, or a pointer record of at
/// most [`MAX_POINTER_LEN`](super::MAX_POINTER_LEN); never bulk data, so a peer
/// cannot make the node buffer more than this per stream.
pub const MAX_REQUEST_FRAME: u32 = 72 * 1024;

/// [`read_frame`] with a smaller size limit `max`.
pub async fn read_frame_within<R, M>(r: &mut R, max: u32) -> Result<M, WireError>
where
    R: AsyncRead + Unpin + ?Sized,
    M: DeserializeOwned,
{
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await {
            Ok(0) if got == 0 => return Err(WireError::Closed),
            Ok(0) => return Err(WireError::TruncatedHeader { got }),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let expected = check_len(header)?;
    if expected > max {
        return Err(WireError::TooLarge {
            len: u64::from(expected),
            max,
        });
    }
    let mut body = Vec::new();
    (&mut *r)
        .take(u64::from(expected))
        .read_to_end(&mut body)
        .await?;
    if body.len() < expected as usize {
        return Err(WireError::TruncatedBody {
            expected,
            got: body.len() as u32,
        });
    }
    decode_body(&body)
}

/// Reads one [`Request`] frame and checks it with [`Request::validate`].
pub async fn read_request<R>(r: &mut R) -> Result<Request, WireError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let request: Request = read_frame_within(r, MAX_REQUEST_FRAME).await?;
    request.validate()?;
    Ok(request)
}

/// Reads one [`Response`] frame and checks it with [`Response::validate`].
pub async fn read_response<R>(r: &mut R) -> Result<Response, WireError>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let response: Response = read_frame(r).await?;
    response.validate()?;
    Ok(response)
}

/// The body length a header declares, if within [`MAX_FRAME`].
fn check_len(header: [u8; HEADER_LEN]) -> Result<u32, WireError> {
    let len = u32::from_le_bytes(header);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge {
            len: u64::from(len),
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_little_endian_body_length() {
        let frame = encode(&7u8).unwrap();
        assert_eq!(frame, [2, 0, 0, 0, WIRE_VERSION, 7]);
        assert_eq!(decode::<u8>(&frame).unwrap(), 7);
    }

    #[test]
    fn limit_is_checked_on_the_header_alone() {
        assert!(check_len(MAX_FRAME.to_le_bytes()).is_ok());
        assert!(matches!(
            check_len((MAX_FRAME + 1).to_le_bytes()),
            Err(WireError::TooLarge { len, max: MAX_FRAME }) if len == u64::from(MAX_FRAME) + 1
        ));
    }

    #[test]
    fn encode_refuses_oversized_bodies() {
        let big = vec![0u8; MAX_FRAME as usize];
        assert!(matches!(
            encode(&big),
            Err(WireError::TooLarge { max: MAX_FRAME, .. })
        ));
        // The largest body that fits: version byte + 3-byte varint length.
        let fits = vec![0u8; MAX_FRAME as usize - 4];
        let frame = encode(&fits).unwrap();
        assert_eq!(frame.len(), HEADER_LEN + MAX_FRAME as usize);
        assert_eq!(decode::<Vec<u8>>(&frame).unwrap(), fits);
    }
}
