// Webhook signing as Cerebrium does it: with `X-Webhook-Secret: <secret>` on the call, the webhook
// carries the request id, a unix-seconds timestamp, and
// `v1,<hex HMAC-SHA256(secret, "{request_id}.{timestamp}.{body}")>`.
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-cerebrium-webhook-signature';
export const TIMESTAMP_HEADER = 'x-cerebrium-webhook-timestamp';

export function signWebhook(secret: string, requestId: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${requestId}.${timestamp}.${body}`).digest('hex');
  return `v1,${mac}`;
}

/** The signing headers for one delivery attempt. */
export function signatureHeaders(secret: string, requestId: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: signWebhook(secret, requestId, timestamp, body),
  };
}
