// How deep a JSON text nests, found by one pass over the text before it is parsed: a body nested
// thousands deep parses, but every later walk of it (re-serialising, structured clone into a
// replica, schema checks) recurses and can overflow the stack, so it is refused at the door.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** True when arrays and objects in `text` nest deeper than `maxDepth` (`{}` is depth 1). */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  // Each level costs at least one character: a short text cannot be too deep.
  if (text.length <= maxDepth) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return false;
}

/** The index of the quote that ends the string opened at `open` (the text's end if none does). */
function closingQuote(text: string, open: number): number {
  let i = open;
  for (;;) {
    // indexOf skips a string's content natively: large strings (base64 images) cost little.
    i = text.indexOf('"', i + 1);
    if (i === -1) return text.length;
    let backslashes = 0;
    for (let j = i - 1; text.charCodeAt(j) === BACKSLASH; j -= 1) backslashes += 1;
    if (backslashes % 2 === 0) return i;
  }
}
