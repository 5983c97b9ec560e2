// Lets a plain Node process (a test's child) require lib/*.ts: each file is
// compiled on load with @swc/core, with the settings jest uses.
'use strict';
const fs = require('node:fs');
const swc = require('@swc/core');

// eslint-disable-next-line n/no-deprecated-api -- the smallest TypeScript loader there is
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
