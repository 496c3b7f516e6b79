// Validate an AsyncAPI document offline: `node validate.cjs path/to/asyncapi.yaml`.
//
// @asyncapi/parser checks the document against the AsyncAPI specification (its JSON Schema and
// Spectral rules) and resolves every $ref. The parser validates payload schemas of the AsyncAPI
// Schema format and JSON Schema draft-07 itself (for AsyncAPI 2 documents); the contract's schemas are draft 2020-12
// (pydantic's output), declared as `application/schema+json;version=2020-12`, so a schema
// parser for that format is registered here, through the parser's own extension point: Ajv's
// draft 2020-12 class checks each payload against the 2020-12 meta-schema and compiles it
// (every pattern as an ECMA 262 regular expression with the `u` flag), and implements the
// contract's vendor keyword x-max-utf8-bytes.
//
// Exit code 0 and a JSON summary on stdout when the document is valid; 1 and the diagnostics
// (errors and warnings both fail) on stderr otherwise.
"use strict";

const path = require("node:path");
const { Parser, fromFile } = require("@asyncapi/parser");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats");

const JSON_SCHEMA_2020_12 = [
  "application/schema+json;version=2020-12",
  "application/schema+yaml;version=2020-12",
];

function newAjv() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, unicodeRegExp: true });
  addFormats(ajv);
  ajv.addKeyword({
    keyword: "x-max-utf8-bytes",
    type: "string",
    schemaType: "number",
    validate: (limit, data) => Buffer.byteLength(data, "utf8") <= limit,
  });
  return ajv;
}

// The problem with a payload schema, or null: Ajv checks it against the 2020-12 meta-schema,
// then compiles it.
function schemaProblem(schema) {
  try {
    newAjv().compile(schema);
    return null;
  } catch (error) {
    return `invalid JSON Schema 2020-12: ${error.message}`;
  }
}

// For AsyncAPI 3 the parser calls only parse() on a payload's schema parser (validate() is
// called by its AsyncAPI 2 rules), so parse() refuses an invalid schema too: the parser turns
// the exception into an error diagnostic.
function jsonSchema202012Parser() {
  return {
    getMimeTypes: () => JSON_SCHEMA_2020_12,
    async validate(input) {
      const problem = schemaProblem(input.data);
      return problem === null ? [] : [{ message: problem, path: input.path }];
    },
    async parse(input) {
      const problem = schemaProblem(input.data);
      if (problem !== null) {
        throw new Error(`${input.path.join(".")}: ${problem}`);
      }
      return input.data;
    },
  };
}

// A multi-format schema ({schemaFormat, schema}) or a schema of the default format.
function payloadId(json) {
  const schema = json.schemaFormat !== undefined ? json.schema : json;
  return (schema && schema.$id) || null;
}

const SEVERITY = ["error", "warning", "info", "hint"];

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node validate.cjs ASYNCAPI_FILE");
    process.exit(2);
  }
  const parser = new Parser();
  parser.registerSchemaParser(jsonSchema202012Parser());
  const { document, diagnostics } = await fromFile(parser, path.resolve(file)).parse();
  const failing = diagnostics.filter((d) => d.severity <= 1);
  for (const d of diagnostics) {
    const where = (d.path || []).join(".");
    console.error(`${SEVERITY[d.severity]} ${d.code}: ${d.message} at ${where}`);
  }
  if (!document || failing.length > 0) {
    process.exit(1);
  }
  const summary = {
    asyncapi: document.version(),
    title: document.info().title(),
    version: document.info().version(),
    channels: Object.fromEntries(
      document.channels().all().map((c) => [c.id(), {
        address: c.address(),
        messages: c.messages().all().map((m) => m.id()),
      }]),
    ),
    operations: Object.fromEntries(
      document.operations().all().map((o) => [o.id(), {
        action: o.action(),
        channels: o.channels().all().map((c) => c.id()),
        messages: o.messages().all().map((m) => m.id()),
      }]),
    ),
    messages: Object.fromEntries(
      document.allMessages().all().map((m) => [m.id(), {
        schemaFormat: m.hasPayload() ? m.payload().schemaFormat() : null,
        payloadId: m.hasPayload() ? payloadId(m.payload().json()) : null,
        headers: m.hasHeaders() ? Object.keys(m.headers().properties() || {}) : [],
      }]),
    ),
  };
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().catch((error) => {
  console.error(`validate.cjs: ${error.stack || error}`);
  process.exit(1);
});
