//! The platform's SASL PLAIN credentials: username with the signing parameters, password an HMAC.
//!
//! username: `${clientId}|authMode=..,signMethod=..,timestamp=..,authId=..,iotInstanceId=..,consumerGroupId=..[,securityToken=..]|`
//! password: `base64(HMAC_<method>(AccessKeySecret, "authId=..[&securityToken=..]&timestamp=.."))`

use base64::Engine;
use hmac::{Hmac, Mac};

use crate::error::Error;
use crate::secret::Secret;

/// How the request is signed. The default, `hmacsha256`, is defined here once: the bindings
/// export it (`coreDefaults().signMethod`) and lib/options.js takes it from there for `sign()`,
/// the `credentials` option and `createConsumer()` alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignMethod {
    HmacMd5,
    HmacSha1,
    #[default]
    HmacSha256,
}

impl SignMethod {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hmacmd5" => Some(SignMethod::HmacMd5),
            "hmacsha1" => Some(SignMethod::HmacSha1),
            "hmacsha256" => Some(SignMethod::HmacSha256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::HmacMd5 => "hmacmd5",
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }
}

/// Which kind of AccessKey signs: a long-lived one (`aksign`, the default) or an STS one with a
/// token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    AkSign,
    StsToken,
}

impl AuthMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aksign" => Some(AuthMode::AkSign),
            "ststoken" => Some(AuthMode::StsToken),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::AkSign => "aksign",
            AuthMode::StsToken => "ststoken",
        }
    }
}

/// The platform's limit on a client id, in characters (Unicode code points, as `chars()` counts
/// them; exported to JavaScript as `MAX_CLIENT_ID_LENGTH`).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Everything needed to sign one connection attempt, except the timestamp.
#[derive(Debug, Clone)]
pub struct SignParams {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub consumer_group_id: String,
    pub client_id: String,
    pub iot_instance_id: Option<String>,
    pub auth_mode: AuthMode,
    pub sign_method: SignMethod,
    pub security_token: Option<Secret>,
}

/// SASL PLAIN credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

fn bad(description: String) -> Error {
    Error::Config(description)
}

/// Characters that would break the username's `|k=v,k=v|` structure.
fn check_field(name: &str, value: &str, required: bool) -> Result<(), Error> {
    if required && value.is_empty() {
        return Err(bad(format!("{name} must not be empty")));
    }
    if value.contains(['|', ',', '=']) || value.chars().any(char::is_control) {
        return Err(bad(format!(
            "{name} must not contain '|', ',', '=' or control characters"
        )));
    }
    Ok(())
}

impl SignParams {
    /// Checks the parameters, once (`Config::validate` for a connection, the bindings' `sign()`
    /// for a call), so that signing at each attempt cannot fail.
    pub fn validate(&self) -> Result<(), Error> {
        check_field("accessKeyId", &self.access_key_id, true)?;
        check_field("consumerGroupId", &self.consumer_group_id, true)?;
        check_field("clientId", &self.client_id, true)?;
        if self.client_id.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(bad(format!(
                "clientId must be at most {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        if let Some(id) = &self.iot_instance_id {
            check_field("iotInstanceId", id, false)?;
        }
        if self.access_key_secret.expose().is_empty() {
            return Err(bad("accessKeySecret must not be empty".into()));
        }
        match (self.auth_mode, &self.security_token) {
            (AuthMode::StsToken, None) => Err(bad(
                "securityToken is required when authMode is 'ststoken'".into(),
            )),
            (AuthMode::StsToken, Some(t)) => check_field("securityToken", t.expose(), true)
                .map_err(|_| {
                    bad("securityToken must be non-empty and contain no '|', ',' or '='".into())
                }),
            (AuthMode::AkSign, _) => Ok(()),
        }
    }

    /// Signs for the given timestamp (milliseconds since the epoch), with parameters that
    /// `validate` has accepted (it is not run again here).
    pub fn sign(&self, timestamp: u64) -> Credentials {
        let token = match self.auth_mode {
            AuthMode::StsToken => self.security_token.as_ref().map(Secret::expose),
            AuthMode::AkSign => None,
        };
        let mut username = format!(
            "{}|authMode={},signMethod={},timestamp={},authId={},iotInstanceId={},consumerGroupId={}",
            self.client_id,
            self.auth_mode.as_str(),
            self.sign_method.as_str(),
            timestamp,
            self.access_key_id,
            self.iot_instance_id.as_deref().unwrap_or(""),
            self.consumer_group_id,
        );
        let string_to_sign = match token {
            Some(t) => {
                username.push_str(",securityToken=");
                username.push_str(t);
                format!(
                    "authId={}&securityToken={}&timestamp={}",
                    self.access_key_id, t, timestamp
                )
            }
            None => format!("authId={}&timestamp={}", self.access_key_id, timestamp),
        };
        username.push('|');
        let password = hmac_base64(
            self.sign_method,
            self.access_key_secret.expose().as_bytes(),
            string_to_sign.as_bytes(),
        );
        Credentials {
            username,
            password: Secret::new(password),
        }
    }
}

fn mac_base64<M: Mac>(mut mac: M, data: &[u8]) -> String {
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `base64(HMAC_<method>(key, data))`.
pub fn hmac_base64(method: SignMethod, key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback is unreachable
    // but keeps this free of `unwrap`.
    match method {
        SignMethod::HmacMd5 => Hmac::<md5::Md5>::new_from_slice(key)
            .map(|m| mac_base64(m, data))
            .unwrap_or_default(),
        SignMethod::HmacSha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|m| mac_base64(m, data))
            .unwrap_or_default(),
        SignMethod::HmacSha256 => Hmac::<sha2::Sha256>::new_from_slice(key)
            .map(|m| mac_base64(m, data))
            .unwrap_or_default(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: AuthMode, method: SignMethod) -> SignParams {
        SignParams {
            access_key_id: "LTAI4Fexample".into(),
            access_key_secret: Secret::new("secretExample".into()),
            consumer_group_id: "DEFAULT_GROUP".into(),
            client_id: "client-0".into(),
            iot_instance_id: Some("iot-060a02ne".into()),
            auth_mode: mode,
            sign_method: method,
            security_token: Some(Secret::new("tokenExample".into())),
        }
    }

    // Expected values computed independently with OpenSSL:
    //   printf '%s' 'authId=LTAI4Fexample&timestamp=1573489088171' |
    //     openssl dgst -<md5|sha1|sha256> -hmac secretExample -binary | base64
    #[test]
    fn aksign_matches_openssl() {
        let c = params(AuthMode::AkSign, SignMethod::HmacSha1).sign(1573489088171);
        assert_eq!(
            c.username,
            "client-0|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=LTAI4Fexample,iotInstanceId=iot-060a02ne,consumerGroupId=DEFAULT_GROUP|"
        );
        assert_eq!(c.password.expose(), "/mUIhJ7RVPf4bSMuNXyZOfDAJsw=");
        let md5 = params(AuthMode::AkSign, SignMethod::HmacMd5).sign(1573489088171);
        assert_eq!(md5.password.expose(), "KmlaAkFJSkr91WzoFbUAOQ==");
        let sha256 = params(AuthMode::AkSign, SignMethod::HmacSha256).sign(1573489088171);
        assert_eq!(
            sha256.password.expose(),
            "AhvW/wW19ODIFLr3vwMmtRtajpEf1skr8ldImgqGC48="
        );
    }

    #[test]
    fn ststoken_adds_the_token_in_order() {
        let c = params(AuthMode::StsToken, SignMethod::HmacSha256).sign(1);
        assert!(c.username.ends_with(",securityToken=tokenExample|"));
        assert_eq!(
            c.password.expose(),
            hmac_base64(
                SignMethod::HmacSha256,
                b"secretExample",
                b"authId=LTAI4Fexample&securityToken=tokenExample&timestamp=1"
            )
        );
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(params(AuthMode::StsToken, SignMethod::HmacSha1)
            .validate()
            .is_ok());
        let mut p = params(AuthMode::AkSign, SignMethod::HmacSha1);
        p.client_id = "a|b".into();
        assert!(p.validate().is_err());
        let mut p = params(AuthMode::StsToken, SignMethod::HmacSha1);
        p.security_token = None;
        assert!(p.validate().is_err());
        let mut p = params(AuthMode::AkSign, SignMethod::HmacSha1);
        p.client_id = "x".repeat(65);
        assert!(p.validate().is_err());
    }
}
