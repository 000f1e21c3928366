import type { ToolSummary } from '../../store/store.js';
import { definitionName, descriptionOf, parametersOf, takesObject } from '../../tools/definitions.js';
import type { Tools } from '../../tools/tools.js';
import { SESSION_TOOLS } from './session-tools.js';
import { BUILTINS } from './builtins.js';
import { EXECUTE_WITH_TOOLS } from './code-with-tools.js';
import { RESULT_SCHEMA } from './results.js';

/** Names the listing itself uses: a saved tool never takes one, whether or not it is listed now. */
export const SEARCH_TOOLS = 'search_tools';
export const CALL_TOOL = 'call_tool';
const RESERVED = new Set([...Object.keys(BUILTINS), SEARCH_TOOLS, CALL_TOOL, EXECUTE_WITH_TOOLS, ...SESSION_TOOLS]);

/** A saved tool as MCP sees it: its name there, and whether its input is wrapped as `{input}`. */
export interface CatalogEntry {
  name: string;
  tool: ToolSummary;
  /** The tool's schema is not an object schema, which MCP's inputSchema must be: it becomes `input`. */
  wrapped: boolean;
}

/**
 * Names valid for MCP (1–128 of [A-Za-z0-9_.-]) and unique within the project. The older tool
 * keeps the plain name, so a name an agent has learnt does not move when a newer tool takes the
 * same one; the newer gets the end of its id appended.
 */
function nameAll(list: ToolSummary[]): CatalogEntry[] {
  const taken = new Set(RESERVED);
  return list.map((tool) => {
    let name = definitionName(tool.name, 'mcp');
    if (taken.has(name)) {
      const tail = `_${tool.id.slice(-8)}`;
      name = name.slice(0, 128 - tail.length) + tail;
      for (let n = 2; taken.has(name); n++) name = `${name.slice(0, 120)}_${n}`;
    }
    taken.add(name);
    return { name, tool, wrapped: !takesObject(tool.inputSchema) };
  });
}

/** A saved tool as an MCP tool definition. */
export function definitionOf(entry: CatalogEntry) {
  const { tool } = entry;
  return {
    name: entry.name,
    title: tool.name,
    description: descriptionOf(tool),
    inputSchema: parametersOf(tool.inputSchema, 'wrap'),
    outputSchema: RESULT_SCHEMA,
  };
}

/** Words of a text, lower-cased, for search. */
const words = (text: string) =>
  text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/**
 * The entries that best match `query`: a word found in the name counts three, in the
 * description one; ties keep the newest first. An empty query lists the newest.
 */
export function search(entries: CatalogEntry[], query: string, limit: number): CatalogEntry[] {
  const terms = words(query);
  const newest = [...entries].reverse();
  if (terms.length === 0) return newest.slice(0, limit);
  const scored = newest.map((entry) => {
    const name = `${entry.name} ${entry.tool.name}`.toLowerCase();
    const description = entry.tool.description.toLowerCase();
    const score = terms.reduce((sum, t) => sum + (name.includes(t) ? 3 : 0) + (description.includes(t) ? 1 : 0), 0);
    return { entry, score };
  });
  return scored
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((s) => s.entry);
}

/** The project's saved tools under their MCP names; also found by tool id, which never changes. */
/** The project's tools as MCP names them; only `allowed` ones (a key limited to some tools) when given. */
export async function catalog(tools: Tools, project: string, allowed: readonly string[] | null = null) {
  const all = await tools.allSummaries(project);
  const entries = nameAll(allowed === null ? all : all.filter((t) => allowed.includes(t.id)));
  const byName = new Map(entries.map((e) => [e.name, e]));
  const byId = new Map(entries.map((e) => [e.tool.id, e]));
  return { entries, find: (name: string) => byName.get(name) ?? byId.get(name) };
}

export type Catalog = Awaited<ReturnType<typeof catalog>>;
