//! The collector's per-event CPU work on one core: base64-decode, parse, validate, explode and
//! encode fleet-shaped submissions (3-5 events of each type, as the original fleet sends).
//!
//! Run: `cargo bench -p telemetry-model --bench transform`. Criterion reports throughput in
//! elements/s, where an element is one output event.

#![allow(missing_docs, clippy::expect_used)]

use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use telemetry_model::record::time_processed_now;
use telemetry_model::{PartitionKeySource, Submission};

/// A deterministic fleet-shaped body: `n_proc` new_process and `n_conn` network_connection events.
fn fleet_body(seed: u64, n_proc: usize, n_conn: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let uuid = |a: u64, b: u64| {
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    };
    let cmdls = [
        "notepad.exe",
        "calc.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs",
        "powershell.exe -nop",
    ];
    let users = ["john", "admin", "SYSTEM", "mary"];
    let procs: Vec<String> = (0..n_proc)
        .map(|_| {
            let r = next() as usize;
            format!(
                r#"{{"cmdl": {:?}, "user": "{}"}}"#,
                cmdls[r % cmdls.len()],
                users[(r >> 8) % users.len()]
            )
        })
        .collect();
    let conns: Vec<String> = (0..n_conn)
        .map(|_| {
            let r = next();
            format!(
                r#"{{"source_ip": "192.168.0.{}", "destination_ip": "{}.{}.{}.{}", "destination_port": {}}}"#,
                r % 255,
                (r >> 8) % 256,
                (r >> 16) % 256,
                (r >> 24) % 256,
                (r >> 32) % 256,
                (r >> 40) % 65536
            )
        })
        .collect();
    let json = format!(
        r#"{{"submission_id": "{}", "device_id": "{}", "time_created": "2021-03-28T15:44:18.592840", "events": {{"new_process": [{}], "network_connection": [{}]}}}}"#,
        uuid(next(), next()),
        uuid(next(), next()),
        procs.join(", "),
        conns.join(", ")
    );
    base64::engine::general_purpose::STANDARD
        .encode(json)
        .into_bytes()
}

fn bench(c: &mut Criterion) {
    let bodies: Vec<Vec<u8>> = (0..256u64)
        .map(|i| fleet_body(i, 3 + (i as usize % 3), 3 + ((i as usize / 3) % 3)))
        .collect();
    let events: usize = bodies
        .iter()
        .map(|b| {
            Submission::decode(b)
                .expect("valid fleet body")
                .events()
                .len()
        })
        .sum();
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("fleet_submissions_256", |b| {
        b.iter(|| {
            for body in &bodies {
                let s = Submission::decode(black_box(body)).expect("valid");
                let records = s
                    .explode(&time_processed_now(), PartitionKeySource::DeviceId)
                    .expect("fits");
                black_box(records);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
