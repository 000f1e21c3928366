// The allow-list and the credentials: pure, no network.
import { describe, expect, it } from 'vitest';
import { applyAuth } from '../../../src/egress/credentials.js';
import { findRule, hostMatches } from '../../../src/egress/host-rules.js';

describe('host patterns (Riza semantics)', () => {
  it.each([
    ['api.example.com', 'api.example.com', true],
    ['api.example.com', 'API.Example.com.', true],
    ['api.example.com', 'example.com', false],
    ['api.example.com', 'x.api.example.com', false],
    ['*', 'anything.at.all', true],
    ['*', '10.0.0.1', true],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['*.example.com', 'example.com.evil.net', false],
    ['10.0.0.1', '10.0.0.1', true],
    ['[::1]', '::1', true],
  ])('%s matches %s: %s', (pattern, host, expected) => {
    expect(hostMatches(pattern, host)).toBe(expected);
  });

  it('picks the most specific rule: exact, then the longest wildcard, then *', () => {
    const rules = [
      { host: '*', auth: { bearer: { token: 'any' } } },
      { host: '*.example.com', auth: { bearer: { token: 'wide' } } },
      { host: '*.api.example.com', auth: { bearer: { token: 'narrow' } } },
      { host: 'v1.api.example.com', auth: { bearer: { token: 'exact' } } },
    ];
    expect(findRule(rules, 'v1.api.example.com')?.auth?.bearer?.token).toBe('exact');
    expect(findRule(rules, 'v2.api.example.com')?.auth?.bearer?.token).toBe('narrow');
    expect(findRule(rules, 'www.example.com')?.auth?.bearer?.token).toBe('wide');
    expect(findRule(rules, 'other.org')?.auth?.bearer?.token).toBe('any');
    expect(findRule(rules.slice(1), 'other.org')).toBeNull();
    expect(findRule([], 'example.com')).toBeNull();
  });
});

describe('credential injection', () => {
  const inject = (auth: Parameters<typeof applyAuth>[0], headers: Record<string, string> = {}) => {
    const url = new URL('https://api.example.com/v1/items?page=2');
    const h: Record<string, string | string[] | number | undefined> = { ...headers };
    applyAuth(auth, url, h);
    return { url: url.toString(), headers: h };
  };

  it('basic sets Authorization: Basic base64(user:password)', () => {
    expect(inject({ basic: { user_id: 'alice', password: 'p@ss:word' } }).headers.authorization).toBe(
      `Basic ${Buffer.from('alice:p@ss:word').toString('base64')}`,
    );
  });
  it('bearer sets Authorization: Bearer, replacing what the code sent', () => {
    const { headers } = inject({ bearer: { token: 'sk-123' } }, { Authorization: 'Bearer forged' });
    expect(headers).toEqual({ authorization: 'Bearer sk-123' });
  });
  it('header sets the named header, from value or from token', () => {
    expect(inject({ header: { name: 'X-Api-Key', value: 'v1' } }).headers['x-api-key']).toBe('v1');
    expect(inject({ header: { name: 'X-Api-Key', token: 't1' } }).headers['x-api-key']).toBe('t1');
  });
  it('query sets the parameter, keeping the others', () => {
    const { url } = inject({ query: { key: 'api_key', value: 'q s&=' } });
    expect(new URL(url).searchParams.get('api_key')).toBe('q s&=');
    expect(new URL(url).searchParams.get('page')).toBe('2');
  });
  it('no auth changes nothing', () => {
    expect(inject(null, { authorization: 'Bearer mine' })).toEqual({
      url: 'https://api.example.com/v1/items?page=2',
      headers: { authorization: 'Bearer mine' },
    });
  });
});
