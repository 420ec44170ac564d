// The types of the functions a component imports, read from its text form
// (jco's `print`, the WebAssembly component text format) and written out
// canonically, so that a guest compiled against another shape of a function
// the host provides is refused at load, naming the function and both types,
// instead of failing on its first call inside generated bindings.
//
// Canonical form: resources by name (`own<bucket>`, `borrow<bucket>`),
// every other type by its structure (`result<option<list<u8>>,
// variant{no-such-store,access-denied,other(string)}>`), parameters with
// their names: `func(self: borrow<bucket>, key: string) -> ...`.

type Sexp = string | Sexp[];

/**
 * The part of a component's binary before its first core module: the
 * types, imports and aliases `importSignatures` reads (wit-component puts
 * them first). Printing only that is what keeps the check cheap: the text of
 * a whole 12 MB JavaScript guest (its engine) is 174 MB and takes seconds.
 * The whole binary if it cannot be walked.
 */
export function componentHead(bytes: Uint8Array): Uint8Array {
  let at = 8; // magic and version/layer
  while (at < bytes.length) {
    const id = bytes[at];
    if (id === 1) return bytes.subarray(0, at); // a core module
    let size = 0;
    let shift = 0;
    let p = at + 1;
    for (;;) {
      if (p >= bytes.length || shift > 28) return bytes;
      const b = bytes[p++];
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    at = p + size;
  }
  return bytes;
}

/** The s-expressions of a component's text: strings keep their quotes; comments and annotations are dropped. */
function parse(text: string): Sexp[] {
  const stack: Sexp[][] = [[]];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '(' && text[i + 1] === ';') {
      const end = text.indexOf(';)', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === ';' && text[i + 1] === ';') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '(') {
      stack.push([]);
      i++;
    } else if (c === ')') {
      const done = stack.pop()!;
      if (stack.length === 0) throw new Error('unbalanced parentheses');
      if (!(typeof done[0] === 'string' && done[0].startsWith('@'))) stack[stack.length - 1].push(done);
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      stack[stack.length - 1].push(text.slice(i, j + 1));
      i = j + 1;
    } else if (c === ' ' || c === '\n' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '$' && text[i + 1] === '"') {
      // A quoted identifier: $"#type4 bucket".
      let j = i + 2;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      stack[stack.length - 1].push(text.slice(i, j + 1));
      i = j + 1;
    } else {
      let j = i;
      while (j < n && !' \n\t\r()"'.includes(text[j])) j++;
      stack[stack.length - 1].push(text.slice(i, j));
      i = j;
    }
  }
  return stack[0];
}

const unquote = (s: Sexp) => (typeof s === 'string' && s.startsWith('"') ? JSON.parse(s) as string : String(s));
const isList = (s: Sexp): s is Sexp[] => Array.isArray(s);
const head = (s: Sexp) => (isList(s) && typeof s[0] === 'string' ? s[0] : '');
/** A list's items after its keyword and any `$name`. */
const body = (s: Sexp[]) => s.slice(1).filter((x) => !(typeof x === 'string' && x.startsWith('$')));

/** One instance type's type index space, in canonical strings. */
class Scope {
  readonly types: string[] = [];
  readonly funcs = new Map<string, string>();
  /** Exported names: types (canonical) by name, for aliases from elsewhere. */
  readonly exported = new Map<string, string>();

  constructor(private readonly outer: (name: string) => string) {}

  type(t: Sexp): string {
    if (typeof t === 'string') {
      if (/^\d+$/.test(t)) return this.types[Number(t)] ?? `?${t}`;
      return t; // a primitive: string, u8, s64, bool...
    }
    const items = body(t);
    switch (head(t)) {
      case 'list': return `list<${this.type(items[0])}>`;
      case 'option': return `option<${this.type(items[0])}>`;
      case 'tuple': return `tuple<${items.map((x) => this.type(x)).join(',')}>`;
      case 'own': return `own<${this.type(items[0]).replace(/^resource:/, '')}>`;
      case 'borrow': return `borrow<${this.type(items[0]).replace(/^resource:/, '')}>`;
      case 'result': {
        let ok = '_';
        let err = '_';
        for (const x of items) {
          if (head(x) === 'error') err = this.type(body(x as Sexp[])[0]);
          else ok = this.type(x);
        }
        return `result<${ok},${err}>`;
      }
      case 'variant':
        return `variant{${items.map((c) => {
          const [name, payload] = body(c as Sexp[]);
          return payload === undefined ? unquote(name) : `${unquote(name)}(${this.type(payload)})`;
        }).join(',')}}`;
      case 'record':
        return `record{${items.map((f) => {
          const [name, ty] = body(f as Sexp[]);
          return `${unquote(name)}:${this.type(ty)}`;
        }).join(',')}}`;
      case 'enum': return `enum{${items.map(unquote).join(',')}}`;
      case 'flags': return `flags{${items.map(unquote).join(',')}}`;
      case 'func': {
        const params: string[] = [];
        let result = '';
        for (const x of items) {
          if (head(x) === 'param') {
            const [name, ty] = body(x as Sexp[]);
            params.push(`${unquote(name)}: ${this.type(ty)}`);
          } else if (head(x) === 'result') {
            result = ` -> ${this.type(body(x as Sexp[])[0])}`;
          }
        }
        return `func(${params.join(', ')})${result}`;
      }
      case 'type': return this.type(items[0]);
      case 'sub': return 'resource';
      case 'eq': return this.type(items[0]);
      default: return JSON.stringify(t);
    }
  }

  declare(d: Sexp): void {
    if (!isList(d)) return;
    const items = body(d);
    switch (head(d)) {
      case 'type':
        this.types.push(this.type(items[0]));
        break;
      case 'alias': {
        // (alias outer 1 REF (type)): a type of the enclosing component, by
        // $name or index.
        if (d.some((x) => head(x) === 'type')) this.types.push(this.outer(String(d[3])));
        break;
      }
      case 'export': {
        const name = unquote(items[0]);
        const what = items[1] as Sexp[];
        if (head(what) === 'type') {
          const inner = body(what)[0];
          const t = head(inner) === 'sub' ? `resource:${name}` : this.type(inner);
          this.types.push(t);
          this.exported.set(name, t);
        } else if (head(what) === 'func') {
          this.funcs.set(name, this.type(body(what)[0]));
        }
        break;
      }
      default:
        break;
    }
  }
}

/**
 * The canonical type of every function the component imports from an
 * instance (an interface), by `interface#function` (the interface's
 * versioned name, the function's name in the component: `[method]bucket.get`).
 * References are by `$name` where the text has names, else by index.
 */
export function importSignatures(componentText: string): Map<string, string> {
  const top = parse(componentText)[0];
  const out = new Map<string, string>();
  if (!isList(top) || head(top) !== 'component') return out;
  // The component's type and instance index spaces, and their names.
  const types: { scope?: Scope; canon: string }[] = [];
  const typeNames = new Map<string, number>();
  const instances: (Scope | undefined)[] = [];
  const instanceNames = new Map<string, number>();
  const typeAt = (ref: string) => types[ref.startsWith('$') ? typeNames.get(ref) ?? -1 : Number(ref)];
  const instanceAt = (ref: string) => instances[ref.startsWith('$') ? instanceNames.get(ref) ?? -1 : Number(ref)];
  const nameOf = (d: Sexp[]) => d.find((x) => typeof x === 'string' && x.startsWith('$')) as string | undefined;
  const defineType = (name: string | undefined, t: { scope?: Scope; canon: string }) => {
    if (name !== undefined) typeNames.set(name, types.length);
    types.push(t);
  };
  const outer = (ref: string) => typeAt(ref)?.canon ?? `?${ref}`;
  for (const d of top.slice(1)) {
    if (!isList(d)) continue;
    const kind = head(d);
    if (kind === 'type') {
      const inst = d.find((x) => head(x) === 'instance') as Sexp[] | undefined;
      if (inst === undefined) {
        defineType(nameOf(d), { canon: '?' }); // a type of the component's own (its exports'): not read
        continue;
      }
      const scope = new Scope(outer);
      for (const decl of inst.slice(1)) scope.declare(decl);
      defineType(nameOf(d), { scope, canon: 'instance' });
    } else if (kind === 'import') {
      const iface = unquote(d[1]);
      const what = d[2];
      if (head(what) === 'type') {
        defineType(nameOf(what as Sexp[]), { canon: '?' });
        continue;
      }
      if (head(what) !== 'instance') continue;
      const typeRef = (what as Sexp[]).find((x) => head(x) === 'type') as Sexp[] | undefined;
      const scope = typeRef === undefined ? undefined : typeAt(String(typeRef[1]))?.scope;
      const name = nameOf(what as Sexp[]);
      if (name !== undefined) instanceNames.set(name, instances.length);
      instances.push(scope);
      if (scope !== undefined) for (const [fn, sig] of scope.funcs) out.set(`${iface}#${fn}`, sig);
    } else if (kind === 'alias' && d[1] === 'export') {
      // (alias export INSTANCE "name" (type NAME?)): a type an instance exports.
      const sort = d.find((x) => isList(x)) as Sexp[] | undefined;
      if (sort === undefined || head(sort) !== 'type') continue;
      const scope = instanceAt(String(d[2]));
      defineType(nameOf(sort), { canon: scope?.exported.get(unquote(d[3])) ?? '?' });
    }
  }
  return out;
}
