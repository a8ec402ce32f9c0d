//! The one place that knows the YAML library. Everything else asks for "parse this text into
//! that type" and gets back a [`ConfigError`] pointing at file, line, column and field path,
//! so the library can be swapped without touching the rest.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Parses `text` (read from `file`) into `T`, with the failing field's path and location.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let (line, column) = inner
            .location()
            .map(|loc| (loc.line(), loc.column()))
            .unwrap_or((0, 0));
        let message = clean_message(&inner.to_string(), &path);
        // serde reports a duplicate field at the start of its mapping; the second
        // occurrence of the key is the line to fix.
        let (line, column) = message
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.split_once('`'))
            .and_then(|(key, _)| second_key_at(text, key, line, column))
            .unwrap_or((line, column));
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            field: if path == "." { String::new() } else { path },
            message,
        }
    })
}

/// serde_yaml appends "at line L column C" to messages; the location is reported separately.
/// It also puts the parent's path in front, which the error already carries as `field`.
fn clean_message(message: &str, path: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let message = match message.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && path.starts_with(head) => rest,
        _ => message,
    };
    message.trim().trim_end_matches('.').to_string()
}

/// The line and column of the second `key:` at the indentation of the mapping that starts
/// at (`line`, `column`), searching from that line on.
fn second_key_at(text: &str, key: &str, line: usize, column: usize) -> Option<(usize, usize)> {
    let indent = column.saturating_sub(1);
    let mut seen = 0;
    for (i, raw) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        let Some(rest) = raw.get(indent..) else {
            continue;
        };
        if raw[..indent].trim().is_empty()
            && rest
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, column));
            }
        }
    }
    None
}

/// Finds the line (1-based) of a top-level `key:` in `text`, for errors found after parsing
/// (such as two policies with one name), so they can still point at the text.
pub fn line_of_top_level_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}

/// The string value of a top-level `key:`, read leniently from text that may not parse (or
/// not validate): the document when it parses, else the first unindented `key: value` line.
pub fn top_level_string(text: &str, key: &str) -> Option<String> {
    if let Ok(serde_yaml::Value::Mapping(map)) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        return match map.get(key)? {
            serde_yaml::Value::String(value) => Some(value.clone()),
            _ => None,
        };
    }
    let line = text.lines().find(|line| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })?;
    let value = line[key.len()..].trim_start().strip_prefix(':')?;
    let value = value.split(" #").next().unwrap_or_default().trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    (!unquoted.is_empty() && !unquoted.starts_with(['[', '{', '&', '*', '|', '>']))
        .then(|| unquoted.to_string())
}

/// The string at `path` (`["targets", "rpo"]`) when the text parses as YAML, whatever the
/// rest of it holds.
pub fn nested_string(text: &str, path: &[&str]) -> Option<String> {
    let mut value = &serde_yaml::from_str::<serde_yaml::Value>(text).ok()?;
    for key in path {
        value = value.as_mapping()?.get(*key)?;
    }
    value.as_str().map(str::to_string)
}

/// The line (1-based) of `item` listed under the key `parent:`, for an error about one item
/// of a list (a control naming a policy); the `parent:` line when the item is not found
/// after it, 0 when neither is.
pub fn line_of_item(text: &str, parent: &str, item: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|line| {
        line.trim_start()
            .strip_prefix(parent)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    }) else {
        return 0;
    };
    let listed = |line: &str| {
        let line = line.trim();
        line.strip_prefix('-')
            .is_some_and(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\'') == item)
            || (line.starts_with('[') || line.contains(": ["))
                && line.split([',', '[', ']']).any(|part| part.trim() == item)
    };
    lines[start..]
        .iter()
        .position(|line| listed(line))
        .map_or(start + 1, |i| start + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn a_duplicate_key_is_reported_where_it_is_repeated() {
        let err =
            parse::<Outer>(Path::new("p.yaml"), "inner:\n  count: 1\n  count: 2\n").unwrap_err();
        assert!(err.message.contains("duplicate field"), "{err}");
        assert_eq!((err.line, err.column), (3, 3), "{err}");
    }

    #[test]
    fn errors_carry_field_path_and_location() {
        let err = parse::<Outer>(Path::new("p.yaml"), "inner:\n  count: many\n").unwrap_err();
        assert_eq!(err.field, "inner.count");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err =
            parse::<Outer>(Path::new("p.yaml"), "inner:\n  count: 1\n  colour: red\n").unwrap_err();
        assert!(
            err.message.contains("unknown field `colour`"),
            "{}",
            err.message
        );
        assert_eq!(err.line, 3);
    }

    #[test]
    fn top_level_strings_are_read_from_broken_text() {
        assert_eq!(
            top_level_string("name: a\nclient: Acme\n", "client").as_deref(),
            Some("Acme")
        );
        let broken = "name: \"a\"  # the db\nclient: Acme Corp\nx: [\n";
        assert_eq!(top_level_string(broken, "name").as_deref(), Some("a"));
        assert_eq!(
            top_level_string(broken, "client").as_deref(),
            Some("Acme Corp")
        );
        assert_eq!(top_level_string("  client: B\nx: [\n", "client"), None);
    }

    #[test]
    fn list_items_are_found_under_their_parent() {
        let text = "controls:\n  a:\n    policies:\n      - x\n  b:\n    policies:\n      - x\n      - y\n  c:\n    policies: [z, w]\n";
        assert_eq!(line_of_item(text, "b", "x"), 7);
        assert_eq!(line_of_item(text, "b", "y"), 8);
        assert_eq!(line_of_item(text, "c", "w"), 10);
    }

    #[test]
    fn top_level_keys_are_found_by_line() {
        assert_eq!(line_of_top_level_key("# c\nname: x\n", "name"), 2);
        assert_eq!(line_of_top_level_key("  name: x\n", "name"), 0);
    }
}
