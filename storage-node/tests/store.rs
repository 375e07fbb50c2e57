//! The shard store on real files in temporary directories.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use proofs::{Challenge, ShardId};
use storage_node::store::{INLINE_MAX, Owner, PutOutcome, ScrubOutcome, Store, StoreError};

const GIB: u64 = 1 << 30;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 10) as u8 ^ seed)
        .collect()
}

fn owner(name: &str) -> Owner {
    Owner::new(name.as_bytes()).unwrap()
}

/// Where the first owner of a fresh store (alias 0) keeps shard `id`.
fn shard_path(dir: &Path, id: &ShardId) -> PathBuf {
    let hex = id.to_hex();
    dir.join("shards")
        .join("00000000")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Stores `bytes` and returns their id.
fn put(store: &Store, bytes: &[u8], who: &str) -> ShardId {
    let id = ShardId::of(bytes);
    let outcome = store
        .put(id, bytes.len() as u64, owner(who), bytes)
        .unwrap();
    assert_eq!(outcome, PutOutcome::Stored);
    id
}

fn read_all(store: &Store, id: &ShardId) -> Vec<u8> {
    let len = store.open_shard(id).unwrap().len();
    let mut out = Vec::new();
    store
        .read_range(id, 0, len)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn flip_byte(path: &Path, offset: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= 0xff;
    file.write_all_at(&byte, offset).unwrap();
}

/// Asserts that nothing of a refused write is left anywhere.
fn assert_nothing_kept(store: &Store, dir: &Path) {
    assert!(files_under(&dir.join("shards")).is_empty());
    assert!(files_under(&dir.join("tmp")).is_empty());
    assert!(store.list(None).unwrap().is_empty());
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.shards, stats.bytes_stored, stats.bytes_reserved),
        (0, 0, 0)
    );
}

#[test]
fn put_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    assert!(store.reconcile_report().is_clean());

    for (len, seed) in [(0, 0), (1, 1), (1024, 2), (16_385, 3), (100_000, 4)] {
        let bytes = data(len, seed);
        let id = put(&store, &bytes, "gateway");
        assert!(store.contains(&id).unwrap());
        assert_eq!(read_all(&store, &id), bytes);
        // Small shards live in the index, larger ones in files.
        assert_eq!(
            shard_path(dir.path(), &id).is_file(),
            len as u64 > INLINE_MAX,
            "{len} bytes"
        );
    }

    // Incremental writes in odd pieces; ranged and positioned reads.
    let bytes = data(70_000, 9);
    let id = ShardId::of(&bytes);
    let mut writer = store
        .begin_put(id, bytes.len() as u64, owner("gateway"), u64::MAX)
        .unwrap();
    for piece in bytes.chunks(777) {
        writer.write(piece).unwrap();
    }
    assert_eq!(writer.written(), 70_000);
    assert_eq!(writer.commit().unwrap(), PutOutcome::Stored);
    let mut middle = Vec::new();
    store
        .read_range(&id, 1000, 5000)
        .unwrap()
        .read_to_end(&mut middle)
        .unwrap();
    assert_eq!(middle, &bytes[1000..6000]);
    let shard = store.open_shard(&id).unwrap();
    let mut buf = [0u8; 100];
    assert_eq!(shard.read_at(&mut buf, 69_950).unwrap(), 50);
    assert_eq!(&buf[..50], &bytes[69_950..]);
    assert!(matches!(
        store.read_range(&id, 69_000, 1001),
        Err(StoreError::RangeOutOfBounds { .. })
    ));

    let info = store.info(&owner("gateway"), &id).unwrap().unwrap();
    assert_eq!((info.len, &info.owner), (70_000, &owner("gateway")));
    assert!(info.created > 0 && info.last_verified >= info.created);
    assert_eq!(info.touched, info.created);
    assert!(store.info(&owner("other"), &id).unwrap().is_none());
    let stats = store.stats().unwrap();
    assert_eq!(stats.shards, 6);
    assert_eq!(stats.bytes_stored, 1 + 1024 + 16_385 + 100_000 + 70_000);
    assert_eq!(stats.capacity, GIB);
    assert!(stats.free <= GIB - stats.bytes_stored);

    // Listing by owner.
    put(&store, &data(500, 10), "other");
    assert_eq!(store.list(None).unwrap().len(), 7);
    assert_eq!(store.list(Some(&owner("other"))).unwrap().len(), 1);
    assert_eq!(store.list(Some(&owner("nobody"))).unwrap().len(), 0);

    // Missing shards.
    let unknown = ShardId::of(b"unknown");
    assert!(!store.contains(&unknown).unwrap());
    assert!(matches!(
        store.open_shard(&unknown),
        Err(StoreError::NotFound(_))
    ));

    // Everything survives a reopen.
    drop((shard, store));
    let store = Store::open(dir.path(), GIB).unwrap();
    assert!(store.reconcile_report().is_clean());
    assert_eq!(store.reconcile_report().kept, 7);
    assert_eq!(read_all(&store, &id), bytes);
    assert_eq!(store.stats().unwrap().shards, 7);
}

#[test]
fn storing_a_stored_shard_again_is_idempotent_and_owners_hold_their_own_copies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let bytes = data(50_000, 1);
    let id = put(&store, &bytes, "first");
    let again = store.put(id, 50_000, owner("first"), &bytes[..]).unwrap();
    assert_eq!(again, PutOutcome::AlreadyStored);
    assert_eq!(store.stats().unwrap().bytes_stored, 50_000);
    // Another owner storing the same id (a squatter, say) gets its own copy
    // and changes nothing for the first: each deletes only its own.
    let second = store.put(id, 50_000, owner("second"), &bytes[..]).unwrap();
    assert_eq!(second, PutOutcome::Stored);
    assert_eq!(store.stats().unwrap().bytes_stored, 100_000);
    assert_eq!(store.account(&owner("second")).usage.bytes, 50_000);
    store.delete(&id, &owner("second")).unwrap();
    assert_eq!(
        store.info(&owner("first"), &id).unwrap().unwrap().len,
        50_000
    );
    assert_eq!(store.stats().unwrap().bytes_stored, 50_000);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    // Wrong bytes under a stored id are still refused.
    let wrong = data(50_000, 2);
    assert!(matches!(
        store.put(id, 50_000, owner("first"), &wrong[..]),
        Err(StoreError::HashMismatch { .. })
    ));
    assert_eq!(read_all(&store, &id), bytes);
}

#[test]
fn bytes_that_do_not_match_the_id_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let bytes = data(40_000, 1);
    let claimed = ShardId::of(&data(40_000, 2));
    let err = store
        .put(claimed, 40_000, owner("gateway"), &bytes[..])
        .unwrap_err();
    match err {
        StoreError::HashMismatch { expected, actual } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, ShardId::of(&bytes));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    assert_nothing_kept(&store, dir.path());
    assert!(!store.contains(&claimed).unwrap());
}

#[test]
fn too_many_or_too_few_bytes_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let bytes = data(10_000, 1);
    let id = ShardId::of(&bytes);

    // One byte too many, in one piece: refused, the write is discarded at once.
    let mut writer = store.begin_put(id, 10_000, owner("g"), u64::MAX).unwrap();
    writer.write(&bytes[..9_000]).unwrap();
    let mut extra = bytes[9_000..].to_vec();
    extra.push(0);
    assert!(matches!(
        writer.write(&extra),
        Err(StoreError::TooManyBytes {
            expected: 10_000,
            ..
        })
    ));
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    assert!(matches!(
        writer.write(b"x"),
        Err(StoreError::WriterFailed(_))
    ));
    assert!(matches!(writer.commit(), Err(StoreError::WriterFailed(_))));
    assert_nothing_kept(&store, dir.path());

    // Through `put`, with a reader that runs past the declared length.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"tail");
    assert!(matches!(
        store.put(id, 10_000, owner("g"), &longer[..]),
        Err(StoreError::TooManyBytes { .. })
    ));
    assert_nothing_kept(&store, dir.path());

    // Too few: refused at commit.
    assert!(matches!(
        store.put(id, 10_000, owner("g"), &bytes[..9_999]),
        Err(StoreError::LengthMismatch {
            expected: 10_000,
            got: 9_999,
            ..
        })
    ));
    assert_nothing_kept(&store, dir.path());

    // The store still works afterwards.
    put(&store, &bytes, "g");
    assert_eq!(read_all(&store, &id), bytes);
}

#[test]
fn capacity_and_quotas_are_enforced_before_writing_and_as_bytes_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 250_000).unwrap();
    let a = data(100_000, 1);
    let b = data(100_000, 2);
    let c = data(60_000, 3);
    let id_a = put(&store, &a, "g");
    let id_b = put(&store, &b, "g");

    let err = store
        .begin_put(ShardId::of(&c), 60_000, owner("g"), u64::MAX)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::CapacityExceeded {
            requested: 60_000,
            used: 200_000,
            reserved: 0,
            capacity: 250_000
        }
    ));
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    assert_eq!(read_all(&store, &id_a), a);
    assert_eq!(read_all(&store, &id_b), b);
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.shards, stats.bytes_stored, stats.free),
        (2, 200_000, 50_000)
    );

    // A write holds room only for the bytes it has received, and frees it
    // as soon as it is dropped.
    let small = data(40_000, 4);
    let mut pending = store
        .begin_put(ShardId::of(&small), 40_000, owner("g"), u64::MAX)
        .unwrap();
    assert_eq!(store.stats().unwrap().bytes_reserved, 0);
    pending.write(&small[..35_000]).unwrap();
    assert_eq!(store.stats().unwrap().bytes_reserved, 35_000);
    let other = data(30_000, 5);
    // Refused before a byte is read: it would not fit beside the 35,000.
    assert!(matches!(
        store.begin_put(ShardId::of(&other), 30_000, owner("g"), u64::MAX),
        Err(StoreError::CapacityExceeded {
            reserved: 35_000,
            ..
        })
    ));
    // Admitted on its length, then out of room as its bytes come in.
    let mut racing = store
        .begin_put(ShardId::of(&other[..12_000]), 12_000, owner("g"), u64::MAX)
        .unwrap();
    pending.write(&small[35_000..]).unwrap();
    assert!(matches!(
        racing.write(&other[..12_000]),
        Err(StoreError::CapacityExceeded { .. })
    ));
    drop(racing);
    drop(pending);
    assert_eq!(store.stats().unwrap().bytes_reserved, 0);
    put(&store, &other, "g");

    // Deleting frees room.
    store.delete(&id_a, &owner("g")).unwrap();
    put(&store, &c, "g");
    assert_eq!(store.stats().unwrap().bytes_stored, 190_000);
}

#[test]
fn an_owner_is_held_to_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let quota = 50_000;
    let first = data(40_000, 1);
    let mut w = store
        .begin_put(ShardId::of(&first), 40_000, owner("stranger"), quota)
        .unwrap();
    w.write(&first).unwrap();
    w.commit().unwrap();
    let more = data(20_000, 2);
    assert!(matches!(
        store.begin_put(ShardId::of(&more), 20_000, owner("stranger"), quota),
        Err(StoreError::QuotaExceeded {
            requested: 20_000,
            used: 40_000,
            reserved: 0,
            quota: 50_000
        })
    ));
    // Others are not held to it.
    store
        .begin_put(ShardId::of(&more), 20_000, owner("friend"), quota)
        .unwrap();
    let account = store.account(&owner("stranger"));
    assert_eq!((account.usage.shards, account.usage.bytes), (1, 40_000));
}

#[test]
fn more_than_the_disk_holds_is_refused_as_disk_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), u64::MAX).unwrap();
    let disk_free = store.stats().unwrap().disk_free;
    let err = store
        .begin_put(
            ShardId::of(b"huge"),
            disk_free + (1 << 40),
            owner("g"),
            u64::MAX,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert_nothing_kept(&store, dir.path());
}

#[test]
fn only_the_owner_may_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let bytes = data(20_000, 1);
    let id = put(&store, &bytes, "alice");

    // Mallory has no copy of her own to delete.
    assert!(matches!(
        store.delete(&id, &owner("mallory")),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(read_all(&store, &id), bytes);
    assert_eq!(store.stats().unwrap().shards, 1);

    store.delete(&id, &owner("alice")).unwrap();
    assert!(!store.contains(&id).unwrap());
    assert!(!shard_path(dir.path(), &id).exists());
    assert_eq!(store.stats().unwrap().bytes_stored, 0);
    assert!(matches!(
        store.delete(&id, &owner("alice")),
        Err(StoreError::NotFound(_))
    ));

    // Reopening finds nothing to repair.
    drop(store);
    let store = Store::open(dir.path(), GIB).unwrap();
    assert!(store.reconcile_report().is_clean());
    assert_eq!(store.reconcile_report().kept, 0);
}

#[test]
fn reopening_reconciles_index_and_files() {
    let dir = tempfile::tempdir().unwrap();
    // Files (above INLINE_MAX), and one small shard kept in the index.
    let good = data(40_000, 1);
    let stale = data(40_000, 2);
    let truncated = data(40_000, 3);
    let orphan = data(40_000, 4);
    let small = data(3_000, 5);
    let (good_id, stale_id, truncated_id, small_id) = {
        let store = Store::open(dir.path(), GIB).unwrap();
        (
            put(&store, &good, "g"),
            put(&store, &stale, "g"),
            put(&store, &truncated, "g"),
            put(&store, &small, "g"),
        )
    };
    let orphan_id = ShardId::of(&orphan);

    // Damage behind the store's back.
    fs::remove_file(shard_path(dir.path(), &stale_id)).unwrap();
    OpenOptions::new()
        .write(true)
        .open(shard_path(dir.path(), &truncated_id))
        .unwrap()
        .set_len(10_000)
        .unwrap();
    let orphan_path = shard_path(dir.path(), &orphan_id);
    fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    fs::write(&orphan_path, &orphan).unwrap();
    fs::write(dir.path().join("tmp/leftover.part"), b"half a shard").unwrap();
    let stray = dir.path().join("shards/not-a-shard");
    // A file in the layout of before per-owner copies is stray too.
    let old_layout = dir.path().join(format!(
        "shards/{}/{}/{}",
        &good_id.to_hex()[..2],
        &good_id.to_hex()[2..4],
        good_id.to_hex()
    ));
    fs::create_dir_all(old_layout.parent().unwrap()).unwrap();
    fs::write(&old_layout, &good).unwrap();
    fs::write(&stray, b"?").unwrap();

    let store = Store::open(dir.path(), GIB).unwrap();
    let report = store.reconcile_report().clone();
    assert!(!report.is_clean());
    assert_eq!(report.temp_files_removed, 1);
    assert_eq!(report.orphan_files, vec![orphan_id]);
    let mut strays = vec![stray.clone(), old_layout.clone()];
    strays.sort();
    let mut found = report.stray_files.clone();
    found.sort();
    assert_eq!(found, strays);
    assert_eq!(report.missing_files, vec![stale_id]);
    assert_eq!(report.wrong_length, vec![truncated_id]);
    assert_eq!(report.kept, 2);

    // Cleaned: only the good shards remain, in the index and on disk.
    assert_eq!(read_all(&store, &good_id), good);
    assert_eq!(read_all(&store, &small_id), small);
    for id in [stale_id, truncated_id, orphan_id] {
        assert!(!store.contains(&id).unwrap());
        assert!(!shard_path(dir.path(), &id).exists());
    }
    assert!(!stray.exists());
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    assert_eq!(
        files_under(&dir.path().join("shards")),
        vec![shard_path(dir.path(), &good_id)]
    );
    let stats = store.stats().unwrap();
    assert_eq!((stats.shards, stats.bytes_stored), (2, 43_000));

    // A second reopen has nothing left to do.
    drop(store);
    let store = Store::open(dir.path(), GIB).unwrap();
    assert!(store.reconcile_report().is_clean());
    assert_eq!(read_all(&store, &good_id), good);
    assert_eq!(read_all(&store, &small_id), small);
}

#[test]
fn a_write_interrupted_mid_stream_leaves_no_partial_shard() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(100_000, 1);
    let id = ShardId::of(&bytes);
    let kept = data(5_000, 2);
    {
        let store = Store::open(dir.path(), GIB).unwrap();
        let kept_id = put(&store, &kept, "g");
        let mut writer = store.begin_put(id, 100_000, owner("g"), u64::MAX).unwrap();
        writer.write(&bytes[..60_000]).unwrap();
        assert!(!store.contains(&id).unwrap());
        assert!(matches!(
            store.open_shard(&id),
            Err(StoreError::NotFound(_))
        ));
        // A crash leaves the temp file behind (drop would delete it): keep a
        // copy of what the dying writer had on disk.
        let temps = files_under(&dir.path().join("tmp"));
        assert_eq!(temps.len(), 1);
        fs::copy(&temps[0], dir.path().join("tmp/crashed.part")).unwrap();
        drop(writer);
        assert_eq!(
            files_under(&dir.path().join("tmp")),
            vec![dir.path().join("tmp/crashed.part")]
        );
        assert_eq!(store.stats().unwrap().bytes_reserved, 0);
        assert!(store.contains(&kept_id).unwrap());
    }

    let store = Store::open(dir.path(), GIB).unwrap();
    assert_eq!(store.reconcile_report().temp_files_removed, 1);
    assert!(files_under(&dir.path().join("tmp")).is_empty());
    assert!(!store.contains(&id).unwrap());
    assert!(!shard_path(dir.path(), &id).exists());
    assert_eq!(read_all(&store, &ShardId::of(&kept)), kept);
    for info in store.list(None).unwrap() {
        assert_eq!(ShardId::of(&read_all(&store, &info.id)), info.id);
    }
    // The interrupted shard can be sent again in full.
    put(&store, &bytes, "g");
    assert_eq!(read_all(&store, &id), bytes);
}

#[test]
fn scrub_finds_and_removes_corrupt_shards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let shards: Vec<Vec<u8>> = (0..4).map(|i| data(40_000 + i * 1000, i as u8)).collect();
    let ids: Vec<ShardId> = shards.iter().map(|b| put(&store, b, "g")).collect();

    flip_byte(&shard_path(dir.path(), &ids[1]), 12_345);
    let report = store.scrub(10).unwrap();
    assert_eq!(report.checked, 4);
    assert_eq!(report.intact, 3);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].0, ids[1]);
    assert!(!store.contains(&ids[1]).unwrap());
    assert!(!shard_path(dir.path(), &ids[1]).exists());
    assert_eq!(store.stats().unwrap().shards, 3);
    for i in [0, 2, 3] {
        assert_eq!(read_all(&store, &ids[i]), shards[i]);
    }

    // One at a time: a good shard passes, a truncated one is removed.
    assert_eq!(store.scrub_one(&ids[0]).unwrap(), ScrubOutcome::Intact);
    OpenOptions::new()
        .write(true)
        .open(shard_path(dir.path(), &ids[2]))
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(matches!(
        store.scrub_one(&ids[2]).unwrap(),
        ScrubOutcome::Corrupt { .. }
    ));
    assert!(!store.contains(&ids[2]).unwrap());
    assert!(matches!(
        store.scrub_one(&ids[2]),
        Err(StoreError::NotFound(_))
    ));

    // A limit bounds the pass.
    assert_eq!(store.scrub(1).unwrap().checked, 1);
    let stats = store.stats().unwrap();
    assert_eq!((stats.shards, stats.bytes_stored), (2, 40_000 + 43_000));
}

#[test]
fn challenges_are_answered_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    for len in [500usize, 16_384, 300_000] {
        let bytes = data(len, 7);
        let id = put(&store, &bytes, "g");
        let challenge = Challenge::new(id, len as u64, [len as u8; 32], 8);
        let proof = store.prove(&challenge, &owner("g")).unwrap();
        proofs::verify(&id, len as u64, &challenge, &proof).unwrap();
        // Another owner's audit asks about its own copy: it has none.
        assert!(matches!(
            store.prove(&challenge, &owner("h")),
            Err(StoreError::NotFound(_))
        ));

        if len as u64 <= INLINE_MAX {
            // Stored in the index, which has no file to damage.
            continue;
        }
        // Damage a challenged chunk on disk: the proof no longer verifies.
        let chunk = challenge.chunks()[challenge.chunks().len() / 2];
        flip_byte(&shard_path(dir.path(), &id), chunk * 1024);
        let proof = store.prove(&challenge, &owner("g")).unwrap();
        assert!(proofs::verify(&id, len as u64, &challenge, &proof).is_err());
    }

    let unknown = ShardId::of(b"unknown");
    assert!(matches!(
        store.prove(&Challenge::new(unknown, 10, [0; 32], 1), &owner("g")),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn many_writers_commit_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let good: Vec<Vec<u8>> = (0..3).map(|i| data(20_000, i)).collect();
    let mut writers = Vec::new();
    for bytes in &good {
        let mut w = store
            .begin_put(ShardId::of(bytes), bytes.len() as u64, owner("g"), u64::MAX)
            .unwrap();
        w.write(bytes).unwrap();
        writers.push(w);
    }
    // A bad one in the middle and the same shard twice.
    let mut bad = store
        .begin_put(ShardId::of(b"claimed"), 20_000, owner("g"), u64::MAX)
        .unwrap();
    bad.write(&good[0]).unwrap();
    writers.insert(1, bad);
    let mut twice = store
        .begin_put(ShardId::of(&good[2]), 20_000, owner("g"), u64::MAX)
        .unwrap();
    twice.write(&good[2]).unwrap();
    writers.push(twice);

    let results = store.commit_many(writers).unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap(), &PutOutcome::Stored);
    assert!(matches!(results[1], Err(StoreError::HashMismatch { .. })));
    assert_eq!(results[2].as_ref().unwrap(), &PutOutcome::Stored);
    assert_eq!(results[3].as_ref().unwrap(), &PutOutcome::Stored);
    assert_eq!(results[4].as_ref().unwrap(), &PutOutcome::AlreadyStored);
    for bytes in &good {
        assert_eq!(&read_all(&store, &ShardId::of(bytes)), bytes);
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.shards, stats.bytes_stored, stats.bytes_reserved),
        (3, 60_000, 0)
    );
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn a_store_is_shared_between_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..5u8 {
                    // Threads 0/1 and 2/3 race on the same shards.
                    let bytes = data(10_000, (t / 2) * 10 + i);
                    let id = ShardId::of(&bytes);
                    let outcome = store.put(id, 10_000, owner("g"), &bytes[..]).unwrap();
                    assert!(matches!(
                        outcome,
                        PutOutcome::Stored | PutOutcome::AlreadyStored
                    ));
                    assert_eq!(read_all(&store, &id), bytes);
                }
            });
        }
    });
    let stats = store.stats().unwrap();
    assert_eq!(
        (stats.shards, stats.bytes_stored, stats.bytes_reserved),
        (10, 100_000, 0)
    );
    assert!(files_under(&dir.path().join("tmp")).is_empty());
}

#[test]
fn a_data_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path(), GIB).unwrap();
    assert!(Store::open(dir.path(), GIB).is_err());
}

#[test]
fn copies_whose_lease_ran_out_are_deleted_unless_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    let kept = put(&store, &data(40_000, 1), "gateway");
    let junk = put(&store, &data(40_000, 2), "junk");
    let small_junk = put(&store, &data(100, 3), "junk");
    // The later of the two junk puts (they may straddle a second).
    let created = [junk, small_junk]
        .iter()
        .map(|id| store.info(&owner("junk"), id).unwrap().unwrap().touched)
        .max()
        .unwrap();
    // The gateway renews its copy (as of an hour from now); junk does not.
    let later = created + 3600;
    let missing = store
        .renew(
            &owner("gateway"),
            &[kept, ShardId::of(b"never stored")],
            later,
        )
        .unwrap();
    assert_eq!(missing, vec![ShardId::of(b"never stored")]);
    assert_eq!(
        store
            .info(&owner("gateway"), &kept)
            .unwrap()
            .unwrap()
            .touched,
        later
    );
    // Renewing someone else's copy renews nothing.
    assert_eq!(
        store.renew(&owner("gateway"), &[junk], later).unwrap(),
        vec![junk]
    );

    let mut expired = store.expire(created + 1).unwrap();
    expired.sort_by_key(|(_, id)| *id);
    let mut want = vec![(owner("junk"), junk), (owner("junk"), small_junk)];
    want.sort_by_key(|(_, id)| *id);
    assert_eq!(expired, want);
    assert!(!store.contains(&junk).unwrap());
    assert!(store.info(&owner("gateway"), &kept).unwrap().is_some());
    assert_eq!(store.account(&owner("junk")).usage.bytes, 0);
    assert_eq!(store.stats().unwrap().bytes_stored, 40_000);
    // Storing again counts as touching: a re-put renews the lease.
    let again = store
        .put(kept, 40_000, owner("gateway"), &data(40_000, 1)[..])
        .unwrap();
    assert_eq!(again, PutOutcome::AlreadyStored);
    drop(store);
    let store = Store::open(dir.path(), GIB).unwrap();
    assert!(store.reconcile_report().is_clean());
    assert_eq!(store.stats().unwrap().shards, 1);
}

#[test]
fn usage_counters_grow_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), GIB).unwrap();
    put(&store, &data(1000, 1), "gateway");
    store.record_received(&owner("gateway"), 1000);
    store.record_served(&owner("gateway"), 300);
    let start = store.usage_integrated_at();
    store.flush_usage(start + 10).unwrap();
    let account = store.account(&owner("gateway"));
    assert_eq!(account.usage.shards, 1);
    assert_eq!(account.counters.bytes_served, 300);
    assert_eq!(account.counters.bytes_received, 1000);
    assert_eq!(account.counters.shard_seconds, 10);
    assert_eq!(account.counters.byte_seconds, 10_000);
    drop(store);
    let store = Store::open(dir.path(), GIB).unwrap();
    let reopened = store.account(&owner("gateway"));
    assert_eq!(reopened.counters, account.counters);
    store.flush_usage(start + 20).unwrap();
    assert_eq!(store.account(&owner("gateway")).counters.shard_seconds, 20);
    assert_eq!(store.accounts().len(), 1);
}
