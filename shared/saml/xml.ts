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
 * external entities: billion laughs and XXE never reach a parser), then the shape is checked on
 * the text (`checkShape`), and any parser error or warning is fatal rather than repaired.
 */
export function parseUntrustedXml(xml: string, what = 'message'): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw malformed(`a ${what} must not contain a DOCTYPE`);
  checkShape(xml, what);
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
    // The same bound on the tree the parser built, should it ever read the text otherwise than
    // checkShape did (the document element is at depth 1).
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

/** Comments and processing instructions (the XML declaration included) allowed beside the element. */
const MAX_NODES_OUTSIDE_ELEMENT = 16;

/**
 * One loop over the text before the parser sees it, refusing two shapes that cost far more than
 * their size. Nesting deeper than MAX_DOCUMENT_DEPTH (`xml_too_deep`): the canonicalization,
 * decryption and serialization code that reads the DOM recurses, and 12,000 nested elements
 * exhaust its stack. Many nodes outside the document element (a second root, text, a run of
 * comments): xmldom re-indexes the document's children on each one, quadratic time, minutes of
 * CPU for 256 KB. Tags are told apart from comments, CDATA sections, processing instructions and
 * quoted attribute values (which may hold `>`); for well-formed XML the count is exact, and what
 * is not well-formed is refused here or by the parser.
 */
function checkShape(xml: string, what: string): void {
  let depth = 0;
  let roots = 0;
  let outside = 0;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (depth === 0 && /\S/.test(xml.slice(i, lt < 0 ? undefined : lt))) {
      throw malformed(`the ${what} has text outside its element`);
    }
    if (lt < 0) return;
    let end: number;
    if (xml.startsWith('</', lt)) {
      end = skipPast(xml, '>', lt + 2);
      depth--;
    } else if (xml.startsWith('<!', lt) || xml.startsWith('<?', lt)) {
      // A comment, CDATA section or processing instruction: skipped whole, nothing inside counts.
      end = xml.startsWith('<!--', lt)
        ? skipPast(xml, '-->', lt + 4)
        : xml.startsWith('<![CDATA[', lt)
          ? skipPast(xml, ']]>', lt + 9)
          : skipPast(xml, xml.startsWith('<?', lt) ? '?>' : '>', lt + 2);
      if (depth === 0 && ++outside > MAX_NODES_OUTSIDE_ELEMENT) {
        throw malformed(`the ${what} has too many comments or processing instructions outside its element`);
      }
    } else {
      end = startTagEnd(xml, lt + 1);
      if (depth === 0 && ++roots > 1) throw malformed(`the ${what} has more than one root element`);
      if (depth + 1 > MAX_DOCUMENT_DEPTH) throw tooDeep(what);
      // A self-closing tag (ending "/>") is an element at that depth but holds nothing below it.
      if (end > 0 && xml.charCodeAt(end - 2) !== 0x2f) depth++;
    }
    if (end < 0 || depth < 0) throw malformed(`the ${what} is not well-formed XML`);
    i = end;
  }
}

/** The index just past `token`, searching from `from`; -1 when it never comes. */
function skipPast(xml: string, token: string, from: number): number {
  const at = xml.indexOf(token, from);
  return at < 0 ? -1 : at + token.length;
}

/** The index just past the `>` that ends a start tag, skipping quoted attribute values; -1 if none. */
function startTagEnd(xml: string, from: number): number {
  let quote = 0;
  for (let j = from; j < xml.length; j++) {
    const c = xml.charCodeAt(j);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) quote = c;
    else if (c === 0x3e) return j + 1;
  }
  return -1;
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
