import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AddressPolicy, RefusedAddress } from './address-policy.js';
import type { ToolGateway } from '../sandbox/job.js';
import type { AllowRule } from './host-rules.js';

/** The host a box's tool calls go to (issue 27): no dot, so never a name on any network; kiln answers it itself. */
export const TOOLS_HOST = 'kiln-tools';

/** What one execution may reach: its allow-list and the credentials to inject. Never leaves kiln. */
export interface EgressSession {
  executionId: string;
  rules: readonly AllowRule[];
  /** A build's session: its own address policy (a package mirror's address) and TLS trust. */
  policy?: AddressPolicy;
  trust?: string[];
  /** The setting that opens `policy` to an address, named in refusals (default KILN_EGRESS_ALLOW_ADDRESSES). */
  allowSetting?: string;
  /** When present, address refusals are added here (the first few hosts): a build reports them when it fails. */
  refused?: RefusedAddress[];
  /** The execution's tools (issue 27): requests to http://kiln-tools/ are answered by kiln, never sent on. */
  tools?: ToolGateway;
}

/** Where a request goes: from its absolute URL, or from the CONNECT line of its tunnel. */
export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

export type EgressDecision = 'allowed' | 'denied_host' | 'refused_address' | 'bad_request' | 'upstream_error';

/**
 * Distinct denied hosts per execution that still get their 403 over TLS, which costs kiln a
 * certificate each. Past them a CONNECT to a denied host is refused outright (403), so that a box
 * cycling through made-up host names cannot make kiln mint certificates without end.
 */
export const DENIED_TLS_HOSTS = 8;

/** What the proxy keeps for one session while its execution runs. */
interface SessionState {
  /** Its upstream connections: reused only within this execution, never handed to another one. */
  agents: { http: http.Agent; https: https.Agent } | null;
  /** The denied hosts it has had a certificate minted for. */
  deniedTls: Set<string>;
}

/** The proxy's per-session state, one record per session, gone with the session object. */
export function createSessionStates() {
  const states = new WeakMap<EgressSession, SessionState>();
  const of = (session: EgressSession): SessionState => {
    let state = states.get(session);
    if (!state) {
      state = { agents: null, deniedTls: new Set() };
      states.set(session, state);
    }
    return state;
  };
  return {
    agentFor(session: EgressSession, scheme: Target['scheme']): http.Agent {
      const state = of(session);
      state.agents ??= { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
      return state.agents[scheme];
    },
    /** Whether a CONNECT to `host`, which the allow-list denies, may still be tunnelled (see DENIED_TLS_HOSTS). */
    mayTunnelDenied(session: EgressSession, host: string): boolean {
      const hosts = of(session).deniedTls;
      if (!hosts.has(host) && hosts.size >= DENIED_TLS_HOSTS) return false;
      hosts.add(host);
      return true;
    },
    /** The execution is over: its upstream connections close. */
    end(session: EgressSession): void {
      const state = states.get(session);
      state?.agents?.http.destroy();
      state?.agents?.https.destroy();
      if (state) state.agents = null;
    },
  };
}

/** Each decision is counted, and logged with its execution: never with a credential. */
export type RecordDecision = (
  session: EgressSession,
  host: string,
  decision: EgressDecision,
  status: number,
  method?: string,
  why?: string,
) => void;

export const decisionRecorder =
  (log: Logger, metrics: Metrics): RecordDecision =>
  (session, host, decision, status, method = 'CONNECT', why) => {
    metrics.egress.inc({ decision });
    log.info({ execution: session.executionId, host, method, decision, status, ...(why ? { why } : {}) }, 'egress');
  };
