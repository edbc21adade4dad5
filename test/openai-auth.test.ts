// Auth applies to the OpenAI-compatible routes as to /v4 invoke: the SDK's api key is the JWT,
// and a refusal reaches the SDK in OpenAI's envelope as its AuthenticationError.

import { SignJWT } from 'jose';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestServer, type TestServer } from './helpers/test-server.ts';

const SECRET = 'openai-route-test-secret-long-enough-for-hs256';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([fixture('openai-app/secured')], { auth: { jwtSecret: SECRET } });
});

afterAll(async () => {
  await server?.close();
});

const token = () =>
  new SignJWT({ projectId: 'p-test' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));

const client = (apiKey: string) => new OpenAI({ baseURL: `${server.url}/v4/p-test/oai-secured/echo`, apiKey, maxRetries: 0 });

describe('OpenAI routes behind auth', () => {
  it('a valid token as the api key is accepted', async () => {
    const completion = await client(await token()).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0].message.content).toBe('secured: hi');
  });

  it('a bad token is the SDK’s AuthenticationError, in OpenAI’s envelope', async () => {
    const err = await client('not-a-jwt')
      .chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const apiError = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(401);
    expect(apiError.type).toBe('authentication_error');
    expect(apiError.param).toBeNull();
    expect(typeof apiError.code).toBe('string');
  });
});
