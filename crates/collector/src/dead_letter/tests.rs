//! The dead-letter task against a fake sink: a message is passed to the deleter only after its
//! letter is accepted, failed sends back off, and a letter whose message is handed back stops.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

/// Every send: the body and the attributes.
type Sent = Arc<Mutex<Vec<(String, Vec<(&'static str, String)>)>>>;

/// Records every send; fails the sends for which `fail(n)` holds (`n` counts from 1).
struct FakeSink {
    sent: Sent,
    fail: Box<dyn Fn(usize) -> bool + Send + Sync>,
}

impl LetterSink for FakeSink {
    async fn send(&self, body: &str, attributes: &[(&'static str, String)]) -> Result<(), String> {
        let n = {
            let mut sent = self.sent.lock().expect("lock");
            sent.push((body.to_owned(), attributes.to_vec()));
            sent.len()
        };
        if (self.fail)(n) {
            Err("QueueDoesNotExist".to_owned())
        } else {
            Ok(())
        }
    }
}

struct Setup {
    in_flight: Arc<InFlight>,
    stats: Arc<Stats>,
    sent: Sent,
    letters: mpsc::UnboundedSender<Letter>,
    deleted: mpsc::UnboundedReceiver<MessageKey>,
    task: tokio::task::JoinHandle<()>,
}

fn start(fail: impl Fn(usize) -> bool + Send + Sync + 'static) -> Setup {
    let in_flight = Arc::new(InFlight::new(10, 500));
    let stats = Arc::new(Stats::default());
    let sent = Arc::default();
    let (deleter, deleted) = mpsc::unbounded_channel();
    let (letters, intake) = mpsc::unbounded_channel();
    let dead_letter = DeadLetter::new(
        FakeSink {
            sent: Arc::clone(&sent),
            fail: Box::new(fail),
        },
        DeadLetterSettings {
            original_queue: "submissions".to_owned(),
            in_flight: Arc::clone(&in_flight),
            deleter,
            stats: Arc::clone(&stats),
            reachability: Arc::new(Reachability::new("SQS dead-letter queue")),
            backoff: Backoff::CALLS,
        },
    );
    let task = tokio::spawn(dead_letter.run(intake));
    Setup {
        in_flight,
        stats,
        sent,
        letters,
        deleted,
        task,
    }
}

fn letter(in_flight: &InFlight, body: &str) -> Letter {
    Letter {
        key: in_flight.insert("receipt".to_owned(), Instant::now(), None),
        message_id: "5b1c0f7e-0000-4000-8000-000000000001".to_owned(),
        body: body.to_owned(),
        reason: DropReason::BadIp,
        detail: "events.network_connection[0].destination_ip: \"not-an-ip\"".to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_goes_to_the_deleter_only_after_its_letter_is_accepted() {
    let mut t = start(|n| n <= 3);
    let body = " {not base64}\n\u{e9}";
    let l = letter(&t.in_flight, body);
    let key = l.key;
    t.letters.send(l).expect("intake open");

    // Three failed sends with backoff in between, then the fourth is accepted.
    let deleted = tokio::time::timeout(Duration::from_secs(60), t.deleted.recv()).await;
    assert_eq!(deleted.expect("deleted within a minute"), Some(key));
    let sent = t.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 4, "three failures, one success");
    assert!(sent.iter().all(|(b, _)| b == body), "the body unchanged");
    let s = t.stats.snapshot();
    assert_eq!((s.dead_lettered, s.dead_letter_failures), (1, 3));

    drop(t.letters);
    t.task.await.expect("run ends when the intake closes");
}

#[tokio::test(start_paused = true)]
async fn failed_sends_back_off_and_stop_when_the_message_is_handed_back() {
    let mut t = start(|_| true);
    let l = letter(&t.in_flight, "body");
    let key = l.key;
    t.letters.send(l).expect("intake open");
    drop(t.letters);

    // A minute of an unreachable queue: delays double from 0.1-0.2 s to 5-10 s, which makes
    // 11 to 17 tries (a busy loop would make thousands).
    tokio::time::sleep(Duration::from_secs(60)).await;
    let tries = t.sent.lock().expect("lock").len();
    assert!((11..=17).contains(&tries), "{tries} sends in a minute");
    assert!(t.deleted.try_recv().is_err(), "nothing deleted");
    assert!(t.in_flight.is_held(key), "the message stays held");

    // Handed back (shutdown): the letter is abandoned at its next try, never deleted.
    t.in_flight.remove(key);
    tokio::time::timeout(Duration::from_secs(30), t.task)
        .await
        .expect("the letter stops once its message is not held")
        .expect("task");
    assert_eq!(t.sent.lock().expect("lock").len(), tries, "no send after");
    assert_eq!(t.deleted.recv().await, None, "nothing deleted");
}

#[test]
fn attributes_name_the_reason_detail_message_id_and_queue() {
    let in_flight = InFlight::new(10, 500);
    let l = letter(&in_flight, "body");
    assert_eq!(
        attributes(&l, "submissions"),
        vec![
            (REASON, "bad_ip".to_owned()),
            (
                DETAIL,
                "events.network_connection[0].destination_ip: \"not-an-ip\"".to_owned()
            ),
            (
                ORIGINAL_MESSAGE_ID,
                "5b1c0f7e-0000-4000-8000-000000000001".to_owned()
            ),
            (ORIGINAL_QUEUE, "submissions".to_owned()),
        ]
    );
    let bare = Letter {
        message_id: String::new(),
        detail: String::new(),
        ..l
    };
    let names: Vec<&str> = attributes(&bare, "q").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [REASON, ORIGINAL_QUEUE], "empty values are left out");
}

#[test]
fn attribute_text_is_cut_on_a_char_boundary_and_refused_characters_are_replaced() {
    assert_eq!(attribute_text("plain \"text\"\n", 64), "plain \"text\"\n");
    assert_eq!(
        attribute_text("a\u{0}b\u{1b}c\u{FFFF}", 64),
        "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
    );
    let long = "é".repeat(600);
    let cut = attribute_text(&long, DETAIL_MAX_BYTES);
    assert!(cut.len() <= DETAIL_MAX_BYTES, "{}", cut.len());
    assert!(cut.ends_with("é…"), "cut between characters, marked");
    assert_eq!(attribute_text(&"x".repeat(20), 10), "xxxxxxx…");
    assert_eq!(attribute_text("xyz", 2), "", "no room even for the mark");
    assert_eq!(attribute_text("xyz", 0), "");
}
