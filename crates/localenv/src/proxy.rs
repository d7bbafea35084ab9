//! A fault-injecting HTTP proxy in front of an emulator, steered by a test through a
//! [`Plan`]: take the service down (refuse connections, close open ones), fail whole requests
//! (500, 503, throttling, reset connections, lost answers), fail chosen entries inside
//! `PutRecords` and `DeleteMessageBatch` answers, add latency. It understands the AWS JSON
//! protocol just enough for that (see [`crate::faults`]); everything else is passed through.
//! Bodies are rewritten after the SDK signed them: the emulators do not check signatures.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::faults::{self, Plan, RequestFault, Service};

/// A proxy to one target.
#[derive(Debug)]
pub struct Proxy {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// What the proxy did, for tests to check that a fault really happened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Injected {
    /// Requests forwarded to the target.
    pub forwarded: u64,
    /// Requests failed as a whole (including lost answers and resets).
    pub requests: u64,
    /// Entries failed inside batch answers.
    pub entries: u64,
    /// Connections refused or closed while down.
    pub refused: u64,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    state: Mutex<State>,
    forwarded: AtomicU64,
    requests: AtomicU64,
    entries: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug)]
struct State {
    plan: Plan,
    /// Cancelled when the proxy goes down: ends the connections of this generation.
    generation: CancellationToken,
    rng: SmallRng,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

impl Proxy {
    /// Starts a healthy proxy to `target` on a free loopback port.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            state: Mutex::new(State {
                plan: Plan::healthy(),
                generation: CancellationToken::new(),
                rng: SmallRng::from_entropy(),
            }),
            forwarded: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            client,
            stop.clone(),
        ));
        Ok(Proxy { addr, shared, stop })
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shared.lock().generation.cancel();
    }
}

impl Shared {
    /// The state is a plan, a token and an RNG, consistent after any panic: a poisoned lock is
    /// still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    client: HttpClient,
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
        let (shared, client) = (Arc::clone(&shared), client.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                handle(Arc::clone(&shared), client.clone(), req)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(inbound), service);
            tokio::select! {
                () = generation.cancelled() => {}
                _ = connection => {}
            }
        });
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
    // One decision per request, under the lock; the work is done outside it.
    let decision = {
        let mut s = shared.lock();
        let State { plan, rng, .. } = &mut *s;
        match &target {
            Some((service, action)) if plan.applies_to(action) => {
                let fail_request = rng.gen_bool(plan.request_share.clamp(0.0, 1.0));
                let split = if fail_request {
                    None
                } else {
                    faults::split_entries(*service, action, &body, plan, rng)
                };
                Decision {
                    latency: plan.latency,
                    fail: fail_request.then_some((*service, plan.request_fault)),
                    split,
                }
            }
            _ => Decision::default(),
        }
    };
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if let Some((service, fault)) = decision.fail {
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
    let Some(split) = decision.split else {
        return forward(&shared, &client, &parts, body).await;
    };
    shared
        .entries
        .fetch_add(split.injected() as u64, Ordering::Relaxed);
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

#[derive(Debug, Default)]
struct Decision {
    latency: Duration,
    fail: Option<(Service, RequestFault)>,
    split: Option<faults::Split>,
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
    let Ok(request) = builder.body(Full::new(body)) else {
        return Err(Closed::Reset);
    };
    // The emulator is unreachable or broke the connection: so does the proxy.
    let response = client.request(request).await.map_err(|_| Closed::Reset)?;
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| Closed::Reset)?.to_bytes();
    let mut out = Response::from_parts(parts, Full::new(body));
    out.headers_mut().remove(hyper::header::TRANSFER_ENCODING);
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
