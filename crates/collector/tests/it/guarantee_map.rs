//! The guarantee map must name what exists: a newcomer finds where each guarantee is enforced,
//! and the test that proves it, from `crates/collector/src/lib.rs` or the README in one step,
//! so a renamed file or test must not leave a stale name behind. No emulator is needed.
//!
//! Checked: every `*.rs` file named in the README, in `docs/guarantees.md` and in `lib.rs`'s
//! module doc exists in the workspace; every test named in the README's guarantees table and
//! in `docs/guarantees.md` is a `fn` in a file of its module (`module::tests::name` for a
//! unit test, `file::name` for an integration test) or, named bare beside another
//! (`name_of_four_or_more_words`), anywhere in the workspace; and every module `lib.rs` declares
//! is named in its doc and in the README's layout.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use telemetry_localenv::emulators::workspace_root;

/// A source file of the workspace: its path (relative, `/`-separated) and its text.
struct Source {
    path: String,
    text: String,
}

fn sources(root: &Path) -> Vec<Source> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Source>) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                out.push(Source {
                    path: relative.to_string_lossy().replace('\\', "/"),
                    text: fs::read_to_string(&path).unwrap(),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &root.join("crates"), &mut out);
    out
}

/// The names of the functions a file defines (`fn name(` or `fn name<`).
fn functions(text: &str) -> BTreeSet<&str> {
    text.split("fn ")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            matches!(rest[end..].chars().next(), Some('(' | '<')).then_some(&rest[..end])
        })
        .collect()
}

/// Whether `path` is the module `module`'s file or lies in its folder (`publisher.rs`,
/// `publisher/tests.rs`, `tests/it/order.rs`).
fn belongs_to(path: &str, module: &str) -> bool {
    path.split('/')
        .any(|part| part == module || part == format!("{module}.rs"))
}

fn is_snake(word: &str) -> bool {
    !word.is_empty()
        && word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The words of `text` that name a Rust file (`deleter.rs`, `crates/aws/src/backoff.rs`).
fn rust_files(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '-')))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| word.len() > 3 && word.ends_with(".rs"))
        .collect()
}

/// What is inside backticks in `text`.
fn code_spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The lines of the section that starts with heading `heading` (up to the next `## `).
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &markdown[start + 1..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |end| end + heading.len());
    &rest[..end]
}

/// Names every file and test mentioned in `text` (from `origin`) that does not exist. A file
/// named by its path from the workspace (`crates/aws/src/backoff.rs`) or from a crate's `src`
/// (`queue/memory.rs`), or by its name alone (`deleter.rs`), must be the end of a real path.
fn missing_names(origin: &str, text: &str, tests_too: bool, sources: &[Source]) -> Vec<String> {
    let mut missing = Vec::new();
    for file in rust_files(text) {
        let found = sources
            .iter()
            .any(|source| source.path == file || source.path.ends_with(&format!("/{file}")));
        if !found {
            missing.push(format!("{origin}: file {file}"));
        }
    }
    if !tests_too {
        return missing;
    }
    for span in code_spans(text) {
        let segments: Vec<&str> = span.split("::").collect();
        let (module, test) = match segments.as_slice() {
            [module, .., test] if segments.iter().all(|s| is_snake(s)) => (Some(*module), *test),
            // A bare name counts as a test when it reads like one: at least four words.
            [test] if is_snake(test) && test.matches('_').count() >= 3 => (None, *test),
            _ => continue,
        };
        let found = sources.iter().any(|source| {
            module.is_none_or(|module| belongs_to(&source.path, module))
                && functions(&source.text).contains(test)
        });
        if !found {
            missing.push(format!("{origin}: test {span}"));
        }
    }
    missing
}

/// The files of the modules `lib` declares (`mod name;`) that `map` does not name.
fn unmapped(lib: &str, map: &str) -> Vec<String> {
    let named = rust_files(map);
    lib.lines()
        .filter_map(|line| line.strip_prefix("mod "))
        .map(|module| format!("{}.rs", module.trim_end_matches(';')))
        .filter(|file| !named.contains(file.as_str()))
        .collect()
}

#[test]
fn every_file_and_test_the_guarantee_map_names_exists() {
    let root = workspace_root();
    let sources = sources(&root);
    let read = |path: &str| fs::read_to_string(root.join(path)).unwrap();
    let readme = read("README.md");
    let guarantees = read("docs/guarantees.md");
    let lib = read("crates/collector/src/lib.rs");
    let lib_doc: String = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");

    let mut missing = missing_names("README.md", &readme, false, &sources);
    let guarantees_table: String = section(&readme, "## Guarantees")
        .lines()
        .filter(|line| line.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    missing.extend(missing_names(
        "README.md, Guarantees",
        &guarantees_table,
        true,
        &sources,
    ));
    missing.extend(missing_names(
        "docs/guarantees.md",
        &guarantees,
        true,
        &sources,
    ));
    missing.extend(missing_names("lib.rs's doc", &lib_doc, false, &sources));

    // Every module of the collector is on both maps.
    for file in unmapped(&lib, &lib_doc) {
        missing.push(format!("lib.rs's doc does not name {file}"));
    }
    for file in unmapped(&lib, section(&readme, "## Layout")) {
        missing.push(format!("README.md's layout does not name {file}"));
    }
    assert!(
        missing.is_empty(),
        "stale or missing names:\n{}",
        missing.join("\n")
    );
}

/// The check itself notices: a renamed file, a renamed test and a module left off the map.
#[test]
fn a_stale_name_is_noticed() {
    let sources = sources(&workspace_root());
    let named = "| order | `publisher.rs` | `order::a_submission_of_1200_events_is_published_whole_and_in_order` |";
    assert!(missing_names("a table", named, true, &sources).is_empty());
    for (stale, what) in [
        ("| order | `health.rs` | |", "file health.rs"),
        ("| order | `queue/disk.rs` | |", "file queue/disk.rs"),
        (
            "| order | | `order::a_submission_of_1200_events_is_published_in_order` |",
            "test order::a_submission_of_1200_events_is_published_in_order",
        ),
        (
            "| order | | `publisher::tests::is_stable_and_version_5` |",
            "test publisher::tests::is_stable_and_version_5",
        ),
    ] {
        let found = missing_names("a table", stale, true, &sources);
        assert!(
            found.iter().any(|line| line.ends_with(what)),
            "{stale}: {found:?}"
        );
    }
    let found = missing_names(
        "a table",
        "| order | | `no_such_test_of_this_name` |",
        true,
        &sources,
    );
    assert_eq!(found, ["a table: test no_such_test_of_this_name"]);
    let lib = "mod app;\nmod health;\n";
    assert_eq!(unmapped(lib, "wiring: app.rs (build, run)."), ["health.rs"]);
}
