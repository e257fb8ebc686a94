import { Errors } from '../errors.ts';

/**
 * Reading the console's form posts (application/x-www-form-urlencoded, one value per name): what
 * the pages send is turned into the same bodies the admin API takes, and the services validate
 * them as they validate the API's. Empty text means "not given" (or "remove" in a change).
 */
export type Form = Readonly<Record<string, string>>;

/** A field's text, trimmed, its line breaks as LF (a browser sends a textarea's as CRLF). */
export const text = (form: Form, name: string): string => (form[name] ?? '').replace(/\r\n?/g, '\n').trim();

export const optional = (form: Form, name: string): string | undefined => {
  const value = text(form, name);
  return value === '' ? undefined : value;
};

/** A change's value: the text, or null to remove the setting when the field was emptied. */
export const orNull = (form: Form, name: string): string | null => optional(form, name) ?? null;

export const checked = (form: Form, name: string): boolean => form[name] === 'on';

/** One entry a line, blank lines left out. */
export const lines = (form: Form, name: string): string[] =>
  (form[name] ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);

/** A whole number, or undefined when empty; anything else is refused as the API refuses it. */
export function integer(form: Form, name: string): number | undefined {
  const value = optional(form, name);
  if (value === undefined) return undefined;
  if (!/^-?\d{1,15}$/.test(value)) {
    throw Errors.invalidRequest(`The form is invalid: ${name}: must be a whole number`, [
      { path: name, message: 'must be a whole number' },
    ]);
  }
  return Number(value);
}

/** The version the form was rendered with (optimistic locking): required on every change. */
export function version(form: Form): number {
  const value = integer(form, 'version');
  if (value === undefined || value < 1) {
    throw Errors.invalidRequest('The form is invalid: version: the page did not send its version', [
      { path: 'version', message: 'required' },
    ]);
  }
  return value;
}

/** The form's values when they belong to the form named `action` (to fill it again after an error). */
export const stickyFor = (values: Form | undefined, action: string): Form | undefined =>
  values && values.action === action ? values : undefined;
