/**
 * A form generated from a valibot object schema: one field per entry of `schema.entries`, its kind from
 * the entry's schema (number, boolean, picklist, string, array, union), its default from `v.getDefault`.
 * Plugins declare their configs this way (plugins/*: `schema`), and so does the training config
 * (core/train/config.ts), so a new plugin gets its form for free.
 *
 * Values are read back as plain JSON; the worker validates them with the same schema (the plugin's
 * parsePluginConfig, parseTrainConfig), so the form needs no validation of its own beyond parsing.
 */
import * as v from "valibot";

/** The parts of valibot's schema objects that the form reads. */
interface SchemaNode {
  readonly type: string;
  readonly wrapped?: SchemaNode;
  readonly item?: SchemaNode;
  readonly options?: readonly unknown[];
  readonly pipe?: readonly { readonly type: string; readonly requirement?: unknown }[];
  readonly entries?: Readonly<Record<string, SchemaNode>>;
}

type Kind = "number" | "integer" | "boolean" | "picklist" | "string" | "list" | "json";

interface FieldSpec {
  readonly key: string;
  readonly kind: Kind;
  readonly optional: boolean;
  readonly defaultValue: unknown;
  readonly options: readonly string[];
  readonly min: number | undefined;
  readonly max: number | undefined;
  /** Items of a list field are numbers. */
  readonly numericItems: boolean;
}

function unwrap(node: SchemaNode): { node: SchemaNode; optional: boolean } {
  let optional = false;
  let cur = node;
  while ((cur.type === "optional" || cur.type === "nullish" || cur.type === "exact_optional" || cur.type === "undefinedable") && cur.wrapped) {
    optional = true;
    cur = cur.wrapped;
  }
  return { node: cur, optional };
}

function requirement(node: SchemaNode, ...types: string[]): number | undefined {
  const action = node.pipe?.find((a) => types.includes(a.type));
  return typeof action?.requirement === "number" ? action.requirement : undefined;
}

function fieldSpec(key: string, entry: SchemaNode): FieldSpec {
  const { node, optional } = unwrap(entry);
  const defaultValue = v.getDefault(entry as unknown as v.GenericSchema);
  const base = { key, optional, defaultValue, options: [] as string[], min: undefined, max: undefined, numericItems: false };
  switch (node.type) {
    case "number": {
      const integer = node.pipe?.some((a) => a.type === "integer") ?? false;
      return { ...base, kind: integer ? "integer" : "number", min: requirement(node, "min_value", "gt_value"), max: requirement(node, "max_value", "lt_value") };
    }
    case "boolean":
      return { ...base, kind: "boolean" };
    case "picklist":
      return { ...base, kind: "picklist", options: (node.options ?? []).map(String) };
    case "string":
      return { ...base, kind: "string" };
    case "array": {
      const item = unwrap(node.item ?? { type: "unknown" }).node;
      return { ...base, kind: "list", numericItems: item.type === "number" };
    }
    case "union": {
      // e.g. targets: a list of names or { regex }: written as a comma list, or as JSON
      const list = (node.options as SchemaNode[] | undefined)?.map((o) => unwrap(o).node).find((o) => o.type === "array");
      return { ...base, kind: list ? "list" : "json", numericItems: list ? unwrap(list.item ?? { type: "unknown" }).node.type === "number" : false };
    }
    default:
      return { ...base, kind: "json" };
  }
}

function shown(spec: FieldSpec, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (spec.kind === "list" && Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Thrown when a field's text cannot be read as its kind: names the field. */
export class FormValueError extends Error {
  readonly _tag = "PluginConfigError";
  constructor(readonly field: string, why: string, tag = "PluginConfigError") {
    super(`${field}: ${why}`);
    (this as { _tag: string })._tag = tag;
  }
}

export interface SchemaForm {
  readonly element: HTMLElement;
  /** The entered values (empty optional fields left out: the schema's default applies). */
  read(): Record<string, unknown>;
  /** Puts values into the fields (keys the form does not have are ignored). */
  set(values: Readonly<Record<string, unknown>>): void;
  setDisabled(disabled: boolean): void;
}

export interface SchemaFormOptions {
  /** Only these entries, in this order (default: all). */
  readonly keys?: readonly string[];
  /** Values to show instead of the schema's defaults. */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Labels and hints per key. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Prefix of the inputs' ids (`${idPrefix}-${key}`). */
  readonly idPrefix: string;
  /** The error tag a bad value raises (PluginConfigError for methods, TrainConfigError for training). */
  readonly errorTag?: string;
}

/** Splits "lowerCamelCase" into "lower camel case" for a label. */
function words(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

export function schemaForm(schema: unknown, options: SchemaFormOptions): SchemaForm {
  const entries = (schema as SchemaNode).entries;
  if (!entries) throw new Error("schemaForm: not a valibot object schema");
  const keys = options.keys ?? Object.keys(entries);
  const element = document.createElement("div");
  element.className = "form-grid";
  const fields: { spec: FieldSpec; input: HTMLInputElement | HTMLSelectElement }[] = [];

  for (const key of keys) {
    const entry = entries[key];
    if (!entry) continue;
    const spec = fieldSpec(key, entry);
    const id = `${options.idPrefix}-${key}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = options.labels?.[key] ?? words(key);
    let input: HTMLInputElement | HTMLSelectElement;
    if (spec.kind === "picklist") {
      const select = document.createElement("select");
      if (spec.defaultValue === undefined) select.append(new Option("(default)", ""));
      for (const option of spec.options) select.append(new Option(option, option));
      input = select;
    } else {
      const text = document.createElement("input");
      if (spec.kind === "boolean") text.type = "checkbox";
      else if (spec.kind === "number" || spec.kind === "integer") {
        text.type = "number";
        text.step = spec.kind === "integer" ? "1" : "any";
        if (spec.min !== undefined) text.min = String(spec.min);
        if (spec.max !== undefined) text.max = String(spec.max);
        text.inputMode = "decimal";
      } else text.type = "text";
      text.placeholder = spec.defaultValue === undefined ? (spec.kind === "list" ? "all" : "auto") : "";
      if (spec.kind === "list") text.title = "comma-separated, or JSON";
      input = text;
    }
    input.id = id;
    input.name = key;
    input.dataset.kind = spec.kind;
    const row = document.createElement("div");
    row.className = `field field-${spec.kind}`;
    row.append(label, input);
    element.append(row);
    fields.push({ spec, input });
  }

  const form: SchemaForm = {
    element,
    read() {
      const out: Record<string, unknown> = {};
      for (const { spec, input } of fields) {
        const fail = (why: string): never => {
          throw new FormValueError(spec.key, why, options.errorTag);
        };
        if (spec.kind === "boolean") {
          out[spec.key] = (input as HTMLInputElement).checked;
          continue;
        }
        const text = input.value.trim();
        if (text === "") {
          if (!spec.optional) fail("a value is required");
          continue;
        }
        switch (spec.kind) {
          case "number":
          case "integer": {
            const n = Number(text);
            if (!Number.isFinite(n)) fail(`"${text}" is not a number`);
            out[spec.key] = n;
            break;
          }
          case "picklist":
          case "string":
            out[spec.key] = text;
            break;
          case "list":
          case "json":
            if (/^[[{"]/.test(text) || spec.kind === "json") {
              try {
                out[spec.key] = JSON.parse(text);
              } catch (e) {
                fail(`not valid JSON (${(e as Error).message})`);
              }
            } else {
              const items = text.split(",").map((s) => s.trim()).filter(Boolean);
              out[spec.key] = spec.numericItems ? items.map((s) => (Number.isFinite(Number(s)) ? Number(s) : fail(`"${s}" is not a number`))) : items;
            }
            break;
        }
      }
      return out;
    },
    set(values) {
      for (const { spec, input } of fields) {
        if (!(spec.key in values)) continue;
        if (spec.kind === "boolean") (input as HTMLInputElement).checked = Boolean(values[spec.key]);
        else input.value = shown(spec, values[spec.key]);
      }
    },
    setDisabled(disabled) {
      for (const { input } of fields) input.disabled = disabled;
    },
  };
  // the schema's defaults, then the caller's values
  form.set(Object.fromEntries(fields.map(({ spec }) => [spec.key, spec.defaultValue])));
  if (options.values) form.set(options.values);
  return form;
}
