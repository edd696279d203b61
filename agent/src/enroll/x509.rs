//! What the agent needs to know about a certificate: the host it names (subject common
//! name), its serial and its validity. Read from the DER by hand: a full X.509 parser
//! would be tens of kilobytes of code for four fields (see "Footprint" in main.rs).

use std::time::{Duration, SystemTime};

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject common name: the host name for an agent's certificate ("" without one).
    pub host: String,
    /// Serial number, lowercase hex, without the sign byte DER may add.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl CertInfo {
    /// Reads a DER X.509 certificate; `None` when it is not one.
    pub fn from_der(cert: &[u8]) -> Option<Self> {
        let (certificate, _) = element(cert, SEQUENCE)?;
        let (tbs, _) = element(certificate, SEQUENCE)?;
        let mut rest = tbs;
        if rest.first() == Some(&0xa0) {
            rest = element(rest, 0xa0)?.1; // version
        }
        let (serial, rest) = element(rest, 0x02)?;
        let rest = element(rest, SEQUENCE)?.1; // signature algorithm
        let rest = element(rest, SEQUENCE)?.1; // issuer
        let (validity, rest) = element(rest, SEQUENCE)?;
        let (subject, _) = element(rest, SEQUENCE)?;
        let (not_before, after) = time(validity)?;
        let (not_after, _) = time(after)?;
        let serial = match serial {
            [0, first, ..] if *first >= 0x80 => &serial[1..],
            _ => serial,
        };
        Some(Self {
            host: common_name(subject).unwrap_or_default(),
            serial: serial.iter().map(|b| format!("{b:02x}")).collect(),
            not_before,
            not_after,
        })
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// OID 2.5.4.3, commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The content of the DER element with tag `tag` at the start of `input`, and what follows.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = any_element(input)?;
    (found == tag).then_some((content, rest))
}

fn any_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (element, rest) = vigil_proto::pin::der(input)?;
    Some((element.tag, element.content, rest))
}

/// One UTCTime or GeneralizedTime at the start of `input` (DER: UTC, `Z`, seconds).
fn time(input: &[u8]) -> Option<(SystemTime, &[u8])> {
    let (tag, text, rest) = any_element(input)?;
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        digits
            .get(range)?
            .iter()
            .try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
    };
    let (year, at) = match (tag, digits.len()) {
        // UTCTime: two-digit years, 50..99 meaning 19xx (RFC 5280 4.1.2.5.1).
        (0x17, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 14) => (number(0..4)?, 4),
        _ => return None,
    };
    let month = number(at..at + 2)?;
    let day = number(at + 2..at + 4)?;
    let hour = number(at + 4..at + 6)?;
    let minute = number(at + 6..at + 8)?;
    let second = number(at + 8..at + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let seconds = days_since_epoch(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let at = if seconds >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    };
    Some((at, rest))
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar: years are
/// counted from March, so that the leap day falls at the end of one.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The first common name in a DER Name (the content of its SEQUENCE).
fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (set, rest) = element(name, SET)?;
        name = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = element(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = element(attribute, 0x06)?;
            if oid == COMMON_NAME {
                let (_, text, _) = any_element(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_days_match_known_dates() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_since_epoch(2024, 2, 29), 19_782);
        assert_eq!(days_since_epoch(1969, 12, 31), -1);
        assert_eq!(days_since_epoch(2100, 1, 1), 47_482);
    }

    #[test]
    fn both_time_forms_read() {
        let utc = [&[0x17, 13][..], b"491231235959Z"].concat();
        let (t, rest) = time(&utc).unwrap();
        assert!(rest.is_empty());
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 2_524_607_999, "2049-12-31T23:59:59Z");
        let generalized = [&[0x18, 15][..], b"20500101000000Z"].concat();
        let (t, _) = time(&generalized).unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            2_524_608_000
        );
        let old = [&[0x17, 13][..], b"700101000000Z"].concat();
        assert_eq!(time(&old).unwrap().0, SystemTime::UNIX_EPOCH, "70 is 1970");
        for bad in [
            [&[0x17, 11][..], b"4912312359Z"].concat(),
            [&[0x17, 13][..], b"491331235959Z"].concat(),
            [&[0x17, 13][..], b"49123123595+Z"].concat(),
            [&[0x04, 13][..], b"491231235959Z"].concat(),
        ] {
            assert_eq!(time(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn what_is_not_a_certificate_reads_as_none() {
        assert_eq!(CertInfo::from_der(b""), None);
        assert_eq!(CertInfo::from_der(&[0x30, 0x02, 0x30, 0x00]), None);
        assert_eq!(
            CertInfo::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
