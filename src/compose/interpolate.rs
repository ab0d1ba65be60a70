//! Compose variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$VAR`, and `$$` for a literal
//! `$`, with nested defaults such as `${A:-${B}}`. Applied to every string value of the file (keys
//! are not interpolated), before mapping, as Compose does. Pure; no IO.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    Note, NoteKind,
    error::{ComposeError, invalid},
    value::{child, item},
};

/// Variables for interpolation: name → value.
pub(crate) type Vars = BTreeMap<String, String>;

/// A string with its variables substituted, and the names of the variables it used that were
/// not set (Compose substitutes an empty string for those, with a warning).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Interpolated {
    pub text: String,
    pub unset: Vec<String>,
}

/// Substitutes the variables in `text`, looking each name up with `lookup`. The error says what
/// is wrong, without the path.
pub(crate) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, String> {
    let mut out = Interpolated::default();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.text.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.text.push('$');
                i += 2;
            }
            Some('{') => {
                let close = matching_brace(&chars, i + 2).ok_or_else(|| {
                    "unterminated \"${\"; close it with }, or write $$ for a literal $".to_string()
                })?;
                let inner: String = chars[i + 2..close].iter().collect();
                braced(&inner, lookup, &mut out)?;
                i = close + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut end = i + 1;
                while end < chars.len() && is_name_char(chars[end]) {
                    end += 1;
                }
                let name: String = chars[i + 1..end].iter().collect();
                match lookup(&name) {
                    Some(v) => out.text.push_str(&v),
                    None => out.unset.push(name),
                }
                i = end;
            }
            _ => {
                return Err(
                    "invalid interpolation: $ must be followed by a variable name or {; write $$ for a literal $"
                        .to_string(),
                );
            }
        }
    }
    Ok(out)
}

/// The contents of `${...}`: a name and an optional operator with its word.
fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let name_len = inner
        .char_indices()
        .find(|&(i, c)| if i == 0 { !is_name_start(c) } else { !is_name_char(c) })
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(format!(
            "invalid interpolation \"${{{inner}}}\": expected a variable name after ${{; write $$ for a literal $"
        ));
    }
    let value = lookup(name);
    let (colon, rest) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // With a colon, an empty value counts as unset.
    let present = value.as_ref().is_some_and(|v| !colon || !v.is_empty());
    let mut op = rest.chars();
    let word = op.as_str().get(1..).unwrap_or_default();
    match op.next() {
        None if !colon => match value {
            Some(v) => out.text.push_str(&v),
            None => out.unset.push(name.to_string()),
        },
        Some('-') => {
            if present {
                out.text.push_str(&value.unwrap_or_default());
            } else {
                nested(word, lookup, out)?;
            }
        }
        Some('+') => {
            if present {
                nested(word, lookup, out)?;
            }
        }
        Some('?') => {
            if present {
                out.text.push_str(&value.unwrap_or_default());
            } else {
                let state = if value.is_some() { "empty" } else { "not set" };
                let hint = if word.is_empty() { String::new() } else { format!(": {word}") };
                return Err(format!("required variable {name} is {state}{hint}"));
            }
        }
        _ => {
            return Err(format!(
                "invalid interpolation \"${{{inner}}}\": use ${{{name}}}, ${{{name}:-default}}, ${{{name}-default}}, ${{{name}:?error}} or ${{{name}?error}}"
            ));
        }
    }
    Ok(())
}

/// A default or alternative word, itself interpolated.
fn nested(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let inner = interpolate(word, lookup)?;
    out.text.push_str(&inner.text);
    out.unset.extend(inner.unset);
    Ok(())
}

/// The index of the `}` closing a `${` whose contents start at `start`, counting nested `${`.
fn matching_brace(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '$' if chars.get(i + 1) == Some(&'$') => i += 1,
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                i += 1;
            }
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Interpolates every string value under `v` (not the keys), as Compose does before it reads the
/// model. Unset variables become empty strings with a note at the path that used them.
pub(crate) fn interpolate_tree(
    v: &mut Value,
    path: &str,
    vars: &Vars,
    notes: &mut Vec<Note>,
) -> Result<(), ComposeError> {
    match v {
        Value::String(s) => {
            let lookup = |name: &str| vars.get(name).cloned();
            let done = interpolate(s, &lookup).map_err(|m| invalid(path, m))?;
            for name in done.unset {
                notes.push(Note {
                    path: path.to_string(),
                    kind: NoteKind::Changed,
                    reason: format!(
                        "variable {name} is not set: an empty string is used, as Compose does"
                    ),
                });
            }
            *s = done.text;
        }
        Value::Array(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                interpolate_tree(x, &item(path, i), vars, notes)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                interpolate_tree(x, &child(path, k), vars, notes)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<Interpolated, String> {
        let vars: Vars = [("A", "a"), ("EMPTY", ""), ("B", "b"), ("PORT", "8080")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        interpolate(text, &|n| vars.get(n).cloned())
    }

    #[test]
    fn variables_are_substituted_as_compose_does() {
        let cases = [
            ("plain text", "plain text", "no variables"),
            ("${A}", "a", "braced"),
            ("$A-$B", "a-b", "unbraced, stops at a non-name character"),
            ("x$${A}", "x${A}", "$$ is a literal $"),
            ("$$", "$", "only a literal $"),
            ("${MISSING:-def}", "def", ":- when unset"),
            ("${EMPTY:-def}", "def", ":- when empty"),
            ("${EMPTY-def}", "", "- keeps an empty value"),
            ("${MISSING-def}", "def", "- when unset"),
            ("${A:-def}", "a", ":- when set"),
            ("${MISSING:-${B}}", "b", "nested default"),
            ("${MISSING:-${NOPE:-deep}}", "deep", "doubly nested default"),
            ("${MISSING:-a}}", "a}", "a brace after the expression is text"),
            ("${A:+alt}", "alt", ":+ when set"),
            ("${EMPTY:+alt}", "", ":+ when empty"),
            ("${EMPTY+alt}", "alt", "+ when set but empty"),
            ("${A:?boom}", "a", ":? when set"),
            ("http://api:${PORT}/x", "http://api:8080/x", "inside a URL"),
            ("${MISSING:-http://x:1/}", "http://x:1/", "default with colons"),
            ("ünïcode ${A} ✓", "ünïcode a ✓", "non-ASCII text around"),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(run(input).map(|r| r.text), Ok(expected.to_string()), "{reason}: {input}");
        }
    }

    #[test]
    fn unset_variables_become_empty_and_are_reported() {
        let r = run("a${MISSING}b$OTHER").unwrap();
        assert_eq!(r.text, "ab");
        assert_eq!(r.unset, vec!["MISSING".to_string(), "OTHER".to_string()]);
    }

    #[test]
    fn malformed_or_required_variables_are_errors_that_say_what_to_write() {
        let cases = [
            (
                "${MISSING:?set the password}",
                "required variable MISSING is not set: set the password",
            ),
            ("${MISSING?}", "required variable MISSING is not set"),
            ("${EMPTY:?x}", "required variable EMPTY is empty: x"),
            ("${A", "unterminated \"${\""),
            ("${}", "expected a variable name"),
            ("${1A}", "expected a variable name"),
            ("${A*b}", "invalid interpolation \"${A*b}\""),
            ("5$", "write $$ for a literal $"),
            ("$1", "write $$ for a literal $"),
            ("${A:-${B}", "unterminated"),
        ];
        for (input, expected) in cases {
            let err = run(input).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn trees_are_interpolated_in_values_only_with_paths_in_errors() {
        let mut v =
            serde_json::json!({"services": {"${A}": {"image": "x:${A}", "n": [1, "${B}"]}}});
        let mut notes = Vec::new();
        interpolate_tree(&mut v, "", &Vars::from([("A".into(), "1".into())]), &mut notes).unwrap();
        assert_eq!(v, serde_json::json!({"services": {"${A}": {"image": "x:1", "n": [1, ""]}}}));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].path, "services.${A}.n[1]");
        let mut bad = serde_json::json!({"services": {"web": {"image": "${X:?no image}"}}});
        let err = interpolate_tree(&mut bad, "", &Vars::new(), &mut notes).unwrap_err();
        assert_eq!(err.to_string(), "services.web.image: required variable X is not set: no image");
    }
}
