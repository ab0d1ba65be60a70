//! Shell words, as Compose reads the string forms of `command`, `entrypoint` and a healthcheck's
//! `CMD`: splitting a string into arguments (whitespace separates; single quotes are literal;
//! double quotes and backslashes escape), and quoting arguments back into one command line.
//! Pure; no IO.

/// Splits `text` into words. The error names what is unbalanced.
pub(crate) fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => word.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => word.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                word.push('\\');
                                word.push(x);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x) => word.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => word.push(x),
                    None => return Err("a backslash at the end escapes nothing".into()),
                }
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// One argument quoted for a POSIX shell: as it is when it needs no quotes, else in single
/// quotes (a `'` inside becomes `'\''`).
pub(crate) fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

/// Arguments joined into one shell command line that `split` reads back unchanged.
pub(crate) fn join(args: &[String]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_split_into_words_as_a_shell_would() {
        let cases: [(&str, &[&str], &str); 10] = [
            ("npm start", &["npm", "start"], "two words"),
            ("  a   b  ", &["a", "b"], "extra whitespace"),
            ("sh -c 'echo $HOME && ls'", &["sh", "-c", "echo $HOME && ls"], "single quotes"),
            (r#"echo "a \"b\" c""#, &["echo", r#"a "b" c"#], "escaped double quotes"),
            (r"a\ b c", &["a b", "c"], "escaped space"),
            (r#"x"y"'z'"#, &["xyz"], "adjacent quoted parts join"),
            ("''", &[""], "empty quotes are an empty word"),
            (r#""a\nb""#, &[r"a\nb"], "backslash before an ordinary character stays"),
            ("", &[], "empty string"),
            ("python -m http.server 8000", &["python", "-m", "http.server", "8000"], "module"),
        ];
        for (text, expected, reason) in cases {
            assert_eq!(split(text).unwrap(), expected, "{reason}: {text}");
        }
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        for text in ["echo 'a", "echo \"a", "echo a\\"] {
            assert!(split(text).is_err(), "{text}");
        }
    }

    #[test]
    fn joined_arguments_split_back_to_the_same_words() {
        let cases: [&[&str]; 4] = [
            &["curl", "-f", "http://localhost:8080/health"],
            &["sh", "-c", "echo 'it''s' && exit 1"],
            &["printf", "", "a b", "$HOME"],
            &["x=1", "ünï"],
        ];
        for args in cases {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert_eq!(split(&join(&args)).unwrap(), args);
        }
        assert_eq!(join(&["curl".into(), "-f".into(), "http://x/".into()]), "curl -f http://x/");
    }
}
