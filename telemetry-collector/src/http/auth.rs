//! The bearer token, compared in constant time: both sides are hashed first,
//! so neither the content nor the length of the expected token leaks through
//! the time a comparison takes.

use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The token requests must carry, kept only as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// The expected token.
    pub fn new(token: &str) -> Self {
        Token {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.digest.ct_eq(&given).into()
    }

    /// 401 without `Authorization: Bearer ...`, 403 with a wrong token.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        // The scheme name is case-insensitive (RFC 9110 section 11.1).
        let given = value.and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        });
        let Some(given) = given else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this collector needs `Authorization: Bearer <token>`",
            ));
        };
        if self.matches(given.trim()) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, "the bearer token is wrong"))
        }
    }
}

/// Checks the token when the collector has one.
pub fn authorize(token: &Option<Token>, headers: &HeaderMap) -> Result<(), ApiError> {
    match token {
        Some(token) => token.check(headers),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn missing_wrong_and_right_tokens() {
        let token = Token::new("s3cret");
        assert_eq!(
            token.check(&HeaderMap::new()).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            token.check(&headers("Basic abc")).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            token.check(&headers("Bearer s3cre")).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            token.check(&headers("Bearer s3cret!")).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        token.check(&headers("Bearer s3cret")).unwrap();
        token.check(&headers("bearer s3cret")).unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
