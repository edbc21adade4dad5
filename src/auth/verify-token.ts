// An Authorization header → the token's claims, or the 401/403 that says why not. Every jose
// failure is mapped to a reason a caller can act on; the token itself is never echoed.
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type JWTVerifyOptions, errors as joseErrors, jwtVerify } from 'jose';
import { CerebriumLocalError } from '../errors.ts';
import type { VerificationKey } from './keys.ts';

/** What the real service says when no token came. Auth errors name the reason but never repeat what the token holds. */
const MISSING_TOKEN_MESSAGE = 'No Authorization token found';

/** How tokens are checked: against a key, or (opt-in, offline) by their claims alone. */
export type TokenChecker = VerificationKey | { kind: 'insecure-skip-signature'; describe: string };

/** Real tokens are well under 2 KB; anything this long is refused before any decoding. */
export const MAX_TOKEN_LENGTH = 8192;

/** Seconds of clock skew allowed on exp and nbf. */
const CLOCK_TOLERANCE_S = 5;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface VerifiedClaims extends JWTPayload {
  projectId: string;
}

/** Checks the header's bearer token and that it belongs to `projectId`. Throws a CerebriumLocalError. */
export async function verifyAuthorization(header: string | undefined, checker: TokenChecker, projectId: string): Promise<VerifiedClaims> {
  const token = bearerToken(header);
  const alg = headerAlgorithm(token);
  const allowed = checker.kind === 'insecure-skip-signature' ? undefined : checker.algorithms;
  if (alg === 'none' || (allowed && !allowed.includes(alg))) {
    const accepted = allowed ? allowed.join(', ') : 'any signed algorithm';
    throw new CerebriumLocalError(
      'algorithm_not_allowed',
      `The token's algorithm${safeAlgName(alg)} is not allowed; this server accepts ${accepted}`,
    );
  }

  let payload: JWTPayload;
  try {
    payload = await checkToken(token, checker);
  } catch (err) {
    throw fromJoseError(err, checker);
  }

  const claimed = payload.projectId;
  if (typeof claimed !== 'string' || claimed === '') {
    throw new CerebriumLocalError('missing_project_claim', 'The token carries no projectId claim');
  }
  if (claimed !== projectId) {
    throw new CerebriumLocalError('project_mismatch', `The token is valid but was issued for another project, not "${projectId}"`);
  }
  return payload as VerifiedClaims;
}

function bearerToken(header: string | undefined): string {
  const value = header?.trim() ?? '';
  if (value === '') throw new CerebriumLocalError('missing_token', MISSING_TOKEN_MESSAGE);
  const space = value.search(/\s/);
  const scheme = space === -1 ? value : value.slice(0, space);
  // The scheme is never repeated: a token pasted without "Bearer " would sit in its place.
  if (scheme.toLowerCase() !== 'bearer') {
    throw new CerebriumLocalError('not_bearer', 'The Authorization header must use the Bearer scheme: "Authorization: Bearer <token>"');
  }
  const token = space === -1 ? '' : value.slice(space).trim();
  if (token === '') throw new CerebriumLocalError('missing_token', `${MISSING_TOKEN_MESSAGE} after "Bearer"`);
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new CerebriumLocalError('malformed_token', `The bearer token is not a JWT: it is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  if (!JWT_SHAPE.test(token)) {
    throw new CerebriumLocalError('malformed_token', 'The bearer token is not a JWT: expected three base64url parts separated by dots');
  }
  return token;
}

function headerAlgorithm(token: string): string {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new CerebriumLocalError('malformed_token', 'The bearer token is not a JWT: its header is not base64url-encoded JSON');
  }
  if (typeof alg !== 'string') throw new CerebriumLocalError('malformed_token', 'The bearer token is not a JWT: its header has no "alg"');
  return alg;
}

/** Names the algorithm only when it looks like one, so a crafted header cannot fill the message. */
function safeAlgName(alg: string): string {
  return /^[A-Za-z0-9]{1,16}$/.test(alg) ? ` "${alg}"` : '';
}

async function checkToken(token: string, checker: TokenChecker): Promise<JWTPayload> {
  const options: JWTVerifyOptions = { clockTolerance: CLOCK_TOLERANCE_S };
  switch (checker.kind) {
    case 'secret':
    case 'public-key':
      return (await jwtVerify(token, checker.key, { ...options, algorithms: checker.algorithms })).payload;
    case 'jwks':
      return (await jwtVerify(token, checker.key, { ...options, algorithms: checker.algorithms })).payload;
    case 'insecure-skip-signature':
      return checkClaimsOnly(token);
  }
}

/** The claims jwtVerify would check after the signature: the times, in the same way. */
function checkClaimsOnly(token: string): JWTPayload {
  const payload = decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp !== undefined && (typeof payload.exp !== 'number' || payload.exp <= now - CLOCK_TOLERANCE_S)) {
    throw new CerebriumLocalError('token_expired', 'The token has expired');
  }
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + CLOCK_TOLERANCE_S)) {
    throw new CerebriumLocalError('token_not_yet_valid', 'The token is not valid yet (its nbf is in the future)');
  }
  return payload;
}

/** A CerebriumLocalError for every expected failure; anything else is returned as it came. */
function fromJoseError(err: unknown, checker: TokenChecker): unknown {
  if (err instanceof CerebriumLocalError) return err;
  if (err instanceof joseErrors.JWTExpired) return new CerebriumLocalError('token_expired', 'The token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new CerebriumLocalError('token_not_yet_valid', 'The token is not valid yet (its nbf is in the future)');
    return new CerebriumLocalError('invalid_claims', `The token's "${err.claim}" claim is invalid`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return new CerebriumLocalError('algorithm_not_allowed', "The token's algorithm is not allowed with the configured key");
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new CerebriumLocalError('invalid_signature', 'The token signature does not verify against the configured key');
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new CerebriumLocalError('no_matching_key', 'No single key in the JWKS matches the token (its kid and alg)');
  }
  if (checker.kind === 'jwks' && isJwksFetchFailure(err)) return jwksUnavailable();
  if (err instanceof joseErrors.JOSEError) {
    // jose's messages are fixed strings about the structure, never the token's values.
    return new CerebriumLocalError('malformed_token', `The bearer token is not a valid JWT: ${err.message}`);
  }
  return err;
}

/**
 * A JWKS URL that cannot be fetched, or answers garbage, is the server's trouble, not the caller's.
 * jose reports it as a timeout, an invalid set, a plain JOSEError (a non-200 answer), or fetch's own error.
 */
function isJwksFetchFailure(err: unknown): boolean {
  if (!(err instanceof joseErrors.JOSEError)) return true;
  return err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || err.code === joseErrors.JOSEError.code;
}

const jwksUnavailable = () =>
  new CerebriumLocalError('jwks_unavailable', 'Could not get the signing keys from the JWKS; try again shortly');
