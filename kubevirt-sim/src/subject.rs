//! The subject common names of an X.509 certificate, read straight from its DER.
//!
//! Only the front-proxy name check needs this, and only after webpki has verified the certificate
//! against the client CA, so the input is a well-formed certificate that CA signed. A full X.509
//! parser (x509-parser and its nom/asn1-rs/der-parser tree) would be a large dependency for one
//! field; this walks the few DER structures down to `tbsCertificate.subject` and nothing else,
//! and refuses anything it does not understand rather than guessing.

/// Why a certificate's subject could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectError(&'static str);

impl std::fmt::Display for SubjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable certificate subject: {}", self.0)
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version`, present in every v3 certificate.
const VERSION_TAG: u8 = 0xA0;
/// 2.5.4.3, id-at-commonName.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

/// Every `CN=` value in the certificate's subject, in the order they appear.
pub fn subject_common_names(certificate_der: &[u8]) -> Result<Vec<String>, SubjectError> {
    let (certificate, _) = expect(SEQUENCE, certificate_der, "certificate")?;
    let (tbs, _) = expect(SEQUENCE, certificate, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION_TAG) {
        rest = tlv(rest)?.2;
    }
    let (_, rest) = expect(INTEGER, rest, "serialNumber")?;
    let (_, rest) = expect(SEQUENCE, rest, "signature algorithm")?;
    let (_, rest) = expect(SEQUENCE, rest, "issuer")?;
    let (_, rest) = expect(SEQUENCE, rest, "validity")?;
    let (mut subject, _) = expect(SEQUENCE, rest, "subject")?;
    let mut names = Vec::new();
    while !subject.is_empty() {
        let (mut rdn, next) = expect(SET, subject, "relative distinguished name")?;
        subject = next;
        while !rdn.is_empty() {
            let (attribute, next) = expect(SEQUENCE, rdn, "attribute")?;
            rdn = next;
            let (oid, value) = expect(OID, attribute, "attribute type")?;
            if oid == COMMON_NAME_OID {
                let (tag, content, _) = tlv(value)?;
                names.push(directory_string(tag, content)?);
            }
        }
    }
    Ok(names)
}

/// A DirectoryString as Go's crypto/x509 reads it (UTF8String, PrintableString, IA5String,
/// BMPString, TeletexString as Latin-1), so a name compares as the apiserver compares it.
fn directory_string(tag: u8, content: &[u8]) -> Result<String, SubjectError> {
    match tag {
        // UTF8String, PrintableString, IA5String, NumericString
        0x0C | 0x13 | 0x16 | 0x12 => String::from_utf8(content.to_vec())
            .map_err(|_| SubjectError("a common name that is not valid UTF-8")),
        // TeletexString: Latin-1, as Go and OpenSSL read it.
        0x14 => Ok(content.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1E => {
            if !content.len().is_multiple_of(2) {
                return Err(SubjectError("a BMPString of odd length"));
            }
            let units = content
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| SubjectError("a BMPString that is not valid UTF-16"))
        }
        _ => Err(SubjectError("a common name of an unsupported string type")),
    }
}

/// The content of a TLV with tag `tag` at the start of `input`, and what follows it.
fn expect<'a>(
    tag: u8,
    input: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), SubjectError> {
    let (found, content, rest) = tlv(input)?;
    if found != tag {
        return Err(SubjectError(what));
    }
    Ok((content, rest))
}

/// One DER tag-length-value: (tag, content, rest). Low tag numbers only (all X.509 needs up to
/// the subject); definite lengths of up to 4 bytes, checked against the input.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), SubjectError> {
    let truncated = SubjectError("truncated DER");
    let (&tag, rest) = input.split_first().ok_or(truncated.clone())?;
    if tag & 0x1F == 0x1F {
        return Err(SubjectError("a high-number DER tag"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(truncated.clone())?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7F);
        if octets == 0 || octets > 4 {
            return Err(SubjectError("an unsupported DER length"));
        }
        let (bytes, after) = rest.split_at_checked(octets).ok_or(truncated.clone())?;
        rest = after;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(length).ok_or(truncated)?;
    Ok((tag, content, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_foreign_input_is_an_error_not_a_panic() {
        for input in [
            &[][..],
            &[0x30][..],
            &[0x30, 0x85, 0, 0, 0, 0, 1][..],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF][..],
            &[0x30, 0x03, 0x30, 0x01][..],
            &[0x1F, 0x01, 0x00][..],
            b"-----BEGIN CERTIFICATE-----",
        ] {
            assert!(subject_common_names(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn directory_strings_decode_as_go_reads_them() {
        assert_eq!(directory_string(0x0C, "前端".as_bytes()).unwrap(), "前端");
        assert_eq!(
            directory_string(0x13, b"front-proxy-client").unwrap(),
            "front-proxy-client"
        );
        assert_eq!(directory_string(0x14, &[0x66, 0xE9]).unwrap(), "fé");
        assert_eq!(
            directory_string(0x1E, &[0x00, 0x61, 0x00, 0x62]).unwrap(),
            "ab"
        );
        assert!(directory_string(0x1E, &[0x00]).is_err());
        assert!(directory_string(0x0C, &[0xFF]).is_err());
        assert!(directory_string(0x04, b"x").is_err());
    }
}
