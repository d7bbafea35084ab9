//! GETs against the collector's HTTP listener, and reading its Prometheus exposition.

use std::net::SocketAddr;

use telemetry_localenv::scrape;

/// The status code and body of `GET http://{addr}{path}`.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    scrape::get(addr, path).await.expect("GET")
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
        scrape::value(&self.0, &full).unwrap_or_else(|| panic!("no series {full} in\n{}", self.0))
    }
}
