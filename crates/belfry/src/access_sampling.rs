//! `BELFRY_ACCESS_LOG_SAMPLE` and `BELFRY_ACCESS_LOG_KEEP_CLIENT_ERRORS`, read for
//! [`Belfry::from_env`](crate::Belfry::from_env).

use crate::{
    config::{env_bool, ConfigError},
    Belfry,
};

const SAMPLE: &str = "BELFRY_ACCESS_LOG_SAMPLE";
const EXPECTED: &str = "route=ratio pairs separated by commas, each ratio from 0 to 1 (`/users/{id}=0.01`)";

/// Applies the access-log sampling settings of the environment to `belfry`.
pub(crate) fn from_env(mut belfry: Belfry) -> Result<Belfry, ConfigError> {
    if let Ok(list) = std::env::var(SAMPLE) {
        for (route, ratio) in parse(&list).ok_or_else(|| ConfigError::new(SAMPLE, list.clone(), EXPECTED))? {
            belfry = belfry.access_log_sample_route(route, ratio);
        }
    }
    if let Some(keep) = env_bool("BELFRY_ACCESS_LOG_KEEP_CLIENT_ERRORS")? {
        belfry = belfry.access_log_keep_client_errors(keep);
    }
    Ok(belfry)
}

/// `/users/{id}=0.01, /search=0.1` → `[("/users/{id}", 0.01), ("/search", 0.1)]`; `None` when
/// an entry is not `route=ratio` with a ratio from 0 to 1.
fn parse(list: &str) -> Option<Vec<(String, f64)>> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (route, ratio) = entry.rsplit_once('=')?;
            let ratio: f64 = ratio.trim().parse().ok()?;
            let route = route.trim();
            ((0.0..=1.0).contains(&ratio) && route.starts_with('/')).then(|| (route.to_owned(), ratio))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn route_ratio_pairs() {
        assert_eq!(
            parse("/users/{id}=0.01, /search=1"),
            Some(vec![
                ("/users/{id}".to_owned(), 0.01),
                ("/search".to_owned(), 1.0)
            ])
        );
        assert_eq!(parse(""), Some(vec![]));
        for wrong in ["/users", "/users=2", "users=0.5", "/users=half"] {
            assert_eq!(parse(wrong), None, "{wrong}");
        }
    }
}
