import { randomBytes } from 'node:crypto';
import { newId } from '../../src/ids.js';
import type { ExecutionRecord, SealedSecret, ToolRevision } from '../../src/store/store.js';

/** Builders of valid Store records for the contract suite; each field can be overridden. */

/** A project name of its own per test, so a store shared between tests (Postgres) stays apart. */
export const newProject = (label = 'p') => `${label}-${randomBytes(4).toString('hex')}`;

const now = () => new Date().toISOString();

export function aRevision(project: string, overrides: Partial<ToolRevision> = {}): ToolRevision {
  return {
    id: newId('rev'),
    toolId: newId('tool'),
    project,
    name: 'add',
    description: 'adds two numbers',
    language: 'python',
    code: 'def execute(input):\n    return {"sum": input["a"] + input["b"]}\n',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
    runtimeRevisionId: null,
    env: [
      { name: 'MODE', value: 'test' },
      { name: 'TOKEN', secret_id: newId('secret') },
    ],
    http: { allow: [{ host: 'api.example.com', auth: { bearer: { secret_id: newId('secret') } } }] },
    createdAt: now(),
    ...overrides,
  };
}

/** The next revision of `previous`'s tool, with different code and bindings. */
export function aNextRevision(previous: ToolRevision, overrides: Partial<ToolRevision> = {}): ToolRevision {
  return aRevision(previous.project, {
    toolId: previous.toolId,
    code: `${previous.code}# revised ${randomBytes(2).toString('hex')}\n`,
    env: [],
    http: null,
    inputSchema: null,
    runtimeRevisionId: 'rtrev_1',
    ...overrides,
  });
}

export function aSecret(project: string, overrides: Partial<SealedSecret> = {}): SealedSecret {
  const at = now();
  return {
    id: newId('secret'),
    project,
    name: 'API_KEY',
    sealed: `v1.sealed-${randomBytes(8).toString('hex')}`,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

export function anExecution(project: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id: newId('exec'),
    project,
    kind: 'script',
    via: 'api',
    language: 'python',
    exitCode: 0,
    durationMs: 42,
    startedAt: now(),
    toolId: null,
    revisionId: null,
    request: { language: 'python', code: 'print(1)', env: ['MODE'] },
    result: { stdout: '1\n', stderr: '', exit_code: 0 },
    ...overrides,
  };
}
