//! Sending a batch of up to ten submissions with one SendMessageBatch, retrying the entries SQS
//! failed (and whole failed calls) with the workspace's backoff for SQS calls.

use std::collections::HashSet;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use telemetry_aws::backoff::Backoff;

use crate::generator::Generated;
use crate::tally::Sent;

/// The most SendMessageBatch entries SQS takes in one call.
pub const MAX_ENTRIES: usize = 10;

/// Tries of one entry before it counts as failed.
const TRIES: u32 = 5;

/// Sends up to [`MAX_ENTRIES`] submissions to `queue_url`, each tried at most five times.
pub async fn send(sqs: aws_sdk_sqs::Client, queue_url: String, batch: Vec<Generated>) -> Sent {
    let mut pending: Vec<(usize, Generated)> = batch.into_iter().enumerate().collect();
    let mut entries = Vec::with_capacity(pending.len());
    for attempt in 1..=TRIES {
        if attempt > 1 {
            tokio::time::sleep(Backoff::CALLS.delay(attempt - 1)).await;
        }
        let request = pending
            .iter()
            .filter_map(|(i, g)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&g.body)
                    .build()
                    .ok()
            })
            .collect();
        let call = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(request))
            .send();
        // A failed call is tried again whole.
        if let Ok(out) = call.await {
            let failed: HashSet<String> = out.failed.into_iter().map(|f| f.id).collect();
            let (retry, done) = settle(pending, &failed);
            entries.extend(done.into_iter().map(|g| g.entry));
            pending = retry;
            if pending.is_empty() {
                break;
            }
        }
    }
    Sent {
        entries,
        failed: pending.len() as u64,
    }
}

/// Splits the entries of an answered call (ids are positions in the batch) into those SQS
/// failed, to try again, and those now in the queue.
fn settle(
    pending: Vec<(usize, Generated)>,
    failed: &HashSet<String>,
) -> (Vec<(usize, Generated)>, Vec<Generated>) {
    let (retry, done): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|(i, _)| failed.contains(&i.to_string()));
    (retry, done.into_iter().map(|(_, g)| g).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::Fleet;
    use crate::profile::Profile;

    #[test]
    fn failed_entries_are_kept_for_a_retry_under_their_ids_and_the_rest_is_sent() {
        let mut fleet = Fleet::new(2, Profile::default(), 3);
        let pending: Vec<(usize, Generated)> =
            (0..4).map(|i| (i, fleet.next_submission())).collect();
        let ids: Vec<String> = pending
            .iter()
            .map(|(_, g)| g.entry.submission_id.clone())
            .collect();
        let failed = HashSet::from(["1".to_owned(), "3".to_owned()]);
        let (retry, done) = settle(pending, &failed);
        assert_eq!(
            retry.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [1, 3],
            "retried under the same ids"
        );
        let sent: Vec<&str> = done
            .iter()
            .map(|g| g.entry.submission_id.as_str())
            .collect();
        assert_eq!(sent, [ids[0].as_str(), ids[2].as_str()]);
        let (retry, done) = settle(retry, &HashSet::new());
        assert!(retry.is_empty());
        assert_eq!(done.len(), 2);
    }
}
