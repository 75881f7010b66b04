//! Proptest strategies generating query strings together with the output the
//! default policy must produce for them (test only).
//!
//! Every secret value starts with `ZZ`, and nothing else generated contains
//! `ZZ`: an output containing `ZZ` leaked a secret.

use proptest::prelude::*;
use proptest::sample::select;

/// Marks every generated secret.
pub(crate) const SECRET_MARKER: &str = "ZZ";

/// Names the default policy treats as sensitive (before odd encodings).
const SENSITIVE_NAMES: &[&str] = &[
    "token",
    "access_token",
    "refresh-token",
    "password",
    "passwd",
    "client_secret",
    "api_key",
    "apikey",
    "key",
    "code",
    "signature",
    "sig",
    "session",
    "sessionid",
    "auth",
    "oauth_credential",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "X-Goog-Signature",
    "my token",
];

/// Names the default policy does not treat as sensitive, as sent.
pub(crate) const PLAIN_NAMES: &[&str] = &[
    "page",
    "q",
    "lang",
    "limit",
    "sort",
    "filter",
    "id",
    "",
    "%ff%fe",
    "%",
    "%G1",
    "a+b",
    "x%20y",
    "caf%C3%A9",
    "é",
    "tøken",
    "%2",
    "to%ffken",
];

/// A name, as sent, with its value (`None`: no `=`).
#[derive(Clone, Debug)]
pub(crate) struct GeneratedPair {
    name: String,
    value: Option<String>,
    sensitive: bool,
}

impl GeneratedPair {
    /// The pair as sent.
    fn sent(&self) -> String {
        match &self.value {
            Some(value) => format!("{}={value}", self.name),
            None => self.name.clone(),
        }
    }

    /// The pair as the default policy must print it.
    fn expected(&self) -> String {
        match &self.value {
            Some(value) if self.sensitive && !value.is_empty() => {
                format!("{}={}", self.name, crate::REDACTED)
            }
            _ => self.sent(),
        }
    }
}

/// A generated query string and the expected scrubbed output.
#[derive(Clone, Debug)]
pub(crate) struct GeneratedQuery {
    pub(crate) sent: String,
    pub(crate) expected: String,
}

/// Rewrites a sensitive name with odd, equivalent encodings: flipped ASCII
/// case, percent escapes (either hex case), and noise around it.
fn oddly_encoded(name: &'static str) -> impl Strategy<Value = String> {
    let chars = name
        .chars()
        .map(|c| {
            (0..4u8).prop_map(move |how| match how {
                0 => c.to_string(),
                1 if c.is_ascii_uppercase() => c.to_ascii_lowercase().to_string(),
                1 => c.to_ascii_uppercase().to_string(),
                2 if c == ' ' => "+".to_string(),
                2 => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
                _ if c == ' ' => "%20".to_string(),
                _ => c.to_string().bytes().map(|b| format!("%{b:02x}")).collect(),
            })
        })
        .collect::<Vec<_>>();
    let prefix = select(&["", "my_", "%ff", "x+", "%G1", "%E2%82%AC"][..]);
    let suffix = select(&["", "_id", "%fe", "+2", "%", "%G"][..]);
    (prefix, chars, suffix).prop_map(|(prefix, chars, suffix)| format!("{prefix}{}{suffix}", chars.concat()))
}

fn sensitive_pair() -> impl Strategy<Value = GeneratedPair> {
    let name = select(SENSITIVE_NAMES).prop_flat_map(oddly_encoded);
    let value = prop_oneof![
        6 => "ZZ([A-Y0-9=+.~@:/?-]|%ff|%fe|%|%G1|é){0,10}".prop_map(Some),
        1 => Just(Some(String::new())),
        1 => Just(None),
    ];
    (name, value).prop_map(|(name, value)| GeneratedPair {
        name,
        value,
        sensitive: true,
    })
}

fn plain_pair() -> impl Strategy<Value = GeneratedPair> {
    let name = select(PLAIN_NAMES);
    let value = prop_oneof![
        // Opaque values: nothing that reads as a nested URL or query (no `=`, `?`, `#`, `@`, no
        // escape that decodes to one), which the scrubber would rightly look into.
        6 => "([a-y0-9+.~:/-]|%ff|%fe|%G1|é){0,10}".prop_map(Some),
        1 => Just(None),
    ];
    (name, value).prop_map(|(name, value)| GeneratedPair {
        name: name.to_string(),
        value,
        sensitive: false,
    })
}

/// Queries mixing sensitive and plain pairs (names repeat, as the lists are
/// short), separated by `&`, `;` or empty pairs.
pub(crate) fn query() -> impl Strategy<Value = GeneratedQuery> {
    let pair = prop_oneof![sensitive_pair(), plain_pair()];
    let separator = select(&["&", ";", "&&", ";&"][..]);
    proptest::collection::vec((pair, separator), 0..8).prop_map(|pairs| {
        let mut sent = String::new();
        let mut expected = String::new();
        for (i, (pair, separator)) in pairs.iter().enumerate() {
            if i > 0 {
                sent.push_str(separator);
                expected.push_str(separator);
            }
            sent.push_str(&pair.sent());
            expected.push_str(&pair.expected());
        }
        GeneratedQuery { sent, expected }
    })
}
