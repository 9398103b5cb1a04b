//! `sign()`: the platform's SASL PLAIN credentials, computed by the core.

use napi_derive::napi;

use super::invalid;
use crate::secret::Secret;
use crate::sign::{self, SignParams};

/// How the credentials are signed (`signMethod`).
#[napi(string_enum = "lowercase")]
pub enum SignMethod {
    Hmacmd5,
    Hmacsha1,
    Hmacsha256,
}

impl From<SignMethod> for sign::SignMethod {
    fn from(m: SignMethod) -> Self {
        match m {
            SignMethod::Hmacmd5 => sign::SignMethod::HmacMd5,
            SignMethod::Hmacsha1 => sign::SignMethod::HmacSha1,
            SignMethod::Hmacsha256 => sign::SignMethod::HmacSha256,
        }
    }
}

impl From<sign::SignMethod> for SignMethod {
    fn from(m: sign::SignMethod) -> Self {
        match m {
            sign::SignMethod::HmacMd5 => SignMethod::Hmacmd5,
            sign::SignMethod::HmacSha1 => SignMethod::Hmacsha1,
            sign::SignMethod::HmacSha256 => SignMethod::Hmacsha256,
        }
    }
}

/// Which kind of AccessKey signs (`authMode`).
#[napi(string_enum = "lowercase")]
pub enum AuthMode {
    Aksign,
    Ststoken,
}

impl From<AuthMode> for sign::AuthMode {
    fn from(m: AuthMode) -> Self {
        match m {
            AuthMode::Aksign => sign::AuthMode::AkSign,
            AuthMode::Ststoken => sign::AuthMode::StsToken,
        }
    }
}

impl From<sign::AuthMode> for AuthMode {
    fn from(m: sign::AuthMode) -> Self {
        match m {
            sign::AuthMode::AkSign => AuthMode::Aksign,
            sign::AuthMode::StsToken => AuthMode::Ststoken,
        }
    }
}

/// The platform's limit on a client id, in characters (Unicode code points).
#[napi]
pub const MAX_CLIENT_ID_LENGTH: u32 = sign::MAX_CLIENT_ID_CHARS as u32;

/// Signing parameters, as `sign()` and credential-based connections take them.
#[napi(object)]
pub struct SignOptions {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub consumer_group_id: String,
    pub client_id: String,
    pub iot_instance_id: Option<String>,
    /// Default `aksign` (`sign::AuthMode::default()`).
    pub auth_mode: Option<AuthMode>,
    /// Default `hmacsha256` (`sign::SignMethod::default()`).
    pub sign_method: Option<SignMethod>,
    pub security_token: Option<String>,
    pub timestamp: Option<f64>,
}

#[napi(object)]
pub struct SignedCredentials {
    pub username: String,
    pub password: String,
}

/// The core's signing parameters (checked where they are used: by `sign`, and by
/// `Config::validate` for a connection).
pub fn sign_params(o: SignOptions) -> SignParams {
    SignParams {
        access_key_id: o.access_key_id,
        access_key_secret: Secret::new(o.access_key_secret),
        consumer_group_id: o.consumer_group_id,
        client_id: o.client_id,
        iot_instance_id: o.iot_instance_id,
        auth_mode: o.auth_mode.map(Into::into).unwrap_or_default(),
        sign_method: o.sign_method.map(Into::into).unwrap_or_default(),
        security_token: o.security_token.map(Secret::new),
    }
}

/// Signs the platform's SASL PLAIN credentials.
#[napi(catch_unwind)]
pub fn sign(options: SignOptions) -> napi::Result<SignedCredentials> {
    let timestamp = match options.timestamp {
        None => sign::now_ms(),
        Some(t)
            if t.is_finite() && t >= 0.0 && t.fract() == 0.0 && t <= 9.007_199_254_740_991e15 =>
        {
            t as u64
        }
        Some(_) => return Err(invalid("timestamp must be a non-negative integer (ms)")),
    };
    let params = sign_params(options);
    params.validate().map_err(|e| invalid(e.description()))?;
    let c = params.sign(timestamp);
    Ok(SignedCredentials {
        username: c.username,
        password: c.password.expose().to_string(),
    })
}
