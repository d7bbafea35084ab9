//! Concurrent AWS requests that carry the work they are about, so that nothing a request was
//! carrying is forgotten, whatever happens to the task that ran it.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};

/// Requests in flight, each spawned on the runtime (so encoding and I/O of several requests
/// use several cores) and each paired with the items it carries, kept here, not in the task.
#[derive(Debug)]
pub(crate) struct RequestsInFlight<I, T> {
    tasks: JoinSet<T>,
    items: HashMap<Id, Vec<I>>,
}

impl<I, T: Send + 'static> RequestsInFlight<I, T> {
    /// No requests.
    pub(crate) fn new() -> Self {
        RequestsInFlight {
            tasks: JoinSet::new(),
            items: HashMap::new(),
        }
    }

    /// Spawns `request`, remembering `items` until it finishes.
    pub(crate) fn spawn(
        &mut self,
        items: Vec<I>,
        request: impl Future<Output = T> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(request);
        self.items.insert(handle.id(), items);
    }

    /// How many requests are in flight.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no request is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next finished request: its items and its output, or `None` for the output if the
    /// task panicked or was cancelled (the caller retries the items). Pending forever when
    /// there is no request, so it can sit in a `select!` without a guard.
    pub(crate) async fn next(&mut self) -> (Vec<I>, Option<T>) {
        loop {
            match self.tasks.join_next_with_id().await {
                Some(Ok((id, out))) => {
                    return (self.items.remove(&id).unwrap_or_default(), Some(out))
                }
                Some(Err(e)) => return (self.items.remove(&e.id()).unwrap_or_default(), None),
                None => std::future::pending::<()>().await,
            }
        }
    }
}

impl<I, T: Send + 'static> Default for RequestsInFlight<I, T> {
    fn default() -> Self {
        Self::new()
    }
}
