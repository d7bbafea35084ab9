//! The tally of a fleet's run: what reached the queue, valid or broken, what could not be sent,
//! and the manifest of what was sent.

use std::io::{self, Write};

use crate::manifest::Entry;

/// What one batch achieved.
#[derive(Debug, Default)]
pub struct Sent {
    /// Manifest entries of the submissions now in the queue.
    pub entries: Vec<Entry>,
    /// Submissions that could not be sent after retries.
    pub failed: u64,
}

/// The totals of a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Submissions in the queue.
    pub sent: u64,
    /// Of those, the valid ones.
    pub valid: u64,
    /// Submissions that could not be sent.
    pub failed: u64,
}

impl Totals {
    /// Broken submissions in the queue.
    pub fn broken(&self) -> u64 {
        self.sent - self.valid
    }
}

/// Totals of what was sent, and the manifest (JSON lines, see [`crate::manifest`]). A manifest
/// line is written once its submission is in the queue, so the manifest lists exactly what
/// was sent, also when a signal stops the fleet.
#[derive(Debug)]
pub struct Tally<W: Write> {
    totals: Totals,
    manifest: Option<W>,
}

impl<W: Write> Tally<W> {
    /// An empty tally writing the manifest to `manifest`, if any.
    pub fn new(manifest: Option<W>) -> Self {
        Tally {
            totals: Totals::default(),
            manifest,
        }
    }

    /// Counts one batch's outcome and writes its entries to the manifest.
    pub fn record(&mut self, outcome: Sent) -> io::Result<()> {
        self.totals.failed += outcome.failed;
        for entry in outcome.entries {
            self.totals.sent += 1;
            self.totals.valid += u64::from(entry.is_valid());
            if let Some(m) = self.manifest.as_mut() {
                serde_json::to_writer(&mut *m, &entry)?;
                m.write_all(b"\n")?;
            }
        }
        // Flushed per batch, so a reader (run-local's figures) sees what was sent so far.
        if let Some(m) = self.manifest.as_mut() {
            m.flush()?;
        }
        Ok(())
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The totals, the manifest flushed.
    pub fn finish(mut self) -> io::Result<Totals> {
        if let Some(m) = self.manifest.as_mut() {
            m.flush()?;
        }
        Ok(self.totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, kind: &str) -> Entry {
        Entry {
            submission_id: id.to_owned(),
            device_id: "d".to_owned(),
            kind: kind.to_owned(),
            events: Vec::new(),
        }
    }

    #[test]
    fn counts_what_reached_the_queue_and_lists_exactly_that_in_the_manifest() {
        let mut tally = Tally::new(Some(Vec::new()));
        tally
            .record(Sent {
                entries: vec![entry("a", "valid"), entry("b", "bad_ip")],
                failed: 1,
            })
            .expect("record");
        tally
            .record(Sent {
                entries: vec![entry("c", "valid")],
                failed: 0,
            })
            .expect("record");
        assert_eq!(
            tally.totals(),
            Totals {
                sent: 3,
                valid: 2,
                failed: 1
            }
        );
        assert_eq!(tally.totals().broken(), 1);
        let manifest = String::from_utf8(tally.manifest.take().expect("manifest")).expect("UTF-8");
        let ids: Vec<String> = manifest
            .lines()
            .map(|l| {
                serde_json::from_str::<Entry>(l)
                    .expect("an entry a line")
                    .submission_id
            })
            .collect();
        assert_eq!(ids, ["a", "b", "c"], "the failed one is not listed");
    }

    #[test]
    fn without_a_manifest_it_only_counts() {
        let mut tally = Tally::<Vec<u8>>::new(None);
        tally
            .record(Sent {
                entries: vec![entry("a", "not_json")],
                failed: 2,
            })
            .expect("record");
        let totals = tally.finish().expect("finish");
        assert_eq!((totals.sent, totals.valid, totals.failed), (1, 0, 2));
    }
}
