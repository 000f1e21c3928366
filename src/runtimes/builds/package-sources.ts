import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { Config } from '../../config.js';
import { parseAllowList, type AddressPolicy } from '../../egress/address-policy.js';
import type { AllowRule } from '../../egress/host-rules.js';

/**
 * Where builds may fetch packages from, and the egress a build box gets for it: only the hosts
 * of the configured sources (and KILN_BUILD_ALLOW_HOSTS), through kiln's proxy like any box.
 * A source on a private or loopback address (a mirror on the host) is reachable by builds alone,
 * at exactly its address and port; executions still are not.
 */
export interface PackageSources {
  /** pip's index options (`--index-url …`, `--trusted-host` for plain-http ones). */
  pipArgs: string[];
  npmRegistry: string;
  /** The build box's allow-list. */
  rules: AllowRule[];
  /** The address policy of build sessions: kiln's, plus the sources' own addresses. */
  policy: AddressPolicy;
  /** Trust for the sources' TLS (KILN_BUILD_CA_FILE added to the system's), or undefined: the default. */
  trust: string[] | undefined;
  /** Part of each image's content hash: another source may serve other packages under one name. */
  fingerprint: string;
}

export function packageSources(config: Config, base: AddressPolicy): PackageSources {
  const pipUrls = [config.KILN_PIP_INDEX_URL, ...config.KILN_PIP_EXTRA_INDEX_URLS, ...config.KILN_PIP_FIND_LINKS];
  const all = [...pipUrls, config.KILN_NPM_REGISTRY].map((u) => new URL(u));
  const pipArgs = ['--index-url', config.KILN_PIP_INDEX_URL];
  for (const u of config.KILN_PIP_EXTRA_INDEX_URLS) pipArgs.push('--extra-index-url', u);
  for (const u of config.KILN_PIP_FIND_LINKS) pipArgs.push('--find-links', u);
  // pip ignores a plain-http index unless told to trust its host
  for (const host of new Set(
    pipUrls
      .map((u) => new URL(u))
      .filter((u) => u.protocol === 'http:')
      .map((u) => u.hostname),
  ))
    pipArgs.push('--trusted-host', host);

  const hosts = new Set([...all.map((u) => u.hostname.replace(/^\[|\]$/g, '')), ...config.KILN_BUILD_ALLOW_HOSTS]);
  // PyPI's index serves its files from another host
  if (new URL(config.KILN_PIP_INDEX_URL).hostname === 'pypi.org') hosts.add('files.pythonhosted.org');
  const literal = all.filter((u) => isIP(u.hostname.replace(/^\[|\]$/g, '')));
  const exceptions = [
    ...literal.map((u) => `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`),
    config.KILN_BUILD_ALLOW_ADDRESSES,
  ].filter(Boolean);
  const policy = exceptions.length ? { ...base, allow: [...base.allow, ...parseAllowList(exceptions.join(','))] } : base;
  const extraCa = config.KILN_BUILD_CA_FILE ? readFileSync(config.KILN_BUILD_CA_FILE, 'utf8') : undefined;
  return {
    pipArgs,
    npmRegistry: config.KILN_NPM_REGISTRY,
    rules: [...hosts].map((host) => ({ host })),
    policy,
    trust: extraCa ? [...tls.rootCertificates, extraCa] : undefined,
    fingerprint: JSON.stringify([pipArgs, config.KILN_NPM_REGISTRY]),
  };
}
