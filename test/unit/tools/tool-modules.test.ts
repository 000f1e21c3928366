import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  functionNames,
  javascriptModule,
  pythonDeclaration,
  pythonModule,
  typescriptDeclaration,
} from '../../../src/tools/tool-modules.js';

const tools = [
  {
    id: 'tool_000000000000000000000001',
    name: 'get weather',
    description: 'The weather at a place. */ not a comment end',
    inputSchema: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'A city' },
        days: { type: 'integer' },
        units: { enum: ['metric', 'imperial'] },
        'odd-name': { type: ['string', 'null'] },
      },
      required: ['city'],
    },
  },
  { id: 'tool_000000000000000000000002', name: 'class', description: '', inputSchema: null },
  {
    id: 'tool_000000000000000000000003',
    name: 'class',
    description: 'a second of the same name',
    inputSchema: { type: 'array', items: { type: 'number' } },
  },
  {
    id: 'tool_000000000000000000000004',
    name: '3d"""render',
    description: 'quotes """ and \\ backslashes',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    id: 'tool_000000000000000000000005',
    name: 'hostile',
    description: 'ends in a quote"',
    inputSchema: {
      type: 'object',
      properties: {
        'a"b\nc': { const: { nested: true } },
        flag: { enum: [true, false, null] },
        odd: { enum: [1.5, 'x"\'\\y'] },
        from: { type: 'string' },
        ref: { anyOf: [{ $ref: '#/$defs/Thing' }, { type: 'null' }] },
      },
    },
  },
  // names the modules' own code uses, and the word the old template replaced
  { id: 'tool_000000000000000000000006', name: 'fetch', description: '', inputSchema: null },
  { id: 'tool_000000000000000000000007', name: 'PAYLOAD', description: 'PAYLOAD', inputSchema: null },
  { id: 'tool_000000000000000000000008', name: '_call', description: '', inputSchema: null },
];

describe('the tools module a box gets', () => {
  it('names each tool as an identifier, unique, never a reserved word', () => {
    expect([...functionNames(tools).values()]).toEqual([
      'get_weather',
      'class_',
      'class__2',
      '_3d_render',
      'hostile',
      'fetch_',
      'PAYLOAD',
      '_call',
    ]);
  });

  it('declares TypeScript types from the input schemas', () => {
    const d = typescriptDeclaration(tools);
    expect(d).toContain("declare module 'kiln:tools'");
    expect(d).toContain(
      'export function get_weather(input: { /** A city */ city: string; days?: number; units?: "metric" | "imperial"; "odd-name"?: string | null; }): Promise<unknown>;',
    );
    expect(d).toContain('export function class__2(input: Array<number>): Promise<unknown>;');
    expect(d).not.toContain('*/ not a comment');
  });

  it('makes Python and JavaScript modules that compile, whatever the names and descriptions hold', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tool-modules-'));
    writeFileSync(join(dir, 'kiln_tools.py'), pythonModule(tools));
    writeFileSync(join(dir, 'stubs.py'), pythonDeclaration(tools));
    writeFileSync(join(dir, 'tools.mjs'), javascriptModule(tools));
    // parsed and run: a TypedDict's functional form evaluates its types as the module loads
    execFileSync('python3', [
      '-c',
      'import runpy, sys; [runpy.run_path(f) for f in sys.argv[1:]]',
      join(dir, 'kiln_tools.py'),
      join(dir, 'stubs.py'),
    ]);
    const load = `const m = await import(${JSON.stringify(join(dir, 'tools.mjs'))}); if (Object.keys(m.tools).length !== 8 || m.fetch_ === globalThis.fetch) process.exit(1);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', load]);
    const py = pythonModule(tools);
    // a field Python cannot spell (odd-name) takes TypedDict's functional form
    expect(py).toContain(
      'GetWeatherInput = TypedDict("GetWeatherInput", {"city": "str", "days": "int", "units": "Literal[\\"metric\\", \\"imperial\\"]", "odd-name": "str | None"}, total=False)',
    );
    expect(
      pythonModule([
        {
          ...tools[0]!,
          inputSchema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
        },
      ]),
    ).toContain('class GetWeatherInput(TypedDict):\n    city: str\n    days: NotRequired[int]');
    expect(py).toContain('def class__2(input: list[float], /) -> Any:');
    expect(py).toContain('return __kiln_call("tool_000000000000000000000001", "get weather", {**(input or {}), **fields})');
  });
});
