// JSON parsing that can say where things are: the line of a syntax error, and the line where any
// array element / object member (by path) starts, so catalog errors read `file:line`.
// Pure and synchronous; it never throws. It must not interpret the data (that is the parsers' job).

export type JsonPath = readonly (string | number)[];

export type Located =
  | { ok: true; value: unknown; line: (path: JsonPath) => number }
  | { ok: false; line: number; message: string };

/** Parses `text` (a leading UTF-8 BOM is ignored, as PowerShell's Out-File writes one). */
export function parseLocated(text: string): Located {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    // V8 does not always report a position ("Unexpected token 'x', "..." is not valid JSON"), so
    // the scanner below finds the first offending offset itself.
    const scan = new Scanner(body, null);
    const bad = scan.run();
    const offset = bad ?? body.length;
    const detail = bad === null ? (err as Error).message : scan.error;
    return { ok: false, line: lineAt(body, offset), message: `invalid JSON: ${detail}` };
  }
  let offsets: Map<string, number> | null = null;
  let starts: number[] | null = null;
  return {
    ok: true,
    value,
    line(path: JsonPath): number {
      if (offsets === null || starts === null) {
        offsets = new Map();
        new Scanner(body, offsets).run();
        starts = lineStarts(body);
      }
      // Walk up the path until a recorded ancestor is found (deep paths are not all recorded).
      for (let n = path.length; n > 0; n--) {
        const at = offsets.get(path.slice(0, n).join('\u0000'));
        if (at !== undefined) return lineOfOffset(starts, at);
      }
      return 1;
    },
  };
}

/** Offsets where each line starts (binary-searched: files with 100k rules stay linear). */
function lineStarts(text: string): number[] {
  const out = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out.push(i + 1);
  return out;
}

function lineOfOffset(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** 1-based line of a character offset. */
export function lineAt(text: string, offset: number): number {
  return lineOfOffset(lineStarts(text), Math.min(offset, text.length));
}

const MAX_RECORDED_DEPTH = 4;
const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** A JSON grammar walker (RFC 8259). Records the start offset of values down to a small depth. */
class Scanner {
  private pos = 0;
  error = '';
  constructor(
    private readonly text: string,
    private readonly offsets: Map<string, number> | null,
  ) {}

  /** Returns null when the text is valid JSON, else the offset of the first error. */
  run(): number | null {
    try {
      this.ws();
      this.value([]);
      this.ws();
      if (this.pos < this.text.length) this.fail('unexpected data after the JSON value');
      return null;
    } catch {
      return this.pos;
    }
  }

  private fail(message: string): never {
    this.error = message;
    throw new Error(message);
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  private record(path: (string | number)[]): void {
    if (this.offsets !== null && path.length > 0 && path.length <= MAX_RECORDED_DEPTH) {
      this.offsets.set(path.join('\u0000'), this.pos);
    }
  }

  private value(path: (string | number)[]): void {
    const t = this.text;
    if (this.pos >= t.length) this.fail('unexpected end of input (a value was expected)');
    const c = t[this.pos];
    if (c === '{') return this.object(path);
    if (c === '[') return this.array(path);
    if (c === '"') {
      this.string();
      return;
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (t.startsWith(word, this.pos)) {
        this.pos += word.length;
        return;
      }
    }
    this.fail(`unexpected ${JSON.stringify(c)} (a value was expected)`);
  }

  private object(path: (string | number)[]): void {
    this.pos++; // {
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a double-quoted property name');
      const keyStart = this.pos;
      this.string();
      const key = JSON.parse(this.text.slice(keyStart, this.pos)) as string;
      this.ws();
      if (this.text[this.pos] !== ':') this.fail(`expected ':' after property name ${JSON.stringify(key)}`);
      this.pos++;
      this.ws();
      const child = [...path, key];
      this.record(child);
      this.value(child);
      this.ws();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === '}') {
        this.pos++;
        return;
      } else this.fail("expected ',' or '}' after an object member");
    }
  }

  private array(path: (string | number)[]): void {
    this.pos++; // [
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return;
    }
    for (let i = 0; ; i++) {
      this.ws();
      const child = [...path, i];
      this.record(child);
      this.value(child);
      this.ws();
      const c = this.text[this.pos];
      if (c === ',') this.pos++;
      else if (c === ']') {
        this.pos++;
        return;
      } else this.fail("expected ',' or ']' after an array element");
    }
  }

  private string(): void {
    const t = this.text;
    this.pos++; // opening quote
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 34) {
        this.pos++;
        return;
      }
      if (c < 32) this.fail('control character inside a string (escape it)');
      if (c === 92) {
        const e = t[this.pos + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(this.pos + 2, this.pos + 6))) this.fail('bad \\u escape');
          this.pos += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail('bad escape in a string');
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.fail('unterminated string');
  }

  private number(): void {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) this.fail('bad number');
    this.pos += m[0].length;
    const next = this.text[this.pos];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.fail('bad number');
  }
}
