//! Load offered to the queue at a fixed rate, as the benchmarks offer it: fleet-shaped
//! submissions (the fleet's generator), each remembered with when it reached the queue, so the
//! lag a consumer of the stream feels can be measured from outside ([`lag`]); optionally one
//! hot device sending a share of all submissions.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rand::{Rng, SeedableRng};
use telemetry_aws::stream::ShardRecords;
use telemetry_fleet::generator::{Fleet, Generated};
use telemetry_fleet::manifest::Entry;
use telemetry_fleet::pace::Pace;
use telemetry_fleet::profile::Profile;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What to offer.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Submissions per second.
    pub per_sec: f64,
    /// Events of each type per submission.
    pub events_per_type: RangeInclusive<usize>,
    /// Devices in the fleet.
    pub devices: usize,
    /// The share of submissions sent by one hot device (0 for none).
    pub hot_share: f64,
    /// Seed of the fleet.
    pub seed: u64,
}

/// What was offered: each submission's manifest entry, and when it reached the queue.
#[derive(Debug, Default)]
pub struct Offered {
    /// The manifest, in sending order.
    pub manifest: Vec<Entry>,
    /// Submission id to the moment its SendMessageBatch returned, epoch milliseconds.
    pub sent_ms: HashMap<String, u64>,
    /// Submissions that could not be sent.
    pub failed: u64,
}

/// Offers load until `stop`, sending with `sqs` to `queue_url` (ten per call, several calls at
/// once); what reached the queue grows in the returned cell as it goes.
pub fn start(
    offer: Offer,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    stop: CancellationToken,
) -> (Arc<Mutex<Offered>>, tokio::task::JoinHandle<()>) {
    let offered = Arc::new(Mutex::new(Offered::default()));
    let sink = Arc::clone(&offered);
    let task = tokio::spawn(async move {
        let profile = Profile {
            events_per_type: offer.events_per_type.clone(),
            broken: Vec::new(),
        };
        let mut fleet = Fleet::new(offer.devices.max(2), profile, offer.seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(offer.seed);
        let mut pace = Pace::rate(offer.per_sec, Instant::now());
        let mut sent = 0u64;
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Generated>>(64);
        let sender = tokio::spawn(send_all(rx, sqs, queue_url, Arc::clone(&sink)));
        loop {
            let due = tokio::select! {
                () = stop.cancelled() => break,
                due = pace.due(sent, &mut rng) => due,
            };
            let batch: Vec<Generated> = due
                .iter()
                .map(|_| {
                    if rng.gen_bool(offer.hot_share.clamp(0.0, 1.0)) {
                        fleet.submission_from(0)
                    } else {
                        // Device 0 is the hot one: the others share the rest.
                        let device = rng.gen_range(1..fleet.size());
                        fleet.submission_from(device)
                    }
                })
                .collect();
            sent += batch.len() as u64;
            for chunk in batch.chunks(telemetry_fleet::batch::MAX_ENTRIES) {
                if tx.send(chunk.to_vec()).await.is_err() {
                    return;
                }
            }
        }
        drop(tx);
        let _ = sender.await;
    });
    (offered, task)
}

/// Sends the batches coming on `rx`, eight calls at once, noting each submission's time.
async fn send_all(
    rx: tokio::sync::mpsc::Receiver<Vec<Generated>>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    offered: Arc<Mutex<Offered>>,
) {
    tokio_stream_of(rx)
        .map(|batch| telemetry_fleet::batch::send(sqs.clone(), queue_url.clone(), batch))
        .buffer_unordered(8)
        .for_each(|sent| {
            let at = now_ms();
            let mut o = offered.lock().unwrap_or_else(|e| e.into_inner());
            o.failed += sent.failed;
            for entry in sent.entries {
                o.sent_ms.insert(entry.submission_id.clone(), at);
                o.manifest.push(entry);
            }
            async {}
        })
        .await;
}

/// A receiver as a stream.
fn tokio_stream_of<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The lag a consumer feels, per valid submission sent in `window` (epoch ms): from the moment
/// it reached the queue to the arrival in the stream of its last event (the latest first
/// occurrence of its events), in seconds. Submissions not (completely) in the stream are left
/// out; `verify` counts those.
pub fn lag(offered: &Offered, shards: &[ShardRecords], window: (u64, u64)) -> Vec<f64> {
    let mut arrived: HashMap<String, u64> = HashMap::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for shard in shards {
        for ((_, data), at) in shard.records.iter().zip(&shard.arrived_ms) {
            let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
                continue;
            };
            let (Some(sub), Some(id)) =
                (event["submission_id"].as_str(), event["event_id"].as_str())
            else {
                continue;
            };
            // A duplicate arrives later than the first occurrence: only the first counts.
            if !seen.insert(id.to_owned()) {
                continue;
            }
            let latest = arrived.entry(sub.to_owned()).or_insert(0);
            *latest = (*latest).max(*at);
        }
    }
    offered
        .manifest
        .iter()
        .filter(|e| e.kind == "valid")
        .filter_map(|e| {
            let sent = *offered.sent_ms.get(&e.submission_id)?;
            if sent < window.0 || sent > window.1 {
                return None;
            }
            let last = *arrived.get(&e.submission_id)?;
            Some(last.saturating_sub(sent) as f64 / 1000.0)
        })
        .collect()
}

/// The `q` quantile of `values` (nearest rank); `None` when empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * values.len() as f64).ceil() as usize).max(1);
    values.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut v, 0.99), Some(99.0));
        assert_eq!(quantile(&mut v, 1.0), Some(100.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
