//! GETs against the collector's HTTP listener, and reading its Prometheus exposition.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The status code and body of `GET http://{addr}{path}`.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path}").parse().expect("uri");
    let response = client.get(uri).await.expect("GET");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One scrape of `/metrics`.
pub struct Scrape(pub String);

impl Scrape {
    /// Scrapes the collector at `addr`.
    pub async fn of(addr: SocketAddr) -> Scrape {
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        Scrape(body)
    }

    /// The value of one series, written as in the exposition: `name` or `name{label="v"}`,
    /// `telemetry_collector_` added; panics if absent.
    pub fn value(&self, series: &str) -> f64 {
        let full = format!("telemetry_collector_{series}");
        self.0
            .lines()
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == full).then(|| value.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no series {full} in\n{}", self.0))
    }
}
