import { z } from '@hono/zod-openapi';
import { BUILD_STATUSES } from '../../model/vocabulary.js';
import { hasNoControlCharacters } from '../plain-text.js';

/** Riza's runtime shapes (its SDKs' Runtime, Revision and params), with kiln's additions marked. */

const ManifestFile = z
  .object({
    name: z.enum(['requirements.txt', 'package.json'], { error: 'must be requirements.txt or package.json' }),
    contents: z.string({ error: "must be a string: the file's text" }),
  })
  .openapi('ManifestFile');

const Imports = z.string().max(8192).nullish().openapi({
  description:
    'Python modules to import once at build time (proving they load) and in each warm box: import lines, or names separated by commas.',
});

export const CreateRuntimeRequest = z
  .object({
    name: z
      .string()
      .min(1, 'must not be empty')
      .max(256, 'must be at most 256 characters')
      .refine(hasNoControlCharacters, 'must not contain control characters'),
    language: z.enum(['python', 'javascript'], { error: 'must be python or javascript (TypeScript runs on a javascript runtime)' }),
    manifest_file: ManifestFile,
    additional_python_imports: Imports,
    engine: z
      .enum(['wasi', 'microvm', 'v8'])
      .optional()
      .openapi({ description: 'Accepted for compatibility with older Riza clients; kiln has one engine.' }),
  })
  .openapi('CreateRuntimeRequest');

export const CreateRevisionRequest = z
  .object({ manifest_file: ManifestFile, additional_python_imports: Imports })
  .openapi('CreateRuntimeRevisionRequest');

const Status = z.enum(BUILD_STATUSES);
const FailureReason = z
  .string()
  .optional()
  .openapi({ description: "kiln: why the build failed, in the package manager's own words (its last lines)." });

export const Runtime = z
  .object({
    id: z.string(),
    name: z.string(),
    language: z.enum(['python', 'javascript']),
    revision_id: z.string(),
    status: Status,
    manifest_file: ManifestFile,
    additional_python_imports: z.string().optional(),
    failure_reason: FailureReason,
  })
  .openapi('Runtime');

export const RuntimeRevision = z
  .object({
    id: z.string(),
    runtime_id: z.string(),
    manifest_file: ManifestFile,
    status: Status,
    additional_python_imports: z.string().optional(),
    failure_reason: FailureReason,
  })
  .openapi('RuntimeRevision');

export const BuildLog = z
  .object({
    revision_id: z.string(),
    status: Status,
    log: z.string().openapi({ description: "The end of the build's output (pip's or npm's own), up to 256 KiB." }),
  })
  .openapi('RuntimeBuildLog');
