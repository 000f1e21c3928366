import type { BuildStatus } from '../../model/vocabulary.js';
import type { Page } from '../page.js';

/**
 * The state of custom runtimes (issue 10): a runtime points at its newest revision; a revision is
 * a manifest and a build status, and names the image its build makes by a content hash
 * (`imageKey`), so that two revisions with the same content share one build and one image.
 */

export type { BuildStatus };
export type RuntimeLanguage = 'python' | 'javascript';

export interface RuntimeRevisionRecord {
  id: string; // rtrev_…
  runtimeId: string; // rt_…
  project: string;
  language: RuntimeLanguage;
  manifestName: 'requirements.txt' | 'package.json';
  manifestContents: string;
  additionalPythonImports: string | null;
  /** Content hash of what the build depends on: the derived image's tag. */
  imageKey: string;
  status: BuildStatus;
  /** Why the build failed, in the package manager's own words (its last lines); null otherwise. */
  failureReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface RuntimeRecord {
  id: string;
  project: string;
  name: string;
  language: RuntimeLanguage;
  createdAt: string;
}

/** A runtime as listed and fetched: with its newest revision. */
export interface RuntimeWithHead extends RuntimeRecord {
  head: RuntimeRevisionRecord;
}

/** What a build ends with, written to every revision of its image key still waiting for it. */
export interface BuildOutcome {
  status: Extract<BuildStatus, 'succeeded' | 'failed' | 'cancelled'>;
  failureReason: string | null;
  log: string;
  at: string;
}

export interface RuntimeStore {
  createRuntime(runtime: RuntimeRecord, revision: RuntimeRevisionRecord): Promise<RuntimeWithHead>;
  /** Appends a revision and makes it the head; null when the runtime does not exist in the project. */
  addRuntimeRevision(revision: RuntimeRevisionRecord): Promise<RuntimeWithHead | null>;
  getRuntime(project: string, id: string): Promise<RuntimeWithHead | null>;
  listRuntimes(project: string, page: Page): Promise<RuntimeWithHead[]>;
  /** A revision by its id alone (`runtime_revision_id` names no runtime); scoped by project. */
  getRuntimeRevision(project: string, revisionId: string): Promise<RuntimeRevisionRecord | null>;
  /** Null when the runtime does not exist in the project. */
  listRuntimeRevisions(project: string, runtimeId: string, page: Page): Promise<RuntimeRevisionRecord[] | null>;
  /** Removes the runtime and its revisions; false when it did not exist. */
  deleteRuntime(project: string, id: string): Promise<boolean>;
  /** The build log of a revision of the project (null: no such revision). */
  getBuildLog(project: string, revisionId: string): Promise<string | null>;

  // Builds work across projects: they are keyed by image, which revisions of any project may share.
  /** Moves every revision of `imageKey` whose status is in `from` to `to`; returns how many moved. */
  moveBuilds(imageKey: string, from: BuildStatus[], to: BuildStatus, at: string): Promise<number>;
  /** Ends the build of `imageKey` for every revision still pending or building. */
  finishBuilds(imageKey: string, outcome: BuildOutcome): Promise<number>;
  /** One revision per image key among those with a status in `statuses` (the oldest): what to build. */
  buildsWithStatus(statuses: BuildStatus[]): Promise<RuntimeRevisionRecord[]>;
  /** Whether any revision of `imageKey` has a succeeded build. */
  hasSucceededBuild(imageKey: string): Promise<boolean>;
  /** Every image key some revision still names (the image sweep keeps these). */
  imageKeysInUse(): Promise<Set<string>>;
}
