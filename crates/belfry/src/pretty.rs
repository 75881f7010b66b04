//! The pretty output (`LOG_FORMAT=pretty`, the default on a terminal) with fields a value cannot
//! use to spoof what a reader sees.
//!
//! tracing-subscriber's own field formatter writes `message` and `%display` fields as they are:
//! a value holding `ESC[2J`, a one-byte CSI (U+009B), a newline, a right-to-left override
//! (U+202E) or a line separator (U+2028) is obeyed by the terminal or the log viewer. [`layer`] is
//! the same `fmt` layer with [`SafeFields`], which writes the message first and then
//! ` name=value` pairs, like tracing-subscriber's `DefaultFields`, and every C0 control (newline
//! and tab included), DEL, every C1 control, U+2028, U+2029 and the bidirectional controls
//! (U+202A–U+202E, U+2066–U+2069) of every value as a `\u{..}` escape. Span fields, formatted by
//! the same formatter, are escaped alike.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{format::Writer, FormatFields},
};

/// The `fmt` layer of the pretty output, its fields formatted by [`SafeFields`].
pub(crate) fn layer<S>() -> tracing_subscriber::fmt::Layer<S, SafeFields>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().fmt_fields(SafeFields)
}

/// Formats fields as tracing-subscriber's `DefaultFields` does, with unsafe characters escaped;
/// see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SafeFields;

impl<'writer> FormatFields<'writer> for SafeFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = SafeVisitor {
            writer,
            padding: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct SafeVisitor<'writer> {
    writer: Writer<'writer>,
    /// Whether a field was written (the next one is preceded by a space).
    padding: bool,
    result: fmt::Result,
}

impl SafeVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        // `log.target` and friends: the metadata of a bridged `log` record, shown by the layer.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        let writer = &mut self.writer;
        self.result = (|| {
            if self.padding {
                writer.write_char(' ')?;
            }
            if name != "message" {
                writer.write_str(name)?;
                writer.write_char('=')?;
            }
            write!(Escaping(writer), "{value}")
        })();
        self.padding = true;
    }
}

impl Visit for SafeVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// Whether `c` must not reach a terminal or a log viewer as it is.
fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{1F}' | '\u{7F}'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A `fmt::Write` that writes unsafe characters as `\u{..}` escapes.
struct Escaping<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (at, c) in text.char_indices().filter(|&(_, c)| is_unsafe(c)) {
            self.0.write_str(&text[start..at])?;
            write!(self.0, "\\u{{{:x}}}", u32::from(c))?;
            start = at + c.len_utf8();
        }
        self.0.write_str(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// What the pretty layer writes for `f`'s events, without colours.
    fn pretty(f: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            layer()
                .with_ansi(false)
                .without_time()
                .with_writer(captured.clone()),
        );
        tracing::subscriber::with_default(subscriber, f);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn controls_and_bidi_are_escaped_in_every_field() {
        let hostile = "a\u{1b}[2Jb\u{9b}31mc\nd\u{202e}e\u{2028}f\u{2066}g\u{7f}h\ti";
        let output = pretty(|| {
            let span = tracing::info_span!("request", tenant = %hostile);
            let _entered = span.enter();
            tracing::info!(user = %hostile, debugged = ?hostile, plain = hostile, "login {hostile}");
        });
        assert_eq!(output.lines().count(), 1, "{output:?}");
        for raw in [
            '\u{1b}', '\u{9b}', '\u{202e}', '\u{2028}', '\u{2066}', '\u{7f}', '\t',
        ] {
            assert!(!output.contains(raw), "{raw:?} survived: {output:?}");
        }
        let escaped = r"a\u{1b}[2Jb\u{9b}31mc\u{a}d\u{202e}e\u{2028}f\u{2066}g\u{7f}h\u{9}i";
        assert!(output.contains(&format!("login {escaped}")), "{output}");
        assert!(output.contains(&format!("user={escaped}")), "{output}");
        assert!(output.contains(&format!("tenant={escaped}")), "{output}");
        // Debug already escapes what it knows; the rest is escaped after it.
        assert!(
            output.contains(r"debugged=\u{22}") || output.contains("debugged=\"a\\u{1b}"),
            "{output}"
        );
        assert!(output.contains("plain=\"a\\u{1b}"), "{output}");
    }

    #[test]
    fn plain_text_is_written_as_it_is() {
        let output = pretty(|| tracing::info!(user = "alice", count = 3, "café — naïve ✓"));
        assert!(
            output.ends_with("café — naïve ✓ user=\"alice\" count=3\n"),
            "{output:?}"
        );
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        write!(
            Escaping(&mut out),
            "ok\u{85}\u{a0}\u{2027}\u{202a}\u{2069}\u{206a}"
        )
        .unwrap();
        assert_eq!(out, "ok\\u{85}\u{a0}\u{2027}\\u{202a}\\u{2069}\u{206a}");
    }
}
