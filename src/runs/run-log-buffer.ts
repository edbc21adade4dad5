// A run's logs while it is live: the lines its function logged, bounded (the last N lines and
// bytes; a cut is flagged), written to the store as they come, and heard by whoever follows them
// (the logs API's SSE). Once the run ends its buffer closes and the store alone holds its lines.
import { EventEmitter } from 'node:events';
import type { RunLogLine } from '../replica-protocol.ts';
import type { Run } from './run.ts';
import type { RunRepository, StoredLogLine } from './run-repository.ts';

export interface RunLogBounds {
  /** The most lines kept per run: older ones are dropped first. */
  maxLines: number;
  /** The most bytes of text kept per run (UTF-8); a longer single line is cut to it. */
  maxBytes: number;
}

/** A run's kept lines, and whether some were dropped or cut. */
export interface RunLogs {
  lines: StoredLogLine[];
  truncated: boolean;
}

/** Lines were dropped from the start (their seq is missing) or one was cut. */
export function isTruncated(lines: StoredLogLine[]): boolean {
  return (lines.length > 0 && lines[0].seq > 0) || lines.some((line) => line.cut === true);
}

interface BufferEvents {
  lines: [lines: StoredLogLine[]];
  end: [];
}

export class RunLogBuffer extends EventEmitter<BufferEvents> {
  private kept: StoredLogLine[] = [];
  private bytes = 0;
  private next = 0;
  private ended = false;

  constructor(private readonly bounds: RunLogBounds) {
    super();
  }

  get live(): boolean {
    return !this.ended;
  }

  /**
   * Adds lines and drops the oldest past the bounds. Returns the lines added and the first seq
   * still kept, for the store to do the same.
   */
  append(lines: RunLogLine[]): { added: StoredLogLine[]; keepFrom: number } {
    const added = lines.map((line) => this.number(line));
    for (const line of added) {
      this.kept.push(line);
      this.bytes += Buffer.byteLength(line.line);
    }
    let drop = 0;
    let bytes = this.bytes;
    while (this.kept.length - drop > this.bounds.maxLines || (bytes > this.bounds.maxBytes && this.kept.length - drop > 1)) {
      bytes -= Buffer.byteLength(this.kept[drop].line);
      drop += 1;
    }
    if (drop > 0) {
      this.kept = this.kept.slice(drop);
      this.bytes = bytes;
    }
    const keepFrom = this.kept.length > 0 ? this.kept[0].seq : this.next;
    const stillKept = added.filter((line) => line.seq >= keepFrom);
    if (stillKept.length > 0) this.emit('lines', stillKept);
    return { added: stillKept, keepFrom };
  }

  snapshot(): RunLogs {
    return { lines: [...this.kept], truncated: isTruncated(this.kept) };
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }

  private number(line: RunLogLine): StoredLogLine {
    const stored: StoredLogLine = { seq: this.next++, ...line };
    // One line larger than the whole bound keeps its beginning (the only line then kept).
    if (Buffer.byteLength(line.line) > this.bounds.maxBytes) {
      stored.line = Buffer.from(line.line)
        .subarray(0, this.bounds.maxBytes)
        .toString()
        .replace(/\uFFFD$/, '');
      stored.cut = true;
    }
    return stored;
  }
}

/**
 * The live runs' log buffers, and how their lines reach the store. A run gets its buffer when its
 * first line arrives or someone follows it: most runs log nothing, and a buffer per run (with its
 * listener) would be paid by every call.
 */
export class RunLogBook {
  private readonly buffers = new Map<string, RunLogBuffer>();

  constructor(
    private readonly repository: RunRepository,
    private readonly bounds: RunLogBounds,
  ) {}

  append(run: Run, lines: RunLogLine[]): void {
    const buffer = this.bufferOf(run);
    if (!buffer) return;
    const { added, keepFrom } = buffer.append(lines);
    if (added.length > 0 || keepFrom > 0) this.repository.appendLogs(run.id, added, keepFrom);
  }

  /** The buffer of a run still live, to follow; undefined once it has ended. */
  live(run: Run): RunLogBuffer | undefined {
    return this.bufferOf(run);
  }

  /** A run's logs: from its buffer while live, else from the store. */
  async read(runId: string): Promise<RunLogs> {
    const buffer = this.buffers.get(runId);
    if (buffer) return buffer.snapshot();
    const lines = await this.repository.logs(runId);
    return { lines, truncated: isTruncated(lines) };
  }

  /** The run's buffer, made on first use and closed (and forgotten) when the run ends. */
  private bufferOf(run: Run): RunLogBuffer | undefined {
    if (run.done) return undefined;
    const kept = this.buffers.get(run.id);
    if (kept) return kept;
    const buffer = new RunLogBuffer(this.bounds);
    this.buffers.set(run.id, buffer);
    const onTransition = () => {
      if (!run.done) return;
      run.off('transition', onTransition);
      this.buffers.delete(run.id);
      buffer.end();
    };
    run.on('transition', onTransition);
    return buffer;
  }
}
