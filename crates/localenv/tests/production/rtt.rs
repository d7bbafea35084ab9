//! The round-trip time: every call waits at least the configured minimum (a lower bound only;
//! how long a call takes at most depends on the machine).

use std::time::{Duration, Instant};

use telemetry_aws::Clients;
use telemetry_localenv::profile::{Profile, Rtt};
use telemetry_localenv::proxy::Proxy;

use crate::support::{Kinesis, NOWHERE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_waits_at_least_the_round_trip_time() {
    let k = Kinesis::start(1).await;
    let rtt = Rtt {
        base: Duration::from_millis(300),
        jitter: Duration::from_millis(50),
    };
    let proxy = Proxy::builder(k.emulator.addr)
        .profile(Profile::emulator().with_rtt(Some(rtt)))
        .start()
        .await
        .expect("proxy");
    let clients = Clients::for_endpoints(NOWHERE, &proxy.url()).await;

    let started = Instant::now();
    clients
        .kinesis
        .list_streams()
        .send()
        .await
        .expect("ListStreams");
    assert!(started.elapsed() >= rtt.base, "{:?}", started.elapsed());

    // Calls in flight together each wait on their own.
    let calls = (0..8).map(|_| {
        let kinesis = clients.kinesis.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            kinesis.list_streams().send().await.expect("ListStreams");
            started.elapsed()
        })
    });
    for took in futures::future::join_all(calls).await {
        let took = took.expect("task");
        assert!(took >= rtt.base, "{took:?}");
    }
    assert_eq!(proxy.injected().forwarded, 9);
}
