//! The stream's open shards, kept fresh for the publisher's lanes: listed at start, every
//! [`REFRESH_EVERY`], and at once when the publisher saw an answer from a shard its map did not
//! expect (a reshard, by the shard supervisor or by hand), so a reshard is followed within
//! seconds without a restart. At most one listing per [`MIN_GAP`], whatever asks.

use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::shard_map::ShardMap;
use tokio::sync::{watch, Notify};

use crate::publisher::ShardMapFeed;
use crate::put_records::RecordSink;

/// How often the map is listed again without being asked.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(30);
/// The shortest time between two listings (ListShards allows 1,000 calls a second per
/// account, shared by every collector).
const MIN_GAP: Duration = Duration::from_secs(1);

/// A feed for the publisher, empty until the first listing, and the sending end.
pub(crate) fn feed() -> (watch::Sender<Arc<ShardMap>>, ShardMapFeed) {
    let (tx, rx) = watch::channel(Arc::new(ShardMap::default()));
    let feed = ShardMapFeed {
        map: rx,
        stale: Arc::new(Notify::new()),
    };
    (tx, feed)
}

/// Lists `sink`'s shards into `tx` until aborted, at start, every [`REFRESH_EVERY`] and when
/// `stale` is notified. A failed listing keeps the map there is and is tried again later.
pub(crate) async fn follow<S: RecordSink>(
    sink: Arc<S>,
    tx: watch::Sender<Arc<ShardMap>>,
    stale: Arc<Notify>,
) {
    loop {
        match sink.open_shards().await {
            Ok(map) => {
                tx.send_if_modified(|current| {
                    if **current == map {
                        return false;
                    }
                    tracing::info!(
                        shards = map.ranges().len(),
                        "the stream's open shards changed"
                    );
                    *current = Arc::new(map);
                    true
                });
            }
            Err(code) => {
                tracing::debug!(error = %code, "could not list the stream's shards; keeping the map")
            }
        }
        tokio::time::sleep(MIN_GAP).await;
        tokio::select! {
            () = stale.notified() => {}
            () = tokio::time::sleep(REFRESH_EVERY.saturating_sub(MIN_GAP)) => {}
        }
    }
}
