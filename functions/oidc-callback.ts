import { httpFunction } from '#shared/http/handler.ts';
import { oidcCallback } from '#shared/oidc/http.ts';

export const handler = httpFunction({
  'GET /oidc/{connectionId}/callback': oidcCallback,
});
