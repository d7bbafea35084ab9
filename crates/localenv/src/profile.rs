//! The shape of the service behind a [`Proxy`](crate::proxy::Proxy), beside the faults of its
//! [`Plan`](crate::faults::Plan): what production has and the emulators lack. The emulators
//! answer in about a millisecond, never throttle and check no signature; AWS takes tens of
//! milliseconds per call, limits each Kinesis shard to 1,000 records and 1 MiB per second, and
//! refuses a request whose SigV4 signature is wrong. [`Profile::production`] turns all of it on;
//! TLS, the fourth difference, is chosen when the proxy starts
//! ([`ProxyBuilder::tls`](crate::proxy::ProxyBuilder::tls)), with a [`Ca`](crate::tls::Ca).
//!
//! What it does not model: read limits (GetRecords' 5 calls and 2 MiB per second per shard),
//! the 5 MiB and 500-record request limits (the emulators keep their own), SQS's limits,
//! AWS's retry-after hints, latency that grows with load, and the time AWS takes to reshard.

use std::time::Duration;

use rand::Rng;

use crate::faults::Service;
use crate::shard_limit::ShardLimits;
use crate::signature::SignatureCheck;

/// A round-trip time: each call waits `base` plus a uniform share of `jitter` before it is
/// answered. Calls wait on their own tasks: the delay does not limit how many are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    /// The least a call waits.
    pub base: Duration,
    /// The most added to `base`.
    pub jitter: Duration,
}

impl Rtt {
    /// Kinesis from within its region: 20-30 ms a call, about 25 ms on average.
    pub const KINESIS: Rtt = Rtt {
        base: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
    };
    /// SQS from within its region: 10-20 ms a call, about 15 ms on average.
    pub const SQS: Rtt = Rtt {
        base: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
    };

    /// The round-trip time of `service` in production.
    pub const fn production(service: Service) -> Rtt {
        match service {
            Service::Kinesis => Rtt::KINESIS,
            Service::Sqs => Rtt::SQS,
        }
    }

    /// One call's delay.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        self.base + self.jitter.mul_f64(rng.gen_range(0.0..=1.0))
    }
}

/// What the proxy adds to every call, whatever the plan's faults; the default adds nothing (the
/// emulator's own shape).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// The delay of every call; `None` for none.
    pub rtt: Option<Rtt>,
    /// Kinesis's per-shard write limits on `PutRecords` and `PutRecord`; `None` for none.
    pub shard_limits: Option<ShardLimits>,
    /// SigV4 signature checks with these credentials; `None` for none.
    pub signatures: Option<SignatureCheck>,
}

impl Profile {
    /// Nothing added: the emulator as it is.
    pub fn emulator() -> Profile {
        Profile::default()
    }

    /// Production's shape for `service`: its round-trip time, Kinesis's shard limits (for
    /// Kinesis) and signature checks with the test credentials.
    pub fn production(service: Service) -> Profile {
        Profile {
            rtt: Some(Rtt::production(service)),
            shard_limits: match service {
                Service::Kinesis => Some(ShardLimits::kinesis()),
                Service::Sqs => None,
            },
            signatures: Some(SignatureCheck::test_credentials()),
        }
    }

    /// This profile with other shard limits (e.g. `ShardLimits::kinesis().scaled(0.1)`).
    #[must_use]
    pub fn with_shard_limits(mut self, limits: ShardLimits) -> Profile {
        self.shard_limits = Some(limits);
        self
    }

    /// This profile with another round-trip time, or none.
    #[must_use]
    pub fn with_rtt(mut self, rtt: Option<Rtt>) -> Profile {
        self.rtt = rtt;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn delays_stay_within_base_and_base_plus_jitter() {
        let mut rng = SmallRng::seed_from_u64(3);
        let rtt = Rtt::KINESIS;
        let samples: Vec<Duration> = (0..1000).map(|_| rtt.sample(&mut rng)).collect();
        assert!(samples
            .iter()
            .all(|d| *d >= rtt.base && *d <= rtt.base + rtt.jitter));
        let mean = samples.iter().sum::<Duration>() / 1000;
        assert!(mean > Duration::from_millis(23) && mean < Duration::from_millis(27));
    }

    #[test]
    fn production_limits_only_kinesis() {
        assert!(Profile::production(Service::Kinesis).shard_limits.is_some());
        assert!(Profile::production(Service::Sqs).shard_limits.is_none());
        assert_eq!(Profile::production(Service::Sqs).rtt, Some(Rtt::SQS));
        assert_eq!(Profile::emulator(), Profile::default());
    }
}
