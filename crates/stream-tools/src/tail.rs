//! Following the stream: every shard, also the shards a resharding creates, events printed as
//! JSON lines or a table, filtered by type or device, until a closed output or `shutdown`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::Value;

/// Rounds of reads between two looks for new shards (a round every 250 ms: every 5 s).
const ROUNDS_PER_SHARD_LISTING: u64 = 20;

/// The pause between two rounds of reads.
const ROUND_PAUSE: Duration = Duration::from_millis(250);

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line, as in the stream.
    Json,
    /// A readable line: time processed, type, device, type-specific data.
    Table,
}

impl Format {
    /// The line printed for `event`.
    pub fn render(self, event: &Value) -> String {
        match self {
            Format::Json => event.to_string(),
            Format::Table => format!(
                "{}  {:<18}  {}  {}",
                event["time_processed"].as_str().unwrap_or(""),
                event["type"].as_str().unwrap_or(""),
                event["device_id"].as_str().unwrap_or(""),
                event["type_specific_data"]
            ),
        }
    }
}

/// Which events are printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events of this device.
    pub device: Option<String>,
}

impl Filter {
    /// Whether `event` passes.
    pub fn matches(&self, event: &Value) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|t| event["type"] == t)
            && self
                .device
                .as_deref()
                .is_none_or(|d| event["device_id"] == d)
    }
}

/// What to follow and how to print it.
#[derive(Debug, Clone)]
pub struct Options {
    /// How events are printed.
    pub format: Format,
    /// Which events are printed.
    pub filter: Filter,
    /// Start from the oldest record of each shard instead of new ones.
    pub from_start: bool,
}

/// A call that failed while following the stream.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// Listing the shards failed.
    #[error(transparent)]
    Shards(#[from] telemetry_aws::stream::ReadError),
    /// A Kinesis call failed.
    #[error("{call} failed")]
    Call {
        /// The call.
        call: &'static str,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn failed<E>(call: &'static str) -> impl FnOnce(E) -> TailError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| TailError::Call {
        call,
        source: Box::new(e),
    }
}

/// Where a shard is first read from: the shards there at the start from their newest record
/// (or their oldest, `from_start`); shards found later, children of a resharding, from their
/// oldest, so that nothing written to them is missed.
fn start_of(from_start: bool, found_later: bool) -> ShardIteratorType {
    if from_start || found_later {
        ShardIteratorType::TrimHorizon
    } else {
        ShardIteratorType::Latest
    }
}

/// Follows every shard of `stream`, rediscovering shards every few seconds (resharding creates
/// new ones), and writes the events `options` selects to `out`. Ends when `shutdown`
/// resolves or `out` is closed (`telemetry-stream tail | head`), or with the first failed call.
pub async fn follow(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    options: &Options,
    mut out: impl Write,
    shutdown: impl Future,
) -> Result<(), TailError> {
    tokio::pin!(shutdown);
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut round = 0u64;
    loop {
        if round % ROUNDS_PER_SHARD_LISTING == 0 {
            for shard in telemetry_aws::stream::shards_parents_first(kinesis, stream).await? {
                if known.insert(shard.shard_id.clone()) {
                    let it = kinesis
                        .get_shard_iterator()
                        .stream_name(stream)
                        .shard_id(&shard.shard_id)
                        .shard_iterator_type(start_of(options.from_start, round > 0))
                        .send()
                        .await
                        .map_err(failed("GetShardIterator"))?
                        .shard_iterator;
                    iterators.insert(shard.shard_id, it);
                }
            }
        }
        round += 1;
        for it in iterators.values_mut() {
            let Some(current) = it.take() else { continue };
            let got = kinesis
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(failed("GetRecords"))?;
            for r in &got.records {
                let Ok(e) = serde_json::from_slice::<Value>(r.data.as_ref()) else {
                    continue;
                };
                // A closed pipe ends the tail cleanly.
                if options.filter.matches(&e)
                    && writeln!(out, "{}", options.format.render(&e)).is_err()
                {
                    return Ok(());
                }
            }
            *it = got.next_shard_iterator;
        }
        tokio::select! {
            () = tokio::time::sleep(ROUND_PAUSE) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "type": "new_process",
            "device_id": "d-1",
            "time_processed": "2021-03-29T12:06:20.123+00:00",
            "type_specific_data": {"cmdl": "calc.exe", "user": "john"},
        })
    }

    #[test]
    fn a_filter_passes_events_of_its_type_and_device_only() {
        let e = event();
        assert!(Filter::default().matches(&e));
        let of = |event_type: Option<&str>, device: Option<&str>| Filter {
            event_type: event_type.map(str::to_owned),
            device: device.map(str::to_owned),
        };
        assert!(of(Some("new_process"), None).matches(&e));
        assert!(of(Some("new_process"), Some("d-1")).matches(&e));
        assert!(!of(Some("network_connection"), None).matches(&e));
        assert!(!of(None, Some("d-2")).matches(&e));
        assert!(!of(Some("new_process"), Some("d-2")).matches(&e));
    }

    #[test]
    fn json_is_the_event_as_it_is_and_a_table_line_is_time_type_device_data() {
        let e = event();
        assert_eq!(Format::Json.render(&e), e.to_string());
        assert_eq!(
            Format::Table.render(&e),
            "2021-03-29T12:06:20.123+00:00  new_process         d-1  \
             {\"cmdl\":\"calc.exe\",\"user\":\"john\"}"
        );
    }

    #[test]
    fn shards_found_later_are_read_from_their_start() {
        assert_eq!(start_of(false, false), ShardIteratorType::Latest);
        assert_eq!(start_of(true, false), ShardIteratorType::TrimHorizon);
        assert_eq!(start_of(false, true), ShardIteratorType::TrimHorizon);
    }
}
