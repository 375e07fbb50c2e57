//! Bearer tokens of the Pinning Service API, tied to Cairn access keys.
//!
//! A token is `cairn-<access key id>-<mac>`, the MAC a blake3 key
//! derivation over the key's secret and id. Whoever holds the secret can
//! make the token (`cairn pin token`); the gateway checks it against the
//! secret it keeps sealed, so the token stops working when the key is
//! deleted, and a token never reveals the secret it was made from.

const CONTEXT: &str = "cairn pinning service token v1";

/// The token of access key `id` with secret `secret`.
pub fn make(id: &str, secret: &str) -> String {
    format!("cairn-{id}-{}", crate::data::hex(&mac(id, secret)))
}

fn mac(id: &str, secret: &str) -> [u8; 32] {
    let mut material = Vec::with_capacity(secret.len() + id.len() + 1);
    material.extend_from_slice(secret.as_bytes());
    material.push(0);
    material.extend_from_slice(id.as_bytes());
    blake3::derive_key(CONTEXT, &material)
}

/// The access key id a token names, if it is shaped like a token.
pub fn key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("cairn-")?;
    let (id, mac) = rest.rsplit_once('-')?;
    let well_formed = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && mac.len() == 64
        && mac.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(id)
}

/// Whether `token` is the token of key `id` with `secret`, compared in
/// constant time (`blake3::Hash` equality).
pub fn verify(token: &str, id: &str, secret: &str) -> bool {
    let given = token
        .strip_prefix("cairn-")
        .and_then(|rest| rest.rsplit_once('-'))
        .filter(|(named, _)| *named == id)
        .and_then(|(_, mac)| blake3::Hash::from_hex(mac).ok());
    given.is_some_and(|given| given == blake3::Hash::from(mac(id, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_key_and_secret() {
        let token = make("AKIDEXAMPLE", "secret");
        assert_eq!(key_id(&token), Some("AKIDEXAMPLE"));
        assert!(verify(&token, "AKIDEXAMPLE", "secret"));
        assert!(!verify(&token, "AKIDEXAMPLE", "other secret"));
        assert!(!verify(&token, "AKIDOTHER", "secret"));
        assert!(!token.contains("secret"));
    }

    #[test]
    fn malformed_tokens_name_no_key() {
        assert_eq!(key_id("cairn-AKID-abc"), None);
        assert_eq!(key_id("Bearer x"), None);
        assert_eq!(key_id(&format!("cairn-../x-{}", "0".repeat(64))), None);
    }
}
