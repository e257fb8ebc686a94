import { httpFunction } from '#shared/http/handler.ts';
import { login } from '#shared/saml/sp-http.ts';

export const handler = httpFunction({
  'GET /saml/{connectionId}/login': login,
});
