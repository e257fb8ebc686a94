import { httpFunction } from '#shared/http/handler.ts';
import { oidcClientJwks, oidcLogin } from '#shared/oidc/http.ts';

export const handler = httpFunction({
  'GET /oidc/{connectionId}/login': oidcLogin,
  'GET /oidc/{connectionId}/jwks.json': oidcClientJwks,
});
