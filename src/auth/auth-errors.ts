// The two ways auth turns a caller away: 401 (no usable token; the caller should authenticate)
// and 403 (a good token that may not use this project). Messages name the reason but never
// repeat what the token holds.
import { CerebriumLocalError } from '../errors.ts';

export const MISSING_TOKEN_MESSAGE = 'No Authorization token found';

export const unauthorized = (code: string, message: string) => new CerebriumLocalError(401, 'authentication_error', code, message);

export const forbidden = (code: string, message: string) => new CerebriumLocalError(403, 'permission_error', code, message);
