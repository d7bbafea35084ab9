//! A fault-injecting HTTP proxy in front of an emulator, steered by a test through a
//! [`Plan`]: take the service down (refuse connections, close open ones), fail whole requests
//! (500, 503, throttling, reset connections, lost answers), fail chosen entries inside
//! `PutRecords` and `DeleteMessageBatch` answers, add latency. It understands the AWS JSON
//! protocol just enough for that (see [`crate::faults`]); everything else is passed through.
//!
//! Beside the plan, a [`Profile`] gives the proxy production's shape (see [`crate::profile`]):
//! a round-trip time on every call, Kinesis's per-shard limits (see [`crate::shard_limit`]) and
//! SigV4 signature checks (see [`crate::signature`]); and the proxy can serve HTTPS with a
//! certificate of a [`Ca`] generated for the run. Signatures are checked on the request as
//! received; bodies are rewritten (for entry faults and shard limits) only after that.
//!
//! ```no_run
//! # async fn f(kinesalite: std::net::SocketAddr) -> anyhow::Result<()> {
//! use telemetry_localenv::{faults::Service, profile::Profile, proxy::Proxy, tls::Ca};
//! let ca = Ca::generate(std::env::temp_dir().join("ca.pem"))?;
//! let proxy = Proxy::builder(kinesalite)
//!     .tls(&ca)
//!     .profile(Profile::production(Service::Kinesis))
//!     .start()
//!     .await?;
//! // Processes given SSL_CERT_FILE=<ca.cert_file()> reach it at proxy.url() (https://...).
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::faults::{self, Plan, RequestFault, Service};
use crate::profile::Profile;
use crate::shard_limit::{self, Limiter, ShardCount, Throttled};
use crate::tls::Ca;
use crate::uniform_scaling;
use telemetry_aws::shard_map::ShardMap;

/// A proxy to one target.
#[derive(Debug)]
pub struct Proxy {
    /// Where the proxy listens (always on 127.0.0.1).
    pub addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// How a proxy starts: to which target, over TLS or not, with which profile.
#[derive(Debug)]
#[must_use]
pub struct ProxyBuilder {
    target: SocketAddr,
    tls: Option<Ca>,
    profile: Profile,
}

/// What the proxy did, for tests to check that a fault really happened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Injected {
    /// Requests forwarded to the target.
    pub forwarded: u64,
    /// Requests failed as a whole (including lost answers and resets).
    pub requests: u64,
    /// Entries failed inside batch answers by the plan.
    pub entries: u64,
    /// Connections refused or closed while down.
    pub refused: u64,
    /// Records refused by the shard limits (inside `PutRecords` answers, or whole `PutRecord`
    /// calls); per shard in [`Proxy::shard_counts`].
    pub throttled: u64,
    /// Requests refused by the signature check.
    pub bad_signatures: u64,
    /// TLS handshakes that failed (e.g. a client that does not trust the CA).
    pub failed_handshakes: u64,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    state: Mutex<State>,
    limiter: Arc<Limiter>,
    forwarded: AtomicU64,
    requests: AtomicU64,
    entries: AtomicU64,
    refused: AtomicU64,
    throttled: AtomicU64,
    bad_signatures: AtomicU64,
    failed_handshakes: AtomicU64,
}

#[derive(Debug)]
struct State {
    plan: Plan,
    profile: Arc<Profile>,
    /// Cancelled when the proxy goes down: ends the connections of this generation.
    generation: CancellationToken,
    rng: SmallRng,
}

/// The proxy's client to its target (plain HTTP on loopback).
pub(crate) type HttpClient =
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Headers that belong to one connection and are never passed on by a proxy (RFC 9110, 7.6.1),
/// beside those a `Connection` header names.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop headers: those `Connection` names, then the fixed ones.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .filter(|n| !n.is_empty())
        .collect();
    for name in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// The calls that change a stream's shards: the shard limits follow them.
const RESHARDING: [&str; 3] = ["UpdateShardCount", "SplitShard", "MergeShards"];

impl ProxyBuilder {
    /// Serves HTTPS with a certificate of `ca` (for `127.0.0.1` and `localhost`).
    pub fn tls(mut self, ca: &Ca) -> ProxyBuilder {
        self.tls = Some(ca.clone());
        self
    }

    /// Starts with `profile` (it can be changed later with [`Proxy::set_profile`]).
    pub fn profile(mut self, profile: Profile) -> ProxyBuilder {
        self.profile = profile;
        self
    }

    /// Starts the proxy on a free loopback port, healthy (no faults planned).
    pub async fn start(self) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        let shared = Arc::new(Shared {
            target: self.target,
            state: Mutex::new(State {
                plan: Plan::healthy(),
                profile: Arc::new(self.profile),
                generation: CancellationToken::new(),
                rng: SmallRng::from_entropy(),
            }),
            limiter: Arc::new(Limiter::new(client.clone(), self.target)),
            forwarded: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            bad_signatures: AtomicU64::new(0),
            failed_handshakes: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let tls = self.tls.as_ref().map(Ca::acceptor);
        let is_tls = tls.is_some();
        tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            client,
            tls,
            stop.clone(),
        ));
        Ok(Proxy {
            addr,
            tls: is_tls,
            shared,
            stop,
        })
    }
}

impl Proxy {
    /// Starts a healthy plain-HTTP proxy to `target` on a free loopback port, adding nothing
    /// (the emulator's own shape).
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        Proxy::builder(target).start().await
    }

    /// A proxy to `target` to configure before starting it.
    pub fn builder(target: SocketAddr) -> ProxyBuilder {
        ProxyBuilder {
            target,
            tls: None,
            profile: Profile::emulator(),
        }
    }

    /// Starts a production-shaped proxy to the `service` emulator at `target`: HTTPS with a
    /// certificate of `ca`, and [`Profile::production`].
    pub async fn production(
        target: SocketAddr,
        service: Service,
        ca: &Ca,
    ) -> std::io::Result<Proxy> {
        Proxy::builder(target)
            .tls(ca)
            .profile(Profile::production(service))
            .start()
            .await
    }

    /// The proxy's URL: `https://127.0.0.1:PORT` when it serves TLS, else `http://...`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Replaces the plan. Going down closes every open connection.
    pub fn set_plan(&self, plan: Plan) {
        let mut s = self.shared.lock();
        if plan.down && !s.plan.down {
            s.generation.cancel();
            s.generation = CancellationToken::new();
        }
        s.plan = plan;
    }

    /// Changes the plan in place.
    pub fn update(&self, change: impl FnOnce(&mut Plan)) {
        let mut plan = self.plan();
        change(&mut plan);
        self.set_plan(plan);
    }

    /// The current plan.
    pub fn plan(&self) -> Plan {
        self.shared.lock().plan.clone()
    }

    /// Replaces the profile (the plan is kept; TLS is chosen at the start).
    pub fn set_profile(&self, profile: Profile) {
        self.shared.lock().profile = Arc::new(profile);
    }

    /// The current profile.
    pub fn profile(&self) -> Profile {
        Profile::clone(&self.shared.lock().profile)
    }

    /// Brings the proxy up, or takes it down (closing every open connection); other faults of
    /// the plan are kept.
    pub fn set_up(&self, up: bool) {
        self.update(|p| p.down = !up);
    }

    /// What the proxy has done so far.
    pub fn injected(&self) -> Injected {
        let s = &self.shared;
        Injected {
            forwarded: s.forwarded.load(Ordering::Relaxed),
            requests: s.requests.load(Ordering::Relaxed),
            entries: s.entries.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            throttled: s.throttled.load(Ordering::Relaxed),
            bad_signatures: s.bad_signatures.load(Ordering::Relaxed),
            failed_handshakes: s.failed_handshakes.load(Ordering::Relaxed),
        }
    }

    /// Records accepted and throttled by the shard limits, per stream and shard (sorted), since
    /// the start.
    pub fn shard_counts(&self) -> Vec<ShardCount> {
        self.shared.limiter.counts()
    }

    /// The open shards of `stream` as the shard limits see them now (asking the emulator when
    /// the map is older than the profile's refresh, or a reshard passed through); `None` when
    /// the profile has no shard limits or the emulator does not know the stream.
    pub async fn open_shards(&self, stream: &str) -> Option<ShardMap> {
        let refresh = self.shared.lock().profile.shard_limits?.refresh;
        let map = self.shared.limiter.map_for(stream, refresh).await?;
        Some(ShardMap::clone(&map))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shared.lock().generation.cancel();
    }
}

impl Shared {
    /// The state is a plan, a profile, a token and an RNG, consistent after any panic: a
    /// poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    client: HttpClient,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((inbound, _)) = accepted else { continue };
        let (down, generation) = {
            let s = shared.lock();
            (s.plan.down, s.generation.clone())
        };
        if down {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            drop(inbound);
            continue;
        }
        let (shared, client, tls) = (Arc::clone(&shared), client.clone(), tls.clone());
        // Each connection on its own task (the handshake too): a slow client, or a call
        // waiting out its round-trip time, holds up no other.
        tokio::spawn(async move {
            match tls {
                None => serve(inbound, shared, client, generation).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        () = generation.cancelled() => return,
                        h = acceptor.accept(inbound) => h,
                    };
                    match handshake {
                        Ok(stream) => serve(stream, shared, client, generation).await,
                        Err(_) => {
                            shared.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 on one connection until it ends or the proxy goes down.
async fn serve<I>(io: I, shared: Arc<Shared>, client: HttpClient, generation: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |req| handle(Arc::clone(&shared), client.clone(), req));
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::select! {
        () = generation.cancelled() => {}
        _ = connection => {}
    }
}

/// Why a connection is closed without an answer.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("connection reset by the fault proxy")]
    Reset,
}

async fn handle(
    shared: Arc<Shared>,
    client: HttpClient,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Closed> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Err(Closed::Reset);
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(faults::target)
        .map(|(service, action)| (service, action.to_owned()));
    let (profile, rtt) = {
        let mut s = shared.lock();
        let rtt = s.profile.rtt.map(|r| r.sample(&mut s.rng));
        (Arc::clone(&s.profile), rtt)
    };
    // The round trip first: every call pays it, refused ones too.
    if let Some(rtt) = rtt {
        tokio::time::sleep(rtt).await;
    }
    if let (Some(check), Some((service, _))) = (&profile.signatures, &target) {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str);
        let checked = check.verify(
            *service,
            parts.method.as_str(),
            path,
            &parts.headers,
            &body,
            SystemTime::now(),
        );
        if let Err(refusal) = checked {
            shared.bad_signatures.fetch_add(1, Ordering::Relaxed);
            let (status, error) = refusal.answer(*service);
            return Ok(json_response(status, &error));
        }
    }
    let Some((service, action)) = target else {
        return forward(&shared, &client, &parts, body).await;
    };

    // The shard limits need the stream's shards, which may mean asking the emulator: before
    // the decision, which is taken under the lock.
    let limited = match profile.shard_limits {
        Some(limits) if service == Service::Kinesis && is_put(&action) => {
            match serde_json::from_slice::<Value>(&body) {
                Ok(request) => {
                    let admission = shared.limiter.admission(&request, limits).await;
                    admission.map(|a| (a, request))
                }
                Err(_) => None,
            }
        }
        _ => None,
    };

    // One decision per request, under the lock; the work is done outside it.
    let decision = {
        let mut s = shared.lock();
        let State { plan, rng, .. } = &mut *s;
        let faulty = plan.applies_to(&action);
        let fail_request = faulty && rng.gen_bool(plan.request_share.clamp(0.0, 1.0));
        let latency = if faulty { plan.latency } else { Duration::ZERO };
        let now = Instant::now();
        let mut throttled = 0;
        let mut outcome = Outcome::Forward;
        if fail_request {
            outcome = Outcome::Fail(plan.request_fault);
        } else if let Some((admission, request)) = limited {
            if action == "PutRecord" {
                if let Some(t) = admission.admit(&request, now) {
                    throttled = 1;
                    outcome = Outcome::Throttle(t);
                }
            } else if let Some(split) = faults::split_by(service, &action, request, |entry| {
                let fault = faulty
                    .then(|| faults::random_entry_fault(service, plan, entry, rng))
                    .flatten();
                fault.or_else(|| {
                    let t = admission.admit(entry, now)?;
                    throttled += 1;
                    Some(t.entry_error())
                })
            }) {
                outcome = Outcome::Split(split);
            }
        } else if faulty {
            if let Some(split) = faults::split_entries(service, &action, &body, plan, rng) {
                outcome = Outcome::Split(split);
            }
        }
        Decision {
            latency,
            throttled,
            outcome,
        }
    };
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    shared
        .throttled
        .fetch_add(decision.throttled, Ordering::Relaxed);
    let split = match decision.outcome {
        Outcome::Forward => {
            let response = forward(&shared, &client, &parts, body.clone()).await?;
            let response = if action == "UpdateShardCount" {
                unless_unknown(&shared, &client, response, &body).await?
            } else {
                response
            };
            if RESHARDING.contains(&action.as_str()) && response.status().is_success() {
                let request = serde_json::from_slice::<Value>(&body).unwrap_or_default();
                if let Some(stream) = shard_limit::stream_name(&request) {
                    shared.limiter.resharded(stream);
                }
            }
            return Ok(response);
        }
        Outcome::Throttle(t) => return Ok(json_response(400, &t.request_error())),
        Outcome::Fail(fault) => {
            shared.requests.fetch_add(1, Ordering::Relaxed);
            match fault {
                RequestFault::Reset => return Err(Closed::Reset),
                RequestFault::LostResponse => {
                    forward(&shared, &client, &parts, body).await?;
                }
                _ => {}
            }
            let (status, error) = faults::request_error(service, fault);
            return Ok(json_response(status, &error));
        }
        Outcome::Split(split) => split,
    };
    shared.entries.fetch_add(
        (split.injected() as u64).saturating_sub(decision.throttled),
        Ordering::Relaxed,
    );
    let answer = match &split.forward {
        Some(rest) => {
            let bytes = Bytes::from(serde_json::to_vec(rest).unwrap_or_default());
            let response = forward(&shared, &client, &parts, bytes).await?;
            if !response.status().is_success() {
                return Ok(response);
            }
            let Ok(bytes) = response.into_body().collect().await.map(|b| b.to_bytes());
            Some(bytes)
        }
        None => None,
    };
    match faults::merge(&split, answer.as_deref()) {
        Some(merged) => Ok(json_response(200, &merged)),
        None => Err(Closed::Reset),
    }
}

/// The emulator's answer to an `UpdateShardCount`, unless it does not know the operation
/// (kinesalite): then the proxy carries the call out with SplitShard and MergeShards
/// ([`uniform_scaling`]) and answers it.
async fn unless_unknown(
    shared: &Arc<Shared>,
    client: &HttpClient,
    response: Response<Full<Bytes>>,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, Closed> {
    let (parts, answer) = response.into_parts();
    let Ok(answer) = answer.collect().await.map(|b| b.to_bytes());
    if !uniform_scaling::unknown_operation(parts.status.as_u16(), &answer) {
        return Ok(Response::from_parts(parts, Full::new(answer)));
    }
    let request = serde_json::from_slice::<Value>(body).unwrap_or_default();
    let (status, reply) = uniform_scaling::update_shard_count(
        client.clone(),
        shared.target,
        Arc::clone(&shared.limiter),
        &request,
    )
    .await;
    Ok(json_response(status, &reply))
}

fn is_put(action: &str) -> bool {
    action == "PutRecords" || action == "PutRecord"
}

#[derive(Debug)]
struct Decision {
    latency: Duration,
    /// Records refused by the shard limits.
    throttled: u64,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    /// Forwarded untouched.
    Forward,
    /// Failed as a whole by the plan.
    Fail(RequestFault),
    /// A `PutRecord` over its shard's limits.
    Throttle(Throttled),
    /// Some entries failed, the others forwarded.
    Split(faults::Split),
}

async fn forward(
    shared: &Shared,
    client: &HttpClient,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Closed> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let Ok(uri) = format!("http://{}{path}", shared.target).parse::<hyper::Uri>() else {
        return Err(Closed::Reset);
    };
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(hyper::Version::HTTP_11);
    for (name, value) in &parts.headers {
        if name != hyper::header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    let Ok(mut request) = builder.body(Full::new(body)) else {
        return Err(Closed::Reset);
    };
    strip_hop_by_hop(request.headers_mut());
    // The emulator is unreachable or broke the connection: so does the proxy.
    let response = client.request(request).await.map_err(|_| Closed::Reset)?;
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| Closed::Reset)?.to_bytes();
    let mut out = Response::from_parts(parts, Full::new(body));
    // Hop-by-hop headers describe the emulator's connection to the proxy, not the client's to
    // the proxy: LocalStack answers every request with `Connection: close`,
    // which, passed on, would make every client open a connection per call (and in production
    // shape a TLS handshake per call), where AWS keeps connections alive.
    strip_hop_by_hop(out.headers_mut());
    out.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    Ok(out)
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(body).unwrap_or_default(),
    )));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_not_passed_on() {
        let mut headers = hyper::HeaderMap::new();
        for (name, value) in [
            ("connection", "close, X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amzn-requestid", "r-1"),
        ] {
            headers.insert(
                hyper::header::HeaderName::from_static(name),
                hyper::header::HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-amzn-requestid"]);
    }
}
