//! Tenants: every access key sees and touches only the buckets it created
//! or was granted (`cairn gateway bucket allow`), against a real devnet
//! with aws-sdk-s3 clients for two keys. The second key is made with
//! `cairn gateway key create` while the gateway runs (through its admin
//! endpoint). The scenarios share one devnet; each uses buckets of its own.

mod common;

use std::process::Command;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, read_object, shared_devnet};

fn devnet() -> &'static Devnet {
    shared_devnet(&[])
}

/// Runs `cairn gateway ARGS` on the devnet's gateway; its stdout, or its
/// stderr as the error.
fn cli(args: &[&str]) -> Result<String, String> {
    devnet().gateway_cli(args)
}

/// A new access key (id, client).
fn new_key() -> (String, aws_sdk_s3::Client) {
    devnet().new_key()
}

/// The error code of a failed request, or `ok`.
fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("(no code)").to_owned(),
    }
}

/// A bucket of the devnet's own key holding `k` = "kept".
async fn owned_bucket(name: &str) {
    let a = devnet().client();
    a.create_bucket().bucket(name).send().await.unwrap();
    a.put_object()
        .bucket(name)
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
}

async fn bucket_names(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let out = s3.list_buckets().send().await.unwrap();
    out.buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_key_can_neither_see_nor_touch_a_private_bucket() {
    owned_bucket("t-private").await;
    let (_, b) = new_key();
    b.create_bucket().bucket("t-b-own").send().await.unwrap();

    assert_eq!(bucket_names(&b).await, ["t-b-own"], "B lists only its own");
    assert!(
        bucket_names(&devnet().client())
            .await
            .contains(&"t-private".to_owned())
    );

    let denied = "AccessDenied";
    assert_eq!(
        code(b.get_object().bucket("t-private").key("k").send().await),
        denied
    );
    let head = b.head_object().bucket("t-private").key("k").send().await;
    let status = head
        .unwrap_err()
        .raw_response()
        .map(|r| r.status().as_u16());
    assert_eq!(status, Some(403));
    assert_eq!(
        code(b.list_objects_v2().bucket("t-private").send().await),
        denied
    );
    let put = b.put_object().bucket("t-private").key("k");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"evil")).send().await),
        denied
    );
    assert_eq!(
        code(b.delete_object().bucket("t-private").key("k").send().await),
        denied
    );
    let mpu = b.create_multipart_upload().bucket("t-private").key("m");
    assert_eq!(code(mpu.send().await), denied);
    assert_eq!(
        code(b.get_bucket_acl().bucket("t-private").send().await),
        denied
    );
    let public = b.put_bucket_acl().bucket("t-private");
    let public = public.acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead);
    assert_eq!(code(public.send().await), denied);
    assert_eq!(
        code(b.delete_bucket().bucket("t-private").send().await),
        denied
    );
    // Copying its data out into B's own bucket needs read on the source.
    let copy = b.copy_object().copy_source("t-private/k");
    assert_eq!(
        code(copy.bucket("t-b-own").key("stolen").send().await),
        denied
    );
    // A name taken by another key.
    let taken = b.create_bucket().bucket("t-private").send().await;
    assert_eq!(code(taken), "BucketAlreadyExists");

    let a = devnet().client();
    assert_eq!(read_object(&a, "t-private", "k", "after B").await, b"kept");
    let acl = a.get_bucket_acl().bucket("t-private").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "still private: {acl:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_give_exactly_what_they_say_and_can_be_taken_back() {
    owned_bucket("t-shared").await;
    let (b_id, b) = new_key();
    let allow = |perm: &str| cli(&["bucket", "allow", "t-shared", "--key", &b_id, perm]);
    let deny = |perm: &str| cli(&["bucket", "deny", "t-shared", "--key", &b_id, perm]);

    // Read only.
    allow("--read").unwrap();
    assert!(bucket_names(&b).await.contains(&"t-shared".to_owned()));
    assert_eq!(
        read_object(&b, "t-shared", "k", "read grant").await,
        b"kept"
    );
    let listed = b.list_objects_v2().bucket("t-shared").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
    let put = b.put_object().bucket("t-shared").key("b");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"b")).send().await),
        "AccessDenied"
    );
    let del = b.delete_object().bucket("t-shared").key("k").send().await;
    assert_eq!(code(del), "AccessDenied");

    // Read and write: objects, not the bucket.
    allow("--write").unwrap();
    let put = b.put_object().bucket("t-shared").key("b");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"b")).send().await),
        "ok"
    );
    assert_eq!(
        code(b.delete_object().bucket("t-shared").key("b").send().await),
        "ok"
    );
    let acl = b.put_bucket_acl().bucket("t-shared");
    let acl = acl.acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead);
    assert_eq!(code(acl.send().await), "AccessDenied");
    assert_eq!(
        code(b.delete_bucket().bucket("t-shared").send().await),
        "AccessDenied"
    );

    // What the operator sees.
    let info: serde_json::Value =
        serde_json::from_str(&cli(&["bucket", "info", "t-shared", "--json"]).unwrap()).unwrap();
    assert_eq!(info["grants"][&b_id], "read,write", "{info}");
    assert_eq!(info["owner"], devnet().info["access_key"]);
    let keys: serde_json::Value =
        serde_json::from_str(&cli(&["key", "list", "--json"]).unwrap()).unwrap();
    let b_view = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key"] == b_id.as_str())
        .unwrap();
    assert_eq!(b_view["granted"]["t-shared"], "read,write");

    // Taken back: as before.
    deny("--write").unwrap();
    let put = b.put_object().bucket("t-shared").key("b");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"b")).send().await),
        "AccessDenied"
    );
    deny("--read").unwrap();
    let get = b.get_object().bucket("t-shared").key("k").send().await;
    assert_eq!(code(get), "AccessDenied");
    assert!(!bucket_names(&b).await.contains(&"t-shared".to_owned()));

    // Owner: B may govern the bucket.
    allow("--owner").unwrap();
    let acl = b.get_bucket_acl().bucket("t-shared").send().await;
    assert_eq!(code(acl), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_bucket_is_read_by_every_key_and_written_by_its_owner_only() {
    let a = devnet().client();
    let create = a.create_bucket().bucket("t-public");
    let create = create.acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead);
    create.send().await.unwrap();
    a.put_object()
        .bucket("t-public")
        .key("k")
        .body(ByteStream::from_static(b"open"))
        .send()
        .await
        .unwrap();
    let (_, b) = new_key();
    assert_eq!(read_object(&b, "t-public", "k", "public").await, b"open");
    let put = b.put_object().bucket("t-public").key("k");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"x")).send().await),
        "AccessDenied"
    );
    // Deleting the bucket removes its grants: a key granted in it gets
    // nothing in a new bucket of the same name.
    let (c_id, c) = new_key();
    cli(&["bucket", "allow", "t-public", "--key", &c_id, "--write"]).unwrap();
    a.delete_object()
        .bucket("t-public")
        .key("k")
        .send()
        .await
        .unwrap();
    a.delete_bucket().bucket("t-public").send().await.unwrap();
    a.create_bucket().bucket("t-public").send().await.unwrap();
    let put = c.put_object().bucket("t-public").key("k");
    assert_eq!(
        code(put.body(ByteStream::from_static(b"x")).send().await),
        "AccessDenied"
    );
}

#[test]
fn the_admin_endpoint_wants_its_token_and_the_cli_names_what_is_missing() {
    let admin = devnet().info["gateway"]["admin"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(extra)
            .arg(format!("{admin}/buckets"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(status(&[]), "401");
    assert_eq!(status(&["-H", "Authorization: Bearer wrong"]), "401");
    let token = std::fs::read_to_string(devnet().gateway_dir().join("admin.token")).unwrap();
    let header = format!("Authorization: Bearer {}", token.trim());
    assert_eq!(status(&["-H", &header]), "200");

    let err = cli(&["bucket", "allow", "t-none", "--key", "CANOKEY", "--read"]).unwrap_err();
    assert!(err.contains("no access key"), "{err}");
    let (id, _) = new_key();
    let err = cli(&["bucket", "allow", "t-none", "--key", &id, "--read"]).unwrap_err();
    assert!(err.contains("no bucket"), "{err}");
    let err = cli(&["bucket", "allow", "t-none", "--key", &id]).unwrap_err();
    assert!(err.contains("--read"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_can_take_bucket_creation_away_and_delete_a_key() {
    owned_bucket("t-keys").await;
    let (id, b) = new_key();
    let info: serde_json::Value =
        serde_json::from_str(&cli(&["key", "info", &id, "--json"]).unwrap()).unwrap();
    assert_eq!(info["create_bucket"], true, "{info}");

    cli(&["key", "deny", &id, "--create-bucket"]).unwrap();
    let create = b.create_bucket().bucket("t-keys-b").send().await;
    assert_eq!(code(create), "AccessDenied");
    cli(&["key", "allow", &id, "--create-bucket"]).unwrap();
    assert_eq!(
        code(b.create_bucket().bucket("t-keys-b").send().await),
        "ok"
    );

    // Deleted: its signature no longer checks out and its grants are gone;
    // the bucket it made stays.
    cli(&["bucket", "allow", "t-keys", "--key", &id, "--read"]).unwrap();
    cli(&["key", "delete", &id]).unwrap();
    let get = b.get_object().bucket("t-keys").key("k").send().await;
    assert_eq!(code(get), "InvalidAccessKeyId");
    let view: serde_json::Value =
        serde_json::from_str(&cli(&["bucket", "info", "t-keys", "--json"]).unwrap()).unwrap();
    assert!(view["grants"].as_object().unwrap().is_empty(), "{view}");
    let buckets = cli(&["bucket", "list"]).unwrap();
    assert!(buckets.contains("t-keys-b"), "{buckets}");
    let err = cli(&["key", "delete", &id]).unwrap_err();
    assert!(err.contains("no access key"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_creates_a_bucket_for_a_key_and_deletes_it_once_empty() {
    let (id, b) = new_key();
    let view: serde_json::Value = serde_json::from_str(
        &cli(&["bucket", "create", "t-made", "--owner", &id, "--json"]).unwrap(),
    )
    .unwrap();
    assert_eq!(view["owner"], id.as_str(), "{view}");
    // The owner sees and uses it; the devnet's key gets nothing.
    assert!(bucket_names(&b).await.contains(&"t-made".to_owned()));
    b.put_object()
        .bucket("t-made")
        .key("k")
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let a = devnet().client();
    assert_eq!(
        code(a.get_object().bucket("t-made").key("k").send().await),
        "AccessDenied"
    );
    let err = cli(&["bucket", "create", "t-made", "--owner", &id]).unwrap_err();
    assert!(err.contains("exists"), "{err}");
    let err = cli(&["bucket", "create", "Bad_Name", "--owner", &id]).unwrap_err();
    assert!(err.contains("not a valid bucket name"), "{err}");
    let err = cli(&["bucket", "create", "t-made-2", "--owner", "NOSUCHKEY"]).unwrap_err();
    assert!(err.contains("no access key"), "{err}");
    // Not while it holds an object.
    let err = cli(&["bucket", "delete", "t-made"]).unwrap_err();
    assert!(err.contains("not empty"), "{err}");
    b.delete_object()
        .bucket("t-made")
        .key("k")
        .send()
        .await
        .unwrap();
    cli(&["bucket", "delete", "t-made"]).unwrap();
    assert!(!bucket_names(&b).await.contains(&"t-made".to_owned()));
    let err = cli(&["bucket", "delete", "t-made"]).unwrap_err();
    assert!(err.contains("no bucket"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn expected_bucket_owner_must_match_the_owner() {
    owned_bucket("t-expect").await;
    let a = devnet().client();
    let owner = devnet().info["access_key"].as_str().unwrap().to_owned();
    let (b_id, b) = new_key();
    cli(&[
        "bucket", "allow", "t-expect", "--key", &b_id, "--read", "--write",
    ])
    .unwrap();
    // The right owner (the owning key's id, as listings report it) passes.
    let get = a
        .get_object()
        .bucket("t-expect")
        .key("k")
        .expected_bucket_owner(&owner)
        .send()
        .await;
    assert_eq!(code(get), "ok");
    // Another owner is refused with AccessDenied, even for a granted key.
    let get = b
        .get_object()
        .bucket("t-expect")
        .key("k")
        .expected_bucket_owner(&b_id)
        .send()
        .await;
    assert_eq!(code(get), "AccessDenied");
    let put = a
        .put_object()
        .bucket("t-expect")
        .key("k2")
        .expected_bucket_owner("123456789012")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(code(put), "AccessDenied");
    // The copy source has its own header.
    let copy = a
        .copy_object()
        .bucket("t-expect")
        .key("k3")
        .copy_source("t-expect/k")
        .expected_source_bucket_owner("123456789012")
        .send()
        .await;
    assert_eq!(code(copy), "AccessDenied");
    let copy = a
        .copy_object()
        .bucket("t-expect")
        .key("k3")
        .copy_source("t-expect/k")
        .expected_source_bucket_owner(&owner)
        .expected_bucket_owner(&owner)
        .send()
        .await;
    assert_eq!(code(copy), "ok");
}

/// Puts `text` as the policy of `bucket` (as its owner).
async fn put_policy(bucket: &str, text: &str) -> String {
    let put = devnet().client().put_bucket_policy().bucket(bucket);
    code(put.policy(text).send().await)
}

/// The status of an unsigned GET of `path` sent from local address
/// `from` (any of 127.0.0.0/8).
async fn anonymous_get(from: &str, path: &str) -> u16 {
    anonymous_request(from, "GET", path, &[]).await
}

/// The status of an unsigned `method` of `path` with `headers` and no
/// body, sent from local address `from`.
async fn anonymous_request(from: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint = devnet().info["s3_endpoint"].as_str().unwrap();
    let addr: std::net::SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_policy_allows_beyond_grants_and_its_deny_beats_everything() {
    let a = devnet().client();
    a.create_bucket().bucket("t-pol").send().await.unwrap();
    for key in ["pub/x", "secret/y", "keep/z", "tmp/w"] {
        let put = a.put_object().bucket("t-pol").key(key);
        put.body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
    }
    let (b_id, b) = new_key();
    let (c_id, c) = new_key();
    cli(&[
        "bucket", "allow", "t-pol", "--key", &c_id, "--read", "--write",
    ])
    .unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
          {{"Sid":"ReadPub","Effect":"Allow","Principal":{{"AWS":"{b_id}"}},
            "Action":"s3:GetObject","Resource":"arn:aws:s3:::t-pol/pub/*"}},
          {{"Sid":"ListPub","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{b_id}:root"}},
            "Action":"s3:ListBucket","Resource":"arn:aws:s3:::t-pol",
            "Condition":{{"StringLike":{{"s3:prefix":"pub/*"}}}}}},
          {{"Sid":"Keep","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject",
            "Resource":"arn:aws:s3:::t-pol/keep/*"}},
          {{"Sid":"NoWritesByC","Effect":"Deny","Principal":{{"AWS":"{c_id}"}},
            "Action":"s3:PutObject","Resource":"arn:aws:s3:::t-pol/*"}},
          {{"Sid":"HiddenFromC","Effect":"Deny","Principal":{{"AWS":"{c_id}"}},
            "Action":"s3:GetObject","Resource":"arn:aws:s3:::t-pol/secret/*"}}
        ]}}"#
    );
    assert_eq!(put_policy("t-pol", &policy).await, "ok");

    // B: what the policy allows, nothing else.
    assert_eq!(read_object(&b, "t-pol", "pub/x", "allowed").await, b"data");
    let get = b.get_object().bucket("t-pol").key("secret/y").send().await;
    assert_eq!(code(get), "AccessDenied");
    let list = b
        .list_objects_v2()
        .bucket("t-pol")
        .prefix("pub/")
        .send()
        .await;
    assert_eq!(list.unwrap().key_count(), Some(1));
    let list = b.list_objects_v2().bucket("t-pol").send().await;
    assert_eq!(code(list), "AccessDenied", "listing outside the prefix");
    let put = b
        .put_bucket_policy()
        .bucket("t-pol")
        .policy("{}")
        .send()
        .await;
    assert_eq!(code(put), "AccessDenied");
    // C: its grant, less what the policy denies (GetObjectAttributes
    // included, which would tell the object's size and ETag).
    assert_eq!(read_object(&c, "t-pol", "pub/x", "granted").await, b"data");
    let hidden = c.get_object().bucket("t-pol").key("secret/y").send().await;
    assert_eq!(code(hidden), "AccessDenied");
    let attrs = c.get_object_attributes().bucket("t-pol").key("secret/y");
    let attrs = attrs.object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize);
    assert_eq!(code(attrs.send().await), "AccessDenied");
    let put = c
        .put_object()
        .bucket("t-pol")
        .key("c")
        .body(ByteStream::from_static(b"x"));
    assert_eq!(
        code(put.send().await),
        "AccessDenied",
        "Deny beats the grant"
    );
    // The owner too is held to a Deny, one key at a time in DeleteObjects.
    let del = a.delete_object().bucket("t-pol").key("keep/z").send().await;
    assert_eq!(code(del), "AccessDenied");
    let ids = ["keep/z", "tmp/w"].map(|k| {
        aws_sdk_s3::types::ObjectIdentifier::builder()
            .key(k)
            .build()
            .unwrap()
    });
    let delete = aws_sdk_s3::types::Delete::builder()
        .set_objects(Some(ids.to_vec()))
        .build()
        .unwrap();
    let out = a
        .delete_objects()
        .bucket("t-pol")
        .delete(delete)
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["tmp/w"]);
    let refused: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(refused, [("keep/z", "AccessDenied")]);

    // Read back as stored; not public; an invalid policy names the reason.
    let got = a.get_bucket_policy().bucket("t-pol").send().await.unwrap();
    assert_eq!(got.policy(), Some(policy.as_str()));
    let status = a
        .get_bucket_policy_status()
        .bucket("t-pol")
        .send()
        .await
        .unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(false));
    let bad = a.put_bucket_policy().bucket("t-pol");
    let bad = bad.policy(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"*"}]}"#,
    );
    let err = bad.send().await.unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicy"));
    assert!(
        err.message().unwrap().contains("s3:Fly"),
        "{:?}",
        err.message()
    );

    // Deleted: B is back to nothing, and the policy is gone.
    a.delete_bucket_policy()
        .bucket("t-pol")
        .send()
        .await
        .unwrap();
    let get = b.get_object().bucket("t-pol").key("pub/x").send().await;
    assert_eq!(code(get), "AccessDenied");
    let got = a.get_bucket_policy().bucket("t-pol").send().await;
    assert_eq!(code(got), "NoSuchBucketPolicy");
    a.delete_object()
        .bucket("t-pol")
        .key("keep/z")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_reader_is_held_to_the_policys_source_address() {
    owned_bucket("t-ippol").await;
    let only_here = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::t-ippol/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}}]}"#;
    assert_eq!(
        anonymous_get("127.0.0.1", "/t-ippol/k").await,
        403,
        "no policy yet"
    );
    assert_eq!(put_policy("t-ippol", only_here).await, "ok");
    assert_eq!(anonymous_get("127.0.0.1", "/t-ippol/k").await, 200);
    assert_eq!(anonymous_get("127.0.0.2", "/t-ippol/k").await, 403);
    assert_eq!(anonymous_get("127.0.0.1", "/t-ippol/missing").await, 404);
    assert_eq!(
        anonymous_get("127.0.0.1", "/t-ippol").await,
        403,
        "listing not allowed"
    );
    let a = devnet().client();
    let status = a
        .get_bucket_policy_status()
        .bucket("t-ippol")
        .send()
        .await
        .unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(false));
    let everyone = only_here.replace(
        r#","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}"#,
        "",
    );
    assert_eq!(put_policy("t-ippol", &everyone).await, "ok");
    assert_eq!(anonymous_get("127.0.0.2", "/t-ippol/k").await, 200);
    let status = a
        .get_bucket_policy_status()
        .bucket("t-ippol")
        .send()
        .await
        .unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_access_block_refuses_and_ignores_public_access() {
    use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, PublicAccessBlockConfiguration};
    let a = devnet().client();
    let create = a
        .create_bucket()
        .bucket("t-pab")
        .acl(BucketCannedAcl::PublicRead);
    create.send().await.unwrap();
    let put = a
        .put_object()
        .bucket("t-pab")
        .key("k")
        .body(ByteStream::from_static(b"open"));
    put.send().await.unwrap();
    let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::t-pab/*"}]}"#;
    let block = |acls: bool, ignore: bool, policy: bool, restrict: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(acls)
            .ignore_public_acls(ignore)
            .block_public_policy(policy)
            .restrict_public_buckets(restrict)
            .build()
    };
    let get = a.get_public_access_block().bucket("t-pab").send().await;
    assert_eq!(code(get), "NoSuchPublicAccessBlockConfiguration");
    assert_eq!(
        anonymous_get("127.0.0.1", "/t-pab/k").await,
        200,
        "public-read ACL"
    );
    // Only the owner changes or reads the block (a writer could otherwise
    // lift it and publish objects).
    let (w_id, w) = new_key();
    cli(&[
        "bucket", "allow", "t-pab", "--key", &w_id, "--read", "--write",
    ])
    .unwrap();
    let lift = w.delete_public_access_block().bucket("t-pab").send().await;
    assert_eq!(code(lift), "AccessDenied");
    let put = w.put_public_access_block().bucket("t-pab");
    let put = put.public_access_block_configuration(block(false, false, false, false));
    assert_eq!(code(put.send().await), "AccessDenied");
    let get = w.get_public_access_block().bucket("t-pab").send().await;
    assert_eq!(code(get), "AccessDenied");

    // IgnorePublicAcls: the public-read ACL stops counting.
    let put = a.put_public_access_block().bucket("t-pab");
    put.public_access_block_configuration(block(false, true, false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-pab/k").await, 403);

    // BlockPublicAcls and BlockPublicPolicy: requests making it public are refused.
    let put = a.put_public_access_block().bucket("t-pab");
    put.public_access_block_configuration(block(true, false, true, false))
        .send()
        .await
        .unwrap();
    let got = a
        .get_public_access_block()
        .bucket("t-pab")
        .send()
        .await
        .unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            got.block_public_acls(),
            got.ignore_public_acls(),
            got.block_public_policy()
        ),
        (Some(true), Some(false), Some(true))
    );
    let acl = a
        .put_bucket_acl()
        .bucket("t-pab")
        .acl(BucketCannedAcl::PublicRead);
    assert_eq!(code(acl.send().await), "AccessDenied");
    let put = a
        .put_object()
        .bucket("t-pab")
        .key("p")
        .acl(ObjectCannedAcl::PublicRead);
    assert_eq!(
        code(put.body(ByteStream::from_static(b"x")).send().await),
        "AccessDenied"
    );
    assert_eq!(put_policy("t-pab", public).await, "AccessDenied");
    let acl = a
        .put_bucket_acl()
        .bucket("t-pab")
        .acl(BucketCannedAcl::Private);
    assert_eq!(code(acl.send().await), "ok", "private is never refused");

    // RestrictPublicBuckets: a public policy grants anonymous clients nothing.
    let put = a.put_public_access_block().bucket("t-pab");
    put.public_access_block_configuration(block(false, false, false, true))
        .send()
        .await
        .unwrap();
    assert_eq!(put_policy("t-pab", public).await, "ok");
    assert_eq!(anonymous_get("127.0.0.1", "/t-pab/k").await, 403);
    a.delete_public_access_block()
        .bucket("t-pab")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-pab/k").await, 200);
    let get = a.get_public_access_block().bucket("t-pab").send().await;
    assert_eq!(code(get), "NoSuchPublicAccessBlockConfiguration");
}

/// Puts `key` into `bucket` as the devnet's key, with `acl` applied by
/// `with` (a canned ACL or grant headers).
async fn put_with(
    bucket: &str,
    key: &str,
    with: impl FnOnce(
        aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
) -> String {
    let put = devnet().client().put_object().bucket(bucket).key(key);
    let put = with(put).body(ByteStream::from_static(b"object data"));
    code(put.send().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn object_acls_open_single_objects_to_the_keys_and_groups_they_name() {
    use aws_sdk_s3::types::{ObjectCannedAcl, Permission, Type};
    let a = devnet().client();
    a.create_bucket().bucket("t-objacl").send().await.unwrap();
    let (b_id, b) = new_key();
    let canned = |acl: ObjectCannedAcl| {
        move |p: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder| p.acl(acl)
    };
    assert_eq!(
        put_with("t-objacl", "open", canned(ObjectCannedAcl::PublicRead)).await,
        "ok"
    );
    assert_eq!(put_with("t-objacl", "secret", |p| p).await, "ok");
    assert_eq!(
        put_with(
            "t-objacl",
            "auth",
            canned(ObjectCannedAcl::AuthenticatedRead)
        )
        .await,
        "ok"
    );
    let for_b = format!("id=\"{b_id}\"");
    assert_eq!(
        put_with("t-objacl", "shared", |p| p.grant_read(&for_b)).await,
        "ok"
    );

    // Anonymous clients read only the public object; a missing key is 403.
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/open").await, 200);
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/secret").await, 403);
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/auth").await, 403);
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/missing").await, 403);
    assert_eq!(
        anonymous_get("127.0.0.1", "/t-objacl").await,
        403,
        "no listing"
    );
    // B, with no grant in the bucket: what the objects grant it.
    assert_eq!(
        read_object(&b, "t-objacl", "shared", "granted").await,
        b"object data"
    );
    assert_eq!(
        read_object(&b, "t-objacl", "auth", "signed").await,
        b"object data"
    );
    assert_eq!(
        code(b.get_object().bucket("t-objacl").key("secret").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(
            b.get_object()
                .bucket("t-objacl")
                .key("missing")
                .send()
                .await
        ),
        "AccessDenied"
    );
    assert_eq!(
        code(
            b.get_object_acl()
                .bucket("t-objacl")
                .key("shared")
                .send()
                .await
        ),
        "AccessDenied"
    );

    // The ACL as GetObjectAcl answers it: the owner's FULL_CONTROL first.
    let got = a
        .get_object_acl()
        .bucket("t-objacl")
        .key("open")
        .send()
        .await
        .unwrap();
    let owner = devnet().info["access_key"].as_str().unwrap();
    assert_eq!(got.owner().and_then(|o| o.id()), Some(owner));
    let grants: Vec<_> = got
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().unwrap();
            let name = match who.r#type() {
                Type::CanonicalUser => who.id().unwrap().to_owned(),
                _ => who.uri().unwrap().rsplit('/').next().unwrap().to_owned(),
            };
            (name, g.permission().cloned().unwrap())
        })
        .collect();
    assert_eq!(
        grants,
        [
            (owner.to_owned(), Permission::FullControl),
            ("AllUsers".to_owned(), Permission::Read)
        ]
    );

    // PutObjectAcl: closed again; WRITE_ACP lets B open another object.
    let put = a
        .put_object_acl()
        .bucket("t-objacl")
        .key("open")
        .acl(ObjectCannedAcl::Private);
    put.send().await.unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/open").await, 403);
    let put = a
        .put_object_acl()
        .bucket("t-objacl")
        .key("secret")
        .grant_write_acp(&for_b);
    put.send().await.unwrap();
    let put = b
        .put_object_acl()
        .bucket("t-objacl")
        .key("secret")
        .acl(ObjectCannedAcl::PublicRead);
    assert_eq!(code(put.send().await), "ok");
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/secret").await, 200);
    let put = b
        .put_object_acl()
        .bucket("t-objacl")
        .key("shared")
        .acl(ObjectCannedAcl::PublicRead);
    assert_eq!(
        code(put.send().await),
        "AccessDenied",
        "READ is not WRITE_ACP"
    );

    // A copy is private unless it asks; multipart uploads take the ACL too.
    let copy = a
        .copy_object()
        .bucket("t-objacl")
        .key("copied")
        .copy_source("t-objacl/secret");
    copy.send().await.unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/copied").await, 403);
    let copy = a
        .copy_object()
        .bucket("t-objacl")
        .key("copied")
        .copy_source("t-objacl/secret");
    copy.acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/copied").await, 200);
    let up = a.create_multipart_upload().bucket("t-objacl").key("multi");
    let id = up.acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    let id = id.upload_id().unwrap().to_owned();
    let part = a
        .upload_part()
        .bucket("t-objacl")
        .key("multi")
        .upload_id(&id)
        .part_number(1);
    let part = part
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = a
        .complete_multipart_upload()
        .bucket("t-objacl")
        .key("multi")
        .upload_id(&id);
    complete.multipart_upload(done).send().await.unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/multi").await, 200);

    // Refusals: an unknown key, a canned ACL with grants.
    assert_eq!(
        put_with("t-objacl", "x", |p| p.grant_read("id=\"NOSUCHKEY\"")).await,
        "InvalidArgument"
    );
    let both = |p: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder| {
        p.acl(ObjectCannedAcl::Private).grant_read("id=\"x\"")
    };
    assert_eq!(put_with("t-objacl", "x", both).await, "InvalidRequest");
    // IgnorePublicAcls closes public objects; BlockPublicAcls refuses new ones.
    let block = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .ignore_public_acls(true)
        .block_public_acls(true)
        .build();
    let put = a.put_public_access_block().bucket("t-objacl");
    put.public_access_block_configuration(block)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous_get("127.0.0.1", "/t-objacl/secret").await, 403);
    assert_eq!(
        read_object(&b, "t-objacl", "shared", "key grants stay").await,
        b"object data"
    );
    assert_eq!(
        put_with("t-objacl", "y", canned(ObjectCannedAcl::PublicRead)).await,
        "AccessDenied"
    );
    let put = a
        .put_object_acl()
        .bucket("t-objacl")
        .key("secret")
        .acl(ObjectCannedAcl::PublicRead);
    assert_eq!(code(put.send().await), "AccessDenied");
}

#[test]
fn keys_are_created_with_a_name_renamed_and_listed_by_it() {
    let made: serde_json::Value =
        serde_json::from_str(&cli(&["key", "create", "--name", "backup robot"]).unwrap()).unwrap();
    assert_eq!(made["name"], "backup robot");
    let id = made["access_key"].as_str().unwrap().to_owned();
    let info = |id: &str| -> serde_json::Value {
        serde_json::from_str(&cli(&["key", "info", id, "--json"]).unwrap()).unwrap()
    };
    assert_eq!(info(&id)["name"], "backup robot");
    let renamed: serde_json::Value =
        serde_json::from_str(&cli(&["key", "rename", &id, "nightly backups", "--json"]).unwrap())
            .unwrap();
    assert_eq!(renamed["name"], "nightly backups");
    assert_eq!(info(&id)["name"], "nightly backups");
    let listed = cli(&["key", "list"]).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l == format!("{id}  nightly backups")),
        "{listed}"
    );
    let all: serde_json::Value =
        serde_json::from_str(&cli(&["key", "list", "--json"]).unwrap()).unwrap();
    let entry = all
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key"] == id.as_str())
        .unwrap();
    assert_eq!(entry["name"], "nightly backups");
    // Refusals: an unknown key, an empty name.
    let missing = cli(&["key", "rename", "NOSUCHKEY", "x"]).unwrap_err();
    assert!(missing.contains("NOSUCHKEY"), "{missing}");
    let empty = cli(&["key", "rename", &id, ""]).unwrap_err();
    assert!(empty.contains("1 to 128 characters"), "{empty}");
    cli(&["key", "delete", &id]).unwrap();
    assert!(cli(&["key", "info", &id]).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_copy_needs_to_read_its_source_too() {
    // A drop box: everyone may put objects into it.
    let a = devnet().client();
    a.create_bucket().bucket("t-dropbox").send().await.unwrap();
    owned_bucket("t-vault").await;
    let open = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject",
        "Resource":"arn:aws:s3:::t-dropbox/*"}]}"#;
    assert_eq!(put_policy("t-dropbox", open).await, "ok");
    let put = anonymous_request("127.0.0.1", "PUT", "/t-dropbox/note", &[]);
    assert_eq!(put.await, 200, "the drop box takes anonymous puts");
    // Copying a private object into it is refused, whichever way named.
    for source in ["t-vault/k", "/t-vault/k", "t-vault/missing"] {
        let copy = [("x-amz-copy-source", source), ("x-amz-acl", "public-read")];
        let status = anonymous_request("127.0.0.1", "PUT", "/t-dropbox/stolen", &copy).await;
        assert_eq!(status, 403, "{source}");
    }
    let listed = a
        .list_objects_v2()
        .bucket("t-dropbox")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["note"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_id_does_not_make_a_copy_a_read() {
    // Everyone may read every version, nobody but the owner may write.
    let a = devnet().client();
    a.create_bucket().bucket("t-readable").send().await.unwrap();
    let put = a.put_object().bucket("t-readable").key("src");
    put.body(ByteStream::from_static(b"source"))
        .send()
        .await
        .unwrap();
    let open = r#"{"Statement":[{"Effect":"Allow","Principal":"*",
        "Action":["s3:GetObject","s3:GetObjectVersion"],
        "Resource":"arn:aws:s3:::t-readable/*"}]}"#;
    assert_eq!(put_policy("t-readable", open).await, "ok");
    let read = anonymous_request("127.0.0.1", "GET", "/t-readable/src", &[]);
    assert_eq!(read.await, 200);
    // A copy is a write to its destination, whatever query it carries.
    let copy = [("x-amz-copy-source", "t-readable/src")];
    for path in ["/t-readable/dst?versionId=x", "/t-readable/dst"] {
        let status = anonymous_request("127.0.0.1", "PUT", path, &copy).await;
        assert_eq!(status, 403, "{path}");
    }
    let gone = a.head_object().bucket("t-readable").key("dst").send().await;
    assert!(gone.is_err(), "nothing written");
}
