import { DOMParser } from '@xmldom/xmldom';
import { AppError, MAX_DOCUMENT_DEPTH } from '../errors.ts';

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

const tooDeep = (what: string) =>
  new AppError(400, 'xml_too_deep', `The ${what} nests elements deeper than ${MAX_DOCUMENT_DEPTH} levels.`);

/**
 * Parses XML we did not write. A DOCTYPE is refused before parsing (no entity expansion, no
 * external entities: billion laughs and XXE never reach a parser), any parser error or warning is
 * fatal rather than repaired, and the element nesting is bounded before any other code walks the
 * tree: the parser builds a DOM of any depth without recursion, but the canonicalization,
 * decryption and serialization libraries that read it afterwards recurse, and 12,000 nested
 * elements would exhaust their stack.
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
  for (const [node, depth] of nodesBelow(doc)) {
    // The document element is at depth 1; comments, CDATA and text are not elements and never count.
    if (node.nodeType === ELEMENT && depth > MAX_DOCUMENT_DEPTH) throw tooDeep(what);
    // A processing instruction inside the content is canonicalized like text (xml-crypto writes its
    // data) but read as nothing: `admin@victim.test<?x .evil.test?>` would be signed as
    // `admin@victim.test.evil.test` and read as `admin@victim.test`. SAML never needs one there.
    if (node.nodeType === PROCESSING_INSTRUCTION && depth > 1) {
      throw malformed(`a ${what} must not contain processing instructions`);
    }
  }
  return doc;
}

const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;
const PROCESSING_INSTRUCTION = 7;

/**
 * Every node below `root` in document order with its depth (root's children: 1), entering
 * elements only. A loop over parent and sibling links, not recursion: no depth can overflow it.
 */
function* nodesBelow(root: Node): Generator<[Node, number]> {
  let node: Node | null = root.firstChild;
  let depth = 1;
  while (node) {
    yield [node, depth];
    if (node.nodeType === ELEMENT && node.firstChild) {
      node = node.firstChild;
      depth++;
      continue;
    }
    while (node && node !== root && !node.nextSibling) {
      node = node.parentNode;
      depth--;
    }
    node = node && node !== root ? node.nextSibling : null;
  }
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
  for (const [n] of nodesBelow(node)) {
    if (n.nodeType !== ELEMENT) continue;
    const e = n as Element;
    if ((ns === '*' || e.namespaceURI === ns) && (name === '*' || e.localName === name)) out.push(e);
  }
  return out;
}

/**
 * The whole text of an element: every text node below it, joined. A comment inside a NameID
 * (`alice@evil.test<!---->.good.test`) never truncates it (the 2018 SAML comment attacks).
 */
export function wholeText(element: Element): string {
  let text = '';
  for (const [n] of nodesBelow(element)) {
    if (n.nodeType === TEXT || n.nodeType === CDATA) text += n.nodeValue ?? '';
  }
  return text.trim();
}
