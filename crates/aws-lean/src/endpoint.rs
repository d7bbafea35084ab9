//! Endpoints, resolved once at start by each SDK's own endpoint resolver, from the same settings
//! its client reads: region, FIPS, dual-stack, and the configured endpoint URL
//! (`AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_SQS`, or their profile keys, before
//! `AWS_ENDPOINT_URL`, unless the URL was set in code, exactly as
//! `aws_sdk_kinesis::config::Builder::from(&SdkConfig)` chooses).

use aws_smithy_types::endpoint::Endpoint as SdkEndpoint;
use aws_smithy_types::Document;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;

use crate::failure::SetupError;

/// Where a service's calls go and how they are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL requests are posted to (its path is `/`).
    pub uri: http::Uri,
    /// The `host` header: the host, with the port unless it is the scheme's default.
    pub host: String,
    /// The region to sign for.
    pub signing_region: String,
    /// The service name to sign for (`kinesis`, `sqs`).
    pub signing_name: String,
}

/// The Kinesis endpoint for data-plane calls by stream name (PutRecords).
pub async fn kinesis(sdk: &SdkConfig) -> Result<Endpoint, SetupError> {
    use aws_sdk_kinesis::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let region = region(sdk)?;
    let params = Params::builder()
        .region(region.clone())
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(endpoint_url(sdk, "Kinesis"))
        .account_id_endpoint_mode(
            sdk.account_id_endpoint_mode()
                .cloned()
                .unwrap_or_default()
                .to_string(),
        )
        .operation_type("data")
        .build()
        .map_err(|e| endpoint_error("Kinesis", e))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| endpoint_error("Kinesis", e))?;
    from_resolved("Kinesis", &resolved, &region, "kinesis")
}

/// The SQS endpoint.
pub async fn sqs(sdk: &SdkConfig) -> Result<Endpoint, SetupError> {
    use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let region = region(sdk)?;
    let params = Params::builder()
        .region(region.clone())
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(endpoint_url(sdk, "SQS"))
        .build()
        .map_err(|e| endpoint_error("SQS", e))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| endpoint_error("SQS", e))?;
    from_resolved("SQS", &resolved, &region, "sqs")
}

fn region(sdk: &SdkConfig) -> Result<String, SetupError> {
    sdk.region()
        .map(|r| r.as_ref().to_owned())
        .ok_or(SetupError::NoRegion)
}

/// The endpoint URL the SDK's client for `service_id` would use: one set in code on the
/// `SdkConfig` wins; else the service's own (`AWS_ENDPOINT_URL_<SERVICE>`, a profile's
/// `services` section), else the global one.
fn endpoint_url(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|conf| conf.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

fn endpoint_error(service: &'static str, e: impl std::fmt::Display) -> SetupError {
    SetupError::Endpoint {
        service,
        detail: e.to_string(),
    }
}

/// The URL and signing scope of a resolved endpoint: the signing region and name of its
/// `sigv4` auth scheme when the rules give one (FIPS and partitions may), else the defaults.
fn from_resolved(
    service: &'static str,
    resolved: &SdkEndpoint,
    region: &str,
    signing_name: &str,
) -> Result<Endpoint, SetupError> {
    let uri: http::Uri = resolved
        .url()
        .parse()
        .map_err(|e| endpoint_error(service, format!("{}: {e}", resolved.url())))?;
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        // Every call is signed and sent as `POST /`; an endpoint with a path would need both
        // to change. No AWS endpoint has one.
        return Err(endpoint_error(
            service,
            format!(
                "{} has a path; only host endpoints are supported",
                resolved.url()
            ),
        ));
    }
    let scheme_default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => {
            return Err(endpoint_error(
                service,
                format!("{} is neither http nor https", resolved.url()),
            ))
        }
    };
    let host_name = uri
        .host()
        .ok_or_else(|| endpoint_error(service, format!("{} has no host", resolved.url())))?;
    let host = match uri.port_u16() {
        Some(port) if port != scheme_default_port => format!("{host_name}:{port}"),
        _ => host_name.to_owned(),
    };
    let uri = http::Uri::builder()
        .scheme(uri.scheme_str().unwrap_or("https"))
        .authority(uri.authority().map_or(host.as_str(), |a| a.as_str()))
        .path_and_query("/")
        .build()
        .map_err(|e| endpoint_error(service, e))?;
    let mut endpoint = Endpoint {
        uri,
        host,
        signing_region: region.to_owned(),
        signing_name: signing_name.to_owned(),
    };
    if let Some(Document::Array(schemes)) = resolved.properties().get("authSchemes") {
        let sigv4 = schemes.iter().find_map(|s| match s {
            Document::Object(o) if o.get("name") == Some(&Document::String("sigv4".into())) => {
                Some(o)
            }
            _ => None,
        });
        if let Some(scheme) = sigv4 {
            if let Some(Document::String(r)) = scheme.get("signingRegion") {
                endpoint.signing_region.clone_from(r);
            }
            if let Some(Document::String(n)) = scheme.get("signingName") {
                endpoint.signing_name.clone_from(n);
            }
        }
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::region::Region;

    fn config(region: &str) -> aws_types::sdk_config::Builder {
        SdkConfig::builder().region(Region::new(region.to_owned()))
    }

    #[tokio::test]
    async fn standard_fips_and_dual_stack_endpoints_come_from_the_sdk_rules() {
        let plain = config("eu-west-1").build();
        let k = kinesis(&plain).await.unwrap();
        assert_eq!(k.uri, "https://kinesis.eu-west-1.amazonaws.com/");
        assert_eq!(k.host, "kinesis.eu-west-1.amazonaws.com");
        assert_eq!(
            (k.signing_region.as_str(), k.signing_name.as_str()),
            ("eu-west-1", "kinesis")
        );
        let s = sqs(&plain).await.unwrap();
        assert_eq!(s.uri, "https://sqs.eu-west-1.amazonaws.com/");

        let fips = config("us-east-1").use_fips(true).build();
        assert_eq!(
            kinesis(&fips).await.unwrap().host,
            "kinesis-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            sqs(&fips).await.unwrap().host,
            "sqs-fips.us-east-1.amazonaws.com"
        );

        let dual = config("us-east-1").use_dual_stack(true).build();
        assert_eq!(sqs(&dual).await.unwrap().host, "sqs.us-east-1.api.aws");
    }

    #[tokio::test]
    async fn a_configured_endpoint_url_keeps_its_port_in_the_host() {
        let local = config("us-east-1")
            .endpoint_url("http://127.0.0.1:4566")
            .build();
        let k = kinesis(&local).await.unwrap();
        assert_eq!(k.uri, "http://127.0.0.1:4566/");
        assert_eq!(k.host, "127.0.0.1:4566");
        let default_port = config("us-east-1")
            .endpoint_url("https://example.com:443")
            .build();
        assert_eq!(sqs(&default_port).await.unwrap().host, "example.com");
    }

    #[tokio::test]
    async fn no_region_and_endpoints_with_a_path_are_refused() {
        assert!(matches!(
            kinesis(&SdkConfig::builder().build()).await,
            Err(SetupError::NoRegion)
        ));
        let path = config("us-east-1")
            .endpoint_url("http://localhost:4566/x")
            .build();
        assert!(matches!(sqs(&path).await, Err(SetupError::Endpoint { .. })));
    }
}
