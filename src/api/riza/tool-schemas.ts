import { z } from '@hono/zod-openapi';
import { schemaBoundsProblem } from '../../tools/schema-bounds.js';
import { CallbackUrl, InputValue, Language } from './schemas.js';
import { EnvBindings, HttpBinding } from './binding-schemas.js';
import { REVISION_LIMITS } from '../../tools/revision-limits.js';
import { hasNoControlCharacters } from '../plain-text.js';

const Code = z
  .string()
  .min(1, 'must not be empty')
  .refine((c) => Buffer.byteLength(c) <= REVISION_LIMITS.codeBytes, `must be at most ${REVISION_LIMITS.codeBytes} bytes`);
const Name = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .refine(hasNoControlCharacters, 'must not contain control characters');
const InputSchema = z
  .any()
  // the shape first, then the bounds every saved schema has (src/tools/schema-bounds.ts)
  .superRefine((s, ctx) => {
    if (s === null || s === undefined) return;
    const problem = typeof s !== 'object' || Array.isArray(s) ? 'must be a JSON Schema object' : schemaBoundsProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .openapi({ type: 'object', description: 'JSON Schema (draft 2020-12, or draft-07 by `$schema`) every input must match.' });

const toolFields = {
  name: Name,
  description: z.string().max(8192).nullish(),
  language: Language,
  code: Code,
  input_schema: InputSchema.optional(),
  runtime_revision_id: z
    .string()
    .max(256)
    .nullish()
    .openapi({ description: 'Run on this custom runtime revision (POST /v1/runtimes), once its build has succeeded.' }),
  env: EnvBindings.nullish().openapi({ description: 'kiln: env set whenever the tool runs; secrets by `secret_id`.' }),
  http: HttpBinding.nullish().openapi({ description: 'kiln: hosts the tool may reach, credentials by `secret_id`.' }),
};

export const CreateToolRequest = z.object(toolFields).openapi('CreateToolRequest');
export const UpdateToolRequest = z
  .object(toolFields)
  .partial()
  .refine((f) => Object.values(f).some((v) => v !== undefined), 'give at least one field to change')
  .openapi('UpdateToolRequest');

export const ExecuteToolRequest = z
  .object({
    input: InputValue.openapi({ description: 'Checked against the input schema, then passed to execute(input).' }),
    env: EnvBindings.nullish(),
    http: HttpBinding.nullish(),
    revision_id: z.string().max(256).nullish().openapi({ description: 'Run this revision; without it, the latest.' }),
    callback_url: CallbackUrl,
  })
  .openapi('ExecuteToolRequest');

export const Tool = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    language: z.string(),
    code: z.string(),
    input_schema: z.any(),
    revision_id: z.string(),
    runtime_revision_id: z.string().optional(),
    env: z.array(z.any()).openapi({ description: 'kiln: stored env bindings (secrets by id, never their values).' }),
    http: z.any().openapi({ description: 'kiln: stored egress bindings (credentials by secret id only).' }),
    created_at: z.string(),
  })
  .openapi('Tool');

export const ToolRevision = Tool.omit({ revision_id: true }).extend({ tool_id: z.string() }).openapi('ToolRevision');

export type CreateToolRequest = z.infer<typeof CreateToolRequest>;
