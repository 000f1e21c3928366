/**
 * An OAuth error as the token, registration and revocation endpoints answer it (RFC 6749 §5.2,
 * RFC 7591 §3.2.2): a code a client acts on, and a description naming the parameter and the reason.
 */
export class OAuthError extends Error {
  constructor(
    readonly code:
      | 'invalid_request'
      | 'invalid_client'
      | 'invalid_grant'
      | 'unauthorized_client'
      | 'unsupported_grant_type'
      | 'unsupported_response_type'
      | 'invalid_scope'
      | 'invalid_target'
      | 'invalid_client_metadata'
      | 'invalid_redirect_uri'
      | 'access_denied',
    description: string,
    /** 401 for a client that failed to authenticate (RFC 6749 §5.2), else 400. */
    readonly status: 400 | 401 = code === 'invalid_client' ? 401 : 400,
  ) {
    super(description);
  }

  body() {
    return { error: this.code, error_description: this.message };
  }
}
