import { DOMParser } from '@xmldom/xmldom';
import { AppError } from '../errors.ts';

/** SAML 2.0 and XML Signature namespaces (SAML core section 1.2). */
export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
} as const;

export const malformed = (why: string, cause?: unknown) =>
  new AppError(400, 'malformed_response', `The SAML message is malformed: ${why}.`, { cause });

/**
 * Parses XML we did not write. A DOCTYPE is refused before parsing (no entity expansion, no
 * external entities: billion laughs and XXE never reach a parser), and any parser error or
 * warning is fatal rather than repaired.
 */
export function parseUntrustedXml(xml: string, what = 'message'): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw malformed(`a ${what} must not contain a DOCTYPE`);
  let problem: string | undefined;
  const parser = new DOMParser({
    locator: {},
    errorHandler: {
      warning: (m: string) => {
        problem ??= m;
      },
      error: (m: string) => {
        problem ??= m;
      },
      fatalError: (m: string) => {
        problem ??= m;
      },
    },
  });
  let doc: Document;
  try {
    doc = parser.parseFromString(xml, 'text/xml') as unknown as Document;
  } catch (cause) {
    throw malformed(`the ${what} is not well-formed XML`, cause);
  }
  if (problem || !doc?.documentElement) throw malformed(`the ${what} is not well-formed XML`, problem);
  // A processing instruction inside the content is canonicalized like text (xml-crypto writes its
  // data) but read as nothing: `admin@victim.test<?x .evil.test?>` would be signed as
  // `admin@victim.test.evil.test` and read as `admin@victim.test`. SAML never needs one there.
  if (hasProcessingInstruction(doc.documentElement)) {
    throw malformed(`a ${what} must not contain processing instructions`);
  }
  return doc;
}

function hasProcessingInstruction(node: Node): boolean {
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === 7) return true;
    if (c.nodeType === 1 && hasProcessingInstruction(c)) return true;
  }
  return false;
}

export const childElements = (node: Node, ns?: string, name?: string): Element[] => {
  const out: Element[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.nodeType !== 1) continue;
    const e = c as Element;
    if ((ns === undefined || e.namespaceURI === ns) && (name === undefined || e.localName === name))
      out.push(e);
  }
  return out;
};

export const firstChild = (node: Node, ns: string, name: string): Element | undefined =>
  childElements(node, ns, name)[0];

/** Every descendant element with this namespace and local name (`*`: any), the node itself excluded. */
export function descendants(node: Node, ns: string, name: string): Element[] {
  const out: Element[] = [];
  const walk = (n: Node) => {
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.nodeType !== 1) continue;
      const e = c as Element;
      if ((ns === '*' || e.namespaceURI === ns) && (name === '*' || e.localName === name)) out.push(e);
      walk(e);
    }
  };
  walk(node);
  return out;
}

/**
 * The whole text of an element: every text node below it, joined. A comment inside a NameID
 * (`alice@evil.test<!---->.good.test`) never truncates it (the 2018 SAML comment attacks).
 */
export function wholeText(element: Element): string {
  let text = '';
  const walk = (n: Node) => {
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3 || c.nodeType === 4) text += c.nodeValue ?? '';
      else if (c.nodeType === 1) walk(c);
    }
  };
  walk(element);
  return text.trim();
}
