//! The binary's contract with whoever starts it: a bad setting stops it at once with one line
//! naming the variable, and exit code 2.

use std::process::Command;

use crate::support::BIN;

fn run_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run shard-supervisor");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_setting_stops_it_with_one_line_and_exit_code_2() {
    for (env, line) in [
        (
            &[("SUPERVISOR_LOW", "0.9"), ("SUPERVISOR_HIGH", "0.5")][..],
            "shard-supervisor: invalid SUPERVISOR_HIGH=0.5: must be greater than SUPERVISOR_LOW=0.9\n",
        ),
        (
            &[("SUPERVISOR_WINDOW_SEC", "0")],
            "shard-supervisor: invalid SUPERVISOR_WINDOW_SEC=\"0\" (--window-sec): allowed: an integer in 1..=3600\n",
        ),
        (
            &[("SUPERVISOR_SOURCE", "metrics")],
            "shard-supervisor: invalid SUPERVISOR_SOURCE=\"metrics\" (--source): allowed: stream or cloudwatch\n",
        ),
        (
            &[("SUPERVISOR_MAX_CALLS_PER_DAY", "11")],
            "shard-supervisor: invalid SUPERVISOR_MAX_CALLS_PER_DAY=\"11\" (--max-calls-per-day): allowed: an integer in 1..=10\n",
        ),
    ] {
        let (code, stderr) = run_with(env);
        assert_eq!(code, Some(2), "{env:?}");
        assert_eq!(stderr, line);
    }
}
