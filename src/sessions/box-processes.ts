/**
 * Processes in a session box beside its harness (box protocol `p`/`P`/`O`/`E`/`X`/`n`/`s`, written
 * down in src/sandbox/box-protocol.ts; runtimes/wrapper_procs.py is the box's side): they run at once
 * with the session's calls and with each other, each with its output streamed, its stdin written
 * to, its group signalled. This is the box-level handle; what a session keeps of them (its table,
 * its output for a client that reconnects) is ./session-processes.ts.
 */
import { encodeFrame, type ProcessKind } from '../sandbox/box-protocol.js';

export interface ProcessSpec {
  argv: string[];
  env?: Record<string, string>;
  /** Absolute, in the box; the workspace (/mnt/req) when unset. */
  cwd?: string;
  /** Whether its stdin is a pipe kiln writes to (else it reads EOF at once). */
  stdin?: boolean;
}

/** How a process ended: its exit code (128 + the signal for one killed), the signal, or lost with its box. */
export interface ProcessEnd {
  exitCode: number;
  signal: number | null;
  /** The box ended first (its harness or the box itself): the process went with it. */
  lost: boolean;
}

export interface BoxProcess {
  /** Its pid in the box. */
  pid: number;
  ended: Promise<ProcessEnd>;
  write(data: Buffer): void;
  closeStdin(): void;
  signal(signal: number): void;
}

interface Entry {
  started(pid: number): void;
  failed(error: Error): void;
  output: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  end(end: ProcessEnd): void;
}

const id4 = (id: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id);
  return b;
};

/** The processes of one session box; `send` writes a frame to it. */
export function createBoxProcesses(send: (frame: Buffer) => void) {
  const entries = new Map<number, Entry>();
  let nextId = 1;

  return {
    /** Starts one; resolves once the box says it started (rejects, with the box's reason, when it could not). */
    spawn(spec: ProcessSpec, output: Entry['output']): Promise<BoxProcess> {
      const id = nextId++;
      let end!: (e: ProcessEnd) => void;
      const ended = new Promise<ProcessEnd>((resolve) => (end = resolve));
      return new Promise<BoxProcess>((resolve, reject) => {
        entries.set(id, {
          output,
          end,
          failed: (error) => {
            entries.delete(id);
            reject(error);
          },
          started: (pid) =>
            resolve({
              pid,
              ended,
              write: (data) => {
                if (data.length) send(encodeFrame('n', Buffer.concat([id4(id), data])));
              },
              closeStdin: () => send(encodeFrame('n', id4(id))),
              signal: (signal) => send(encodeFrame('s', Buffer.concat([id4(id), Buffer.from(JSON.stringify({ signal }))]))),
            }),
        });
        send(encodeFrame('p', Buffer.concat([id4(id), Buffer.from(JSON.stringify(spec))])));
      });
    },

    /** A process frame the box wrote (the decoder checked its kind and id's presence). */
    onFrame(kind: ProcessKind, id: number, data: Buffer): void {
      const entry = entries.get(id);
      if (!entry) return; // a frame for no process kiln started: nothing to tell
      if (kind === 'O' || kind === 'E') {
        entry.output(kind === 'O' ? 'stdout' : 'stderr', data);
        return;
      }
      let said: { pid?: unknown; error?: unknown; exit_code?: unknown; signal?: unknown };
      try {
        said = JSON.parse(data.toString('utf8')) as typeof said;
      } catch {
        said = {};
      }
      if (kind === 'P') {
        if (typeof said.pid === 'number') entry.started(said.pid);
        else entry.failed(new Error(typeof said.error === 'string' ? said.error : 'the process did not start'));
      } else {
        entries.delete(id);
        const exitCode = typeof said.exit_code === 'number' ? said.exit_code : 255;
        entry.end({ exitCode, signal: typeof said.signal === 'number' ? said.signal : null, lost: false });
      }
    },

    /** The box is gone (or its harness, which takes them along): every process it had ends, lost. */
    endAll(): void {
      for (const entry of entries.values()) {
        entry.failed(new Error('the box ended'));
        entry.end({ exitCode: 137, signal: 9, lost: true });
      }
      entries.clear();
    },
  };
}

export type BoxProcesses = ReturnType<typeof createBoxProcesses>;
