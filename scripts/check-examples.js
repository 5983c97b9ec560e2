#!/usr/bin/env node
// Keeps the code snippets of README.md and docs/*.md identical to regions of
// the runnable examples, so that a snippet cannot drift from code that runs
// (the examples themselves are run by __test__/examples.test.ts).
//
// In an example, a region is marked with line comments:
//     // #region tour
//     …
//     // #endregion tour
// In a Markdown file, the fenced block after a marker comment is that region:
//     <!-- example: examples/tour.mjs#tour -->
//     ```js
//     …
//     ```
// The region is compared after removing its common indentation and the marker
// lines of regions nested in it; a block indented inside a list item is
// compared after removing the fence's indentation.
//
// Every ```js / ```ts block must be such a snippet, or be preceded by
// `<!-- no-example: why -->` (a type signature, say).
//
//   node scripts/check-examples.js            exit 1 and list every difference
//   node scripts/check-examples.js --write    rewrite the Markdown blocks from the examples
//   --root DIR                                check another checkout (used by the tests)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const MARKER = /^\s*<!--\s*example:\s*(\S+?)#(\S+)\s*-->\s*$/;
const NO_EXAMPLE = /^\s*<!--\s*no-example:\s*\S.*-->\s*$/;
const FENCE = /^(\s*)(`{3,})\s*([\w-]*)\s*$/;
const REGION = /^\s*\/\/\s*#(region|endregion)\s+(\S+)\s*$/;
const CODE_LANGUAGES = new Set(['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript', 'tsx', 'jsx']);

/** The regions of one example: name → lines (dedented, nested markers removed). */
function regionsOf(source, file) {
  const lines = source.split(/\r?\n/);
  const open = new Map();
  const regions = new Map();
  const errors = [];
  lines.forEach((line, i) => {
    const m = REGION.exec(line);
    if (!m) return;
    const [, kind, name] = m;
    if (kind === 'region') {
      if (open.has(name) || regions.has(name)) errors.push(`${file}:${i + 1}: region "${name}" is defined twice`);
      open.set(name, i);
    } else if (!open.has(name)) {
      errors.push(`${file}:${i + 1}: #endregion ${name} without #region ${name}`);
    } else {
      const start = open.get(name);
      open.delete(name);
      const body = lines.slice(start + 1, i).filter((l) => !REGION.test(l));
      regions.set(name, dedent(body));
    }
  });
  for (const [name, i] of open) errors.push(`${file}:${i + 1}: region "${name}" has no #endregion`);
  return { regions, errors };
}

function dedent(lines) {
  const trimmed = lines.map((l) => l.replace(/\s+$/, ''));
  while (trimmed.length > 0 && trimmed[0] === '') trimmed.shift();
  while (trimmed.length > 0 && trimmed[trimmed.length - 1] === '') trimmed.pop();
  const indents = trimmed.filter((l) => l !== '').map((l) => /^ */.exec(l)[0].length);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return trimmed.map((l) => l.slice(cut));
}

/** Fenced blocks of a Markdown file, with the marker comment before each (if any). */
function blocksOf(lines) {
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i]);
    if (!fence) continue;
    const [, indent, ticks, lang] = fence;
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^\\s*${ticks}\\s*$`).test(lines[end])) end++;
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? MARKER.exec(lines[before]) : null;
    const exempt = before >= 0 && NO_EXAMPLE.test(lines[before]);
    blocks.push({ start: i, end, indent, lang, marker, exempt });
    i = end;
  }
  return blocks;
}

function docFiles(root) {
  const files = [path.join(root, 'README.md')];
  const docs = path.join(root, 'docs');
  if (fs.existsSync(docs)) {
    for (const name of fs.readdirSync(docs).sort()) if (name.endsWith('.md')) files.push(path.join(docs, name));
  }
  return files.filter((f) => fs.existsSync(f));
}

/** `{@includeCode ../examples/x.mjs#a,b}` in lib/ docstrings (TypeDoc): the regions they use, as `examples/x.mjs#a`. */
function includeCodeUses(root) {
  const uses = [];
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/\{@includeCode\s+([^#}\s]+)#([^}\s]+)\s*\}/g)) {
          const target = path.relative(root, path.resolve(path.dirname(file), m[1])).split(path.sep).join('/');
          for (const region of m[2].split(',')) uses.push(`${target}#${region}`);
        }
      }
    }
  };
  walk(path.join(root, 'lib'));
  return uses;
}

function firstDifference(expected, actual) {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== actual[i]) {
      return `line ${i + 1} of the block:\n      example: ${JSON.stringify(expected[i] ?? '(no line)')}\n      doc:     ${JSON.stringify(actual[i] ?? '(no line)')}`;
    }
  }
  return '';
}

/**
 * Checks (or with `write`, rewrites) every snippet. Returns the problems
 * found (after writing: those that writing cannot fix), the files written,
 * and the example regions that no document and no docstring uses.
 */
function checkExamples({ root = path.resolve(__dirname, '..'), write = false } = {}) {
  const problems = [];
  const written = [];
  const cache = new Map();
  const used = new Set();
  const loadExample = (rel) => {
    if (!cache.has(rel)) {
      const file = path.join(root, rel);
      if (!fs.existsSync(file)) cache.set(rel, undefined);
      else {
        const parsed = regionsOf(fs.readFileSync(file, 'utf8'), rel);
        problems.push(...parsed.errors);
        cache.set(rel, parsed.regions);
      }
    }
    return cache.get(rel);
  };

  for (const doc of docFiles(root)) {
    const docRel = path.relative(root, doc);
    const lines = fs.readFileSync(doc, 'utf8').split('\n');
    const edits = [];
    for (const block of blocksOf(lines)) {
      const where = `${docRel}:${block.start + 1}`;
      if (block.end >= lines.length) {
        problems.push(`${where}: code block never closed`);
        continue;
      }
      if (!block.marker) {
        if (CODE_LANGUAGES.has(block.lang) && !block.exempt) {
          problems.push(`${where}: a \`\`\`${block.lang} block that is not taken from an example: put it in a region of examples/*.mjs and mark it with <!-- example: examples/NAME.mjs#REGION --> (or <!-- no-example: why --> if it cannot run)`);
        }
        continue;
      }
      const [, exampleRel, regionName] = block.marker;
      const regions = loadExample(exampleRel);
      if (regions === undefined) {
        problems.push(`${where}: ${exampleRel} does not exist`);
        continue;
      }
      const region = regions.get(regionName);
      if (region === undefined) {
        problems.push(`${where}: ${exampleRel} has no region "${regionName}"`);
        continue;
      }
      used.add(`${exampleRel}#${regionName}`);
      const actual = lines.slice(block.start + 1, block.end).map((l) => (l.startsWith(block.indent) ? l.slice(block.indent.length) : l.trimStart()).replace(/\s+$/, ''));
      if (actual.join('\n') === region.join('\n')) continue;
      if (write) edits.push({ block, region });
      else problems.push(`${where}: differs from ${exampleRel}#${regionName}, ${firstDifference(region, actual)}`);
    }
    if (edits.length > 0) {
      for (const { block, region } of edits.reverse()) {
        const body = region.map((l) => (l === '' ? '' : block.indent + l));
        lines.splice(block.start + 1, block.end - block.start - 1, ...body);
      }
      fs.writeFileSync(doc, lines.join('\n'));
      written.push(docRel);
    }
  }

  for (const use of includeCodeUses(root)) used.add(use);
  const unused = [];
  const examplesDir = path.join(root, 'examples');
  if (fs.existsSync(examplesDir)) {
    for (const name of fs.readdirSync(examplesDir).sort()) {
      if (!/\.(mjs|js|ts)$/.test(name)) continue;
      const rel = `examples/${name}`;
      const regions = loadExample(rel);
      for (const region of regions?.keys() ?? []) if (!used.has(`${rel}#${region}`)) unused.push(`${rel}#${region}`);
    }
  }
  return { problems: [...new Set(problems)], written, unused };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const write = args.includes('--write');
  const rootAt = args.indexOf('--root');
  const root = rootAt >= 0 ? path.resolve(args[rootAt + 1]) : undefined;
  const { problems, written, unused } = checkExamples({ root, write });
  for (const file of written) console.log(`updated ${file} from the examples`);
  for (const region of unused) console.log(`note: ${region} is not used by any document`);
  if (problems.length > 0) {
    console.error(`${problems.length} snippet problem(s):`);
    for (const p of problems) console.error(`  ${p}`);
    if (!write) console.error('Fix the example, or run `node scripts/check-examples.js --write` to copy the examples into the documents.');
    process.exit(1);
  }
  if (!write) console.log('every snippet matches its example region');
}

module.exports = { checkExamples };
