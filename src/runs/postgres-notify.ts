// LISTEN on the deployment's channels over a connection of its own (a pooled connection cannot
// hold a LISTEN), connecting again a second after it is lost. Notifications missed while it is
// down are made up for by the queue's poll; a cancel sent then waits for the next attempt.

import pg from 'pg';
import type { Logger } from 'pino';

/** A new async run was queued: the payload is its app's name. */
export const QUEUE_CHANNEL = 'cerebrium_local_queue';
/** A run is to be cancelled by whichever server runs it: the payload is its id. */
export const CANCEL_CHANNEL = 'cerebrium_local_cancel';

const RECONNECT_MS = 1000;

export interface ListenerOptions {
  connectionString: string;
  channels: string[];
  log: Logger;
  onNotification(channel: string, payload: string): void;
  /** Called after each (re)connection: what was missed while disconnected can be looked at again. */
  onConnected?(): void;
}

export class PostgresListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private lostLogged = false;

  constructor(private readonly options: ListenerOptions) {}

  /** Connects and listens; resolves once listening (or once the first attempt failed, retrying meanwhile). */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.options.connectionString, connectionTimeoutMillis: 2000 });
    client.on('notification', (message) => this.options.onNotification(message.channel, message.payload ?? ''));
    // An error event without a listener would crash the process when the database goes away.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    this.client = client;
    try {
      await client.connect();
      for (const channel of this.options.channels) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      this.lost(client, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    if (this.lostLogged) this.options.log.warn('listening to the deployment again (cancels and queued runs)');
    this.lostLogged = false;
    this.options.onConnected?.();
  }

  private lost(client: pg.Client, err: Error): void {
    // Only the connection in use counts: a replaced one may still report its end.
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    if (!this.lostLogged) {
      this.options.log.warn({ err }, 'lost the listening connection to the deployment database; retrying every second');
      this.lostLogged = true;
    }
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, RECONNECT_MS);
    this.retry.unref();
  }
}
