/**
 * Where one request's time went inside kiln, stage by stage, for its Server-Timing header: a
 * client (and `npm run bench`) can tell kiln's own stages from each other and from the network.
 * Each `mark` closes the stage that ran since the previous mark; what follows the last mark, until
 * the answer is written, is `render`.
 */
export class StageTimer {
  private readonly started = performance.now();
  private last = this.started;
  private readonly stages: string[] = [];
  private readonly durations: number[] = [];

  /** Ends the stage `name` now; a stage marked twice (a retry) adds up. */
  mark(name: Stage): void {
    const now = performance.now();
    const i = this.stages.indexOf(name);
    if (i < 0) {
      this.stages.push(name);
      this.durations.push(now - this.last);
    } else this.durations[i]! += now - this.last;
    this.last = now;
  }

  /** `app` (the whole of kiln's time) first, then each stage, then `render`: Server-Timing's syntax. */
  header(): string {
    const now = performance.now();
    let text = `app;dur=${(now - this.started).toFixed(2)}`;
    if (this.stages.length === 0) return text;
    for (let i = 0; i < this.stages.length; i++) text += `, ${this.stages[i]};dur=${this.durations[i]!.toFixed(2)}`;
    return `${text}, render;dur=${(now - this.last).toFixed(2)}`;
  }
}

/** What the execution path marks (its stages, in order), for whoever carries a timer. */
export type Stage = 'parse' | 'resolve' | 'admit' | 'encode' | 'acquire' | 'box' | 'decode' | 'release' | 'log';
