//! Where the averages come from: the stream itself ([`crate::meter`], read every poll
//! interval) or its CloudWatch metrics ([`crate::cloudwatch`], queried once per tick). Either
//! gives the same [`Rates`], or why there are none, and [`crate::decision`] takes them alike.

use crate::cloudwatch::CloudWatchMeter;
use crate::config::{Config, SourceKind};
use crate::meter::Meter;
use crate::outage::Outage;
use crate::traffic::Rates;

/// The measurement source chosen by `SUPERVISOR_SOURCE`.
#[derive(Debug)]
pub enum Source {
    /// GetRecords on every shard.
    Stream(Meter),
    /// GetMetricData on the stream's `IncomingRecords` and `IncomingBytes`.
    CloudWatch(CloudWatchMeter),
}

impl Source {
    /// The source `config.source` names, for `config.stream_name`; nothing is called yet.
    pub fn new(
        config: &Config,
        kinesis: aws_sdk_kinesis::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
    ) -> Source {
        match config.source {
            SourceKind::Stream => Source::Stream(Meter::new(
                kinesis,
                &config.stream_name,
                config.poll_interval,
            )),
            SourceKind::CloudWatch => Source::CloudWatch(CloudWatchMeter::new(
                cloudwatch,
                &config.stream_name,
                config.cloudwatch_delay_secs,
            )),
        }
    }

    /// One round of reading between ticks: the stream source reads the shards whose time has
    /// come; the CloudWatch source has nothing to read between ticks.
    pub async fn read(&mut self, outage: &mut Outage) {
        if let Source::Stream(meter) = self {
            meter.read(outage).await;
        }
    }

    /// The window's averages for a tick, or why there are none.
    pub async fn rates(&mut self, config: &Config, outage: &mut Outage) -> Result<Rates, String> {
        match self {
            Source::Stream(meter) => {
                // Shards created by a resharding are found here even if their parents never end.
                meter.list(outage).await;
                meter.rates(
                    config.window_secs,
                    config.shard_limits(),
                    config.max_behind(),
                )
            }
            Source::CloudWatch(metrics) => {
                metrics
                    .rates(config.window_secs, config.shard_limits(), outage)
                    .await
            }
        }
    }

    /// Records counted since start, for the stream source; CloudWatch counts none itself.
    pub fn records_counted(&self) -> Option<u64> {
        match self {
            Source::Stream(meter) => Some(meter.totals().records),
            Source::CloudWatch(_) => None,
        }
    }
}
