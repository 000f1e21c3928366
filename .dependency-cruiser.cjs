/**
 * kiln's layers, lowest first: a module may import from its own layer and the ones below it.
 * `npm run structure` checks them and cycles; the closing notes of issue 21 count what it finds.
 */
const LAYERS = [
  ['base', '^src/(errors|ids|log|metrics|timings)\\.ts$'],
  ['model', '^src/(model/|config\\.ts$)'],
  ['store', '^src/store/'],
  ['infrastructure', '^src/(sandbox|egress)/'],
  ['domain', '^src/(secrets|tools|runtimes)/'],
  ['execution', '^src/execution/'],
  ['services', '^src/(invocations|c1|iii|at)/'],
  ['api', '^src/api/'],
  ['root', '^src/(app|services|main)\\.ts$'],
];

const upward = LAYERS.flatMap(([name, path], i) =>
  LAYERS.slice(i + 1).map(([higher, higherPath]) => ({
    name: `upward-${name}-to-${higher}`,
    comment: `${name} must not import from ${higher}, a higher layer`,
    severity: 'error',
    from: { path },
    to: { path: higherPath },
  })),
);

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'api-no-store-values',
      comment: 'adapters are handed services, never the store: they may name its record types, not use its code',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/store/', dependencyTypesNot: ['type-only'] },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    includeOnly: '^src/',
  },
};
