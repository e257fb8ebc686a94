import { httpFunction } from '#shared/http/handler.ts';
import { metadata } from '#shared/saml/http.ts';

export const handler = httpFunction({
  'GET /saml/{connectionId}/metadata.xml': metadata,
});
