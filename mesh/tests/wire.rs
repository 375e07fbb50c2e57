//! The shard protocol's wire format: every message round-trips, bad input of
//! any kind is a typed error (never a panic), and a challenge and its proof
//! still verify after crossing the wire.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use futures_util::io::{AsyncReadExt, Cursor};
use mesh::ShardId;
use mesh::wire::{
    ErrorCode, HEADER_LEN, MAX_FRAME, MAX_LIST_LIMIT, MAX_POINTER_LEN, MAX_RENEW, NodeStat,
    Request, Response, WIRE_VERSION, WireError, decode, decode_body, encode, read_frame,
    read_request, read_response, write_frame,
};
use proofs::{Challenge, Outboard, Proof};
use proptest::prelude::*;

/// Runs a future over in-memory I/O, which never has to wait.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("in-memory I/O should never be pending"),
    }
}

fn id(n: u8) -> ShardId {
    ShardId([n; 32])
}

fn sample_proof() -> Proof {
    Proof {
        seed: [3; 32],
        chunks: vec![vec![1; 1024], vec![], vec![9; 17]],
        siblings: vec![[4; 32], [5; 32]],
    }
}

/// Position of a request's variant; the exhaustive match makes adding a
/// variant without a sample here a compile error.
fn request_variant(r: &Request) -> usize {
    match r {
        Request::PutShard { .. } => 0,
        Request::GetShard { .. } => 1,
        Request::Challenge { .. } => 2,
        Request::DeleteShard { .. } => 3,
        Request::Stat => 4,
        Request::ListShards { .. } => 5,
        Request::Renew { .. } => 6,
        Request::Usage => 7,
        Request::PutPointer { .. } => 8,
        Request::GetPointer { .. } => 9,
    }
}
const REQUEST_VARIANTS: usize = 10;

fn response_variant(r: &Response) -> usize {
    match r {
        Response::Stored { .. } => 0,
        Response::Shard { .. } => 1,
        Response::Proof { .. } => 2,
        Response::Deleted => 3,
        Response::Stat(_) => 4,
        Response::Shards { .. } => 5,
        Response::Error { .. } => 6,
        Response::Renewed { .. } => 7,
        Response::Usage { .. } => 8,
        Response::Pointer { .. } => 9,
    }
}
const RESPONSE_VARIANTS: usize = 10;

fn sample_requests() -> Vec<Request> {
    vec![
        Request::PutShard { id: id(1), len: 0 },
        Request::PutShard {
            id: id(2),
            len: u64::MAX,
        },
        Request::GetShard {
            id: id(3),
            offset: 0,
            len: None,
        },
        Request::GetShard {
            id: id(4),
            offset: 1 << 40,
            len: Some(4096),
        },
        Request::Challenge {
            challenge: Challenge::new(id(5), 2 * 1024 * 1024, [6; 32], 4).to_bytes(),
        },
        Request::Challenge {
            challenge: Challenge::new(id(5), 0, [7; 32], 1).to_bytes(),
        },
        Request::DeleteShard { id: id(8) },
        Request::Stat,
        Request::ListShards {
            after: None,
            limit: 1,
        },
        Request::ListShards {
            after: Some(id(9)),
            limit: MAX_LIST_LIMIT,
        },
        Request::Renew { ids: vec![] },
        Request::Renew {
            ids: (0..MAX_RENEW as u32)
                .map(|i| ShardId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
                .collect(),
        },
        Request::Usage,
        Request::PutPointer {
            seq: 0,
            record: vec![],
        },
        Request::PutPointer {
            seq: u64::MAX,
            record: vec![7; MAX_POINTER_LEN],
        },
        Request::GetPointer { owner: vec![1; 38] },
    ]
}

fn sample_responses() -> Vec<Response> {
    vec![
        Response::Stored { already: false },
        Response::Stored { already: true },
        Response::Shard { len: 0 },
        Response::Shard { len: u64::MAX },
        Response::Proof {
            proof: sample_proof().to_bytes(),
        },
        Response::Deleted,
        Response::Stat(NodeStat {
            region: "eu-west".into(),
            capacity: 500 << 30,
            free: 1 << 30,
            shards: 12_345,
            bytes_stored: 499 << 30,
            version: "cairn 0.1.0".into(),
        }),
        Response::Shards {
            ids: vec![],
            more: false,
        },
        Response::Shards {
            ids: vec![(id(1), 7), (id(2), 2 << 20)],
            more: true,
        },
        Response::Error {
            code: ErrorCode::NotOwner,
            message: "shard belongs to another owner".into(),
        },
        Response::Error {
            code: ErrorCode::Unknown(500),
            message: String::new(),
        },
        Response::Error {
            code: ErrorCode::QuotaExceeded,
            message: "owner quota exceeded".into(),
        },
        Response::Renewed { missing: vec![] },
        Response::Renewed {
            missing: vec![id(3), id(4)],
        },
        Response::Usage {
            report: vec![1, 2, 3],
        },
        Response::Pointer {
            seq: 42,
            record: vec![9; MAX_POINTER_LEN],
        },
    ]
}

#[test]
fn samples_cover_every_variant() {
    let mut seen = [false; REQUEST_VARIANTS];
    sample_requests()
        .iter()
        .for_each(|r| seen[request_variant(r)] = true);
    assert!(seen.iter().all(|&s| s), "requests: {seen:?}");
    let mut seen = [false; RESPONSE_VARIANTS];
    sample_responses()
        .iter()
        .for_each(|r| seen[response_variant(r)] = true);
    assert!(seen.iter().all(|&s| s), "responses: {seen:?}");
}

#[test]
fn every_request_round_trips() {
    for request in sample_requests() {
        let frame = encode(&request).unwrap();
        assert_eq!(decode::<Request>(&frame).unwrap(), request);

        let mut stream = Vec::new();
        block_on(write_frame(&mut stream, &request)).unwrap();
        assert_eq!(stream, frame);
        let mut reader = &stream[..];
        assert_eq!(block_on(read_request(&mut reader)).unwrap(), request);
        assert!(reader.is_empty());
    }
}

#[test]
fn every_response_round_trips() {
    for response in sample_responses() {
        let frame = encode(&response).unwrap();
        assert_eq!(decode::<Response>(&frame).unwrap(), response);

        let mut stream = Cursor::new(Vec::new());
        block_on(write_frame(&mut stream, &response)).unwrap();
        stream.set_position(0);
        assert_eq!(block_on(read_response(&mut stream)).unwrap(), response);
        assert_eq!(stream.position(), frame.len() as u64);
    }
}

#[test]
fn shard_ids_travel_as_32_raw_bytes() {
    let frame = encode(&Request::DeleteShard { id: id(0xab) }).unwrap();
    // header, version, variant index 3, the id.
    assert_eq!(frame.len(), HEADER_LEN + 1 + 1 + 32);
    assert_eq!(frame[HEADER_LEN..HEADER_LEN + 2], [WIRE_VERSION, 3]);
    assert_eq!(frame[HEADER_LEN + 2..], [0xab; 32]);
}

#[test]
fn raw_bytes_after_a_frame_stay_in_the_stream() {
    let shard = vec![0x5a; 10_000];
    let mut stream = Vec::new();
    block_on(async {
        write_frame(
            &mut stream,
            &Request::PutShard {
                id: ShardId::of(&shard),
                len: shard.len() as u64,
            },
        )
        .await?;
        stream.extend_from_slice(&shard);
        write_frame(&mut stream, &Request::Stat).await
    })
    .unwrap();

    let mut reader = &stream[..];
    let Request::PutShard { id, len } = block_on(read_request(&mut reader)).unwrap() else {
        panic!("expected a put");
    };
    let mut received = vec![0; len as usize];
    block_on(reader.read_exact(&mut received)).unwrap();
    assert_eq!(ShardId::of(&received), id);
    assert_eq!(block_on(read_request(&mut reader)).unwrap(), Request::Stat);
    assert!(matches!(
        block_on(read_request(&mut reader)),
        Err(WireError::Closed)
    ));
}

#[test]
fn oversized_lengths_are_refused_after_the_header_alone() {
    for declared in [u32::MAX, MAX_FRAME + 1] {
        let mut stream = declared.to_le_bytes().to_vec();
        stream.extend_from_slice(&[WIRE_VERSION; 64]);
        let mut reader = &stream[..];
        let err = block_on(read_frame::<_, Request>(&mut reader)).unwrap_err();
        assert!(
            matches!(err, WireError::TooLarge { len, max: MAX_FRAME } if len == u64::from(declared)),
            "{err:?}"
        );
        assert_eq!(reader.len(), 64, "read past the header");
        assert!(matches!(
            decode::<Request>(&stream),
            Err(WireError::TooLarge { .. })
        ));
    }
}

#[test]
fn a_frame_of_exactly_max_frame_is_read() {
    // Vec<u8> of MAX_FRAME - 4 bytes: version + 3-byte length + bytes.
    let payload = vec![0x11u8; MAX_FRAME as usize - 4];
    let frame = encode(&payload).unwrap();
    assert_eq!(frame.len() - HEADER_LEN, MAX_FRAME as usize);
    let mut reader = &frame[..];
    assert_eq!(
        block_on(read_frame::<_, Vec<u8>>(&mut reader)).unwrap(),
        payload
    );
}

#[test]
fn truncated_frames_are_typed_errors() {
    let frame = encode(&Request::Challenge {
        challenge: Challenge::new(id(1), 1 << 20, [2; 32], 8).to_bytes(),
    })
    .unwrap();
    let body_len = (frame.len() - HEADER_LEN) as u32;
    for cut in 0..frame.len() {
        let prefix = &frame[..cut];
        let mut reader = prefix;
        let streamed = block_on(read_frame::<_, Request>(&mut reader)).unwrap_err();
        let sliced = decode::<Request>(prefix).unwrap_err();
        for err in [streamed, sliced] {
            match cut {
                0 => assert!(matches!(err, WireError::Closed), "{cut}: {err:?}"),
                1..HEADER_LEN => assert!(
                    matches!(err, WireError::TruncatedHeader { got } if got == cut),
                    "{cut}: {err:?}"
                ),
                _ => assert!(
                    matches!(err, WireError::TruncatedBody { expected, got }
                        if expected == body_len && got as usize == cut - HEADER_LEN),
                    "{cut}: {err:?}"
                ),
            }
        }
    }
}

/// A frame around an arbitrary body.
fn frame_of(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

#[test]
fn unknown_versions_are_refused() {
    let good = encode(&Request::Stat).unwrap();
    for version in [0, 2, 0xff] {
        let mut body = good[HEADER_LEN..].to_vec();
        body[0] = version;
        let frame = frame_of(&body);
        let mut reader = &frame[..];
        for err in [
            decode::<Request>(&frame).unwrap_err(),
            block_on(read_frame::<_, Request>(&mut reader)).unwrap_err(),
        ] {
            assert!(
                matches!(err, WireError::UnsupportedVersion(v) if v == version),
                "{err:?}"
            );
        }
    }
}

#[test]
fn empty_bodies_and_trailing_bytes_are_refused() {
    let empty = frame_of(&[]);
    assert!(matches!(
        decode::<Request>(&empty),
        Err(WireError::EmptyBody)
    ));
    assert!(matches!(
        block_on(read_frame::<_, Request>(&mut &empty[..])),
        Err(WireError::EmptyBody)
    ));

    let good = encode(&Request::DeleteShard { id: id(4) }).unwrap();
    let mut body = good[HEADER_LEN..].to_vec();
    body.extend_from_slice(&[0, 0, 0]);
    let padded = frame_of(&body);
    assert!(matches!(
        decode::<Request>(&padded),
        Err(WireError::TrailingBytes(3))
    ));
    assert!(matches!(
        block_on(read_frame::<_, Request>(&mut &padded[..])),
        Err(WireError::TrailingBytes(3))
    ));
    assert!(matches!(
        decode_body::<Request>(&body),
        Err(WireError::TrailingBytes(3))
    ));

    // Two frames in one slice: decode wants exactly one.
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert!(matches!(
        decode::<Request>(&two),
        Err(WireError::TrailingFrameBytes(n)) if n == good.len()
    ));
}

#[test]
fn challenges_are_rebuilt_from_their_bytes() {
    let challenge = Challenge::new(id(1), 1 << 20, [2; 32], 8);
    let frame = encode(&Request::Challenge {
        challenge: challenge.to_bytes(),
    })
    .unwrap();
    // header, wire version, variant, byte-string length, the challenge.
    assert_eq!(frame.len(), HEADER_LEN + 3 + challenge.to_bytes().len());
    let Request::Challenge { challenge: bytes } = decode(&frame).unwrap() else {
        unreachable!()
    };
    // The indices are derived from the seed on the receiving side.
    assert_eq!(Challenge::from_bytes(&bytes).unwrap(), challenge);
    // A zero chunk count (the last two bytes) travels, but is refused there.
    let mut zero = bytes.clone();
    let n = zero.len();
    zero[n - 2..].copy_from_slice(&[0, 0]);
    let frame = encode(&Request::Challenge { challenge: zero }).unwrap();
    let Request::Challenge { challenge: bytes } = decode(&frame).unwrap() else {
        unreachable!()
    };
    assert!(Challenge::from_bytes(&bytes).is_err());
}

#[test]
fn read_request_and_read_response_validate() {
    for bad in [
        Request::ListShards {
            after: None,
            limit: 0,
        },
        Request::ListShards {
            after: None,
            limit: MAX_LIST_LIMIT + 1,
        },
        Request::GetShard {
            id: id(1),
            offset: u64::MAX,
            len: Some(1),
        },
        Request::PutPointer {
            seq: 1,
            record: vec![0; MAX_POINTER_LEN + 1],
        },
    ] {
        let frame = encode(&bad).unwrap();
        assert!(decode::<Request>(&frame).is_ok());
        assert!(matches!(
            block_on(read_request(&mut &frame[..])),
            Err(WireError::Invalid(_))
        ));
    }
    let too_many = Response::Shards {
        ids: vec![(id(0), 0); MAX_LIST_LIMIT as usize + 1],
        more: true,
    };
    let frame = encode(&too_many).unwrap();
    assert!(matches!(
        block_on(read_response(&mut &frame[..])),
        Err(WireError::Invalid(_))
    ));
}

/// Deterministic pseudo-random shard bytes.
fn shard_bytes(len: usize, salt: u8) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(&[salt])
        .finalize_xof()
        .fill(&mut out);
    out
}

#[test]
fn a_challenge_answered_over_the_wire_verifies() {
    for (len, count) in [(0usize, 1u16), (1000, 3), (300_000, 16), (2 << 20, 64)] {
        let data = shard_bytes(len, count as u8);
        let (outboard, shard_id) = Outboard::build(&data[..]).unwrap();
        let challenge = Challenge::random(shard_id, len as u64, count);

        // Gateway -> node.
        let mut to_node = Vec::new();
        block_on(write_frame(
            &mut to_node,
            &Request::Challenge {
                challenge: challenge.to_bytes(),
            },
        ))
        .unwrap();

        // The node answers from its copy.
        let Request::Challenge {
            challenge: received,
        } = block_on(read_request(&mut &to_node[..])).unwrap()
        else {
            panic!("expected a challenge");
        };
        let received = Challenge::from_bytes(&received).unwrap();
        assert_eq!(received, challenge);
        let proof = proofs::prove(&received, &data[..], &outboard).unwrap();
        let mut to_gateway = Vec::new();
        let response = Response::Proof {
            proof: proof.to_bytes(),
        };
        block_on(write_frame(&mut to_gateway, &response)).unwrap();

        // The gateway checks it against nothing but the id and its challenge.
        let Response::Proof { proof } = block_on(read_response(&mut &to_gateway[..])).unwrap()
        else {
            panic!("expected a proof");
        };
        let proof = Proof::from_bytes(&proof).unwrap();
        proofs::verify(&shard_id, len as u64, &challenge, &proof).unwrap();

        // A node that lost a byte fails.
        if len > 0 {
            let mut damaged = data.clone();
            let chunk = received.chunks()[0] as usize * 1024;
            damaged[chunk] ^= 1;
            let proof = proofs::prove(&received, &damaged[..], &outboard).unwrap();
            let frame = encode(&Response::Proof {
                proof: proof.to_bytes(),
            })
            .unwrap();
            let Response::Proof { proof } = decode(&frame).unwrap() else {
                unreachable!()
            };
            let proof = Proof::from_bytes(&proof).unwrap();
            assert!(proofs::verify(&shard_id, len as u64, &challenge, &proof).is_err());
        }
    }
}

#[test]
fn the_largest_proof_fits_in_a_frame() {
    // Every chunk of a 16 MiB shard is 1024 bytes; challenge the maximum.
    let len = 16 << 20;
    let data = shard_bytes(len, 1);
    let (outboard, shard_id) = Outboard::build(&data[..]).unwrap();
    let challenge = Challenge::random(shard_id, len as u64, proofs::MAX_CHALLENGE_CHUNKS);
    assert_eq!(
        challenge.chunks().len(),
        usize::from(proofs::MAX_CHALLENGE_CHUNKS)
    );
    let proof = proofs::prove(&challenge, &data[..], &outboard).unwrap();
    let frame = encode(&Response::Proof {
        proof: proof.to_bytes(),
    })
    .unwrap();
    assert!(frame.len() - HEADER_LEN <= MAX_FRAME as usize);
    let Response::Proof { proof } = block_on(read_response(&mut &frame[..])).unwrap() else {
        unreachable!()
    };
    let proof = Proof::from_bytes(&proof).unwrap();
    proofs::verify(&shard_id, len as u64, &challenge, &proof).unwrap();
}

fn shard_id() -> impl Strategy<Value = ShardId> {
    any::<[u8; 32]>().prop_map(ShardId)
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (shard_id(), any::<u64>()).prop_map(|(id, len)| Request::PutShard { id, len }),
        (shard_id(), any::<u64>(), any::<Option<u64>>()).prop_map(|(id, offset, len)| {
            // Keep the range valid, as read_request requires.
            let len = len.map(|l| l.min(u64::MAX - offset));
            Request::GetShard { id, offset, len }
        }),
        (
            shard_id(),
            any::<u64>(),
            any::<[u8; 32]>(),
            1..=proofs::MAX_CHALLENGE_CHUNKS
        )
            .prop_map(|(id, len, seed, count)| Request::Challenge {
                challenge: Challenge::new(id, len, seed, count).to_bytes()
            }),
        prop::collection::vec(any::<u8>(), 0..100)
            .prop_map(|challenge| Request::Challenge { challenge }),
        shard_id().prop_map(|id| Request::DeleteShard { id }),
        Just(Request::Stat),
        (proptest::option::of(shard_id()), 1..=MAX_LIST_LIMIT)
            .prop_map(|(after, limit)| Request::ListShards { after, limit }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let proof = (
        any::<[u8; 32]>(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=1024), 0..4),
        prop::collection::vec(any::<[u8; 32]>(), 0..8),
    )
        .prop_map(|(seed, chunks, siblings)| Proof {
            seed,
            chunks,
            siblings,
        });
    let stat = (
        ".{0,40}",
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        ".{0,40}",
    )
        .prop_map(
            |(region, capacity, free, shards, bytes_stored, version)| NodeStat {
                region,
                capacity,
                free,
                shards,
                bytes_stored,
                version,
            },
        );
    prop_oneof![
        any::<bool>().prop_map(|already| Response::Stored { already }),
        any::<u64>().prop_map(|len| Response::Shard { len }),
        proof.prop_map(|proof| Response::Proof {
            proof: proof.to_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..100).prop_map(|proof| Response::Proof { proof }),
        Just(Response::Deleted),
        stat.prop_map(Response::Stat),
        (
            prop::collection::vec((shard_id(), any::<u64>()), 0..20),
            any::<bool>()
        )
            .prop_map(|(ids, more)| Response::Shards { ids, more }),
        (any::<u16>(), ".{0,100}").prop_map(|(code, message)| Response::Error {
            code: ErrorCode::from_u16(code),
            message
        }),
    ]
}

/// Whatever `bytes` decode to (if anything) re-encodes to the same message.
fn check_decodes_sanely(bytes: &[u8]) {
    if let Ok(request) = decode::<Request>(bytes) {
        assert_eq!(
            decode::<Request>(&encode(&request).unwrap()).unwrap(),
            request
        );
    }
    if let Ok(response) = decode::<Response>(bytes) {
        assert_eq!(
            decode::<Response>(&encode(&response).unwrap()).unwrap(),
            response
        );
    }
    let _ = block_on(read_request(&mut &bytes[..]));
    let _ = block_on(read_response(&mut &bytes[..]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(request in request()) {
        let frame = encode(&request).unwrap();
        prop_assert_eq!(&decode::<Request>(&frame).unwrap(), &request);
        prop_assert_eq!(block_on(read_request(&mut &frame[..])).unwrap(), request);
    }

    #[test]
    fn responses_round_trip(response in response()) {
        let frame = encode(&response).unwrap();
        prop_assert_eq!(&decode::<Response>(&frame).unwrap(), &response);
        prop_assert_eq!(block_on(read_response(&mut &frame[..])).unwrap(), response);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_decodes_sanely(&bytes);
    }

    /// Random bodies behind a correct header and version byte, so the
    /// message decoder itself sees the garbage.
    #[test]
    fn random_bodies_never_panic(
        variant in 0u8..10,
        tail in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut body = vec![WIRE_VERSION, variant];
        body.extend_from_slice(&tail);
        check_decodes_sanely(&frame_of(&body));
    }

    /// Valid frames with one byte changed.
    #[test]
    fn mutated_frames_never_panic(
        response in response(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut frame = encode(&response).unwrap();
        let i = at.index(frame.len());
        frame[i] ^= xor;
        check_decodes_sanely(&frame);
    }
}
