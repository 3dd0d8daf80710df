//! The `X-Signature` check of OneBot v11 HTTP-POST: `sha1=<hex HMAC-SHA1(secret, raw body)>`.
//!
//! The signature covers the exact body bytes, so it is checked before the body is parsed, and
//! compared in constant time so response timing reveals nothing about the expected value.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Signature` header although a secret is configured.
    #[error("the X-Signature header is missing")]
    Missing,
    /// The header is not `sha1=` followed by 40 hex digits.
    #[error("the X-Signature header is not of the form sha1=<40 hex digits>")]
    Malformed,
    /// The HMAC does not match.
    #[error("the X-Signature does not match the body")]
    Mismatch,
}

/// Verifies `header` (the `X-Signature` value, if present) against `body` with `secret`.
pub fn verify(secret: &[u8], header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(b"sha1=")
        .or_else(|| header.strip_prefix(b"SHA1="))
        .ok_or(SignatureError::Malformed)?;
    let mut expected = [0u8; 20];
    hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Computes the header value for `body` (used by the tests' fake gateway and the bench).
#[must_use]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_right_signature_only() {
        let body = br#"{"post_type":"meta_event"}"#;
        let good = sign(b"s3cret", body);
        assert_eq!(verify(b"s3cret", Some(good.as_bytes()), body), Ok(()));
        assert_eq!(
            verify(b"other", Some(good.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", Some(good.as_bytes()), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"s3cret", None, body), Err(SignatureError::Missing));
        assert_eq!(verify(b"s3cret", Some(b"md5=00"), body), Err(SignatureError::Malformed));
        assert_eq!(
            verify(b"s3cret", Some(b"sha1=zz"), body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn matches_a_known_vector() {
        // RFC 2202 test case 2 for HMAC-SHA1.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }
}
