/**
 * Which saved tools an execution may call (issue 27): those it names (`tools: ["weather",
 * "tool_…"]`, by name or id) or, given `"all"`, every tool of the project; never one outside the
 * project, and never one its key may not run. A 400 names the entry kiln cannot find.
 */
import { forbidden, type KeyOfRequest } from '../access/scopes.js';
import { fieldError } from '../errors.js';
import type { Tool, ToolStore } from '../store/store.js';
import { everyItem } from '../store/store.js';

const MAX_TOOLS = 100;

export async function callableTools(
  store: ToolStore,
  project: string,
  given: readonly string[] | 'all',
  key: KeyOfRequest | null | undefined,
): Promise<Map<string, Tool>> {
  const allowed = key?.tools ?? null;
  const out = new Map<string, Tool>();
  if (given === 'all') {
    for await (const tool of everyItem(
      (page) => store.list(project, page),
      (t) => t.id,
      1000,
    )) {
      if (allowed && !allowed.includes(tool.id)) continue;
      if (out.size >= MAX_TOOLS)
        throw fieldError('tools', 'too_many', `the project has more than ${MAX_TOOLS} tools: name the ones to call`);
      out.set(tool.id, tool);
    }
    return out;
  }
  if (given.length > MAX_TOOLS) throw fieldError('tools', 'too_many', `at most ${MAX_TOOLS} tools`);
  for (const [i, ref] of given.entries()) {
    const id = /^tool_[0-9a-f]{24}$/.test(ref) ? ref : (await store.findByName(project, ref))?.id;
    const tool = id ? await store.get(project, id) : null;
    if (!tool) throw fieldError(`tools[${i}]`, 'not_found', `no tool ${ref} in this project`);
    if (allowed && !allowed.includes(tool.id)) throw forbidden(`tools:${tool.id}`, `this key may not run tool ${tool.id}`);
    out.set(tool.id, tool);
  }
  return out;
}
