//! Kinesis down for a while: the supervisor logs one line when calls start failing and one
//! when they succeed again, keeps running, and measures again afterwards.

use std::time::{Duration, Instant};

use telemetry_localenv::proxy::Proxy;

use crate::support::{Env, Load, Supervisor, FAST};

/// The outage's length: a fault the test makes, not a wait for something.
const OUTAGE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_logged_once_and_measuring_resumes_after_it() {
    let env = Env::moto(1).await;
    let proxy = Proxy::start(env.emulator.addr).await.expect("proxy");
    let mut supervisor = Supervisor::spawn(&proxy.url(), &env.stream, FAST);
    // Half a shard's worth, in the band: no resharding in this test. The writer goes to moto
    // directly, so only the supervisor sees the outage.
    let load = Load::start(&env.kinesis, &env.stream, 50, 20);
    let measured = |l: &serde_json::Value| l["records_per_sec"].as_f64().is_some_and(|r| r > 0.0);
    supervisor
        .wait_line("average count is", Duration::from_secs(30), measured)
        .await;

    proxy.set_up(false);
    let failing = supervisor
        .wait_line("Kinesis calls are failing", Duration::from_secs(10), |_| {
            true
        })
        .await;
    assert_eq!(failing["error"], "connection", "{failing}");
    tokio::time::sleep(OUTAGE).await;
    proxy.set_up(true);
    let up = Instant::now();
    supervisor
        .wait_line(
            "Kinesis calls succeed again",
            Duration::from_secs(40),
            |_| true,
        )
        .await;
    let ticks_before = supervisor.lines_starting("average count is").len();
    crate::support::wait_until(
        "a measured tick after the outage",
        Duration::from_secs(30),
        || {
            let ticks = supervisor.lines_starting("average count is");
            async move { ticks.into_iter().skip(ticks_before).find(measured) }
        },
    )
    .await;
    eprintln!(
        "measuring again {:.1} s after the outage ended",
        up.elapsed().as_secs_f64()
    );

    assert_eq!(
        supervisor.lines_starting("Kinesis calls are failing").len(),
        1
    );
    assert_eq!(
        supervisor
            .lines_starting("Kinesis calls succeed again")
            .len(),
        1
    );
    assert!(supervisor.lines_starting("UpdateShardCount").is_empty());
    assert!(supervisor.running());
    load.stop().await;
    assert_eq!(
        supervisor.stop("-TERM", Duration::from_secs(10)).await,
        Some(0)
    );
}
