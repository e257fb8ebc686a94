import { httpFunction } from '#shared/http/handler.ts';
import { notImplemented } from '#shared/http/responses.ts';

// The oidc issue implements this function; until then its routes answer 501.
export const handler = httpFunction({
  'GET /oidc/{connectionId}/login': notImplemented,
});
