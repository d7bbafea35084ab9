//! Reading a collector's HTTP listener: a plain GET, and one series out of a Prometheus
//! exposition. Used by the tests and by `run-local`'s live figures.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The status code and body of `GET http://{addr}{path}`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let response = client
        .get(uri)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The value of one series of an exposition, named as written there: `name` or
/// `name{label="v"}`.
pub fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// The cumulative buckets of histogram `name` in an exposition: `(le, count)` in the order
/// written (ascending), `+Inf` as infinity.
pub fn buckets(exposition: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets (as [`buckets`] gives them, or the difference of two
/// scrapes' by bucket), interpolated within its bucket as Prometheus' `histogram_quantile`
/// does; `None` without observations.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut below = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank && count > below.1 {
            if le.is_infinite() {
                return Some(below.0);
            }
            let into = (rank - below.1) / (count - below.1);
            return Some(below.0 + (le - below.0) * into);
        }
        below = (le, count);
    }
    Some(below.0)
}

/// Bucket counts of `now` minus those of `before` (the same histogram, two scrapes).
pub fn since(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    now.iter()
        .map(|&(le, n)| {
            let earlier = before
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c);
            (le, n - earlier)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_cumulative_buckets() {
        let text = "lag_seconds_bucket{le=\"0.1\"} 50\nlag_seconds_bucket{le=\"0.2\"} 100\n\
                    lag_seconds_bucket{le=\"+Inf\"} 100\nlag_seconds_sum 12\n";
        let b = buckets(text, "lag_seconds");
        assert_eq!(b, [(0.1, 50.0), (0.2, 100.0), (f64::INFINITY, 100.0)]);
        assert_eq!(quantile(&b, 0.5), Some(0.1));
        let p99 = quantile(&b, 0.99).expect("observed");
        assert!((p99 - 0.198).abs() < 1e-9, "{p99}");
        let earlier = [(0.1, 50.0), (0.2, 50.0), (f64::INFINITY, 50.0)];
        let recent = since(&b, &earlier);
        let p50 = quantile(&recent, 0.5).expect("observed since");
        assert!((p50 - 0.15).abs() < 1e-9, "only what came since: {p50}");
        assert_eq!(quantile(&since(&b, &b), 0.5), None);
    }

    #[test]
    fn a_series_is_found_by_its_exact_name_and_labels() {
        let text = "# TYPE x counter\nx_total 3\nx_total{a=\"b\"} 4.5\nx_total_more 9\n";
        assert_eq!(value(text, "x_total"), Some(3.0));
        assert_eq!(value(text, "x_total{a=\"b\"}"), Some(4.5));
        assert_eq!(value(text, "x"), None);
    }
}
