import { describe, expect, it } from 'vitest';
import { redirectSource, redirectUriMatches, redirectUriProblem } from '../../../src/access/oauth/redirect-uris.js';

describe('OAuth redirect URIs', () => {
  it('takes https, loopback http and native schemes; refuses what a browser would run, read, or send elsewhere', () => {
    for (const ok of [
      'https://claude.ai/api/mcp/auth_callback',
      'http://127.0.0.1:33418/cb',
      'http://localhost/cb',
      'http://[::1]:8/x',
      'cursor://anysphere.cursor-mcp/oauth/callback',
      'com.example.app:/cb',
    ])
      expect(redirectUriProblem(ok), ok).toBeNull();
    for (const [bad, why] of [
      ['http://example.test/cb', /loopback/],
      ['http://127.0.0.1.evil.test/cb', /loopback/],
      ['javascript:alert(1)', /javascript/],
      ['data:text/html,x', /data/],
      ['https://a.test/cb#x', /fragment/],
      ['https://user:pw@a.test/cb', /credentials/],
      ['/relative', /absolute/],
      [`https://a.test/${'x'.repeat(2000)}`, /2000/],
    ] as const)
      expect(redirectUriProblem(bad), bad).toMatch(why);
  });

  it('matches exactly, except a loopback URI on another port (RFC 8252 §7.3)', () => {
    expect(redirectUriMatches('https://a.test/cb', 'https://a.test/cb')).toBe(true);
    expect(redirectUriMatches('https://a.test/cb', 'https://a.test/cb/')).toBe(false);
    expect(redirectUriMatches('https://a.test/cb', 'https://a.test:8443/cb')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://127.0.0.1:51000/cb')).toBe(true);
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://127.0.0.1:51000/other')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://localhost:51000/cb')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/cb?a=1', 'http://127.0.0.1:5/cb?a=2')).toBe(false);
  });

  it("names the source a form's redirect needs in CSP", () => {
    expect(redirectSource('https://claude.ai/api/mcp/auth_callback')).toBe('https://claude.ai');
    expect(redirectSource('cursor://anysphere.cursor-mcp/oauth/callback')).toBe('cursor:');
  });
});
