//! Retry policy: which failures are transient, and how long to wait before the next try
//! (exponential backoff with full jitter, or the server's `Retry-After`).

use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// True for statuses worth retrying: 408, 409 (OpenAI's "busy" lock), 425, 429 and 5xx.
pub fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 409 | 425 | 429) || s.is_server_error()
}

/// The server's requested wait: `retry-after-ms` (OpenAI), `Retry-After` in seconds
/// (fractions allowed) or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait before retry number `attempt` (0 = the first retry): a uniform draw from
/// `[0, min(max, base·2^attempt)]`, or the server's `Retry-After` capped at `max`.
pub fn backoff(attempt: u32, base: Duration, max: Duration, server: Option<Duration>) -> Duration {
    if let Some(s) = server {
        return s.min(max);
    }
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 0..40 {
            let d = backoff(attempt, base, max, None);
            let ceiling = (base * 2u32.pow(attempt.min(10))).min(max);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        assert_eq!(
            backoff(0, base, max, Some(Duration::from_secs(5))),
            max,
            "Retry-After is capped"
        );
        assert_eq!(
            backoff(3, base, max, Some(Duration::from_millis(20))),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn transient_statuses() {
        for s in [408u16, 409, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400u16, 401, 403, 404, 422] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
