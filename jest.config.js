/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.tsx?$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      },
    ],
  },
  testMatch: ['<rootDir>/__test__/**/*.test.ts'],
  setupFilesAfterEnv: ['<rootDir>/__test__/setup.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
};
