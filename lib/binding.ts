// The only module that imports the napi-generated binding.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../index.js');

export = native;
