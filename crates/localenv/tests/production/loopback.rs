//! Every emulator and proxy the project starts listens on 127.0.0.1 only. Checked from the
//! kernel's table of listening sockets (no traffic is sent anywhere but loopback).

use telemetry_localenv::emulators;
use telemetry_localenv::proxy::Proxy;

/// The local addresses of the listening TCP sockets on `port`, IPv4 and IPv6, as the kernel's
/// hex: `0100007F` is 127.0.0.1, `00000000` is every interface.
fn listening_on(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, hex_port)) = local.split_once(':') else {
                continue;
            };
            // 0A is LISTEN.
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(addr.to_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulators_and_proxies_listen_on_loopback_only() {
    let (kinesalite, moto) =
        tokio::task::spawn_blocking(|| (emulators::kinesalite(), emulators::moto()))
            .await
            .expect("spawn");
    let kinesalite = kinesalite.expect("kinesalite");
    let moto = moto.expect("moto");
    let proxy = Proxy::start(kinesalite.addr).await.expect("proxy");
    for (what, port) in [
        ("kinesalite", kinesalite.addr.port()),
        ("moto", moto.addr.port()),
        ("the proxy", proxy.addr.port()),
    ] {
        assert_eq!(
            listening_on(port),
            vec!["0100007F".to_owned()],
            "{what} listens on 127.0.0.1 and nowhere else"
        );
    }
}
