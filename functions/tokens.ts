import { httpFunction } from '#shared/http/handler.ts';
import * as tokens from '#shared/identity/http.ts';

export const handler = httpFunction({
  'POST /tokens': tokens.createApiToken,
  'GET /tokens': tokens.listApiTokens,
  'DELETE /tokens/{tokenId}': tokens.deleteApiToken,
});
