//! Waiting for a condition with a deadline, never a sleep that guesses timing: how every test
//! suite of the workspace waits. A check answers `true`/`false`, or `Some(value)`/`None` when
//! the wait should give back what it found; a check that does not hold by the deadline fails
//! the test with a message naming what was awaited.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often [`until`] checks.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// What a check answers: whether the wait is over, and what it gives back then.
pub trait Outcome {
    /// What the wait gives back.
    type Value;

    /// The value when the wait is over; `None` to check again.
    fn done(self) -> Option<Self::Value>;
}

impl Outcome for bool {
    type Value = ();

    fn done(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;

    fn done(self) -> Option<T> {
        self
    }
}

/// Checks `check` every 50 ms until it holds and gives back what it found; panics after
/// `within` with `timed out after {within} waiting for: {what}`.
pub async fn until<F, Fut>(
    what: &str,
    within: Duration,
    check: F,
) -> <Fut::Output as Outcome>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    every(INTERVAL, what, within, check).await
}

/// [`until`] with a chosen interval, for checks that are costly (reading a whole stream).
pub async fn every<F, Fut>(
    interval: Duration,
    what: &str,
    within: Duration,
    mut check: F,
) -> <Fut::Output as Outcome>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await.done() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_back_what_the_check_found_at_the_first_check_that_holds() {
        let started = Instant::now();
        let mut checks = 0;
        let found = until("the third check", Duration::from_secs(1), || {
            checks += 1;
            let n = checks;
            async move { (n == 3).then_some(n * 10) }
        })
        .await;
        assert_eq!(found, 30);
        assert_eq!(
            started.elapsed(),
            2 * INTERVAL,
            "checked at 0, 50 and 100 ms"
        );
        let mut flag = false;
        every(
            Duration::from_secs(1),
            "a flag",
            Duration::from_secs(5),
            || {
                let was = flag;
                flag = true;
                async move { was }
            },
        )
        .await;
        assert_eq!(started.elapsed(), 2 * INTERVAL + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out after 200ms waiting for: nothing")]
    async fn fails_naming_what_was_awaited_after_the_deadline() {
        until("nothing", Duration::from_millis(200), || async { false }).await;
    }
}
