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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_found_by_its_exact_name_and_labels() {
        let text = "# TYPE x counter\nx_total 3\nx_total{a=\"b\"} 4.5\nx_total_more 9\n";
        assert_eq!(value(text, "x_total"), Some(3.0));
        assert_eq!(value(text, "x_total{a=\"b\"}"), Some(4.5));
        assert_eq!(value(text, "x"), None);
    }
}
