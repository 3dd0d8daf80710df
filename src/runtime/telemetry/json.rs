//! The JSON log line: one object per event, its fields flattened beside `timestamp`, `level`,
//! `target` and `message`, and the spans it happened in under `spans`.
//!
//! tracing hands a subscriber each field as a number, a bool, a string, an error or a
//! `Debug` value. tracing-subscriber's own JSON format writes every `Debug` value — and so
//! every `%display` one — as a string; this one writes a field whose text is a JSON array or
//! object (what `domain::logfield::json_list` makes of a list) as that JSON. An `Option` field that is `None`
//! is never recorded by tracing, so it is simply absent.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(jiff::Timestamp::now().to_string()));
        line.insert("level".into(), Value::String(meta.level().as_str().to_owned()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        event.record(&mut Fields(&mut line));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut fields = Map::new();
                    fields.insert("name".into(), Value::String(span.name().to_owned()));
                    // Span fields were formatted once, as a JSON object, when the span began.
                    if let Some(formatted) = span.extensions().get::<FormattedFields<N>>()
                        && let Ok(Value::Object(recorded)) = serde_json::from_str::<Value>(formatted)
                    {
                        fields.extend(recorded);
                    }
                    Value::Object(fields)
                })
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into a JSON object, each with its own type.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.put(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let looks_like_json =
            (text.starts_with('[') && text.ends_with(']')) || (text.starts_with('{') && text.ends_with('}'));
        let value = if looks_like_json {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        self.put(field, value);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::domain::logfield::json_list;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines `log` writes.
    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn fields_keep_their_types_and_absent_values_are_left_out() {
        let matched = vec!["加V信".to_owned(), "a \"quoted\" \u{200b}text".to_owned()];
        let (case, none): (Option<u64>, Option<u64>) = (Some(12), None);
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", method = "POST", status = 204_u16);
            let _in = span.enter();
            tracing::info!(
                group = %"qq:726300112",
                user = 2_309_855_761_i64,
                rule = "ads",
                matched = %json_list(&matched),
                case,
                missing = none,
                strikes = 2_u32,
                dry_run = false,
                retry_in_ms = 1500_u64,
                "violation"
            );
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "violation");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["group"], "qq:726300112");
        assert_eq!(line["user"], 2_309_855_761_i64);
        assert_eq!(
            line["matched"],
            serde_json::json!(["加V信", "a \"quoted\" \u{200b}text"])
        );
        assert_eq!(line["case"], 12);
        assert!(line.get("missing").is_none(), "{line}");
        assert_eq!(
            (&line["strikes"], &line["dry_run"]),
            (&Value::from(2), &Value::Bool(false))
        );
        assert_eq!(line["retry_in_ms"], 1500);
        assert_eq!(line["spans"][0]["name"], "request");
        assert_eq!(line["spans"][0]["status"], 204);
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
        assert!(!line.to_string().contains("Some("), "{line}");
    }
}
