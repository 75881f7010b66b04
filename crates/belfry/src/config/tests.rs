use std::collections::HashMap;

use super::*;

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Config::from_lookup(move |name| map.get(name).cloned())
}

#[test]
fn blank_is_unset_for_every_variable() {
    for blank in ["", " ", "\t \n"] {
        let pairs: Vec<_> = VARIABLES.iter().map(|name| (*name, blank)).collect();
        let config = config(&pairs).unwrap_or_else(|error| panic!("{blank:?}: {error}"));
        let unset = Config::from_lookup(|_| None).unwrap();
        assert_eq!(format!("{config:?}"), format!("{unset:?}"), "{blank:?}");
    }
}

#[test]
fn every_invalid_variable_is_named_at_once() {
    let error = config(&[
        ("LOG_FORMAT", "xml"),
        ("RUST_LOG", "info,my_app=loud"),
        ("BELFRY_SLOW_REQUEST_MS", "1s"),
        ("BELFRY_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
        ("SENTRY_TRACES_SAMPLE_RATE", "2"),
        ("BELFRY_DRAIN_DELAY_MS", "-5"),
        ("SENTRY_DSN", "s3cr3t-not-a-dsn"),
        ("BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE", "many"),
        ("BELFRY_SLOW_REQUEST_MS_TYPO", "ignored: not belfry's"),
    ])
    .unwrap_err();
    let variables: Vec<_> = error.problems().iter().map(InvalidVariable::variable).collect();
    // Without the SDK (feature `sentry`) there is no DSN parser to check the DSN with.
    let dsn: &[&str] = if cfg!(feature = "sentry") {
        &["SENTRY_DSN"]
    } else {
        &[]
    };
    let expected = [
        &[
            "LOG_FORMAT",
            "RUST_LOG",
            "BELFRY_SLOW_REQUEST_MS",
            "BELFRY_TRUSTED_PROXIES",
            "SENTRY_TRACES_SAMPLE_RATE",
            "BELFRY_DRAIN_DELAY_MS",
        ][..],
        dsn,
        &["BELFRY_SENTRY_MAX_EVENTS_PER_MINUTE"],
    ]
    .concat();
    assert_eq!(variables, expected);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{} settings are not valid:", expected.len())),
        "{message}"
    );
    assert!(message.contains("`not-an-ip` is neither"), "{message}");
    assert!(!message.contains("s3cr3t"), "a DSN is never printed: {message}");
}

#[test]
fn values_reach_the_stack() {
    let config = config(&[
        ("BELFRY_SLOW_REQUEST_MS", "250"),
        ("BELFRY_HUNG_REQUEST_MS", "0"),
        ("BELFRY_DRAIN_DELAY_MS", "0"),
        ("BELFRY_SHUTDOWN_TIMEOUT_MS", "1500"),
        ("BELFRY_ACCESS_LOG_SAMPLE", "/users/{id}=0.01"),
    ])
    .unwrap();
    let belfry = format!("{:?}", config.belfry());
    assert!(belfry.contains("slow_threshold: 250ms"), "{belfry}");
    assert!(belfry.contains("hung_threshold: None"), "{belfry}");
    assert!(belfry.contains(r#"("/users/{id}", 0.01)"#), "{belfry}");
    if cfg!(feature = "health") {
        assert!(belfry.contains("drain_delay: 0ns"), "{belfry}");
        assert!(belfry.contains("shutdown_timeout: 1.5s"), "{belfry}");
    }
}
