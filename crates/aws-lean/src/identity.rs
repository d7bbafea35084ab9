//! Credentials: the SDK's provider chain behind the SDK's identity cache, used outside a client.
//!
//! `aws_config` puts two things in an [`SdkConfig`]: the credentials provider (environment,
//! profiles, SSO, web identity, ECS, instance roles) and the identity cache every SDK client
//! shares (by default a lazy cache that refreshes credentials before they expire). A client
//! asks that cache through its runtime components; so does this module, with the few
//! components the cache reads (its time source and sleep) and placeholders for the rest, which
//! it never touches. Temporary credentials are therefore refreshed exactly as for the SDK's
//! clients, and the lean client never calls a provider itself.

use aws_credential_types::Credentials;
use aws_runtime::auth::sigv4::{SigV4AuthScheme, SCHEME_ID};
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::identity::{
    ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;

use crate::failure::SetupError;

/// Resolves credentials through the SDK's identity cache.
#[derive(Debug, Clone)]
pub struct Identities {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
}

impl Identities {
    /// The credentials provider and identity cache of `sdk`.
    pub fn from_sdk_config(sdk: &SdkConfig) -> Result<Self, SetupError> {
        let provider = sdk
            .credentials_provider()
            .ok_or(SetupError::Missing("a credentials provider"))?;
        let cache = sdk
            .identity_cache()
            .ok_or(SetupError::Missing("an identity cache"))?;
        let time_source = sdk
            .time_source()
            .ok_or(SetupError::Missing("a time source"))?;
        let sleep = sdk
            .sleep_impl()
            .ok_or(SetupError::Missing("an async sleep"))?;
        let resolver: SharedIdentityResolver = provider.into_shared();
        // Only the time source and sleep are read by the cache; the other required components
        // are placeholders that nothing here calls.
        let components = RuntimeComponentsBuilder::new("telemetry-aws-lean identities")
            .with_time_source(Some(time_source))
            .with_sleep_impl(Some(sleep))
            .with_identity_cache(Some(cache.clone()))
            .with_identity_resolver(SCHEME_ID, resolver.clone())
            .with_auth_scheme(SigV4AuthScheme::new())
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                SCHEME_ID,
            ])))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri("http://unused")))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| SetupError::Identity(e.to_string()))?;
        Ok(Identities {
            cache,
            resolver,
            components,
        })
    }

    /// The current credentials: cached, refreshed by the cache before they expire.
    pub async fn credentials(&self) -> Result<Credentials, String> {
        let identity = self
            .cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &ConfigBag::base())
            .await
            .map_err(|e| e.to_string())?;
        identity
            .data::<Credentials>()
            .cloned()
            .ok_or_else(|| "the identity is not AWS credentials".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use aws_credential_types::provider::{future, ProvideCredentials};

    /// A provider that counts its calls and hands out credentials valid for `valid_for`.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        valid_for: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                Some("token".to_owned()),
                Some(SystemTime::now() + self.valid_for),
                "counting",
            )))
        }
    }

    async fn identities(valid_for: Duration) -> (Identities, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .credentials_provider(Counting {
                calls: Arc::clone(&calls),
                valid_for,
            })
            .load()
            .await;
        (Identities::from_sdk_config(&sdk).unwrap(), calls)
    }

    #[tokio::test]
    async fn credentials_come_from_the_sdks_cache() {
        let (ids, calls) = identities(Duration::from_secs(3600)).await;
        for _ in 0..5 {
            assert_eq!(ids.credentials().await.unwrap().access_key_id(), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "asked once, then cached");
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_refreshed() {
        // Within the lazy cache's refresh margin (10 s by default): every use refreshes.
        let (ids, calls) = identities(Duration::from_secs(5)).await;
        let first = ids.credentials().await.unwrap();
        let second = ids.credentials().await.unwrap();
        assert_ne!(first.access_key_id(), second.access_key_id());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
