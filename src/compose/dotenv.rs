//! Env files (`.env`, `env_file`): `KEY=VALUE` lines with `#` comments, an optional `export `
//! prefix, single quotes (literal), double quotes (escapes and interpolation, may span lines),
//! unquoted values (trimmed, ` #` starts a comment, interpolated) and bare `KEY` lines (no
//! value). Pure: the caller reads the file. Errors give the line number, never a value.

use super::interpolate::interpolate;

/// One entry: the key and its value, `None` for a bare `KEY` line.
pub(crate) type Entry = (String, Option<String>);

/// Parses an env file's text. `lookup` resolves `${VAR}` in values (before the file's own
/// earlier entries, as Compose does). The error is `line N: what is wrong`.
pub(crate) fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Entry>, String> {
    let chars: Vec<char> = text.trim_start_matches('\u{feff}').chars().collect();
    let mut entries: Vec<Entry> = Vec::new();
    let mut p = Parser { chars: &chars, i: 0, line: 1 };
    loop {
        p.skip(|c| c == ' ' || c == '\t' || c == '\r');
        let Some(c) = p.peek() else { break };
        if c == '\n' {
            p.bump();
            continue;
        }
        if c == '#' {
            p.skip_line();
            continue;
        }
        let line = p.line;
        let mut key = p.take(|c| !matches!(c, '=' | ' ' | '\t' | '\n' | '\r' | '#'));
        if key == "export" && matches!(p.peek(), Some(' ' | '\t')) {
            p.skip(|c| c == ' ' || c == '\t');
            key = p.take(|c| !matches!(c, '=' | ' ' | '\t' | '\n' | '\r' | '#'));
        }
        p.skip(|c| c == ' ' || c == '\t' || c == '\r');
        if key.is_empty() {
            return Err(format!("line {line}: expected KEY=VALUE"));
        }
        match p.peek() {
            None | Some('\n') | Some('#') => {
                p.skip_line();
                entries.push((key, None));
                continue;
            }
            Some('=') => p.bump(),
            Some(_) => return Err(format!("line {line}: expected KEY=VALUE after {key}")),
        }
        p.skip(|c| c == ' ' || c == '\t');
        let value = match p.peek() {
            Some('\'') => {
                p.bump();
                let v = p.quoted('\'').ok_or(format!("line {line}: unterminated '"))?;
                p.skip_line();
                v
            }
            Some('"') => {
                p.bump();
                let raw = p.quoted('"').ok_or(format!("line {line}: unterminated \""))?;
                p.skip_line();
                expand(&unescape(&raw), lookup, &entries, line)?
            }
            _ => {
                let raw = p.take(|c| c != '\n');
                expand(strip_comment(&raw).trim(), lookup, &entries, line)?
            }
        };
        entries.push((key, Some(value)));
    }
    Ok(entries)
}

struct Parser<'a> {
    chars: &'a [char],
    i: usize,
    line: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) {
        if self.peek() == Some('\n') {
            self.line += 1;
        }
        self.i += 1;
    }

    fn skip(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    fn take(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.i;
        self.skip(f);
        self.chars[start..self.i].iter().collect()
    }

    fn skip_line(&mut self) {
        self.skip(|c| c != '\n');
    }

    /// The text up to the closing `quote` (a backslash escapes it in double quotes), raw.
    fn quoted(&mut self, quote: char) -> Option<String> {
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.bump();
            if c == quote {
                return Some(out);
            }
            if c == '\\' && quote == '"' {
                out.push(c);
                out.push(self.peek()?);
                self.bump();
                continue;
            }
            out.push(c);
        }
    }
}

/// Double-quoted escapes: `\n`, `\r`, `\t`, `\\`, `\"`, and `\$` (a literal `$`).
fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('$') => out.push_str("$$"),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// An unquoted value without its inline comment (a `#` after whitespace).
fn strip_comment(raw: &str) -> &str {
    let mut prev_space = false;
    for (i, c) in raw.char_indices() {
        if c == '#' && prev_space {
            return &raw[..i];
        }
        prev_space = c == ' ' || c == '\t';
    }
    raw
}

fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    earlier: &[Entry],
    line: usize,
) -> Result<String, String> {
    let find = |name: &str| {
        lookup(name)
            .or_else(|| earlier.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.clone()))
    };
    interpolate(text, &find).map(|r| r.text).map_err(|e| format!("line {line}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<Entry>, String> {
        parse(text, &|n| (n == "HOME").then(|| "/home/me".to_string()))
    }

    fn one(text: &str) -> Option<String> {
        parse_text(text).unwrap().pop().and_then(|(_, v)| v)
    }

    #[test]
    fn values_are_read_as_compose_reads_env_files() {
        let cases = [
            ("A=b", "b", "plain"),
            ("A = b ", "b", "spaces around"),
            ("export A=b", "b", "export prefix"),
            ("A=b # comment", "b", "inline comment"),
            ("A=b#not-a-comment", "b#not-a-comment", "hash without a space"),
            ("A='b # c $HOME'", "b # c $HOME", "single quotes are literal"),
            ("A=\"b\\nc\"", "b\nc", "double-quoted escape"),
            ("A=\"line1\nline2\"", "line1\nline2", "double quotes span lines"),
            ("A=\"x $HOME\" # c", "x /home/me", "double quotes interpolate"),
            ("A=\"\\$HOME\"", "$HOME", "escaped dollar"),
            ("A=$HOME/x", "/home/me/x", "unquoted interpolates"),
            ("A=", "", "empty value"),
            ("A=\"\"", "", "empty quotes"),
            ("A=ä=b", "ä=b", "non-ASCII and a second ="),
        ];
        for (text, expected, reason) in cases {
            assert_eq!(one(text), Some(expected.to_string()), "{reason}: {text}");
        }
    }

    #[test]
    fn comments_blank_lines_and_bare_keys() {
        let text = "\u{feff}# header\n\nA=1\r\n  # indented comment\nBARE\nB=${A}2\n";
        let entries = parse_text(text).unwrap();
        assert_eq!(
            entries,
            vec![
                ("A".to_string(), Some("1".to_string())),
                ("BARE".to_string(), None),
                ("B".to_string(), Some("12".to_string())),
            ]
        );
    }

    #[test]
    fn malformed_files_name_the_line_and_never_the_value() {
        let cases = [
            ("A=1\nB='secret", "line 2: unterminated '"),
            ("A=\"secret", "line 1: unterminated \""),
            ("A b=1", "line 1: expected KEY=VALUE after A"),
            ("=x", "line 1: expected KEY=VALUE"),
            ("A=${B:?needed}", "line 1: required variable B is not set: needed"),
        ];
        for (text, expected) in cases {
            let err = parse_text(text).unwrap_err();
            assert_eq!(err, expected, "{text}");
            assert!(!err.contains("secret"));
        }
    }
}
