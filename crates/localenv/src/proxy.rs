//! A TCP proxy in front of an emulator that a test can take down and bring back: down, it
//! closes every open connection and refuses new ones (accepts and closes at once), which is
//! what an unreachable service looks like to the SDK.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A proxy to one target.
#[derive(Debug)]
pub struct Proxy {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

#[derive(Debug)]
struct State {
    up: bool,
    /// Cancelled when the proxy goes down: ends the connections of this generation.
    generation: CancellationToken,
}

impl Proxy {
    /// Starts a proxy to `target` on a free loopback port.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            up: true,
            generation: CancellationToken::new(),
        }));
        let stop = CancellationToken::new();
        let (st, stop2) = (Arc::clone(&state), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop2.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((inbound, _)) = accepted else { continue };
                let (up, generation) = {
                    let s = lock(&st);
                    (s.up, s.generation.clone())
                };
                if !up {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut inbound = inbound;
                    tokio::select! {
                        () = generation.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Ok(Proxy { addr, state, stop })
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Brings the proxy up, or takes it down (closing every open connection).
    pub fn set_up(&self, up: bool) {
        let mut s = lock(&self.state);
        if s.up && !up {
            s.generation.cancel();
            s.generation = CancellationToken::new();
        }
        s.up = up;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        lock(&self.state).generation.cancel();
    }
}

/// The state is two plain fields, consistent after any panic: a poisoned lock is still usable.
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
