//! A process-wide recorder of `belfry::client` events (tracing's callsite cache is global, so a
//! per-test subscriber would race with the other tests). Each test finds its own events by the
//! unique host it calls.

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    sync::{Mutex, OnceLock},
};

use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{layer::Context, layer::SubscriberExt, Layer};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub level: Level,
    pub target: String,
    pub fields: BTreeMap<String, String>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

static EVENTS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

struct Recorder;

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        EVENTS.lock().unwrap().push(Recorded {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.0,
        });
    }
}

/// Installs the recorder once.
pub fn record_events() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

/// The `belfry::client` events whose `server.address` is `host`.
pub fn client_events(host: &str) -> Vec<Recorded> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.target == belfry_client::TARGET && event.field("server.address") == Some(host))
        .cloned()
        .collect()
}
