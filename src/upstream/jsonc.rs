//! The JSON dialect .NET configuration files are written in: standard JSON plus `//` and
//! `/* */` comments and trailing commas. [`to_json`] blanks those out so serde_json can parse
//! the text, keeping every other byte in place so error positions still point at the file.

/// Replaces comments and trailing commas with spaces (newlines inside comments are kept).
pub(super) fn to_json(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let bytes = text.as_bytes();
    // The index of a comma that may turn out to be trailing, until something other than white
    // space or a comment follows it.
    let mut comma: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                comma = None;
                i = skip_string(bytes, i);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(bytes.len(), |n| i + n);
                blank(&mut out[i..end]);
                i = end;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = bytes[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                blank(&mut out[i..end]);
                i = end;
                continue;
            }
            b',' => comma = Some(i),
            b']' | b'}' => {
                if let Some(at) = comma.take() {
                    out[at] = b' ';
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => comma = None,
        }
        i += 1;
    }
    // Only ASCII bytes were replaced, by ASCII spaces, so the text is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// The index just past the string literal starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Spaces over a comment, keeping line breaks so line numbers stay right.
fn blank(range: &mut [u8]) {
    for b in range {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_are_blanked() {
        let text = "{\n  // a comment, with \"quotes\"\n  \"a\": \"x // not a comment, /* nor this */\", /* b */\n  \"b\": [1, 2,],\n}\n";
        let json = to_json(text);
        assert_eq!(json.len(), text.len());
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["a"], "x // not a comment, /* nor this */");
        assert_eq!(value["b"], serde_json::json!([1, 2]));
    }

    #[test]
    fn escaped_quotes_stay_inside_strings_and_positions_are_kept() {
        let text = "{\"a\": \"q\\\"//\", /* x\n y */ \"b\": 1 ,, }";
        let json = to_json(text);
        assert!(json.contains("\"q\\\"//\""));
        assert_eq!(json.lines().count(), 2);
        // Two commas in a row are not a trailing comma: that stays an error.
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_err());
    }
}
