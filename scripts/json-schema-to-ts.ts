/**
 * A small JSON Schema → TypeScript converter for `npm run web:types`: the subset the OpenAPI
 * document (zod-to-openapi, OpenAPI 3.1) uses. object (properties, required,
 * additionalProperties), array (items), the primitive types, enum, const, anyOf / oneOf / allOf,
 * nullable as a type array, and `$ref: '#/components/schemas/X'` as `X`. Anything else is
 * `unknown`, so a shape the converter does not know is never typed more loosely than it is.
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

const REF_PREFIX = '#/components/schemas/';
const PRIMITIVES: Record<string, string> = { string: 'string', number: 'number', integer: 'number', boolean: 'boolean', null: 'null' };

/** A converted type and whether it needs parentheses inside `T[]` (a union or an intersection). */
interface Converted {
  text: string;
  compound: boolean;
}

function simple(text: string): Converted {
  return { text, compound: false };
}

function join(parts: Converted[], operator: '|' | '&'): Converted {
  const unique = [...new Set(parts.map((p) => (p.compound ? `(${p.text})` : p.text)))];
  if (unique.length === 0) return simple(operator === '|' ? 'never' : 'unknown');
  if (unique.length === 1) return parts.find((p) => (p.compound ? `(${p.text})` : p.text) === unique[0]) ?? simple(unique[0] ?? 'unknown');
  return { text: unique.join(` ${operator} `), compound: true };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string as the codebase writes one: single quotes. */
function quoted(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}

function literal(value: unknown): Converted {
  if (typeof value === 'string') return simple(quoted(value));
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return simple(JSON.stringify(value));
  return simple('unknown');
}

function propertyKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : quoted(name);
}

function docComment(description: unknown, pad: string): string {
  if (typeof description !== 'string' || description.trim() === '') return '';
  const text = description.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim();
  return `${pad}/** ${text} */\n`;
}

function objectType(schema: Record<string, unknown>, depth: number): Converted {
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : []);
  const extra = schema.additionalProperties;
  const names = Object.keys(properties);
  const pad = '  '.repeat(depth + 1);
  const lines: string[] = [];
  for (const name of names) {
    const property = properties[name] as JsonSchema;
    const optional = required.has(name) ? '' : '?';
    lines.push(`${docComment(isRecord(property) ? property.description : undefined, pad)}${pad}${propertyKey(name)}${optional}: ${convert(property, depth + 1).text};`);
  }
  if (extra !== undefined && extra !== false) {
    // Alone, the record's value type sits at this depth; beside properties, one level in.
    const value = extra === true ? 'unknown' : convert(extra as JsonSchema, names.length === 0 ? depth : depth + 1).text;
    if (names.length === 0) return simple(`Record<string, ${value}>`);
    lines.push(`${pad}[key: string]: ${value};`);
  }
  if (lines.length === 0) return simple(extra === false ? 'Record<string, never>' : 'Record<string, unknown>');
  return simple(`{\n${lines.join('\n')}\n${'  '.repeat(depth)}}`);
}

function typeNamed(type: string, schema: Record<string, unknown>, depth: number): Converted {
  if (type === 'object') return objectType(schema, depth);
  if (type === 'array') {
    const items = schema.items;
    if (items === undefined || Array.isArray(items)) return simple('unknown[]');
    const inner = convert(items as JsonSchema, depth);
    return simple(inner.compound ? `(${inner.text})[]` : `${inner.text}[]`);
  }
  return simple(PRIMITIVES[type] ?? 'unknown');
}

function convert(schema: JsonSchema, depth: number): Converted {
  if (schema === true) return simple('unknown');
  if (schema === false) return simple('never');
  if (typeof schema.$ref === 'string') return simple(schema.$ref.startsWith(REF_PREFIX) ? schema.$ref.slice(REF_PREFIX.length) : 'unknown');
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return join(schema.enum.map(literal), '|');
  for (const keyword of ['anyOf', 'oneOf'] as const) {
    const options = schema[keyword];
    if (Array.isArray(options)) return join(options.map((o) => convert(o as JsonSchema, depth)), '|');
  }
  if (Array.isArray(schema.allOf)) return join(schema.allOf.map((o) => convert(o as JsonSchema, depth)), '&');
  const { type } = schema;
  if (typeof type === 'string') return typeNamed(type, schema, depth);
  if (Array.isArray(type)) return join(type.filter((t): t is string => typeof t === 'string').map((t) => typeNamed(t, schema, depth)), '|');
  return simple('unknown');
}

/** The TypeScript type for one schema (nested objects indented from `depth`). */
export function schemaToTs(schema: JsonSchema, depth = 0): string {
  return convert(schema, depth).text;
}

/** One exported type per named schema, sorted by name, each with its description as a doc comment. */
export function schemasToModule(schemas: Record<string, JsonSchema>, header: string): string {
  const names = Object.keys(schemas).sort();
  const blocks = names.map((name) => {
    const schema = schemas[name] ?? true;
    return `${docComment(isRecord(schema) ? schema.description : undefined, '')}export type ${name} = ${schemaToTs(schema)};\n`;
  });
  return `${header}\n${blocks.join('\n')}`;
}
