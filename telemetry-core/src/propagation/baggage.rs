//! The `baggage` header (W3C Baggage).

use super::{split_once, trim_ows};

/// Most members [`Baggage`] keeps and sends: W3C Baggage's "Limits" say a platform MUST propagate
/// at least 64.
pub const MAX_BAGGAGE_MEMBERS: usize = 64;
/// Most bytes of the header [`Baggage`] keeps and sends: W3C Baggage's "Limits" say a platform MUST
/// propagate a baggage-string of at least 8192 bytes.
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// One `key=value;property...` member of a [`Baggage`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BaggageMember {
    key: String,
    value: String,
    properties: Vec<String>,
}

impl BaggageMember {
    /// The key, an RFC 7230 token.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, percent-decoded.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties as they arrived (`p=x` or `flag`, outer whitespace trimmed), in order. The
    /// spec gives them no meaning, so they are only carried along.
    pub fn properties(&self) -> &[String] {
        &self.properties
    }

    /// Appends this member as header text: `key=value` with the value percent-encoded, then
    /// `;property` for each property.
    fn write_header(&self, out: &mut String) {
        out.push_str(&self.key);
        out.push('=');
        percent_encode(&self.value, out);
        for property in &self.properties {
            out.push(';');
            out.push_str(property);
        }
    }
}

/// A parsed `baggage` header: user-supplied key/value members, in order, keys unique.
///
/// Parsing is lenient, unlike `tracestate`: baggage is best-effort data that many parties write,
/// and the spec lets a system remove an entry that is not in its format, so one bad member is
/// dropped and the others are kept. A duplicate key takes the last value, in the place of the first
/// (the spec allows any deduplication). What is kept always fits the limits
/// ([`MAX_BAGGAGE_MEMBERS`], [`MAX_BAGGAGE_BYTES`]), so [`to_header`](Self::to_header) sends all
/// of a parsed baggage.
///
/// ```
/// use telemetry_core::propagation::Baggage;
///
/// let headers = ["userId=alice, serverNode = DF%2028", "isProduction=false;ttl=60"];
/// let mut baggage = Baggage::parse(headers.iter().map(|h| h.as_bytes()));
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(baggage.iter().nth(2).unwrap().properties(), ["ttl=60"]);
///
/// baggage.insert("region", "eu west");
/// assert_eq!(
///     baggage.to_header().as_deref(),
///     Some("userId=alice,serverNode=DF%2028,isProduction=false;ttl=60,region=eu%20west")
/// );
///
/// // A malformed member is dropped and the others are kept.
/// let baggage = Baggage::parse(["a=1,b c=2,d=%zz,e=5".as_bytes()]);
/// assert_eq!(baggage.to_header().as_deref(), Some("a=1,e=5"));
/// ```
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Baggage {
    members: Vec<BaggageMember>,
}

impl Baggage {
    /// An empty baggage.
    pub fn new() -> Self {
        Baggage::default()
    }

    /// Parses the `baggage` header from all the values the request carried, read in order as one
    /// list ("Multiple baggage headers are allowed").
    ///
    /// Invalid members are dropped, as are whole members past the limits, from the end.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Baggage {
        let mut members: Vec<BaggageMember> = Vec::new();
        for value in values {
            for member in value.split(|b| *b == b',').filter_map(parse_member) {
                if let Some(same_key) = members.iter_mut().find(|m| m.key == member.key) {
                    *same_key = member;
                } else if members.len() < MAX_BAGGAGE_MEMBERS {
                    members.push(member);
                }
                // A new key past the 64th could never be sent. Skipping it here, rather than
                // keeping all and cutting later, keeps the work per member bounded.
            }
        }
        let mut baggage = Baggage { members };
        let (fitting, _) = baggage.header_within_limits();
        baggage.members.truncate(fitting);
        baggage
    }

    /// The value of `key`'s member.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members.iter().find(|m| m.key == key).map(|m| m.value.as_str())
    }

    /// Sets `key` to `value`, without properties: a member with the same key is replaced in place,
    /// else the member goes last.
    ///
    /// Returns `false`, changing nothing, when `key` is not an RFC 7230 token (letters, digits and
    /// ``! # $ % & ' * + - . ^ _ ` | ~``). The value may be any text; it is percent-encoded when
    /// sent. Nothing is dropped here: [`to_header`](Self::to_header) keeps to the limits.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> bool {
        let key = key.into();
        if !is_token(key.as_bytes()) {
            return false;
        }
        let member = BaggageMember {
            key,
            value: value.into(),
            properties: Vec::new(),
        };
        match self.members.iter_mut().find(|m| m.key == member.key) {
            Some(same_key) => *same_key = member,
            None => self.members.push(member),
        }
        true
    }

    /// Removes `key`'s member and returns it.
    pub fn remove(&mut self, key: &str) -> Option<BaggageMember> {
        let at = self.members.iter().position(|m| m.key == key)?;
        Some(self.members.remove(at))
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BaggageMember> {
        self.members.iter()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The header value to send, `None` when there is nothing to send.
    ///
    /// Values are percent-encoded; properties are sent as they arrived. The header keeps to the
    /// limits by dropping whole members from the end (the spec forbids sending part of a member
    /// and leaves the choice of which to drop open).
    pub fn to_header(&self) -> Option<String> {
        let (count, header) = self.header_within_limits();
        (count > 0).then_some(header)
    }

    /// The header of the longest run of members from the first that fits the limits, and how many
    /// members it holds.
    fn header_within_limits(&self) -> (usize, String) {
        let mut header = String::new();
        let mut count = 0;
        let mut text = String::new();
        for member in self.members.iter().take(MAX_BAGGAGE_MEMBERS) {
            text.clear();
            member.write_header(&mut text);
            let comma = usize::from(count > 0);
            if header.len() + comma + text.len() > MAX_BAGGAGE_BYTES {
                break;
            }
            if count > 0 {
                header.push(',');
            }
            header.push_str(&text);
            count += 1;
        }
        (count, header)
    }
}

/// One list member, `None` when it breaks the grammar ("Definition"):
/// `list-member = key OWS "=" OWS value *( OWS ";" OWS property )`.
fn parse_member(raw: &[u8]) -> Option<BaggageMember> {
    let mut parts = raw.split(|b| *b == b';');
    // The value may hold `=` ("Parsers MUST NOT assume that the equal sign is only used to separate
    // key and value"), so the key ends at the first one.
    let (key, value) = split_once(parts.next()?, b'=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !value.iter().all(|b| is_baggage_octet(*b)) {
        return None;
    }
    Some(BaggageMember {
        // A token is ASCII, so the conversion loses nothing.
        key: String::from_utf8_lossy(key).into_owned(),
        value: percent_decode(value)?,
        properties: parts.map(parse_property).collect::<Option<_>>()?,
    })
}

/// One property as it arrived, outer whitespace trimmed; `None` when it breaks
/// `property = key OWS "=" OWS value / key OWS`.
fn parse_property(raw: &[u8]) -> Option<String> {
    let property = trim_ows(raw);
    let (key, value) = match split_once(property, b'=') {
        Some((key, value)) => (trim_ows(key), trim_ows(value)),
        None => (property, &b""[..]),
    };
    let valid = is_token(key) && value.iter().all(|b| is_baggage_octet(*b));
    // Only ASCII got through, so the conversion loses nothing.
    valid.then(|| String::from_utf8_lossy(property).into_owned())
}

/// Whether `bytes` is an RFC 7230 token (section 3.2.6): one or more `tchar`.
fn is_token(bytes: &[u8]) -> bool {
    let is_tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    !bytes.is_empty() && bytes.iter().all(is_tchar)
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`: printable ASCII but space, `"`,
/// `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// The value's text. Octets that are not UTF-8 become U+FFFD, as the spec's "value" section says;
/// a `%` not followed by two hex digits makes the member malformed (`None`).
fn percent_decode(raw: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.iter();
    while let Some(&b) = rest.next() {
        if b == b'%' {
            let high = rest.next().and_then(|h| hex_value(*h))?;
            let low = rest.next().and_then(|l| hex_value(*l))?;
            bytes.push((high << 4) | low);
        } else {
            bytes.push(b);
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Appends `value` percent-encoded: every byte that is not a baggage-octet, and `%` itself (so that
/// decoding gives `value` back), as `%XX`.
fn percent_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if is_baggage_octet(b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(value: &str) -> Baggage {
        Baggage::parse([value.as_bytes()])
    }

    fn pairs(baggage: &Baggage) -> Vec<(&str, &str)> {
        baggage.iter().map(|m| (m.key(), m.value())).collect()
    }

    /// `count` members `k0=v,k1=v,...`.
    fn members(count: usize) -> String {
        (0..count).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn parses_members_with_whitespace_around_keys_and_values() {
        let baggage = Baggage::parse([
            "userId =   alice".as_bytes(),
            b"serverNode = DF%2028, isProduction = false",
        ]);
        assert_eq!(
            pairs(&baggage),
            [("userId", "alice"), ("serverNode", "DF 28"), ("isProduction", "false")]
        );
        assert_eq!(baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(baggage.get("userid"), None, "keys are case-sensitive");
    }

    #[test]
    fn splits_key_and_value_at_the_first_equals_sign() {
        assert_eq!(parse("k=b==").get("k"), Some("b=="));
        assert_eq!(parse("k==").get("k"), Some("="));
    }

    #[test]
    fn keeps_an_empty_value() {
        assert_eq!(pairs(&parse("k=,j= ")), [("k", ""), ("j", "")]);
        assert_eq!(parse("k=").to_header().as_deref(), Some("k="));
    }

    #[test]
    fn percent_encoding_round_trips() {
        let value = "a b,c;d%e\"f\\g é 日本 \u{1}=";
        let mut baggage = Baggage::new();
        assert!(baggage.insert("k", value));
        let header = baggage.to_header().unwrap();
        assert_eq!(
            header,
            "k=a%20b%2Cc%3Bd%25e%22f%5Cg%20%C3%A9%20%E6%97%A5%E6%9C%AC%20%01="
        );
        assert_eq!(parse(&header).get("k"), Some(value));
    }

    #[test]
    fn decodes_lower_and_upper_case_escapes() {
        assert_eq!(parse("k=%c3%a9%C3%A9%41").get("k"), Some("ééA"));
    }

    #[test]
    fn invalid_utf8_after_decoding_becomes_the_replacement_character() {
        let baggage = parse("k=%FF%FEok,j=%C3");
        assert_eq!(baggage.get("k"), Some("\u{FFFD}\u{FFFD}ok"));
        assert_eq!(baggage.get("j"), Some("\u{FFFD}"));
        assert_eq!(
            baggage.to_header().as_deref(),
            Some("k=%EF%BF%BD%EF%BF%BDok,j=%EF%BF%BD")
        );
    }

    #[test]
    fn a_malformed_escape_drops_that_member() {
        let baggage = parse("a=%zz,b=1,c=%,d=%4,e=x%g1,f=2");
        assert_eq!(pairs(&baggage), [("b", "1"), ("f", "2")]);
    }

    #[test]
    fn drops_invalid_members_and_keeps_the_others() {
        let baggage = parse("a=1,b c=2,=3,d,e=x y,f=\"q\",g=back\\slash,,h=ok, i = 4 ");
        assert_eq!(pairs(&baggage), [("a", "1"), ("h", "ok"), ("i", "4")]);
        let non_utf8 = Baggage::parse([&b"a=\xff,b=caf\xc3\xa9,c=3"[..]]);
        assert_eq!(pairs(&non_utf8), [("c", "3")]);
        let bad_key = Baggage::parse([&b"k\xff=1,(k)=2,k/=3,k=4"[..]]);
        assert_eq!(pairs(&bad_key), [("k", "4")]);
    }

    #[test]
    fn combines_several_header_values_in_order() {
        let baggage = Baggage::parse(["a=1".as_bytes(), b"", b"b=2,c=3", b"d=4"]);
        assert_eq!(pairs(&baggage), [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    }

    #[test]
    fn a_duplicate_key_takes_the_last_value_in_the_first_place() {
        assert_eq!(pairs(&parse("a=1,b=2,a=3")), [("a", "3"), ("b", "2")]);
        assert_eq!(pairs(&Baggage::parse(["a=1;p".as_bytes(), b"a=2"])), [("a", "2")]);
        assert!(Baggage::parse(["a=1;p".as_bytes(), b"a=2"])
            .iter()
            .all(|m| m.properties().is_empty()));
        // An invalid later member does not replace a valid one.
        assert_eq!(pairs(&parse("a=1,a=%zz")), [("a", "1")]);
    }

    #[test]
    fn keeps_exactly_64_members() {
        let baggage = parse(&members(64));
        assert_eq!(baggage.len(), 64);
        assert_eq!(baggage.to_header(), Some(members(64)));
    }

    #[test]
    fn keeps_the_first_64_of_65_members() {
        let baggage = parse(&members(65));
        assert_eq!(baggage.len(), 64);
        assert_eq!(baggage.get("k63"), Some("v"));
        assert_eq!(baggage.get("k64"), None);
        // A duplicate of a kept key past the 64th still updates it.
        assert_eq!(parse(&format!("{},k0=new", members(65))).get("k0"), Some("new"));
    }

    /// Four members of 2047 bytes each and three commas: 8191; `last_len` sets the fourth's length.
    fn big_header(last_len: usize) -> String {
        let member = |name: char, len: usize| format!("{name}={}", "x".repeat(len - 2));
        [
            member('a', 2047),
            member('b', 2047),
            member('c', 2047),
            member('d', last_len),
        ]
        .join(",")
    }

    #[test]
    fn keeps_a_header_of_exactly_8192_bytes_whole() {
        let header = big_header(2048);
        assert_eq!(header.len(), MAX_BAGGAGE_BYTES);
        let baggage = parse(&header);
        assert_eq!(baggage.len(), 4);
        assert_eq!(baggage.to_header(), Some(header));
    }

    #[test]
    fn drops_whole_trailing_members_past_8192_bytes() {
        let header = big_header(2049);
        assert_eq!(header.len(), MAX_BAGGAGE_BYTES + 1);
        let baggage = parse(&format!("{header},e=1"));
        let sent = baggage.to_header().unwrap();
        assert!(sent.len() <= MAX_BAGGAGE_BYTES);
        // 'd' does not fit, so it and everything after it go, whole; a, b and c are intact.
        assert_eq!(
            pairs(&baggage).iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(baggage.get("c").map(str::len), Some(2045));
        assert_eq!(sent, header.rsplit_once(',').unwrap().0);
    }

    #[test]
    fn counts_the_limit_on_the_encoded_header() {
        // 2000 é are 4000 bytes raw but 12000 encoded: the member cannot be sent, so it is not kept.
        let mut baggage = Baggage::new();
        baggage.insert("a", "1");
        baggage.insert("big", "é".repeat(2000));
        baggage.insert("c", "3");
        assert_eq!(baggage.to_header().as_deref(), Some("a=1"));
        assert_eq!(
            pairs(&Baggage::parse([baggage_header_unlimited(&baggage).as_bytes()])),
            [("a", "1")]
        );
    }

    /// Every member's text joined, ignoring the limits (to feed an over-long header to parse).
    fn baggage_header_unlimited(baggage: &Baggage) -> String {
        let texts: Vec<String> = baggage
            .iter()
            .map(|m| {
                let mut text = String::new();
                m.write_header(&mut text);
                text
            })
            .collect();
        texts.join(",")
    }

    #[test]
    fn to_header_keeps_to_the_limits() {
        let mut baggage = Baggage::new();
        for i in 0..100 {
            assert!(baggage.insert(format!("k{i}"), "v"));
        }
        assert_eq!(baggage.len(), 100, "insert does not drop");
        assert_eq!(baggage.to_header(), Some(members(64)));

        let mut big = Baggage::new();
        for i in 0..10 {
            big.insert(format!("k{i}"), "x".repeat(1000));
        }
        let header = big.to_header().unwrap();
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        let sent = parse(&header);
        assert_eq!(sent.len(), 8);
        assert!(
            sent.iter().zip(big.iter()).all(|(sent, kept)| sent == kept),
            "whole members, in order"
        );
    }

    #[test]
    fn keeps_and_resends_properties() {
        let baggage = parse("k=v;p1=x;flag");
        let member = baggage.iter().next().unwrap();
        assert_eq!(member.value(), "v");
        assert_eq!(member.properties(), ["p1=x", "flag"]);
        assert_eq!(baggage.to_header().as_deref(), Some("k=v;p1=x;flag"));

        let spaced = parse("key3=value3 ; propertyKey = propertyValue ;flag\t");
        assert_eq!(
            spaced.iter().next().unwrap().properties(),
            ["propertyKey = propertyValue", "flag"]
        );
        assert_eq!(parse(&spaced.to_header().unwrap()), spaced);
    }

    #[test]
    fn an_invalid_property_drops_its_member() {
        assert_eq!(pairs(&parse("a=1;,b=2;p=x y,c=3;;q,d=4;=x,e=5;ok")), [("e", "5")]);
    }

    #[test]
    fn insert_get_and_remove() {
        let mut baggage = parse("a=1;p,b=2");
        assert!(baggage.insert("a", "new"));
        assert_eq!(pairs(&baggage), [("a", "new"), ("b", "2")]);
        assert!(baggage.iter().next().unwrap().properties().is_empty(), "replaced whole");
        assert!(!baggage.insert("bad key", "x"));
        assert!(!baggage.insert("", "x"));
        assert!(!baggage.insert("ключ", "x"));
        assert_eq!(baggage.len(), 2);
        assert_eq!(
            baggage.remove("a").map(|m| m.value().to_string()).as_deref(),
            Some("new")
        );
        assert_eq!(baggage.remove("a"), None);
        assert_eq!(pairs(&baggage), [("b", "2")]);
    }

    #[test]
    fn an_empty_baggage_is_not_sent() {
        assert!(Baggage::new().is_empty());
        assert_eq!(Baggage::new().to_header(), None);
        assert_eq!(parse(""), Baggage::new());
        assert_eq!(parse(" , ,").to_header(), None);
        assert_eq!(Baggage::parse(std::iter::empty()), Baggage::new());
    }

    /// Headers close to valid ones: token keys (some not), values mixing baggage-octets and escapes
    /// (some malformed), properties, whitespace and empty members.
    fn near_valid_values() -> impl Strategy<Value = Vec<String>> {
        let key = prop_oneof![8 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,8}", 1 => "[ \"(),/:;<=>?@\\[\\]{}]{0,2}"];
        let piece = prop_oneof![
            4 => "[\\x21\\x23-\\x2b\\x2d-\\x3a\\x3c-\\x5b\\x5d-\\x7e]{1,6}",
            2 => "%[0-9a-fA-F]{2}",
            1 => "%[0-9a-zA-Z]{0,2}",
            1 => "[ ,;\"\\\\\\x00-\\x20\\x7f-\\xff]"
        ];
        let value = prop::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat());
        let property = prop_oneof!["[a-z]{1,4}", "[a-z]{1,4}[ \t]?=[ \t]?[a-z%=]{0,4}", "[ =]{0,2}"];
        let properties = prop::collection::vec(property, 0..3);
        let member = (key, "[ \t]{0,2}", value, properties).prop_map(|(k, ows, v, props)| {
            let props: String = props.iter().map(|p| format!(";{p}")).collect();
            format!("{ows}{k}{ows}={ows}{v}{props}{ows}")
        });
        let list = prop::collection::vec(member, 0..10).prop_map(|members| members.join(","));
        prop::collection::vec(list, 0..4)
    }

    fn assert_reparse_gives_the_same(baggage: &Baggage) -> Result<(), TestCaseError> {
        let header = baggage.to_header();
        prop_assert_eq!(header.is_none(), baggage.is_empty());
        let again = header
            .as_deref()
            .map_or_else(Baggage::new, |h| Baggage::parse([h.as_bytes()]));
        prop_assert_eq!(&again, baggage);
        Ok(())
    }

    proptest! {
        // ProptestConfig::default() has 256 cases and honours PROPTEST_CASES.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn any_bytes_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            assert_reparse_gives_the_same(&Baggage::parse([bytes.as_slice()]))?;
        }

        #[test]
        fn any_several_values_never_panic_and_round_trip(
            values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..4)
        ) {
            assert_reparse_gives_the_same(&Baggage::parse(values.iter().map(Vec::as_slice)))?;
        }

        #[test]
        fn near_valid_headers_round_trip(values in near_valid_values()) {
            assert_reparse_gives_the_same(&Baggage::parse(values.iter().map(String::as_bytes)))?;
        }

        #[test]
        fn inserted_members_are_sent_whole_within_the_limits(
            entries in prop::collection::vec(("[A-Za-z0-9._-]{1,6}", any::<String>(), 0usize..400), 0..90)
        ) {
            let mut baggage = Baggage::new();
            for (key, value, pad) in &entries {
                let padded = format!("{value}{}", "x".repeat(*pad));
                prop_assert!(baggage.insert(key.as_str(), padded));
            }
            let Some(header) = baggage.to_header() else {
                prop_assert!(baggage.is_empty());
                return Ok(());
            };
            prop_assert!(header.len() <= MAX_BAGGAGE_BYTES);
            let sent = Baggage::parse([header.as_bytes()]);
            prop_assert!(sent.len() <= MAX_BAGGAGE_MEMBERS);
            prop_assert!(!sent.is_empty());
            // The members sent are the first ones, whole, values decoded back exactly.
            let first: Vec<&BaggageMember> = baggage.iter().take(sent.len()).collect();
            prop_assert_eq!(sent.iter().collect::<Vec<_>>(), first);
            assert_reparse_gives_the_same(&sent)?;
        }
    }
}
