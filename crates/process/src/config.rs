//! A binary's settings: one typed clap struct, read from flags and environment variables,
//! checked once at start.
//!
//! A bad value stops the program before it does anything, with one line that names the
//! variable (or the flag, when it has none), the value and what is allowed, and exit code 2:
//!
//! ```text
//! invalid QUEUE_WAIT_TIME_SEC="21" (--queue-wait-time-sec): allowed: an integer in 0..=20
//! ```
//!
//! Each setting's own range is checked while parsing, by the value parsers [`integer_in`],
//! [`number_in`] and [`seconds_in`]; settings checked against each other are checked by
//! [`Settings::validate`], after parsing.

use std::ffi::OsString;
use std::fmt::Display;
use std::io::Write as _;
use std::ops::RangeInclusive;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ErrorKind};

/// A configuration error: one line, naming the variable, the value and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What parsing the command line gave, when it is not the settings.
#[derive(Debug)]
pub enum NotRun {
    /// `--help` or `--version`: the text to print; exit 0.
    Info(String),
    /// A bad setting; exit 2.
    Invalid(ConfigError),
}

impl NotRun {
    /// Prints what it says where it belongs (the help on stdout, an error on stderr after the
    /// program's name) and gives the exit code: 0 for the help, 2 for a bad setting.
    pub fn report(&self, program: &str) -> ExitCode {
        self.print(program);
        ExitCode::from(self.code())
    }

    fn print(&self, program: &str) {
        match self {
            NotRun::Info(text) => {
                print!("{text}");
                let _ = std::io::stdout().flush();
            }
            NotRun::Invalid(e) => eprintln!("{program}: {e}"),
        }
    }

    fn code(&self) -> u8 {
        match self {
            NotRun::Info(_) => 0,
            NotRun::Invalid(_) => 2,
        }
    }
}

/// A binary's settings: a clap struct, and the check of its settings against each other.
pub trait Settings: clap::Parser {
    /// Checks between settings; each setting's own range is checked while parsing. None by
    /// default.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Parses flags and environment into `S`, then [`Settings::validate`]s them.
pub fn parse<S, I, T>(args: I) -> Result<S, NotRun>
where
    S: Settings,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let settings = S::try_parse_from(args).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => NotRun::Info(e.to_string()),
        _ => NotRun::Invalid(one_line::<S>(&e)),
    })?;
    settings.validate().map_err(NotRun::Invalid)?;
    Ok(settings)
}

/// [`parse`]s the process's own arguments; on `--help`, `--version` or a bad setting, prints
/// it and exits (0 or 2), naming `program` before an error.
pub fn parse_or_exit<S: Settings>(program: &str) -> S {
    parse(std::env::args_os()).unwrap_or_else(|not_run| {
        not_run.print(program);
        // Nothing has started yet: nothing to drop or flush but the text just printed.
        std::process::exit(i32::from(not_run.code()))
    })
}

/// Clap's multi-line error as one line: `invalid VAR="value" (--flag): allowed ...`, or
/// `invalid --flag="value": ...` for a flag without a variable, or clap's first line.
fn one_line<S: clap::CommandFactory>(e: &clap::Error) -> ConfigError {
    let context = |wanted: ContextKind| {
        e.context()
            .find(|(kind, _)| *kind == wanted)
            .map(|(_, value)| value.to_string())
    };
    let Some((arg, value)) =
        context(ContextKind::InvalidArg).zip(context(ContextKind::InvalidValue))
    else {
        let text = e.to_string();
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        return ConfigError(
            line.unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_owned(),
        );
    };
    // `arg` reads `--queue-wait-time-sec <QUEUE_WAIT_TIME_SEC>`: find its variable.
    let flag = arg.split_whitespace().next().unwrap_or(&arg);
    let command = S::command();
    let variable = command.get_arguments().find_map(|a| {
        let long = a.get_long()?;
        (flag.strip_prefix("--") == Some(long)).then(|| a.get_env())?
    });
    let allowed =
        std::error::Error::source(e).map_or_else(|| e.kind().to_string(), |s| s.to_string());
    match variable {
        Some(var) => ConfigError(format!(
            "invalid {}={value:?} ({flag}): {allowed}",
            var.to_string_lossy()
        )),
        None => ConfigError(format!("invalid {flag}={value:?}: {allowed}")),
    }
}

/// A value parser of an integer in `range`: `allowed: an integer in 1..=10` otherwise.
pub fn integer_in<T>(range: RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    within(range, "an integer")
}

/// A value parser of a number in `range`: `allowed: a number in 0..=1` otherwise.
pub fn number_in(range: RangeInclusive<f64>) -> impl Fn(&str) -> Result<f64, String> + Clone {
    within(range, "a number")
}

/// A value parser of a duration given in seconds, fractions allowed, in `range`:
/// `allowed: seconds in 0..=60` otherwise.
pub fn seconds_in(range: RangeInclusive<f64>) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    let allowed = format!("allowed: seconds in {}..={}", range.start(), range.end());
    let number = within(range, "seconds");
    // In the range, hence finite; a range reaching past what a Duration holds is refused too.
    move |s: &str| {
        number(s).and_then(|n| Duration::try_from_secs_f64(n).map_err(|_| allowed.clone()))
    }
}

/// A value parser of `what` in `range`. NaN is in no range.
fn within<T>(
    range: RangeInclusive<T>,
    what: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(format!(
            "allowed: {what} in {}..={}",
            range.start(),
            range.end()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Two settings with a variable, one flag without, and a check between them.
    #[derive(Debug, Parser)]
    #[command(name = "example")]
    struct Example {
        #[arg(long = "wait-sec", env = "EXAMPLE_WAIT_SEC", default_value = "1",
              value_parser = seconds_in(0.0..=60.0))]
        wait: Duration,
        #[arg(long, env = "EXAMPLE_BATCH", default_value_t = 10, value_parser = integer_in(1u64..=10))]
        batch: u64,
        #[arg(long, default_value_t = 0.5, value_parser = number_in(0.0..=1.0))]
        share: f64,
    }

    impl Settings for Example {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.wait > Duration::from_secs(self.batch) {
                return Err(ConfigError(format!(
                    "invalid EXAMPLE_WAIT_SEC={}: must be at most EXAMPLE_BATCH",
                    self.wait.as_secs_f64()
                )));
            }
            Ok(())
        }
    }

    fn error(args: &[&str]) -> String {
        let all = std::iter::once("example").chain(args.iter().copied());
        match parse::<Example, _, _>(all) {
            Err(NotRun::Invalid(e)) => e.0,
            other => panic!("{args:?} should be refused, gave {other:?}"),
        }
    }

    #[test]
    fn a_bad_value_is_one_line_naming_variable_flag_value_and_range() {
        for (args, said) in [
            (
                &["--batch", "11"][..],
                "invalid EXAMPLE_BATCH=\"11\" (--batch): allowed: an integer in 1..=10",
            ),
            (
                &["--batch=1.5"],
                "invalid EXAMPLE_BATCH=\"1.5\" (--batch): allowed: an integer in 1..=10",
            ),
            (
                &["--wait-sec", "NaN"],
                "invalid EXAMPLE_WAIT_SEC=\"NaN\" (--wait-sec): allowed: seconds in 0..=60",
            ),
            (
                &["--wait-sec=-1"],
                "invalid EXAMPLE_WAIT_SEC=\"-1\" (--wait-sec): allowed: seconds in 0..=60",
            ),
            (
                &["--share", "1.5"],
                "invalid --share=\"1.5\": allowed: a number in 0..=1",
            ),
        ] {
            assert_eq!(error(args), said);
        }
    }

    #[test]
    fn other_errors_are_clap_first_line_and_checks_between_settings_run_after_parsing() {
        let unknown = error(&["--no-such-flag"]);
        assert!(
            !unknown.contains('\n') && unknown.contains("--no-such-flag"),
            "{unknown}"
        );
        assert_eq!(
            error(&["--wait-sec=5", "--batch=2"]),
            "invalid EXAMPLE_WAIT_SEC=5: must be at most EXAMPLE_BATCH"
        );
        let ok = parse::<Example, _, _>(["example", "--wait-sec=0.25", "--share", "1"])
            .expect("valid settings");
        assert_eq!(
            (ok.wait, ok.batch, ok.share),
            (Duration::from_millis(250), 10, 1.0)
        );
    }

    #[test]
    fn help_is_text_to_print() {
        match parse::<Example, _, _>(["example", "--help"]) {
            Err(NotRun::Info(text)) => assert!(text.contains("EXAMPLE_WAIT_SEC"), "{text}"),
            other => panic!("help should be text, gave {other:?}"),
        }
    }
}
