import { httpFunction } from '#shared/http/handler.ts';
import { json } from '#shared/http/responses.ts';

export const handler = httpFunction({
  'GET /health': async () => json(200, { status: 'ok' }),
});
