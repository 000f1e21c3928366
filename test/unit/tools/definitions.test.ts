// GET /v1/tools/{id}/definition: a saved tool as each LLM API takes a tool definition.
import { ToolSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { definitionName, strictable } from '../../../src/tools/definitions.js';
import { buildTestApp, PROJECT_B_KEY, type ErrorBody } from '../../helpers/app-fixture.js';

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: { city: { type: 'string', description: 'City name' }, days: { type: 'integer' } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const weather = {
  name: 'get weather (v2)',
  description: 'Forecast for a city',
  language: 'python',
  code: 'def execute(input):\n    return input\n',
  input_schema: schema,
};
const { $schema: _, ...parameters } = schema;

async function definition(format: string, tool: object = weather) {
  const app = await buildTestApp();
  const created = (await (await app.request('POST', '/v1/tools', tool)).json()) as { id: string };
  const res = await app.request('GET', `/v1/tools/${created.id}/definition?format=${format}`);
  return { app, id: created.id, status: res.status, body: (await res.json()) as any };
}

describe('tool definitions for LLM APIs', () => {
  it('OpenAI chat: {type: function, function: {name, description, parameters, strict}}', async () => {
    const { body } = await definition('openai');
    expect(body).toEqual({
      type: 'function',
      function: { name: 'get_weather_v2_', description: 'Forecast for a city', parameters, strict: true },
    });
  });

  it('OpenAI Responses: the function fields at the top level', async () => {
    expect((await definition('openai-responses')).body).toEqual({
      type: 'function',
      name: 'get_weather_v2_',
      description: 'Forecast for a city',
      parameters,
      strict: true,
    });
  });

  it('Anthropic: {name, description, input_schema}', async () => {
    expect((await definition('anthropic')).body).toEqual({
      name: 'get_weather_v2_',
      description: 'Forecast for a city',
      input_schema: parameters,
    });
  });

  it('MCP: {name, description, inputSchema}, with the dots MCP allows', async () => {
    const { body } = await definition('mcp', { ...weather, name: 'weather.get' });
    expect(body).toEqual({ name: 'weather.get', description: 'Forecast for a city', inputSchema: parameters });
    expect(() => ToolSchema.parse(body)).not.toThrow(); // the MCP SDK's own schema of a Tool
  });

  it('Gemini: {name, description, parametersJsonSchema}, the name starting with a letter or underscore', async () => {
    const { body } = await definition('gemini', { ...weather, name: '7day forecast' });
    expect(body).toEqual({ name: '_7day_forecast', description: 'Forecast for a city', parametersJsonSchema: parameters });
  });

  it('defaults to OpenAI, offers strict only where the schema allows it, and gives a tool without a schema an empty object', async () => {
    const open = await definition('openai', { ...weather, input_schema: { type: 'object', properties: { a: { type: 'string' } } } });
    expect(open.body.function).not.toHaveProperty('strict');
    const none = await definition('anthropic', { ...weather, input_schema: undefined });
    expect(none.body.input_schema).toEqual({ type: 'object', properties: {} });
    const byDefault = await definition('');
    expect(byDefault.status).toBe(400); // an empty format is not a format
    const app = await buildTestApp();
    const created = (await (await app.request('POST', '/v1/tools', weather)).json()) as { id: string };
    expect(((await (await app.request('GET', `/v1/tools/${created.id}/definition`)).json()) as { type: string }).type).toBe('function');
  });

  it("names the field of every bad request: an unknown format, a schema that is not an object, another project's tool", async () => {
    const bad = await definition('langchain');
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('format');
    const scalar = await definition('openai', { ...weather, input_schema: { type: 'number' } });
    expect(scalar.status).toBe(400);
    expect((scalar.body as ErrorBody).details?.[0]).toMatchObject({ field: 'input_schema', reason: 'not_an_object' });
    const other = await definition('openai');
    const res = await other.app.request('GET', `/v1/tools/${other.id}/definition`, undefined, PROJECT_B_KEY);
    expect(res.status).toBe(404);
  });
});

describe('one definition builder for /definition and /mcp', () => {
  it('gives a tool whose schema is not an object the same inputSchema in both: wrapped as {input}', async () => {
    const scalar = { ...weather, name: 'double', description: '', input_schema: { type: 'number', $defs: { n: { type: 'number' } } } };
    const { app, status, body } = await definition('mcp', scalar);
    expect(status).toBe(200);
    expect(body.inputSchema).toEqual({
      type: 'object',
      properties: { input: { type: 'number' } },
      required: ['input'],
      additionalProperties: false,
      $defs: { n: { type: 'number' } },
    });
    expect(body.description).toBe('Runs the saved python tool "double".');
    // what /mcp lists for the same tool
    const listed = await app.post(
      '/mcp',
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      {
        Authorization: 'Bearer unit-test-key-0123456789abcdef',
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
    );
    const tools = ((await listed.json()) as { result: { tools: { title?: string; inputSchema: unknown; description: string }[] } }).result
      .tools;
    const saved = tools.find((t) => t.title === 'double')!;
    expect(saved.inputSchema).toEqual(body.inputSchema);
    expect(saved.description).toBe(body.description);
  });
});

describe('names and strictness', () => {
  it('makes any name valid for each API', () => {
    expect(definitionName('héllo wörld!', 'openai')).toBe('h_llo_w_rld_');
    expect(definitionName('x'.repeat(200), 'anthropic')).toHaveLength(64);
    expect(definitionName('x'.repeat(200), 'mcp')).toHaveLength(128);
    expect(definitionName('!!!', 'openai')).toBe('tool');
    expect(definitionName('a:b.c', 'gemini')).toBe('a:b.c');
  });

  it('is strict only when every object, nested too, is closed with all its properties required', () => {
    expect(strictable(parameters)).toBe(true);
    expect(strictable({ ...parameters, required: ['city'] })).toBe(false);
    expect(
      strictable({
        type: 'object',
        properties: { o: { type: 'object', properties: { x: { type: 'string' } }, required: ['x'] } },
        required: ['o'],
        additionalProperties: false,
      }),
    ).toBe(false);
    expect(
      strictable({
        type: 'object',
        properties: { l: { type: 'array', items: { type: 'object', properties: {}, additionalProperties: false } } },
        required: ['l'],
        additionalProperties: false,
      }),
    ).toBe(true);
  });
});
