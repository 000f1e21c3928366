import { pino, type Logger } from 'pino';

/** JSON lines on stdout; never logs request bodies (they carry user code and env). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'kiln' } });
}
