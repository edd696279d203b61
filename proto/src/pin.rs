//! CA pins: `SHA256:<hex>` over a certificate's DER SubjectPublicKeyInfo, as kubeadm's
//! discovery hash pins a cluster's CA. The agent checks the collector's CA against the pin
//! it was given (`--ca-fingerprint`); `vigil ca init` and the collector print it.
//!
//! Pinning the public key rather than the whole certificate means a CA certificate
//! re-issued for the same key (a longer validity, say) keeps its pin.
//!
//! Hashing is left to the caller (the agent has ring, the collector sha2): this module only
//! finds the bytes and writes and reads the text.

/// The DER SubjectPublicKeyInfo (tag and length included) of a DER X.509 certificate, or
/// `None` when `cert` is not one.
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = tlv(cert, 0x30)?;
    let (tbs, _) = tlv(certificate.content, 0x30)?;
    let mut rest = tbs.content;
    // version [0] EXPLICIT, optional
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest, 0xa0)?.1;
    }
    rest = tlv(rest, 0x02)?.1; // serialNumber
    rest = tlv(rest, 0x30)?.1; // signature algorithm
    rest = tlv(rest, 0x30)?.1; // issuer
    rest = tlv(rest, 0x30)?.1; // validity
    rest = tlv(rest, 0x30)?.1; // subject
    let (spki, _) = tlv(rest, 0x30)?;
    Some(spki.whole)
}

/// `SHA256:` and the digest in lowercase hex.
pub fn format(digest: &[u8; 32]) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("SHA256:");
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// Reads a pin: `SHA256:` (either case) then 64 hex digits, which may be split by colons
/// as `openssl x509 -fingerprint` prints them.
pub fn parse(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let hex = match text.split_once(':') {
        Some((algorithm, rest)) if algorithm.eq_ignore_ascii_case("sha256") => rest,
        _ => {
            return Err(format!(
                "{text:?} is not a CA fingerprint: expected SHA256:<64 hex digits>, as `vigil ca \
                 init` and `vigil ca show` print it"
            ));
        }
    };
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!(
            "CA fingerprint {text:?} must be SHA256: followed by 64 hex digits (got {})",
            digits.len()
        ));
    }
    let mut digest = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let value = |d: u8| char::from(d).to_digit(16).unwrap_or(0) as u8;
        digest[i] = value(pair[0]) << 4 | value(pair[1]);
    }
    Ok(digest)
}

/// One DER element.
pub struct Der<'a> {
    /// Its tag byte.
    pub tag: u8,
    /// The whole element: tag, length and content.
    pub whole: &'a [u8],
    /// Its content.
    pub content: &'a [u8],
}

/// One DER element with tag `tag` at the start of `input`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(Der<'_>, &[u8])> {
    let (element, rest) = der(input)?;
    (element.tag == tag).then_some((element, rest))
}

/// The DER element at the start of `input`, and what follows it; `None` when `input` does not start with a whole element (definite
/// lengths of up to four bytes). Shared with the agent's certificate reader.
pub fn der(input: &[u8]) -> Option<(Der<'_>, &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = len << 8 | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let content = input.get(header..end)?;
    let element = Der {
        tag,
        whole: &input[..end],
        content,
    };
    Some((element, &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_back_in_every_spelling() {
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let text = format(&digest);
        assert_eq!(parse(&text), Ok(digest));
        assert_eq!(
            parse(&text.to_uppercase().replace("SHA256", "sha256")),
            Ok(digest)
        );
        let colons: Vec<String> = text.as_bytes()[7..]
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(parse(&format!("SHA256:{}", colons.join(":"))), Ok(digest));
        assert!(parse("MD5:abcd").unwrap_err().contains("SHA256:"));
        assert!(parse("SHA256:abcd").unwrap_err().contains("64 hex"));
        assert!(parse(&format!("SHA256:{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn spki_refuses_what_is_not_a_certificate() {
        assert_eq!(spki(b""), None);
        assert_eq!(spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(spki(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        assert_eq!(spki(&[0x02, 0x00]), None);
    }
}
