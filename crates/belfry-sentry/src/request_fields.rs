//! The request fields (`belfry_log::request::record`) of the request an event is sent from, on
//! the event.

use std::sync::Arc;

use belfry_log::request::{self, RequestField};

/// Adds the request fields (`belfry::request::record`) of the request an event is sent from:
/// each as a tag, and `user.id` as Sentry's user — that one only with `send_default_pii`, which
/// is off unless `SENTRY_SEND_DEFAULT_PII=true`: a user id is personal data. Runs after belfry's
/// own `before_send` (and any the application set), only for events actually sent.
pub(crate) fn with_request_fields(mut options: sentry::ClientOptions) -> sentry::ClientOptions {
    let send_user = options.send_default_pii;
    let next = options.before_send.take();
    options.before_send = Some(Arc::new(move |event| {
        let mut event = match &next {
            Some(next) => next(event)?,
            None => event,
        };
        // From the request's span as the capture layer saw it: `belfry::request::fields()` looks
        // up the current span, which a `tracing` layer's callback (the tracing bridge's) cannot.
        let fields = crate::with_request_span(request::fields_of).unwrap_or_default();
        apply_request_fields(&mut event, &fields, send_user);
        Some(event)
    }));
    options
}

fn apply_request_fields(
    event: &mut sentry::protocol::Event<'static>,
    fields: &[RequestField],
    send_user: bool,
) {
    for field in fields {
        if field.key == request::USER_ID {
            if send_user && event.user.is_none() {
                event.user = Some(sentry::User {
                    id: Some(field.value.to_string()),
                    ..Default::default()
                });
            }
            continue;
        }
        event
            .tags
            .entry(field.key.to_string())
            .or_insert_with(|| field.value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::apply_request_fields;
    use belfry_log::request::RequestField;

    fn fields() -> Vec<RequestField> {
        vec![
            RequestField {
                key: "user.id".into(),
                value: "u-42".into(),
            },
            RequestField {
                key: "tenant_id".into(),
                value: "acme".into(),
            },
        ]
    }

    #[test]
    fn request_fields_become_tags_and_the_user_only_with_pii() {
        let mut event = sentry::protocol::Event::default();
        apply_request_fields(&mut event, &fields(), false);
        assert_eq!(event.tags["tenant_id"], "acme");
        assert!(event.user.is_none(), "a user id is personal data");
        assert!(!event.tags.contains_key("user.id"));

        let mut event = sentry::protocol::Event::default();
        apply_request_fields(&mut event, &fields(), true);
        assert_eq!(event.user.unwrap().id.as_deref(), Some("u-42"));
    }
}
