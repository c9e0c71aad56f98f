//! Filters end to end: parse, type-check and evaluate against a fixed set of connections, and
//! reject bad filters with a position and a readable reason.

use super::{Filter, FilterError, MAX_CLAUSES, MAX_DEPTH, MAX_FILTER_BYTES, Subject};

/// Labelled connections every valid filter is evaluated against.
const SUBJECTS: [(&str, Subject<'static>); 6] = [
    (
        "anon",
        Subject {
            user_id: None,
            connection_id: "conn-anon",
            groups: &["g1"],
        },
    ),
    (
        "bob",
        Subject {
            user_id: Some("bob"),
            connection_id: "c1",
            groups: &[],
        },
    ),
    (
        "BOB",
        Subject {
            user_id: Some("BOB"),
            connection_id: "c2",
            groups: &["g1", "g2"],
        },
    ),
    (
        "listener",
        Subject {
            user_id: Some("listener-7"),
            connection_id: "c3",
            groups: &["g1", "g3"],
        },
    ),
    (
        "quote",
        Subject {
            user_id: Some("o'neil"),
            connection_id: "x'y",
            groups: &["g'q"],
        },
    ),
    (
        "unicode",
        Subject {
            user_id: Some("  Zoë  "),
            connection_id: "ünï-ćode",
            groups: &["日本", "g2"],
        },
    ),
];

const ALL: &str = "anon bob BOB listener quote unicode";
const WITH_USER: &str = "bob BOB listener quote unicode";

/// Labels of the subjects `filter` selects, space-separated, in [`SUBJECTS`] order.
fn selected(filter: &Filter) -> String {
    SUBJECTS
        .iter()
        .filter(|(_, subject)| filter.matches(subject))
        .map(|(label, _)| *label)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that each filter parses and selects exactly the labelled subjects.
fn assert_selections(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        let filter = Filter::parse(text).unwrap_or_else(|err| panic!("{text:?}: {err}"));
        assert_eq!(selected(&filter), *expected, "filter {text:?}");
    }
}

/// Asserts that each filter is rejected at `position` near `near`, with `fragment` in the
/// message.
fn assert_rejections(cases: &[(&str, usize, &str, &str)]) {
    for (text, position, near, fragment) in cases {
        let err = Filter::parse(text).expect_err(text);
        assert_eq!(
            (err.position, err.near.as_str()),
            (*position, *near),
            "filter {text:?}: {err}"
        );
        assert!(
            err.message.contains(fragment),
            "filter {text:?}: {:?} lacks {fragment:?}",
            err.message
        );
    }
}

#[test]
fn comparisons_select_by_id() {
    assert_selections(&[
        ("userId eq 'bob'", "bob"),
        ("userId eq 'u1'", ""),
        ("userId ne 'bob'", "anon BOB listener quote unicode"),
        ("userId eq 'o''neil'", "quote"),
        ("connectionId eq 'x''y'", "quote"),
        (
            "connectionId ne 'c1' or userId eq null",
            "anon BOB listener quote unicode",
        ),
        ("userId eq null", "anon"),
        ("userId ne null", WITH_USER),
        ("null eq null", ALL),
        ("null ne null", ""),
        // Ordinal: upper case and spaces sort before lower case; null orders with nothing.
        ("userId gt 'a'", "bob listener quote"),
        ("userId lt null", ""),
        ("not (userId gt 'a')", "anon BOB unicode"),
        (
            "userId ge 'listener-7' and userId le 'listener-7'",
            "listener",
        ),
        ("1 lt 2", ALL),
        ("-1 lt +1", ALL),
        ("startswith(userId, 'b') eq true", "bob"),
        ("(userId eq 'bob') ne false", "bob"),
        ("startswith(userId, 'b') eq null", ""),
    ]);
}

#[test]
fn in_selects_by_list_or_group() {
    assert_selections(&[
        ("userId in ('bob', 'BOB')", "bob BOB"),
        ("userId in ('x', null)", "anon"),
        ("connectionId in ('c1', 'c3', null)", "bob listener"),
        ("'g1' in groups", "anon BOB listener"),
        ("'g1' in (groups)", "anon BOB listener"),
        ("'g''q' in groups", "quote"),
        ("'日本' in groups", "unicode"),
        ("userId in groups", ""),
        ("length(groups) in (0, 1)", "anon bob quote"),
        ("'g1' in groups and not ('g2' in groups)", "anon listener"),
    ]);
}

#[test]
fn string_functions() {
    assert_selections(&[
        ("startswith(userId, 'listener-')", "listener"),
        ("endswith(connectionId, 'ode')", "unicode"),
        ("contains(connectionId, 'c')", "anon bob BOB listener"),
        ("contains(userId, '')", WITH_USER),
        ("startswith(userId, null)", ""),
        ("tolower(userId) eq 'bob'", "bob BOB"),
        ("toupper(userId) eq 'BOB'", "bob BOB"),
        ("tolower(connectionId) eq 'ünï-ćode'", "unicode"),
        ("toupper(connectionId) eq 'ÜNÏ-ĆODE'", "unicode"),
        ("trim(userId) eq 'Zoë'", "unicode"),
        ("substring(userId, 1, 2) eq 'ob'", "bob"),
        ("substring(connectionId, 5) eq 'anon'", "anon"),
        ("substring(userId, 100) eq ''", WITH_USER),
        ("substring(userId, -3, 4) eq 'list'", "listener"),
        ("indexof(userId, 'o') eq 1", "bob"),
        ("indexof(userId, 'ë') eq 4", "unicode"),
        ("indexof(userId, 'zzz') eq -1", WITH_USER),
        ("indexof(connectionId, '-') ge 0", "anon unicode"),
        ("concat(userId, '-x') eq 'bob-x'", "bob"),
        ("concat(userId, null) eq null", ALL),
        ("concat(concat('[', connectionId), ']') eq '[c2]'", "BOB"),
        ("length(userId) eq 7", "unicode"),
        ("length(userId) eq null", "anon"),
        (
            "length(userId) ge 3 and length(userId) le 6",
            "bob BOB quote",
        ),
        ("length(trim(tolower(userId))) eq 3", "bob BOB unicode"),
        ("length(groups) gt 1", "BOB listener unicode"),
        ("length(groups) eq 0", "bob"),
        ("3 eq length('abc')", ALL),
    ]);
}

#[test]
fn precedence_and_grouping() {
    assert_selections(&[
        // `and` binds tighter than `or`.
        (
            "userId eq 'bob' or userId eq 'BOB' and 'g3' in groups",
            "bob",
        ),
        (
            "(userId eq 'bob' or userId eq 'BOB') and 'g2' in groups",
            "BOB",
        ),
        (
            "not ('g1' in groups) and length(groups) gt 0",
            "quote unicode",
        ),
        ("not not (userId eq 'bob')", "bob"),
        ("not false and true", ALL),
        ("false or false or true and not false", ALL),
        ("true", ALL),
        ("false", ""),
        ("((((userId eq 'bob'))))", "bob"),
        ("(((userId)) eq ('bob'))", "bob"),
    ]);
}

#[test]
fn names_are_case_insensitive_values_are_not() {
    assert_selections(&[
        ("USERID EQ 'bob'", "bob"),
        ("UserId Eq 'bob' AND Length(Groups) eq 0", "bob"),
        ("StartsWith(userId, 'BO')", "BOB"),
        ("userId eq NULL or CONNECTIONID in ('c1')", "anon bob"),
        ("\t userId\neq 'bob'  ", "bob"),
    ]);
}

#[test]
fn syntax_errors_point_at_the_token() {
    assert_rejections(&[
        ("userId eq", 9, "", "expected a value after 'eq'"),
        ("", 0, "", "expected an expression"),
        ("   ", 3, "", "expected an expression"),
        (
            "userId eq 'a' and",
            17,
            "",
            "expected an expression after 'and'",
        ),
        ("not", 3, "", "expected an expression after 'not'"),
        ("userId in ('a',)", 15, ")", "expected a value after ','"),
        ("userId eq 'bob", 10, "'bob", "unterminated string"),
        (
            "(userId eq 'a'",
            14,
            "",
            "expected ')' to close the '(' at position 0",
        ),
        ("userId eq 'a')", 13, ")", "unmatched ')'"),
        ("userId 'a'", 7, "'a'", "expected a comparison operator"),
        ("userId eq 'a' # x", 14, "#", "unexpected character '#'"),
        ("foo eq 'a'", 0, "foo", "unknown identifier 'foo'"),
        (
            "lower(userId) eq 'a'",
            0,
            "lower",
            "unknown function 'lower'",
        ),
        (
            "length eq 1",
            7,
            "eq",
            "expected '(' after the function name 'length'",
        ),
        ("userId eq 'a' eq true", 14, "eq", "can't be chained"),
        (
            "userId eq - 1",
            10,
            "-",
            "a sign must be followed by digits",
        ),
        (
            "99999999999999999999 eq 1",
            0,
            "99999999999999999999",
            "out of range",
        ),
        (
            "substring(userId, 1, 2x) eq 'a'",
            21,
            "2x",
            "invalid number",
        ),
        // Positions count characters, not bytes.
        ("'ü' eq", 6, "", "expected a value after 'eq'"),
    ]);
}

#[test]
fn type_errors_are_found_before_evaluation() {
    assert_rejections(&[
        (
            "not length(userId)",
            4,
            "length(userId)",
            "the operand of 'not' must be a bool, found an int",
        ),
        (
            "not length(userId) gt 5",
            4,
            "length(userId)",
            "the operand of 'not' must be a bool, found an int",
        ),
        (
            "not 'g1' in groups",
            4,
            "'g1'",
            "the operand of 'not' must be a bool, found a string",
        ),
        ("userId eq 1", 10, "1", "can't compare a string with an int"),
        (
            "userId",
            0,
            "userId",
            "the filter must be a bool, found a string",
        ),
        ("null", 0, "null", "the filter must be a bool, found null"),
        (
            "userId eq 'a' and 5",
            18,
            "5",
            "an operand of 'and' must be a bool, found an int",
        ),
        (
            "substring(userId) eq 'a'",
            0,
            "substring(userId)",
            "'substring' takes 2 or 3 arguments, found 1",
        ),
        (
            "tolower(userId, 'x') eq 'a'",
            0,
            "tolower(userId, 'x')",
            "'tolower' takes 1 argument, found 2",
        ),
        (
            "startswith() eq true",
            0,
            "startswith()",
            "'startswith' takes 2 arguments, found 0",
        ),
        (
            "groups eq 'g1'",
            0,
            "groups",
            "'groups' can only be used with 'in' or length()",
        ),
        (
            "'g1' in userId",
            8,
            "userId",
            "the right side of 'in' must be a parenthesized list or 'groups'",
        ),
        (
            "1 in groups",
            0,
            "1",
            "a value looked up in 'groups' must be a string, found an int",
        ),
        (
            "userId in ('a', 1)",
            16,
            "1",
            "can't compare a string with an int",
        ),
        (
            "startswith(userId, 1)",
            19,
            "1",
            "argument 2 of 'startswith' must be a string, found an int",
        ),
        (
            "contains(groups, 'g1')",
            9,
            "groups",
            "argument 1 of 'contains' must be a string, found a collection",
        ),
        (
            "length(1) eq 1",
            7,
            "1",
            "the argument of 'length' must be a string or a collection, found an int",
        ),
        (
            "substring(userId, '1') eq 'b'",
            18,
            "'1'",
            "argument 2 of 'substring' must be an int, found a string",
        ),
        (
            "startswith(userId, 'a') gt false",
            0,
            "startswith(userId, 'a') gt false",
            "'gt' can't order bools",
        ),
    ]);
}

#[test]
fn display_names_filter_position_and_token() {
    let err = Filter::parse("userId eq").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid syntax for 'userId eq' at position 9 near the end: expected a value after 'eq'"
    );
    let err = Filter::parse("not length(userId)").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid syntax for 'not length(userId)' at position 4 near 'length(userId)': \
         the operand of 'not' must be a bool, found an int"
    );
}

/// `userId eq 'u0' or userId eq 'u1' ...` with `n` clauses.
fn clauses(n: usize) -> String {
    (0..n)
        .map(|i| format!("userId eq 'u{i}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[test]
fn clause_count_is_bounded() {
    let filter = Filter::parse(&clauses(MAX_CLAUSES)).expect("100 clauses are allowed");
    assert_eq!(selected(&filter), "");
    let err = Filter::parse(&clauses(MAX_CLAUSES + 1)).unwrap_err();
    assert!(err.message.contains("at most 100 clauses"), "{err}");
    assert_eq!(err.near, "or");
    let mixed = format!("({}) and ({})", clauses(50), clauses(51));
    assert!(Filter::parse(&mixed).is_err());
}

#[test]
fn nesting_depth_is_bounded() {
    let nested =
        |open: &str, close: &str, n: usize| format!("{}true{}", open.repeat(n), close.repeat(n));
    for (open, close) in [("(", ")"), ("not ", "")] {
        assert!(Filter::parse(&nested(open, close, MAX_DEPTH)).is_ok());
        let err = Filter::parse(&nested(open, close, MAX_DEPTH + 1)).unwrap_err();
        assert!(err.message.contains("nested at most 32 levels"), "{err}");
    }
    let calls = format!(
        "{}userId{} eq 'a'",
        "tolower(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(Filter::parse(&calls).is_err());
    // Far deeper than any stack would survive unbounded, yet within the length cap.
    let err = Filter::parse(&"(".repeat(MAX_FILTER_BYTES)).unwrap_err();
    assert_eq!(err.position, MAX_DEPTH);
}

#[test]
fn length_is_bounded() {
    let long_list = |n: usize| {
        let items = (0..n).map(|i| format!("'u{i}'")).collect::<Vec<_>>();
        format!("userId in ({}, 'bob')", items.join(","))
    };
    let filter = Filter::parse(&long_list(500)).expect("a long list within the cap");
    assert_eq!(selected(&filter), "bob");
    let text = long_list(1000);
    assert!(text.len() > MAX_FILTER_BYTES);
    let err = Filter::parse(&text).unwrap_err();
    assert!(err.message.contains("at most 4096 bytes"), "{err}");
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(x >> 33).unwrap_or(0) % n
    }
}

/// Parses `text`; errors must point inside it and display, filters must evaluate.
fn exercise(text: &str) -> Result<(), FilterError> {
    match Filter::parse(text) {
        Ok(filter) => {
            for (_, subject) in &SUBJECTS {
                filter.matches(subject);
            }
            Ok(())
        }
        Err(err) => {
            assert!(err.position <= text.chars().count(), "{text:?}: {err}");
            assert!(err.to_string().starts_with("Invalid syntax for '"));
            Err(err)
        }
    }
}

#[test]
fn random_token_sequences_never_panic() {
    const TOKENS: [&str; 42] = [
        "userId",
        "connectionId",
        "groups",
        "eq",
        "ne",
        "gt",
        "le",
        "in",
        "and",
        "or",
        "not",
        "(",
        ")",
        ",",
        "'g1'",
        "'bob'",
        "''",
        "'o''neil'",
        "'",
        "0",
        "1",
        "-1",
        "-",
        "9223372036854775807",
        "null",
        "true",
        "false",
        "tolower",
        "toupper",
        "trim",
        "substring",
        "concat",
        "indexof",
        "length",
        "startswith",
        "endswith",
        "contains",
        "é",
        "日本",
        "#",
        "\t",
        "x",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut valid = 0;
    for _ in 0..20_000 {
        let len = 1 + rng.below(24);
        let mut text = String::new();
        for _ in 0..len {
            text.push_str(TOKENS[rng.below(TOKENS.len())]);
            if rng.below(4) != 0 {
                text.push(' ');
            }
        }
        valid += usize::from(exercise(&text).is_ok());
    }
    // The generator must reach evaluation, not just the error paths.
    assert!(valid > 0, "no random filter was valid");
}

#[test]
fn random_characters_never_panic() {
    const CHARS: [char; 20] = [
        'u',
        's',
        'e',
        'r',
        'I',
        'd',
        'q',
        ' ',
        '\'',
        '(',
        ')',
        ',',
        '-',
        '+',
        '0',
        '9',
        'é',
        '日',
        '\u{1f600}',
        '\n',
    ];
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(40);
        let text: String = (0..len).map(|_| CHARS[rng.below(CHARS.len())]).collect();
        let _ = exercise(&text);
    }
}

/// A random well-typed expression of type `ty` ("bool", "string" or "int"), at most `depth`
/// levels deep.
fn well_typed(rng: &mut Rng, ty: &str, depth: usize) -> String {
    const STRINGS: [&str; 8] = [
        "'bob'",
        "''",
        "'o''neil'",
        "'日本'",
        "'  Zoë  '",
        "'c'",
        "null",
        "userId",
    ];
    const INTS: [&str; 7] = ["-1", "0", "1", "3", "100", "-9223372036854775808", "null"];
    const TESTS: [&str; 3] = ["startswith", "endswith", "contains"];
    const CASES: [&str; 3] = ["tolower", "toupper", "trim"];
    const OPS: [&str; 6] = ["eq", "ne", "gt", "ge", "lt", "le"];
    let choice = rng.below(if depth == 0 { 3 } else { 9 });
    let (string, int) = (STRINGS[rng.below(8)], INTS[rng.below(7)]);
    let (test, case, op) = (TESTS[rng.below(3)], CASES[rng.below(3)], OPS[rng.below(6)]);
    let mut sub = |ty| well_typed(rng, ty, depth.saturating_sub(1));
    match (ty, choice) {
        ("bool", 0) => "'g1' in groups".to_owned(),
        ("bool", 1) => format!("connectionId {op} {string}"),
        ("bool", 2) => format!("{int} {op} length(groups)"),
        ("bool", 3) => format!("{} {op} {}", sub("string"), sub("string")),
        ("bool", 4) => format!("{} {op} {}", sub("int"), sub("int")),
        ("bool", 5) => format!("not ({})", sub("bool")),
        ("bool", 6) => format!("({} and {})", sub("bool"), sub("bool")),
        ("bool", 7) => format!("{} or {}", sub("bool"), sub("bool")),
        ("bool", _) => format!(
            "{test}({}, {}) ne false and ({}) in (true, {})",
            sub("string"),
            sub("string"),
            sub("bool"),
            sub("bool")
        ),
        ("string", 0 | 1) => string.to_owned(),
        ("string", 2) => "connectionId".to_owned(),
        ("string", 3 | 4) => format!("{case}({})", sub("string")),
        ("string", 5 | 6) => {
            format!(
                "substring({}, {}, {})",
                sub("string"),
                sub("int"),
                sub("int")
            )
        }
        ("string", _) => format!("concat({}, {})", sub("string"), sub("string")),
        (_, 0 | 1) => int.to_owned(),
        (_, 2) => "length(groups)".to_owned(),
        (_, 3..=5) => format!("length({})", sub("string")),
        (_, _) => format!("indexof({}, {})", sub("string"), sub("string")),
    }
}

#[test]
fn random_well_typed_filters_parse_and_their_mutants_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let text = well_typed(&mut rng, "bool", 4);
        if text.len() > MAX_FILTER_BYTES {
            continue;
        }
        if let Err(err) = exercise(&text) {
            panic!("{text:?} is well typed: {err}");
        }
        // Cut out a random stretch: mostly syntax or type errors, sometimes another filter.
        let chars: Vec<char> = text.chars().collect();
        let from = rng.below(chars.len());
        let to = from + rng.below(chars.len() - from + 1);
        let mutant: String = chars[..from].iter().chain(&chars[to..]).collect();
        let _ = exercise(&mutant);
    }
}

#[test]
fn a_filter_is_reusable_and_cloneable() {
    let filter = Filter::parse("'g1' in groups").expect("valid");
    let copy = filter.clone();
    assert_eq!(selected(&filter), selected(&copy));
    assert!(format!("{filter:?}").contains("InGroups"));
}
