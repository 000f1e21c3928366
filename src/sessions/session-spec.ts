/**
 * A session's spec: its create request as given (env values, credentials or secret references in
 * http.allow, the first files), kept sealed beside the session so that a resume in a fresh box —
 * on this kiln after a restart, or on another replica — opens it again exactly as it was created.
 * Secret references are resolved again then: a secret rotated meanwhile is the new value.
 */
import type { SecretBox } from '../secrets/secret-box.js';
import type { SessionCreate } from './session-open.js';

const aad = (project: string, id: string) => `session-spec/${project}/${id}`;

export function sealSpec(box: SecretBox, project: string, id: string, req: SessionCreate): string {
  return box.seal(JSON.stringify(req), aad(project, id));
}

export function openSpec(box: SecretBox, project: string, id: string, sealed: string): SessionCreate {
  return JSON.parse(box.open(sealed, aad(project, id))) as SessionCreate;
}
