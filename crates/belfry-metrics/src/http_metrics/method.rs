//! [`MethodLabel`]: the bounded `http_request_method` label value of a request.

use http::Method;

use crate::OTHER_METHOD;

/// Number of distinct [`MethodLabel`]s: the nine standard methods and [`OTHER_METHOD`].
pub(crate) const METHOD_LABELS: usize = 10;

/// Label values by [`MethodLabel::index`].
const NAMES: [&str; METHOD_LABELS] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    OTHER_METHOD,
];

/// A request method reduced to one of [`METHOD_LABELS`] label values, so made-up methods cannot
/// add series. Methods are case-sensitive: `get` is [`OTHER_METHOD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MethodLabel(u8);

impl MethodLabel {
    /// The label of `method`.
    #[inline]
    pub(crate) fn of(method: &Method) -> Self {
        let name = method.as_str();
        let index = NAMES[..METHOD_LABELS - 1].iter().position(|known| *known == name);
        Self(index.unwrap_or(METHOD_LABELS - 1) as u8)
    }

    /// The label with this [`index`](Self::index), if any.
    pub(crate) fn from_index(index: usize) -> Option<Self> {
        (index < METHOD_LABELS).then_some(Self(index as u8))
    }

    /// Position in `0..METHOD_LABELS`, for arrays indexed by method.
    #[inline]
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        NAMES[self.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name() {
        for method in [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::CONNECT,
        ] {
            assert_eq!(MethodLabel::of(&method).as_str(), method.as_str());
        }
    }

    #[test]
    fn other_methods_share_one_label() {
        for name in ["PURGE", "get", "PROPFIND", "X"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(MethodLabel::of(&method).as_str(), OTHER_METHOD);
        }
    }

    #[test]
    fn index_round_trips() {
        for index in 0..METHOD_LABELS {
            assert_eq!(MethodLabel::from_index(index).unwrap().index(), index);
        }
        assert_eq!(MethodLabel::from_index(METHOD_LABELS), None);
    }
}
