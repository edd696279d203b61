//! Request parameters as Prometheus reads them: from the URL query and, for a POST with a
//! form body, from the body too (body values first, as Go's `Request.ParseForm` orders
//! them); then times and durations in Prometheus's forms.
//!
//! ```text
//!   time      1700000000 | 1700000000.123 (Unix seconds; rounded to ms) | RFC 3339
//!   duration  1h30m | 5m | 250ms (units y w d h m s ms, largest first) | 300 | 0.5 (seconds)
//! ```
//!
//! Both must lie within ±2^53 ms (about 285,000 years, [`QUERY_TIME_LIMIT_MS`]), the range
//! the engine evaluates in; anything past it is refused naming the parameter, never
//! wrapped or saturated. Prometheus's "no bound" times (`MIN_TIME`/`MAX_TIME`, which
//! clients send to `/api/v1/series`) stand for the ends of that range.

use super::error::ApiError;
use super::{DRAIN_BYTES, MAX_BODY_BYTES};
use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{Method, header};
use tokio_stream::StreamExt;
use vigil_promql::time::{QUERY_TIME_LIMIT_MS, parse_time as parse_rfc3339};

/// The parameters of one request, in order, repeated names kept (`match[]`).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

/// `formatTime(minTime)` and `formatTime(maxTime)` in Prometheus: clients send these for
/// "no bound" (Go's time parser cannot read them back, so Prometheus special-cases them).
const MIN_TIME: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME: &str = "292277025-08-18T07:12:54.999999999Z";

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let from_url = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
            .map_err(|e| ApiError::bad_data(format!("cannot read the URL's parameters: {e}")))?
            .0;
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if req.method() != Method::POST || !is_form {
            return Ok(Self(from_url));
        }
        let body = read_body(req.into_body()).await?;
        let form = Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .map_err(|e| ApiError::internal(format!("re-reading the form body: {e}")))?;
        let Form(mut pairs) = Form::<Vec<(String, String)>>::from_request(form, state)
            .await
            .map_err(|e| {
                ApiError::bad_data(format!("cannot read the form body: {}", e.body_text()))
            })?;
        pairs.extend(from_url);
        Ok(Self(pairs))
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]. A larger one is refused, but read
/// on (and dropped) up to [`DRAIN_BYTES`] first: a server that answers before the client has
/// finished sending closes a socket with unread data, which resets the connection, and the
/// client then sees a broken connection instead of the answer saying what was wrong.
async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_data(format!("cannot read the request body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAIN_BYTES {
            break;
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::bad_data(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes; send fewer or shorter \
             parameters"
        )));
    }
    Ok(kept)
}

impl Params {
    /// The first value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Time parameter `name` in Unix milliseconds; `default` when absent or empty.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).map_err(|why| ApiError::bad_param(name, why)),
        }
    }

    /// Time parameter `name` in Unix milliseconds; required.
    pub fn time(&self, name: &str) -> Result<i64, ApiError> {
        parse_time(self.get(name).unwrap_or("")).map_err(|why| ApiError::bad_param(name, why))
    }

    /// Duration parameter `name` in milliseconds, if given.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(s) => parse_duration(s)
                .map(Some)
                .map_err(|why| ApiError::bad_param(name, why)),
        }
    }
}

/// The error for a time or duration past ±[`QUERY_TIME_LIMIT_MS`].
fn out_of_range(s: &str) -> String {
    format!(
        "{s:?} is out of range: times and durations must be within ±{} seconds (about \
         285,000 years) of 1970",
        QUERY_TIME_LIMIT_MS / 1000
    )
}

/// Parses a time: Unix seconds (fraction rounded to milliseconds) or RFC 3339, within
/// ±[`QUERY_TIME_LIMIT_MS`].
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(seconds) = s.parse::<f64>() {
        let ms = (seconds.trunc() * 1000.0) + (seconds.fract() * 1000.0).round();
        if ms.is_finite() && ms.abs() <= QUERY_TIME_LIMIT_MS as f64 {
            return Ok(ms as i64);
        }
        if ms.is_finite() {
            return Err(out_of_range(s));
        }
    } else if s == MIN_TIME {
        return Ok(-QUERY_TIME_LIMIT_MS);
    } else if s == MAX_TIME {
        return Ok(QUERY_TIME_LIMIT_MS);
    } else if let Ok(ms) = parse_rfc3339(s) {
        return Ok(ms);
    }
    Err(format!(
        "cannot parse {s:?} to a valid timestamp; use Unix seconds like 1700000000.5 or RFC 3339 like 2023-11-14T22:13:20Z"
    ))
}

/// Parses a duration: float seconds, or Prometheus's `1h30m` form, within
/// ±[`QUERY_TIME_LIMIT_MS`]. Milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(seconds) = s.parse::<f64>() {
        let ms = (seconds * 1000.0).round();
        if ms.is_finite() && ms.abs() <= QUERY_TIME_LIMIT_MS as f64 {
            return Ok(ms as i64);
        }
        return Err(out_of_range(s));
    }
    match parse_prometheus_duration(s) {
        Some(ms) if ms <= QUERY_TIME_LIMIT_MS => Ok(ms),
        Some(_) => Err(out_of_range(s)),
        None => Err(format!(
            "cannot parse {s:?} to a valid duration; use seconds like 15 or units like 5m, 1h30m"
        )),
    }
}

/// `1y2w3d4h5m6s7ms`: units in this order, each at most once, integer counts.
fn parse_prometheus_duration(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        // An absurd count fails to parse or to multiply: refused, not wrapped.
        let count: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let index = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total = total.checked_add(count.checked_mul(UNITS[index].1)?)?;
        next_unit = index + 1;
    }
    Some(total)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1700000000.9996"), Ok(1_700_000_001_000));
        assert_eq!(parse_time("-1.5"), Ok(-1_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(parse_time(MAX_TIME), Ok(QUERY_TIME_LIMIT_MS));
        assert_eq!(parse_time(MIN_TIME), Ok(-QUERY_TIME_LIMIT_MS));
        for bad in ["", "yesterday", "NaN", "inf", "1e300"] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn extreme_times_and_durations_are_refused_not_wrapped() {
        let edge = QUERY_TIME_LIMIT_MS / 1000;
        assert_eq!(parse_time(&edge.to_string()), Ok(edge * 1000));
        assert_eq!(parse_time(&(-edge).to_string()), Ok(-edge * 1000));
        for bad in [
            "9e15",
            "-9e15",
            "9007199254741",
            "9223372036854775807",
            "-9223372036854775808",
            "1e18",
            "1e300",
            "-1e300",
        ] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
            assert!(!e.is_empty());
        }
        for bad in [
            "9e15",
            "1e300",
            "-1e300",
            "inf",
            "NaN",
            "300000y",
            "9223372036854775807s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        for bad in [
            "99999999999999999999y",
            "9223372036854775807ms1ms",
            "1y1w1d1h1m1s1ms1ms",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(parse_duration("285y"), Ok(285 * 365 * 86_400_000));
        assert!(parse_duration("9e15").unwrap_err().contains("out of range"));
    }

    #[test]
    fn the_parameter_is_named() {
        let params = Params(vec![
            ("start".into(), "-9e15".into()),
            ("step".into(), "1e300".into()),
        ]);
        let e = params.time("start").unwrap_err();
        assert!(
            e.message
                .starts_with("invalid parameter \"start\": \"-9e15\" is out of range"),
            "{}",
            e.message
        );
        let e = params.duration("step").unwrap_err();
        assert!(
            e.message.starts_with("invalid parameter \"step\""),
            "{}",
            e.message
        );
        assert_eq!(params.time_or("end", 5), Ok(5));
    }

    #[test]
    fn durations_in_both_forms() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.25"), Ok(250));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("2w"), Ok(1_209_600_000));
        assert_eq!(parse_duration("1s500ms"), Ok(1_500));
        assert_eq!(parse_duration("0s"), Ok(0));
        for bad in ["", "m", "5x", "30m1h", "5m5m", "1.5h", "-5m", "1e300"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }
}
