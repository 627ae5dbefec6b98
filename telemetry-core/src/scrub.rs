//! Scrubbing of `event_data` by key, as wire-format.md ("Scrubbing") specifies.
//!
//! Substring patterns (`password`, `secret`, ...) are looked for in the key
//! lowercased with `-`, `.` and ` ` read as `_`, so `passWord`, `X-Api-Key` and
//! `client.secret` all match. Whole-word patterns (`token`, `ssn`, `jwt`, `csrf`, `xsrf`) and
//! the `author`/`authors` exception to `auth` look at words, where camelCase humps
//! also split words (`userSSN` has the word `ssn`; `authorName` the word `author`).
//! Splitting humps is this SDK's reading of "whole words"; it is never applied to
//! the substring patterns, so it can only find more words, not hide a substring.

use serde_json::{Map, Value};

/// The string that replaces a scrubbed or redacted value.
pub const REDACTED: &str = "[REDACTED]";

const SUBSTRING_PATTERNS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "credential",
    "private_key",
    "cookie",
    "credit_card",
];

/// Wire format 1.1 made `token` a whole word: `access_token`, `accessToken` and
/// `x-token` are secrets; `tokens`, `input_tokens` and `tokenizer` (what an LLM
/// service reports) are data.
const WORD_PATTERNS: &[&str] = &["token", "ssn", "jwt", "csrf", "xsrf"];

/// The scrubbing rules a sink applies to `event_data` before an event leaves the process.
///
/// ```
/// use telemetry_core::Scrubber;
/// let mut data = serde_json::json!({"user": {"api-key": "k", "author": "ann"}, "email": "a@b"});
/// Scrubber::default().with_extra_patterns(["email"]).scrub_value(&mut data);
/// assert_eq!(data, serde_json::json!({"user": {"api-key": "[REDACTED]", "author": "ann"}, "email": "[REDACTED]"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubber {
    enabled: bool,
    extra: Vec<String>,
    /// Keys (read flat) that are data whatever the patterns say.
    allowed: Vec<String>,
}

impl Default for Scrubber {
    /// The wire format's patterns.
    fn default() -> Self {
        Scrubber {
            enabled: true,
            extra: Vec::new(),
            allowed: Vec::new(),
        }
    }
}

impl Scrubber {
    /// No scrubbing by key. `#[telemetry(redact)]` fields are still replaced:
    /// that is the type's contract, not configuration.
    pub fn disabled() -> Self {
        Scrubber {
            enabled: false,
            extra: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// Adds substring patterns, normalized like keys (`"E-Mail"` matches `e_mail_address`).
    pub fn with_extra_patterns<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.extra.extend(
            patterns
                .into_iter()
                .map(|p| normalize_key(p.as_ref(), false))
                .filter(|p| !p.is_empty()),
        );
        self
    }

    /// Keys that are data, never scrubbed: `password_strength`, `secret_santa_id`,
    /// `token_budget`. A key is allowed when its words are an entry's words (case,
    /// `-`, `.`, space and camelCase humps aside: `"password_strength"` allows
    /// `passwordStrength` and `Password-Strength`); never by substring, so
    /// allowing `token_budget` does not allow `access_token_budget`. What is
    /// inside an allowed key's object is still scrubbed by its own keys.
    ///
    /// ```
    /// use telemetry_core::Scrubber;
    /// let s = Scrubber::default().allow(["password_strength"]);
    /// assert!(!s.key_matches("passwordStrength") && !s.key_matches("password-strength"));
    /// assert!(s.key_matches("password") && s.key_matches("old_password_strength"));
    /// ```
    pub fn allow<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed.extend(
            keys.into_iter()
                .map(|k| normalize_key(k.as_ref(), true))
                .filter(|k| !k.is_empty()),
        );
        self
    }

    /// Whether scrubbing by key is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a value under `key` is replaced.
    pub fn key_matches(&self, key: &str) -> bool {
        if !self.enabled {
            return false;
        }
        with_normalized(key, |flat, words| {
            !self.is_allowed(words) && (builtin_matches(flat, words) || self.extra_matches(flat))
        })
    }

    /// Whether a key read as words is on the allow-list.
    fn is_allowed(&self, words: &[u8]) -> bool {
        self.allowed.iter().any(|k| k.as_bytes() == words)
    }

    /// [`key_matches`](Self::key_matches) for a key that lives as long as the
    /// program: a struct's field name, which serde hands over as `&'static str`.
    ///
    /// The built-in rules' answer for such a key never changes, so each thread
    /// remembers it by the key's address (a small direct-mapped table: a miss
    /// just computes it again). An event's field names are the same on every
    /// event of its type, so on the transport's worker nearly every lookup hits.
    pub fn static_key_matches(&self, key: &'static str) -> bool {
        if !self.enabled {
            return false;
        }
        if !self.allowed.is_empty() {
            // Rare: the remembered answers are the built-in rules' alone.
            return self.key_matches(key);
        }
        builtin_matches_remembered(key)
            || (!self.extra.is_empty() && with_normalized(key, |flat, _| self.extra_matches(flat)))
    }

    /// The configured extra patterns, on a key read flat.
    fn extra_matches(&self, flat: &[u8]) -> bool {
        self.extra.iter().any(|p| contains(flat, p.as_bytes()))
    }

    /// Scrubs every object in `value`, at any depth.
    pub fn scrub_value(&self, value: &mut Value) {
        if !self.enabled {
            return;
        }
        match value {
            Value::Object(map) => self.scrub_map(map),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            _ => {}
        }
    }

    /// Scrubs an object and everything in it.
    pub fn scrub_map(&self, map: &mut Map<String, Value>) {
        if !self.enabled {
            return;
        }
        for (key, value) in map.iter_mut() {
            if self.key_matches(key) {
                *value = Value::String(REDACTED.to_string());
            } else {
                self.scrub_value(value);
            }
        }
    }
}

/// Calls `f` with `key` read flat (`-`, `.`, ` ` as `_`, lowercase) and as words
/// (camelCase humps split too).
fn with_normalized<R>(key: &str, f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
    // Keys are nearly always short ASCII: normalize them on the stack.
    if key.is_ascii() && key.len() <= ASCII_FAST_LEN {
        let mut flat = [0u8; ASCII_FAST_LEN];
        let mut words = [0u8; 2 * ASCII_FAST_LEN];
        let (flat_len, words_len) = normalize_ascii(key.as_bytes(), &mut flat, &mut words);
        return f(&flat[..flat_len], &words[..words_len]);
    }
    f(
        normalize_key(key, false).as_bytes(),
        normalize_key(key, true).as_bytes(),
    )
}

/// The wire format's rules, on a key read flat and as words. Runs for every key
/// of every event on the transport's worker, so the substrings are found in one
/// pass that compares only where a pattern can start.
fn builtin_matches(flat: &[u8], words: &[u8]) -> bool {
    let mut has_auth = false;
    for (i, &b) in flat.iter().enumerate() {
        if !PATTERN_STARTS[usize::from(b)] {
            continue;
        }
        let rest = &flat[i..];
        if SUBSTRING_PATTERNS.iter().any(|p| rest.starts_with(p.as_bytes())) {
            return true;
        }
        has_auth |= rest.starts_with(b"auth");
    }
    if words
        .split(|&b| b == b'_')
        .any(|w| WORD_PATTERNS.iter().any(|p| p.as_bytes() == w))
    {
        return true;
    }
    // `auth` in the words (where humps split them) is always also in the flat key.
    has_auth
        && (has_auth_other_than_author(words)
            // Odd casing (`aUth`) can split `auth` itself into two words; then the
            // word reading has no `auth` at all, and the flat reading decides.
            || !contains(words, b"auth"))
}

/// Slots of the per-thread table of remembered answers.
const REMEMBERED: usize = 256;

/// One remembered answer: the key's address and length, and the answer.
type Remembered = std::cell::Cell<(usize, usize, bool)>;

thread_local! {
    static BUILTIN_ANSWERS: [Remembered; REMEMBERED] = const { [const { std::cell::Cell::new((0, 0, false)) }; REMEMBERED] };
}

/// [`builtin_matches`] for a `'static` key, remembered by its address. Sound
/// because `'static` text is never freed, so an address and length always
/// name the same bytes (two equal keys merged by the linker share an answer too).
fn builtin_matches_remembered(key: &'static str) -> bool {
    let (addr, len) = (key.as_ptr() as usize, key.len());
    if len == 0 {
        return false;
    }
    let slot = (addr ^ (addr >> 8) ^ len) % REMEMBERED;
    BUILTIN_ANSWERS
        .try_with(|answers| {
            let (known_addr, known_len, answer) = answers[slot].get();
            if (known_addr, known_len) == (addr, len) {
                return answer;
            }
            let answer = with_normalized(key, builtin_matches);
            answers[slot].set((addr, len, answer));
            answer
        })
        // While the thread's locals are torn down: compute it.
        .unwrap_or_else(|_| with_normalized(key, builtin_matches))
}

/// Longest key normalized on the stack.
const ASCII_FAST_LEN: usize = 64;

/// [`normalize_key`] both ways at once for an ASCII key, into stack buffers.
fn normalize_ascii(key: &[u8], flat: &mut [u8], words: &mut [u8]) -> (usize, usize) {
    let (mut f, mut w) = (0, 0);
    let mut prev_lower_or_digit = false;
    for &b in key {
        let mapped = match b {
            b'-' | b'.' | b' ' => b'_',
            b => b.to_ascii_lowercase(),
        };
        if b.is_ascii_uppercase() && prev_lower_or_digit {
            words[w] = b'_';
            w += 1;
        }
        prev_lower_or_digit = b.is_ascii_lowercase() || b.is_ascii_digit();
        flat[f] = mapped;
        words[w] = mapped;
        f += 1;
        w += 1;
    }
    (f, w)
}

/// `-`, `.` and ` ` to `_`, lowercase; with `split_humps`, camelCase humps to `_` too.
fn normalize_key(key: &str, split_humps: bool) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower_or_digit = false;
    for ch in key.chars() {
        if split_humps && ch.is_uppercase() && prev_lower_or_digit {
            out.push('_');
        }
        prev_lower_or_digit = ch.is_lowercase() || ch.is_ascii_digit();
        match ch {
            '-' | '.' | ' ' => out.push('_'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The bytes a built-in substring pattern (or `auth`) starts with.
const PATTERN_STARTS: [bool; 256] = {
    let mut starts = [false; 256];
    let mut i = 0;
    while i < SUBSTRING_PATTERNS.len() {
        starts[SUBSTRING_PATTERNS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    starts[b'a' as usize] = true;
    starts
};

/// Whether `needle` occurs in `haystack` (keys are short: a plain scan).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `auth` anywhere in a normalized key, except where the word is `author` or `authors`.
fn has_auth_other_than_author(key: &[u8]) -> bool {
    (0..key.len()).filter(|&at| key[at..].starts_with(b"auth")).any(|at| {
        // The rest of the word after `auth`: `or`/`ors` make it `author(s)` (also
        // `coauthor`), anything else (`orization`, `_token`, ``) is an auth value.
        let rest = &key[at + 4..];
        let tail = &rest[..rest.iter().position(|&b| b == b'_').unwrap_or(rest.len())];
        tail != b"or" && tail != b"ors"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn wire_format_patterns() {
        let s = Scrubber::default();
        for key in [
            "password",
            "user_password",
            "PASSWD",
            "client-secret",
            "access.token",
            "access_token",
            "accessToken",
            "x-token",
            "Token",
            "api key",
            "apiKey",
            "API_KEY",
            "Authorization",
            "oauth",
            "auth",
            "credentials",
            "private_key",
            "set-cookie",
            "credit_card_number",
            "ssn",
            "user_ssn",
            "userSSN",
            "jwt",
            "csrf",
            "x-xsrf-token",
            "xsrf",
        ] {
            assert!(s.key_matches(key), "{key} should match");
        }
        for key in [
            "author",
            "authors",
            "author_id",
            "co_author",
            "coauthor",
            "authorName",
            "session",
            "sid",
            "session_id",
            "user",
            "lesson",
            "ssns",
            "jwts_total",
            "assn",
            "tokens_used_x",
            "tokens",
            "input_tokens",
            "outputTokens",
            "tokenizer",
        ] {
            assert!(!s.key_matches(key), "{key} should not match");
        }
        // `token_count` has the word `token`: a secret by the whole-word rule.
        assert!(s.key_matches("token_count"));
    }

    #[test]
    fn scrubs_at_any_depth_including_arrays_and_whole_subtrees() {
        let mut v = json!({
            "a": [{"token": 1}, {"b": {"secret": {"x": 1}}}],
            "auth": {"nested": "whole value goes"},
            "author": "kept",
        });
        Scrubber::default().scrub_value(&mut v);
        assert_eq!(
            v,
            json!({
                "a": [{"token": "[REDACTED]"}, {"b": {"secret": "[REDACTED]"}}],
                "auth": "[REDACTED]",
                "author": "kept",
            })
        );
    }

    #[test]
    fn disabled_changes_nothing_and_extra_patterns_add() {
        let original = json!({"password": "p", "email": "e"});
        let mut v = original.clone();
        Scrubber::disabled().scrub_value(&mut v);
        assert_eq!(v, original);
        let mut v = original.clone();
        Scrubber::default()
            .with_extra_patterns(["E-Mail", "email"])
            .scrub_value(&mut v);
        assert_eq!(v, json!({"password": "[REDACTED]", "email": "[REDACTED]"}));
    }

    // ---- properties -------------------------------------------------------

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z_. -]{0,12}",
            prop::sample::select(vec![
                "password",
                "Auth",
                "author",
                "authors",
                "api-key",
                "ssn",
                "my ssn",
                "JWT",
                "xsrfToken",
                "session",
                "sid",
                "cookie",
                "token_count",
            ])
            .prop_map(str::to_owned),
            (
                "[a-z]{0,4}",
                prop::sample::select(vec!["secret", "auth", "passwd", "csrf"]),
                "[a-z_]{0,4}"
            )
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Walks `before` and `after` side by side and checks, at every object key,
    /// that a matching key's value is the marker and a non-matching key survives.
    fn check(s: &Scrubber, before: &Value, after: &Value) -> Result<(), TestCaseError> {
        match (before, after) {
            (Value::Object(b), Value::Object(a)) => {
                prop_assert_eq!(b.len(), a.len());
                for (k, bv) in b {
                    let av = a.get(k).ok_or_else(|| TestCaseError::fail(format!("lost key {k}")))?;
                    if s.key_matches(k) {
                        prop_assert_eq!(av, &Value::String(REDACTED.into()), "key {} kept its value", k);
                    } else {
                        check(s, bv, av)?;
                    }
                }
                Ok(())
            }
            (Value::Array(b), Value::Array(a)) => {
                prop_assert_eq!(b.len(), a.len());
                b.iter().zip(a).try_for_each(|(b, a)| check(s, b, a))
            }
            (b, a) => {
                prop_assert_eq!(b, a);
                Ok(())
            }
        }
    }

    /// A key that spells `pattern` with random casing and separators, inside random text.
    fn key_containing(patterns: &'static [&'static str]) -> impl Strategy<Value = String> {
        (
            prop::sample::select(patterns),
            "[a-z0-9]{0,5}",
            "[a-zA-Z0-9]{0,5}",
            prop::collection::vec(any::<bool>(), 16),
            prop::sample::select(vec!['_', '-', '.', ' ']),
        )
            .prop_map(|(pattern, prefix, suffix, upper, sep)| {
                let spelled: String = pattern
                    .chars()
                    .zip(upper.iter().cycle())
                    .map(|(c, up)| match c {
                        '_' => sep,
                        c if *up => c.to_ascii_uppercase(),
                        c => c,
                    })
                    .collect();
                format!("{prefix}{spelled}{suffix}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]

        #[test]
        fn scrubbing_keeps_non_matching_keys_and_leaves_no_matching_value(v in json_value()) {
            let s = Scrubber::default();
            let mut scrubbed = v.clone();
            s.scrub_value(&mut scrubbed);
            check(&s, &v, &scrubbed)?;
        }

        /// Independent of `key_matches`' own logic: built to contain a pattern, so must match.
        #[test]
        fn any_spelling_of_a_substring_pattern_matches(key in key_containing(SUBSTRING_PATTERNS)) {
            prop_assert!(Scrubber::default().key_matches(&key), "{} was not matched", key);
        }

        #[test]
        fn any_spelling_of_a_whole_word_pattern_between_separators_matches(
            word in prop::sample::select(WORD_PATTERNS),
            upper in any::<bool>(),
            before in "([a-z]{1,5}_)?",
            after in "(_[a-z]{1,5})?",
        ) {
            let word = if upper { word.to_ascii_uppercase() } else { word.to_string() };
            let key = format!("{before}{word}{after}");
            prop_assert!(Scrubber::default().key_matches(&key), "{} was not matched", key);
        }

        /// The stack fast path and the general path read every ASCII key alike.
        #[test]
        fn ascii_fast_path_agrees_with_the_general_path(key in "[a-zA-Z0-9_. -]{0,64}") {
            let s = Scrubber::default();
            let general = builtin_matches(normalize_key(&key, false).as_bytes(), normalize_key(&key, true).as_bytes());
            prop_assert_eq!(s.key_matches(&key), general);
        }

        /// An allowed key is never scrubbed however it is spelled; every other key
        /// gets the default rules' answer, and what is inside the allowed key is
        /// still scrubbed.
        #[test]
        fn allowed_keys_are_kept_and_nothing_else_changes(
            allowed in key_containing(SUBSTRING_PATTERNS),
            other in "[a-zA-Z_.-]{0,14}|(api|auth|pass|tok|sec)[a-zA-Z_]{0,6}",
        ) {
            let s = Scrubber::default().allow([allowed.as_str()]);
            prop_assert!(!s.key_matches(&allowed), "{} was scrubbed", allowed);
            let respelled = allowed.replace('_', "-");
            prop_assert!(!s.key_matches(&respelled), "{} was scrubbed", respelled);
            if normalize_key(&other, true) != normalize_key(&allowed, true) {
                prop_assert_eq!(s.key_matches(&other), Scrubber::default().key_matches(&other), "{}", other);
            }
            let inner = if normalize_key(&allowed, false) == "password" { "secret" } else { "password" };
            let mut data = serde_json::json!({ allowed.clone(): {inner: "p", "n": 1} });
            s.scrub_value(&mut data);
            prop_assert_eq!(&data[&allowed], &serde_json::json!({inner: REDACTED, "n": 1}));
        }

        /// Remembered answers for `'static` keys are the computed ones, with and
        /// without extra patterns, however many keys share the table's slots.
        #[test]
        fn static_keys_get_the_same_answers(
            keys in prop::collection::vec("[a-zA-Z_.-]{0,14}|(api|auth|pass|tok|sec)[a-zA-Z_]{0,6}", 1..300),
            extra in prop::collection::vec("[a-z]{1,3}", 0..2),
        ) {
            let scrubbers = [
                Scrubber::default(),
                Scrubber::default().with_extra_patterns(extra),
                Scrubber::disabled(),
                Scrubber::default().allow(["api_key", "token"]),
            ];
            // Leaked to get `'static` keys, as struct field names are.
            let keys: Vec<&'static str> = keys.into_iter().map(|k| &*Box::leak(k.into_boxed_str())).collect();
            for _ in 0..2 {
                for key in &keys {
                    for s in &scrubbers {
                        prop_assert_eq!(s.static_key_matches(key), s.key_matches(key), "{}", key);
                    }
                }
            }
        }

        #[test]
        fn scrubbing_is_idempotent(v in json_value(), extra in prop::collection::vec("[a-z]{1,4}", 0..2)) {
            let s = Scrubber::default().with_extra_patterns(extra);
            let mut once = v;
            s.scrub_value(&mut once);
            let mut twice = once.clone();
            s.scrub_value(&mut twice);
            prop_assert_eq!(once, twice);
        }
    }
}
