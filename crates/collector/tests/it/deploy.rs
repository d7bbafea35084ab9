//! deploy/ cannot be applied here (no cluster, no Grafana, no Prometheus), so what can be checked
//! offline is checked: scripts/validate-deploy.py validates the Kubernetes manifests against
//! the Kubernetes OpenAPI schemas (kubernetes-validate), the KEDA resources against KEDA's CRD
//! schema, the dashboard and the alert rules (structure, PromQL parsed), the IAM policy, and
//! the names that must agree across files. Its packages are pinned and installed by
//! scripts/install-emulators.sh. This test also feeds every setting the Deployment gives the
//! collector through the collector's own parser, checks every series the dashboard and the
//! rules query against the collector's own `/metrics` output, and breaks the files on purpose
//! to show that the checks notice.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::CommandFactory;
use telemetry_collector::Config;
use telemetry_localenv::emulators::workspace_root;

fn validate(args: &[&str]) -> Output {
    let root = workspace_root();
    let python = root.join(".tools/venv/bin/python");
    Command::new(&python)
        .current_dir(&root)
        .arg("scripts/validate-deploy.py")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/install-emulators.sh",
                python.display()
            )
        })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn deploy_manifests_dashboard_alerts_and_policy_validate() {
    let out = validate(&[]);
    assert!(
        out.status.success(),
        "scripts/validate-deploy.py found problems:\n{}",
        text(&out)
    );
}

#[test]
fn the_collector_deployment_sets_only_collector_settings_with_accepted_values() {
    let out = validate(&["--env-of", "telemetry-collector"]);
    assert!(out.status.success(), "{}", text(&out));
    let env: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("env as a JSON object");

    // The collector's settings: environment variable -> flag.
    let command = Config::command();
    let flag_of: BTreeMap<&str, &str> = command
        .get_arguments()
        .filter_map(|a| Some((a.get_env()?.to_str()?, a.get_long()?)))
        .collect();
    let args = env
        .iter()
        .filter(|(name, _)| !name.starts_with("AWS_"))
        .map(|(name, value)| {
            let flag = flag_of.get(name.as_str()).unwrap_or_else(|| {
                panic!("the collector Deployment sets {name}, which is not a collector setting")
            });
            let value = value
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no literal value: {value}"));
            format!("--{flag}={value}")
        });
    Config::from_args(std::iter::once("telemetry-collector".to_owned()).chain(args))
        .unwrap_or_else(|e| panic!("the collector refuses the Deployment's settings: {e:?}"));

    // Every setting but the optional dead-letter queue, so the manifest shows the whole
    // configuration.
    let missing: Vec<_> = flag_of
        .keys()
        .filter(|name| !env.contains_key(**name))
        .collect();
    assert_eq!(
        missing,
        [&"DEAD_LETTER_QUEUE_NAME"],
        "settings missing from the collector Deployment: add them to \
         deploy/kubernetes/collector-deployment.yaml (at their default)"
    );
}

/// One way to break deploy/: the file, the text replaced, and what the validator must say.
struct Breakage {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    says: &'static str,
}

const BREAKAGES: &[Breakage] = &[
    Breakage {
        file: "kubernetes/collector-deployment.yaml",
        from: "readinessProbe:",
        to: "readinesProbe:",
        says: "'readinesProbe' was unexpected",
    },
    Breakage {
        file: "kubernetes/collector-deployment.yaml",
        from: "containerPort: 9898",
        to: "containerPort: metrics",
        says: "'metrics' is not of type 'integer'",
    },
    Breakage {
        file: "kubernetes/collector-deployment.yaml",
        from: "terminationGracePeriodSeconds: 30",
        to: "terminationGracePeriodSeconds: 20",
        says: "must exceed SHUTDOWN_GRACE_PERIOD_SEC",
    },
    Breakage {
        file: "kubernetes/collector-deployment.yaml",
        from: "value: 0.0.0.0:9898",
        to: "value: 127.0.0.1:9898",
        says: "HTTP_ADDR 127.0.0.1:9898 is not reachable",
    },
    Breakage {
        file: "kubernetes/collector-pdb.yaml",
        from: "maxUnavailable: 1",
        to: "maxUnavailabel: 1",
        says: "'maxUnavailabel' was unexpected",
    },
    Breakage {
        file: "kubernetes/collector-keda.yaml",
        from: "queueLength: \"1000\"",
        to: "queueLength: 1000",
        says: "1000 is not of type 'string'",
    },
    Breakage {
        file: "kubernetes/collector-keda.yaml",
        from: "minReplicaCount: 2",
        to: "minReplicas: 2",
        says: "'minReplicas' was unexpected",
    },
    Breakage {
        file: "kubernetes/shard-supervisor.yaml",
        from: "type: Recreate",
        to: "type: RollingUpdate",
        says: "strategy must be Recreate",
    },
    Breakage {
        file: "prometheus/alerts.yaml",
        from: "rate(telemetry_collector_event_lag_seconds_bucket[5m])",
        to: "rate(telemetry_collector_event_lag_seconds_bucket)",
        says: "PromQL does not parse",
    },
    Breakage {
        file: "iam-policy.json",
        from: "\"Effect\": \"Allow\"",
        to: "\"Effect\": \"Permit\"",
        says: "'Permit' is not one of ['Allow', 'Deny']",
    },
];

#[test]
fn the_validator_fails_on_each_broken_deploy_file() {
    let deploy = workspace_root().join("deploy");
    let scratch = std::env::temp_dir().join(format!(
        "validate-deploy-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    for breakage in BREAKAGES {
        let copy = scratch.join("deploy");
        let _ = fs::remove_dir_all(&copy);
        copy_dir(&deploy, &copy);
        let path = copy.join(breakage.file);
        let original = fs::read_to_string(&path).expect("read the copy");
        assert!(
            original.contains(breakage.from),
            "{}: `{}` not found; update this test with the file",
            breakage.file,
            breakage.from
        );
        fs::write(&path, original.replacen(breakage.from, breakage.to, 1)).expect("break it");

        let out = validate(&["--deploy-dir", copy.to_str().expect("UTF-8 temp path")]);
        let said = text(&out);
        assert!(
            !out.status.success() && said.contains(breakage.says),
            "{}: `{}` -> `{}` should fail saying {:?}; the validator said:\n{said}",
            breakage.file,
            breakage.from,
            breakage.to,
            breakage.says
        );
    }
    let _ = fs::remove_dir_all(&scratch);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy");
    for entry in fs::read_dir(from).expect("read deploy/") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// The series the collector exposes on `/metrics`, by name.
async fn exposed_series() -> BTreeSet<String> {
    // A collector built, not run: it serves its metrics from the start, and needs no AWS yet.
    let config =
        Config::from_args(["telemetry-collector", "--http-addr=127.0.0.1:0"]).expect("settings");
    let nowhere = "http://127.0.0.1:9";
    let clients = telemetry_aws::Clients::for_endpoints(nowhere, nowhere).await;
    let collector = telemetry_collector::Collector::build(config, clients)
        .await
        .expect("build");
    let (status, exposed) = telemetry_localenv::scrape::get(collector.address(), "/metrics")
        .await
        .expect("scrape /metrics");
    assert_eq!(status, 200, "{exposed}");
    exposed
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// How many times `text` queries a `telemetry_collector_*` series, and the names it queries
/// that are not in `series`.
fn queried(text: &str, series: &BTreeSet<String>) -> (usize, Vec<String>) {
    let (mut uses, mut unknown) = (0, Vec::new());
    let mut rest = text;
    while let Some(at) = rest.find("telemetry_collector_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        uses += 1;
        if !series.contains(&name) {
            unknown.push(name);
        }
    }
    (uses, unknown)
}

/// Every `telemetry_collector_*` series the dashboard and the alert rules query is one the
/// collector really exposes: checked against its own `/metrics` output, not a list kept by hand;
/// and a misspelt name is noticed.
#[tokio::test]
async fn the_dashboard_and_alerts_query_only_series_the_collector_exposes() {
    let series = exposed_series().await;
    let root = workspace_root();
    let mut used = 0;
    for file in [
        "deploy/grafana/telemetry-collector.json",
        "deploy/prometheus/alerts.yaml",
    ] {
        let content = fs::read_to_string(root.join(file)).expect(file);
        let (uses, unknown) = queried(&content, &series);
        assert!(
            unknown.is_empty(),
            "{file} queries {unknown:?}, which the collector does not expose; it exposes {series:?}"
        );
        used += uses;
    }
    assert!(
        used > 20,
        "the dashboard and the rules query the collector ({used} uses)"
    );

    let dashboard =
        fs::read_to_string(root.join("deploy/grafana/telemetry-collector.json")).expect("read");
    let (from, to) = (
        "telemetry_collector_events_published_total",
        "telemetry_collector_events_publish_total",
    );
    assert!(
        dashboard.contains(from),
        "`{from}` not found; update this test with the file"
    );
    let (_, unknown) = queried(&dashboard.replacen(from, to, 1), &series);
    assert_eq!(unknown, [to], "a misspelt series is noticed");
}
