import { httpFunction } from '#shared/http/handler.ts';
import { metadata } from '#shared/saml/sp-http.ts';

export const handler = httpFunction({
  'GET /saml/{connectionId}/metadata.xml': metadata,
});
